/*
 * cmd_build.c - shimctl build [SERVICE...]: the images of the stack's
 * services (image.c: FROM scratch, a layer of shared runtime libraries, one
 * of the native service, one of the shim program and its options), then
 * their layers as docker shows them.
 *
 * The tag is $SHIMCTL_IMAGE_TAG (default "dev"), the one the supervisor
 * runs. Every implementation of a service is built, not only the stack's current
 * one: a swap in the docker environment starts the other implementation's
 * image, and building one more costs little (layers 1 and 2 are shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "shimctl.h"

int shimctl_cmd_build(const shimctl_opts *o, int argc, char **argv) {
  bool verbose = false;
  const char *tag = shimctl_image_tag();
  const char *only[SHIMCTL_MAX_SERVICES];
  int n_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
      verbose = true;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "shimctl build: unknown option '%s' (try shimctl build --help)\n", argv[i]);
      return SHIMCTL_EXIT_USAGE;
    } else if (n_only < SHIMCTL_MAX_SERVICES) {
      only[n_only++] = argv[i];
    }
  }
  shimctl_stack *stack = shimctl_load_stack(o);
  if (stack == NULL) {
    return SHIMCTL_EXIT_USAGE;
  }
  bool router = n_only == 0;
  for (int j = 0; j < n_only; j++) {
    if (strcmp(only[j], "router") == 0) {
      router = true;
    } else if (shimctl_stack_service(stack, only[j]) == NULL) {
      fprintf(stderr, "shimctl build: the stack has no service %s\n", only[j]);
      shimctl_stack_free(stack);
      return SHIMCTL_EXIT_USAGE;
    }
  }
  int rc = SHIMCTL_EXIT_OK, built = 0;
  for (size_t i = 0; i < stack->n_services && rc == SHIMCTL_EXIT_OK; i++) {
    const shimctl_kind *kind = stack->services[i].kind;
    bool wanted = n_only == 0;
    for (int j = 0; j < n_only; j++) {
      wanted = wanted || strcmp(only[j], kind->name) == 0;
    }
    if (!wanted) {
      continue;
    }
    char program[SHIMCTL_PATH], subdir[SHIMCTL_STR];
    snprintf(subdir, sizeof subdir, "services/%s", kind->name);
    if (shimctl_find_program(o->bin_dir, kind->program, subdir, program, sizeof program) != 0) {
      fprintf(stderr, "shimctl build: cannot find the program %s (build it, or give --bin-dir DIR)\n", kind->program);
      rc = SHIMCTL_EXIT_FAIL;
      break;
    }
    for (const char *const *impl = kind->impls; *impl != NULL; impl++) {
      char err[2048], ref[512];
      if (shimctl_image_build(kind->name, *impl, program, tag, verbose, err, sizeof err) != 0) {
        fprintf(stderr, "shimctl build: %s-%s: %s\n", kind->name, *impl, err);
        rc = SHIMCTL_EXIT_FAIL;
        break;
      }
      shimctl_image_ref(kind->name, *impl, tag, ref, sizeof ref);
      if (shimctl_image_layers(ref, stdout, err, sizeof err) != 0) {
        fprintf(stderr, "shimctl build: %s\n", err);
        rc = SHIMCTL_EXIT_FAIL;
        break;
      }
      built++;
    }
  }
  if (rc == SHIMCTL_EXIT_OK && router) {
    /* The router's image, for the kubernetes environment (docker runs the router as a process). */
    char program[SHIMCTL_PATH], err[2048], ref[512];
    if (shimctl_find_program(o->bin_dir, "shimkit_router", "runtime/router", program, sizeof program) != 0) {
      fprintf(stderr, "shimctl build: cannot find the program shimkit_router (build it, or give --bin-dir DIR)\n");
      rc = SHIMCTL_EXIT_FAIL;
    } else if (shimctl_image_build("router", "shimkit", program, tag, verbose, err, sizeof err) != 0 ||
               (shimctl_image_ref("router", "shimkit", tag, ref, sizeof ref),
                shimctl_image_layers(ref, stdout, err, sizeof err) != 0)) {
      fprintf(stderr, "shimctl build: router: %s\n", err);
      rc = SHIMCTL_EXIT_FAIL;
    } else {
      built++;
    }
  }
  if (rc == SHIMCTL_EXIT_OK) {
    shimctl_say("%d image%s built (tag %s)", built, built == 1 ? "" : "s", tag);
  }
  shimctl_stack_free(stack);
  return rc;
}
