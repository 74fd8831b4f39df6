/*
 * tr_fsread.h - the dataset of a job that names a feature view: the view's
 * schema from FeatureStore.GetFeatureView, then its rows from
 * FeatureStore.ReadView, through the generated client stubs.
 *
 * Columns: spec->feature_names, or every feature of the view but the label
 * in the view's order. INT64, DOUBLE and BOOL features are numbers; a
 * STRING column fails the job. A feature a row lacks is 0 (the sparse
 * convention of liblinear and libsvm); a row without a label fails the job.
 */
#ifndef TR_FSREAD_H
#define TR_FSREAD_H

#include "tr_jobs.h"
#include "tr_service.h"

/* 0 and *d; -1 with err; -2 when the job was cancelled during the read. */
int tr_fs_read(const tr_service *svc, tr_job *job, const tr_spec *spec, tr_dataset *d, tr_err *err);

#endif /* TR_FSREAD_H */
