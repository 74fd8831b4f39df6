/*
 * printer.c - a small $var$ template printer, as protoc's io::Printer.
 *
 * Generators write whole templates with named holes instead of gluing
 * fragments, so the shape of the output stays readable in the source. Text
 * grows in the run's arena; an unknown variable is a generator bug and fails
 * the run instead of emitting broken C.
 */
#include <string.h>

#include "codegen.h"

void sk_vars_set(sk_ctx *ctx, sk_vars *vars, const char *key, const char *value) {
  for (size_t i = 0; i < vars->n; i++) {
    if (strcmp(vars->key[i], key) == 0) {
      vars->value[i] = value;
      return;
    }
  }
  if (vars->n == SK_MAX_VARS) sk_fail(ctx, "internal error: too many template variables");
  vars->key[vars->n] = key;
  vars->value[vars->n] = value;
  vars->n++;
}

void sk_printer_init(sk_printer *p, sk_ctx *ctx) {
  p->ctx = ctx;
  p->cap = 4096;
  p->buf = sk_alloc(ctx, p->cap);
  p->len = 0;
}

void sk_write(sk_printer *p, const char *text, size_t len) {
  if (len >= p->cap - p->len) {
    size_t cap = p->cap;
    while (len >= cap - p->len) {
      if (cap > SK_MAX_ARENA_BYTES / 2) sk_fail(p->ctx, "generated file too large");
      cap *= 2;
    }
    char *nb = sk_alloc(p->ctx, cap);
    memcpy(nb, p->buf, p->len);
    p->buf = nb;
    p->cap = cap;
  }
  memcpy(p->buf + p->len, text, len);
  p->len += len;
  p->buf[p->len] = '\0';
}

static const char *lookup(sk_printer *p, const sk_vars *vars, const char *key, size_t len) {
  if (vars != NULL) {
    for (size_t i = 0; i < vars->n; i++) {
      if (strlen(vars->key[i]) == len && memcmp(vars->key[i], key, len) == 0) return vars->value[i];
    }
  }
  sk_fail(p->ctx, "internal error: template variable $%.*s$ not set", (int)len, key);
}

void sk_print(sk_printer *p, const sk_vars *vars, const char *tmpl) {
  const char *s = tmpl;
  while (*s != '\0') {
    const char *dollar = strchr(s, '$');
    if (dollar == NULL) {
      sk_write(p, s, strlen(s));
      return;
    }
    sk_write(p, s, (size_t)(dollar - s));
    const char *end = strchr(dollar + 1, '$');
    if (end == NULL) sk_fail(p->ctx, "internal error: unterminated $ in template");
    if (end == dollar + 1) {
      sk_write(p, "$", 1);
    } else {
      const char *v = lookup(p, vars, dollar + 1, (size_t)(end - dollar - 1));
      sk_write(p, v, strlen(v));
    }
    s = end + 1;
  }
}
