/*
 * copy.h - moving a stateful service's state during a swap, through the
 * service's own interface: its Export stream (from a replica of the old
 * set) fed, record by record, into Import (on a replica of the new set).
 */
#ifndef SHIMCTL_COPY_H
#define SHIMCTL_COPY_H

#include <stddef.h>

#include "catalog.h"

/* True when the kind has Export/Import (its state can move). */
int shimctl_copy_supported(const shimctl_kind *kind);

/* Copies from the replica at addr `from` to the one at `to`. 0 with the
 * number of records copied, or -1 with a reason in err. */
int shimctl_copy_state(const shimctl_kind *kind, const char *from, const char *to, int timeout_ms, long *records,
                       char *err, size_t err_len);

#endif /* SHIMCTL_COPY_H */
