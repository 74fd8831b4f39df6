/*
 * names.c - C names, exactly as protoc-c 1.4.1 spells them.
 *
 * Generated stubs refer to protoc-c's types (Foo__Bar__Msg) and descriptors
 * (foo__bar__msg__descriptor), so the case conversions here mirror
 * protoc-c's CamelToLower / CamelToUpper / ToCamel and its handling of the
 * (pb_c_file).c_package option, including their quirks ("HTTPRequest" ->
 * "httprequest"). The names shimkit adds on top (handler members) get a
 * trailing underscore when they would be a C or C++ keyword or a macro of
 * the standard headers. Everything else here makes untrusted text safe to
 * put inside C string literals, comments and identifiers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static char to_lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }
static char to_upper(char c) { return is_lower(c) ? (char)(c - 'a' + 'A') : c; }

char *sk_camel_to_lower(sk_ctx *ctx, const char *name) {
  size_t n = strlen(name);
  char *out = sk_alloc(ctx, 2 * n + 1);
  size_t o = 0;
  bool was_upper = true; /* no _ before the first letter */
  for (size_t i = 0; i < n; i++) {
    bool up = is_upper(name[i]);
    if (up && !was_upper) out[o++] = '_';
    out[o++] = up ? to_lower(name[i]) : name[i];
    was_upper = up;
  }
  out[o] = '\0';
  return out;
}

char *sk_camel_to_upper(sk_ctx *ctx, const char *name) {
  size_t n = strlen(name);
  char *out = sk_alloc(ctx, 2 * n + 1);
  size_t o = 0;
  bool was_upper = true;
  for (size_t i = 0; i < n; i++) {
    bool up = is_upper(name[i]);
    if (up && !was_upper) out[o++] = '_';
    out[o++] = to_upper(name[i]);
    was_upper = up;
  }
  out[o] = '\0';
  return out;
}

char *sk_to_camel(sk_ctx *ctx, const char *name) {
  size_t n = strlen(name);
  char *out = sk_alloc(ctx, n + 1);
  size_t o = 0;
  bool next_upper = true;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == '_') {
      next_upper = true;
    } else if (next_upper) {
      out[o++] = to_upper(name[i]);
      next_upper = false;
    } else {
      out[o++] = name[i];
    }
  }
  out[o] = '\0';
  return out;
}

/* ---- (pb_c_file).c_package ---------------------------------------------- */

/* Reads a varint at *p (< end); false when truncated or too long. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return false;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = r;
      return true;
    }
  }
  return false;
}

/*
 * protoc-c's options travel as extension 1019 of FileOptions, which
 * protobuf-c keeps as an unknown field (its data starts with the length
 * prefix). Field 6 of that message is c_package; the last one wins, as in
 * a protobuf merge.
 */
static const char *c_package_of(sk_ctx *ctx, const sk_file *file) {
  if (file->options == NULL) return NULL;
  const ProtobufCMessage *base = &file->options->base;
  const char *result = NULL;
  for (unsigned i = 0; i < base->n_unknown_fields; i++) {
    const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
    if (u->tag != 1019 || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) continue;
    const uint8_t *p = u->data, *end = u->data + u->len;
    uint64_t len;
    if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p)) continue;
    end = p + len;
    while (p < end) {
      uint64_t key, v;
      if (!read_varint(&p, end, &key)) break;
      unsigned wt = (unsigned)(key & 7);
      uint64_t field = key >> 3;
      if (wt == 0) {
        if (!read_varint(&p, end, &v)) break;
      } else if (wt == 1 || wt == 5) {
        size_t skip = wt == 1 ? 8 : 4;
        if ((size_t)(end - p) < skip) break;
        p += skip;
      } else if (wt == 2) {
        if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) break;
        if (field == 6) {
          if (v > SK_MAX_NAME_LEN) sk_fail(ctx, "%s: c_package too long", file->name);
          result = sk_strndup(ctx, (const char *)p, (size_t)v);
        }
        p += v;
      } else {
        break;
      }
    }
  }
  if (result != NULL) sk_check_dotted(ctx, "c_package", result);
  return result;
}

/* protoc-c's OverrideFullName: the package part replaced by c_package. */
static const char *override_full_name(sk_ctx *ctx, const char *full_name, const sk_file *file) {
  const char *cpkg = c_package_of(ctx, file);
  if (cpkg == NULL) return full_name;
  const char *pkg = file->package != NULL ? file->package : "";
  size_t plen = strlen(pkg);
  if (strlen(full_name) < plen) return full_name;
  return sk_printf(ctx, "%s%s%s", cpkg, plen == 0 ? "." : "", full_name + plen);
}

typedef char *(*sk_segment_fn)(sk_ctx *, const char *);

static char *join_segments(sk_ctx *ctx, const char *full_name, const sk_file *file,
                           sk_segment_fn fn) {
  const char *name = override_full_name(ctx, full_name, file);
  sk_printer p;
  sk_printer_init(&p, ctx);
  const char *s = name;
  while (*s != '\0') {
    const char *dot = strchr(s, '.');
    size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
    if (len > 0) {
      if (p.len > 0) sk_write(&p, "__", 2);
      char *seg = fn(ctx, sk_strndup(ctx, s, len));
      sk_write(&p, seg, strlen(seg));
    }
    s += len;
    if (*s == '.') s++;
  }
  return p.buf;
}

