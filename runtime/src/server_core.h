/*
 * server_core.h - the private structs of the server core, shared by its
 * files: server.c (life cycle), listener.c (ports and TLS), worker.c (the
 * threads that take calls), call.c (what a handler can do with a call),
 * access_log.c and signals.c.
 *
 * Threading (see docs/server.md): every method is registered with gRPC, and
 * a few requests per method wait on one shared completion queue (srv->cq),
 * each in a slot (requests.c). An elastic pool of workers (worker.c) polls
 * that queue: one worker polls at a time, the others are parked until a
 * handler holds the poller for long (a stream at once, a unary handler
 * after about 1 ms). Unary calls run on it as a small state machine (call_run.c):
 * the request arrives with its message, the handler runs on the worker that
 * took the event, and the final batch completes on the shared queue. Calls
 * with a stream are bound to their slot's own queue (a pluck queue) and run
 * synchronously on the worker that took them (call.c's batches pluck their
 * own tag from it, so a raw handler may read on one thread while it writes
 * on another: raw.c), so a
 * long stream holds one worker and never the shared queue. A shimkit_call
 * is touched by the thread running its handler only, except close_done of
 * a unary call (set by whichever worker takes the close event).
 */
#ifndef SHIMKIT_SERVER_CORE_H
#define SHIMKIT_SERVER_CORE_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "wire_check.h"
#include "shimkit/forward.h"
#include "shimkit/raw.h"
#include "shimkit/reflection.h"
#include "shimkit/server.h"

/* Hard limits. */
#define SHIMKIT__MAX_SERVICES 256        /* services one server may hold */
#define SHIMKIT__MAX_INTERCEPTORS 64     /* interceptors one server may hold */
#define SHIMKIT__MAX_WORKERS 1024        /* worker threads */
#define SHIMKIT__MAX_LISTENERS 64        /* listening addresses */
#define SHIMKIT__METHOD_PATH_MAX 1024    /* longest method path looked up */
#define SHIMKIT__PEER_MAX 255            /* longest peer a front names (shimkit_server_set_front_peer_key) */
#define SHIMKIT__STATUS_MESSAGE_MAX 1024 /* longest status message sent */
#define SHIMKIT__STATUS_DETAILS_MAX 4096 /* largest grpc-status-details-bin (fits 8 KiB headers) */
#define SHIMKIT__RESPONSE_MD_MAX 128     /* initial or trailing entries a handler may add */

typedef struct shimkit__slot shimkit__slot;
typedef struct shimkit__method shimkit__method;

/* A service bound to an implementation. */
typedef struct shimkit__service_entry {
  const shimkit_service_desc *desc; /* generated table (static data) */
  const void *handlers;             /* typed handler table, owned by the application */
  void *user_data;                  /* passed to every handler */
} shimkit__service_entry;

typedef struct shimkit__interceptor {
  shimkit_interceptor_fn fn; /* the interceptor */
  void *user_data;           /* its argument */
} shimkit__interceptor;

typedef enum shimkit__server_state {
  SHIMKIT__SERVER_NEW = 0,  /* listeners and services may be added */
  SHIMKIT__SERVER_RUNNING,  /* started, serving */
  SHIMKIT__SERVER_DRAINING, /* someone runs the drain */
  SHIMKIT__SERVER_STOPPED   /* drained; only free remains */
} shimkit__server_state;

struct shimkit_server {
  shimkit_server_options opts;    /* validated copy of the options */
  grpc_server *core;              /* the gRPC core server */
  grpc_completion_queue *ctrl_cq; /* receives the shutdown notification only */
  char shutdown_tag;              /* its address is the shutdown tag */

  shimkit__service_entry *services;   /* in the order added */
  size_t n_services;                  /* used entries of services */
  shimkit__interceptor *interceptors; /* first added = outermost */
  size_t n_interceptors;              /* used entries of interceptors */
  struct shimkit_health *health;      /* health store (health.c) */

  char *listeners[SHIMKIT__MAX_LISTENERS]; /* "addr (tls)" strings for the start log line */
  int n_listeners;                         /* used entries of listeners */
  char front_peer_key[64]; /* metadata key in which a front names the client (listener.c); "" = none */

