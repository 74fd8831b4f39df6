/*
 * wire_check.c - refuse protobuf input nested deeper than a bound.
 *
 * protobuf-c decodes a sub-message by recursing, with no depth limit, so a
 * few megabytes of nested length prefixes for a recursive type (a message
 * that contains itself, like google.protobuf.Struct) would overflow a
 * worker's stack. Before decoding, this walks the wire bytes along the
 * fields the descriptor says are messages, with a depth bound, and
 * otherwise skips. It is not a validator: anything malformed is left for
 * protobuf-c to reject. Recursion here is bounded by max_depth.
 */
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

static bool walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth) {
  if (depth <= 0) {
    return false;
  }
  size_t pos = 0;
  while (pos < len) {
    uint64_t key;
    size_t n = read_varint(p + pos, len - pos, &key);
    if (n == 0) {
      return true; /* malformed: protobuf-c will say so */
    }
    pos += n;
    uint64_t value;
    switch (key & 7) {
    case 0: /* varint */
      n = read_varint(p + pos, len - pos, &value);
      if (n == 0) {
        return true;
      }
      pos += n;
      break;
    case 1: /* 64-bit */
      if (len - pos < 8) {
        return true;
      }
      pos += 8;
      break;
    case 5: /* 32-bit */
      if (len - pos < 4) {
        return true;
      }
      pos += 4;
      break;
    case 2: { /* length-delimited */
      n = read_varint(p + pos, len - pos, &value);
      if (n == 0 || value > len - pos - n) {
        return true;
      }
      pos += n;
      const ProtobufCMessageDescriptor *sub = sub_message(desc, key >> 3);
      if (sub != NULL && has_message_fields(sub) && !walk(sub, p + pos, (size_t)value, depth - 1)) {
        return false;
      }
      pos += (size_t)value;
      break;
    }
    default: /* groups and bad wire types: protobuf-c rejects them */ return true;
    }
  }
  return true;
}

bool shimkit__wire_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                            int max_depth) {
  if (desc == NULL || data == NULL || len == 0 || !has_message_fields(desc)) {
    return true;
  }
  return walk(desc, data, len, max_depth);
}
