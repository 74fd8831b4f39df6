/*
 * reflection_index.c - which file declares which symbol, from the serialized
 * FileDescriptorProtos that generated service tables embed.
 *
 * Two layers (see reflection.h):
 *   - a process-wide cache of decoded files, keyed by (name, length, FNV-1a
 *     of the bytes): every distinct file is decoded once with protobuf-c's
 *     descriptor.pb-c and reduced to its dependency names, a sorted array of
 *     fully-qualified symbols, and its extensions. Entries are immutable once
 *     published and never freed (they stay reachable from the cache head);
 *     the cache is bounded by the generated files linked into the program.
 *   - a per-server "file set": the server's blobs deduplicated by name, each
 *     paired with its cache entry. Lookups are a bsearch per file.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "reflection.h"
#include "shimkit/log.h"

/* Nesting deeper than this in a descriptor is not indexed (protoc allows ~100). */
#define MAX_NESTING 64
/* Longest fully-qualified symbol indexed. */
#define MAX_SYMBOL 1024
/* Most files one closure walks (a guard against dependency cycles in bad blobs). */
#define MAX_CLOSURE 4096

struct refl_ext {
  char *extendee; /* fully-qualified message name, no leading '.' */
  int32_t number; /* field number */
};

/* One decoded file; immutable once in the cache. */
struct refl_file {
  struct refl_file *next; /* cache list */
  char *name;             /* file name from the blob table */
  size_t len;             /* blob length (part of the key) */
  uint64_t hash;          /* FNV-1a of the blob (part of the key) */
  bool decoded;           /* false: the blob did not decode, nothing below is set */
  char **deps;            /* dependency file names */
  size_t n_deps;
  char **symbols; /* sorted fully-qualified symbols */
  size_t n_symbols;
  struct refl_ext *exts; /* extensions this file declares */
  size_t n_exts;
};

struct refl_member {
  const shimkit_file_blob *blob; /* the server's copy of the bytes (answers point here) */
  const struct refl_file *file;  /* its index entry */
};

