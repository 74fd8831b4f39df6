/*
 * mr_convert.h - conversion between the shared interface's protobuf messages
 * and the back-end records of mr_backend.h, page tokens, and time.
 *
 * Everything returned is allocated from the arena passed in (the call's
 * memory in handlers); functions return 0, or -1 when out of memory or when a
 * stored blob does not decode.
 */
#ifndef MR_CONVERT_H
#define MR_CONVERT_H

#include "mr_backend.h"
#include "ml/v1/model_repository.pb-c.h"

/* protobuf-c allocator drawing from an arena (free is a no-op). */
ProtobufCAllocator mr_pb_allocator(mr_arena *arena);

/* Now, Unix time in nanoseconds. */
int64_t mr_now_ns(void);
Google__Protobuf__Timestamp *mr_timestamp(mr_arena *arena, int64_t ns);
int64_t mr_timestamp_ns(const Google__Protobuf__Timestamp *ts); /* 0 for NULL */

/* Record -> message. aliases: every alias of the model (only those naming v go in). */
int mr_model_to_pb(mr_arena *arena, const mr_model *m, Shimkit__Ml__V1__RegisteredModel *out);
int mr_version_to_pb(mr_arena *arena, const mr_version *v, const mr_alias *aliases, size_t n_aliases,
                     Shimkit__Ml__V1__ModelVersion *out);

/* Tags of a model -> the tags blob of mr_model (keys/values borrowed until packed). */
int mr_pack_model_tags(mr_arena *arena, size_t n, const char *const *keys, const char *const *values,
                       uint8_t **blob, size_t *len);
/* Inputs, outputs and tags of a version -> the spec blob of mr_version. */
int mr_pack_version_spec(mr_arena *arena, size_t n_inputs, Shimkit__Ml__V1__TensorSpec **inputs,
                         size_t n_outputs, Shimkit__Ml__V1__TensorSpec **outputs, size_t n_tags,
                         const char *const *keys, const char *const *values, uint8_t **blob,
                         size_t *len);

/* Keys and values of any protoc-c map field (n, entries) as two arrays from the arena;
 * evaluates to 0, or -1 when out of memory. */
#define MR_TAG_ARRAYS(arena, n, entries, keys, values) \
  mr_tag_arrays((arena), (n), (const void *const *)(entries), &(keys), &(values))
/* Every protoc-c *__TagsEntry is { ProtobufCMessage base; char *key; char *value; }. */
typedef struct mr_tags_entry_layout {
  ProtobufCMessage base;
  char *key;
  char *value;
} mr_tags_entry_layout;
int mr_tag_arrays(mr_arena *arena, size_t n, const void *const *entries, const char ***keys,
                  const char ***values);

/*
 * Page tokens: opaque to clients, hex of "m<name>" (models) or "v<number>"
 * (versions). Decoding returns -1 for a token this server did not issue.
 */
char *mr_page_token_name(mr_arena *arena, const char *name);
char *mr_page_token_version(mr_arena *arena, uint64_t version);
int mr_page_token_parse_name(mr_arena *arena, const char *token, char **name);
int mr_page_token_parse_version(const char *token, uint64_t *version);

#endif /* MR_CONVERT_H */
