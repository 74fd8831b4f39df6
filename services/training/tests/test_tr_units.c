/*
 * test_tr_units.c - cmocka units of the Training shim with the native layer
 * faked: the job state machine, the job table with a fake runner (queue,
 * cancel while queued and while running, outcomes, the abort hook of a
 * runner blocked in a call, the end callback, cancel on free), and hyper-parameter
 * parsing of every back end (headers only, no library call; xgboost's
 * parser needs no XGBoost at all), the class labels of a dataset, and its
 * sparse rows for liblinear and libsvm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "liblinear/ll_params.h"
#include "libsvm/svm_params.h"
#include "tr_dataset.h"
#include "tr_jobs.h"
#include "tr_sparse.h"
#include "xgboost/xgb_params.h"

static void test_state_machine(void **state) {
  (void)state;
  assert_int_equal(tr_state_next(TR_QUEUED, TR_EV_START), TR_RUNNING);
  assert_int_equal(tr_state_next(TR_QUEUED, TR_EV_CANCEL), TR_CANCELLED);
  assert_int_equal(tr_state_next(TR_QUEUED, TR_EV_SUCCEED), TR_STATE_NONE);
  assert_int_equal(tr_state_next(TR_RUNNING, TR_EV_SUCCEED), TR_SUCCEEDED);
  assert_int_equal(tr_state_next(TR_RUNNING, TR_EV_FAIL), TR_FAILED);
  assert_int_equal(tr_state_next(TR_RUNNING, TR_EV_CANCEL), TR_CANCELLED);
  assert_int_equal(tr_state_next(TR_RUNNING, TR_EV_START), TR_STATE_NONE);
  for (tr_state s = TR_SUCCEEDED; s <= TR_CANCELLED; s++)
    for (tr_event e = TR_EV_START; e <= TR_EV_CANCEL; e++) assert_int_equal(tr_state_next(s, e), TR_STATE_NONE);
}

/* A runner that waits for a gate, steps once, then ends as told by the model name. */
static void nap(void) {
  struct timespec ts = {0, 1000000};
  nanosleep(&ts, NULL);
}

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static int gate_open;

static void fake_run(tr_job *job, const tr_spec *spec, void *ctx, tr_outcome *out) {
  (void)ctx;
  for (;;) {
    pthread_mutex_lock(&gate_mu);
    int open = gate_open;
    pthread_mutex_unlock(&gate_mu);
    if (open) break;
    nap();
  }
  if (!tr_job_step(job, 0.5, "half")) {
    out->state = TR_CANCELLED;
    return;
  }
  tr_job_metric(job, "rows", 3);
  if (strcmp(spec->model_name, "fail") == 0) {
    out->state = TR_FAILED;
    strcpy(out->reason, "fake failure");
  } else {
    out->state = TR_SUCCEEDED;
    out->model_version = 7;
  }
}

static tr_spec *spec_named(const char *name) {
  tr_spec *s = tr_spec_new();
  s->model_name = strdup(name);
  return s;
}

static tr_job_view wait_final(tr_jobs *jobs, const char *id) {
  tr_job_view v;
  assert_int_equal(tr_jobs_get(jobs, id, &v), 0);
  while (!tr_state_final(v.state)) assert_true(tr_jobs_wait(jobs, id, v.revision, 1000, &v) >= 0);
  return v;
}

