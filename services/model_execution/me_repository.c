/*
 * me_repository.c - the protocol's repository extension over the
 * ModelRepository service: RepositoryIndex lists the models the repository
 * holds with the state of each here (READY when loaded, UNAVAILABLE
 * otherwise), RepositoryModelLoad fetches and loads one (parameters
 * "version" or "alias"), RepositoryModelUnload drops it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "me_fetch.h"
#include "me_handlers.h"
#include "ml/v1/model_repository.shimkit.h"

#define ME_INDEX_MAX 10000 /* entries in one RepositoryIndex answer */
#define ME_LOADED_MAX 1024

typedef struct me_index {
  shimkit_call *call;
  Inference__RepositoryIndexResponse *resp;
  size_t cap;
} me_index;

static int me_index_add(me_index *ix, const char *name, uint64_t version, const char *state,
                        const char *reason) {
  Inference__RepositoryIndexResponse *r = ix->resp;
  if (r->n_models == ix->cap) return -1;
  Inference__RepositoryIndexResponse__ModelIndex *e = shimkit_call_alloc(ix->call, sizeof *e);
  if (!e) return -1;
  Inference__RepositoryIndexResponse__ModelIndex init =
      INFERENCE__REPOSITORY_INDEX_RESPONSE__MODEL_INDEX__INIT;
  *e = init;
  char v[24] = "";
  if (version) snprintf(v, sizeof v, "%llu", (unsigned long long)version);
  e->name = shimkit_call_strdup(ix->call, name);
  e->version = shimkit_call_strdup(ix->call, v);
  e->state = (char *)state;
  e->reason = (char *)reason;
  if (!e->name || !e->version) return -1;
  r->models[r->n_models++] = e;
  return 0;
}

/* Adds the loaded versions of name; how many. */
static size_t me_index_loaded(me_index *ix, me_model **loaded, size_t n, const char *name, bool *listed) {
  size_t found = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(loaded[i]->name, name) != 0) continue;
    listed[i] = true;
    found++;
    me_index_add(ix, name, loaded[i]->version, "READY", "");
  }
  return found;
}

shimkit_code me_repository_index(shimkit_call *call, const Inference__RepositoryIndexRequest *req,
                                 Inference__RepositoryIndexResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_index ix = {.call = call, .resp = resp, .cap = ME_INDEX_MAX};
  resp->models = shimkit_call_alloc(call, ME_INDEX_MAX * sizeof *resp->models);
  me_model **loaded = calloc(ME_LOADED_MAX, sizeof *loaded);
  bool *listed = calloc(ME_LOADED_MAX, sizeof *listed);
  if (!resp->models || !loaded || !listed) {
    free(loaded);
    free(listed);
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  }
  size_t n_loaded = me_models_list(svc->models, loaded, ME_LOADED_MAX);
  Shimkit__Ml__V1__PageRequest page = SHIMKIT__ML__V1__PAGE_REQUEST__INIT;
  Shimkit__Ml__V1__ListModelsRequest lm = SHIMKIT__ML__V1__LIST_MODELS_REQUEST__INIT;
  page.page_size = 1000;
  lm.page = &page;
  char token[512] = "";
  shimkit_code code = SHIMKIT_OK;
  for (int pages = 0; pages < ME_INDEX_MAX / 1000 + 1; pages++) {
    page.page_token = token;
    Shimkit__Ml__V1__ListModelsResponse *out = NULL;
    shimkit_status st = {0};
    shimkit_call_options opts = {.timeout_ms = ME_REPO_TIMEOUT_MS, .status_out = &st};
    shimkit_code rc = shimkit__ml__v1__model_repository__shimkit_list_models(svc->repo, &lm, &out, &opts);
    if (rc != SHIMKIT_OK) {
      me_err err;
      me_fetch_fail(svc, "ListModels", rc, &st, &err);
      shimkit_status_clear(&st);
      code = me_reply_error(call, &err);
      break;
    }
    for (size_t i = 0; i < out->n_models; i++) {
      const Shimkit__Ml__V1__RegisteredModel *rm = out->models[i];
      if (me_index_loaded(&ix, loaded, n_loaded, rm->name, listed) == 0 && !req->ready)
        me_index_add(&ix, rm->name, rm->latest_version, "UNAVAILABLE", "not loaded");
    }
    snprintf(token, sizeof token, "%s", out->next_page_token);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    if (!token[0]) break;
  }
  for (size_t i = 0; i < n_loaded; i++) { /* loaded, though gone from the repository since */
    if (code == SHIMKIT_OK && !listed[i]) me_index_add(&ix, loaded[i]->name, loaded[i]->version, "READY", "");
    me_model_release(svc->models, loaded[i]);
  }
  free(loaded);
  free(listed);
  return code;
}

