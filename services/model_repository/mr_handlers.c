/*
 * mr_handlers.c - the unary RPCs of ModelRepository, shared by every back
 * end: validate the request, call the back end through mr_backend_ops,
 * convert its records into the reply and its errors into gRPC codes (in one
 * place: mr_fail). The streaming RPCs live in mr_upload.c, mr_download.c and
 * mr_transfer.c.
 */
#include <inttypes.h>
#include <string.h>

#include "mr_convert.h"
#include "mr_service.h"
#include "mr_validate.h"

#define SVC(user_data) ((const mr_service *)(user_data))
#define OPS(svc) ((svc)->backend.ops)
#define SELF(svc) ((svc)->backend.self)

typedef Shimkit__Ml__V1__VersionStatus mr_status_enum;

/* ---- shared helpers ------------------------------------------------------------ */

static void *call_arena_alloc(void *ctx, size_t size) {
  return shimkit_call_alloc(ctx, size);
}

mr_arena mr_call_arena(shimkit_call *call) {
  return (mr_arena){.alloc = call_arena_alloc, .ctx = call};
}

shimkit_code mr_fail(shimkit_call *call, mr_rc rc, const mr_err *err) {
  const char *msg = err && err->msg[0] ? err->msg : "back end failed without a message";
  switch (rc) {
    case MR_OK: return SHIMKIT_OK;
    case MR_NOT_FOUND: return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "%s", msg);
    case MR_EXISTS: return shimkit_call_error(call, SHIMKIT_ALREADY_EXISTS, "%s", msg);
    case MR_UNAVAILABLE: return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "%s", msg);
    case MR_FAILED: return shimkit_call_error(call, SHIMKIT_INTERNAL, "%s", msg);
  }
  return shimkit_call_error(call, SHIMKIT_UNKNOWN, "back end returned unknown result %d: %s", (int)rc, msg);
}

shimkit_code mr_resolve_ref(shimkit_call *call, const mr_service *svc,
                            const Shimkit__Ml__V1__VersionRef *ref, uint64_t *version) {
  char msg[MR_VALIDATE_MSG_MAX];
  if (!ref) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "ref is missing: name a model and a version or alias");
  MR_REJECT_IF(call, mr_check_name("model name", ref->model_name, msg, sizeof msg));
  mr_err err = {{0}};
  switch (ref->selector_case) {
    case SHIMKIT__ML__V1__VERSION_REF__SELECTOR_VERSION:
      if (ref->version == 0) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "version 0 does not exist: versions start at 1");
      *version = ref->version;
      return SHIMKIT_OK;
    case SHIMKIT__ML__V1__VERSION_REF__SELECTOR_ALIAS: {
      MR_REJECT_IF(call, mr_check_name("alias", ref->alias, msg, sizeof msg));
      mr_rc rc = OPS(svc)->get_alias(SELF(svc), ref->model_name, ref->alias, version, &err);
      return rc == MR_OK ? SHIMKIT_OK : mr_fail(call, rc, &err);
    }
    default:
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "ref names no version: set version or alias");
  }
}

/* The page size asked for, defaulted and capped. */
static size_t page_size(const Shimkit__Ml__V1__PageRequest *page) {
  if (!page || page->page_size == 0) return MR_PAGE_DEFAULT;
  return page->page_size > MR_PAGE_MAX ? MR_PAGE_MAX : page->page_size;
}

static const char *page_token(const Shimkit__Ml__V1__PageRequest *page) {
  return page && page->page_token ? page->page_token : "";
}

