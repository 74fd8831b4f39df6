/*
 * tr_jobs.c - see tr_jobs.h. One mutex guards the table, the queue and every
 * job's mutable fields; one condition variable (on CLOCK_MONOTONIC) wakes
 * workers and watchers alike. Runners work outside the lock.
 */
#include "tr_jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct tr_job {
  tr_jobs *owner;
  char id[TR_ID_MAX];
  tr_spec *spec;
  tr_abort_fn abort_fn; /* tr_job_set_abort */
  void *abort_arg;
  tr_job_view v; /* the mutable part; v.id and v.spec point at the two above */
};

struct tr_jobs {
  tr_jobs_config cfg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;
  tr_job **all; /* submission order */
  size_t n_all, cap_all;
  tr_job **queue; /* ring of cfg.max_queued */
  size_t q_head, q_len;
  pthread_t *threads;
  size_t n_threads;
  char instance[TR_INSTANCE_LEN + 1]; /* in every id: this table's, not another replica's */
};

static void tr_now(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

/* Under the lock: record a change and wake everyone waiting. */
static void tr_job_changed(tr_job *job) {
  job->v.revision++;
  pthread_cond_broadcast(&job->owner->cv);
}

/* Under the lock: applies ev; false when the state machine refuses it. */
static bool tr_job_apply(tr_job *job, tr_event ev) {
  tr_state next = tr_state_next(job->v.state, ev);
  if (next == TR_STATE_NONE) return false;
  job->v.state = next;
  if (next == TR_RUNNING) tr_now(&job->v.started);
  if (tr_state_final(next)) {
    tr_now(&job->v.finished);
    if (next == TR_SUCCEEDED) job->v.progress = 1;
  }
  tr_job_changed(job);
  if (tr_state_final(next) && job->owner->cfg.ended) job->owner->cfg.ended(&job->v, job->owner->cfg.ctx);
  return true;
}

/* Under the lock: cancels a job that has not ended; why goes to failure_reason. */
static void tr_job_cancel_locked(tr_job *job, const char *why) {
  if (job->v.state == TR_QUEUED) {
    /* Its queue slot stays; the worker that pops it skips it. */
    snprintf(job->v.message, sizeof job->v.message, "cancelled while queued");
    snprintf(job->v.failure_reason, sizeof job->v.failure_reason, "%s while queued", why);
    tr_job_apply(job, TR_EV_CANCEL);
  } else if (job->v.state == TR_RUNNING && !job->v.cancel_requested) {
    job->v.cancel_requested = true;
    snprintf(job->v.message, sizeof job->v.message, "cancel requested; stopping at the next step");
    snprintf(job->v.failure_reason, sizeof job->v.failure_reason, "%s while running", why);
    if (job->abort_fn) job->abort_fn(job->abort_arg);
    tr_job_changed(job);
  }
}

static tr_job *tr_find(tr_jobs *jobs, const char *id) {
  /* ids are "job-<instance>-<n>" with n the 1-based position: no search needed. */
  if (!id || strncmp(id, "job-", 4) != 0 || strncmp(id + 4, jobs->instance, TR_INSTANCE_LEN) != 0 ||
      id[4 + TR_INSTANCE_LEN] != '-')
    return NULL;
  const char *num = id + 5 + TR_INSTANCE_LEN;
  if (*num < '1' || *num > '9') return NULL;
  char *end;
  unsigned long long n = strtoull(num, &end, 10);
  if (*end || n > jobs->n_all) return NULL;
  return jobs->all[n - 1];
}

/* The instance part of the ids: random, so that two replicas (or one restarted) never issue the same id, and
 * a replica asked for another's job answers NOT_FOUND instead of describing its own job of that number. */
static void tr_make_instance(char out[TR_INSTANCE_LEN + 1]) {
  uint32_t r;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
  }
  snprintf(out, TR_INSTANCE_LEN + 1, "%08x", (unsigned)r);
}