  grpc_completion_queue *cq; /* shared queue: requests and unary calls (registered) */
  shimkit__method *methods;  /* every method of every service, registered with gRPC */
  size_t n_methods;          /* entries of methods (the last one: unknown methods) */
  bool started;              /* grpc_server_start ran */

  pthread_mutex_t lock;        /* guards the fields below */
  bool accepting;              /* requests are posted again (false from the drain on) */
  int slots_out;               /* slots posted or holding a call; the drain waits for 0 */
  shimkit__slot *free_slots;   /* recycled slots (singly linked) */
  shimkit__slot *all_slots;    /* every slot ever made, for free() */
  int n_threads;               /* worker threads alive (worker.c) */
  int n_polling;               /* of those, polling the shared queue (0 or 1) */
  int n_parked;                /* of those, parked (or about to park) and not yet told to poll */
  int n_wake;                  /* tokens: parked workers told to poll, not awake yet */
  bool uncovered;              /* the last poller runs a unary handler; nobody polls */
  int64_t uncovered_ns;        /* since when (CLOCK_MONOTONIC) */
  bool monitor_on;             /* the monitor thread runs (worker_threads > 1) */
  bool monitor_stop;           /* tells it to return */
  bool monitor_asleep;         /* it waits untimed: signal it when a handler goes uncovered */
  bool monitor_recent;         /* a handler went uncovered since it last looked */
  pthread_t monitor;           /* covers unary handlers that run long (worker.c) */
  pthread_cond_t park_cond;    /* parked workers wait here (CLOCK_MONOTONIC) */
  pthread_cond_t monitor_cond; /* the monitor waits here (CLOCK_MONOTONIC) */
  bool pool_conds;             /* park_cond and monitor_cond were initialised */
  int peak_threads;            /* most worker threads alive at once (log line at stop) */
  bool cq_shut;                /* the shared queue was shut down */
  pthread_cond_t cond;         /* signalled on shutdown requests and when live_calls drops */
  shimkit__server_state state; /* life-cycle stage */
  bool shutdown_requested;     /* shimkit_server_shutdown() was called */
  int live_calls;              /* calls a worker holds right now */
  int held_calls;              /* of those, streams and raw calls: each keeps its own worker for its life */
  bool signals_installed;      /* this server installed the SIGTERM/SIGINT handler */
  unsigned signals_base;       /* signal counter when it did; more = a signal came */
  bool grpc_ref;               /* this server holds a grpc_init() reference */
  atomic_bool cancelling;      /* the drain's grace is over: every call reads as cancelled */

  shimkit_raw_handler_fn raw_fn; /* catch-all for methods no service declares (raw.c), or NULL */
  void *raw_user_data;           /* its argument */
  bool has_forwarder;            /* unknown methods are forwarded (forward.c) instead */
  shimkit_forwarder forwarder;   /* its hooks */
  void *forwarder_user_data;     /* their argument */
  pthread_mutex_t park_lock;     /* guards parked (forward.c); taken under a forward's lock, never around one */
  struct shimkit__fwd *parked;   /* forwarded calls waiting (plan.wait), doubly linked */
  atomic_uint_fast64_t resume_gen; /* shimkit_server_forward_resume() runs so far (written under park_lock) */

  shimkit_reflection_fallback refl_fallback; /* reflection's answers for other services (reflection_fallback.c) */
  bool has_refl_fallback;                    /* refl_fallback is set */
};

/* One call, from the request until its status went out. */
struct shimkit_call {
  shimkit_server *srv;                   /* the server */
  shimkit__slot *slot;                   /* the slot holding it */
  grpc_completion_queue *cq;             /* its own queue (streams); NULL = async on srv->cq */
  grpc_call *core;                       /* gRPC core call */
  shimkit__arena *arena;                 /* the slot's arena, reset after the call */
  const char *method;                    /* path, sanitised copy */
  const char *peer;                      /* client address copy */
  const shimkit__service_entry *service; /* matched service, or NULL */
  const shimkit_method_desc *desc;       /* matched method, or NULL */
  gpr_timespec deadline;                 /* monotonic; infinite when none */
  int64_t start_ns;                      /* monotonic clock at arrival */

  size_t n_req_md;         /* request metadata entries */
  const char **req_keys;   /* arena copies */
  const char **req_values; /* arena copies, NUL-terminated */
  size_t *req_lens;        /* value lengths */

