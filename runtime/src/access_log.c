/*
 * access_log.c - one JSON object per finished call on stderr.
 *
 * {"time":"...Z","peer":"ipv4:127.0.0.1:5123","method":"/pkg.Svc/M",
 *  "code":"NOT_FOUND","message":"...","duration_ms":1.234,"bytes_in":12,"bytes_out":0,
 *  "deadline_ms":5000}
 *
 * deadline_ms is the time the client gave the call when it arrived (its
 * deadline less the arrival time), there only when the call had a deadline.
 *
 * Peer, method and message may carry client-chosen bytes, so every string is
 * JSON-escaped and cut to a bound; the line goes out through the log lock in
 * one write so lines from different workers never interleave.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_internal.h"
#include "server_core.h"

/* Appends s as a JSON string (quotes included) of at most max source bytes. */
static size_t put_json_string(char *buf, size_t pos, size_t cap, const char *s, size_t max) {
  static const char hex[] = "0123456789abcdef";
  if (pos < cap) {
    buf[pos++] = '"';
  }
  for (size_t i = 0; s != NULL && s[i] != '\0' && i < max && pos + 8 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      buf[pos++] = '\\';
      buf[pos++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      /* Control bytes and non-ASCII: \u00XX keeps the line valid JSON whatever the input. */
      buf[pos++] = '\\';
      buf[pos++] = 'u';
      buf[pos++] = '0';
      buf[pos++] = '0';
      buf[pos++] = hex[c >> 4];
      buf[pos++] = hex[c & 15];
    } else {
      buf[pos++] = (char)c;
    }
  }
  if (pos < cap) {
    buf[pos++] = '"';
  }
  return pos;
}

static size_t put_raw(char *buf, size_t pos, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (n > cap - pos) {
    n = cap - pos;
  }
  memcpy(buf + pos, s, n);
  return pos + n;
}

/* Appends a printf-formatted piece, cut at the end of buf (size cap). */
static size_t put_fmt(char *buf, size_t pos, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put_fmt(char *buf, size_t pos, size_t cap, const char *fmt, ...) {
  if (pos + 1 >= cap) {
    return pos;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + pos, cap - pos, fmt, ap);
  va_end(ap);
  if (n < 0) {
    return pos;
  }
  return (size_t)n < cap - pos ? pos + (size_t)n : cap - 1;
}

void shimkit__access_log(const shimkit_call *c, shimkit_code code, const char *message) {
  char line[SHIMKIT__LOG_LINE_MAX];
  const size_t cap = sizeof line - 64; /* room for the numeric tail */
  char ts[SHIMKIT__TIMESTAMP_LEN];
  shimkit__log_timestamp(ts);
  size_t pos = 0;
  pos = put_raw(line, pos, cap, "{\"time\":\"");
  pos = put_raw(line, pos, cap, ts);
  pos = put_raw(line, pos, cap, "\",\"peer\":");
  pos = put_json_string(line, pos, cap, c->peer, 256);
  pos = put_raw(line, pos, cap, ",\"method\":");
  pos = put_json_string(line, pos, cap, c->method, 512);
  pos = put_raw(line, pos, cap, ",\"code\":\"");
  pos = put_raw(line, pos, cap, shimkit_code_name(code));
  pos = put_raw(line, pos, cap, "\",\"message\":");
  pos = put_json_string(line, pos, cap, message != NULL ? message : "", 1024);
  double ms = (double)(shimkit__now_ns() - c->start_ns) / 1e6;
  pos = put_fmt(line, pos, sizeof line, ",\"duration_ms\":%.3f,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64, ms,
                c->bytes_in, c->bytes_out);
  if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) != 0) {
    gpr_timespec left = gpr_time_sub(c->deadline, gpr_now(c->deadline.clock_type));
    pos = put_fmt(line, pos, sizeof line, ",\"deadline_ms\":%.0f", (double)gpr_time_to_millis(left) + ms);
  }
  pos = put_fmt(line, pos, sizeof line, "}");
  shimkit__log_write_line(line, pos);
}
