/*
 * mr_upload.c - UploadVersion: a header, then the artifact in chunks. The
 * header is validated before anything is written; the bytes go through
 * mr_ingest (sha256 and size checked), and the version is committed only
 * after the client closed its stream with every byte intact. A client that
 * cancels or disconnects mid-stream leaves nothing behind.
 */
#include <string.h>

#include "mr_convert.h"
#include "mr_ingest.h"
#include "mr_validate.h"

typedef Shimkit__Ml__V1__UploadVersionRequest upload_req;

const char *mr_check_tensors(const char *what, size_t n, Shimkit__Ml__V1__TensorSpec *const *t, char *msg,
                                 size_t cap) {
  if (n > MR_TENSORS_MAX) {
    snprintf(msg, cap, "%zu %s are more than the limit of %d", n, what, MR_TENSORS_MAX);
    return msg;
  }
  for (size_t i = 0; i < n; i++) {
    if (!t[i]->name || !t[i]->name[0] || strlen(t[i]->name) > MR_NAME_MAX) {
      snprintf(msg, cap, "%s[%zu] needs a name of 1 to %d bytes", what, i, MR_NAME_MAX);
      return msg;
    }
    if (strlen(t[i]->datatype ? t[i]->datatype : "") > 32) {
      snprintf(msg, cap, "%s '%s': datatype is longer than 32 bytes", what, t[i]->name);
      return msg;
    }
    if (t[i]->n_shape > MR_DIMS_MAX) {
      snprintf(msg, cap, "%s '%s' has %zu dimensions, the limit is %d", what, t[i]->name, t[i]->n_shape, MR_DIMS_MAX);
      return msg;
    }
    for (size_t d = 0; d < t[i]->n_shape; d++) {
      if (t[i]->shape[d] < -1) {
        snprintf(msg, cap, "%s '%s': dimension %zu is %lld; use -1 for a variable size", what, t[i]->name, d,
                 (long long)t[i]->shape[d]);
        return msg;
      }
    }
  }
  return NULL;
}

/* Validates the header and turns it into the record to commit (blobs from the call's memory). */
static shimkit_code header_to_version(shimkit_call *call, const Shimkit__Ml__V1__UploadHeader *h, mr_version *v) {
  char msg[MR_VALIDATE_MSG_MAX];
  const char *bad;
  MR_REJECT_IF(call, mr_check_name("model name", h->model_name, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_sha256(h->sha256, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("framework", h->framework, MR_NAME_MAX, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("description", h->description, MR_TEXT_MAX, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_tensors("inputs", h->n_inputs, h->inputs, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_tensors("outputs", h->n_outputs, h->outputs, msg, sizeof msg));
  MR_CHECK_TAGS(h->n_tags, h->tags, msg, sizeof msg, bad);
  MR_REJECT_IF(call, bad);

  mr_arena arena = mr_call_arena(call);
  const char **keys, **values;
  uint8_t *spec;
  MR_OOM_IF(call, MR_TAG_ARRAYS(&arena, h->n_tags, h->tags, keys, values) != 0);
  MR_OOM_IF(call, mr_pack_version_spec(&arena, h->n_inputs, h->inputs, h->n_outputs, h->outputs, h->n_tags, keys,
                                       values, &spec, &v->spec_len) != 0);
  /* The header lives only until the next read: keep copies. */
  v->model_name = mr_arena_strdup(&arena, h->model_name);
  v->framework = mr_arena_strdup(&arena, h->framework);
  v->description = mr_arena_strdup(&arena, h->description);
  v->sha256 = mr_arena_strdup(&arena, h->sha256);
  MR_OOM_IF(call, !v->model_name || !v->framework || !v->description || !v->sha256);
  v->spec = spec;
  v->size_bytes = h->size_bytes;
  v->status = SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY;
  v->version = 0; /* the next number */
  return SHIMKIT_OK;
}

/* Reads chunks until the client closes its stream; any failure leaves the ingest to abort. */
static shimkit_code receive_chunks(shimkit_call *call, mr_ingest *in) {
  upload_req *req;
  int rc;
  while ((rc = shimkit__ml__v1__model_repository__shimkit_upload_version_read(call, &req)) == 1) {
    if (req->part_case != SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_CHUNK)
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                                "after the header only chunks may follow; nothing stored");
    shimkit_code code = mr_ingest_write(call, in, req->chunk.data, req->chunk.len);
    if (code != SHIMKIT_OK) return code;
  }
  if (rc < 0)
    return shimkit_call_error(call, SHIMKIT_CANCELLED,
                              "upload of model '%s' cut off after %llu bytes; nothing stored", in->model,
                              (unsigned long long)in->bytes);
  return SHIMKIT_OK;
}

shimkit_code mr_upload_version(shimkit_call *call, Shimkit__Ml__V1__ModelVersion *response, void *user_data) {
  const mr_service *svc = user_data;
  upload_req *req;
  int rc = shimkit__ml__v1__model_repository__shimkit_upload_version_read(call, &req);
  if (rc < 0) return shimkit_call_error(call, SHIMKIT_CANCELLED, "upload cut off before its header; nothing stored");
  if (rc == 0 || req->part_case != SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_HEADER)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "the first message of UploadVersion must be the header");
  mr_version v = {0};
  shimkit_code code = header_to_version(call, req->header, &v);
  if (code != SHIMKIT_OK) return code;

  mr_ingest in;
  code = mr_ingest_begin(call, svc, v.model_name, &in);
  if (code != SHIMKIT_OK) return code;
  code = receive_chunks(call, &in);
  if (code != SHIMKIT_OK) {
    mr_ingest_abort(&in);
    return code;
  }
  if (shimkit_call_is_cancelled(call)) {
    mr_ingest_abort(&in);
    return shimkit_call_error(call, SHIMKIT_CANCELLED, "upload cancelled; nothing stored");
  }
  int64_t now = mr_now_ns();
  v.created_ns = now;
  code = mr_ingest_commit(call, &in, &v, now, NULL);
  if (code != SHIMKIT_OK) return code;
  return mr_fetch_version(call, svc, v.model_name, v.version, response);
}
