/*
 * mr_ingest.c - artifacts arriving in chunks: forwarded to the back end's
 * upload while hashed (services/common/shim_sha256.h); committed only when the
 * sha256 and size match what the client declared (see mr_ingest.h). A
 * mismatch is DATA_LOSS: the bytes that arrived are not the artifact the
 * client described, and nothing is stored.
 */
#include "mr_ingest.h"

#include <inttypes.h>
#include <string.h>

static uint64_t max_bytes(const mr_service *svc) {
  return svc->max_artifact_bytes ? svc->max_artifact_bytes : MR_MAX_ARTIFACT_BYTES_DEFAULT;
}

shimkit_code mr_ingest_begin(shimkit_call *call, const mr_service *svc, const char *model, mr_ingest *in) {
  memset(in, 0, sizeof *in);
  in->svc = svc;
  in->model = model;
  in->md = shim_sha256_new();
  if (!in->md) {
    return shimkit_call_error(call, SHIMKIT_INTERNAL, "cannot start a sha256 digest");
  }
  mr_err err = {{0}};
  mr_rc rc = svc->backend.ops->upload_begin(svc->backend.self, model, &in->upload, &err);
  if (rc != MR_OK) {
    shim_sha256_free(in->md);
    in->md = NULL;
    in->upload = NULL;
    return mr_fail(call, rc, &err);
  }
  return SHIMKIT_OK;
}

shimkit_code mr_ingest_write(shimkit_call *call, mr_ingest *in, const uint8_t *data, size_t len) {
  if (len == 0) return SHIMKIT_OK;
  uint64_t limit = max_bytes(in->svc);
  if (in->bytes + len > limit || in->bytes + len < in->bytes)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED,
                              "artifact of model '%s' is larger than the limit of %" PRIu64 " bytes; nothing stored",
                              in->model, limit);
  if (shim_sha256_update(in->md, data, len) != 0)
    return shimkit_call_error(call, SHIMKIT_INTERNAL, "sha256 digest failed");
  mr_err err = {{0}};
  mr_rc rc = in->svc->backend.ops->upload_write(in->svc->backend.self, in->upload, data, len, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  in->bytes += len;
  return SHIMKIT_OK;
}

shimkit_code mr_ingest_commit(shimkit_call *call, mr_ingest *in, mr_version *v, int64_t now_ns, int *taken) {
  char hex[SHIM_SHA256_HEX_LEN + 1];
  shimkit_code code = SHIMKIT_OK;
  if (taken) *taken = 0;
  if (in->bytes == 0)
    code = shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "no artifact bytes arrived for model '%s': an artifact cannot be empty", in->model);
  else if (v->size_bytes && v->size_bytes != in->bytes)
    code = shimkit_call_error(call, SHIMKIT_DATA_LOSS,
                              "artifact of model '%s': %" PRIu64 " bytes arrived but size_bytes said %" PRIu64
                              "; nothing stored",
                              in->model, in->bytes, v->size_bytes);
  else if (shim_sha256_hex(in->md, hex) != 0)
    code = shimkit_call_error(call, SHIMKIT_INTERNAL, "sha256 digest failed");
  else if (strcmp(hex, v->sha256) != 0)
    code = shimkit_call_error(call, SHIMKIT_DATA_LOSS,
                              "artifact of model '%s': sha256 of the %" PRIu64 " bytes that arrived is %s, "
                              "not %s as declared; nothing stored",
                              in->model, in->bytes, hex, v->sha256);
  if (code != SHIMKIT_OK) {
    mr_ingest_abort(in);
    return code;
  }
  v->size_bytes = in->bytes;
  mr_err err = {{0}};
  void *upload = in->upload;
  in->upload = NULL;
  mr_ingest_abort(in); /* frees the digest */
  mr_rc rc = in->svc->backend.ops->upload_commit(in->svc->backend.self, upload, v, now_ns, &err);
  if (rc == MR_EXISTS && taken) {
    *taken = 1;
    return SHIMKIT_OK;
  }
  return rc == MR_OK ? SHIMKIT_OK : mr_fail(call, rc, &err);
}

void mr_ingest_abort(mr_ingest *in) {
  if (in->upload) in->svc->backend.ops->upload_abort(in->svc->backend.self, in->upload);
  in->upload = NULL;
  shim_sha256_free(in->md);
  in->md = NULL;
}
