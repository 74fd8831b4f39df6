/*
 * me_fetch.h - the ModelRepository client of the model execution shim,
 * through the generated stubs (proto/ml/v1/model_repository.proto):
 * resolve a version, download its artifact into a temporary file and check
 * its sha256 against the one the repository recorded.
 */
#ifndef ME_FETCH_H
#define ME_FETCH_H

#include <limits.h>
#include <stdint.h>

#include "me_service.h"
#include "ml/v1/model_repository.pb-c.h"

typedef struct me_fetched {
  Shimkit__Ml__V1__ModelVersion *mv; /* the version's metadata; free with protobuf_c_message_free_unpacked */
  char path[PATH_MAX];               /* the artifact; the caller unlinks it */
} me_fetched;

/*
 * Downloads name at version (or alias; both unset = latest READY) into a
 * temporary file in svc->tmp_dir. 0 and *out filled, or -1 with err (no
 * file left behind, out->mv NULL).
 */
int me_fetch(me_service *svc, const char *name, uint64_t version, const char *alias, me_fetched *out,
             me_err *err);

/* Maps a failed repository call onto err: unreachable = UNAVAILABLE, else its own code and message. */
int me_fetch_fail(const me_service *svc, const char *what, shimkit_code code, const shimkit_status *st,
                  me_err *err);

#endif /* ME_FETCH_H */