struct shimkit__refl_files {
  struct refl_member *files; /* deduplicated by name, first seen wins */
  size_t n;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct refl_file *cache_head;

/* ---- building one file's index ------------------------------------------------ */

/* A growable array of symbols while a file is being indexed. */
struct builder {
  char **symbols;
  size_t n, cap;
  struct refl_ext *exts;
  size_t n_exts, cap_exts;
  bool oom;
};

static void add_symbol(struct builder *b, const char *prefix, const char *name) {
  if (b->oom || name == NULL || name[0] == '\0') {
    return;
  }
  size_t lp = strlen(prefix);
  size_t ln = strlen(name);
  if (lp + ln > MAX_SYMBOL) {
    return;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap == 0 ? 32 : b->cap * 2;
    char **grown = realloc(b->symbols, cap * sizeof(*grown));
    if (grown == NULL) {
      b->oom = true;
      return;
    }
    b->symbols = grown;
    b->cap = cap;
  }
  char *s = malloc(lp + ln + 1);
  if (s == NULL) {
    b->oom = true;
    return;
  }
  memcpy(s, prefix, lp);
  memcpy(s + lp, name, ln + 1);
  b->symbols[b->n++] = s;
}

/* prefix + name + "." into buf (for nested scopes); false when too long. */
static bool scope(char *buf, const char *prefix, const char *name) {
  size_t lp = strlen(prefix);
  size_t ln = strlen(name);
  if (lp + ln + 2 > MAX_SYMBOL + 1) {
    return false;
  }
  memcpy(buf, prefix, lp);
  memcpy(buf + lp, name, ln);
  buf[lp + ln] = '.';
  buf[lp + ln + 1] = '\0';
  return true;
}

static void add_extension(struct builder *b, const char *prefix,
                          const Google__Protobuf__FieldDescriptorProto *f) {
  add_symbol(b, prefix, f->name);
  if (b->oom || f->extendee == NULL || !f->has_number) {
    return;
  }
  if (b->n_exts == b->cap_exts) {
    size_t cap = b->cap_exts == 0 ? 8 : b->cap_exts * 2;
    struct refl_ext *grown = realloc(b->exts, cap * sizeof(*grown));
    if (grown == NULL) {
      b->oom = true;
      return;
    }
    b->exts = grown;
    b->cap_exts = cap;
  }
  const char *extendee = f->extendee[0] == '.' ? f->extendee + 1 : f->extendee;
  size_t len = strnlen(extendee, MAX_SYMBOL + 1);
  if (len > MAX_SYMBOL) {
    return;
  }
  char *copy = malloc(len + 1);
  if (copy == NULL) {
    b->oom = true;
    return;
  }
  memcpy(copy, extendee, len + 1);
  b->exts[b->n_exts].extendee = copy;
  b->exts[b->n_exts].number = f->number;
  b->n_exts++;
}

/* An enum and its values; values are scoped next to the enum, as in protobuf. */
static void index_enum(struct builder *b, const char *prefix,
                       const Google__Protobuf__EnumDescriptorProto *e) {
  if (e == NULL || e->name == NULL) {
    return;
  }
  add_symbol(b, prefix, e->name);
  for (size_t i = 0; i < e->n_value; i++) {
    if (e->value[i] != NULL) {
      add_symbol(b, prefix, e->value[i]->name);
    }
  }
}

static void index_message(struct builder *b, const char *prefix, const Google__Protobuf__DescriptorProto *m,
                          int depth) {
  if (m == NULL || m->name == NULL || depth > MAX_NESTING) {
    return;
  }
  add_symbol(b, prefix, m->name);
  char inner[MAX_SYMBOL + 2];
  if (!scope(inner, prefix, m->name)) {
    return;
  }
  for (size_t i = 0; i < m->n_field; i++) {
    if (m->field[i] != NULL) {
      add_symbol(b, inner, m->field[i]->name);
    }
  }
  for (size_t i = 0; i < m->n_oneof_decl; i++) {
    if (m->oneof_decl[i] != NULL) {
      add_symbol(b, inner, m->oneof_decl[i]->name);
    }
  }
  for (size_t i = 0; i < m->n_extension; i++) {
    if (m->extension[i] != NULL) {
      add_extension(b, inner, m->extension[i]);
    }
  }
  for (size_t i = 0; i < m->n_enum_type; i++) {
    index_enum(b, inner, m->enum_type[i]);
  }
  for (size_t i = 0; i < m->n_nested_type; i++) {
    index_message(b, inner, m->nested_type[i], depth + 1);
  }
}

static int cmp_symbol(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i]);
  }
  free(v);
}

/* Fills f from the decoded proto; false when out of memory (f left empty). */
static bool index_file(struct refl_file *f, const Google__Protobuf__FileDescriptorProto *fd) {
  struct builder b = {0};
  char pkg[MAX_SYMBOL + 2] = "";
  if (fd->package != NULL && fd->package[0] != '\0') {
    add_symbol(&b, "", fd->package);
    if (!scope(pkg, "", fd->package)) {
      pkg[0] = '\0';
    }
  }
  for (size_t i = 0; i < fd->n_message_type; i++) {
    index_message(&b, pkg, fd->message_type[i], 0);
  }
  for (size_t i = 0; i < fd->n_enum_type; i++) {
    index_enum(&b, pkg, fd->enum_type[i]);
  }
  for (size_t i = 0; i < fd->n_extension; i++) {
    if (fd->extension[i] != NULL) {
      add_extension(&b, pkg, fd->extension[i]);
    }
  }
  for (size_t i = 0; i < fd->n_service; i++) {
    const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];
    if (s == NULL || s->name == NULL) {
      continue;
    }
    add_symbol(&b, pkg, s->name);
    char inner[MAX_SYMBOL + 2];
    if (!scope(inner, pkg, s->name)) {
      continue;
    }
    for (size_t j = 0; j < s->n_method; j++) {
      if (s->method[j] != NULL) {
        add_symbol(&b, inner, s->method[j]->name);
      }
    }
  }
  char **deps = NULL;
  size_t n_deps = 0;
  if (!b.oom && fd->n_dependency > 0) {
    deps = calloc(fd->n_dependency, sizeof(*deps));
    b.oom = deps == NULL;
    for (size_t i = 0; !b.oom && i < fd->n_dependency; i++) {
      if (fd->dependency[i] == NULL) {
        continue;
      }
      size_t len = strlen(fd->dependency[i]);
      deps[n_deps] = malloc(len + 1);
      if (deps[n_deps] == NULL) {
        b.oom = true;
        break;
      }
      memcpy(deps[n_deps++], fd->dependency[i], len + 1);
    }
  }
  if (b.oom) {
    free_strings(b.symbols, b.n);
    for (size_t i = 0; i < b.n_exts; i++) {
      free(b.exts[i].extendee);
    }
    free(b.exts);
    free_strings(deps, n_deps);
    return false;
  }
  if (b.n > 0) {
    qsort(b.symbols, b.n, sizeof(*b.symbols), cmp_symbol);
  }
  f->symbols = b.symbols;
  f->n_symbols = b.n;
  f->exts = b.exts;
  f->n_exts = b.n_exts;
  f->deps = deps;
  f->n_deps = n_deps;
  f->decoded = true;
  return true;
}

