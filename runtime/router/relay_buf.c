/*
 * relay_buf.c - the relay's byte buffers and header lists
 * (relay_internal.h): plain growable arrays, no locking; and grpc-timeout
 * values read and written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_internal.h"

#define RELAY_HEADERS_MAX_BYTES (64 * 1024) /* a header list past this is refused (nghttp2's own bound is lower) */
/* First sizes, small enough for malloc's per-thread cache (a gRPC call's
 * headers and a small message fit): larger first blocks went through
 * malloc's slow path, a measurable part of the relay's time per call. */
#define RELAY_HEADERS_FIRST_TEXT 512
#define RELAY_BUF_FIRST_CAP 512

int relay_buf_append(relay_buf *b, const uint8_t *p, size_t n) {
  if (n == 0) {
    return 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap > 0 ? b->cap : RELAY_BUF_FIRST_CAP;
    while (cap < b->len + n) {
      cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL) {
      return -1;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

size_t relay_buf_take(relay_buf *b, uint8_t *out, size_t max, bool keep) {
  size_t n = b->len - b->off;
  if (n > max) {
    n = max;
  }
  if (n > 0) {
    memcpy(out, b->data + b->off, n);
    b->off += n;
  }
  if (!keep) {
    relay_buf_drop_taken(b);
  }
  return n;
}

void relay_buf_drop_taken(relay_buf *b) {
  if (b->off == 0) {
    return;
  }
  /* All of it when nothing is left (the usual case), else by moving the
   * rest down once it is the smaller part. */
  if (b->off == b->len) {
    b->base += b->len;
    b->len = b->off = 0;
  } else if (b->off >= b->len - b->off) {
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->base += b->off;
    b->len -= b->off;
    b->off = 0;
  }
}

void relay_buf_release_empty(relay_buf *b) {
  if (b->len == 0) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

size_t relay_buf_pending(const relay_buf *b) {
  return b->len - b->off;
}

size_t relay_buf_position(const relay_buf *b) {
  return b->base + b->off;
}

void relay_buf_free(relay_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

/* Makes room for need more bytes of text: a bigger block, with every name
 * and value pointer moved into it. 0, or -1 when out of memory. */
static int headers_reserve(relay_headers *h, size_t need) {
  if (h->text_len + need <= h->text_cap) {
    return 0;
  }
  size_t cap = h->text_cap > 0 ? h->text_cap * 2 : RELAY_HEADERS_FIRST_TEXT;
  while (cap < h->text_len + need) {
    cap *= 2;
  }
  uint8_t *text = malloc(cap);
  if (text == NULL) {
    return -1;
  }
  if (h->text_len > 0) {
    memcpy(text, h->text, h->text_len);
  }
  for (size_t i = 0; i < h->n; i++) {
    h->nv[i].name = text + (h->nv[i].name - h->text);
    h->nv[i].value = text + (h->nv[i].value - h->text);
  }
  free(h->text);
  h->text = text;
  h->text_cap = cap;
  return 0;
}

int relay_headers_add(relay_headers *h, const uint8_t *name, size_t name_len, const uint8_t *value,
                      size_t value_len) {
  if (h->bytes + name_len + value_len > RELAY_HEADERS_MAX_BYTES) {
    return -1;
  }
  if (h->n == h->cap) {
    size_t cap = h->cap > 0 ? h->cap * 2 : 16;
    nghttp2_nv *nv = realloc(h->nv, cap * sizeof *nv);
    if (nv == NULL) {
      return -1;
    }
    h->nv = nv;
    h->cap = cap;
  }
  if (headers_reserve(h, name_len + value_len + 2) != 0) {
    return -1;
  }
  uint8_t *copy = h->text + h->text_len;
  memcpy(copy, name, name_len);
  copy[name_len] = '\0';
  memcpy(copy + name_len + 1, value, value_len);
  copy[name_len + 1 + value_len] = '\0';
  h->text_len += name_len + value_len + 2;
  h->nv[h->n++] = (nghttp2_nv){.name = copy,
                               .value = copy + name_len + 1,
                               .namelen = name_len,
                               .valuelen = value_len,
                               .flags = NGHTTP2_NV_FLAG_NONE};
  h->bytes += name_len + value_len;
  return 0;
}

const char *relay_headers_get(const relay_headers *h, const char *name, size_t *len) {
  size_t name_len = strlen(name);
  for (size_t i = 0; i < h->n; i++) {
    if (h->nv[i].namelen == name_len && memcmp(h->nv[i].name, name, name_len) == 0) {
      if (len != NULL) {
        *len = h->nv[i].valuelen;
      }
      return (const char *)h->nv[i].value;
    }
  }
  return NULL;
}

void relay_headers_free(relay_headers *h) {
  free(h->text);
  free(h->nv);
  memset(h, 0, sizeof *h);
}

/* ---- grpc-timeout -------------------------------------------------------------------- */

/* gRPC's units (the HTTP/2 spec's TimeoutUnit), coarsest first, in nanoseconds. */
static const char timeout_units[] = "HMSmun";
#define NS_PER_S INT64_C(1000000000)
static const int64_t timeout_unit_ns[] = {3600 * NS_PER_S,  60 * NS_PER_S,      NS_PER_S,
                                          NS_PER_S / 1000, NS_PER_S / 1000000, 1};

int64_t relay_timeout_parse(const char *v, size_t len) {
  if (v == NULL || len < 2 || len > 9) {
    return -1;
  }
  int64_t amount = 0;
  for (size_t i = 0; i + 1 < len; i++) {
    if (v[i] < '0' || v[i] > '9') {
      return -1;
    }
    amount = amount * 10 + (v[i] - '0');
  }
  const char *u = v[len - 1] != '\0' ? strchr(timeout_units, v[len - 1]) : NULL;
  if (u == NULL) {
    return -1;
  }
  int64_t unit = timeout_unit_ns[u - timeout_units];
  return amount > INT64_MAX / unit ? INT64_MAX : amount * unit;
}

size_t relay_timeout_format(int64_t ns, char *out, size_t cap) {
  if (ns < 1) {
    ns = 1;
  }
  /* The finest unit whose count fits in 8 digits, counted down (never more time than ns). INT64_MAX ns is
   * 2562047H: hours always fit. */
  int i = (int)(sizeof timeout_unit_ns / sizeof timeout_unit_ns[0]) - 1;
  while (i > 0 && ns / timeout_unit_ns[i] > RELAY_TIMEOUT_MAX_AMOUNT) {
    i--;
  }
  int k = snprintf(out, cap, "%lld%c", (long long)(ns / timeout_unit_ns[i]), timeout_units[i]);
  return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}
