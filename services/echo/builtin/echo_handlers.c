/*
 * echo_handlers.c - the Echo service: one handler per RPC kind.
 *
 * Each handler shows one thing a shim does: fill a typed reply (Say), stream
 * replies while watching for cancellation (Expand), read a client stream to
 * its end (Collect), read and write at once (Chat). Requests can ask for a
 * delay or an error status so that tests can drive deadlines and error paths.
 */
#define _POSIX_C_SOURCE 200809L

#include "echo_handlers.h"

#include <string.h>
#include <time.h>

#define ECHO_SLEEP_SLICE_MS 10u
#define ECHO_MAX_COUNT 100000u
#define ECHO_MAX_INTERVAL_MS 60000u
#define ECHO_METADATA_PREFIX "x-echo-"

/* ---- helpers -------------------------------------------------------------- */

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Sleeps ms in slices; false when the call was cancelled meanwhile. */
static int wait_unless_cancelled(shimkit_call *call, unsigned ms) {
  while (ms > 0) {
    if (shimkit_call_is_cancelled(call)) return 0;
    unsigned slice = ms < ECHO_SLEEP_SLICE_MS ? ms : ECHO_SLEEP_SLICE_MS;
    sleep_ms(slice);
    ms -= slice;
  }
  return !shimkit_call_is_cancelled(call);
}

/* The status a request asked for, or OK. */
static shimkit_code requested_failure(shimkit_call *call, const Shimkit__Examples__V1__EchoRequest *req) {
  if (req->fail_code == 0) return SHIMKIT_OK;
  if (req->fail_code > SHIMKIT_UNAUTHENTICATED)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "fail_code %u is not a gRPC status code (0..16)", req->fail_code);
  const char *msg =
      req->fail_message && req->fail_message[0] ? req->fail_message : "failure requested by the client";
  return shimkit_call_error(call, (shimkit_code)req->fail_code, "%s", msg);
}

/* Echoes request metadata "x-echo-*" as headers, and as trailers named "<key>-trailer". */
static void echo_metadata(shimkit_call *call) {
  size_t n = shimkit_call_metadata_count(call);
  for (size_t i = 0; i < n; i++) {
    const char *key, *value;
    size_t len;
    if (shimkit_call_metadata_at(call, i, &key, &value, &len) != 0) continue;
    if (strncmp(key, ECHO_METADATA_PREFIX, strlen(ECHO_METADATA_PREFIX)) != 0) continue;
    shimkit_call_add_initial_metadata(call, key, value, len);
    size_t klen = strlen(key);
    int is_bin = klen > 4 && strcmp(key + klen - 4, "-bin") == 0;
    char *tkey = shimkit_call_alloc(call, klen + sizeof "-trailer");
    if (!tkey) continue;
    size_t stem = is_bin ? klen - 4 : klen;
    memcpy(tkey, key, stem);
    strcpy(tkey + stem, "-trailer");
    if (is_bin) strcat(tkey, "-bin");
    shimkit_call_add_trailing_metadata(call, tkey, value, len);
  }
}

/* Fills a reply that points at message and at the caller's timestamp storage. */
static void fill_reply(const echo_state *state, Shimkit__Examples__V1__EchoReply *reply,
                       Google__Protobuf__Timestamp *ts, const char *message, uint32_t index) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  google__protobuf__timestamp__init(ts);
  ts->seconds = (int64_t)now.tv_sec;
  ts->nanos = (int32_t)now.tv_nsec;
  reply->handled_at = ts;
  reply->message = (char *)(message ? message : "");
  reply->index = index;
  reply->served_by = (char *)(state && state->served_by ? state->served_by : "echo");
}

/* ---- handlers -------------------------------------------------------------- */

static shimkit_code echo_say(shimkit_call *call, const Shimkit__Examples__V1__EchoRequest *req,
                             Shimkit__Examples__V1__EchoReply *reply, void *user_data) {
  echo_metadata(call);
  if (req->delay_ms && !wait_unless_cancelled(call, req->delay_ms))
    return shimkit_call_error(call, SHIMKIT_CANCELLED, "cancelled during a %u ms delay", req->delay_ms);
  shimkit_code failure = requested_failure(call, req);
  if (failure != SHIMKIT_OK) return failure;
  Google__Protobuf__Timestamp *ts = shimkit_call_alloc(call, sizeof *ts);
  if (!ts) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  fill_reply(user_data, reply, ts, req->message, 0);
  return SHIMKIT_OK;
}

