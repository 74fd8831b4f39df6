/*
 * wire_check.c - refuse protobuf input nested deeper than a bound, or with
 * field numbers protobuf-c decodes but cannot encode again.
 *
 * protobuf-c decodes a sub-message by recursing, with no depth limit, so a
 * few megabytes of nested length prefixes for a recursive type (a message
 * that contains itself, like google.protobuf.Struct) would overflow a
 * worker's stack. Before decoding, this walks the wire bytes along the
 * fields the descriptor says are messages, with a depth bound, and
 * otherwise skips.
 *
 * Field numbers: protobuf-c 1.4 refuses a tag of field number 0 written in
 * one byte but keeps one written in more (0x80 0x00) as an unknown field,
 * which it then packs in one byte: a message that protobuf-c itself refuses
 * to read back. Code that re-encodes a request (the v1alpha reflection
 * stream, the model repository's stored tensor specs) would fail on it, or
 * store bytes it can never read. So every tag of every message is checked
 * here, field numbers 1..2^29-1 as protobuf defines them.
 *
 * It is not a validator otherwise: anything malformed is left for
 * protobuf-c to reject. Recursion here is bounded by max_depth (types with
 * no message fields nest nothing and add no level).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "wire_check.h"

/* Reads a varint; returns bytes used, or 0 when malformed or truncated. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

/* The descriptor of field number's message type, or NULL when it is not a message field. */
static const ProtobufCMessageDescriptor *sub_message(const ProtobufCMessageDescriptor *desc,
                                                     uint64_t number) {
  if (number > UINT32_MAX) {
    return NULL;
  }
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, (unsigned)number);
  if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE) {
    return NULL;
  }
  return f->descriptor;
}

static bool has_message_fields(const ProtobufCMessageDescriptor *desc) {
  for (unsigned i = 0; i < desc->n_fields; i++) {
    if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
      return true;
    }
  }
  return false;
}

#define FIELD_NUMBER_MAX 0x1FFFFFFFu

static shimkit__wire_verdict walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                                  int depth) {
  if (depth <= 0 && has_message_fields(desc)) {
    return SHIMKIT__WIRE_TOO_DEEP;
  }
  size_t pos = 0;
  while (pos < len) {
    uint64_t key;
    size_t n = read_varint(p + pos, len - pos, &key);
    if (n == 0) {
      return SHIMKIT__WIRE_OK; /* malformed: protobuf-c will say so */
    }
    if ((key >> 3) == 0 || (key >> 3) > FIELD_NUMBER_MAX) {
      return SHIMKIT__WIRE_BAD_TAG;
    }
    pos += n;
    uint64_t value;
    switch (key & 7) {
    case 0: /* varint */
      n = read_varint(p + pos, len - pos, &value);
      if (n == 0) {
        return SHIMKIT__WIRE_OK;
      }
      pos += n;
      break;
    case 1: /* 64-bit */
      if (len - pos < 8) {
        return SHIMKIT__WIRE_OK;
      }
      pos += 8;
      break;
    case 5: /* 32-bit */
      if (len - pos < 4) {
        return SHIMKIT__WIRE_OK;
      }
      pos += 4;
      break;
    case 2: { /* length-delimited */
      n = read_varint(p + pos, len - pos, &value);
      if (n == 0 || value > len - pos - n) {
        return SHIMKIT__WIRE_OK;
      }
      pos += n;
      const ProtobufCMessageDescriptor *sub = sub_message(desc, key >> 3);
      if (sub != NULL) {
        shimkit__wire_verdict v = walk(sub, p + pos, (size_t)value, depth - 1);
        if (v != SHIMKIT__WIRE_OK) {
          return v;
        }
      }
      pos += (size_t)value;
      break;
    }
    default: /* groups and bad wire types: protobuf-c rejects them */ return SHIMKIT__WIRE_OK;
    }
  }
  return SHIMKIT__WIRE_OK;
}

shimkit__wire_verdict shimkit__wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                          size_t len, int max_depth) {
  if (desc == NULL || data == NULL || len == 0) {
    return SHIMKIT__WIRE_OK;
  }
  return walk(desc, data, len, max_depth);
}
