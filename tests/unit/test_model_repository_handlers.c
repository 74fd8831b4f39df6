/*
 * test_model_repository_handlers.c - the shared ModelRepository handlers
 * (services/model_repository) with the native layer faked: a fake
 * mr_backend_ops whose operations return what each test sets. A real
 * shimkit server on 127.0.0.1:0 serves mr_handlers; the generated C client
 * stubs call it. Covers the error paths hard to cause with a real back end:
 * every mr_rc -> its gRPC code with the back end's message, failed writes
 * and commits, and that a partial upload is always aborted, never committed.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr_service.h"

/* ---- the fake back end ----------------------------------------------------------- */

typedef struct fake {
  mr_rc rc;            /* what model/alias/version operations return */
  const char *msg;     /* with this message */
  mr_rc write_rc;      /* upload_write */
  mr_rc commit_rc;     /* upload_commit */
  mr_rc read_rc;       /* artifact_read after the first chunk */
  int begins, writes, commits, aborts, reads;
  size_t written;
} fake;

static fake F;

static mr_rc answer(mr_err *err) {
  return F.rc == MR_OK ? MR_OK : mr_err_set(err, F.rc, "%s", F.msg);
}

static void f_close(void *self) { (void)self; }
static mr_rc f_create_model(void *s, const mr_model *m, mr_err *e) { (void)s; (void)m; return answer(e); }
static mr_rc f_get_model(void *s, const char *n, mr_arena *a, mr_model *o, mr_err *e) {
  (void)s;
  o->name = mr_arena_strdup(a, n);
  return answer(e);
}
static mr_rc f_list_models(void *s, const char *p, const char *af, size_t l, mr_arena *a, mr_model **o, size_t *n,
                           mr_err *e) {
  (void)s; (void)p; (void)af; (void)l; (void)a; *o = NULL; *n = 0;
  return answer(e);
}
static mr_rc f_delete_model(void *s, const char *n, mr_err *e) { (void)s; (void)n; return answer(e); }
static mr_rc f_get_version(void *s, const char *m, uint64_t v, mr_arena *a, mr_version *o, mr_err *e) {
  (void)s;
  o->model_name = mr_arena_strdup(a, m);
  o->version = v;
  o->sha256 = "";
  o->size_bytes = 10;
  return answer(e);
}
static mr_rc f_list_versions(void *s, const char *m, uint64_t af, size_t l, mr_arena *a, mr_version **o, size_t *n,
                             mr_err *e) {
  (void)s; (void)m; (void)af; (void)l; (void)a; *o = NULL; *n = 0;
  return answer(e);
}
static mr_rc f_set_status(void *s, const char *m, uint64_t v, int st, int64_t now, mr_err *e) {
  (void)s; (void)m; (void)v; (void)st; (void)now;
  return answer(e);
}
static mr_rc f_set_alias(void *s, const mr_alias *al, int64_t now, mr_err *e) { (void)s; (void)al; (void)now; return answer(e); }
static mr_rc f_get_alias(void *s, const char *m, const char *al, uint64_t *v, mr_err *e) {
  (void)s; (void)m; (void)al; *v = 1;
  return answer(e);
}
static mr_rc f_delete_alias(void *s, const char *m, const char *al, int64_t now, mr_err *e) {
  (void)s; (void)m; (void)al; (void)now;
  return answer(e);
}
static mr_rc f_list_aliases(void *s, const char *m, mr_arena *a, mr_alias **o, size_t *n, mr_err *e) {
  (void)s; (void)m; (void)a; (void)e; *o = NULL; *n = 0;
  return MR_OK;
}
static mr_rc f_upload_begin(void *s, const char *m, void **up, mr_err *e) {
  (void)s; (void)m; (void)e;
  F.begins++;
  *up = &F;
  return MR_OK;
}
static mr_rc f_upload_write(void *s, void *up, const uint8_t *d, size_t len, mr_err *e) {
  (void)s; (void)up; (void)d;
  F.writes++;
  if (F.write_rc != MR_OK && F.writes == 2) return mr_err_set(e, F.write_rc, "disk full");
  F.written += len;
  return MR_OK;
}
static mr_rc f_upload_commit(void *s, void *up, mr_version *v, int64_t now, mr_err *e) {
  (void)s; (void)up; (void)now;
  F.commits++;
  v->version = 1;
  return F.commit_rc == MR_OK ? MR_OK : mr_err_set(e, F.commit_rc, "commit failed: server closed the connection");
}
static void f_upload_abort(void *s, void *up) { (void)s; (void)up; F.aborts++; }
static mr_rc f_artifact_open(void *s, const char *m, uint64_t v, void **r, mr_err *e) {
  (void)s; (void)m; (void)v; (void)e;
  *r = &F;
  return MR_OK;
}
static mr_rc f_artifact_read(void *s, void *r, uint8_t *buf, size_t cap, size_t *got, mr_err *e) {
  (void)s; (void)r;
  if (F.reads++ == 0) {
    *got = cap < 5 ? cap : 5;
    memset(buf, 'x', *got);
    return MR_OK;
  }
  *got = 0;
  return F.read_rc == MR_OK ? MR_OK : mr_err_set(e, F.read_rc, "chunk row missing");
}
static void f_artifact_close(void *s, void *r) { (void)s; (void)r; }