static void test_jobs_lifecycle(void **state) {
  (void)state;
  gate_open = 0;
  tr_jobs_config cfg = {.workers = 1, .max_queued = 2, .max_jobs = 10, .run = fake_run};
  tr_jobs *jobs = tr_jobs_new(&cfg);
  assert_non_null(jobs);
  tr_job_view a, b, c, v;
  assert_int_equal(tr_jobs_submit(jobs, spec_named("ok"), &a), 0);
  /* "job-<8 hex digits of this table>-1" */
  assert_int_equal(strlen(a.id), strlen("job-") + TR_INSTANCE_LEN + strlen("-1"));
  assert_int_equal(strncmp(a.id, "job-", 4), 0);
  assert_string_equal(a.id + 4 + TR_INSTANCE_LEN, "-1");
  assert_int_equal(a.state, TR_QUEUED);
  while (tr_jobs_get(jobs, a.id, &v) == 0 && v.state != TR_RUNNING) nap();
  assert_int_equal(tr_jobs_submit(jobs, spec_named("fail"), &b), 0);
  assert_int_equal(tr_jobs_submit(jobs, spec_named("ok"), &c), 0);
  tr_spec *extra = spec_named("x");
  assert_int_equal(tr_jobs_submit(jobs, extra, &v), -1); /* queue of 2 is full */
  tr_spec_free(extra);
  /* Cancel while queued: at once. */
  assert_int_equal(tr_jobs_cancel(jobs, c.id, &v), 0);
  assert_int_equal(v.state, TR_CANCELLED);
  /* Cancel while running: flagged; the runner stops at its next step. */
  assert_int_equal(tr_jobs_cancel(jobs, a.id, &v), 0);
  assert_int_equal(v.state, TR_RUNNING);
  assert_true(v.cancel_requested);
  pthread_mutex_lock(&gate_mu);
  gate_open = 1;
  pthread_mutex_unlock(&gate_mu);
  assert_int_equal(wait_final(jobs, a.id).state, TR_CANCELLED);
  v = wait_final(jobs, b.id);
  assert_int_equal(v.state, TR_FAILED);
  assert_string_equal(v.failure_reason, "fake failure");
  assert_int_equal(v.n_metrics, 1);
  /* Ids this table never issued: another number, another instance, no instance. */
  char other[TR_ID_MAX];
  snprintf(other, sizeof other, "%.*s0", 5 + TR_INSTANCE_LEN, a.id);
  assert_int_equal(tr_jobs_get(jobs, other, &v), -1);
  snprintf(other, sizeof other, "%.*s01", 5 + TR_INSTANCE_LEN, a.id);
  assert_int_equal(tr_jobs_get(jobs, other, &v), -1);
  snprintf(other, sizeof other, "%.*s4", 5 + TR_INSTANCE_LEN, a.id);
  assert_int_equal(tr_jobs_get(jobs, other, &v), -1);
  snprintf(other, sizeof other, "job-%c%s", a.id[4] == 'f' ? '0' : 'f', a.id + 5);
  assert_int_equal(tr_jobs_get(jobs, other, &v), -1);
  assert_int_equal(tr_jobs_get(jobs, "job-1", &v), -1);
  assert_int_equal(tr_jobs_cancel(jobs, "nope", &v), -1);
  tr_job_view list[5];
  size_t total;
  assert_int_equal(tr_jobs_list(jobs, 1, 5, list, &total), 2);
  assert_int_equal(total, 3);
  /* A finished job stays as it is when cancelled. */
  assert_int_equal(tr_jobs_cancel(jobs, b.id, &v), 0);
  assert_int_equal(v.state, TR_FAILED);
  tr_jobs_free(jobs);
}

static void test_jobs_success(void **state) {
  (void)state;
  gate_open = 1;
  tr_jobs_config cfg = {.workers = 2, .max_queued = 4, .max_jobs = 10, .run = fake_run};
  tr_jobs *jobs = tr_jobs_new(&cfg);
  tr_job_view v;
  assert_int_equal(tr_jobs_submit(jobs, spec_named("ok"), &v), 0);
  v = wait_final(jobs, v.id);
  assert_int_equal(v.state, TR_SUCCEEDED);
  assert_int_equal(v.model_version, 7);
  assert_true(v.progress == 1.0);
  assert_true(v.finished.tv_sec >= v.started.tv_sec && v.started.tv_sec > 0);
  tr_jobs_free(jobs);
  tr_jobs_free(NULL);
}

/* A runner blocked "in a call" until its abort hook runs, as tr_register is. */
static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static int block_armed, block_aborts, block_refused;
static int ended_n;
static char ended_log[4][TR_ERR_MAX + 64];

static void block_abort(void *arg) { (*(int *)arg)++; /* under the jobs' lock */ }

static void block_run(tr_job *job, const tr_spec *spec, void *ctx, tr_outcome *out) {
  (void)spec;
  (void)ctx;
  out->state = TR_CANCELLED;
  if (!tr_job_set_abort(job, block_abort, &block_aborts)) return;
  pthread_mutex_lock(&block_mu);
  block_armed++;
  pthread_mutex_unlock(&block_mu);
  while (!tr_job_cancelled(job)) nap();
  tr_job_set_abort(job, NULL, NULL);
  if (tr_job_set_abort(job, block_abort, &block_aborts)) block_refused = -1; /* must refuse once cancelled */
}