  grpc_metadata *init_md;  /* response initial metadata (arena) */
  size_t n_init_md;        /* entries used */
  grpc_metadata *trail_md; /* response trailing metadata (arena) */
  size_t n_trail_md;       /* entries used (+1 for the details trailer) */

  bool initial_md_sent; /* SEND_INITIAL_METADATA went out */
  bool client_done;     /* client half-closed (read returned 0) */
  bool broken;          /* a batch failed: the call is gone */
  bool close_started;   /* RECV_CLOSE_ON_SERVER started (lazily: first is_cancelled, or the final batch) */
  atomic_bool close_done; /* RECV_CLOSE_ON_SERVER completed */
  int close_cancelled;  /* its result */
  bool handler_ran;     /* the chain reached the handler (it runs once) */
  bool status_sent;     /* a raw handler sent the status itself (shimkit_call_send_status) */
  bool raw_read_done;   /* raw: the client half-closed (read side only) */
  bool op_done;         /* the op batch in flight completed */
  int op_ok;            /* its success flag */
  bool forwarding;      /* forward.c owns the call: its events end it, not the handler's return */

  ProtobufCMessage *request;   /* unary / server-streaming request (arena) */
  ProtobufCMessage *last_read; /* last streamed request (heap), freed on next read */

  shimkit_code fail_code; /* runtime-detected failure, used if the handler says OK */
  char *status_message;   /* arena; NULL = none */
  void *details;          /* arena; grpc-status-details-bin */
  size_t details_len;     /* bytes of details */

  uint64_t bytes_in;  /* request message bytes received */
  uint64_t bytes_out; /* response message bytes sent */
};

/* A registered method (or, last, the catch-all for unknown methods). */
struct shimkit__method {
  void *handle;                          /* grpc_server_register_method's; NULL = unknown methods */
  const shimkit__service_entry *service; /* its service (NULL for unknown) */
  const shimkit_method_desc *desc;       /* its descriptor (NULL for unknown) */
  bool sync;                             /* has a stream: runs on its slot's own queue */
};

/* What an event on the shared queue is about. */
typedef enum shimkit__tag_kind {
  SHIMKIT__TAG_KIND_REQUEST = 0, /* the slot's request matched a call (or failed) */
  SHIMKIT__TAG_KIND_FINAL,       /* an async call's final batch */
  SHIMKIT__TAG_KIND_CLOSE,       /* an async call's RECV_CLOSE_ON_SERVER started early */
  /* A forwarded call's batches (forward.c); at most one of each kind in flight. */
  SHIMKIT__TAG_KIND_FWD_SRECV,   /* RECV_MESSAGE from the client */
  SHIMKIT__TAG_KIND_FWD_SSEND,   /* SEND_MESSAGE to the client */
  SHIMKIT__TAG_KIND_FWD_BSEND,   /* to the backend: initial metadata, a message, close */
  SHIMKIT__TAG_KIND_FWD_BRECV,   /* from the backend: (headers and) a message */
  SHIMKIT__TAG_KIND_FWD_BSTATUS, /* the backend call's status */
  SHIMKIT__TAG_KIND_FWD_BUNARY,  /* a unary plan's one backend batch: everything out, everything back */
  SHIMKIT__TAG_KINDS
} shimkit__tag_kind;

typedef struct shimkit__fwd shimkit__fwd;

typedef struct shimkit__tag {
  shimkit__slot *slot;   /* owner */
  shimkit__tag_kind kind; /* which op */
} shimkit__tag;

/* One outstanding request and then the call it received (requests.c). */
struct shimkit__slot {
  shimkit__slot *next;           /* free list */
  shimkit__slot *all_next;       /* list of all slots */
  const shimkit__method *method; /* what it was requested for */
  grpc_completion_queue *own_cq; /* for stream methods: the call's queue (kept for reuse) */
  shimkit__arena arena;          /* per-call memory */
  shimkit__tag tags[SHIMKIT__TAG_KINDS]; /* by shimkit__tag_kind */
  _Atomic(shimkit__fwd *) fwd;   /* a forwarded call's state (forward.c), or NULL */
  char sync_tags[3];             /* addresses: op, close and raw-read batches on own_cq */
  atomic_int pending;            /* async: batches in flight on the shared queue */
  grpc_call *core;               /* what the request delivered */
  gpr_timespec deadline;         /* registered: the deadline */
  grpc_call_details details;     /* unregistered: method and deadline */
  grpc_metadata_array md;        /* request metadata */
  grpc_byte_buffer *payload;     /* registered unary / server-streaming: the request */
  shimkit_code code;             /* async: status that went out */
  const char *message;           /* async: its message */
  struct shimkit_call call;      /* the call */
};