/* ---- the process-wide cache -------------------------------------------------- */

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* The cache entry of blob, decoding it the first time; NULL when out of memory. */
static const struct refl_file *cache_get(const shimkit_file_blob *blob) {
  uint64_t hash = fnv1a(blob->data, blob->len);
  pthread_mutex_lock(&cache_mu);
  for (struct refl_file *f = cache_head; f != NULL; f = f->next) {
    if (f->len == blob->len && f->hash == hash && strcmp(f->name, blob->name) == 0) {
      pthread_mutex_unlock(&cache_mu);
      return f;
    }
  }
  struct refl_file *f = calloc(1, sizeof(*f));
  size_t name_len = strlen(blob->name);
  if (f == NULL || (f->name = malloc(name_len + 1)) == NULL) {
    free(f);
    pthread_mutex_unlock(&cache_mu);
    return NULL;
  }
  memcpy(f->name, blob->name, name_len + 1);
  f->len = blob->len;
  f->hash = hash;
  Google__Protobuf__FileDescriptorProto *fd =
      google__protobuf__file_descriptor_proto__unpack(NULL, blob->len, blob->data);
  if (fd == NULL) {
    shimkit_log(SHIMKIT_LOG_WARN, "reflection", "descriptor of %s does not decode; not indexed", blob->name);
  } else {
    if (fd->name != NULL && strcmp(fd->name, blob->name) != 0) {
      shimkit_log(SHIMKIT_LOG_WARN, "reflection", "blob %s holds the descriptor of %s", blob->name, fd->name);
    }
    bool ok = index_file(f, fd);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    if (!ok) {
      /* Out of memory: do not cache a half-built entry; the next query retries. */
      free(f->name);
      free(f);
      pthread_mutex_unlock(&cache_mu);
      return NULL;
    }
  }
  f->next = cache_head;
  cache_head = f;
  pthread_mutex_unlock(&cache_mu);
  return f;
}

/* ---- file sets ---------------------------------------------------------------- */

shimkit__refl_files *shimkit__refl_files_new(const shimkit_service_desc *const *services, size_t n) {
  shimkit__refl_files *set = calloc(1, sizeof(*set));
  if (set == NULL) {
    return NULL;
  }
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (services[i] != NULL) {
      total += services[i]->n_files;
    }
  }
  if (total > 0) {
    set->files = calloc(total, sizeof(*set->files));
    if (set->files == NULL) {
      free(set);
      return NULL;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const shimkit_service_desc *svc = services[i];
    for (size_t j = 0; svc != NULL && j < svc->n_files; j++) {
      const shimkit_file_blob *blob = &svc->files[j];
      if (blob->name == NULL || (blob->data == NULL && blob->len > 0) ||
          shimkit__refl_find_file(set, blob->name) != NULL) {
        continue;
      }
      const struct refl_file *f = cache_get(blob);
      if (f == NULL) {
        shimkit__refl_files_free(set);
        return NULL;
      }
      set->files[set->n].blob = blob;
      set->files[set->n].file = f;
      set->n++;
    }
  }
  return set;
}

void shimkit__refl_files_free(shimkit__refl_files *set) {
  if (set == NULL) {
    return;
  }
  free(set->files);
  free(set);
}

size_t shimkit__refl_files_count(const shimkit__refl_files *set) {
  return set != NULL ? set->n : 0;
}

