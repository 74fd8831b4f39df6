/*
 * server_core.h - the private structs of the server core, shared by its
 * files: server.c (life cycle), listener.c (ports and TLS), worker.c (the
 * threads that take calls), call.c (what a handler can do with a call),
 * access_log.c and signals.c.
 *
 * Threading: each worker owns one completion queue, registered with the
 * server, and takes one call at a time on it with grpc_server_request_call,
 * then runs that call to the end on its own thread. A busy worker therefore
 * never captures new calls, and every event on a worker's queue belongs to
 * the one call it is running. Everything in shimkit_call is touched by that
 * worker thread only.
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
#include "shimkit/server.h"

/* Hard limits. */
#define SHIMKIT__MAX_SERVICES 256        /* services one server may hold */
#define SHIMKIT__MAX_INTERCEPTORS 64     /* interceptors one server may hold */
#define SHIMKIT__MAX_WORKERS 1024        /* worker threads */
#define SHIMKIT__MAX_LISTENERS 64        /* listening addresses */
#define SHIMKIT__METHOD_PATH_MAX 1024    /* longest method path looked up */
#define SHIMKIT__STATUS_MESSAGE_MAX 1024 /* longest status message sent */
#define SHIMKIT__STATUS_DETAILS_MAX 4096 /* largest grpc-status-details-bin (fits 8 KiB headers) */
#define SHIMKIT__RESPONSE_MD_MAX 128     /* initial or trailing entries a handler may add */

typedef struct shimkit__worker shimkit__worker;

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

  shimkit__worker *workers; /* opts.worker_threads of them once started */
  int n_workers;            /* workers whose thread runs */

  pthread_mutex_t lock;        /* guards the fields below */
  pthread_cond_t cond;         /* signalled on shutdown requests and when live_calls drops */
  shimkit__server_state state; /* life-cycle stage */
  bool shutdown_requested;     /* shimkit_server_shutdown() was called */
  int live_calls;              /* calls a worker holds right now */
  bool signals_installed;      /* this server installed the SIGTERM/SIGINT handler */
  unsigned signals_base;       /* signal counter when it did; more = a signal came */
  bool grpc_ref;               /* this server holds a grpc_init() reference */
  atomic_bool cancelling;      /* the drain's grace is over: every call reads as cancelled */
};

/* One call, from grpc_server_request_call until its status went out. */
struct shimkit_call {
  shimkit_server *srv;                   /* the server */
  shimkit__worker *worker;               /* the worker running it */
  grpc_call *core;                       /* gRPC core call */
  shimkit__arena *arena;                 /* the worker's arena, reset after the call */
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
  bool close_done;      /* RECV_CLOSE_ON_SERVER completed */
  int close_cancelled;  /* its result */
  bool handler_ran;     /* the chain reached the handler (it runs once) */
  bool op_done;         /* the op batch in flight completed */
  int op_ok;            /* its success flag */

  ProtobufCMessage *request;   /* unary / server-streaming request (arena) */
  ProtobufCMessage *last_read; /* last streamed request (heap), freed on next read */

  shimkit_code fail_code; /* runtime-detected failure, used if the handler says OK */
  char *status_message;   /* arena; NULL = none */
  void *details;          /* arena; grpc-status-details-bin */
  size_t details_len;     /* bytes of details */

  uint64_t bytes_in;  /* request message bytes received */
  uint64_t bytes_out; /* response message bytes sent */
};

struct shimkit__worker {
  shimkit_server *srv;       /* owner */
  int index;                 /* 0.. for log lines */
  pthread_t thread;          /* runs shimkit__worker_main */
  grpc_completion_queue *cq; /* this worker's queue, registered with the server */
  shimkit__arena arena;      /* per-call memory */
  char tags[3];              /* addresses: request, op, close */
  struct shimkit_call call;  /* the call being run */
};

#define SHIMKIT__TAG_REQUEST(w) ((void *)&(w)->tags[0])
#define SHIMKIT__TAG_OP(w) ((void *)&(w)->tags[1])
#define SHIMKIT__TAG_CLOSE(w) ((void *)&(w)->tags[2])

/* server.c */
const shimkit__service_entry *shimkit__server_find_method(const shimkit_server *srv, const char *path,
                                                          const shimkit_method_desc **method,
                                                          bool *service_known);
void shimkit__server_call_started(shimkit_server *srv);
void shimkit__server_call_ended(shimkit_server *srv);

/* worker.c */
void *shimkit__worker_main(void *arg);

/* call.c: running one call */
bool shimkit__call_wait_op(shimkit_call *call, const grpc_op *ops, size_t n);
void shimkit__call_watch_close(shimkit_call *call);
void shimkit__call_poll(shimkit_call *call);
shimkit_code shimkit__call_set_message(shimkit_call *call, const char *msg);
bool shimkit__call_add_details_trailer(shimkit_call *call);
int shimkit__call_decode(shimkit_call *call, grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out);
int shimkit__call_encode(shimkit_call *call, const ProtobufCMessage *msg, grpc_byte_buffer **out);
int64_t shimkit__now_ns(void);


/* access_log.c */
void shimkit__access_log(const shimkit_call *call, shimkit_code code, const char *message);

/* signals.c: SIGTERM/SIGINT counted by a flag; never calls gRPC from the handler */
bool shimkit__signals_install(void);
void shimkit__signals_uninstall(void);
unsigned shimkit__signals_count(void);

/* listener.c */
void shimkit__listeners_free(shimkit_server *srv);

#endif /* SHIMKIT_SERVER_CORE_H */
