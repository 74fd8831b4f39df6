/*
 * image_ldd.c - ldd output to a list of (soname, path) and the loader.
 *
 * ldd prints one object per line, indented by a tab:
 *     linux-vdso.so.1 (0x00007ffd...)                        the vDSO: skipped
 *     libgrpc.so.29 => /lib/x86_64-linux-gnu/libgrpc.so.29 (0x...)
 *     /lib64/ld-linux-x86-64.so.2 (0x...)                    the loader
 *     libfoo.so.1 => not found                               an error
 * Anything else (statically linked, "not a dynamic executable") is refused.
 */
#define _POSIX_C_SOURCE 200809L
#include "image_ldd.h"

#include <stdlib.h>
#include <string.h>

#include "runcmd.h"

/* Copies [s, s+n) into dst of size cap; -1 when it does not fit. */
static int copy_span(char *dst, size_t cap, const char *s, size_t n) {
  if (n == 0 || n >= cap) return -1;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 0;
}

/* Length of the token at s (up to a space, tab or end). */
static size_t token_len(const char *s, const char *end) {
  size_t n = 0;
  while (s + n < end && s[n] != ' ' && s[n] != '\t') n++;
  return n;
}

static const char *skip_blanks(const char *s, const char *end) {
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  return s;
}

/* Parses one line [s, end); lineno for messages. */
static int parse_line(const char *s, const char *end, int lineno, shimctl_ldd *out, char *err, size_t err_len) {
  s = skip_blanks(s, end);
  if (s == end) return 0;
  size_t n = token_len(s, end);
  const char *after = skip_blanks(s + n, end);
  if (after + 2 <= end && after[0] == '=' && after[1] == '>') {
    if (out->n >= SHIMCTL_LDD_MAX_LIBS) {
      snprintf(err, err_len, "ldd line %d: more than %d libraries", lineno, SHIMCTL_LDD_MAX_LIBS);
      return -1;
    }
    shimctl_ldd_lib *lib = &out->libs[out->n];
    if (copy_span(lib->soname, sizeof lib->soname, s, n) != 0 || memchr(s, '/', n)) {
      snprintf(err, err_len, "ldd line %d: bad library name", lineno);
      return -1;
    }
    const char *p = skip_blanks(after + 2, end);
    size_t pn = token_len(p, end);
    if (pn == 3 && strncmp(p, "not", 3) == 0) {
      snprintf(err, err_len, "library %s not found (ldd): install it or fix the program's run path", lib->soname);
      return -1;
    }
    if (pn == 0 || p[0] != '/' || copy_span(lib->path, sizeof lib->path, p, pn) != 0) {
      snprintf(err, err_len, "ldd line %d: library %s without an absolute path", lineno, lib->soname);
      return -1;
    }
    out->n++;
    return 0;
  }
  if (s[0] == '/') {
    if (copy_span(out->loader, sizeof out->loader, s, n) != 0) {
      snprintf(err, err_len, "ldd line %d: loader path too long", lineno);
      return -1;
    }
    return 0;
  }
  if (after < end && after[0] == '(' && !memchr(s, '/', n)) return 0; /* vDSO: in the kernel, not a file */
  if ((size_t)(end - s) >= 17 && strncmp(s, "statically linked", 17) == 0) {
    snprintf(err, err_len, "the program is statically linked: nothing for ldd to list");
    return -1;
  }
  int shown = (int)(end - s > 80 ? 80 : end - s);
  snprintf(err, err_len, "ldd line %d not understood: %.*s", lineno, shown, s);
  return -1;
}

int shimctl_ldd_parse(const char *text, shimctl_ldd *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  int lineno = 0;
  const char *s = text;
  while (*s) {
    const char *nl = strchr(s, '\n');
    const char *end = nl ? nl : s + strlen(s);
    lineno++;
    if (parse_line(s, end, lineno, out, err, err_len) != 0) return -1;
    s = nl ? nl + 1 : end;
  }
  if (out->n == 0 && out->loader[0] == '\0') {
    snprintf(err, err_len, "ldd listed no library: not a dynamic program");
    return -1;
  }
  return 0;
}

int shimctl_ldd_run(const char *path, shimctl_ldd *out, char *err, size_t err_len) {
  const char *argv[] = {"ldd", path, NULL};
  char *text = NULL;
  int rc = shimctl_runcmd_capture(argv, 1, &text, err, err_len);
  if (rc != 0) {
    if (rc > 0) {
      size_t n = text ? strcspn(text, "\n") : 0;
      snprintf(err, err_len, "ldd %s failed (exit %d)%s%.*s", path, rc, n ? ": " : "", (int)(n > 200 ? 200 : n),
               text ? text : "");
    }
    free(text);
    return -1;
  }
  char why[512];
  int prc = shimctl_ldd_parse(text, out, why, sizeof why);
  free(text);
  if (prc != 0) {
    snprintf(err, err_len, "%s: %s", path, why);
    return -1;
  }
  return 0;
}

int shimctl_ldd_find(const shimctl_ldd *l, const char *soname_prefix) {
  size_t n = strlen(soname_prefix);
  for (size_t i = 0; i < l->n; i++)
    if (strncmp(l->libs[i].soname, soname_prefix, n) == 0) return (int)i;
  return -1;
}
