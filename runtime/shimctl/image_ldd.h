/*
 * image_ldd.h - the shared-library closure of a program, read from the
 * output of ldd(1). The image builder copies exactly these files into an
 * image FROM scratch, so the parser is strict: a library ldd could not find
 * is an error, not a silently smaller image.
 */
#ifndef SHIMCTL_IMAGE_LDD_H
#define SHIMCTL_IMAGE_LDD_H

#include <stddef.h>

#define SHIMCTL_LDD_MAX_LIBS 256
#define SHIMCTL_LDD_PATH_MAX 1024

/* One library of the closure. */
typedef struct shimctl_ldd_lib {
  char soname[256];                /* name the loader looks for: "libgrpc.so.29" */
  char path[SHIMCTL_LDD_PATH_MAX]; /* where ldd found it (may be a symlink) */
} shimctl_ldd_lib;

/* A program's closure: its libraries and its dynamic loader. */
typedef struct shimctl_ldd {
  shimctl_ldd_lib libs[SHIMCTL_LDD_MAX_LIBS];
  size_t n;                          /* libraries in libs */
  char loader[SHIMCTL_LDD_PATH_MAX]; /* PT_INTERP as ldd prints it: "/lib64/ld-linux-x86-64.so.2"; "" if none */
} shimctl_ldd;

/*
 * Parses ldd's output text into out (zeroed first). Lines "name => /path
 * (0x..)" are libraries, a line "/path (0x..)" is the loader, the vDSO
 * (no path) is skipped. Returns 0, or -1 with a reason in err for a
 * library "not found", a statically linked or non-dynamic program, an
 * over-long name or path, more than SHIMCTL_LDD_MAX_LIBS libraries, or a
 * line it does not understand. The text is not modified.
 */
int shimctl_ldd_parse(const char *text, shimctl_ldd *out, char *err, size_t err_len);

/*
 * Runs ldd on path and parses its output (shimctl_ldd_parse). 0 or -1 with a
 * reason in err.
 */
int shimctl_ldd_run(const char *path, shimctl_ldd *out, char *err, size_t err_len);

/* Index of the library whose soname starts with prefix, or -1. */
int shimctl_ldd_find(const shimctl_ldd *l, const char *soname_prefix);

#endif /* SHIMCTL_IMAGE_LDD_H */
