/*
 * shimkit/forward.h - forwarding calls to other servers, event-driven.
 *
 * A proxy (the router) passes calls through byte for byte. raw.h lets a
 * handler do that with blocking reads and writes, which costs a thread per
 * direction and one waited batch per message; this API does it inside the
 * runtime instead: the server's workers move every message, header, trailer
 * and status between the client's call and a call to a backend channel as
 * gRPC core's events come, with no thread held by the call and the fewest
 * batches gRPC allows. The application only decides where each call goes,
 * through the hooks below.
 *
 * What passes through: request metadata (gRPC's own reserved keys excepted),
 * the deadline (the backend call's is the client's) and cancellation (a
 * client that goes away, or the server's drain, cancels the backend call),
 * every request message in order, response headers, every response message
 * as it comes, trailers, status code, message and details. Until the backend
 * answered anything, the request messages sent are kept (up to
 * SHIMKIT_FORWARD_REPLAY_MSGS messages and SHIMKIT_FORWARD_REPLAY_BYTES
 * bytes), so that a failed attempt can be sent again to another backend
 * (attempt_done). Messages are never decoded.
 *
 * Waiting: begin may ask for a call to wait (shimkit_forward_plan.wait),
 * e.g. while its service is held. A waiting call holds no thread: it sits
 * in the server with only its close watch in flight, so a client that
 * cancels, a deadline that passes and the server's drain end it at once
 * (end runs; nothing was forwarded). shimkit_server_forward_resume() runs
 * begin again for every waiting call; the application calls it after each
 * change that may let one go (a hold released or lapsed).
 *
 * Threads: begin runs on the worker that took the call, or, for a call
 * that waited, on the thread calling shimkit_server_forward_resume(); it
 * should not block (to wait, it sets plan.wait). choose runs after begin
 * or on the worker that read the first message, and may block (counted as
 * a busy worker, so that the pool keeps one polling, when on a worker).
 * attempt_done and end run on whichever worker takes the event and must not
 * block. The hooks of one call run one at a time.
 */
#ifndef SHIMKIT_FORWARD_H
#define SHIMKIT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shimkit/client.h"
#include "shimkit/export.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHIMKIT_FORWARD_REPLAY_MSGS 64            /* request messages kept for a retry */
#define SHIMKIT_FORWARD_REPLAY_BYTES (1024 * 1024) /* request bytes kept for a retry */

typedef struct shimkit_server shimkit_server;

/** How one attempt (one backend call) ended. Strings live until the hook returns. */
typedef struct shimkit_forward_attempt {
  int attempt;         /**< 1 for the first attempt */
  shimkit_code code;   /**< the backend call's status */
  const char *message; /**< its message ("" when none) */
  bool answered;       /**< response headers or a message came back */
  size_t n_trailers;   /**< trailing metadata entries received */
  bool replayable;     /**< every request message sent is kept and the client is still there */
} shimkit_forward_attempt;

/**
 * How begin wants one call forwarded (all false unless begin sets them).
 *
 * unary is for a method known to be unary (one request message, one
 * response message; e.g. from its descriptor): the first request message
 * goes to the backend with the metadata and the half-close in one batch,
 * and the response headers, message, trailers and status come back in one
 * batch and go to the client in one, as a unary client and a unary server
 * do. It halves the events (and the writes) per call. The client's stream
 * is not read past its first message. Set it for other methods and they
 * break (only one message each way passes).
 *
 * wait parks the call instead (read_first and unary are then ignored):
 * nothing is read or forwarded, and begin runs again, with *state as this
 * run left it and a zeroed plan, at the next shimkit_server_forward_resume()
 * (or at once, should one have run while this begin ran: no wake-up is
 * lost). Meanwhile the call ends only if its client goes away, its deadline
 * passes or the server drains (end then gets CANCELLED, DEADLINE_EXCEEDED
 * or UNAVAILABLE).
 */
typedef struct shimkit_forward_plan {
  bool read_first; /**< read the first request message before choose, which gets its bytes */
  bool unary;      /**< the method is unary: forward it in one batch each way (implies read_first) */
  bool wait;       /**< park the call, holding no thread, until shimkit_server_forward_resume() */
} shimkit_forward_plan;

/** Where calls go. Every hook gets the call and the state begin returned. */
typedef struct shimkit_forwarder {
  /**
   * A call arrived (on a worker), or a waiting call is resumed. Return
   * SHIMKIT_OK with *state set to forward it (or to wait: plan->wait), and
   * *plan filled as needed (it comes zeroed); or a status set with
   * shimkit_call_error() to answer the call with. *state is NULL on the
   * first run and what the previous run left on the next ones. When the
   * first run fails no other hook runs for the call; once a run returned
   * SHIMKIT_OK, end runs at the call's end whatever later runs return.
   */
  shimkit_code (*begin)(shimkit_call *call, void *user_data, void **state, shimkit_forward_plan *plan);
  /**
   * The channel of the first attempt. first (first_len bytes) is the first
   * request message when begin asked for it and the client sent one, else
   * NULL. Return SHIMKIT_OK with *channel set, or a status set with
   * shimkit_call_error(). The channel must outlive the call.
   */
  shimkit_code (*choose)(shimkit_call *call, void *state, const uint8_t *first, size_t first_len,
                         shimkit_channel **channel);
  /**
   * An attempt ended (always called once per attempt). Return a channel to
   * send the call again to (only when a->replayable; the kept request
   * messages are replayed), or NULL to pass this attempt's outcome on.
   */
  shimkit_channel *(*attempt_done)(shimkit_call *call, void *state, const shimkit_forward_attempt *a);
  /**
   * The call's end: code is the status sent to the client. Called once for
   * every call begin accepted; free the state here.
   */
  void (*end)(shimkit_call *call, void *state, shimkit_code code);
} shimkit_forwarder;

/**
 * Forwards every call to a method no added service declares (the server's
 * own services, health and reflection included, still answer theirs)
 * through fwd's hooks, instead of a raw handler (it replaces one, and
 * shimkit_server_set_raw_handler() replaces it). fwd is copied. Before
 * shimkit_server_start() only: SHIMKIT_FAILED_PRECONDITION after.
 * Interceptors do not run for forwarded calls.
 */
SHIMKIT_API shimkit_code shimkit_server_set_forwarder(shimkit_server *srv, const shimkit_forwarder *fwd,
                                                      void *user_data);

/**
 * Runs begin again, on the calling thread, for every call waiting
 * (shimkit_forward_plan.wait) on srv; those it lets go are forwarded, those
 * it parks again wait for the next resume. Call it after every change that
 * may let a waiting call go. Safe from any thread but a forwarder hook's
 * (handlers of the server's own services included), from
 * shimkit_server_start() until shimkit_server_free() (a drained server has
 * no waiting call: then it does nothing). NULL: nothing.
 */
SHIMKIT_API void shimkit_server_forward_resume(shimkit_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_FORWARD_H */
