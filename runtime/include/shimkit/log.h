/*
 * shimkit/log.h - the runtime's log lines, and how to tune them.
 *
 * The runtime writes one line per event to stderr: "ts level component msg"
 * for events, a JSON object per call for the access log. Programs built on
 * shimkit use shimkit_log() so their lines look the same.
 */
#ifndef SHIMKIT_LOG_H
#define SHIMKIT_LOG_H

#include "shimkit/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum shimkit_log_level {
  SHIMKIT_LOG_DEBUG = 0,
  SHIMKIT_LOG_INFO = 1,
  SHIMKIT_LOG_WARN = 2,
  SHIMKIT_LOG_ERROR = 3,
  SHIMKIT_LOG_OFF = 4
} shimkit_log_level;

/** Lines below level are dropped. Default INFO, or $SHIMKIT_LOG_LEVEL (debug/info/warn/error/off). */
SHIMKIT_API void shimkit_log_set_level(shimkit_log_level level);

/** Writes one line: timestamp, level, component, formatted message. Thread-safe. */
SHIMKIT_API void shimkit_log(shimkit_log_level level, const char *component, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_LOG_H */
