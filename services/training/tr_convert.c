/*
 * tr_convert.c - see tr_convert.h.
 */
#include "tr_convert.h"

#include <stdlib.h>
#include <string.h>

/* Known algorithms; one of them served by another shim is a clearer error than "unknown". */
static const char *const tr_algorithms[] = {"liblinear", "libsvm", "xgboost", NULL};

#define TR_NAME_MAX 1024    /* view, label, feature and model names */
#define TR_MAX_FEATURES 100000

static bool tr_known_algorithm(const char *a) {
  for (size_t i = 0; tr_algorithms[i]; i++)
    if (strcmp(tr_algorithms[i], a) == 0) return true;
  return false;
}

static char **tr_copy_names(char *const *names, size_t n) {
  char **out = calloc(n ? n : 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++) out[i] = strdup(names[i]);
  return out;
}

static shimkit_code tr_copy_dataset(shimkit_call *call, const Shimkit__Ml__V1__SubmitJobRequest *req, tr_spec *s) {
  if (req->dataset_case == SHIMKIT__ML__V1__SUBMIT_JOB_REQUEST__DATASET_FEATURE_VIEW) {
    const Shimkit__Ml__V1__FeatureViewDataset *fv = req->feature_view;
    if (!fv->view[0]) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "feature_view.view is missing");
    if (!fv->label_column[0])
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "feature_view.label_column is missing");
    if (fv->n_feature_names > TR_MAX_FEATURES)
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "at most %d feature names", TR_MAX_FEATURES);
    s->source = TR_SOURCE_VIEW;
    s->view = strdup(fv->view);
    s->label = strdup(fv->label_column);
    s->n_feature_names = fv->n_feature_names;
    s->feature_names = tr_copy_names(fv->feature_names, fv->n_feature_names);
    return SHIMKIT_OK;
  }
  if (req->dataset_case == SHIMKIT__ML__V1__SUBMIT_JOB_REQUEST__DATASET_INLINE_ROWS) {
    const Shimkit__Ml__V1__InlineDataset *in = req->inline_rows;
    s->source = TR_SOURCE_INLINE;
    s->n_feature_names = in->n_feature_names;
    s->feature_names = tr_copy_names(in->feature_names, in->n_feature_names);
    s->rows = calloc(in->n_rows ? in->n_rows : 1, sizeof *s->rows);
    if (!s->rows) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
    s->n_rows = in->n_rows;
    for (size_t i = 0; i < in->n_rows; i++) {
      const Shimkit__Ml__V1__LabeledRow *r = in->rows[i];
      s->rows[i].label = r->label;
      s->rows[i].n_values = r->n_features;
      s->rows[i].values = malloc((r->n_features ? r->n_features : 1) * sizeof(double));
      if (!s->rows[i].values) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
      if (r->n_features) memcpy(s->rows[i].values, r->features, r->n_features * sizeof(double));
    }
    return SHIMKIT_OK;
  }
  return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "the dataset is missing: set feature_view or inline_rows");
}

static shimkit_code tr_check_request(shimkit_call *call, const tr_service *svc,
                                     const Shimkit__Ml__V1__SubmitJobRequest *req) {
  const char *algo = req->algorithm[0] ? req->algorithm : svc->trainer->name;
  if (strcmp(algo, svc->trainer->name) != 0) {
    if (tr_known_algorithm(algo))
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                                "this training service runs %s, not %s: submit %s jobs to a shim started with --backend %s",
                                svc->trainer->name, algo, algo, algo);
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "unknown algorithm \"%.100s\"; this service runs %s",
                              algo, svc->trainer->name);
  }
  if (!req->model_name[0]) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "model_name is missing");
  if (strlen(req->model_name) > TR_NAME_MAX)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "model_name is longer than %d bytes", TR_NAME_MAX);
  if (req->dataset_case == SHIMKIT__ML__V1__SUBMIT_JOB_REQUEST__DATASET_FEATURE_VIEW && !svc->fs)
    return shimkit_call_error(call, SHIMKIT_FAILED_PRECONDITION,
                              "this training service was started without --feature-store; send inline_rows");
  return SHIMKIT_OK;
}

