/*
 * wire_check.h - a depth guard to run before protobuf-c decodes untrusted
 * bytes (see wire_check.c). The server calls it on every request; the
 * client side can call it on responses the same way.
 */
#ifndef SHIMKIT_WIRE_CHECK_H
#define SHIMKIT_WIRE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Deepest message nesting the runtime decodes. */
#define SHIMKIT__PROTO_DEPTH_MAX 100

/*
 * False when data (a serialized desc) nests sub-messages deeper than
 * max_depth; true otherwise, including for malformed bytes (left for
 * protobuf-c to reject). Reads only within data[0..len).
 */
bool shimkit__wire_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                            int max_depth);

#endif /* SHIMKIT_WIRE_CHECK_H */
