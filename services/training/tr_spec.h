/*
 * tr_spec.h - what a job was asked to do: a heap copy of the SubmitJob
 * request, made by the handler (tr_convert.c) so that it outlives the call.
 * It never changes once the job is queued, so the runner reads it without
 * a lock; the inline rows are freed when the job ends (tr_spec_drop_rows).
 */
#ifndef TR_SPEC_H
#define TR_SPEC_H

#include <stddef.h>

#include "tr_trainer.h"

typedef enum tr_source {
  TR_SOURCE_VIEW = 1, /* read a feature view from the FeatureStore */
  TR_SOURCE_INLINE    /* rows sent with the request */
} tr_source;

typedef struct tr_row {
  double label;
  size_t n_values;
  double *values;
} tr_row;

typedef struct tr_spec {
  char *algorithm;       /* the back end's name */
  char *model_name;      /* registered under this name */
  char *description;     /* of the model version; may be "" */
  tr_params params;      /* items, keys and values heap-owned */
  tr_source source;
  char *view;            /* TR_SOURCE_VIEW: the feature view */
  char *label;           /* TR_SOURCE_VIEW: its label column */
  size_t n_feature_names;
  char **feature_names;  /* both sources: feature columns; empty = all (view) or f1..fn (inline) */
  size_t n_rows;         /* TR_SOURCE_INLINE */
  tr_row *rows;          /* TR_SOURCE_INLINE; NULL once dropped */
} tr_spec;

/* A zeroed spec on the heap; NULL when out of memory. */
tr_spec *tr_spec_new(void);

/* Frees spec and everything it holds. Accepts NULL. */
void tr_spec_free(tr_spec *spec);

/* Frees the inline rows (a finished job keeps only its description). */
void tr_spec_drop_rows(tr_spec *spec);

#endif /* TR_SPEC_H */
