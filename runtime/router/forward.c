/*
 * forward.c - one forwarded call: the router's raw catch-all handler.
 *
 * First the call waits while its service is held (hold.c), then takes a
 * reference to the current snapshot of the sets for its whole life (so a
 * set removed meanwhile, and its replicas, stay valid until it ends),
 * chooses a set by weight and a replica by the set's policy.
 *
 * Two threads per call. The upstream thread reads the client's messages and
 * sends them to the backend call (then half-closes it, then waits for the
 * client to cancel); the handler's thread receives the backend's headers,
 * messages and status and writes them to the client. Request metadata,
 * deadline, response headers, trailers, status code, message and details
 * pass through unchanged (gRPC's own reserved keys excepted).
 *
 * Retries: until the backend answered anything (headers), every request
 * message sent is also kept (up to REPLAY_MAX bytes). A call that ends
 * UNAVAILABLE with no headers and no trailers, with gRPC's message for a
 * connect failure (retry_rule.h), never reached a handler: the handler's
 * thread then starts a new call on another replica of the set and replays
 * the kept messages, under the lock the upstream thread sends with, so
 * nothing is lost or reordered. A call whose connection broke under it (a
 * replica SIGKILLed while its handler ran) fails UNAVAILABLE: it may have
 * run, so it is not replayed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry_rule.h"
#include "router.h"

#define REPLAY_MAX (1024 * 1024) /* request bytes kept for a retry */
#define REPLAY_MSGS 64           /* request messages kept for a retry */

typedef struct fwd {
  shimkit_call *call;          /* the client's call */
  pthread_mutex_t lock;        /* guards everything below */
  shimkit_client_call *bc;     /* the backend call now */
  uint8_t *kept[REPLAY_MSGS];  /* request messages sent so far (while replayable) */
  size_t kept_len[REPLAY_MSGS];
  int n_kept;
  size_t kept_bytes;
  bool replayable;             /* every message sent is in kept */
  bool half_closed;            /* the client finished sending */
  bool client_gone;            /* reading the client failed before upstream started */
  atomic_bool done;            /* the backend call is over: upstream stops waiting */
} fwd;

static bool reserved_request_key(const char *key) {
  return strncmp(key, "grpc-", 5) == 0 || strcmp(key, "user-agent") == 0 || strcmp(key, "te") == 0 ||
         strcmp(key, "content-type") == 0 || key[0] == ':';
}

static void forget_kept(fwd *f) {
  for (int i = 0; i < f->n_kept; i++) {
    free(f->kept[i]);
  }
  f->n_kept = 0;
  f->kept_bytes = 0;
  f->replayable = false;
}

/* Upstream: client -> backend. */
static void *upstream_main(void *arg) {
  fwd *f = arg;
  while (!f->half_closed && !f->client_gone) {
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = shimkit_call_read_bytes(f->call, &data, &len);
    pthread_mutex_lock(&f->lock);
    if (rc == 1) {
      shimkit_client_call_send_bytes(f->bc, data, len); /* a failure shows in the status */
      if (f->replayable && f->n_kept < REPLAY_MSGS && f->kept_bytes + len <= REPLAY_MAX) {
        f->kept[f->n_kept] = data;
        f->kept_len[f->n_kept++] = len;
        f->kept_bytes += len;
        data = NULL;
      } else {
        forget_kept(f);
      }
    } else if (rc == 0) {
      f->half_closed = true;
      shimkit_client_call_close_send(f->bc);
    } else if (!atomic_load(&f->done)) {
      shimkit_client_call_cancel(f->bc); /* the client went away */
    }
    pthread_mutex_unlock(&f->lock);
    free(data);
    if (rc != 1) {
      break;
    }
  }
  /* The client may still cancel while the backend works. */
  while (!atomic_load(&f->done)) {
    if (shimkit_call_wait_cancelled(f->call, 100)) {
      pthread_mutex_lock(&f->lock);
      if (!atomic_load(&f->done)) {
        shimkit_client_call_cancel(f->bc);
      }
      pthread_mutex_unlock(&f->lock);
      break;
    }
  }
  return NULL;
}

static shimkit_client_call *start_backend(shimkit_call *call, router_backend *b, const shimkit_metadata *md,
                                          shimkit_metadata *trailers, shimkit_status *st) {
  shimkit_call_options opts = {0};
  opts.trailing_out = trailers;
  opts.status_out = st;
  int64_t left = shimkit_call_time_left_ms(call);
  opts.timeout_ms = left == INT64_MAX ? 0 : (left < 1 ? 1 : left);
  opts.metadata = md;
  return shimkit_client_call_start_raw(b->channel, shimkit_call_method(call), &opts);
}