/* A version's record converted with its aliases (one list_aliases call). */
static shimkit_code version_reply(shimkit_call *call, const mr_service *svc, mr_arena *arena,
                                  const mr_version *v, Shimkit__Ml__V1__ModelVersion *out) {
  mr_err err = {{0}};
  mr_alias *aliases = NULL;
  size_t n = 0;
  mr_rc rc = OPS(svc)->list_aliases(SELF(svc), v->model_name, arena, &aliases, &n, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  MR_OOM_IF(call, mr_version_to_pb(arena, v, aliases, n, out) != 0);
  return SHIMKIT_OK;
}

shimkit_code mr_fetch_version(shimkit_call *call, const mr_service *svc, const char *model, uint64_t version,
                                  Shimkit__Ml__V1__ModelVersion *out) {
  mr_arena arena = mr_call_arena(call);
  mr_err err = {{0}};
  mr_version v = {0};
  mr_rc rc = OPS(svc)->get_version(SELF(svc), model, version, &arena, &v, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  return version_reply(call, svc, &arena, &v, out);
}

/* ---- models --------------------------------------------------------------------- */

static shimkit_code create_model(shimkit_call *call, const Shimkit__Ml__V1__CreateModelRequest *req,
                                 Shimkit__Ml__V1__RegisteredModel *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  char msg[MR_VALIDATE_MSG_MAX];
  const char *bad;
  MR_REJECT_IF(call, mr_check_name("model name", req->name, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("description", req->description, MR_TEXT_MAX, msg, sizeof msg));
  MR_CHECK_TAGS(req->n_tags, req->tags, msg, sizeof msg, bad);
  MR_REJECT_IF(call, bad);

  mr_arena arena = mr_call_arena(call);
  const char **keys, **values;
  mr_model m = {.name = req->name, .description = req->description};
  MR_OOM_IF(call, MR_TAG_ARRAYS(&arena, req->n_tags, req->tags, keys, values) != 0);
  uint8_t *tags;
  MR_OOM_IF(call, mr_pack_model_tags(&arena, req->n_tags, keys, values, &tags, &m.tags_len) != 0);
  m.tags = tags;
  m.created_ns = m.updated_ns = mr_now_ns();
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->create_model(SELF(svc), &m, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  MR_OOM_IF(call, mr_model_to_pb(&arena, &m, reply) != 0);
  return SHIMKIT_OK;
}

static shimkit_code get_model(shimkit_call *call, const Shimkit__Ml__V1__GetModelRequest *req,
                              Shimkit__Ml__V1__RegisteredModel *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", req->name, msg, sizeof msg));
  mr_arena arena = mr_call_arena(call);
  mr_err err = {{0}};
  mr_model m = {0};
  mr_rc rc = OPS(svc)->get_model(SELF(svc), req->name, &arena, &m, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  MR_OOM_IF(call, mr_model_to_pb(&arena, &m, reply) != 0);
  return SHIMKIT_OK;
}

static shimkit_code list_models(shimkit_call *call, const Shimkit__Ml__V1__ListModelsRequest *req,
                                Shimkit__Ml__V1__ListModelsResponse *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  mr_arena arena = mr_call_arena(call);
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_text("name_prefix", req->name_prefix, MR_NAME_MAX, msg, sizeof msg));
  size_t limit = page_size(req->page);
  char *after = "";
  const char *token = page_token(req->page);
  if (token[0] && mr_page_token_parse_name(&arena, token, &after) != 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "page_token is not one this server issued for ListModels");
  mr_model *models = NULL;
  size_t n = 0;
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->list_models(SELF(svc), req->name_prefix ? req->name_prefix : "", after, limit + 1, &arena,
                                   &models, &n, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  size_t shown = n > limit ? limit : n;
  reply->models = arena.alloc(arena.ctx, (shown + 1) * sizeof *reply->models);
  MR_OOM_IF(call, !reply->models);
  for (size_t i = 0; i < shown; i++) {
    Shimkit__Ml__V1__RegisteredModel *pb = arena.alloc(arena.ctx, sizeof *pb);
    MR_OOM_IF(call, !pb);
    shimkit__ml__v1__registered_model__init(pb);
    MR_OOM_IF(call, mr_model_to_pb(&arena, &models[i], pb) != 0);
    reply->models[reply->n_models++] = pb;
  }
  if (n > limit) {
    reply->next_page_token = mr_page_token_name(&arena, models[shown - 1].name);
    MR_OOM_IF(call, !reply->next_page_token);
  }
  return SHIMKIT_OK;
}

static shimkit_code delete_model(shimkit_call *call, const Shimkit__Ml__V1__DeleteModelRequest *req,
                                 Shimkit__Ml__V1__DeleteModelResponse *reply, void *user_data) {
  (void)reply;
  const mr_service *svc = SVC(user_data);
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", req->name, msg, sizeof msg));
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->delete_model(SELF(svc), req->name, &err);
  return rc == MR_OK ? SHIMKIT_OK : mr_fail(call, rc, &err);
}

/* ---- versions ------------------------------------------------------------------- */

static shimkit_code get_version(shimkit_call *call, const Shimkit__Ml__V1__GetVersionRequest *req,
                                Shimkit__Ml__V1__ModelVersion *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  uint64_t version = 0;
  shimkit_code code = mr_resolve_ref(call, svc, req->ref, &version);
  if (code != SHIMKIT_OK) return code;
  return mr_fetch_version(call, svc, req->ref->model_name, version, reply);
}

static shimkit_code list_versions(shimkit_call *call, const Shimkit__Ml__V1__ListVersionsRequest *req,
                                  Shimkit__Ml__V1__ListVersionsResponse *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", req->model_name, msg, sizeof msg));
  mr_arena arena = mr_call_arena(call);
  size_t limit = page_size(req->page);
  uint64_t after = 0;
  const char *token = page_token(req->page);
  if (token[0] && mr_page_token_parse_version(token, &after) != 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "page_token is not one this server issued for ListVersions");
  mr_version *versions = NULL;
  mr_alias *aliases = NULL;
  size_t n = 0, n_aliases = 0;
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->list_versions(SELF(svc), req->model_name, after, limit + 1, &arena, &versions, &n, &err);
  if (rc == MR_OK) rc = OPS(svc)->list_aliases(SELF(svc), req->model_name, &arena, &aliases, &n_aliases, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  size_t shown = n > limit ? limit : n;
  reply->versions = arena.alloc(arena.ctx, (shown + 1) * sizeof *reply->versions);
  MR_OOM_IF(call, !reply->versions);
  for (size_t i = 0; i < shown; i++) {
    Shimkit__Ml__V1__ModelVersion *pb = arena.alloc(arena.ctx, sizeof *pb);
    MR_OOM_IF(call, !pb);
    shimkit__ml__v1__model_version__init(pb);
    MR_OOM_IF(call, mr_version_to_pb(&arena, &versions[i], aliases, n_aliases, pb) != 0);
    reply->versions[reply->n_versions++] = pb;
  }
  if (n > limit) {
    reply->next_page_token = mr_page_token_version(&arena, versions[shown - 1].version);
    MR_OOM_IF(call, !reply->next_page_token);
  }
  return SHIMKIT_OK;
}

static shimkit_code set_version_status(shimkit_call *call, const Shimkit__Ml__V1__SetVersionStatusRequest *req,
                                       Shimkit__Ml__V1__ModelVersion *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", req->model_name, msg, sizeof msg));
  if (req->version == 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "version 0 does not exist: versions start at 1");
  if (req->status != SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY &&
      req->status != SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_ARCHIVED)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "status %d is not one a version can be set to (READY or ARCHIVED)", (int)req->status);
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->set_status(SELF(svc), req->model_name, req->version, (int)req->status, mr_now_ns(), &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  return mr_fetch_version(call, svc, req->model_name, req->version, reply);
}

/* ---- aliases ---------------------------------------------------------------------- */

static shimkit_code check_alias_names(shimkit_call *call, const char *model, const char *alias) {
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", model, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_name("alias", alias, msg, sizeof msg));
  return SHIMKIT_OK;
}

static shimkit_code set_alias(shimkit_call *call, const Shimkit__Ml__V1__SetAliasRequest *req,
                              Shimkit__Ml__V1__Alias *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  shimkit_code code = check_alias_names(call, req->model_name, req->alias);
  if (code != SHIMKIT_OK) return code;
  if (req->version == 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "version 0 does not exist: versions start at 1");
  mr_alias a = {.model_name = req->model_name, .alias = req->alias, .version = req->version};
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->set_alias(SELF(svc), &a, mr_now_ns(), &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  reply->model_name = req->model_name;
  reply->alias = req->alias;
  reply->version = req->version;
  return SHIMKIT_OK;
}

static shimkit_code get_alias(shimkit_call *call, const Shimkit__Ml__V1__GetAliasRequest *req,
                              Shimkit__Ml__V1__Alias *reply, void *user_data) {
  const mr_service *svc = SVC(user_data);
  shimkit_code code = check_alias_names(call, req->model_name, req->alias);
  if (code != SHIMKIT_OK) return code;
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->get_alias(SELF(svc), req->model_name, req->alias, &reply->version, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  reply->model_name = req->model_name;
  reply->alias = req->alias;
  return SHIMKIT_OK;
}

static shimkit_code delete_alias(shimkit_call *call, const Shimkit__Ml__V1__DeleteAliasRequest *req,
                                 Shimkit__Ml__V1__DeleteAliasResponse *reply, void *user_data) {
  (void)reply;
  const mr_service *svc = SVC(user_data);
  shimkit_code code = check_alias_names(call, req->model_name, req->alias);
  if (code != SHIMKIT_OK) return code;
  mr_err err = {{0}};
  mr_rc rc = OPS(svc)->delete_alias(SELF(svc), req->model_name, req->alias, mr_now_ns(), &err);
  return rc == MR_OK ? SHIMKIT_OK : mr_fail(call, rc, &err);
}

/* ---- the table -------------------------------------------------------------------- */

const Shimkit__Ml__V1__ModelRepository_Handlers mr_handlers = {
    .create_model = create_model,
    .get_model = get_model,
    .list_models = list_models,
    .delete_model = delete_model,
    .upload_version = mr_upload_version,
    .get_version = get_version,
    .list_versions = list_versions,
    .set_version_status = set_version_status,
    .download_artifact = mr_download_artifact,
    .set_alias = set_alias,
    .get_alias = get_alias,
    .delete_alias = delete_alias,
    .export_ = mr_export,
    .import = mr_import,
};

shimkit_code mr_service_register(shimkit_server *srv, mr_service *svc) {
  return shimkit__ml__v1__model_repository__shimkit_register(srv, &mr_handlers, svc);
}
