/*
 * requests.c - slots: the requests that wait on the shared queue for calls.
 *
 * At start every method of every service is registered with gRPC
 * (grpc_server_register_method), plus a catch-all for unknown methods
 * (grpc_server_request_call). Each gets REQUESTS_PER_METHOD requests posted
 * on the shared completion queue, each in a slot that then holds the call it
 * receives; when a request matches, the worker that takes the event posts a
 * fresh one for the same method before running the call. Unary and
 * server-streaming methods ask gRPC for the request message too, so a unary
 * call needs no RECV_MESSAGE batch (grpc-core note 2). Stream methods bind
 * the call to the slot's own queue, reused by the slot's later calls.
 *
 * srv->slots_out counts slots that are posted or hold a call. After
 * grpc_server_shutdown_and_notify every pending request fails, so the count
 * falls to zero once the last call ended; only then may the shared queue be
 * shut down (grpc-core note 4). Requests are posted under srv->lock while
 * srv->accepting, so none is posted after the drain began.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "server_core.h"
#include "shimkit/log.h"

#define REQUESTS_PER_METHOD 4 /* requests waiting per unary method */
#define REQUESTS_PER_STREAM 1 /* and per stream method (a stream holds a worker anyway) */
#define REQUESTS_FORWARDED 16 /* for unknown methods when they are forwarded (no worker held) */
/* Arena limit per call: the decoded request can be much larger than its bytes. */
#define ARENA_BASE_LIMIT ((size_t)64 * 1024 * 1024)

bool shimkit__requests_register(shimkit_server *srv) {
  size_t n = 1;
  for (size_t i = 0; i < srv->n_services; i++) {
    n += srv->services[i].desc->n_methods;
  }
  srv->methods = calloc(n, sizeof *srv->methods);
  if (srv->methods == NULL) {
    return false;
  }
  size_t k = 0;
  for (size_t i = 0; i < srv->n_services; i++) {
    const shimkit__service_entry *e = &srv->services[i];
    for (size_t j = 0; j < e->desc->n_methods; j++) {
      const shimkit_method_desc *d = &e->desc->methods[j];
      bool one_request = d->kind == SHIMKIT_METHOD_UNARY || d->kind == SHIMKIT_METHOD_SERVER_STREAMING;
      shimkit__method *m = &srv->methods[k++];
      m->service = e;
      m->desc = d;
      m->sync = d->kind != SHIMKIT_METHOD_UNARY;
      m->handle = grpc_server_register_method(
          srv->core, d->path, NULL,
          one_request ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE, 0);
      if (m->handle == NULL) {
        shimkit_log(SHIMKIT_LOG_ERROR, "server", "gRPC refused to register %s", d->path);
        return false;
      }
    }
  }
  srv->n_methods = k + 1; /* the last entry, all zero: unknown methods */
  /* With a raw handler, unknown methods are forwarded: a stream of bytes, on its own queue. */
  srv->methods[k].sync = srv->raw_fn != NULL && !srv->has_forwarder;
  return true;
}

/* A slot from the free list or a new one; NULL when out of memory. Under srv->lock. */
static shimkit__slot *slot_get(shimkit_server *srv) {
  shimkit__slot *s = srv->free_slots;
  if (s != NULL) {
    srv->free_slots = s->next;
    return s;
  }
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    return NULL;
  }
  shimkit__arena_init(&s->arena, ARENA_BASE_LIMIT + (size_t)srv->opts.max_receive_bytes * 32);
  for (int i = 0; i < SHIMKIT__TAG_KINDS; i++) {
    s->tags[i].slot = s;
    s->tags[i].kind = (shimkit__tag_kind)i;
  }
  s->all_next = srv->all_slots;
  srv->all_slots = s;
  return s;
}

