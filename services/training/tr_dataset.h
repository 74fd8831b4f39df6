/*
 * tr_dataset.h - building and checking the dense training set of a job
 * (tr_trainer.h's tr_dataset): rows appended one by one (from a ReadView
 * stream or the inline rows), then the checks every back end relies on.
 * Each failure is a sentence that becomes the job's failure_reason.
 *
 * Memory: a dataset owns its arrays; tr_dataset_free releases them (and
 * accepts a zeroed or partly built dataset).
 */
#ifndef TR_DATASET_H
#define TR_DATASET_H

#include "tr_spec.h"
#include "tr_trainer.h"

/* At most this many values (rows x features) in one job: 512 MiB of doubles. */
#define TR_MAX_CELLS ((size_t)64 * 1024 * 1024)

/* An empty dataset with these columns (names copied). */
int tr_dataset_init(tr_dataset *d, char *const *names, size_t n_features, tr_err *err);

/* Appends one row of d->n_features values (copied). */
int tr_dataset_add(tr_dataset *d, double label, const double *values, tr_err *err);

/*
 * The inline rows of spec: every row must have the same number of
 * features, and as many as spec->feature_names when names are given
 * (otherwise they are named f1..fn).
 */
int tr_dataset_from_inline(const tr_spec *spec, tr_dataset *d, tr_err *err);

/* Not empty, at least two classes, finite values. */
int tr_dataset_check(const tr_dataset *d, tr_err *err);

/* Number of distinct labels. */
size_t tr_dataset_classes(const tr_dataset *d);

/* The distinct labels, sorted, into *out (caller frees); their number, 0 when empty or out of memory. */
size_t tr_dataset_class_labels(const tr_dataset *d, double **out);

/* The position of label in classes (n sorted labels, as tr_dataset_class_labels gives). */
size_t tr_dataset_class_index(const double *classes, size_t n, double label);

void tr_dataset_free(tr_dataset *d);

#endif /* TR_DATASET_H */
