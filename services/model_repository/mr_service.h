/*
 * mr_service.h - the ModelRepository service of the shim: one handler table
 * (mr_handlers.c for unary RPCs, mr_upload.c, mr_download.c, mr_transfer.c
 * for the streams) shared by every back end. user_data of the table is an
 * mr_service.
 *
 * Status codes (the contract every back end keeps, see README.md):
 *   INVALID_ARGUMENT  bad names, missing fields, malformed sha256, bad page token
 *   NOT_FOUND         unknown model, version or alias (the message names it)
 *   ALREADY_EXISTS    CreateModel of a name in use (Import: model or version in use)
 *   DATA_LOSS         the uploaded bytes do not match the header's sha256 or size
 *   CANCELLED         the client went away mid-stream (nothing stored)
 *   UNAVAILABLE       the native service (PostgreSQL) cannot be reached now
 *   INTERNAL          the back end failed otherwise (I/O error, corrupt store)
 */
#ifndef MR_SERVICE_H
#define MR_SERVICE_H

#include <shimkit/shimkit.h>

#include "mr_backend.h"
#include "ml/v1/model_repository.shimkit.h"

#define MR_MAX_ARTIFACT_BYTES_DEFAULT ((uint64_t)4 << 30) /* 4 GiB */
#define MR_CHUNK_DEFAULT (64u * 1024u)
#define MR_CHUNK_MAX (1024u * 1024u)
#define MR_PAGE_DEFAULT 100u
#define MR_PAGE_MAX 1000u

/* What the handlers serve: a back end and the limits. */
typedef struct mr_service {
  mr_backend backend;          /* ops and handle; the service does not own it */
  uint64_t max_artifact_bytes; /* uploads above this fail RESOURCE_EXHAUSTED; 0 = default */
} mr_service;

extern const Shimkit__Ml__V1__ModelRepository_Handlers mr_handlers;

/* Registers the service with its back end. */
shimkit_code mr_service_register(shimkit_server *srv, mr_service *svc);

/* ---- shared by the handler files ---------------------------------------------- */

/* An arena drawing from the call's memory. */
mr_arena mr_call_arena(shimkit_call *call);

/* Ends the call with the gRPC code for a back end's mr_rc and its message. */
shimkit_code mr_fail(shimkit_call *call, mr_rc rc, const mr_err *err);

/* INVALID_ARGUMENT with msg when msg is not NULL (a result of mr_check_*). */
#define MR_REJECT_IF(call, msg_expr)                                                 \
  do {                                                                               \
    const char *m_ = (msg_expr);                                                     \
    if (m_) return shimkit_call_error((call), SHIMKIT_INVALID_ARGUMENT, "%s", m_);   \
  } while (0)

/* RESOURCE_EXHAUSTED "out of memory" when p is NULL. */
#define MR_OOM_IF(call, cond)                                                                \
  do {                                                                                       \
    if (cond) return shimkit_call_error((call), SHIMKIT_RESOURCE_EXHAUSTED, "out of memory"); \
  } while (0)

/* Resolves a VersionRef (number or alias) to a version number; on failure ends the call. */
shimkit_code mr_resolve_ref(shimkit_call *call, const mr_service *svc,
                            const Shimkit__Ml__V1__VersionRef *ref, uint64_t *version);

/* Fills out with a version and its aliases; on failure ends the call. */
shimkit_code mr_fetch_version(shimkit_call *call, const mr_service *svc, const char *model, uint64_t version,
                              Shimkit__Ml__V1__ModelVersion *out);

/* Checks a list of tensor specs (inputs or outputs); NULL or a message in msg. */
const char *mr_check_tensors(const char *what, size_t n, Shimkit__Ml__V1__TensorSpec *const *t, char *msg,
                             size_t cap);

/* Stream handlers (mr_upload.c, mr_download.c, mr_transfer.c). */
shimkit_code mr_upload_version(shimkit_call *call, Shimkit__Ml__V1__ModelVersion *response, void *user_data);
shimkit_code mr_download_artifact(shimkit_call *call, const Shimkit__Ml__V1__DownloadArtifactRequest *request,
                                  void *user_data);
shimkit_code mr_export(shimkit_call *call, const Shimkit__Ml__V1__ExportRequest *request, void *user_data);
shimkit_code mr_import(shimkit_call *call, Shimkit__Ml__V1__ImportSummary *response, void *user_data);

#endif /* MR_SERVICE_H */
