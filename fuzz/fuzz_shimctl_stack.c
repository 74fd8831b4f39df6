/*
 * fuzz_shimctl_stack.c - shimctl's stack file parser and validation
 * (runtime/shimctl/stack.c, over libyaml's document API).
 *
 * Why: a stack file is written by hand, copied around and edited; shimctl
 * must answer any bytes with "FILE:LINE: reason" lines, never a crash, and
 * libyaml's node tree (aliases, flow and block styles, non-scalar keys) is
 * walked by our own code. A stack it accepts must hold what every command
 * then relies on without checking again.
 *
 * Input: the file's bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stack.h"

static void check_accepted(const shimctl_stack *st) {
  if (st->name == NULL || st->router_listen == NULL || st->environment == NULL || st->state_dir == NULL ||
      st->state_dir[0] != '/' || st->n_services < 1 || st->n_services > SHIMCTL_MAX_SERVICES) {
    abort();
  }
  for (size_t i = 0; i < st->n_services; i++) {
    const shimctl_service_spec *s = &st->services[i];
    if (s->kind == NULL || s->implementation == NULL || !shimctl_kind_has_impl(s->kind, s->implementation) ||
        s->replicas < 1 || s->replicas > SHIMCTL_MAX_REPLICAS || s->port < 0 ||
        s->port + s->replicas - 1 > 65535 ||
        (s->policy == SHIMCTL_POLICY_HASH && (s->hash_field == NULL) == (s->hash_key == NULL)) ||
        s->config.n > SHIMCTL_MAX_CONFIG || s->n_impl_config > SHIMCTL_MAX_IMPL_CONFIG) {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  shimctl_errors errs;
  shimctl_stack *st = shimctl_stack_parse("/nonexistent/stack.yaml", (const char *)data, size, &errs);
  if (st == NULL) {
    if (errs.n == 0 || errs.n > SHIMCTL_MAX_ERRORS) {
      abort(); /* refused without saying why */
    }
    return 0;
  }
  if (errs.n != 0) {
    abort();
  }
  check_accepted(st);
  shimctl_stack_free(st);
  return 0;
}
