/*
 * field_key.c - reads one field's value out of protobuf wire bytes for the
 * hash-on-field policy (field_key.h says which value and which key bytes).
 *
 * A small bounded reader: every read checks the end first, lengths are
 * compared with what is left before they are used, a varint is at most 10
 * bytes, path recursion is at most ROUTER_FIELD_MAX_DEPTH deep and skipped
 * groups at most FIELD_KEY_MAX_GROUPS deep. No allocation.
 */
#include "field_key.h"

#include <stdio.h>
#include <string.h>

#define FIELD_KEY_MAX_GROUPS 32 /* nested (deprecated) groups skipped */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* A varint at *p (at most 10 bytes, at most 64 bits); -1 when truncated or too long. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int i = 0; i < 10; i++) {
    if (*p >= end) {
      return -1;
    }
    uint8_t b = *(*p)++;
    if (i == 9 && b > 1) {
      return -1; /* past 64 bits */
    }
    r |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* A tag: field number (1 .. 2^29-1) and wire type; -1 when malformed. */
static int read_tag(const uint8_t **p, const uint8_t *end, uint32_t *number, int *wire_type) {
  uint64_t tag;
  if (read_varint(p, end, &tag) != 0 || tag > 0xFFFFFFFFu || (tag >> 3) == 0) {
    return -1;
  }
  *number = (uint32_t)(tag >> 3);
  *wire_type = (int)(tag & 7);
  return 0;
}

/* A length prefix that fits in what is left; -1 otherwise. */
static int read_len(const uint8_t **p, const uint8_t *end, size_t *len) {
  uint64_t n;
  if (read_varint(p, end, &n) != 0 || n > (uint64_t)(end - *p)) {
    return -1;
  }
  *len = (size_t)n;
  return 0;
}

/* Skips a value of a wire type other than a group's. */
static int skip_plain(const uint8_t **p, const uint8_t *end, int wire_type) {
  uint64_t v;
  size_t n;
  switch (wire_type) {
  case WT_VARINT: return read_varint(p, end, &v);
  case WT_I64: n = 8; break;
  case WT_I32: n = 4; break;
  case WT_LEN:
    if (read_len(p, end, &n) != 0) {
      return -1;
    }
    break;
  default: return -1;
  }
  if (n > (size_t)(end - *p)) {
    return -1;
  }
  *p += n;
  return 0;
}

/* Skips a group whose start tag (field number) was just read, nested groups included. */
static int skip_group(const uint8_t **p, const uint8_t *end, uint32_t number) {
  uint32_t open[FIELD_KEY_MAX_GROUPS];
  int depth = 0;
  open[depth++] = number;
  while (depth > 0) {
    uint32_t num;
    int wt;
    if (read_tag(p, end, &num, &wt) != 0) {
      return -1;
    }
    if (wt == WT_SGROUP) {
      if (depth == FIELD_KEY_MAX_GROUPS) {
        return -1;
      }
      open[depth++] = num;
    } else if (wt == WT_EGROUP) {
      if (open[depth - 1] != num) {
        return -1;
      }
      depth--;
    } else if (skip_plain(p, end, wt) != 0) {
      return -1;
    }
  }
  return 0;
}

static int skip_value(const uint8_t **p, const uint8_t *end, uint32_t number, int wire_type) {
  if (wire_type == WT_SGROUP) {
    return skip_group(p, end, number);
  }
  return skip_plain(p, end, wire_type); /* an end-group here has no start: -1 */
}

static bool is_varint_type(int t) {
  return t == ROUTER_FT_INT32 || t == ROUTER_FT_INT64 || t == ROUTER_FT_UINT32 || t == ROUTER_FT_UINT64 ||
         t == ROUTER_FT_SINT32 || t == ROUTER_FT_SINT64 || t == ROUTER_FT_BOOL || t == ROUTER_FT_ENUM;
}

static size_t fixed_width(int t) {
  switch (t) {
  case ROUTER_FT_FIXED32:
  case ROUTER_FT_SFIXED32:
  case ROUTER_FT_FLOAT: return 4;
  case ROUTER_FT_FIXED64:
  case ROUTER_FT_SFIXED64:
  case ROUTER_FT_DOUBLE: return 8;
  default: return 0;
  }
}

