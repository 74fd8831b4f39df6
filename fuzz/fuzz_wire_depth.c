/*
 * fuzz_wire_depth.c - the server's wire guard (runtime/src/wire_check.c)
 * against what protobuf-c then decodes, for every request and response
 * type of the services shimkit ships, plus google.protobuf.Struct.
 *
 * Why: protobuf-c decodes sub-messages by recursion with no bound, so
 * call.c runs shimkit__wire_check on every request first; a shim whose
 * guard and decoder disagree (a field the guard skips, a wire type it reads
 * differently) can be made to recurse past its stack with a small message
 * of a recursive type. The guard gives up on bytes it finds malformed,
 * trusting protobuf-c to refuse them: this checks that trust. Code that
 * re-encodes a request (v1alpha reflection, stored tensor specs) also
 * needs what protobuf-c decoded to encode into bytes it decodes again.
 *
 * Input: the first byte picks the message type, the second the depth bound
 * (1..16, so that small inputs reach it), the rest is the message. When the
 * guard passes a message and protobuf-c decodes it, no sub-message that
 * the guard walks for depth (one with message fields) may lie deeper than
 * the bound, and packing it must give bytes protobuf-c decodes.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_services.h"

static const ProtobufCMessageDescriptor *types[FUZZ_MAX_TYPES];
static size_t n_types;

static bool has_message_fields(const ProtobufCMessageDescriptor *d) {
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
      return true;
    }
  }
  return false;
}

/* The deepest level (msg itself at level) of a message the guard walks: one with message fields. */
static int walked_depth(const ProtobufCMessage *msg, int level) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  if (!has_message_fields(d)) {
    return level - 1;
  }
  int deepest = level;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
      continue;
    }
    const char *base = (const char *)msg;
    size_t n = 1;
    ProtobufCMessage *const *subs = (ProtobufCMessage *const *)(base + f->offset);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)(base + f->quantifier_offset);
      subs = *(ProtobufCMessage *const *const *)(base + f->offset);
    } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
               *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
      continue; /* another member of the oneof holds the union */
    }
    for (size_t k = 0; k < n; k++) {
      if (subs[k] != NULL) {
        int dd = walked_depth(subs[k], level + 1);
        deepest = dd > deepest ? dd : deepest;
      }
    }
  }
  return deepest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (n_types == 0) {
    n_types = fuzz_message_types(types);
  }
  if (size < 2) {
    return 0;
  }
  const ProtobufCMessageDescriptor *desc = types[data[0] % n_types];
  int max_depth = 1 + data[1] % 16;
  data += 2;
  size -= 2;
  if (shimkit__wire_check(desc, data, size, max_depth) != SHIMKIT__WIRE_OK) {
    return 0;
  }
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, size, size > 0 ? data : (const uint8_t *)"");
  if (msg == NULL) {
    return 0;
  }
  if (walked_depth(msg, 1) > max_depth) {
    abort(); /* the guard let through a message nested deeper than its bound */
  }
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n > 0 ? n : 1);
  if (buf == NULL) {
    abort();
  }
  protobuf_c_message_pack(msg, buf);
  protobuf_c_message_free_unpacked(msg, NULL);
  ProtobufCMessage *again = protobuf_c_message_unpack(desc, NULL, n, buf);
  free(buf);
  if (again == NULL) {
    abort(); /* passed the guard, decoded, but its own encoding does not decode */
  }
  protobuf_c_message_free_unpacked(again, NULL);
  return 0;
}
