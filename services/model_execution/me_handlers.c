/*
 * me_handlers.c - health and metadata of the Open Inference Protocol:
 * ServerLive, ServerReady, ServerMetadata, ModelReady, ModelMetadata, and
 * the handler table. ModelInfer is in me_infer.c, the repository extension
 * in me_repository.c.
 */
#include "me_handlers.h"

#include <stdio.h>
#include <string.h>

#include "ml/v1/model_repository.shimkit.h"

#define ME_READY_TIMEOUT_MS 2000

shimkit_code me_reply_error(shimkit_call *call, const me_err *err) {
  return shimkit_call_error(call, err->code, "%s", err->msg);
}

int me_check_name(const char *name, me_err *err) {
  if (!name[0]) return me_fail(err, SHIMKIT_INVALID_ARGUMENT, "model name is missing");
  if (strlen(name) >= ME_NAME_MAX)
    return me_fail(err, SHIMKIT_INVALID_ARGUMENT, "model name is %zu bytes, at most %d", strlen(name),
                   ME_NAME_MAX - 1);
  return 0;
}

static shimkit_code me_server_live(shimkit_call *call, const Inference__ServerLiveRequest *req,
                                   Inference__ServerLiveResponse *resp, void *user_data) {
  (void)call, (void)req, (void)user_data;
  resp->live = 1;
  return SHIMKIT_OK;
}

/* Ready = a model is loaded (it can serve) or the repository answers (it can load). */
static shimkit_code me_server_ready(shimkit_call *call, const Inference__ServerReadyRequest *req,
                                    Inference__ServerReadyResponse *resp, void *user_data) {
  (void)call, (void)req;
  me_service *svc = user_data;
  me_model *any = NULL;
  if (me_models_list(svc->models, &any, 1) == 1) {
    me_model_release(svc->models, any);
    resp->ready = 1;
    return SHIMKIT_OK;
  }
  Shimkit__Ml__V1__PageRequest page = SHIMKIT__ML__V1__PAGE_REQUEST__INIT;
  page.page_size = 1;
  Shimkit__Ml__V1__ListModelsRequest lm = SHIMKIT__ML__V1__LIST_MODELS_REQUEST__INIT;
  lm.page = &page;
  Shimkit__Ml__V1__ListModelsResponse *out = NULL;
  shimkit_call_options opts = {.timeout_ms = ME_READY_TIMEOUT_MS};
  resp->ready =
      shimkit__ml__v1__model_repository__shimkit_list_models(svc->repo, &lm, &out, &opts) == SHIMKIT_OK;
  if (out) protobuf_c_message_free_unpacked(&out->base, NULL);
  return SHIMKIT_OK;
}

static shimkit_code me_server_metadata(shimkit_call *call, const Inference__ServerMetadataRequest *req,
                                       Inference__ServerMetadataResponse *resp, void *user_data) {
  (void)req, (void)user_data;
  static char *extensions[] = {"model_repository"};
  (void)call;
  resp->name = ME_SERVER_NAME;
  resp->version = ME_SERVER_VERSION;
  resp->n_extensions = 1;
  resp->extensions = extensions;
  return SHIMKIT_OK;
}

/* Ready = loaded (ModelReady never loads: it answers the question as asked). */
static shimkit_code me_model_ready(shimkit_call *call, const Inference__ModelReadyRequest *req,
                                   Inference__ModelReadyResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_err err;
  uint64_t version;
  if (me_check_name(req->name, &err) != 0 || me_parse_version(req->version, &version, &err) != 0)
    return me_reply_error(call, &err);
  me_model *m = me_models_get(svc->models, req->name, version);
  resp->ready = m != NULL;
  me_model_release(svc->models, m);
  return SHIMKIT_OK;
}

/* The protocol's tensor metadata of specs, in call memory. */
static Inference__ModelMetadataResponse__TensorMetadata **me_tensors(shimkit_call *call,
                                                                     const me_tensor_spec *specs, size_t n) {
  Inference__ModelMetadataResponse__TensorMetadata **out =
      shimkit_call_alloc(call, (n ? n : 1) * sizeof *out);
  Inference__ModelMetadataResponse__TensorMetadata *t = shimkit_call_alloc(call, (n ? n : 1) * sizeof *t);
  if (!out || !t) return NULL;
  for (size_t i = 0; i < n; i++) {
    Inference__ModelMetadataResponse__TensorMetadata init =
        INFERENCE__MODEL_METADATA_RESPONSE__TENSOR_METADATA__INIT;
    t[i] = init;
    t[i].name = shimkit_call_strdup(call, specs[i].name);
    t[i].datatype = shimkit_call_strdup(call, specs[i].datatype);
    t[i].n_shape = specs[i].n_shape;
    t[i].shape = shimkit_call_alloc(call, (specs[i].n_shape ? specs[i].n_shape : 1) * sizeof(int64_t));
    if (!t[i].name || !t[i].datatype || !t[i].shape) return NULL;
    memcpy(t[i].shape, specs[i].shape, specs[i].n_shape * sizeof(int64_t));
    out[i] = &t[i];
  }
  return out;
}

/* Loads on demand, like ModelInfer: metadata comes from the version the model would serve. */
static shimkit_code me_model_metadata(shimkit_call *call, const Inference__ModelMetadataRequest *req,
                                      Inference__ModelMetadataResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_err err;
  uint64_t version;
  if (me_check_name(req->name, &err) != 0 || me_parse_version(req->version, &version, &err) != 0)
    return me_reply_error(call, &err);
  me_model *m = me_service_get(svc, req->name, version, &err);
  if (!m) return me_reply_error(call, &err);
  me_model *loaded[64];
  size_t n = me_models_list(svc->models, loaded, 64), n_versions = 0;
  char **versions = shimkit_call_alloc(call, (n + 1) * sizeof *versions);
  shimkit_code code = SHIMKIT_OK;
  for (size_t i = 0; versions && i < n; i++) {
    if (strcmp(loaded[i]->name, m->name) == 0) {
      char v[24];
      snprintf(v, sizeof v, "%llu", (unsigned long long)loaded[i]->version);
      versions[n_versions++] = shimkit_call_strdup(call, v);
    }
    me_model_release(svc->models, loaded[i]);
  }
  resp->name = shimkit_call_strdup(call, m->name);
  resp->platform = (char *)m->rt->framework;
  resp->versions = versions;
  resp->n_versions = n_versions;
  resp->inputs = me_tensors(call, m->inputs, m->n_inputs);
  resp->n_inputs = m->n_inputs;
  resp->outputs = me_tensors(call, m->outputs, m->n_outputs);
  resp->n_outputs = m->n_outputs;
  if (!versions || !resp->name || !resp->inputs || !resp->outputs)
    code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  me_model_release(svc->models, m);
  return code;
}

const Inference__GRPCInferenceService_Handlers me_handlers = {
    .server_live = me_server_live,
    .server_ready = me_server_ready,
    .model_ready = me_model_ready,
    .server_metadata = me_server_metadata,
    .model_metadata = me_model_metadata,
    .model_infer = me_model_infer,
    .repository_index = me_repository_index,
    .repository_model_load = me_repository_model_load,
    .repository_model_unload = me_repository_model_unload,
};
