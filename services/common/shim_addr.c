/*
 * shim_addr.c - see shim_addr.h. Only the shape is checked here: whether a
 * host name resolves or a port is free is for the bind to say.
 */
#include "shim_addr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the reason (when why has room) and returns -1. */
static int fail(char *why, size_t cap, const char *fmt, ...) {
  if (why != NULL && cap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* 0 when port is decimal digits with a value from 0 to 65535. */
static int check_port(const char *port, char *why, size_t cap) {
  size_t n = strlen(port);
  if (n == 0) return fail(why, cap, "no port after the ':'");
  if (strspn(port, "0123456789") != n) return fail(why, cap, "the port '%s' is not a number", port);
  long v = 0;
  for (size_t i = 0; i < n && v <= 65535; i++)
    v = v * 10 + (port[i] - '0');
  if (v > 65535) return fail(why, cap, "the port %s is out of range (0..65535)", port);
  return 0;
}

int shim_addr_check(const char *addr, char *why, size_t cap) {
  if (why != NULL && cap > 0) why[0] = '\0';
  if (addr == NULL || addr[0] == '\0') return fail(why, cap, "it is empty");
  if (strncmp(addr, "unix:", 5) == 0) return addr[5] != '\0' ? 0 : fail(why, cap, "unix: needs a path");
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (close == NULL) return fail(why, cap, "no ']' after the IPv6 address");
    if (close == addr + 1) return fail(why, cap, "no IPv6 address between '[' and ']'");
    if (close[1] != ':') return fail(why, cap, "no ':PORT' after ']'");
    return check_port(close + 2, why, cap);
  }
  const char *colon = strrchr(addr, ':');
  if (colon == NULL) return fail(why, cap, "no ':PORT'");
  if (colon == addr) return fail(why, cap, "no host before ':PORT'");
  if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
    return fail(why, cap, "an IPv6 address goes in brackets: [ADDR]:PORT");
  return check_port(colon + 1, why, cap);
}
