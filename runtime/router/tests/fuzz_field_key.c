/*
 * fuzz_field_key.c - libFuzzer target for the hash-on-field wire reader
 * (field_key.c). The first bytes choose a field path (1 to 4 steps, each a
 * field number 1..8, a type and a repeated flag), the rest is the message.
 * Built only with clang and -DSHIMKIT_FUZZ=ON (runtime/router/tests).
 */
#include <stddef.h>
#include <stdint.h>

#include "field_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
  (void)router_field_key_get(data, size, &path, &key);
  return 0;
}