/* Copies the client's request metadata, less what gRPC sets itself. */
static shimkit_metadata *request_metadata(shimkit_call *call) {
  shimkit_metadata *md = shimkit_metadata_new();
  for (size_t i = 0; md != NULL && i < shimkit_call_metadata_count(call); i++) {
    const char *key;
    const char *value;
    size_t len;
    if (shimkit_call_metadata_at(call, i, &key, &value, &len) == 0 && !reserved_request_key(key)) {
      shimkit_metadata_add(md, key, value, len);
    }
  }
  return md;
}

/* Moves the backend's outcome onto the client's call; returns the code. */
static shimkit_code pass_status(shimkit_call *call, shimkit_code code, const shimkit_status *st,
                                const shimkit_metadata *trailers) {
  for (size_t i = 0; i < shimkit_metadata_count(trailers); i++) {
    const char *key;
    const char *value;
    size_t len;
    if (shimkit_metadata_at(trailers, i, &key, &value, &len) == 0 && strncmp(key, "grpc-", 5) != 0) {
      shimkit_call_add_trailing_metadata(call, key, value, len);
    }
  }
  if (code != SHIMKIT_OK) {
    shimkit_call_error(call, code, "%s", st->message != NULL ? st->message : "");
    if (st->details != NULL) {
      shimkit_call_set_error_details(call, st->details, st->details_len);
    }
  }
  return code;
}

/* Sends the first request message (read before the pick, for a hash_field
 * set) and keeps it for a replay; or passes on that the client already
 * finished (rc 0) or went away (rc -1). */
static void send_first(fwd *f, int rc, uint8_t *data, size_t len) {
  if (rc == 1) {
    shimkit_client_call_send_bytes(f->bc, data, len);
    if (len <= REPLAY_MAX) {
      f->kept[f->n_kept] = data;
      f->kept_len[f->n_kept++] = len;
      f->kept_bytes = len;
    } else {
      free(data);
      forget_kept(f);
    }
  } else if (rc == 0) {
    f->half_closed = true;
    shimkit_client_call_close_send(f->bc);
  } else {
    f->client_gone = true;
    shimkit_client_call_cancel(f->bc);
  }
}

