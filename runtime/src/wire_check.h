/*
 * wire_check.h - a guard to run before protobuf-c decodes untrusted bytes
 * (see wire_check.c). The server calls it on every request; the client side
 * can call it on responses the same way.
 */
#ifndef SHIMKIT_WIRE_CHECK_H
#define SHIMKIT_WIRE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Deepest message nesting the runtime decodes. */
#define SHIMKIT__PROTO_DEPTH_MAX 100

typedef enum shimkit__wire_verdict {
  SHIMKIT__WIRE_OK = 0,   /* nothing refused: protobuf-c may decode it (and still reject it) */
  SHIMKIT__WIRE_TOO_DEEP, /* sub-messages nest deeper than max_depth */
  SHIMKIT__WIRE_BAD_TAG,  /* a field number outside 1..2^29-1, in any message */
} shimkit__wire_verdict;

/*
 * Checks data (a serialized desc) before it is decoded: its sub-messages
 * nest at most max_depth deep, and no tag in it, in any sub-message, has a
 * field number of 0 or above 2^29-1. Anything else that is malformed is
 * left for protobuf-c to reject (SHIMKIT__WIRE_OK). Reads only within
 * data[0..len).
 */
shimkit__wire_verdict shimkit__wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                          size_t len, int max_depth);

#endif /* SHIMKIT_WIRE_CHECK_H */
