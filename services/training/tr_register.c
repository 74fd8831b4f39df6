/*
 * tr_register.c - see tr_register.h. Messages are built on the stack and in
 * one scratch block; the stubs serialize them before returning.
 */
#include "tr_register.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/v1/model_repository.shimkit.h"
#include "shim_sha256.h"
#include "tr_dataset.h"

#define TR_REPO_TIMEOUT_MS 30000
#define TR_UPLOAD_TIMEOUT_MS (10 * 60 * 1000)
#define TR_CHUNK_BYTES 65536
#define TR_MAX_TAGS 48       /* the repository takes 64 */
#define TR_TAG_VALUE_MAX 4096 /* the repository's limit on a tag value */

typedef struct tr_tags {
  size_t n;
  Shimkit__Ml__V1__UploadHeader__TagsEntry entries[TR_MAX_TAGS];
  Shimkit__Ml__V1__UploadHeader__TagsEntry *ptrs[TR_MAX_TAGS];
  char keys[TR_MAX_TAGS][136];
  char values[TR_MAX_TAGS][64]; /* short values; long ones point elsewhere */
} tr_tags;

static void tr_tag(tr_tags *t, const char *key, const char *value) {
  if (t->n == TR_MAX_TAGS || strlen(key) >= sizeof t->keys[0] || strlen(value) > TR_TAG_VALUE_MAX) return;
  Shimkit__Ml__V1__UploadHeader__TagsEntry init = SHIMKIT__ML__V1__UPLOAD_HEADER__TAGS_ENTRY__INIT;
  t->entries[t->n] = init;
  snprintf(t->keys[t->n], sizeof t->keys[0], "%s", key);
  t->entries[t->n].key = t->keys[t->n];
  t->entries[t->n].value = (char *)value;
  t->ptrs[t->n] = &t->entries[t->n];
  t->n++;
}

/* A tag whose value is a number, formatted into the tag's own buffer. */
static void tr_tag_num(tr_tags *t, const char *key, double v) {
  if (t->n == TR_MAX_TAGS) return;
  snprintf(t->values[t->n], sizeof t->values[0], "%.17g", v);
  tr_tag(t, key, t->values[t->n]);
}

/* "a,b,c": the feature columns in order, or NULL when too long for a tag (caller frees). */
static char *tr_join(const tr_dataset *d) {
  size_t len = 1;
  for (size_t i = 0; i < d->n_features; i++) len += strlen(d->feature_names[i]) + 1;
  if (len > TR_TAG_VALUE_MAX) return NULL;
  char *s = calloc(1, len);
  for (size_t i = 0; s && i < d->n_features; i++) {
    if (i) strcat(s, ",");
    strcat(s, d->feature_names[i]);
  }
  return s;
}

static void tr_abort_call(void *call) { shimkit_client_call_cancel(call); }

/* CreateModel as a call the job's cancel can abort: 0, -1 with err, -2 cancelled. */
static int tr_create_model(const tr_service *svc, tr_job *job, const tr_spec *spec, tr_err *err) {
  Shimkit__Ml__V1__CreateModelRequest req = SHIMKIT__ML__V1__CREATE_MODEL_REQUEST__INIT;
  req.name = spec->model_name;
  ProtobufCMessage *model = NULL;
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = TR_REPO_TIMEOUT_MS, .status_out = &st};
  shimkit_client_call *call = shimkit_client_call_start(
      svc->repo,
      &shimkit__ml__v1__model_repository__shimkit_service.methods[SHIMKIT__ML__V1__MODEL_REPOSITORY__SHIMKIT_CREATE_MODEL],
      &opts);
  if (!call) return tr_fail(err, "out of memory starting ModelRepository.CreateModel");
  if (!tr_job_set_abort(job, tr_abort_call, call)) shimkit_client_call_cancel(call);
  if (shimkit_client_call_send(call, &req.base) == 0 && shimkit_client_call_close_send(call) == 0)
    (void)shimkit_client_call_recv(call, &model);
  tr_job_set_abort(job, NULL, NULL);
  shimkit_code code = shimkit_client_call_finish(call);
  int rc = 0;
  if (tr_job_cancelled(job))
    rc = -2;
  else if (code != SHIMKIT_OK && code != SHIMKIT_ALREADY_EXISTS)
    rc = tr_fail_rpc(err, "ModelRepository", svc->repo_addr, "CreateModel", code, &st);
  shimkit_status_clear(&st);
  if (model) protobuf_c_message_free_unpacked(model, NULL);
  return rc;
}

/* Sends the file in chunks; -1 when the call broke (finish tells why). */
static int tr_send_file(shimkit_client_call *call, FILE *f, tr_err *err) {
  unsigned char *buf = malloc(TR_CHUNK_BYTES);
  if (!buf) return tr_fail(err, "out of memory");
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(buf, 1, TR_CHUNK_BYTES, f)) > 0) {
    Shimkit__Ml__V1__UploadVersionRequest chunk = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__INIT;
    chunk.part_case = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_CHUNK;
    chunk.chunk.data = buf;
    chunk.chunk.len = n;
    rc = shimkit__ml__v1__model_repository__shimkit_upload_version_send(call, &chunk);
  }
  if (rc == 0 && ferror(f)) rc = tr_fail(err, "cannot read the model file");
  free(buf);
  return rc;
}