static shimkit_code echo_expand(shimkit_call *call, const Shimkit__Examples__V1__ExpandRequest *req,
                                void *user_data) {
  if (req->count > ECHO_MAX_COUNT)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "count %u is above the limit of %u", req->count,
                              ECHO_MAX_COUNT);
  if (req->interval_ms > ECHO_MAX_INTERVAL_MS)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "interval_ms %u is above the limit of %u",
                              req->interval_ms, ECHO_MAX_INTERVAL_MS);
  echo_metadata(call);
  for (uint32_t i = 0; i < req->count; i++) {
    if (i > 0 && req->interval_ms && !wait_unless_cancelled(call, req->interval_ms))
      return shimkit_call_error(call, SHIMKIT_CANCELLED, "cancelled after %u of %u replies", i, req->count);
    Shimkit__Examples__V1__EchoReply reply = SHIMKIT__EXAMPLES__V1__ECHO_REPLY__INIT;
    Google__Protobuf__Timestamp ts;
    fill_reply(user_data, &reply, &ts, req->message, i);
    if (shimkit__examples__v1__echo__shimkit_expand_write(call, &reply) != 0)
      return shimkit_call_error(call, SHIMKIT_CANCELLED, "client went away after %u of %u replies", i,
                                req->count);
  }
  return SHIMKIT_OK;
}

static shimkit_code echo_collect(shimkit_call *call, Shimkit__Examples__V1__CollectReply *reply,
                                 void *user_data) {
  (void)user_data;
  echo_metadata(call);
  size_t used = 0, cap = 0;
  char *joined = NULL;
  uint32_t count = 0;
  Shimkit__Examples__V1__EchoRequest *req;
  int rc;
  while ((rc = shimkit__examples__v1__echo__shimkit_collect_read(call, &req)) == 1) {
    shimkit_code failure = requested_failure(call, req);
    if (failure != SHIMKIT_OK) return failure;
    size_t len = strlen(req->message ? req->message : "");
    size_t need = used + len + (count ? 1 : 0) + 1;
    if (need > cap) {
      size_t ncap = cap ? cap * 2 : 256;
      while (ncap < need)
        ncap *= 2;
      char *grown = shimkit_call_alloc(call, ncap);
      if (!grown)
        return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory joining messages");
      if (used) memcpy(grown, joined, used);
      joined = grown;
      cap = ncap;
    }
    if (count) joined[used++] = ' ';
    memcpy(joined + used, req->message ? req->message : "", len);
    used += len;
    joined[used] = '\0';
    count++;
  }
  if (rc < 0) return SHIMKIT_CANCELLED;
  reply->joined = joined ? joined : "";
  reply->count = count;
  return SHIMKIT_OK;
}

static shimkit_code echo_chat(shimkit_call *call, void *user_data) {
  echo_metadata(call);
  Shimkit__Examples__V1__EchoRequest *req;
  uint32_t index = 0;
  int rc;
  while ((rc = shimkit__examples__v1__echo__shimkit_chat_read(call, &req)) == 1) {
    if (req->delay_ms && !wait_unless_cancelled(call, req->delay_ms))
      return shimkit_call_error(call, SHIMKIT_CANCELLED, "cancelled during a %u ms delay", req->delay_ms);
    shimkit_code failure = requested_failure(call, req);
    if (failure != SHIMKIT_OK) return failure;
    Shimkit__Examples__V1__EchoReply reply = SHIMKIT__EXAMPLES__V1__ECHO_REPLY__INIT;
    Google__Protobuf__Timestamp ts;
    /* The request lives until the next read; the reply is sent before that. */
    fill_reply(user_data, &reply, &ts, req->message, index++);
    if (shimkit__examples__v1__echo__shimkit_chat_write(call, &reply) != 0) return SHIMKIT_CANCELLED;
  }
  return rc < 0 ? SHIMKIT_CANCELLED : SHIMKIT_OK;
}

const Shimkit__Examples__V1__Echo_Handlers echo_handlers = {
    .say = echo_say,
    .expand = echo_expand,
    .collect = echo_collect,
    .chat = echo_chat,
};