static void *tr_worker(void *arg) {
  tr_jobs *jobs = arg;
  pthread_mutex_lock(&jobs->mu);
  for (;;) {
    while (!jobs->stopping && jobs->q_len == 0) pthread_cond_wait(&jobs->cv, &jobs->mu);
    if (jobs->stopping) break;
    tr_job *job = jobs->queue[jobs->q_head];
    jobs->q_head = (jobs->q_head + 1) % jobs->cfg.max_queued;
    jobs->q_len--;
    if (!tr_job_apply(job, TR_EV_START)) continue; /* cancelled while queued */
    pthread_mutex_unlock(&jobs->mu);
    tr_outcome out = {.state = TR_FAILED};
    jobs->cfg.run(job, job->spec, jobs->cfg.ctx, &out);
    pthread_mutex_lock(&jobs->mu);
    tr_spec_drop_rows(job->spec);
    if (out.state == TR_SUCCEEDED) {
      job->v.model_version = out.model_version;
      job->v.failure_reason[0] = 0; /* a cancel that came too late */
      tr_job_apply(job, TR_EV_SUCCEED);
    } else if (out.state == TR_CANCELLED) {
      if (!job->v.failure_reason[0]) snprintf(job->v.failure_reason, sizeof job->v.failure_reason, "cancelled");
      snprintf(job->v.message, sizeof job->v.message, "cancelled");
      tr_job_apply(job, TR_EV_CANCEL);
    } else {
      snprintf(job->v.failure_reason, sizeof job->v.failure_reason, "%s",
               out.reason[0] ? out.reason : "the job failed for an unknown reason");
      tr_job_apply(job, TR_EV_FAIL);
    }
  }
  pthread_mutex_unlock(&jobs->mu);
  return NULL;
}

tr_jobs *tr_jobs_new(const tr_jobs_config *config) {
  if (!config->run || config->workers == 0 || config->max_queued == 0 || config->max_jobs == 0) return NULL;
  tr_jobs *jobs = calloc(1, sizeof *jobs);
  if (!jobs) return NULL;
  jobs->cfg = *config;
  tr_make_instance(jobs->instance);
  jobs->queue = calloc(config->max_queued, sizeof *jobs->queue);
  jobs->threads = calloc(config->workers, sizeof *jobs->threads);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&jobs->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&jobs->mu, NULL);
  if (!jobs->queue || !jobs->threads) goto err;
  for (; jobs->n_threads < config->workers; jobs->n_threads++)
    if (pthread_create(&jobs->threads[jobs->n_threads], NULL, tr_worker, jobs) != 0) goto err;
  return jobs;
err:
  tr_jobs_free(jobs);
  return NULL;
}

void tr_jobs_free(tr_jobs *jobs) {
  if (!jobs) return;
  pthread_mutex_lock(&jobs->mu);
  jobs->stopping = true;
  for (size_t i = 0; i < jobs->n_all; i++) tr_job_cancel_locked(jobs->all[i], "the shim stopped");
  pthread_cond_broadcast(&jobs->cv);
  pthread_mutex_unlock(&jobs->mu);
  for (size_t i = 0; i < jobs->n_threads; i++) pthread_join(jobs->threads[i], NULL);
  for (size_t i = 0; i < jobs->n_all; i++) {
    tr_spec_free(jobs->all[i]->spec);
    free(jobs->all[i]);
  }
  free(jobs->all);
  free(jobs->queue);
  free(jobs->threads);
  pthread_cond_destroy(&jobs->cv);
  pthread_mutex_destroy(&jobs->mu);
  free(jobs);
}

int tr_jobs_submit(tr_jobs *jobs, tr_spec *spec, tr_job_view *out) {
  int rc = -1;
  pthread_mutex_lock(&jobs->mu);
  if (jobs->stopping || jobs->q_len == jobs->cfg.max_queued || jobs->n_all == jobs->cfg.max_jobs) goto done;
  if (jobs->n_all == jobs->cap_all) {
    size_t cap = jobs->cap_all ? jobs->cap_all * 2 : 16;
    tr_job **all = realloc(jobs->all, cap * sizeof *all);
    if (!all) goto done;
    jobs->all = all;
    jobs->cap_all = cap;
  }
  tr_job *job = calloc(1, sizeof *job);
  if (!job) goto done;
  job->owner = jobs;
  job->spec = spec;
  snprintf(job->id, sizeof job->id, "job-%s-%zu", jobs->instance, jobs->n_all + 1);
  job->v.id = job->id;
  job->v.spec = spec;
  job->v.state = TR_QUEUED;
  snprintf(job->v.message, sizeof job->v.message, "queued");
  tr_now(&job->v.created);
  jobs->all[jobs->n_all++] = job;
  jobs->queue[(jobs->q_head + jobs->q_len++) % jobs->cfg.max_queued] = job;
  tr_job_changed(job);
  *out = job->v;
  rc = 0;
done:
  pthread_mutex_unlock(&jobs->mu);
  return rc;
}

