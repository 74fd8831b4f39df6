/*
 * mr_transfer.c - Export and Import: the whole repository as a stream of
 * RepositoryRecords (per model: the model, then each version followed by its
 * artifact chunks in order, then its aliases), so that state moves from one
 * back end to another by piping Export into Import.
 *
 * Import applies records one by one with the times and numbers they carry;
 * every version goes through the same sha256/size check as an upload and is
 * stored only when all its chunks arrived intact. A failure ends the call;
 * records applied before it stay (the summary of a failed call is not sent).
 * Import is idempotent for identical content, so a copy cut off half-way can
 * be run again: a model that exists, and a version that exists with the same
 * sha256 (its chunks are read and dropped), are skipped and counted as
 * present; a version that exists with another sha256 is ALREADY_EXISTS.
 * This is decided here, for every back end, from get_version.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr_convert.h"
#include "mr_ingest.h"
#include "mr_validate.h"

#define EXPORT_PAGE 100u

typedef Shimkit__Ml__V1__RepositoryRecord record;

/* ---- Export ---------------------------------------------------------------------- */

static int send(shimkit_call *call, record *r) {
  return shimkit__ml__v1__model_repository__shimkit_export__write(call, r);
}

static shimkit_code gone(shimkit_call *call) {
  return shimkit_call_error(call, SHIMKIT_CANCELLED, "client went away during Export");
}

/* One version's record and its artifact as chunks. */
static shimkit_code export_version(shimkit_call *call, const mr_service *svc, mr_arena *arena, const mr_version *v,
                                   uint8_t *buf) {
  Shimkit__Ml__V1__ModelVersion pb = SHIMKIT__ML__V1__MODEL_VERSION__INIT;
  MR_OOM_IF(call, mr_version_to_pb(arena, v, NULL, 0, &pb) != 0);
  record r = SHIMKIT__ML__V1__REPOSITORY_RECORD__INIT;
  r.record_case = SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_VERSION;
  r.version = &pb;
  if (send(call, &r) != 0) return gone(call);

  void *reader = NULL;
  mr_err err = {{0}};
  mr_rc rc = svc->backend.ops->artifact_open(svc->backend.self, v->model_name, v->version, &reader, &err);
  uint64_t offset = 0;
  while (rc == MR_OK) {
    size_t got = 0;
    rc = svc->backend.ops->artifact_read(svc->backend.self, reader, buf, MR_CHUNK_DEFAULT, &got, &err);
    if (rc != MR_OK || got == 0) break;
    Shimkit__Ml__V1__ArtifactChunk chunk = SHIMKIT__ML__V1__ARTIFACT_CHUNK__INIT;
    chunk.offset = offset;
    chunk.data.data = buf;
    chunk.data.len = got;
    record c = SHIMKIT__ML__V1__REPOSITORY_RECORD__INIT;
    c.record_case = SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_CHUNK;
    c.chunk = &chunk;
    if (send(call, &c) != 0) {
      svc->backend.ops->artifact_close(svc->backend.self, reader);
      return gone(call);
    }
    offset += got;
  }
  svc->backend.ops->artifact_close(svc->backend.self, reader);
  return rc == MR_OK ? SHIMKIT_OK : mr_fail(call, rc, &err);
}

