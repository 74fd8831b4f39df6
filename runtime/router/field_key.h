/*
 * field_key.h - the value of one field of a protobuf message, read straight
 * from its wire bytes: the key of the router's hash-on-field policy.
 *
 * The router never decodes a forwarded message. For --hash-field it only
 * needs one field's bytes, so it walks the wire format with the field path
 * resolved from the replicas' descriptors (descriptors.h): field numbers and
 * declared types, no descriptor at run time. The message bytes are
 * UNTRUSTED (a client's request): the reader never reads outside them,
 * bounds nesting (ROUTER_FIELD_MAX_DEPTH path steps, FIELD_KEY_MAX_GROUPS
 * nested groups skipped) and answers malformed input with -1, never a crash.
 *
 * Which value is the key (protobuf's own merge rules where they apply):
 *   - a singular field: its last occurrence (a later one overrides);
 *   - a repeated field: its first element (packed or not);
 *   - a singular message on the path: every occurrence is searched, the last
 *     value found wins (occurrences merge); a repeated message: the first
 *     element only.
 * The key bytes hashed:
 *   - string, bytes: the raw bytes (no UTF-8 check);
 *   - int32, int64, uint32, uint64, sint32, sint64, enum: the value's decimal
 *     text ("42", "-7"), as declared (an int32 -1 sent as a 10-byte varint
 *     is "-1");
 *   - bool: "true" or "false";
 *   - fixed32, sfixed32, float: the 4 wire bytes; fixed64, sfixed64,
 *     double: the 8 wire bytes (little-endian, as sent).
 * A field not present in the message (proto3 leaves defaults off the wire)
 * has no key.
 */
#ifndef SHIMKIT_ROUTER_FIELD_KEY_H
#define SHIMKIT_ROUTER_FIELD_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTER_FIELD_MAX_DEPTH 16 /* steps of a field path ("a.b.c" is 3) */

/* Declared field types: google.protobuf.FieldDescriptorProto.Type's numbers. */
enum {
  ROUTER_FT_DOUBLE = 1,
  ROUTER_FT_FLOAT = 2,
  ROUTER_FT_INT64 = 3,
  ROUTER_FT_UINT64 = 4,
  ROUTER_FT_INT32 = 5,
  ROUTER_FT_FIXED64 = 6,
  ROUTER_FT_FIXED32 = 7,
  ROUTER_FT_BOOL = 8,
  ROUTER_FT_STRING = 9,
  ROUTER_FT_GROUP = 10,
  ROUTER_FT_MESSAGE = 11,
  ROUTER_FT_BYTES = 12,
  ROUTER_FT_UINT32 = 13,
  ROUTER_FT_ENUM = 14,
  ROUTER_FT_SFIXED32 = 15,
  ROUTER_FT_SFIXED64 = 16,
  ROUTER_FT_SINT32 = 17,
  ROUTER_FT_SINT64 = 18,
};

/* One step of a path: a field of the message the previous step names. */
typedef struct router_field_step {
  uint32_t number; /* field number, 1 .. 2^29-1 */
  int type;        /* ROUTER_FT_*: MESSAGE on every step but the last, a scalar type on the last */
  bool repeated;   /* label repeated: its first element is used */
} router_field_step;

/* A resolved field path ("key.entity_id" -> two steps). */
typedef struct router_field_path {
  router_field_step steps[ROUTER_FIELD_MAX_DEPTH];
  int n; /* steps used, 1 .. ROUTER_FIELD_MAX_DEPTH */
} router_field_path;

/* The key of one message: data points into the message or into buf. */
typedef struct router_field_value {
  const uint8_t *data;
  size_t len;
  uint8_t buf[24]; /* decimal text or fixed-width bytes */
} router_field_value;

/*
 * Finds the path's field in msg (len bytes). 1: found, key->data/len set
 * (valid while msg and key live); 0: the field is not in the message; -1:
 * the bytes are not a valid encoding along the path (truncated, a length past
 * the end, a varint over 10 bytes, a wire type that does not fit the
 * declared type, groups nested too deep), or path is invalid.
 */
int router_field_key_get(const uint8_t *msg, size_t len, const router_field_path *path,
                         router_field_value *key);

#endif /* SHIMKIT_ROUTER_FIELD_KEY_H */