static void record_end(const tr_job_view *v, void *ctx) {
  (void)ctx;
  if (ended_n < 4) snprintf(ended_log[ended_n++], sizeof ended_log[0], "%s %s: %s", v->id, tr_state_name(v->state),
                            v->failure_reason);
}

static void wait_armed(int n) {
  for (;;) {
    pthread_mutex_lock(&block_mu);
    int armed = block_armed;
    pthread_mutex_unlock(&block_mu);
    if (armed >= n) return;
    nap();
  }
}

static void test_jobs_abort_and_stop(void **state) {
  (void)state;
  tr_jobs_config cfg = {.workers = 1, .max_queued = 4, .max_jobs = 10, .run = block_run, .ended = record_end};
  tr_jobs *jobs = tr_jobs_new(&cfg);
  assert_non_null(jobs);
  tr_job_view v, a, b, c;
  assert_int_equal(tr_jobs_submit(jobs, spec_named("a"), &a), 0);
  wait_armed(1);
  assert_int_equal(tr_jobs_cancel(jobs, a.id, &v), 0);
  v = wait_final(jobs, a.id);
  assert_int_equal(v.state, TR_CANCELLED);
  assert_string_equal(v.failure_reason, "cancelled by CancelJob while running");
  assert_int_equal(tr_jobs_submit(jobs, spec_named("b"), &b), 0);
  wait_armed(2);
  assert_int_equal(tr_jobs_submit(jobs, spec_named("c"), &c), 0);
  tr_jobs_get(jobs, c.id, &v);
  assert_int_equal(v.state, TR_QUEUED);
  char expect[3][TR_ID_MAX + 64];
  snprintf(expect[0], sizeof expect[0], "%s CANCELLED: cancelled by CancelJob while running", a.id);
  snprintf(expect[1], sizeof expect[1], "%s CANCELLED: the shim stopped while queued", c.id);
  snprintf(expect[2], sizeof expect[2], "%s CANCELLED: the shim stopped while running", b.id);
  tr_jobs_free(jobs); /* cancels b through its hook, c at once; the workers are joined (a.id etc. are gone) */
  assert_int_equal(block_aborts, 2);
  assert_int_equal(block_refused, 0);
  assert_int_equal(ended_n, 3);
  for (int i = 0; i < 3; i++) assert_string_equal(ended_log[i], expect[i]);
}

/* Two tables (two replicas of a set) never issue the same id, and neither knows the other's jobs. */
static void test_jobs_ids_differ_between_tables(void **state) {
  (void)state;
  gate_open = 1;
  tr_jobs_config cfg = {.workers = 1, .max_queued = 4, .max_jobs = 10, .run = fake_run};
  tr_jobs *one = tr_jobs_new(&cfg), *two = tr_jobs_new(&cfg);
  assert_non_null(one);
  assert_non_null(two);
  tr_job_view a, b, v;
  assert_int_equal(tr_jobs_submit(one, spec_named("ok"), &a), 0);
  assert_int_equal(tr_jobs_submit(two, spec_named("ok"), &b), 0);
  assert_string_not_equal(a.id, b.id);
  assert_int_equal(tr_jobs_get(one, a.id, &v), 0);
  assert_int_equal(tr_jobs_get(one, b.id, &v), -1);
  assert_int_equal(tr_jobs_get(two, a.id, &v), -1);
  assert_int_equal(tr_jobs_cancel(two, a.id, &v), -1);
  tr_jobs_free(one);
  tr_jobs_free(two);
}

static tr_params params_of(const tr_param *items, size_t n) { return (tr_params){.n = n, .items = items}; }

