/*
 * mr_convert.c - protobuf messages <-> back-end records, the metadata blobs,
 * page tokens and timestamps (see mr_convert.h). Blobs are serialized
 * RegisteredModel / ModelVersion messages with only the unqueried fields set,
 * so that a back end never needs to understand them and both back ends store
 * the same bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include "mr_convert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- memory and time -------------------------------------------------------- */

static void *pb_alloc(void *ctx, size_t size) {
  mr_arena *arena = ctx;
  return arena->alloc(arena->ctx, size ? size : 1);
}

static void pb_free(void *ctx, void *p) {
  (void)ctx;
  (void)p; /* the arena frees everything at once */
}

ProtobufCAllocator mr_pb_allocator(mr_arena *arena) {
  return (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = arena};
}

int64_t mr_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

Google__Protobuf__Timestamp *mr_timestamp(mr_arena *arena, int64_t ns) {
  Google__Protobuf__Timestamp *ts = arena->alloc(arena->ctx, sizeof *ts);
  if (!ts) return NULL;
  google__protobuf__timestamp__init(ts);
  ts->seconds = ns / 1000000000;
  ts->nanos = (int32_t)(ns % 1000000000);
  if (ts->nanos < 0) {
    ts->nanos += 1000000000;
    ts->seconds -= 1;
  }
  return ts;
}

int64_t mr_timestamp_ns(const Google__Protobuf__Timestamp *ts) {
  return ts ? ts->seconds * 1000000000 + ts->nanos : 0;
}

int mr_tag_arrays(mr_arena *arena, size_t n, const void *const *entries, const char ***keys,
                  const char ***values) {
  *keys = arena->alloc(arena->ctx, (n + 1) * sizeof **keys);
  *values = arena->alloc(arena->ctx, (n + 1) * sizeof **values);
  if (!*keys || !*values) return -1;
  for (size_t i = 0; i < n; i++) {
    const mr_tags_entry_layout *e = entries[i];
    (*keys)[i] = e->key;
    (*values)[i] = e->value;
  }
  return 0;
}

/* ---- blobs --------------------------------------------------------------------- */

static int pack(mr_arena *arena, const ProtobufCMessage *msg, uint8_t **blob, size_t *len) {
  *len = protobuf_c_message_get_packed_size(msg);
  *blob = arena->alloc(arena->ctx, *len ? *len : 1);
  if (!*blob) return -1;
  protobuf_c_message_pack(msg, *blob);
  return 0;
}

int mr_pack_model_tags(mr_arena *arena, size_t n, const char *const *keys, const char *const *values,
                       uint8_t **blob, size_t *len) {
  Shimkit__Ml__V1__RegisteredModel m = SHIMKIT__ML__V1__REGISTERED_MODEL__INIT;
  Shimkit__Ml__V1__RegisteredModel__TagsEntry *entries = arena->alloc(arena->ctx, (n + 1) * sizeof *entries);
  Shimkit__Ml__V1__RegisteredModel__TagsEntry **ptrs = arena->alloc(arena->ctx, (n + 1) * sizeof *ptrs);
  if (!entries || !ptrs) return -1;
  for (size_t i = 0; i < n; i++) {
    shimkit__ml__v1__registered_model__tags_entry__init(&entries[i]);
    entries[i].key = (char *)keys[i];
    entries[i].value = (char *)values[i];
    ptrs[i] = &entries[i];
  }
  m.n_tags = n;
  m.tags = ptrs;
  return pack(arena, &m.base, blob, len);
}

int mr_pack_version_spec(mr_arena *arena, size_t n_inputs, Shimkit__Ml__V1__TensorSpec **inputs,
                         size_t n_outputs, Shimkit__Ml__V1__TensorSpec **outputs, size_t n_tags,
                         const char *const *keys, const char *const *values, uint8_t **blob,
                         size_t *len) {
  Shimkit__Ml__V1__ModelVersion v = SHIMKIT__ML__V1__MODEL_VERSION__INIT;
  Shimkit__Ml__V1__ModelVersion__TagsEntry *entries = arena->alloc(arena->ctx, (n_tags + 1) * sizeof *entries);
  Shimkit__Ml__V1__ModelVersion__TagsEntry **ptrs = arena->alloc(arena->ctx, (n_tags + 1) * sizeof *ptrs);
  if (!entries || !ptrs) return -1;
  for (size_t i = 0; i < n_tags; i++) {
    shimkit__ml__v1__model_version__tags_entry__init(&entries[i]);
    entries[i].key = (char *)keys[i];
    entries[i].value = (char *)values[i];
    ptrs[i] = &entries[i];
  }
  v.n_inputs = n_inputs;
  v.inputs = inputs;
  v.n_outputs = n_outputs;
  v.outputs = outputs;
  v.n_tags = n_tags;
  v.tags = ptrs;
  return pack(arena, &v.base, blob, len);
}

