/*
 * me_liblinear.c - the liblinear runtime: load_model() reads the artifact,
 * each dense row becomes liblinear's sparse nodes (zeros left out, 1-based
 * indexes, the bias node the model was trained with), and predict() or
 * predict_probability() (logistic-regression solvers only) gives the label.
 */
#include "me_liblinear.h"

#include <linear.h>
#include <stdlib.h>

static void *ll_load(const char *path, me_err *err) {
  struct model *m = load_model(path);
  if (!m) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION,
            "liblinear load_model() cannot read the artifact: not a liblinear model file");
    return NULL;
  }
  if (get_nr_class(m) < 1 || get_nr_class(m) > ME_MAX_CLASSES || get_nr_feature(m) < 0) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION, "liblinear model has %d classes and %d features: not servable",
            get_nr_class(m), get_nr_feature(m));
    free_and_destroy_model(&m);
    return NULL;
  }
  return m;
}

static void ll_unload(void *model) {
  struct model *m = model;
  free_and_destroy_model(&m);
}

static size_t ll_n_features(const void *model) {
  return (size_t)get_nr_feature(model);
}

static size_t ll_classes(const void *model, double *labels) {
  int n = get_nr_class(model), ids[ME_MAX_CLASSES];
  get_labels(model, ids);
  for (int i = 0; i < n; i++)
    labels[i] = ids[i];
  return (size_t)n;
}

static bool ll_has_probability(const void *model) {
  return check_probability_model(model) != 0;
}

static int ll_predict(const void *model, const double *x, size_t n_rows, size_t nf, double *labels,
                      double *probs, me_err *err) {
  const struct model *m = model;
  size_t used =
      nf < (size_t)get_nr_feature(m) ? nf : (size_t)get_nr_feature(m); /* extra columns carry no weight */
  size_t n_classes = (size_t)get_nr_class(m);
  struct feature_node *nodes = malloc((used + 2) * sizeof *nodes);
  if (!nodes) return me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for a row of %zu features", nf);
  for (size_t i = 0; i < n_rows; i++) {
    const double *row = x + i * nf;
    size_t k = 0;
    for (size_t j = 0; j < used; j++) {
      if (row[j] == 0) continue;
      nodes[k].index = (int)j + 1;
      nodes[k++].value = row[j];
    }
    if (m->bias >= 0) {
      nodes[k].index = get_nr_feature(m) + 1;
      nodes[k++].value = m->bias;
    }
    nodes[k].index = -1;
    labels[i] = probs ? predict_probability(m, nodes, probs + i * n_classes) : predict(m, nodes);
  }
  free(nodes);
  return 0;
}

const me_runtime_ops me_liblinear = {.framework = "liblinear",
                                     .load = ll_load,
                                     .unload = ll_unload,
                                     .n_features = ll_n_features,
                                     .classes = ll_classes,
                                     .has_probability = ll_has_probability,
                                     .predict = ll_predict};