static void test_liblinear_params(void **state) {
  (void)state;
  struct parameter p;
  double bias;
  tr_err err;
  tr_params none = params_of(NULL, 0);
  assert_int_equal(ll_params_parse(&none, &p, &bias, &err), 0);
  assert_int_equal(p.solver_type, L2R_L2LOSS_SVC_DUAL);
  assert_true(p.C == 1 && p.eps == 0.1 && bias == -1);
  const tr_param lr[] = {{"solver", "L2R_LR"}, {"C", "0.5"}, {"bias", "1"}};
  tr_params plr = params_of(lr, 3);
  assert_int_equal(ll_params_parse(&plr, &p, &bias, &err), 0);
  assert_int_equal(p.solver_type, L2R_LR);
  assert_true(p.C == 0.5 && p.eps == 0.01 && bias == 1);
  const tr_param twice[] = {{"C", "0"}, {"C", "2"}}; /* a map key sent twice: the last wins */
  tr_params ptwice = params_of(twice, 2);
  assert_int_equal(ll_params_parse(&ptwice, &p, &bias, &err), 0);
  assert_true(p.C == 2);
  const tr_param bad[][1] = {{{"solver", "magic"}}, {{"C", "0"}}, {{"C", "1x"}}, {{"eps", "nan"}}, {{"gamma", "1"}}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tr_params pb = params_of(bad[i], 1);
    assert_int_equal(ll_params_parse(&pb, &p, &bias, &err), -1);
    assert_non_null(strstr(err.msg, bad[i][0].key));
  }
}

static void test_libsvm_params(void **state) {
  (void)state;
  struct svm_parameter p;
  tr_err err;
  tr_params none = params_of(NULL, 0);
  assert_int_equal(svm_params_parse(&none, &p, &err), 0);
  assert_true(p.svm_type == C_SVC && p.kernel_type == RBF && p.gamma == 0 && p.C == 1 && p.probability == 0);
  const tr_param ok[] = {{"kernel", "poly"}, {"degree", "2"}, {"gamma", "0.5"}, {"probability", "true"}};
  tr_params pok = params_of(ok, 4);
  assert_int_equal(svm_params_parse(&pok, &p, &err), 0);
  assert_true(p.kernel_type == POLY && p.degree == 2 && p.gamma == 0.5 && p.probability == 1);
  const tr_param bad[][1] = {{{"kernel", "magic"}}, {{"degree", "0"}}, {{"probability", "maybe"}}, {{"solver", "x"}}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tr_params pb = params_of(bad[i], 1);
    assert_int_equal(svm_params_parse(&pb, &p, &err), -1);
    assert_non_null(strstr(err.msg, bad[i][0].key));
  }
}

static void test_xgboost_params(void **state) {
  (void)state;
  xgb_params p;
  xgb_objective o;
  tr_err err;
  tr_params none = params_of(NULL, 0);
  assert_int_equal(xgb_params_parse(&none, &p, &err), 0);
  assert_true(p.objective == XGB_OBJ_AUTO && p.num_round == 10 && p.max_depth == 6 && p.eta == 0.3);
  assert_true(p.subsample == 1 && p.lambda == 1 && p.alpha == 0 && p.nthread == 1 && p.seed == 0);
  assert_string_equal(p.tree_method, "auto");
  assert_int_equal(xgb_params_objective(&p, 2, &o, &err), 0);
  assert_int_equal(o, XGB_OBJ_BINARY_LOGISTIC);
  assert_int_equal(xgb_params_objective(&p, 5, &o, &err), 0);
  assert_int_equal(o, XGB_OBJ_MULTI_SOFTPROB);
  assert_string_equal(xgb_objective_name(o), "multi:softprob");

  const tr_param ok[] = {{"objective", "Multi:SoftMax"}, {"num_round", "100000"}, {"max_depth", "1"},
                         {"eta", "1"},          {"subsample", "0.25"}, {"colsample_bytree", "0.5"},
                         {"lambda", "0"},       {"alpha", "2.5"},     {"gamma", "0"},
                         {"min_child_weight", "0"}, {"scale_pos_weight", "3"}, {"tree_method", "HIST"},
                         {"seed", "42"},        {"nthread", "2"}};
  tr_params pok = params_of(ok, sizeof ok / sizeof ok[0]);
  assert_int_equal(xgb_params_parse(&pok, &p, &err), 0);
  assert_int_equal(p.objective, XGB_OBJ_MULTI_SOFTMAX);
  assert_true(p.num_round == 100000 && p.max_depth == 1 && p.eta == 1 && p.subsample == 0.25);
  assert_true(p.colsample_bytree == 0.5 && p.lambda == 0 && p.alpha == 2.5 && p.scale_pos_weight == 3);
  assert_true(p.seed == 42 && p.nthread == 2);
  assert_string_equal(p.tree_method, "hist");
  assert_int_equal(xgb_params_objective(&p, 2, &o, &err), 0);
  assert_int_equal(o, XGB_OBJ_MULTI_SOFTMAX);

  const tr_param binary[] = {{"objective", "binary:hinge"}};
  tr_params pbin = params_of(binary, 1);
  assert_int_equal(xgb_params_parse(&pbin, &p, &err), 0);
  assert_int_equal(xgb_params_objective(&p, 3, &o, &err), -1);
  assert_non_null(strstr(err.msg, "binary:hinge needs 2 classes"));

  const tr_param bad[][1] = {{{"objective", "reg:squarederror"}}, {{"num_round", "0"}}, {{"num_round", "100001"}},
                             {{"max_depth", "0"}}, {{"eta", "0"}}, {{"eta", "1.01"}}, {{"subsample", "0"}},
                             {{"subsample", "1.5"}}, {{"colsample_bytree", "-1"}}, {{"lambda", "-0.1"}},
                             {{"alpha", "inf"}}, {{"gamma", ""}}, {{"min_child_weight", "-1"}},
                             {{"scale_pos_weight", "0"}}, {{"tree_method", "gpu_hist"}}, {{"seed", "-1"}},
                             {{"nthread", "0"}}, {{"num_class", "3"}}, {{"learning_rate", "0.1"}}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tr_params pb = params_of(bad[i], 1);
    assert_int_equal(xgb_params_parse(&pb, &p, &err), -1);
    assert_non_null(strstr(err.msg, bad[i][0].key));
  }
}