/* ---- records -> messages ---------------------------------------------------------- */

int mr_model_to_pb(mr_arena *arena, const mr_model *m, Shimkit__Ml__V1__RegisteredModel *out) {
  ProtobufCAllocator alloc = mr_pb_allocator(arena);
  Shimkit__Ml__V1__RegisteredModel *tags =
      shimkit__ml__v1__registered_model__unpack(&alloc, m->tags_len, m->tags_len ? m->tags : (const uint8_t *)"");
  if (!tags) return -1;
  out->name = (char *)m->name;
  out->description = (char *)(m->description ? m->description : "");
  out->n_tags = tags->n_tags;
  out->tags = tags->tags;
  out->created_at = mr_timestamp(arena, m->created_ns);
  out->updated_at = mr_timestamp(arena, m->updated_ns);
  out->latest_version = m->latest_version;
  return out->created_at && out->updated_at ? 0 : -1;
}

int mr_version_to_pb(mr_arena *arena, const mr_version *v, const mr_alias *aliases, size_t n_aliases,
                     Shimkit__Ml__V1__ModelVersion *out) {
  ProtobufCAllocator alloc = mr_pb_allocator(arena);
  Shimkit__Ml__V1__ModelVersion *spec =
      shimkit__ml__v1__model_version__unpack(&alloc, v->spec_len, v->spec_len ? v->spec : (const uint8_t *)"");
  if (!spec) return -1;
  out->model_name = (char *)v->model_name;
  out->version = v->version;
  out->status = (Shimkit__Ml__V1__VersionStatus)v->status;
  out->framework = (char *)(v->framework ? v->framework : "");
  out->description = (char *)(v->description ? v->description : "");
  out->n_inputs = spec->n_inputs;
  out->inputs = spec->inputs;
  out->n_outputs = spec->n_outputs;
  out->outputs = spec->outputs;
  out->n_tags = spec->n_tags;
  out->tags = spec->tags;
  out->sha256 = (char *)(v->sha256 ? v->sha256 : "");
  out->size_bytes = v->size_bytes;
  out->created_at = mr_timestamp(arena, v->created_ns);
  if (!out->created_at) return -1;
  size_t n = 0;
  for (size_t i = 0; i < n_aliases; i++) n += aliases[i].version == v->version;
  if (n) {
    out->aliases = arena->alloc(arena->ctx, n * sizeof *out->aliases);
    if (!out->aliases) return -1;
    for (size_t i = 0; i < n_aliases; i++)
      if (aliases[i].version == v->version) out->aliases[out->n_aliases++] = (char *)aliases[i].alias;
  }
  return 0;
}

/* ---- page tokens ------------------------------------------------------------------ */

static char *hex_of(mr_arena *arena, const char *s) {
  static const char digits[] = "0123456789abcdef";
  size_t len = strlen(s);
  char *out = arena->alloc(arena->ctx, 2 * len + 1);
  if (!out) return NULL;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[(unsigned char)s[i] >> 4];
    out[2 * i + 1] = digits[(unsigned char)s[i] & 15];
  }
  return out;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes hex into arena memory; -1 for odd length, bad digits or embedded NULs. */
static int unhex(mr_arena *arena, const char *hex, char **out) {
  size_t len = strlen(hex);
  if (len % 2) return -1;
  char *s = arena->alloc(arena->ctx, len / 2 + 1);
  if (!s) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
    s[i] = (char)(hi << 4 | lo);
  }
  *out = s;
  return 0;
}

char *mr_page_token_name(mr_arena *arena, const char *name) {
  char *raw = arena->alloc(arena->ctx, strlen(name) + 2);
  if (!raw) return NULL;
  raw[0] = 'm';
  strcpy(raw + 1, name);
  return hex_of(arena, raw);
}

char *mr_page_token_version(mr_arena *arena, uint64_t version) {
  char raw[32];
  snprintf(raw, sizeof raw, "v%" PRIu64, version);
  return hex_of(arena, raw);
}

int mr_page_token_parse_name(mr_arena *arena, const char *token, char **name) {
  char *raw;
  if (unhex(arena, token, &raw) != 0 || raw[0] != 'm' || !raw[1]) return -1;
  *name = raw + 1;
  return 0;
}

int mr_page_token_parse_version(const char *token, uint64_t *version) {
  char buf[64];
  mr_scratch scratch = {0};
  mr_arena arena = mr_scratch_arena(&scratch);
  char *raw;
  int rc = -1;
  if (strlen(token) < 2 * sizeof buf && unhex(&arena, token, &raw) == 0 && raw[0] == 'v' && raw[1]) {
    snprintf(buf, sizeof buf, "%s", raw + 1);
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end == '\0' && buf[0] >= '0' && buf[0] <= '9') {
      *version = v;
      rc = 0;
    }
  }
  mr_scratch_free(&scratch);
  return rc;
}
