/*
 * tr_spec.c - see tr_spec.h.
 */
#include "tr_spec.h"

#include <stdlib.h>

tr_spec *tr_spec_new(void) { return calloc(1, sizeof(tr_spec)); }

void tr_spec_drop_rows(tr_spec *spec) {
  if (!spec || !spec->rows) return;
  for (size_t i = 0; i < spec->n_rows; i++) free(spec->rows[i].values);
  free(spec->rows);
  spec->rows = NULL;
}

void tr_spec_free(tr_spec *spec) {
  if (!spec) return;
  tr_spec_drop_rows(spec);
  for (size_t i = 0; i < spec->params.n; i++) {
    free((char *)spec->params.items[i].key);
    free((char *)spec->params.items[i].value);
  }
  free((tr_param *)spec->params.items);
  for (size_t i = 0; i < spec->n_feature_names; i++) free(spec->feature_names[i]);
  free(spec->feature_names);
  free(spec->algorithm);
  free(spec->model_name);
  free(spec->description);
  free(spec->view);
  free(spec->label);
  free(spec);
}
