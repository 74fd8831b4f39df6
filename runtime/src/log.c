/*
 * log.c - one line per event on stderr: "ts LEVEL component message".
 *
 * Lines are formatted into a bounded stack buffer first and written with one
 * fwrite under a mutex, so concurrent workers never interleave and a huge
 * message cannot make the logger allocate. The level comes from
 * $SHIMKIT_LOG_LEVEL the first time it is needed, unless the program set one.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log_internal.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;
/* -1 = not decided yet; otherwise a shimkit_log_level. */
static atomic_int log_level = -1;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

/* Reads $SHIMKIT_LOG_LEVEL unless shimkit_log_set_level() came first. */
static void level_from_env(void) {
  int level = SHIMKIT_LOG_INFO;
  const char *env = getenv("SHIMKIT_LOG_LEVEL");
  if (env != NULL && env[0] != '\0') {
    static const struct {
      const char *name;
      int level;
    } names[] = {{"debug", SHIMKIT_LOG_DEBUG},  {"info", SHIMKIT_LOG_INFO},   {"warn", SHIMKIT_LOG_WARN},
                 {"warning", SHIMKIT_LOG_WARN}, {"error", SHIMKIT_LOG_ERROR}, {"off", SHIMKIT_LOG_OFF},
                 {"none", SHIMKIT_LOG_OFF}};
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (strcasecmp(env, names[i].name) == 0) {
        level = names[i].level;
        found = 1;
        break;
      }
    }
    if (!found) {
      fprintf(stderr, "shimkit: ignoring SHIMKIT_LOG_LEVEL=%.32s (use debug, info, warn, error or off)\n",
              env);
    }
  }
  int expected = -1;
  atomic_compare_exchange_strong(&log_level, &expected, level);
}

static int current_level(void) {
  pthread_once(&level_once, level_from_env);
  return atomic_load(&log_level);
}

void shimkit_log_set_level(shimkit_log_level level) {
  if ((int)level < SHIMKIT_LOG_DEBUG || level > SHIMKIT_LOG_OFF) {
    level = SHIMKIT_LOG_INFO;
  }
  atomic_store(&log_level, (int)level);
  pthread_once(&level_once, level_from_env); /* later env reads must not override */
  atomic_store(&log_level, (int)level);
}

bool shimkit__log_enabled(shimkit_log_level level) {
  return level < SHIMKIT_LOG_OFF && (int)level >= current_level();
}

void shimkit__log_timestamp(char buf[SHIMKIT__TIMESTAMP_LEN]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, SHIMKIT__TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, SHIMKIT__TIMESTAMP_LEN - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
}

void shimkit__log_write_line(const char *line, size_t len) {
  pthread_mutex_lock(&log_lock);
  fwrite(line, 1, len, stderr);
  fputc('\n', stderr);
  fflush(stderr);
  pthread_mutex_unlock(&log_lock);
}

void shimkit_log(shimkit_log_level level, const char *component, const char *fmt, ...) {
  if (!shimkit__log_enabled(level)) {
    return;
  }
  char line[SHIMKIT__LOG_LINE_MAX];
  char ts[SHIMKIT__TIMESTAMP_LEN];
  shimkit__log_timestamp(ts);
  int n =
      snprintf(line, sizeof line, "%s %s %s ", ts, level_names[level], component != NULL ? component : "-");
  if (n < 0) {
    return;
  }
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  int m = 0;
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    va_end(ap);
  }
  if (m > 0) {
    if ((size_t)m >= sizeof line - len) {
      len = sizeof line - 1;
      memcpy(line + len - 3, "...", 3); /* say it was cut */
    } else {
      len += (size_t)m;
    }
  }
  /* A message is one line: newlines from callers would break log parsing. */
  for (size_t i = 0; i < len; i++) {
    if (line[i] == '\n' || line[i] == '\r') {
      line[i] = ' ';
    }
  }
  shimkit__log_write_line(line, len);
}