/* A model, its versions with their artifacts, then its aliases. */
static shimkit_code export_model(shimkit_call *call, const mr_service *svc, const mr_model *m, uint8_t *buf) {
  mr_scratch scratch = {0};
  mr_arena arena = mr_scratch_arena(&scratch);
  mr_err err = {{0}};
  shimkit_code code = SHIMKIT_OK;
  Shimkit__Ml__V1__RegisteredModel pb = SHIMKIT__ML__V1__REGISTERED_MODEL__INIT;
  record r = SHIMKIT__ML__V1__REPOSITORY_RECORD__INIT;
  if (mr_model_to_pb(&arena, m, &pb) != 0) {
    mr_scratch_free(&scratch);
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  }
  r.record_case = SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_MODEL;
  r.model = &pb;
  if (send(call, &r) != 0) code = gone(call);

  uint64_t after = 0;
  while (code == SHIMKIT_OK) {
    mr_scratch page = {0};
    mr_arena page_arena = mr_scratch_arena(&page);
    mr_version *versions = NULL;
    size_t n = 0;
    mr_rc rc = svc->backend.ops->list_versions(svc->backend.self, m->name, after, EXPORT_PAGE, &page_arena,
                                               &versions, &n, &err);
    if (rc != MR_OK) code = mr_fail(call, rc, &err);
    for (size_t i = 0; code == SHIMKIT_OK && i < n; i++) {
      code = export_version(call, svc, &page_arena, &versions[i], buf);
      after = versions[i].version;
    }
    mr_scratch_free(&page);
    if (n < EXPORT_PAGE) break;
  }

  mr_alias *aliases = NULL;
  size_t n_aliases = 0;
  if (code == SHIMKIT_OK) {
    mr_rc rc = svc->backend.ops->list_aliases(svc->backend.self, m->name, &arena, &aliases, &n_aliases, &err);
    if (rc != MR_OK) code = mr_fail(call, rc, &err);
  }
  for (size_t i = 0; code == SHIMKIT_OK && i < n_aliases; i++) {
    Shimkit__Ml__V1__Alias a = SHIMKIT__ML__V1__ALIAS__INIT;
    a.model_name = (char *)aliases[i].model_name;
    a.alias = (char *)aliases[i].alias;
    a.version = aliases[i].version;
    record ar = SHIMKIT__ML__V1__REPOSITORY_RECORD__INIT;
    ar.record_case = SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_ALIAS;
    ar.alias = &a;
    if (send(call, &ar) != 0) code = gone(call);
  }
  mr_scratch_free(&scratch);
  return code;
}

shimkit_code mr_export(shimkit_call *call, const Shimkit__Ml__V1__ExportRequest *req, void *user_data) {
  (void)req;
  const mr_service *svc = user_data;
  uint8_t *buf = malloc(MR_CHUNK_DEFAULT);
  MR_OOM_IF(call, !buf);
  char *after = NULL;
  shimkit_code code = SHIMKIT_OK;
  for (;;) {
    mr_scratch page = {0};
    mr_arena arena = mr_scratch_arena(&page);
    mr_model *models = NULL;
    size_t n = 0;
    mr_err err = {{0}};
    mr_rc rc = svc->backend.ops->list_models(svc->backend.self, "", after ? after : "", EXPORT_PAGE, &arena,
                                             &models, &n, &err);
    if (rc != MR_OK) code = mr_fail(call, rc, &err);
    for (size_t i = 0; code == SHIMKIT_OK && i < n; i++) code = export_model(call, svc, &models[i], buf);
    free(after);
    after = (code == SHIMKIT_OK && n == EXPORT_PAGE) ? strdup(models[n - 1].name) : NULL;
    mr_scratch_free(&page);
    if (code != SHIMKIT_OK || !after) break;
  }
  free(after);
  free(buf);
  return code;
}

/* ---- Import ------------------------------------------------------------------------ */

typedef struct import_state {
  const mr_service *svc;
  Shimkit__Ml__V1__ImportSummary *summary;
  mr_ingest in;     /* the version whose chunks are arriving, if pending and not present */
  mr_version v;     /* its metadata (strings in the call's memory) */
  int pending;      /* 1 while a version's chunks are arriving */
  int present;      /* with pending: the version is stored already; its chunks are dropped */
  uint64_t dropped; /* bytes of the present version's chunks so far */
} import_state;

/*
 * *present = 1 when v is stored already with the same sha256. The same
 * number with another sha256 is ALREADY_EXISTS, naming both; a missing
 * model or version is simply not present.
 */
static shimkit_code version_present(shimkit_call *call, const mr_service *svc, const mr_version *v,
                                    int *present) {
  mr_scratch scratch = {0};
  mr_arena arena = mr_scratch_arena(&scratch);
  mr_version have;
  mr_err err = {{0}};
  mr_rc rc = svc->backend.ops->get_version(svc->backend.self, v->model_name, v->version, &arena, &have, &err);
  *present = rc == MR_OK && strcmp(have.sha256, v->sha256) == 0;
  if (rc == MR_OK && !*present) {
    mr_err_version_exists(&err, v->model_name, v->version);
    size_t len = strlen(err.msg);
    snprintf(err.msg + len, sizeof err.msg - len, " with sha256 %s, not %s", have.sha256, v->sha256);
    rc = MR_EXISTS;
  }
  shimkit_code code = rc == MR_OK || rc == MR_NOT_FOUND ? SHIMKIT_OK : mr_fail(call, rc, &err);
  mr_scratch_free(&scratch);
  return code;
}

