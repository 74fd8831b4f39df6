/*
 * tr_fsread.c - see tr_fsread.h. The schema is checked before any row is
 * read, so a wrong label or feature name fails fast and says what the view
 * has.
 */
#include "tr_fsread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/v1/feature_store.shimkit.h"
#include "tr_dataset.h"

#define TR_FS_TIMEOUT_MS 30000
#define TR_FS_READ_TIMEOUT_MS (30 * 60 * 1000)

static const Shimkit__Ml__V1__FeatureSpec *tr_view_feature(const Shimkit__Ml__V1__FeatureView *v, const char *name) {
  for (size_t i = 0; i < v->n_features; i++)
    if (strcmp(v->features[i]->name, name) == 0) return v->features[i];
  return NULL;
}

/* "a, b, c" of the view's features, for messages. */
static void tr_view_names(const Shimkit__Ml__V1__FeatureView *v, char *buf, size_t cap) {
  buf[0] = 0;
  for (size_t i = 0; i < v->n_features; i++) {
    size_t used = strlen(buf);
    if (used + 1 >= cap) break;
    snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", v->features[i]->name);
  }
}

static int tr_numeric(const Shimkit__Ml__V1__FeatureSpec *f, const char *view, tr_err *err) {
  if (f->type == SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_STRING)
    return tr_fail(err, "feature \"%s\" of view \"%s\" holds strings; training needs numbers", f->name, view);
  return 0;
}

/* The columns to train on, as pointers into v (borrowed). */
static int tr_columns(const tr_spec *spec, const Shimkit__Ml__V1__FeatureView *v, const char **cols, size_t *n,
                      tr_err *err) {
  char names[400];
  *n = 0;
  const Shimkit__Ml__V1__FeatureSpec *label = tr_view_feature(v, spec->label);
  if (!label) {
    tr_view_names(v, names, sizeof names);
    return tr_fail(err, "feature view \"%s\" has no label column \"%s\" (its features: %s)", spec->view,
                   spec->label, names);
  }
  if (tr_numeric(label, spec->view, err) != 0) return -1;
  for (size_t i = 0; i < (spec->n_feature_names ? spec->n_feature_names : v->n_features); i++) {
    const Shimkit__Ml__V1__FeatureSpec *f =
        spec->n_feature_names ? tr_view_feature(v, spec->feature_names[i]) : v->features[i];
    if (!f) {
      tr_view_names(v, names, sizeof names);
      return tr_fail(err, "feature view \"%s\" has no feature \"%s\" (its features: %s)", spec->view,
                     spec->feature_names[i], names);
    }
    if (f == label) {
      if (spec->n_feature_names) return tr_fail(err, "the label column \"%s\" is also listed as a feature", spec->label);
      continue;
    }
    if (tr_numeric(f, spec->view, err) != 0) return -1;
    cols[(*n)++] = f->name;
  }
  return 0;
}

static int tr_value(const Shimkit__Ml__V1__FeatureValue *v, double *out) {
  switch (v->kind_case) {
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE: *out = (double)v->int64_value; return 0;
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE: *out = v->double_value; return 0;
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_BOOL_VALUE: *out = v->bool_value ? 1 : 0; return 0;
    default: return -1;
  }
}

/* One ReadView row into d (values is scratch of d->n_features). */
static int tr_add_row(tr_dataset *d, const tr_spec *spec, const Shimkit__Ml__V1__FeatureRow *row, double *values,
                      tr_err *err) {
  bool has_label = false;
  double label = 0;
  memset(values, 0, d->n_features * sizeof *values);
  for (size_t i = 0; i < row->n_values; i++) {
    const char *key = row->values[i]->key;
    double x;
    if (!row->values[i]->value || tr_value(row->values[i]->value, &x) != 0)
      return tr_fail(err, "entity \"%.100s\": feature \"%.100s\" is not a number", row->entity_key, key);
    if (strcmp(key, spec->label) == 0) {
      has_label = true;
      label = x;
      continue;
    }
    for (size_t j = 0; j < d->n_features; j++)
      if (strcmp(d->feature_names[j], key) == 0) values[j] = x;
  }
  if (!has_label)
    return tr_fail(err, "entity \"%.100s\" has no value in the label column \"%s\"", row->entity_key, spec->label);
  return tr_dataset_add(d, label, values, err);
}

