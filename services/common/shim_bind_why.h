/*
 * shim_bind_why.h - why a shim could not listen on its --listen address.
 *
 * gRPC core reports a failed bind only as UNAVAILABLE (the reason goes to
 * its own log, if at all), so a shim could only guess "is the port in use?".
 * This tries the same bind itself, once, after gRPC core gave up, and turns
 * the outcome into a sentence that says what to do.
 */
#ifndef SHIMKIT_SHIM_BIND_WHY_H
#define SHIMKIT_SHIM_BIND_WHY_H

#include <stddef.h>

/*
 * Writes into why (cap bytes, always NUL-terminated when cap > 0) why a
 * listener on addr (a --listen address that passed shim_addr_check) could
 * not bind: the host does not resolve, the port is in use, the host is not
 * an address of this machine, a port below 1024 without the right, a unix
 * socket's folder missing; or, when the bind works now, the old question.
 */
void shim_bind_why(const char *addr, char *why, size_t cap);

#endif /* SHIMKIT_SHIM_BIND_WHY_H */