void shimkit__requests_post(shimkit_server *srv, const shimkit__method *m) {
  pthread_mutex_lock(&srv->lock);
  if (!srv->accepting) {
    pthread_mutex_unlock(&srv->lock);
    return;
  }
  shimkit__slot *s = slot_get(srv);
  if (s == NULL) {
    pthread_mutex_unlock(&srv->lock);
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "out of memory: one request fewer waits for calls");
    return;
  }
  s->method = m;
  s->core = NULL;
  s->payload = NULL;
  atomic_store(&s->fwd, NULL);
  s->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
  grpc_metadata_array_init(&s->md);
  grpc_call_details_init(&s->details);
  grpc_completion_queue *bound = srv->cq;
  if (m->sync) {
    if (s->own_cq == NULL) {
      s->own_cq = grpc_completion_queue_create_for_pluck(NULL);
    }
    bound = s->own_cq;
  }
  grpc_call_error err = GRPC_CALL_ERROR;
  if (bound != NULL) {
    void *tag = &s->tags[SHIMKIT__TAG_KIND_REQUEST];
    if (m->handle == NULL) {
      err = grpc_server_request_call(srv->core, &s->core, &s->details, &s->md, bound, srv->cq, tag);
    } else {
      bool one_request =
          m->desc->kind == SHIMKIT_METHOD_UNARY || m->desc->kind == SHIMKIT_METHOD_SERVER_STREAMING;
      err = grpc_server_request_registered_call(srv->core, m->handle, &s->core, &s->deadline, &s->md,
                                                one_request ? &s->payload : NULL, bound, srv->cq, tag);
    }
  }
  if (err == GRPC_CALL_OK) {
    srv->slots_out++;
  } else {
    grpc_metadata_array_destroy(&s->md);
    grpc_call_details_destroy(&s->details);
    s->next = srv->free_slots;
    srv->free_slots = s;
  }
  pthread_mutex_unlock(&srv->lock);
  if (err != GRPC_CALL_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "gRPC refused a request for %s (%d)",
                m->desc != NULL ? m->desc->path : "unknown methods", (int)err);
  }
}

bool shimkit__requests_post_all(shimkit_server *srv) {
  for (size_t i = 0; i < srv->n_methods; i++) {
    const shimkit__method *m = &srv->methods[i];
    int n = m->desc == NULL || m->sync ? REQUESTS_PER_STREAM : REQUESTS_PER_METHOD;
    if (m->desc == NULL && srv->has_forwarder) {
      n = REQUESTS_FORWARDED; /* every call through a proxy is one of these */
    }
    for (int k = 0; k < n; k++) {
      shimkit__requests_post(srv, m);
    }
  }
  pthread_mutex_lock(&srv->lock);
  bool ok = srv->slots_out > 0;
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

void shimkit__slot_release(shimkit_server *srv, shimkit__slot *s) {
  grpc_metadata_array_destroy(&s->md);
  grpc_call_details_destroy(&s->details);
  if (s->payload != NULL) {
    grpc_byte_buffer_destroy(s->payload);
    s->payload = NULL;
  }
  s->core = NULL;
  shimkit__arena_reset(&s->arena);
  pthread_mutex_lock(&srv->lock);
  s->next = srv->free_slots;
  srv->free_slots = s;
  srv->slots_out--;
  if (srv->state != SHIMKIT__SERVER_RUNNING) {
    pthread_cond_broadcast(&srv->cond); /* the drain waits for 0 (not per call: server.c) */
  }
  pthread_mutex_unlock(&srv->lock);
}

void shimkit__requests_free(shimkit_server *srv) {
  shimkit__slot *s = srv->all_slots;
  while (s != NULL) {
    shimkit__slot *next = s->all_next;
    if (s->own_cq != NULL) {
      /* Its last call ended long ago: nothing can start a batch on it. */
      grpc_completion_queue_shutdown(s->own_cq);
      for (;;) {
        grpc_event ev = grpc_completion_queue_pluck(s->own_cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
          break;
        }
      }
      grpc_completion_queue_destroy(s->own_cq);
    }
    shimkit__arena_destroy(&s->arena);
    free(s);
    s = next;
  }
  srv->all_slots = NULL;
  srv->free_slots = NULL;
  free(srv->methods);
  srv->methods = NULL;
  srv->n_methods = 0;
}
