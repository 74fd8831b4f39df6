/*
 * main.c - protoc-gen-shimkit: protoc runs it with a CodeGeneratorRequest on
 * stdin and reads a CodeGeneratorResponse from stdout.
 *
 * Only I/O lives here (plugin.c does the work). stdin is read up to a hard
 * limit; input that is not a request at all exits 1 with a message on
 * stderr, problems in a well-formed request go back to protoc in
 * CodeGeneratorResponse.error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static int read_all(FILE *in, uint8_t **data, size_t *len) {
  size_t cap = 64 * 1024, n = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) return -1;
  for (;;) {
    if (n == cap) {
      if (cap > SK_MAX_INPUT_BYTES) break; /* over the limit: sk_run refuses it */
      cap = cap * 2 > SK_MAX_INPUT_BYTES + 1 ? SK_MAX_INPUT_BYTES + 1 : cap * 2;
      uint8_t *nb = realloc(buf, cap);
      if (nb == NULL) {
        free(buf);
        return -1;
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, in);
    n += got;
    if (got == 0) {
      if (ferror(in)) {
        free(buf);
        return -1;
      }
      break;
    }
  }
  *data = buf;
  *len = n;
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    printf("protoc-gen-shimkit %s (shimkit ABI %d)\n", SK_GENERATOR_VERSION, SK_ABI_VERSION);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "protoc-gen-shimkit: run me through protoc: "
                    "protoc --plugin=protoc-gen-shimkit=PATH --shimkit_out=DIR file.proto\n");
    return 2;
  }
  uint8_t *in = NULL;
  size_t in_len = 0;
  if (read_all(stdin, &in, &in_len) != 0) {
    fprintf(stderr, "protoc-gen-shimkit: cannot read stdin: %s\n", strerror(errno));
    return 1;
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  char err[512];
  int rc = sk_run(in, in_len, &out, &out_len, err, sizeof err);
  free(in);
  if (rc != 0) {
    fprintf(stderr, "protoc-gen-shimkit: %s\n", err);
    return 1;
  }
  size_t wrote = fwrite(out, 1, out_len, stdout);
  free(out);
  if (wrote != out_len || fflush(stdout) != 0) {
    fprintf(stderr, "protoc-gen-shimkit: cannot write stdout\n");
    return 1;
  }
  return 0;
}
