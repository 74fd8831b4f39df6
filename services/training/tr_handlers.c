/*
 * tr_handlers.c - the five Training RPCs over tr_jobs: SubmitJob checks and
 * queues (the RPC fails only for a bad request; everything the job meets
 * later ends it FAILED with a reason), GetJob / ListJobs / CancelJob read
 * or flag the table, and WatchJob streams the job now and after every
 * change until it ends.
 */
#include "tr_handlers.h"

#include <stdio.h>
#include <stdlib.h>

#include "tr_convert.h"

#define TR_PAGE_DEFAULT 100
#define TR_PAGE_MAX 1000
#define TR_WATCH_POLL_MS 250 /* how often a quiet watch checks for a client gone away */

static shimkit_code tr_not_found(shimkit_call *call, const char *id) {
  return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "job \"%.100s\" not found", id ? id : "");
}

static shimkit_code tr_submit_job(shimkit_call *call, const Shimkit__Ml__V1__SubmitJobRequest *req,
                                  Shimkit__Ml__V1__Job *resp, void *user_data) {
  tr_service *svc = user_data;
  tr_spec *spec = NULL;
  shimkit_code code = tr_spec_from_request(call, svc, req, &spec);
  if (code != SHIMKIT_OK) return code;
  tr_job_view v;
  if (tr_jobs_submit(svc->jobs, spec, &v) != 0) {
    tr_spec_free(spec);
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "the job queue is full; retry when jobs finished");
  }
  return tr_job_to_proto(call, &v, resp);
}

static shimkit_code tr_get_job(shimkit_call *call, const Shimkit__Ml__V1__GetJobRequest *req,
                               Shimkit__Ml__V1__Job *resp, void *user_data) {
  tr_service *svc = user_data;
  tr_job_view v;
  if (tr_jobs_get(svc->jobs, req->id, &v) != 0) return tr_not_found(call, req->id);
  return tr_job_to_proto(call, &v, resp);
}

static shimkit_code tr_cancel_job(shimkit_call *call, const Shimkit__Ml__V1__CancelJobRequest *req,
                                  Shimkit__Ml__V1__Job *resp, void *user_data) {
  tr_service *svc = user_data;
  tr_job_view v;
  if (tr_jobs_cancel(svc->jobs, req->id, &v) != 0) return tr_not_found(call, req->id);
  return tr_job_to_proto(call, &v, resp);
}

/* page_token is the decimal position of the next job, as this server issued it. */
static shimkit_code tr_list_jobs(shimkit_call *call, const Shimkit__Ml__V1__ListJobsRequest *req,
                                 Shimkit__Ml__V1__ListJobsResponse *resp, void *user_data) {
  tr_service *svc = user_data;
  size_t limit = req->page && req->page->page_size ? req->page->page_size : TR_PAGE_DEFAULT;
  if (limit > TR_PAGE_MAX) limit = TR_PAGE_MAX;
  size_t start = 0, total = 0;
  const char *token = req->page ? req->page->page_token : "";
  if (token[0]) {
    char *end;
    unsigned long long n = strtoull(token, &end, 10);
    if (*end || token[0] < '1' || token[0] > '9')
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "page_token \"%.40s\" was not issued by this server", token);
    start = (size_t)n;
  }
  tr_job_view *views = malloc(limit * sizeof *views);
  if (!views) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = tr_jobs_list(svc->jobs, start, limit, views, &total);
  if (token[0] && start > total) {
    free(views);
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "page_token \"%.40s\" was not issued by this server", token);
  }
  shimkit_code code = SHIMKIT_OK;
  resp->jobs = shimkit_call_alloc(call, (n ? n : 1) * sizeof *resp->jobs);
  for (size_t i = 0; code == SHIMKIT_OK && i < n; i++) {
    Shimkit__Ml__V1__Job *job = shimkit_call_alloc(call, sizeof *job);
    if (!resp->jobs || !job) {
      code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    Shimkit__Ml__V1__Job init = SHIMKIT__ML__V1__JOB__INIT;
    *job = init;
    code = tr_job_to_proto(call, &views[i], job);
    resp->jobs[resp->n_jobs++] = job;
  }
  free(views);
  if (code == SHIMKIT_OK && start + n < total) {
    char next[32];
    snprintf(next, sizeof next, "%zu", start + n);
    resp->next_page_token = shimkit_call_strdup(call, next);
  }
  return code;
}

static shimkit_code tr_watch_job(shimkit_call *call, const Shimkit__Ml__V1__WatchJobRequest *req, void *user_data) {
  tr_service *svc = user_data;
  tr_job_view *v = shimkit_call_alloc(call, sizeof *v);
  if (!v) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  if (tr_jobs_get(svc->jobs, req->id, v) != 0) return tr_not_found(call, req->id);
  for (;;) {
    Shimkit__Ml__V1__Job job = SHIMKIT__ML__V1__JOB__INIT;
    shimkit_code code = tr_job_to_proto(call, v, &job);
    if (code != SHIMKIT_OK) return code;
    Shimkit__Ml__V1__JobEvent ev = SHIMKIT__ML__V1__JOB_EVENT__INIT;
    ev.job = &job;
    ev.progress = v->progress;
    ev.message = v->message;
    if (shimkit__ml__v1__training__shimkit_watch_job_write(call, &ev) != 0) return SHIMKIT_CANCELLED;
    if (tr_state_final(v->state)) return SHIMKIT_OK;
    uint64_t seen = v->revision;
    while (tr_jobs_wait(svc->jobs, req->id, seen, TR_WATCH_POLL_MS, v) == 0)
      if (shimkit_call_is_cancelled(call)) return SHIMKIT_CANCELLED;
  }
}

const Shimkit__Ml__V1__Training_Handlers tr_handlers = {
    .submit_job = tr_submit_job,
    .get_job = tr_get_job,
    .list_jobs = tr_list_jobs,
    .cancel_job = tr_cancel_job,
    .watch_job = tr_watch_job,
};
