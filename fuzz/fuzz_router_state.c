/*
 * fuzz_router_state.c - the router's --state file reader
 * (runtime/router/state.c) and its writer, as a round trip.
 *
 * Why: the router reads its state file at start, and a file can be cut
 * short by a crash, edited by hand or simply be something else. The reader
 * must refuse anything that is not a state file with a message, never
 * crash; and what it accepts must be written back as a file that reads as
 * the same sets (else a restart would change the router's configuration).
 *
 * Input: the file's bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  router_set_spec *sets = NULL;
  int n = 0;
  char err[512];
  if (router_state_parse((const char *)data, size, &sets, &n, err, sizeof err) != 0) {
    if (sets != NULL || n != 0 || strlen(err) == 0) {
      abort(); /* a refusal returns nothing and says why */
    }
    return 0;
  }
  size_t len = 0;
  char *text = router_state_format(sets, n, &len);
  if (text == NULL) {
    abort();
  }
  router_set_spec *again = NULL;
  int n_again = 0;
  if (router_state_parse(text, len, &again, &n_again, err, sizeof err) != 0 || n_again != n) {
    abort(); /* what the router writes, it must read back */
  }
  size_t len2 = 0;
  char *text2 = router_state_format(again, n_again, &len2);
  if (text2 == NULL || len2 != len || memcmp(text, text2, len) != 0) {
    abort(); /* ... as the same sets */
  }
  free(text);
  free(text2);
  router_specs_free(sets, n);
  router_specs_free(again, n_again);
  return 0;
}