#define SHIMKIT__TAG_OP(c) ((void *)&(c)->slot->sync_tags[0])
#define SHIMKIT__TAG_CLOSE(c) ((void *)&(c)->slot->sync_tags[1])
#define SHIMKIT__TAG_READ(c) ((void *)&(c)->slot->sync_tags[2])

/* server.c */
const shimkit__service_entry *shimkit__server_find_method(const shimkit_server *srv, const char *path,
                                                          const shimkit_method_desc **method,
                                                          bool *service_known);
/* A call began / ended; holds_worker: a stream or raw call, which keeps its worker for its life. */
void shimkit__server_call_started(shimkit_server *srv, bool holds_worker);
void shimkit__server_call_ended(shimkit_server *srv, bool holds_worker);

/* worker.c: the elastic pool polling srv->cq */
bool shimkit__pool_start(shimkit_server *srv);
void shimkit__pool_busy(shimkit_server *srv);      /* a handler starts: may be short, may block */
void shimkit__pool_busy_long(shimkit_server *srv); /* a stream starts: holds its worker for its life */
void shimkit__pool_idle(shimkit_server *srv);
void shimkit__pool_stop(shimkit_server *srv);

/* requests.c: slots and the requests they post */
bool shimkit__requests_register(shimkit_server *srv);
bool shimkit__requests_post_all(shimkit_server *srv);
void shimkit__requests_post(shimkit_server *srv, const shimkit__method *m);
void shimkit__slot_release(shimkit_server *srv, shimkit__slot *slot);
void shimkit__requests_free(shimkit_server *srv);

/* call_run.c: one call from the request to its end */
void shimkit__call_event(shimkit_server *srv, const shimkit__tag *tag, bool ok);
void shimkit__call_send_status(shimkit_call *c, shimkit_code code, const char *message,
                               grpc_byte_buffer *response);

/* call.c: what a handler can do; batches of stream calls */
bool shimkit__call_wait_op(shimkit_call *call, const grpc_op *ops, size_t n);
/* Sends one message (bb, destroyed), the initial metadata first if not sent yet; waits. */
bool shimkit__call_send_buffer(shimkit_call *call, grpc_byte_buffer *bb);
void shimkit__call_watch_close(shimkit_call *call);
void shimkit__call_poll(shimkit_call *call);
shimkit_code shimkit__call_set_message(shimkit_call *call, const char *msg);
bool shimkit__call_add_details_trailer(shimkit_call *call);
int shimkit__call_decode(shimkit_call *call, grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out);
int shimkit__call_encode(shimkit_call *call, const ProtobufCMessage *msg, grpc_byte_buffer **out);
int64_t shimkit__now_ns(void);


/* call_run.c: drops one reference of an async call (a batch done); the last finishes it */
void shimkit__call_unref(shimkit__slot *slot);

/* forward.c: forwarded calls. start: after the request was taken, on the
 * worker; returns the status to answer with when begin refused the call, or
 * SHIMKIT_OK with call->forwarding set. */
shimkit_code shimkit__fwd_start(shimkit_call *call);
void shimkit__fwd_event(shimkit__slot *slot, shimkit__tag_kind kind, bool ok);
/* The call's close watch completed (cancelled: the client is gone). */
void shimkit__fwd_closed(shimkit__fwd *f);
void shimkit__fwd_free(shimkit__fwd *f);

/* raw.c: runs the raw handler of a call to a method no service declares */
shimkit_code shimkit__raw_run(shimkit_call *call);

/* access_log.c */
void shimkit__access_log(const shimkit_call *call, shimkit_code code, const char *message);

/* signals.c: SIGTERM/SIGINT counted by a flag; never calls gRPC from the handler */
bool shimkit__signals_install(void);
void shimkit__signals_uninstall(void);
unsigned shimkit__signals_count(void);

/* listener.c */
void shimkit__listeners_free(shimkit_server *srv);

#endif /* SHIMKIT_SERVER_CORE_H */
