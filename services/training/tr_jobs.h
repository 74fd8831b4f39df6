/*
 * tr_jobs.h - the jobs of one Training shim: a table of every job submitted
 * since start (kept in memory; a restart forgets them), a bounded queue,
 * and --max-jobs worker threads that run queued jobs through a runner
 * function (tr_run.c in the shim; a fake in the unit tests).
 *
 * Ids are "job-<instance>-<n>": the instance is random per table, so two
 * replicas of a set (or one shim before and after a restart) never issue the
 * same id, and a replica asked about another's job says it has none.
 *
 * Every change of a job bumps its revision and wakes watchers, so WatchJob
 * sees QUEUED, RUNNING, each progress step and the end, in order.
 *
 * Cancel: a queued job is CANCELLED at once; a running one is flagged and
 * its runner stops at the next step boundary (tr_job_step returns false),
 * because the native libraries cannot be interrupted inside train(). A
 * runner blocked in a call to another service sets an abort hook
 * (tr_job_set_abort) that the cancel runs, so that the call returns at once.
 * tr_jobs_free cancels every job the same way (the shim is stopping).
 *
 * Threads: every function is thread-safe. Views are copies; their id and
 * spec pointers stay valid until tr_jobs_free.
 */
#ifndef TR_JOBS_H
#define TR_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tr_spec.h"
#include "tr_state.h"

#define TR_MAX_METRICS 8
#define TR_MESSAGE_MAX 256
#define TR_ID_MAX 40
#define TR_INSTANCE_LEN 8 /* hex digits of a table's random instance, in each of its ids */

typedef struct tr_metric {
  char name[32];
  double value;
} tr_metric;

/* A consistent copy of one job. */
typedef struct tr_job_view {
  const char *id;                     /* "job-3fa9c2d1-7": the table's instance, then the 7th job */
  const tr_spec *spec;                /* what was asked (rows dropped once it ended) */
  tr_state state;
  uint64_t revision;                  /* bumped on every change */
  bool cancel_requested;              /* CancelJob reached it while RUNNING */
  uint64_t model_version;             /* 0 until registered */
  double progress;                    /* 0..1 */
  char message[TR_MESSAGE_MAX];       /* the current step, for WatchJob */
  char failure_reason[TR_ERR_MAX];    /* set when FAILED (and why when CANCELLED) */
  size_t n_metrics;
  tr_metric metrics[TR_MAX_METRICS];
  struct timespec created, started, finished; /* CLOCK_REALTIME; tv_sec 0 = not yet */
} tr_job_view;

typedef struct tr_job tr_job;
typedef struct tr_jobs tr_jobs;

/* What a runner reports when it is done. */
typedef struct tr_outcome {
  tr_state state;              /* TR_SUCCEEDED, TR_FAILED or TR_CANCELLED */
  uint64_t model_version;      /* SUCCEEDED: the version registered */
  char reason[TR_ERR_MAX];     /* FAILED: why */
} tr_outcome;

/* Runs one job (already RUNNING) to its end, on a worker thread. */
typedef void (*tr_run_fn)(tr_job *job, const tr_spec *spec, void *ctx, tr_outcome *out);

/* Told once when a job reaches SUCCEEDED, FAILED or CANCELLED, under the jobs' lock: do not call tr_jobs_*. */
typedef void (*tr_ended_fn)(const tr_job_view *job, void *ctx);

typedef struct tr_jobs_config {
  size_t workers;    /* jobs running at once (--max-jobs), >= 1 */
  size_t max_queued; /* jobs waiting beyond those; SubmitJob gets RESOURCE_EXHAUSTED past it */
  size_t max_jobs;   /* jobs remembered in total */
  tr_run_fn run;
  void *ctx;         /* passed to run and ended */
  tr_ended_fn ended; /* may be NULL */
} tr_jobs_config;

/* Starts the workers. NULL when out of memory or threads cannot start. */
tr_jobs *tr_jobs_new(const tr_jobs_config *config);

/* Cancels queued jobs, flags running ones, waits for the workers, frees all. Accepts NULL. */
void tr_jobs_free(tr_jobs *jobs);

/* Queues a job; takes spec on success only. 0, or -1 when the queue or the table is full. */
int tr_jobs_submit(tr_jobs *jobs, tr_spec *spec, tr_job_view *out);

/* 0 and *out, or -1 when there is no such job. */
int tr_jobs_get(tr_jobs *jobs, const char *id, tr_job_view *out);

/* Cancels (see above) and fills *out; finished jobs are left as they are. -1: no such job. */
int tr_jobs_cancel(tr_jobs *jobs, const char *id, tr_job_view *out);

/* Up to limit jobs from position start in submission order; *total = number of jobs. */
size_t tr_jobs_list(tr_jobs *jobs, size_t start, size_t limit, tr_job_view *out, size_t *total);

/*
 * Waits up to timeout_ms for the job's revision to pass seen, then fills
 * *out. 1 when it changed, 0 on timeout (*out filled too), -1 no such job.
 */
int tr_jobs_wait(tr_jobs *jobs, const char *id, uint64_t seen, int timeout_ms, tr_job_view *out);

/* ---- for runners ------------------------------------------------------------ */

/* Records a step (progress 0..1, message); false when the job was cancelled: stop. */
bool tr_job_step(tr_job *job, double progress, const char *message);

/* The job's id (lives as long as the jobs). */
const char *tr_job_id(const tr_job *job);

/* True once CancelJob reached the running job. */
bool tr_job_cancelled(tr_job *job);

/*
 * Makes a cancel call fn(arg) (under the jobs' lock: it must not block nor
 * call tr_jobs_*), e.g. shimkit_client_call_cancel on the call the runner is
 * blocked in. fn NULL clears it; clear it before arg is freed. Returns false,
 * keeping nothing, when the job is already cancelled.
 */
typedef void (*tr_abort_fn)(void *arg);
bool tr_job_set_abort(tr_job *job, tr_abort_fn fn, void *arg);

/* Sets metric name (replacing an earlier value). */
void tr_job_metric(tr_job *job, const char *name, double value);

#endif /* TR_JOBS_H */