int tr_jobs_get(tr_jobs *jobs, const char *id, tr_job_view *out) {
  pthread_mutex_lock(&jobs->mu);
  tr_job *job = tr_find(jobs, id);
  if (job) *out = job->v;
  pthread_mutex_unlock(&jobs->mu);
  return job ? 0 : -1;
}

int tr_jobs_cancel(tr_jobs *jobs, const char *id, tr_job_view *out) {
  pthread_mutex_lock(&jobs->mu);
  tr_job *job = tr_find(jobs, id);
  if (job) {
    tr_job_cancel_locked(job, "cancelled by CancelJob");
    *out = job->v;
  }
  pthread_mutex_unlock(&jobs->mu);
  return job ? 0 : -1;
}

size_t tr_jobs_list(tr_jobs *jobs, size_t start, size_t limit, tr_job_view *out, size_t *total) {
  size_t n = 0;
  pthread_mutex_lock(&jobs->mu);
  for (size_t i = start; i < jobs->n_all && n < limit; i++) out[n++] = jobs->all[i]->v;
  *total = jobs->n_all;
  pthread_mutex_unlock(&jobs->mu);
  return n;
}

int tr_jobs_wait(tr_jobs *jobs, const char *id, uint64_t seen, int timeout_ms, tr_job_view *out) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&jobs->mu);
  tr_job *job = tr_find(jobs, id);
  int rc = -1;
  if (job) {
    while (job->v.revision <= seen && pthread_cond_timedwait(&jobs->cv, &jobs->mu, &until) == 0) {
    }
    rc = job->v.revision > seen ? 1 : 0;
    *out = job->v;
  }
  pthread_mutex_unlock(&jobs->mu);
  return rc;
}

bool tr_job_step(tr_job *job, double progress, const char *message) {
  tr_jobs *jobs = job->owner;
  pthread_mutex_lock(&jobs->mu);
  bool go_on = !job->v.cancel_requested;
  if (go_on) {
    job->v.progress = progress < 0 ? 0 : progress > 1 ? 1 : progress;
    snprintf(job->v.message, sizeof job->v.message, "%s", message);
    tr_job_changed(job);
  }
  pthread_mutex_unlock(&jobs->mu);
  return go_on;
}

void tr_job_metric(tr_job *job, const char *name, double value) {
  tr_jobs *jobs = job->owner;
  pthread_mutex_lock(&jobs->mu);
  size_t i = 0;
  while (i < job->v.n_metrics && strcmp(job->v.metrics[i].name, name) != 0) i++;
  if (i < TR_MAX_METRICS) {
    snprintf(job->v.metrics[i].name, sizeof job->v.metrics[i].name, "%s", name);
    job->v.metrics[i].value = value;
    if (i == job->v.n_metrics) job->v.n_metrics++;
    tr_job_changed(job);
  }
  pthread_mutex_unlock(&jobs->mu);
}

bool tr_job_set_abort(tr_job *job, tr_abort_fn fn, void *arg) {
  pthread_mutex_lock(&job->owner->mu);
  bool ok = !(fn && job->v.cancel_requested);
  job->abort_fn = ok ? fn : NULL;
  job->abort_arg = ok ? arg : NULL;
  pthread_mutex_unlock(&job->owner->mu);
  return ok;
}

bool tr_job_cancelled(tr_job *job) {
  pthread_mutex_lock(&job->owner->mu);
  bool c = job->v.cancel_requested;
  pthread_mutex_unlock(&job->owner->mu);
  return c;
}

const char *tr_job_id(const tr_job *job) { return job->id; }