shimkit_code tr_spec_from_request(shimkit_call *call, const tr_service *svc,
                                  const Shimkit__Ml__V1__SubmitJobRequest *req, tr_spec **out) {
  shimkit_code code = tr_check_request(call, svc, req);
  if (code != SHIMKIT_OK) return code;
  tr_spec *s = tr_spec_new();
  tr_param *items = calloc(req->n_hyperparameters ? req->n_hyperparameters : 1, sizeof *items);
  if (!s || !items) {
    free(items);
    tr_spec_free(s);
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  }
  s->params.items = items;
  for (size_t i = 0; i < req->n_hyperparameters; i++, s->params.n++) {
    items[i].key = strdup(req->hyperparameters[i]->key);
    items[i].value = strdup(req->hyperparameters[i]->value);
  }
  tr_err err;
  if (svc->trainer->check(&s->params, &err) != 0) {
    tr_spec_free(s);
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s", err.msg);
  }
  s->algorithm = strdup(svc->trainer->name);
  s->model_name = strdup(req->model_name);
  s->description = strdup(req->description);
  code = tr_copy_dataset(call, req, s);
  if (code != SHIMKIT_OK) {
    tr_spec_free(s);
    return code;
  }
  *out = s;
  return SHIMKIT_OK;
}

static Google__Protobuf__Timestamp *tr_ts(shimkit_call *call, struct timespec t) {
  if (t.tv_sec == 0) return NULL;
  Google__Protobuf__Timestamp *ts = shimkit_call_alloc(call, sizeof *ts);
  if (!ts) return NULL;
  Google__Protobuf__Timestamp init = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  *ts = init;
  ts->seconds = t.tv_sec;
  ts->nanos = (int32_t)t.tv_nsec;
  return ts;
}

shimkit_code tr_job_to_proto(shimkit_call *call, const tr_job_view *v, Shimkit__Ml__V1__Job *job) {
  const tr_spec *s = v->spec;
  job->id = shimkit_call_strdup(call, v->id);
  job->state = (Shimkit__Ml__V1__JobState)v->state;
  job->algorithm = shimkit_call_strdup(call, s->algorithm);
  job->model_name = shimkit_call_strdup(call, s->model_name);
  job->model_version = v->model_version;
  job->failure_reason = shimkit_call_strdup(call, v->failure_reason);
  job->created_at = tr_ts(call, v->created);
  job->started_at = tr_ts(call, v->started);
  job->finished_at = tr_ts(call, v->finished);
  size_t n = s->params.n;
  job->hyperparameters = shimkit_call_alloc(call, (n ? n : 1) * sizeof *job->hyperparameters);
  Shimkit__Ml__V1__Job__HyperparametersEntry *hp = shimkit_call_alloc(call, (n ? n : 1) * sizeof *hp);
  job->metrics = shimkit_call_alloc(call, TR_MAX_METRICS * sizeof *job->metrics);
  Shimkit__Ml__V1__Job__MetricsEntry *m = shimkit_call_alloc(call, TR_MAX_METRICS * sizeof *m);
  if (!job->id || !job->algorithm || !job->model_name || !job->failure_reason || !job->hyperparameters || !hp ||
      !job->metrics || !m)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < n; i++) {
    Shimkit__Ml__V1__Job__HyperparametersEntry init = SHIMKIT__ML__V1__JOB__HYPERPARAMETERS_ENTRY__INIT;
    hp[i] = init;
    hp[i].key = (char *)s->params.items[i].key;
    hp[i].value = (char *)s->params.items[i].value;
    job->hyperparameters[i] = &hp[i];
  }
  job->n_hyperparameters = n;
  for (size_t i = 0; i < v->n_metrics; i++) {
    Shimkit__Ml__V1__Job__MetricsEntry init = SHIMKIT__ML__V1__JOB__METRICS_ENTRY__INIT;
    m[i] = init;
    m[i].key = shimkit_call_strdup(call, v->metrics[i].name);
    m[i].value = v->metrics[i].value;
    job->metrics[i] = &m[i];
  }
  job->n_metrics = v->n_metrics;
  return SHIMKIT_OK;
}