static const mr_backend_ops fake_ops = {
    .name = "fake", .close = f_close, .create_model = f_create_model, .get_model = f_get_model,
    .list_models = f_list_models, .delete_model = f_delete_model, .get_version = f_get_version,
    .list_versions = f_list_versions, .set_status = f_set_status, .set_alias = f_set_alias,
    .get_alias = f_get_alias, .delete_alias = f_delete_alias, .list_aliases = f_list_aliases,
    .upload_begin = f_upload_begin, .upload_write = f_upload_write, .upload_commit = f_upload_commit,
    .upload_abort = f_upload_abort, .artifact_open = f_artifact_open, .artifact_read = f_artifact_read,
    .artifact_close = f_artifact_close,
};

/* ---- server and client -------------------------------------------------------------- */

static shimkit_server *srv;
static shimkit_channel *chan;
static mr_service service = {.backend = {.ops = &fake_ops, .self = &F}};

static int setup_server(void **state) {
  (void)state;
  srv = shimkit_server_new(NULL);
  int port = 0;
  if (!srv || shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, &port) != SHIMKIT_OK) return -1;
  if (mr_service_register(srv, &service) != SHIMKIT_OK || shimkit_server_start(srv) != SHIMKIT_OK) return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  chan = shimkit_channel_new(target, NULL, 0);
  return chan ? 0 : -1;
}

static int teardown_server(void **state) {
  (void)state;
  shimkit_channel_free(chan);
  shimkit_server_shutdown(srv);
  shimkit_server_wait(srv);
  shimkit_server_free(srv);
  return 0;
}

static int reset(void **state) {
  (void)state;
  memset(&F, 0, sizeof F);
  return 0;
}