static bool has_symbol(const struct refl_file *f, const char *symbol) {
  if (!f->decoded || f->n_symbols == 0) {
    return false;
  }
  return bsearch(&symbol, f->symbols, f->n_symbols, sizeof(*f->symbols), cmp_symbol) != NULL;
}

const shimkit_file_blob *shimkit__refl_find_symbol(const shimkit__refl_files *set, const char *symbol) {
  if (set == NULL || symbol == NULL) {
    return NULL;
  }
  if (symbol[0] == '.') {
    symbol++;
  }
  for (size_t i = 0; i < set->n; i++) {
    if (has_symbol(set->files[i].file, symbol)) {
      return set->files[i].blob;
    }
  }
  return NULL;
}

const shimkit_file_blob *shimkit__refl_find_file(const shimkit__refl_files *set, const char *name) {
  if (set == NULL || name == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < set->n; i++) {
    if (strcmp(set->files[i].blob->name, name) == 0) {
      return set->files[i].blob;
    }
  }
  return NULL;
}

const shimkit_file_blob *shimkit__refl_find_extension(const shimkit__refl_files *set, const char *type,
                                                      int32_t number) {
  if (set == NULL || type == NULL) {
    return NULL;
  }
  if (type[0] == '.') {
    type++;
  }
  for (size_t i = 0; i < set->n; i++) {
    const struct refl_file *f = set->files[i].file;
    for (size_t j = 0; f->decoded && j < f->n_exts; j++) {
      if (f->exts[j].number == number && strcmp(f->exts[j].extendee, type) == 0) {
        return set->files[i].blob;
      }
    }
  }
  return NULL;
}

long shimkit__refl_extension_numbers(const shimkit__refl_files *set, const char *type, int32_t *out,
                                     size_t max) {
  if (set == NULL || type == NULL) {
    return -1;
  }
  if (type[0] == '.') {
    type++;
  }
  if (shimkit__refl_find_symbol(set, type) == NULL) {
    return -1;
  }
  long total = 0;
  for (size_t i = 0; i < set->n; i++) {
    const struct refl_file *f = set->files[i].file;
    for (size_t j = 0; f->decoded && j < f->n_exts; j++) {
      if (strcmp(f->exts[j].extendee, type) == 0) {
        if ((size_t)total < max) {
          out[total] = f->exts[j].number;
        }
        total++;
      }
    }
  }
  return total;
}

/* Index of blob's member in the set, or (size_t)-1. */
static size_t member_of(const shimkit__refl_files *set, const char *name) {
  for (size_t i = 0; i < set->n; i++) {
    if (strcmp(set->files[i].blob->name, name) == 0) {
      return i;
    }
  }
  return (size_t)-1;
}

size_t shimkit__refl_file_closure(const shimkit__refl_files *set, const shimkit_file_blob *file,
                                  const shimkit_file_blob **out, size_t max) {
  if (set == NULL || file == NULL || set->n == 0) {
    return 0;
  }
  size_t start = member_of(set, file->name);
  if (start == (size_t)-1) {
    return 0;
  }
  /* Breadth-first over member indices; queue doubles as the visited list. */
  size_t *queue = malloc(set->n * sizeof(*queue));
  bool *seen = calloc(set->n, sizeof(*seen));
  size_t count = 0;
  if (queue == NULL || seen == NULL) {
    free(queue);
    free(seen);
    /* Out of memory: at least the file itself. */
    if (max > 0) {
      out[0] = set->files[start].blob;
    }
    return 1;
  }
  bool missing_logged = false;
  queue[count++] = start;
  seen[start] = true;
  for (size_t head = 0; head < count && count < MAX_CLOSURE; head++) {
    const struct refl_file *f = set->files[queue[head]].file;
    for (size_t d = 0; f->decoded && d < f->n_deps; d++) {
      size_t m = member_of(set, f->deps[d]);
      if (m == (size_t)-1) {
        if (!missing_logged) {
          shimkit_log(SHIMKIT_LOG_WARN, "reflection", "%s imports %s, which no service embeds", f->name,
                      f->deps[d]);
          missing_logged = true;
        }
        continue;
      }
      if (!seen[m]) {
        seen[m] = true;
        queue[count++] = m;
      }
    }
  }
  for (size_t i = 0; i < count && i < max; i++) {
    out[i] = set->files[queue[i]].blob;
  }
  free(queue);
  free(seen);
  return count;
}
