/*
 * mr_ingest.h - an artifact arriving in chunks (UploadVersion, Import): the
 * bytes go to the back end's upload while their sha256 and size are
 * computed; the version is committed only when both match what the client
 * declared. Any other ending aborts the upload, so nothing is stored.
 */
#ifndef MR_INGEST_H
#define MR_INGEST_H

#include "mr_service.h"
#include "shim_sha256.h"

typedef struct mr_ingest {
  const mr_service *svc; /* back end and limits */
  void *upload;          /* the back end's upload handle; NULL once committed or aborted */
  shim_sha256 *md;       /* running sha256 */
  uint64_t bytes;        /* bytes received so far */
  const char *model;     /* for messages (borrowed) */
} mr_ingest;

/* Starts an upload for model; on failure ends the call (nothing to abort). */
shimkit_code mr_ingest_begin(shimkit_call *call, const mr_service *svc, const char *model, mr_ingest *in);
/* Appends bytes; on failure ends the call (the caller still aborts). */
shimkit_code mr_ingest_write(shimkit_call *call, mr_ingest *in, const uint8_t *data, size_t len);
/*
 * Checks the sha256 (v->sha256) and size (v->size_bytes, 0 = not declared)
 * and commits with the metadata in *v; v->size_bytes and v->version are set
 * on success. The upload is consumed either way. With taken not NULL, a
 * back end that answers MR_EXISTS (the version number is taken) does not
 * end the call: *taken is set to 1 and SHIMKIT_OK returned, for the caller
 * to decide (Import); otherwise *taken is 0.
 */
shimkit_code mr_ingest_commit(shimkit_call *call, mr_ingest *in, mr_version *v, int64_t now_ns, int *taken);
/* Drops whatever arrived. Accepts an ingest that never began or already ended. */
void mr_ingest_abort(mr_ingest *in);

#endif /* MR_INGEST_H */
