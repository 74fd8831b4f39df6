/*
 * echo_handlers.h - the Echo service's handlers, kept apart from main() so
 * the same table can be served by the shim program and by tests.
 *
 * The "native interface" of the example is trivial (it echoes), which keeps
 * the example about the toolkit: typed handlers, streams, metadata, errors,
 * deadlines and cancellation.
 */
#ifndef SHIMKIT_ECHO_HANDLERS_H
#define SHIMKIT_ECHO_HANDLERS_H

#include "examples/echo.shimkit.h"

/** State shared by every call of one Echo implementation. */
typedef struct echo_state {
  const char *served_by; /* name reported in every reply (--name) */
} echo_state;

/** The handler table; register it with a pointer to an echo_state as user data. */
extern const Shimkit__Examples__V1__Echo_Handlers echo_handlers;

#endif /* SHIMKIT_ECHO_HANDLERS_H */
