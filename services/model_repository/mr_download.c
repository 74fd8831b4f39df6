/*
 * mr_download.c - DownloadArtifact: the artifact of one version (by number
 * or alias) as a stream of chunks of at most chunk_bytes; the first chunk
 * carries the version's metadata, so a client can check the sha256 of what
 * it assembled.
 */
#include <stdlib.h>

#include "mr_service.h"

shimkit_code mr_download_artifact(shimkit_call *call, const Shimkit__Ml__V1__DownloadArtifactRequest *req,
                                  void *user_data) {
  const mr_service *svc = user_data;
  uint64_t version = 0;
  shimkit_code code = mr_resolve_ref(call, svc, req->ref, &version);
  if (code != SHIMKIT_OK) return code;
  Shimkit__Ml__V1__ModelVersion *meta = shimkit_call_alloc(call, sizeof *meta);
  MR_OOM_IF(call, !meta);
  shimkit__ml__v1__model_version__init(meta);
  code = mr_fetch_version(call, svc, req->ref->model_name, version, meta);
  if (code != SHIMKIT_OK) return code;

  size_t cap = req->chunk_bytes == 0 ? MR_CHUNK_DEFAULT : req->chunk_bytes;
  if (cap > MR_CHUNK_MAX) cap = MR_CHUNK_MAX;
  uint8_t *buf = malloc(cap);
  MR_OOM_IF(call, !buf);
  void *reader = NULL;
  mr_err err = {{0}};
  mr_rc rc = svc->backend.ops->artifact_open(svc->backend.self, req->ref->model_name, version, &reader, &err);
  uint64_t offset = 0;
  while (rc == MR_OK) {
    size_t got = 0;
    rc = svc->backend.ops->artifact_read(svc->backend.self, reader, buf, cap, &got, &err);
    if (rc != MR_OK || got == 0) break;
    Shimkit__Ml__V1__ArtifactChunk chunk = SHIMKIT__ML__V1__ARTIFACT_CHUNK__INIT;
    chunk.version = offset == 0 ? meta : NULL;
    chunk.offset = offset;
    chunk.data.data = buf;
    chunk.data.len = got;
    if (shimkit__ml__v1__model_repository__shimkit_download_artifact_write(call, &chunk) != 0) {
      svc->backend.ops->artifact_close(svc->backend.self, reader);
      free(buf);
      return shimkit_call_error(call, SHIMKIT_CANCELLED, "client went away after %llu bytes",
                                (unsigned long long)offset);
    }
    offset += got;
  }
  svc->backend.ops->artifact_close(svc->backend.self, reader);
  free(buf);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  if (offset != meta->size_bytes)
    return shimkit_call_error(call, SHIMKIT_DATA_LOSS,
                              "stored artifact of version %llu of model '%s' has %llu bytes, %llu expected",
                              (unsigned long long)version, req->ref->model_name, (unsigned long long)offset,
                              (unsigned long long)meta->size_bytes);
  return SHIMKIT_OK;
}