/* Commits the pending version (or counts it present). */
static shimkit_code finish_version(shimkit_call *call, import_state *st) {
  if (!st->pending) return SHIMKIT_OK;
  st->pending = 0;
  int taken = 0;
  shimkit_code code = st->present ? SHIMKIT_OK : mr_ingest_commit(call, &st->in, &st->v, 0, &taken);
  if (code == SHIMKIT_OK && taken) { /* stored meanwhile by another call: present if the same */
    code = version_present(call, st->svc, &st->v, &st->present);
    if (code == SHIMKIT_OK && !st->present) {
      mr_err err = {{0}};
      code = mr_fail(call, mr_err_version_exists(&err, st->v.model_name, st->v.version), &err);
    }
  }
  if (code != SHIMKIT_OK) return code;
  if (st->present) {
    st->present = 0;
    st->summary->versions_present++;
  } else {
    st->summary->versions++;
    st->summary->artifact_bytes += st->v.size_bytes;
  }
  return SHIMKIT_OK;
}

static shimkit_code import_model(shimkit_call *call, import_state *st, const Shimkit__Ml__V1__RegisteredModel *pb) {
  char msg[MR_VALIDATE_MSG_MAX];
  const char *bad;
  MR_REJECT_IF(call, mr_check_name("model name", pb->name, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("description", pb->description, MR_TEXT_MAX, msg, sizeof msg));
  MR_CHECK_TAGS(pb->n_tags, pb->tags, msg, sizeof msg, bad);
  MR_REJECT_IF(call, bad);
  mr_arena arena = mr_call_arena(call);
  const char **keys, **values;
  uint8_t *tags;
  mr_model m = {.name = pb->name, .description = pb->description};
  MR_OOM_IF(call, MR_TAG_ARRAYS(&arena, pb->n_tags, pb->tags, keys, values) != 0);
  MR_OOM_IF(call, mr_pack_model_tags(&arena, pb->n_tags, keys, values, &tags, &m.tags_len) != 0);
  m.tags = tags;
  int64_t now = mr_now_ns();
  m.created_ns = pb->created_at ? mr_timestamp_ns(pb->created_at) : now;
  m.updated_ns = pb->updated_at ? mr_timestamp_ns(pb->updated_at) : m.created_ns;
  mr_err err = {{0}};
  mr_rc rc = st->svc->backend.ops->create_model(st->svc->backend.self, &m, &err);
  if (rc == MR_EXISTS) {
    st->summary->models_present++;
    return SHIMKIT_OK;
  }
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  st->summary->models++;
  return SHIMKIT_OK;
}

static shimkit_code import_version(shimkit_call *call, import_state *st, const Shimkit__Ml__V1__ModelVersion *pb) {
  char msg[MR_VALIDATE_MSG_MAX];
  const char *bad;
  MR_REJECT_IF(call, mr_check_name("model name", pb->model_name, msg, sizeof msg));
  if (pb->version == 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "version record of model '%s' has version 0",
                              pb->model_name);
  MR_REJECT_IF(call, mr_check_sha256(pb->sha256, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("framework", pb->framework, MR_NAME_MAX, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_text("description", pb->description, MR_TEXT_MAX, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_tensors("inputs", pb->n_inputs, pb->inputs, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_tensors("outputs", pb->n_outputs, pb->outputs, msg, sizeof msg));
  MR_CHECK_TAGS(pb->n_tags, pb->tags, msg, sizeof msg, bad);
  MR_REJECT_IF(call, bad);
  int status = pb->status;
  if (status == SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_UNSPECIFIED)
    status = SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY;
  if (status != SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY &&
      status != SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_ARCHIVED)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "version record has unknown status %d", status);

  mr_arena arena = mr_call_arena(call);
  const char **keys, **values;
  uint8_t *spec;
  mr_version *v = &st->v;
  memset(v, 0, sizeof *v);
  MR_OOM_IF(call, MR_TAG_ARRAYS(&arena, pb->n_tags, pb->tags, keys, values) != 0);
  MR_OOM_IF(call, mr_pack_version_spec(&arena, pb->n_inputs, pb->inputs, pb->n_outputs, pb->outputs, pb->n_tags,
                                       keys, values, &spec, &v->spec_len) != 0);
  v->spec = spec;
  v->model_name = mr_arena_strdup(&arena, pb->model_name);
  v->framework = mr_arena_strdup(&arena, pb->framework);
  v->description = mr_arena_strdup(&arena, pb->description);
  v->sha256 = mr_arena_strdup(&arena, pb->sha256);
  MR_OOM_IF(call, !v->model_name || !v->framework || !v->description || !v->sha256);
  v->version = pb->version;
  v->status = status;
  v->size_bytes = pb->size_bytes;
  v->created_ns = pb->created_at ? mr_timestamp_ns(pb->created_at) : mr_now_ns();
  shimkit_code code = version_present(call, st->svc, v, &st->present);
  if (code == SHIMKIT_OK && !st->present) code = mr_ingest_begin(call, st->svc, v->model_name, &st->in);
  if (code != SHIMKIT_OK) return code;
  st->pending = 1;
  st->dropped = 0;
  return SHIMKIT_OK;
}

static shimkit_code import_chunk(shimkit_call *call, import_state *st, const Shimkit__Ml__V1__ArtifactChunk *c) {
  if (!st->pending)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "an artifact chunk must follow its version record");
  uint64_t expected = st->present ? st->dropped : st->in.bytes;
  if (c->offset != expected)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "chunk of version %llu of model '%s' starts at offset %llu, expected %llu",
                              (unsigned long long)st->v.version, st->v.model_name,
                              (unsigned long long)c->offset, (unsigned long long)expected);
  if (st->present) {
    st->dropped += c->data.len;
    return SHIMKIT_OK;
  }
  return mr_ingest_write(call, &st->in, c->data.data, c->data.len);
}

static shimkit_code import_alias(shimkit_call *call, import_state *st, const Shimkit__Ml__V1__Alias *a) {
  char msg[MR_VALIDATE_MSG_MAX];
  MR_REJECT_IF(call, mr_check_name("model name", a->model_name, msg, sizeof msg));
  MR_REJECT_IF(call, mr_check_name("alias", a->alias, msg, sizeof msg));
  mr_alias al = {.model_name = a->model_name, .alias = a->alias, .version = a->version};
  mr_err err = {{0}};
  mr_rc rc = st->svc->backend.ops->set_alias(st->svc->backend.self, &al, 0, &err);
  if (rc != MR_OK) return mr_fail(call, rc, &err);
  st->summary->aliases++;
  return SHIMKIT_OK;
}

static shimkit_code import_record(shimkit_call *call, import_state *st, const record *r) {
  if (r->record_case == SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_CHUNK) return import_chunk(call, st, r->chunk);
  shimkit_code code = finish_version(call, st);
  if (code != SHIMKIT_OK) return code;
  switch (r->record_case) {
    case SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_MODEL: return import_model(call, st, r->model);
    case SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_VERSION: return import_version(call, st, r->version);
    case SHIMKIT__ML__V1__REPOSITORY_RECORD__RECORD_ALIAS: return import_alias(call, st, r->alias);
    default: return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "empty record in Import");
  }
}

shimkit_code mr_import(shimkit_call *call, Shimkit__Ml__V1__ImportSummary *response, void *user_data) {
  import_state st = {.svc = user_data, .summary = response};
  record *r;
  int rc = 0;
  shimkit_code code = SHIMKIT_OK;
  while (code == SHIMKIT_OK && (rc = shimkit__ml__v1__model_repository__shimkit_import_read(call, &r)) == 1)
    code = import_record(call, &st, r);
  if (code == SHIMKIT_OK && rc < 0)
    code = shimkit_call_error(call, SHIMKIT_CANCELLED, "Import cut off; the version in progress was not stored");
  if (code == SHIMKIT_OK) return finish_version(call, &st);
  if (st.pending) mr_ingest_abort(&st.in);
  return code;
}
