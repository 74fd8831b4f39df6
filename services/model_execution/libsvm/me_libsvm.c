/*
 * me_libsvm.c - the libsvm runtime: svm_load_model() reads the artifact,
 * each dense row becomes libsvm's sparse nodes (zeros left out, 1-based
 * indexes), and svm_predict() or svm_predict_probability() (models trained
 * with probability estimates) gives the label. A libsvm model file does not
 * record its feature count: the repository's input schema says it.
 */
#include "me_libsvm.h"

#include <libsvm/svm.h>
#include <stdlib.h>

static void *svm_rt_load(const char *path, me_err *err) {
  struct svm_model *m = svm_load_model(path);
  if (!m) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION,
            "libsvm svm_load_model() cannot read the artifact: not a libsvm model file");
    return NULL;
  }
  int n = svm_get_nr_class(m);
  int type = svm_get_svm_type(m);
  if ((type == C_SVC || type == NU_SVC) && (n < 1 || n > ME_MAX_CLASSES)) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION, "libsvm model has %d classes: not servable", n);
    svm_free_and_destroy_model(&m);
    return NULL;
  }
  return m;
}

static void svm_rt_unload(void *model) {
  struct svm_model *m = model;
  svm_free_and_destroy_model(&m);
}

static size_t svm_rt_n_features(const void *model) {
  (void)model;
  return 0;
}

static size_t svm_rt_classes(const void *model, double *labels) {
  int n = svm_get_nr_class(model), type = svm_get_svm_type(model);
  if (type != C_SVC && type != NU_SVC) return 1; /* regression and one-class: one value per row */
  int ids[ME_MAX_CLASSES];
  svm_get_labels(model, ids);
  for (int i = 0; i < n; i++)
    labels[i] = ids[i];
  return (size_t)n;
}

static bool svm_rt_has_probability(const void *model) {
  return svm_check_probability_model(model) != 0;
}

static int svm_rt_predict(const void *model, const double *x, size_t n_rows, size_t nf, double *labels,
                          double *probs, me_err *err) {
  const struct svm_model *m = model;
  size_t n_classes = (size_t)svm_get_nr_class(m);
  struct svm_node *nodes = malloc((nf + 1) * sizeof *nodes);
  if (!nodes) return me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for a row of %zu features", nf);
  for (size_t i = 0; i < n_rows; i++) {
    const double *row = x + i * nf;
    size_t k = 0;
    for (size_t j = 0; j < nf; j++) {
      if (row[j] == 0) continue;
      nodes[k].index = (int)j + 1;
      nodes[k++].value = row[j];
    }
    nodes[k].index = -1;
    labels[i] = probs ? svm_predict_probability(m, nodes, probs + i * n_classes) : svm_predict(m, nodes);
  }
  free(nodes);
  return 0;
}

const me_runtime_ops me_libsvm = {.framework = "libsvm",
                                  .load = svm_rt_load,
                                  .unload = svm_rt_unload,
                                  .n_features = svm_rt_n_features,
                                  .classes = svm_rt_classes,
                                  .has_probability = svm_rt_has_probability,
                                  .predict = svm_rt_predict};