static int tr_read_rows(const tr_service *svc, tr_job *job, const tr_spec *spec, const char **cols, size_t n,
                        tr_dataset *d, tr_err *err) {
  char **names = calloc(n + 1, sizeof *names);
  if (!names) return tr_fail(err, "out of memory");
  for (size_t i = 0; i < n; i++) names[i] = (char *)cols[i];
  names[n] = spec->label;
  Shimkit__Ml__V1__ReadViewRequest req = SHIMKIT__ML__V1__READ_VIEW_REQUEST__INIT;
  req.view = spec->view;
  req.n_feature_names = n + 1;
  req.feature_names = names;
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = TR_FS_READ_TIMEOUT_MS, .status_out = &st};
  shimkit_client_call *call = shimkit__ml__v1__feature_store__shimkit_read_view_start(svc->fs, &req, &opts);
  free(names); /* the stub has sent the request */
  if (!call) return tr_fail(err, "out of memory starting FeatureStore.ReadView");
  double *values = malloc(n * sizeof *values);
  int rc = values ? 0 : tr_fail(err, "out of memory");
  Shimkit__Ml__V1__FeatureRow *row;
  while (rc == 0 && shimkit__ml__v1__feature_store__shimkit_read_view_recv(call, &row) == 1) {
    rc = tr_add_row(d, spec, row, values, err);
    protobuf_c_message_free_unpacked(&row->base, NULL);
    if (rc == 0 && d->n_rows % 1024 == 0 && tr_job_cancelled(job)) rc = -2;
  }
  if (rc != 0) shimkit_client_call_cancel(call);
  shimkit_code code = shimkit_client_call_finish(call);
  if (rc == 0 && code != SHIMKIT_OK) rc = tr_fail_rpc(err, "FeatureStore", svc->fs_addr, "ReadView", code, &st);
  shimkit_status_clear(&st);
  free(values);
  return rc;
}

int tr_fs_read(const tr_service *svc, tr_job *job, const tr_spec *spec, tr_dataset *d, tr_err *err) {
  memset(d, 0, sizeof *d);
  if (!svc->fs) return tr_fail(err, "this training shim has no --feature-store to read view \"%s\" from", spec->view);
  Shimkit__Ml__V1__GetFeatureViewRequest req = SHIMKIT__ML__V1__GET_FEATURE_VIEW_REQUEST__INIT;
  req.name = spec->view;
  Shimkit__Ml__V1__FeatureView *view = NULL;
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = TR_FS_TIMEOUT_MS, .status_out = &st};
  shimkit_code code = shimkit__ml__v1__feature_store__shimkit_get_feature_view(svc->fs, &req, &view, &opts);
  if (code == SHIMKIT_NOT_FOUND) {
    tr_fail(err, "feature view \"%s\" does not exist in the FeatureStore at %s", spec->view, svc->fs_addr);
  } else if (code != SHIMKIT_OK) {
    tr_fail_rpc(err, "FeatureStore", svc->fs_addr, "GetFeatureView", code, &st);
  }
  shimkit_status_clear(&st);
  if (code != SHIMKIT_OK) return -1;
  int rc = -1;
  const char **cols = calloc(view->n_features + 1, sizeof *cols);
  size_t n = 0;
  if (!cols) {
    tr_fail(err, "out of memory");
  } else if (tr_columns(spec, view, cols, &n, err) == 0) {
    if (n == 0) {
      tr_fail(err, "feature view \"%s\" has no feature besides the label \"%s\"", spec->view, spec->label);
    } else if (tr_dataset_init(d, (char *const *)cols, n, err) == 0) {
      rc = tr_read_rows(svc, job, spec, cols, n, d, err);
    }
  }
  free(cols);
  protobuf_c_message_free_unpacked(&view->base, NULL);
  return rc;
}
