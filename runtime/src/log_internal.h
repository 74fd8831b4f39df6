/*
 * log_internal.h - the pieces of log.c the rest of the runtime shares.
 *
 * The access log writes pre-formatted JSON lines through the same lock as
 * shimkit_log() so lines from different threads never interleave.
 */
#ifndef SHIMKIT_LOG_INTERNAL_H
#define SHIMKIT_LOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "shimkit/log.h"

/* Longest line either writer emits; longer lines are cut and end in "...". */
#define SHIMKIT__LOG_LINE_MAX 4096

/* Room for "2026-11-25T15:09:31.123Z" and its NUL. */
#define SHIMKIT__TIMESTAMP_LEN 32

/* True when a line of this level would be written. */
bool shimkit__log_enabled(shimkit_log_level level);

/* Writes the current UTC time, millisecond precision, RFC 3339, into buf. */
void shimkit__log_timestamp(char buf[SHIMKIT__TIMESTAMP_LEN]);

/* Writes len bytes plus a newline to stderr as one line, under the log lock. */
void shimkit__log_write_line(const char *line, size_t len);

#endif /* SHIMKIT_LOG_INTERNAL_H */
