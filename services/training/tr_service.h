/*
 * tr_service.h - one Training shim: its native trainer, the two services it
 * is a client of (FeatureStore for view datasets, ModelRepository for the
 * results) and its jobs. The handlers get it as user_data; the runner
 * (tr_run.c) as its context.
 */
#ifndef TR_SERVICE_H
#define TR_SERVICE_H

#include <shimkit/shimkit.h>

#include "tr_jobs.h"
#include "tr_trainer.h"

typedef struct tr_service {
  const tr_trainer_ops *trainer; /* --backend */
  shimkit_channel *repo;         /* --model-repository; never NULL */
  const char *repo_addr;
  shimkit_channel *fs;           /* --feature-store; NULL when not configured */
  const char *fs_addr;
  const char *tmp_dir;           /* where model files are written before upload */
  tr_jobs *jobs;
} tr_service;

/* The job runner: dataset, train, save, register. ctx is the tr_service. */
void tr_run(tr_job *job, const tr_spec *spec, void *ctx, tr_outcome *out);

/*
 * err->msg for a failed call to another service: "the ModelRepository at
 * ADDR is unreachable: ..." for UNAVAILABLE and DEADLINE_EXCEEDED, else
 * "<what> failed: CODE: message". Returns -1.
 */
int tr_fail_rpc(tr_err *err, const char *service, const char *addr, const char *what, shimkit_code code,
                const shimkit_status *status);

#endif /* TR_SERVICE_H */