shimkit_code router_forward(shimkit_call *call, void *user_data) {
  router *r = user_data;
  struct timespec ts0;
  clock_gettime(CLOCK_MONOTONIC, &ts0);
  const char *method = shimkit_call_method(call);
  const char *service = method[0] == '/' ? method + 1 : method;
  const char *slash = strchr(service, '/');
  size_t service_len = slash != NULL ? (size_t)(slash - service) : strlen(service);
  router_hold_wait(r, call, service, service_len);

  router_config *cfg = router_config_get(r);
  router_set *set = router_choose_set(cfg, service, service_len);
  if (set == NULL) {
    router_config_unref(cfg);
    return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "router: no set serves %s", method);
  }
  /* The hash key: a metadata value, or a field of the first request message. */
  size_t key_len = 0;
  const char *key = NULL;
  char *field_key = NULL;
  uint8_t *first = NULL;
  size_t first_len = 0;
  int first_rc = 2; /* 2: not read here */
  if (set->spec.hash_key != NULL) {
    key = shimkit_call_metadata_get(call, set->spec.hash_key, &key_len);
  } else if (set->spec.hash_field != NULL) {
    first_rc = shimkit_call_read_bytes(call, &first, &first_len);
    if (first_rc == 1 && router_field_key(r, set, method, first, first_len, &field_key, &key_len) == 1) {
      key = field_key;
    }
  }
  router_backend *tried[ROUTER_MAX_ATTEMPTS];
  int n_tried = 0;
  router_backend *b = router_pick(set, tried, 0, key, key_len);
  if (b == NULL) {
    free(first);
    free(field_key);
    shimkit_code code = shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "router: no healthy backend for %s (set %s)",
                                           method, set->spec.name);
    router_config_unref(cfg);
    return code;
  }
  tried[n_tried++] = b;
  shimkit_metadata *md = request_metadata(call);
  shimkit_metadata *headers = shimkit_metadata_new();
  shimkit_metadata *trailers = shimkit_metadata_new();
  shimkit_status st = {0};
  fwd f;
  memset(&f, 0, sizeof f);
  f.call = call;
  f.replayable = true;
  pthread_mutex_init(&f.lock, NULL);
  atomic_init(&f.done, false);
  f.bc = start_backend(call, b, md, trailers, &st);
  if (f.bc != NULL && first_rc != 2) {
    send_first(&f, first_rc, first, first_len);
    first = NULL;
  }
  free(first);
  pthread_t up;
  bool up_started = f.bc != NULL && pthread_create(&up, NULL, upstream_main, &f) == 0;
  shimkit_code code = SHIMKIT_INTERNAL;
  if (!up_started) {
    router_release(b, SHIMKIT_INTERNAL);
    if (f.bc != NULL) {
      shimkit_client_call_cancel(f.bc); /* the backend may wait for messages that never come */
      shimkit_client_call_finish(f.bc);
    }
    code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: cannot start the forwarding");
    goto out;
  }

  for (;;) {
    /* Headers (or the end of a call that never answered). */
    shimkit_client_call_headers(f.bc, headers);
    bool answered = shimkit_metadata_count(headers) > 0;
    int rc = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (!answered) {
      rc = shimkit_client_call_recv_bytes(f.bc, &data, &len);
      answered = rc == 1;
    }
    if (answered) {
      pthread_mutex_lock(&f.lock);
      forget_kept(&f); /* the backend took the call: no retry from here on */
      pthread_mutex_unlock(&f.lock);
      for (size_t i = 0; i < shimkit_metadata_count(headers); i++) {
        const char *key;
        const char *value;
        size_t vlen;
        if (shimkit_metadata_at(headers, i, &key, &value, &vlen) == 0) {
          shimkit_call_add_initial_metadata(call, key, value, vlen); /* gRPC's own keys are refused */
        }
      }
      if (data == NULL) {
        rc = shimkit_client_call_recv_bytes(f.bc, &data, &len);
      }
      while (rc == 1) {
        int w = shimkit_call_write_bytes(call, data, len);
        free(data);
        data = NULL;
        if (w != 0) {
          shimkit_client_call_cancel(f.bc); /* the client is gone */
          break;
        }
        rc = shimkit_client_call_recv_bytes(f.bc, &data, &len);
      }
    }
    free(data);
    /* Under the lock: the upstream thread sends on f.bc with it held. */
    pthread_mutex_lock(&f.lock);
    code = shimkit_client_call_finish(f.bc);
    f.bc = NULL;
    router_release(b, code);
    bool retry = code == SHIMKIT_UNAVAILABLE && !answered && shimkit_metadata_count(trailers) == 0 &&
                 f.replayable && n_tried < ROUTER_MAX_ATTEMPTS && shimkit_call_time_left_ms(call) > 0 &&
                 router_connect_failure(st.message);
    router_backend *nb = retry ? router_pick(set, tried, n_tried, key, key_len) : NULL;
    if (nb != NULL) {
      atomic_fetch_add(&b->retried_away, 1);
      shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %s could not be reached (%s); retrying on %s",
                  method, b->address, st.message != NULL ? st.message : "", nb->address);
      b = nb;
      tried[n_tried++] = b;
      f.bc = start_backend(call, b, md, trailers, &st);
      for (int i = 0; f.bc != NULL && i < f.n_kept; i++) {
        shimkit_client_call_send_bytes(f.bc, f.kept[i], f.kept_len[i]);
      }
      if (f.bc != NULL && f.half_closed) {
        shimkit_client_call_close_send(f.bc);
      }
      if (f.bc == NULL) {
        router_release(b, SHIMKIT_RESOURCE_EXHAUSTED);
        code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: cannot start the retry");
      }
    }
    if (f.bc == NULL) {
      atomic_store(&f.done, true);
    }
    pthread_mutex_unlock(&f.lock);
    if (f.bc == NULL) {
      break;
    }
    shimkit_metadata_clear(headers);
  }
  code = pass_status(call, code, &st, trailers);
  shimkit_call_send_status(call, code); /* wakes the upstream thread if it still reads */
  pthread_join(up, NULL);
out:;
  struct timespec ts1;
  clock_gettime(CLOCK_MONOTONIC, &ts1);
  double ms = (double)(ts1.tv_sec - ts0.tv_sec) * 1e3 + (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e6;
  shimkit_log(SHIMKIT_LOG_INFO, "router", "forwarded %s from %s to %s (set %s): %s (%d attempt%s, %.1f ms)",
              method, shimkit_call_peer(call), b->address, set->spec.name, shimkit_code_name(code), n_tried,
              n_tried == 1 ? "" : "s", ms);
  pthread_mutex_lock(&f.lock);
  forget_kept(&f);
  pthread_mutex_unlock(&f.lock);
  pthread_mutex_destroy(&f.lock);
  shimkit_status_clear(&st);
  shimkit_metadata_free(md);
  shimkit_metadata_free(headers);
  shimkit_metadata_free(trailers);
  free(field_key);
  router_config_unref(cfg);
  return code;
}
