/*
 * fuzz_field_key.c - the router's hash-on-field wire reader
 * (runtime/router/field_key.c).
 *
 * Why: with --hash-field the router reads one field straight out of a
 * client's request bytes, before any replica has judged them, with its own
 * wire reader (no protobuf-c). Those bytes are untrusted and the reader is
 * hand-written: it must never read outside them, loop or recurse without
 * bound, whatever path it follows.
 *
 * Input: the first byte gives the path length (1 to 4 steps), each step one
 * byte (field number 1..8, repeated flag, the last step's scalar type), the
 * rest is the message. A key that is found must lie inside the message or
 * inside the key's own buffer.
 */
#include <stdlib.h>

#include "field_key.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  router_field_path path = {0};
  path.n = 1 + (data[0] & 3);
  data++;
  size--;
  for (int i = 0; i < path.n; i++) {
    uint8_t b = size > 0 ? data[0] : 0;
    if (size > 0) {
      data++;
      size--;
    }
    path.steps[i].number = 1 + (b & 7);
    path.steps[i].repeated = (b & 8) != 0;
    path.steps[i].type = i < path.n - 1 ? ROUTER_FT_MESSAGE : 1 + (b >> 4) % 18;
  }
  router_field_value key;
  int r = router_field_key_get(size > 0 ? data : NULL, size, &path, &key);
  if (r == 1) {
    const uint8_t *k = key.data;
    bool in_msg = k >= data && k + key.len <= data + size;
    bool in_buf = k >= key.buf && k + key.len <= key.buf + sizeof key.buf;
    if (!in_msg && !in_buf) {
      abort(); /* a key outside both: the reader lost track of its bounds */
    }
  }
  return 0;
}