/* GetModel with the fake answering rc; returns the code and leaves the message in st. */
static shimkit_code get_model(mr_rc rc, const char *msg, shimkit_status *st) {
  F.rc = rc;
  F.msg = msg;
  Shimkit__Ml__V1__GetModelRequest req = SHIMKIT__ML__V1__GET_MODEL_REQUEST__INIT;
  req.name = "m";
  Shimkit__Ml__V1__RegisteredModel *reply = NULL;
  shimkit_call_options opts = {.timeout_ms = 10000, .status_out = st};
  shimkit_code code = shimkit__ml__v1__model_repository__shimkit_get_model(chan, &req, &reply, &opts);
  if (reply) protobuf_c_message_free_unpacked(&reply->base, NULL);
  return code;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void every_result_maps_to_its_code(void **state) {
  (void)state;
  static const struct {
    mr_rc rc;
    shimkit_code code;
  } table[] = {
      {MR_OK, SHIMKIT_OK},
      {MR_NOT_FOUND, SHIMKIT_NOT_FOUND},
      {MR_EXISTS, SHIMKIT_ALREADY_EXISTS},
      {MR_UNAVAILABLE, SHIMKIT_UNAVAILABLE},
      {MR_FAILED, SHIMKIT_INTERNAL},
      {(mr_rc)42, SHIMKIT_UNKNOWN},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    shimkit_status st = {0};
    assert_int_equal(get_model(table[i].rc, "native says why", &st), table[i].code);
    if (table[i].rc != MR_OK) {
      assert_non_null(st.message);
      assert_non_null(strstr(st.message, "native says why"));
    }
    shimkit_status_clear(&st);
  }
}

static void unavailable_keeps_the_native_message(void **state) {
  (void)state;
  shimkit_status st = {0};
  assert_int_equal(get_model(MR_UNAVAILABLE, "PostgreSQL is unavailable: connection refused", &st),
                   SHIMKIT_UNAVAILABLE);
  assert_string_equal(st.message, "PostgreSQL is unavailable: connection refused");
  shimkit_status_clear(&st);
}

static void sha_hex(const uint8_t *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Uploads 3 chunks of 4 bytes with the given declared sha256; returns the status. */
static shimkit_code upload(const char *declared) {
  shimkit_call_options opts = {.timeout_ms = 10000};
  shimkit_client_call *call = shimkit__ml__v1__model_repository__shimkit_upload_version_start(chan, &opts);
  assert_non_null(call);
  Shimkit__Ml__V1__UploadHeader h = SHIMKIT__ML__V1__UPLOAD_HEADER__INIT;
  h.model_name = "m";
  h.sha256 = (char *)declared;
  Shimkit__Ml__V1__UploadVersionRequest req = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__INIT;
  req.part_case = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_HEADER;
  req.header = &h;
  shimkit__ml__v1__model_repository__shimkit_upload_version_send(call, &req);
  for (int i = 0; i < 3; i++) {
    Shimkit__Ml__V1__UploadVersionRequest c = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__INIT;
    c.part_case = SHIMKIT__ML__V1__UPLOAD_VERSION_REQUEST__PART_CHUNK;
    c.chunk.data = (uint8_t *)"abcd";
    c.chunk.len = 4;
    if (shimkit__ml__v1__model_repository__shimkit_upload_version_send(call, &c) != 0) break;
  }
  shimkit_client_call_close_send(call);
  Shimkit__Ml__V1__ModelVersion *reply = NULL;
  if (shimkit__ml__v1__model_repository__shimkit_upload_version_recv(call, &reply) == 1)
    protobuf_c_message_free_unpacked(&reply->base, NULL);
  return shimkit_client_call_finish(call);
}

static void upload_commits_when_intact(void **state) {
  (void)state;
  char sha[65];
  sha_hex((const uint8_t *)"abcdabcdabcd", 12, sha);
  assert_int_equal(upload(sha), SHIMKIT_OK);
  assert_int_equal(F.commits, 1);
  assert_int_equal(F.aborts, 0);
  assert_int_equal(F.written, 12);
}

static void failed_write_aborts_the_partial_upload(void **state) {
  (void)state;
  char sha[65];
  sha_hex((const uint8_t *)"abcdabcdabcd", 12, sha);
  F.write_rc = MR_FAILED;
  assert_int_equal(upload(sha), SHIMKIT_INTERNAL);
  assert_int_equal(F.begins, 1);
  assert_int_equal(F.commits, 0);
  assert_int_equal(F.aborts, 1);
}

static void checksum_mismatch_aborts_with_data_loss(void **state) {
  (void)state;
  char sha[65];
  sha_hex((const uint8_t *)"something else", 14, sha);
  assert_int_equal(upload(sha), SHIMKIT_DATA_LOSS);
  assert_int_equal(F.commits, 0);
  assert_int_equal(F.aborts, 1);
}

static void failed_commit_is_reported_not_aborted_twice(void **state) {
  (void)state;
  char sha[65];
  sha_hex((const uint8_t *)"abcdabcdabcd", 12, sha);
  F.commit_rc = MR_UNAVAILABLE;
  assert_int_equal(upload(sha), SHIMKIT_UNAVAILABLE);
  assert_int_equal(F.commits, 1);
  assert_int_equal(F.aborts, 0); /* commit consumes the upload whatever it returns */
}

static void failed_read_mid_download_is_internal(void **state) {
  (void)state;
  F.read_rc = MR_FAILED;
  Shimkit__Ml__V1__VersionRef ref = SHIMKIT__ML__V1__VERSION_REF__INIT;
  ref.model_name = "m";
  ref.selector_case = SHIMKIT__ML__V1__VERSION_REF__SELECTOR_VERSION;
  ref.version = 1;
  Shimkit__Ml__V1__DownloadArtifactRequest req = SHIMKIT__ML__V1__DOWNLOAD_ARTIFACT_REQUEST__INIT;
  req.ref = &ref;
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = 10000, .status_out = &st};
  shimkit_client_call *call = shimkit__ml__v1__model_repository__shimkit_download_artifact_start(chan, &req, &opts);
  Shimkit__Ml__V1__ArtifactChunk *chunk;
  int chunks = 0;
  while (shimkit__ml__v1__model_repository__shimkit_download_artifact_recv(call, &chunk) == 1) {
    assert_true(chunks > 0 || chunk->version != NULL); /* the first carries the metadata */
    protobuf_c_message_free_unpacked(&chunk->base, NULL);
    chunks++;
  }
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_INTERNAL);
  assert_non_null(strstr(st.message, "chunk row missing"));
  assert_int_equal(chunks, 1);
  shimkit_status_clear(&st);
}

static void short_artifact_is_data_loss(void **state) {
  (void)state;
  /* The fake's version says 10 bytes; it yields 5. */
  Shimkit__Ml__V1__VersionRef ref = SHIMKIT__ML__V1__VERSION_REF__INIT;
  ref.model_name = "m";
  ref.selector_case = SHIMKIT__ML__V1__VERSION_REF__SELECTOR_ALIAS;
  ref.alias = "production";
  Shimkit__Ml__V1__DownloadArtifactRequest req = SHIMKIT__ML__V1__DOWNLOAD_ARTIFACT_REQUEST__INIT;
  req.ref = &ref;
  shimkit_call_options opts = {.timeout_ms = 10000};
  shimkit_client_call *call = shimkit__ml__v1__model_repository__shimkit_download_artifact_start(chan, &req, &opts);
  Shimkit__Ml__V1__ArtifactChunk *chunk;
  while (shimkit__ml__v1__model_repository__shimkit_download_artifact_recv(call, &chunk) == 1)
    protobuf_c_message_free_unpacked(&chunk->base, NULL);
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_DATA_LOSS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(every_result_maps_to_its_code, reset),
      cmocka_unit_test_setup(unavailable_keeps_the_native_message, reset),
      cmocka_unit_test_setup(upload_commits_when_intact, reset),
      cmocka_unit_test_setup(failed_write_aborts_the_partial_upload, reset),
      cmocka_unit_test_setup(checksum_mismatch_aborts_with_data_loss, reset),
      cmocka_unit_test_setup(failed_commit_is_reported_not_aborted_twice, reset),
      cmocka_unit_test_setup(failed_read_mid_download_is_internal, reset),
      cmocka_unit_test_setup(short_artifact_is_data_loss, reset),
  };
  return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