int tr_register(const tr_service *svc, tr_job *job, const tr_spec *spec, const tr_dataset *d, const tr_artifact *a,
                uint64_t *version, tr_err *err) {
  char sha[SHIM_SHA256_HEX_LEN + 1] = "";
  uint64_t size = 0;
  int hashed = shim_sha256_file(a->path, sha, &size);
  if (hashed == -1) return tr_fail(err, "cannot read the model file %s: %s", a->path, strerror(errno));
  if (hashed != 0) return tr_fail(err, "OpenSSL cannot compute the sha256 of the model file %s", a->path);
  int created = tr_create_model(svc, job, spec, err);
  if (created != 0) return created;
  char msg[TR_MESSAGE_MAX];
  snprintf(msg, sizeof msg, "uploading the model file (%llu bytes) as a new version of %.60s", (unsigned long long)size,
           spec->model_name);
  if (!tr_job_step(job, 0.85, msg)) return -2;

  int64_t in_shape[2] = {-1, (int64_t)d->n_features}, out_shape[1] = {-1};
  Shimkit__Ml__V1__TensorSpec in = SHIMKIT__ML__V1__TENSOR_SPEC__INIT, out = SHIMKIT__ML__V1__TENSOR_SPEC__INIT;
  in.name = "features";
  in.datatype = "FP64";
  in.n_shape = 2;
  in.shape = in_shape;
  out.name = "label";
  out.datatype = "FP64";
  out.n_shape = 1;
  out.shape = out_shape;
  Shimkit__Ml__V1__TensorSpec *ins[1] = {&in}, *outs[1] = {&out};

  tr_tags *tags = calloc(1, sizeof *tags);
  char *names = tr_join(d);
  if (!tags) {
    free(names);
    return tr_fail(err, "out of memory");
  }
  tr_tag(tags, "algorithm", a->framework);
  tr_tag(tags, "training_job", a->job_id);
  if (names) tr_tag(tags, "feature_names", names);
  tr_tag(tags, "label", a->label);
  if (spec->source == TR_SOURCE_VIEW) tr_tag(tags, "feature_view", spec->view);
  tr_tag_num(tags, "rows", (double)d->n_rows);
  tr_tag_num(tags, "train_accuracy", a->train_accuracy);
  if (a->class_labels) tr_tag(tags, "class_labels", a->class_labels);
  char hp_keys[TR_MAX_TAGS][136];
  for (size_t i = 0; i < spec->params.n && i < TR_MAX_TAGS; i++) {
    snprintf(hp_keys[i], sizeof hp_keys[i], "hp.%.128s", spec->params.items[i].key);
    tr_tag(tags, hp_keys[i], spec->params.items[i].value);
  }

  Shimkit__Ml__V1__UploadHeader header = SHIMKIT__ML__V1__UPLOAD_HEADER__INIT;
  header.model_name = spec->model_name;
  header.framework = (char *)a->framework;
  header.n_inputs = 1;
  header.inputs = ins;
  header.n_outputs = 1;
  header.outputs = outs;
  header.n_tags = tags->n;
  header.tags = tags->ptrs;
  header.sha256 = sha;
  header.size_bytes = size;
  header.description = spec->description ? spec->description : "";
  Shimkit__Ml__V1__UploadVersionRequest first = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__INIT;
  first.part_case = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_HEADER;
  first.header = &header;

  int rc = -1;
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = TR_UPLOAD_TIMEOUT_MS, .status_out = &st};
  FILE *f = fopen(a->path, "rb");
  shimkit_client_call *call = f ? shimkit__ml__v1__model_repository__shimkit_upload_version_start(svc->repo, &opts) : NULL;
  if (!f) {
    tr_fail(err, "cannot open the model file %s: %s", a->path, strerror(errno));
  } else if (!call) {
    tr_fail(err, "out of memory starting ModelRepository.UploadVersion");
  } else {
    err->msg[0] = 0;
    Shimkit__Ml__V1__ModelVersion *mv = NULL;
    /* A cancel aborts the upload until the last byte is sent, not after. */
    bool sent = tr_job_set_abort(job, tr_abort_call, call) &&
                shimkit__ml__v1__model_repository__shimkit_upload_version_send(call, &first) == 0 &&
                tr_send_file(call, f, err) == 0;
    tr_job_set_abort(job, NULL, NULL);
    bool cancelled = !sent && tr_job_cancelled(job);
    if (sent && !(cancelled = tr_job_cancelled(job)) && shimkit_client_call_close_send(call) == 0 &&
        shimkit__ml__v1__model_repository__shimkit_upload_version_recv(call, &mv) == 1) {
      *version = mv->version;
      rc = 0;
    }
    if (mv) protobuf_c_message_free_unpacked(&mv->base, NULL);
    if (rc != 0 && (err->msg[0] || cancelled)) shimkit_client_call_cancel(call);
    shimkit_code code = shimkit_client_call_finish(call);
    if (rc == 0 && code != SHIMKIT_OK) rc = -1;
    if (cancelled) {
      rc = -2;
    } else if (rc != 0 && !err->msg[0]) {
      tr_fail_rpc(err, "ModelRepository", svc->repo_addr, "UploadVersion", code, &st);
    }
  }
  shimkit_status_clear(&st);
  if (f) fclose(f);
  free(names);
  free(tags);
  return rc;
}