static void test_class_labels(void **state) {
  (void)state;
  double labels[] = {1, -1, 7, -1, 1, 3}, *classes = NULL;
  tr_dataset d = {.n_rows = 6, .n_features = 0, .labels = labels};
  size_t n = tr_dataset_class_labels(&d, &classes);
  assert_int_equal(n, 4);
  assert_true(classes[0] == -1 && classes[1] == 1 && classes[2] == 3 && classes[3] == 7);
  assert_int_equal(tr_dataset_classes(&d), 4);
  for (size_t i = 0; i < n; i++) assert_int_equal(tr_dataset_class_index(classes, n, classes[i]), i);
  free(classes);
  tr_dataset empty = {0};
  assert_int_equal(tr_dataset_class_labels(&empty, &classes), 0);
  assert_null(classes);
}

/* Zeros left out, 1-based indexes, the bias node only when asked for, -1 at the end of each row. */
static void test_sparse_rows(void **state) {
  (void)state;
  double x[] = {0, 2.5, 0, -1, 0, 0};
  double labels[] = {1, 2};
  tr_dataset d = {.n_rows = 2, .n_features = 3, .labels = labels, .x = x};
  tr_sparse sp;
  tr_err err;
  assert_int_equal(tr_sparse_build(&d, -1, "libsvm", &sp, &err), 0);
  assert_int_equal(sp.rows[0][0].index, 2);
  assert_true(sp.rows[0][0].value == 2.5);
  assert_int_equal(sp.rows[0][1].index, -1);
  assert_int_equal(sp.rows[1][0].index, 1);
  assert_true(sp.rows[1][0].value == -1);
  assert_int_equal(sp.rows[1][1].index, -1);
  tr_sparse_free(&sp);
  assert_int_equal(tr_sparse_build(&d, 0.5, "liblinear", &sp, &err), 0);
  assert_int_equal(sp.rows[0][1].index, 4);
  assert_true(sp.rows[0][1].value == 0.5);
  assert_int_equal(sp.rows[0][2].index, -1);
  assert_int_equal(sp.rows[1][1].index, 4);
  assert_int_equal(sp.rows[1][2].index, -1);
  tr_sparse_free(&sp);
  tr_sparse_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_machine),  cmocka_unit_test(test_jobs_lifecycle),
      cmocka_unit_test(test_jobs_success),   cmocka_unit_test(test_liblinear_params),
      cmocka_unit_test(test_libsvm_params),  cmocka_unit_test(test_jobs_abort_and_stop),
      cmocka_unit_test(test_jobs_ids_differ_between_tables),
      cmocka_unit_test(test_xgboost_params), cmocka_unit_test(test_class_labels),
      cmocka_unit_test(test_sparse_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