/* The key text of a varint-encoded value of type t. */
static void varint_key(int t, uint64_t v, router_field_value *key) {
  char *out = (char *)key->buf;
  int n;
  switch (t) {
  case ROUTER_FT_INT32:
  case ROUTER_FT_ENUM: n = snprintf(out, sizeof key->buf, "%ld", (long)(int32_t)(uint32_t)v); break;
  case ROUTER_FT_INT64: n = snprintf(out, sizeof key->buf, "%lld", (long long)(int64_t)v); break;
  case ROUTER_FT_UINT32: n = snprintf(out, sizeof key->buf, "%lu", (unsigned long)(uint32_t)v); break;
  case ROUTER_FT_SINT32: {
    uint32_t u = (uint32_t)v;
    int32_t s = (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
    n = snprintf(out, sizeof key->buf, "%ld", (long)s);
    break;
  }
  case ROUTER_FT_SINT64: {
    int64_t s = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    n = snprintf(out, sizeof key->buf, "%lld", (long long)s);
    break;
  }
  case ROUTER_FT_BOOL: n = snprintf(out, sizeof key->buf, "%s", v != 0 ? "true" : "false"); break;
  default: n = snprintf(out, sizeof key->buf, "%llu", (unsigned long long)v); break; /* uint64 */
  }
  key->data = key->buf;
  key->len = n > 0 ? (size_t)n : 0;
}

/*
 * The value of a scalar field whose tag (wire type wt) was just read; *p is
 * moved past it. 1: key set; 0: an empty packed run; -1: malformed or a wire
 * type that does not fit type t.
 */
static int scalar_value(const uint8_t **p, const uint8_t *end, const router_field_step *st, int wt,
                        router_field_value *key) {
  int t = st->type;
  if (t == ROUTER_FT_STRING || t == ROUTER_FT_BYTES) {
    size_t n;
    if (wt != WT_LEN || read_len(p, end, &n) != 0) {
      return -1;
    }
    key->data = *p;
    key->len = n;
    *p += n;
    return 1;
  }
  size_t width = fixed_width(t);
  if (!is_varint_type(t) && width == 0) {
    return -1; /* not a scalar type */
  }
  const uint8_t *q = *p;
  const uint8_t *qend = end;
  if (wt == WT_LEN) {
    /* Packed: the first element of the run. */
    size_t n;
    if (!st->repeated || read_len(p, end, &n) != 0) {
      return -1;
    }
    q = *p;
    qend = *p + n;
    *p += n;
    if (n == 0) {
      return 0;
    }
  } else if (width == 0 ? wt != WT_VARINT : wt != (width == 4 ? WT_I32 : WT_I64)) {
    return -1;
  }
  if (width == 0) {
    uint64_t v;
    if (read_varint(&q, qend, &v) != 0) {
      return -1;
    }
    varint_key(t, v, key);
  } else {
    if ((size_t)(qend - q) < width) {
      return -1;
    }
    memcpy(key->buf, q, width);
    key->data = key->buf;
    key->len = width;
    q += width;
  }
  if (wt != WT_LEN) {
    *p = q;
  }
  return 1;
}

/* Copies a key found in a nested message (its data may point into its own buf). */
static void take_key(router_field_value *to, const router_field_value *from) {
  bool own = from->data == from->buf;
  memcpy(to->buf, from->buf, sizeof to->buf);
  to->len = from->len;
  to->data = own ? to->buf : from->data;
}

static int find(const uint8_t *p, const uint8_t *end, const router_field_path *path, int i,
                router_field_value *key) {
  const router_field_step *st = &path->steps[i];
  bool last = i == path->n - 1;
  int found = 0;
  while (p < end) {
    uint32_t num;
    int wt;
    if (read_tag(&p, end, &num, &wt) != 0) {
      return -1;
    }
    if (num != st->number) {
      if (skip_value(&p, end, num, wt) != 0) {
        return -1;
      }
      continue;
    }
    if (last) {
      int r = scalar_value(&p, end, st, wt, key);
      if (r < 0) {
        return -1;
      }
      if (r == 1) {
        found = 1;
        if (st->repeated) {
          return 1; /* the first element */
        }
      }
      continue;
    }
    size_t n;
    if (wt != WT_LEN || read_len(&p, end, &n) != 0) {
      return -1;
    }
    router_field_value inner;
    int r = find(p, p + n, path, i + 1, &inner);
    if (r < 0) {
      return -1;
    }
    if (r == 1) {
      take_key(key, &inner);
      found = 1;
    }
    if (st->repeated) {
      return found; /* the first element only */
    }
    p += n;
  }
  return found;
}

int router_field_key_get(const uint8_t *msg, size_t len, const router_field_path *path,
                         router_field_value *key) {
  if (path == NULL || key == NULL || path->n < 1 || path->n > ROUTER_FIELD_MAX_DEPTH ||
      (msg == NULL && len > 0)) {
    return -1;
  }
  for (int i = 0; i < path->n; i++) {
    const router_field_step *st = &path->steps[i];
    bool last = i == path->n - 1;
    if (st->number == 0 || st->number > 0x1FFFFFFFu || (!last && st->type != ROUTER_FT_MESSAGE) ||
        (last && (st->type == ROUTER_FT_MESSAGE || st->type == ROUTER_FT_GROUP))) {
      return -1;
    }
  }
  key->data = NULL;
  key->len = 0;
  if (len == 0) {
    return 0;
  }
  return find(msg, msg + len, path, 0, key);
}
