/*
 * me_service.h - the state of one model execution shim: the repository
 * client, the runtimes it can load, and the loaded models. The handlers
 * (me_handlers.c, me_infer.c, me_repository.c) get it as user data.
 */
#ifndef ME_SERVICE_H
#define ME_SERVICE_H

#include <pthread.h>
#include <shimkit/client.h>

#include "me_models.h"
#include "me_runtime.h"

#define ME_REPO_TIMEOUT_MS 30000
#define ME_MAX_ARTIFACT_BYTES ((uint64_t)1 << 30) /* larger artifacts are refused */

typedef struct me_service {
  const char *repo_addr;                 /* ModelRepository target, for messages */
  shimkit_channel *repo;                 /* channel to it */
  const char *tmp_dir;                   /* where artifacts land before the runtime loads them */
  const me_runtime_ops *const *runtimes; /* the runtimes this shim has, by framework */
  size_t n_runtimes;
  me_models *models;       /* what is loaded */
  pthread_mutex_t load_mu; /* one fetch + load at a time: no model loaded twice */
} me_service;

/* The runtime for framework, or NULL. */
const me_runtime_ops *me_service_runtime(const me_service *svc, const char *framework);

/*
 * Fetches name at version (0 with alias NULL = the latest READY version;
 * or through alias) from the repository, checks its sha256, loads it with
 * its framework's runtime and adds it to the table, unless it is loaded
 * already. Returns the model with a reference the caller releases, or NULL
 * with err: NOT_FOUND, UNAVAILABLE (repository unreachable),
 * FAILED_PRECONDITION (no runtime, bad artifact), DATA_LOSS (checksum),
 * RESOURCE_EXHAUSTED (table full).
 */
me_model *me_service_load(me_service *svc, const char *name, uint64_t version, const char *alias,
                          me_err *err);

/* The loaded model, loading it on demand (version 0 = highest loaded, else latest READY). NULL + err. */
me_model *me_service_get(me_service *svc, const char *name, uint64_t version, me_err *err);

/* Parses a protocol version string: "" = 0, "3" = 3. -1 with err INVALID_ARGUMENT. */
int me_parse_version(const char *s, uint64_t *version, me_err *err);

#endif /* ME_SERVICE_H */