/* One "version" or "alias" parameter of a load or unload; -1 + err for anything else. */
static int me_param(const char *key, const Inference__ModelRepositoryParameter *v, bool alias_ok,
                    uint64_t *version, const char **alias, me_err *err) {
  bool is_str =
      v && v->parameter_choice_case == INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_STRING_PARAM;
  bool is_int =
      v && v->parameter_choice_case == INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_INT64_PARAM;
  if (strcmp(key, "version") == 0 && is_int) {
    if (v->int64_param < 1)
      return me_fail(err, SHIMKIT_INVALID_ARGUMENT, "parameter version must be 1 or more");
    *version = (uint64_t)v->int64_param;
  } else if (strcmp(key, "version") == 0 && is_str) {
    if (me_parse_version(v->string_param, version, err) != 0) return -1;
  } else if (alias_ok && strcmp(key, "alias") == 0 && is_str && v->string_param[0]) {
    *alias = v->string_param;
  } else if (!alias_ok && strcmp(key, "unload_dependents") == 0) {
    /* Triton's clients always send it; a model here has no dependents. */
  } else {
    return me_fail(err, SHIMKIT_INVALID_ARGUMENT,
                   "parameter %.100s is not understood: use version (string or int64)%s", key,
                   alias_ok ? " or alias (string)" : "");
  }
  if (*alias && *version) return me_fail(err, SHIMKIT_INVALID_ARGUMENT, "give version or alias, not both");
  return 0;
}

/*
 * The model a load or unload names: model_name (field 2, Triton's layout), or
 * when that is empty field 1, which KServe's grpc_predict_v2.proto calls
 * model_name (see proto/inference/grpc_predict_v2.proto).
 */
static char *named_model(char *repository_name, char *model_name) {
  return model_name && model_name[0] ? model_name : repository_name;
}

shimkit_code me_repository_model_load(shimkit_call *call, const Inference__RepositoryModelLoadRequest *req,
                                      Inference__RepositoryModelLoadResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_err err;
  uint64_t version = 0;
  const char *alias = NULL;
  char *name = named_model(req->repository_name, req->model_name);
  if (me_check_name(name, &err) != 0) return me_reply_error(call, &err);
  for (size_t i = 0; i < req->n_parameters; i++)
    if (me_param(req->parameters[i]->key, req->parameters[i]->value, true, &version, &alias, &err) != 0)
      return me_reply_error(call, &err);
  me_model *m = me_service_load(svc, name, version, alias, &err);
  if (!m) return me_reply_error(call, &err);
  me_model_release(svc->models, m);
  resp->model_name = name; /* the request outlives the response's encoding */
  resp->isloaded = true;
  return SHIMKIT_OK;
}

shimkit_code me_repository_model_unload(shimkit_call *call,
                                        const Inference__RepositoryModelUnloadRequest *req,
                                        Inference__RepositoryModelUnloadResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_err err;
  uint64_t version = 0;
  const char *alias = NULL;
  char *name = named_model(req->repository_name, req->model_name);
  if (me_check_name(name, &err) != 0) return me_reply_error(call, &err);
  for (size_t i = 0; i < req->n_parameters; i++)
    if (me_param(req->parameters[i]->key, req->parameters[i]->value, false, &version, &alias, &err) != 0)
      return me_reply_error(call, &err);
  if (me_models_remove(svc->models, name, version) == 0) {
    if (version)
      return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "model %s version %llu is not loaded", name,
                                (unsigned long long)version);
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "model %s is not loaded", name);
  }
  resp->model_name = name;
  resp->isunloaded = true;
  return SHIMKIT_OK;
}
