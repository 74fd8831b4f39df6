/*
 * cmd_build.c - shimctl build: the images of the stack's implementations.
 * Image building (image.c: FROM scratch, a layer of shared runtime
 * libraries, one of the native service, one of the shim) is not in this
 * shimctl yet; until it is, build says so and what it would build.
 */
#include <stdio.h>
#include <stdlib.h>

#include "shimctl.h"

int shimctl_cmd_build(const shimctl_opts *o, int argc, char **argv) {
  (void)argc;
  (void)argv;
  shimctl_stack *stack = shimctl_load_stack(o);
  if (stack == NULL) {
    return SHIMCTL_EXIT_USAGE;
  }
  for (size_t i = 0; i < stack->n_services; i++) {
    const shimctl_service_spec *svc = &stack->services[i];
    shimctl_say("would build shimkit/%s-%s: FROM scratch, layers: shared runtime libraries, the %s back end's "
                "libraries, %s",
                svc->kind->name, svc->implementation, svc->implementation, svc->kind->program);
  }
  fprintf(stderr, "shimctl build: not available in this shimctl (image building is not compiled in)\n");
  shimctl_stack_free(stack);
  return SHIMCTL_EXIT_FAIL;
}
