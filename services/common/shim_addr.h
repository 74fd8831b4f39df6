/*
 * shim_addr.h - the check of a shim's --listen address, apart from
 * shim_cli.c so that it can be tested as a pure function.
 *
 * gRPC core takes almost any text as an address and reads a bad port its
 * own way (":99999" wraps, ":65536" and ":" pick some port), so a typo would
 * listen somewhere else without a word. Shims accept only the forms
 * docs/server.md lists, with a decimal port from 0 to 65535.
 */
#ifndef SHIMKIT_SHIM_ADDR_H
#define SHIMKIT_SHIM_ADDR_H

#include <stddef.h>

/* The forms accepted, for messages. */
#define SHIM_ADDR_FORMS "HOST:PORT, [IPv6]:PORT (PORT 0..65535, 0 = any free port) or unix:PATH"

/*
 * 0 when addr is HOST:PORT (HOST a name or an IPv4 address, no ':'),
 * [IPv6]:PORT or unix:PATH (PATH not empty), PORT decimal digits from 0 to
 * 65535. Otherwise -1 and a reason (without the address) in why (cap bytes,
 * always NUL-terminated when cap > 0). why may be NULL.
 */
int shim_addr_check(const char *addr, char *why, size_t cap);

#endif /* SHIMKIT_SHIM_ADDR_H */
