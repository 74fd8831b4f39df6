/*
 * tr_state.h - the life of a training job, as a pure transition function:
 *
 *   QUEUED --start--> RUNNING --succeed--> SUCCEEDED
 *     |                  |-----fail-----> FAILED
 *     |                  '----cancel----> CANCELLED   (at the next step boundary)
 *     '------cancel----------------------> CANCELLED   (at once)
 *
 * The three ends are final. Numbers are those of shimkit.ml.v1.JobState.
 */
#ifndef TR_STATE_H
#define TR_STATE_H

#include <stdbool.h>

typedef enum tr_state {
  TR_STATE_NONE = 0, /* "no transition" */
  TR_QUEUED = 1,
  TR_RUNNING = 2,
  TR_SUCCEEDED = 3,
  TR_FAILED = 4,
  TR_CANCELLED = 5
} tr_state;

typedef enum tr_event {
  TR_EV_START,   /* a worker picked the job */
  TR_EV_SUCCEED, /* the model is registered */
  TR_EV_FAIL,    /* a step failed */
  TR_EV_CANCEL   /* queued: cancel now; running: the runner stopped at a step boundary */
} tr_event;

/* The state after ev, or TR_STATE_NONE when ev is not allowed in state. */
tr_state tr_state_next(tr_state state, tr_event ev);

/* SUCCEEDED, FAILED or CANCELLED. */
bool tr_state_final(tr_state state);

/* "QUEUED", ... for messages. */
const char *tr_state_name(tr_state state);

#endif /* TR_STATE_H */