char *sk_full_name_to_c(sk_ctx *ctx, const char *full_name, const sk_file *file) {
  return join_segments(ctx, full_name, file, sk_to_camel);
}
char *sk_full_name_to_lower(sk_ctx *ctx, const char *full_name, const sk_file *file) {
  return join_segments(ctx, full_name, file, sk_camel_to_lower);
}
char *sk_full_name_to_upper(sk_ctx *ctx, const char *full_name, const sk_file *file) {
  return join_segments(ctx, full_name, file, sk_camel_to_upper);
}

/* ---- reserved names ------------------------------------------------------- */

/* C11 keywords, C++ keywords (the header may be read by a C++ compiler) and
 * lower-case macros of the standard headers. Sorted for bsearch. */
static const char *const reserved[] = {
    "alignas",   "alignof",   "and",       "and_eq",        "asm",          "assert",
    "atomic_bool", "auto",    "bitand",    "bitor",         "bool",         "break",
    "case",      "catch",     "char",      "char16_t",      "char32_t",     "char8_t",
    "class",     "co_await",  "co_return", "co_yield",      "compl",        "complex",
    "concept",   "const",     "const_cast", "consteval",    "constexpr",    "constinit",
    "continue",  "decltype",  "default",   "delete",        "do",           "double",
    "dynamic_cast", "else",   "enum",      "errno",         "explicit",     "export",
    "extern",    "false",     "float",     "for",           "friend",       "goto",
    "if",        "imaginary", "inline",    "int",           "long",         "mutable",
    "namespace", "new",       "noexcept",  "noreturn",      "not",          "not_eq",
    "nullptr",   "offsetof",  "operator",  "or",            "or_eq",        "private",
    "protected", "public",    "register",  "reinterpret_cast", "requires",  "restrict",
    "return",    "short",     "signed",    "sizeof",        "static",       "static_assert",
    "static_cast", "struct",  "switch",    "template",      "this",         "thread_local",
    "throw",     "true",      "try",       "typedef",       "typeid",       "typename",
    "union",     "unsigned",  "using",     "virtual",       "void",         "volatile",
    "wchar_t",   "while",     "xor",       "xor_eq",
};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool sk_is_reserved(const char *name) {
  if (name[0] == '_' && (name[1] == '_' || is_upper(name[1]))) return true;
  return bsearch(&name, reserved, sizeof reserved / sizeof reserved[0], sizeof reserved[0],
                 cmp_str) != NULL;
}

/* Names shimkit itself puts after "<service>__shimkit_"; a method of that
 * name would collide with them. */
static const char *const shimkit_names[] = {"methods", "register", "service"};

char *sk_member_name(sk_ctx *ctx, const char *method_name) {
  char *snake = sk_camel_to_lower(ctx, method_name);
  bool own = false;
  for (size_t i = 0; i < sizeof shimkit_names / sizeof shimkit_names[0]; i++) {
    if (strcmp(snake, shimkit_names[i]) == 0) own = true;
  }
  if (own || sk_is_reserved(snake)) return sk_printf(ctx, "%s_", snake);
  return snake;
}

/* ---- file names and text -------------------------------------------------- */

char *sk_strip_proto(sk_ctx *ctx, const char *filename) {
  size_t n = strlen(filename);
  static const char *const suffixes[] = {".protodevel", ".proto"};
  for (size_t i = 0; i < 2; i++) {
    size_t sl = strlen(suffixes[i]);
    if (n >= sl && strcmp(filename + n - sl, suffixes[i]) == 0)
      return sk_strndup(ctx, filename, n - sl);
  }
  return sk_strdup(ctx, filename);
}

char *sk_c_literal(sk_ctx *ctx, const char *s) {
  size_t n = strlen(s);
  char *out = sk_alloc(ctx, 4 * n + 3);
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\' || c == '?') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      o += (size_t)sprintf(out + o, "\\%03o", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
  return out;
}

char *sk_comment_text(sk_ctx *ctx, const char *s) {
  char *out = sk_strdup(ctx, s);
  for (char *p = out; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c >= 0x7f || c == '\\') *p = '?';
    if ((c == '*' && p[1] == '/') || (c == '/' && p[1] == '*')) *p = '_';
  }
  return out;
}

char *sk_identifier_of(sk_ctx *ctx, const char *s) {
  size_t n = strlen(s);
  char *out = sk_alloc(ctx, 3 * n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (is_upper(c) || is_lower(c) || is_digit(c)) {
      out[o++] = c;
    } else {
      o += (size_t)sprintf(out + o, "_%02x", (unsigned char)c);
    }
  }
  out[o] = '\0';
  return out;
}

static bool ident_ok(const char *s, size_t len) {
  if (len == 0 || is_digit(s[0])) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!(is_upper(c) || is_lower(c) || is_digit(c) || c == '_')) return false;
  }
  return true;
}

void sk_check_ident(sk_ctx *ctx, const char *what, const char *name) {
  if (name == NULL) sk_fail(ctx, "missing %s name", what);
  size_t n = strlen(name);
  if (n > SK_MAX_NAME_LEN || !ident_ok(name, n))
    sk_fail(ctx, "invalid %s name %s", what, sk_c_literal(ctx, n > 200 ? "(too long)" : name));
}

void sk_check_dotted(sk_ctx *ctx, const char *what, const char *name) {
  if (name == NULL) sk_fail(ctx, "missing %s name", what);
  size_t n = strlen(name);
  if (n > SK_MAX_NAME_LEN) sk_fail(ctx, "%s name too long", what);
  const char *s = name;
  if (*s == '.') s++;
  for (;;) {
    const char *dot = strchr(s, '.');
    size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
    if (!ident_ok(s, len)) sk_fail(ctx, "invalid %s name %s", what, sk_c_literal(ctx, name));
    if (dot == NULL) break;
    s = dot + 1;
  }
}
