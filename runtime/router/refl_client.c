/*
 * refl_client.c - one reflection conversation with a replica (refl_client.h).
 *
 * Requests are packed by protobuf-c and sent as raw bytes; responses are
 * unpacked as v1 (untrusted: protobuf-c checks them, the callers check every
 * pointer they use). A stream that fails before its first answer with
 * UNIMPLEMENTED is started again on the v1alpha path and the request resent.
 */
#define _POSIX_C_SOURCE 200809L
#include "refl_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <shimkit/raw.h>

#define PATH_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define PATH_V1ALPHA "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

struct router_refl_client {
  shimkit_channel *channel;
  shimkit_client_call *call; /* the stream, NULL before the first ask and after a failure */
  shimkit_status status;     /* its status, once finished */
  struct timespec deadline;  /* CLOCK_MONOTONIC */
  bool answered;             /* a response came: no v1alpha fallback from here on */
  bool alpha;                /* on the v1alpha path */
  bool failed;               /* the conversation is over */
};

static int64_t ms_left(const router_refl_client *c) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)(c->deadline.tv_sec - now.tv_sec) * 1000 + (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

router_refl_client *router_refl_open(shimkit_channel *channel, int64_t timeout_ms) {
  router_refl_client *c = calloc(1, sizeof *c);
  if (c == NULL) {
    return NULL;
  }
  c->channel = channel;
  clock_gettime(CLOCK_MONOTONIC, &c->deadline);
  c->deadline.tv_sec += (time_t)(timeout_ms / 1000);
  c->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (c->deadline.tv_nsec >= 1000000000L) {
    c->deadline.tv_sec++;
    c->deadline.tv_nsec -= 1000000000L;
  }
  return c;
}

/* Ends the stream in progress; its code. */
static shimkit_code end_call(router_refl_client *c) {
  if (c->call == NULL) {
    return SHIMKIT_OK;
  }
  shimkit_client_call_cancel(c->call);
  shimkit_code code = shimkit_client_call_finish(c->call);
  c->call = NULL;
  return code;
}

static bool start(router_refl_client *c) {
  int64_t left = ms_left(c);
  if (left < 1) {
    return false;
  }
  shimkit_status_clear(&c->status);
  shimkit_call_options opts = {0};
  opts.timeout_ms = left;
  opts.status_out = &c->status;
  c->call = shimkit_client_call_start_raw(c->channel, c->alpha ? PATH_V1ALPHA : PATH_V1, &opts);
  return c->call != NULL;
}

/* One exchange on the current stream: the response, or NULL with the stream ended (*code). */
static Grpc__Reflection__V1__ServerReflectionResponse *exchange(router_refl_client *c, const uint8_t *buf,
                                                                size_t len, shimkit_code *code) {
  *code = SHIMKIT_UNKNOWN;
  if (c->call == NULL && !start(c)) {
    *code = SHIMKIT_DEADLINE_EXCEEDED;
    return NULL;
  }
  uint8_t *data = NULL;
  size_t dlen = 0;
  if (shimkit_client_call_send_bytes(c->call, buf, len) != 0 ||
      shimkit_client_call_recv_bytes(c->call, &data, &dlen) != 1) {
    *code = end_call(c);
    return NULL;
  }
  Grpc__Reflection__V1__ServerReflectionResponse *resp =
      grpc__reflection__v1__server_reflection_response__unpack(NULL, dlen, data);
  free(data);
  if (resp == NULL) {
    end_call(c);
    *code = SHIMKIT_INTERNAL;
  }
  return resp;
}

Grpc__Reflection__V1__ServerReflectionResponse *
router_refl_ask(router_refl_client *c, const Grpc__Reflection__V1__ServerReflectionRequest *req, char *err,
                size_t errlen) {
  if (c == NULL || c->failed) {
    snprintf(err, errlen, "reflection stream already failed");
    return NULL;
  }
  size_t len = grpc__reflection__v1__server_reflection_request__get_packed_size(req);
  uint8_t *buf = malloc(len > 0 ? len : 1);
  if (buf == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  grpc__reflection__v1__server_reflection_request__pack(req, buf);
  shimkit_code code;
  Grpc__Reflection__V1__ServerReflectionResponse *resp = exchange(c, buf, len, &code);
  if (resp == NULL && !c->answered && !c->alpha && code == SHIMKIT_UNIMPLEMENTED) {
    c->alpha = true; /* no v1: try the v1alpha twin */
    resp = exchange(c, buf, len, &code);
  }
  free(buf);
  if (resp == NULL) {
    c->failed = true;
    snprintf(err, errlen, "reflection %s: %s%s%s", c->alpha ? "v1alpha" : "v1", shimkit_code_name(code),
             c->status.message != NULL ? ": " : "", c->status.message != NULL ? c->status.message : "");
    return NULL;
  }
  c->answered = true;
  return resp;
}

void router_refl_close(router_refl_client *c) {
  if (c == NULL) {
    return;
  }
  if (c->call != NULL) {
    shimkit_client_call_close_send(c->call);
    end_call(c);
  }
  shimkit_status_clear(&c->status);
  free(c);
}
