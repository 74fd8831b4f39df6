/*
 * image_tool.c - a small driver of runtime/shimctl/image.c for the image
 * tests (e2e.images): builds one image and prints its layers, without a
 * stack file. `shimctl build` is the operator's way to do the same.
 *
 *   shimctl_image_tool build SERVICE IMPL PROGRAM TAG [-v]
 *   shimctl_image_tool layers IMAGE
 */
#include <stdio.h>
#include <string.h>

#include "image.h"

int main(int argc, char **argv) {
  char err[2048];
  if (argc >= 6 && strcmp(argv[1], "build") == 0) {
    bool verbose = argc > 6 && strcmp(argv[6], "-v") == 0;
    if (shimctl_image_build(argv[2], argv[3], argv[4], argv[5], verbose, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl_image_tool: %s\n", err);
      return 1;
    }
    char ref[512];
    shimctl_image_ref(argv[2], argv[3], argv[5], ref, sizeof ref);
    if (shimctl_image_layers(ref, stdout, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl_image_tool: %s\n", err);
      return 1;
    }
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "layers") == 0) {
    if (shimctl_image_layers(argv[2], stdout, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl_image_tool: %s\n", err);
      return 1;
    }
    return 0;
  }
  fprintf(stderr, "usage: shimctl_image_tool build SERVICE IMPL PROGRAM TAG [-v] | layers IMAGE\n");
  return 2;
}
