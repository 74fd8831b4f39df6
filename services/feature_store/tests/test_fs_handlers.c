/*
 * test_fs_handlers.c - the FeatureStore handlers over a fake native adapter
 * (fake_backend.c), called through a real in-process server and the
 * generated C client stubs: each native failure becomes the right gRPC code
 * and message, and results are converted (order, statuses, paging, streams)
 * as the shared interface says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"
#include "fs_convert.h"
#include "fs_mem.h"
#include "fs_handlers.h"
#include "fs_views.h"

typedef struct fixture {
  shimkit_server *srv;
  shimkit_channel *ch;
  fake_backend fake;
  fs_backend backend;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->backend = (fs_backend){.ops = &fake_ops, .be = &f->fake};
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  opts.worker_threads = 2;
  opts.handle_signals = false;
  opts.access_log = false;
  f->srv = shimkit_server_new(&opts);
  int port = 0;
  assert_int_equal(shimkit_server_add_listener(f->srv, "127.0.0.1:0", NULL, &port), SHIMKIT_OK);
  assert_int_equal(shimkit__ml__v1__feature_store__shimkit_register(f->srv, &fs_handlers, &f->backend), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(f->srv), SHIMKIT_OK);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  f->ch = shimkit_channel_new(target, NULL, 0);
  assert_non_null(f->ch);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  shimkit_channel_free(f->ch);
  shimkit_server_shutdown(f->srv);
  shimkit_server_wait(f->srv);
  shimkit_server_free(f->srv);
  fs_views_free(f->backend.views);
  free(f);
  return 0;
}

/* GetFeatureView "v"; returns the code, copies the status message into msg. */
static shimkit_code get_view(fixture *f, const char *name, char *msg, size_t len) {
  Shimkit__Ml__V1__GetFeatureViewRequest req = SHIMKIT__ML__V1__GET_FEATURE_VIEW_REQUEST__INIT;
  req.name = (char *)name;
  Shimkit__Ml__V1__FeatureView *resp = NULL;
  shimkit_status st = {0};
  shimkit_call_options o = {.timeout_ms = 10000, .status_out = &st};
  shimkit_code code = shimkit__ml__v1__feature_store__shimkit_get_feature_view(f->ch, &req, &resp, &o);
  snprintf(msg, len, "%s", st.message ? st.message : "");
  shimkit_status_clear(&st);
  if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
  return code;
}

/* ---- the mapping ------------------------------------------------------------ */

static void test_rc_to_code_table(void **state) {
  (void)state;
  assert_int_equal(fs_rc_to_code(FS_OK), SHIMKIT_OK);
  assert_int_equal(fs_rc_to_code(FS_NOT_FOUND), SHIMKIT_NOT_FOUND);
  assert_int_equal(fs_rc_to_code(FS_EXISTS), SHIMKIT_ALREADY_EXISTS);
  assert_int_equal(fs_rc_to_code(FS_UNAVAILABLE), SHIMKIT_UNAVAILABLE);
  assert_int_equal(fs_rc_to_code(FS_FULL), SHIMKIT_RESOURCE_EXHAUSTED);
  assert_int_equal(fs_rc_to_code(FS_CORRUPT), SHIMKIT_DATA_LOSS);
  assert_int_equal(fs_rc_to_code(FS_ERROR), SHIMKIT_INTERNAL);
  assert_int_equal(fs_rc_to_code(FS_CHANGED), SHIMKIT_ABORTED);
}

static void test_native_failures_reach_the_client(void **state) {
  fixture *f = *state;
  static const struct {
    fs_rc rc;
    shimkit_code code;
    const char *needle;
  } cases[] = {
      {FS_UNAVAILABLE, SHIMKIT_UNAVAILABLE, "fake back end: store down"},
      {FS_FULL, SHIMKIT_RESOURCE_EXHAUSTED, "fake back end: store down"},
      {FS_CORRUPT, SHIMKIT_DATA_LOSS, "fake back end: store down"},
      {FS_ERROR, SHIMKIT_INTERNAL, "fake back end: store down"},
      {FS_NOT_FOUND, SHIMKIT_NOT_FOUND, "feature view \"v\" does not exist"},
  };
  f->fake.msg = "store down";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char msg[512];
    f->fake.get_rc = cases[i].rc;
    assert_int_equal(get_view(f, "v", msg, sizeof msg), cases[i].code);
    assert_non_null(strstr(msg, cases[i].needle));
  }
  f->fake.get_rc = FS_OK;
  char msg[512];
  assert_int_equal(get_view(f, "v", msg, sizeof msg), SHIMKIT_OK);
  /* a name no view can have is NOT_FOUND without asking the store */
  f->fake.get_rc = FS_ERROR;
  assert_int_equal(get_view(f, "no:such", msg, sizeof msg), SHIMKIT_NOT_FOUND);
  assert_int_equal(get_view(f, "", msg, sizeof msg), SHIMKIT_INVALID_ARGUMENT);
}

static void test_create_exists(void **state) {
  fixture *f = *state;
  Shimkit__Ml__V1__FeatureSpec spec = SHIMKIT__ML__V1__FEATURE_SPEC__INIT, *specs[] = {&spec};
  spec.name = "a";
  spec.type = SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_INT64;
  Shimkit__Ml__V1__FeatureView v = SHIMKIT__ML__V1__FEATURE_VIEW__INIT;
  v.name = "dup";
  v.entity_key = "id";
  v.n_features = 1;
  v.features = specs;
  Shimkit__Ml__V1__CreateFeatureViewRequest req = SHIMKIT__ML__V1__CREATE_FEATURE_VIEW_REQUEST__INIT;
  req.view = &v;
  Shimkit__Ml__V1__FeatureView *resp = NULL;
  shimkit_status st = {0};
  shimkit_call_options o = {.timeout_ms = 10000, .status_out = &st};
  f->fake.create_rc = FS_EXISTS;
  assert_int_equal(shimkit__ml__v1__feature_store__shimkit_create_feature_view(f->ch, &req, &resp, &o),
                   SHIMKIT_ALREADY_EXISTS);
  assert_non_null(strstr(st.message, "\"dup\" already exists"));
  shimkit_status_clear(&st);
}

/* ---- streams ------------------------------------------------------------------ */

/* WriteRows of one message with one valid row of view "v"; returns the code and the message. */
static shimkit_code write_one(fixture *f, char *msg, size_t len, uint64_t *written) {
  Shimkit__Ml__V1__FeatureValue val = SHIMKIT__ML__V1__FEATURE_VALUE__INIT;
  val.kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE;
  val.int64_value = 3;
  Shimkit__Ml__V1__FeatureRow__ValuesEntry e = SHIMKIT__ML__V1__FEATURE_ROW__VALUES_ENTRY__INIT, *ep[] = {&e};
  e.key = "a";
  e.value = &val;
  Shimkit__Ml__V1__FeatureRow row = SHIMKIT__ML__V1__FEATURE_ROW__INIT, *rows[] = {&row};
  row.entity_key = "k";
  row.n_values = 1;
  row.values = ep;
  Shimkit__Ml__V1__WriteRowsRequest req = SHIMKIT__ML__V1__WRITE_ROWS_REQUEST__INIT;
  req.view = "v";
  req.n_rows = 1;
  req.rows = rows;
  shimkit_status st = {0};
  shimkit_call_options o = {.timeout_ms = 10000, .status_out = &st};
  shimkit_client_call *c = shimkit__ml__v1__feature_store__shimkit_write_rows_start(f->ch, &o);
  assert_non_null(c);
  shimkit__ml__v1__feature_store__shimkit_write_rows_send(c, &req);
  shimkit__ml__v1__feature_store__shimkit_write_rows_send(c, &req);
  shimkit_client_call_close_send(c);
  Shimkit__Ml__V1__WriteRowsResponse *resp = NULL;
  *written = 0;
  if (shimkit__ml__v1__feature_store__shimkit_write_rows_recv(c, &resp) == 1) {
    *written = resp->rows_written;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_code code = shimkit_client_call_finish(c);
  snprintf(msg, len, "%s", st.message ? st.message : "");
  shimkit_status_clear(&st);
  return code;
}

static void test_write_failures(void **state) {
  fixture *f = *state;
  char msg[512];
  uint64_t written;
  assert_int_equal(write_one(f, msg, sizeof msg, &written), SHIMKIT_OK);
  assert_int_equal(written, 2);
  assert_int_equal(f->fake.written, 2);

  f->fake.msg = "connection refused";
  f->fake.write_rc = FS_UNAVAILABLE;
  assert_int_equal(write_one(f, msg, sizeof msg, &written), SHIMKIT_UNAVAILABLE);
  assert_non_null(strstr(msg, "message 0: fake back end: connection refused"));

  f->fake.write_rc = FS_NOT_FOUND; /* the view was deleted between the check and the write */
  assert_int_equal(write_one(f, msg, sizeof msg, &written), SHIMKIT_NOT_FOUND);
  assert_non_null(strstr(msg, "\"v\" was deleted"));

  f->fake.write_rc = FS_CHANGED; /* deleted and re-created through another shim mid-stream */
  assert_int_equal(write_one(f, msg, sizeof msg, &written), SHIMKIT_ABORTED);
  assert_non_null(strstr(msg, "\"v\" was deleted and re-created"));
  assert_non_null(strstr(msg, "nothing of this batch was written"));

  f->fake.write_rc = FS_FULL;
  assert_int_equal(write_one(f, msg, sizeof msg, &written), SHIMKIT_RESOURCE_EXHAUSTED);
}

/* ReadView of "v": rows received and the final code. */
static shimkit_code read_all(fixture *f, size_t *n_rows, char *msg, size_t len) {
  Shimkit__Ml__V1__ReadViewRequest req = SHIMKIT__ML__V1__READ_VIEW_REQUEST__INIT;
  req.view = "v";
  shimkit_status st = {0};
  shimkit_call_options o = {.timeout_ms = 20000, .status_out = &st};
  shimkit_client_call *c = shimkit__ml__v1__feature_store__shimkit_read_view_start(f->ch, &req, &o);
  assert_non_null(c);
  Shimkit__Ml__V1__FeatureRow *row = NULL;
  *n_rows = 0;
  while (shimkit__ml__v1__feature_store__shimkit_read_view_recv(c, &row) == 1) {
    char want[32];
    snprintf(want, sizeof want, "e%04zu", *n_rows);
    assert_string_equal(row->entity_key, want);
    assert_int_equal(row->event_time->seconds, (int64_t)*n_rows);
    (*n_rows)++;
    protobuf_c_message_free_unpacked(&row->base, NULL);
  }
  shimkit_code code = shimkit_client_call_finish(c);
  snprintf(msg, len, "%s", st.message ? st.message : "");
  shimkit_status_clear(&st);
  return code;
}

static void test_read_view_pages_and_midstream_failure(void **state) {
  fixture *f = *state;
  char msg[512];
  size_t n;
  f->fake.n_entities = 600; /* three pages of 256 */
  assert_int_equal(read_all(f, &n, msg, sizeof msg), SHIMKIT_OK);
  assert_int_equal(n, 600);
  assert_int_equal(f->fake.scans, 3);

  f->fake.scan_rc = FS_CORRUPT;
  f->fake.scan_fail_after = 256;
  f->fake.msg = "bad page";
  assert_int_equal(read_all(f, &n, msg, sizeof msg), SHIMKIT_DATA_LOSS);
  assert_int_equal(n, 256); /* the first page went out before the failure */
  assert_non_null(strstr(msg, "bad page"));
}

/* ---- conversion ----------------------------------------------------------------- */

static void test_online_order_and_statuses(void **state) {
  fixture *f = *state;
  char *keys[] = {"known", "unknown"};
  char *names[] = {"c", "b", "a"};
  Shimkit__Ml__V1__GetOnlineFeaturesRequest req = SHIMKIT__ML__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
  req.view = "v";
  req.n_entity_keys = 2;
  req.entity_keys = keys;
  req.n_feature_names = 3;
  req.feature_names = names;
  Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp = NULL;
  shimkit_call_options o = {.timeout_ms = 10000};
  assert_int_equal(shimkit__ml__v1__feature_store__shimkit_get_online_features(f->ch, &req, &resp, &o), SHIMKIT_OK);
  assert_int_equal(resp->n_feature_names, 3);
  assert_string_equal(resp->feature_names[0], "c");
  assert_int_equal(resp->n_vectors, 2);
  Shimkit__Ml__V1__OnlineFeatureVector *k = resp->vectors[0], *u = resp->vectors[1];
  assert_string_equal(k->entity_key, "known");
  assert_int_equal(k->n_values, 3);
  assert_true(k->values[0]->double_value == 0.5);
  assert_int_equal(k->statuses[0], SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_PRESENT);
  assert_int_equal(k->event_times[0]->seconds, 9);
  assert_int_equal(k->statuses[1], SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_NOT_FOUND);
  assert_int_equal(k->values[1]->kind_case, SHIMKIT__ML__V1__FEATURE_VALUE__KIND__NOT_SET);
  assert_int_equal(k->values[2]->int64_value, 7);
  assert_int_equal(k->event_times[2]->seconds, 5);
  for (size_t j = 0; j < 3; j++)
    assert_int_equal(u->statuses[j], SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_NOT_FOUND);
  protobuf_c_message_free_unpacked(&resp->base, NULL);

  f->fake.lookup_rc = FS_UNAVAILABLE;
  assert_int_equal(shimkit__ml__v1__feature_store__shimkit_get_online_features(f->ch, &req, &resp, &o),
                   SHIMKIT_UNAVAILABLE);
}

static int setup_cached(void **state) {
  int rc = setup(state);
  fixture *f = *state;
  f->backend.views = fs_views_new();
  assert_non_null(f->backend.views);
  return rc;
}

/* GetOnlineFeatures of "known" in view "v"; the code and the status message. */
static shimkit_code online_known(fixture *f, char *msg, size_t len) {
  char *keys[] = {"known"};
  Shimkit__Ml__V1__GetOnlineFeaturesRequest req = SHIMKIT__ML__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
  req.view = "v";
  req.n_entity_keys = 1;
  req.entity_keys = keys;
  Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp = NULL;
  shimkit_status st = {0};
  shimkit_call_options o = {.timeout_ms = 10000, .status_out = &st};
  shimkit_code code = shimkit__ml__v1__feature_store__shimkit_get_online_features(f->ch, &req, &resp, &o);
  snprintf(msg, len, "%s", st.message ? st.message : "");
  shimkit_status_clear(&st);
  if (resp) {
    assert_int_equal(resp->n_feature_names, 3);
    assert_string_equal(resp->feature_names[2], "c");
    assert_true(resp->vectors[0]->values[2]->double_value == 0.5);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return code;
}

/* With the view cache: one definition read for many lookups; a lookup that finds the view re-created reloads it. */
static void test_online_view_cache(void **state) {
  fixture *f = *state;
  char msg[256];
  for (int i = 0; i < 3; i++) assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_OK);
  assert_int_equal(f->fake.gets, 1);
  f->fake.lookup_stale = 1; /* re-created elsewhere: reloaded, then answered */
  assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_OK);
  assert_int_equal(f->fake.gets, 2);
  assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_OK);
  assert_int_equal(f->fake.gets, 2);
  f->fake.lookup_stale = 2; /* changed again between reload and lookup: NOT_FOUND, not a loop */
  assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_NOT_FOUND);
  assert_non_null(strstr(msg, "\"v\""));
  assert_int_equal(f->fake.gets, 3);
  f->fake.get_rc = FS_NOT_FOUND; /* deleted: nothing cached is served */
  assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_NOT_FOUND);
  f->fake.get_rc = FS_OK;
  assert_int_equal(online_known(f, msg, sizeof msg), SHIMKIT_OK);
}

static void test_list_paging(void **state) {
  fixture *f = *state;
  f->fake.n_views = 5;
  Shimkit__Ml__V1__PageRequest page = SHIMKIT__ML__V1__PAGE_REQUEST__INIT;
  page.page_size = 2;
  Shimkit__Ml__V1__ListFeatureViewsRequest req = SHIMKIT__ML__V1__LIST_FEATURE_VIEWS_REQUEST__INIT;
  req.page = &page;
  shimkit_call_options o = {.timeout_ms = 10000};
  size_t seen = 0, pages = 0;
  char token[64] = "";
  do {
    page.page_token = token;
    Shimkit__Ml__V1__ListFeatureViewsResponse *resp = NULL;
    assert_int_equal(shimkit__ml__v1__feature_store__shimkit_list_feature_views(f->ch, &req, &resp, &o), SHIMKIT_OK);
    seen += resp->n_views;
    pages++;
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  } while (token[0]);
  assert_int_equal(seen, 5);
  assert_int_equal(pages, 3);
  f->fake.list_rc = FS_UNAVAILABLE;
  Shimkit__Ml__V1__ListFeatureViewsResponse *resp = NULL;
  assert_int_equal(shimkit__ml__v1__feature_store__shimkit_list_feature_views(f->ch, &req, &resp, &o),
                   SHIMKIT_UNAVAILABLE);
}

/*
 * Regression (fuzz/corpus/feature_rows): a map key sent twice in one row
 * (the wire allows it; protobuf-c keeps both entries) gave the back end two
 * cells of one feature, which fs_backend.h rules out. The last value wins,
 * as protobuf's map semantics say, in the first one's place.
 */
static void test_rows_duplicate_key_last_wins(void **state) {
  (void)state;
  fs_feature features[] = {{"a", FS_TYPE_INT64, ""}, {"b", FS_TYPE_STRING, ""}};
  fs_view view = {.name = "v", .entity_key = "id", .description = "", .n_features = 2, .features = features};
  fs_mem mem;
  fs_mem_init(&mem, 1 << 20);
  assert_int_equal(fs_view_index(&view, &mem), 0);
  Shimkit__Ml__V1__FeatureValue v1 = SHIMKIT__ML__V1__FEATURE_VALUE__INIT, v2 = v1, vb = v1;
  v1.kind_case = v2.kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE;
  v1.int64_value = 1;
  v2.int64_value = 2;
  vb.kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_STRING_VALUE;
  vb.string_value = "x";
  Shimkit__Ml__V1__FeatureRow__ValuesEntry e1 = SHIMKIT__ML__V1__FEATURE_ROW__VALUES_ENTRY__INIT, eb = e1, e2 = e1;
  e1.key = "a";
  e1.value = &v1;
  eb.key = "b";
  eb.value = &vb;
  e2.key = "a";
  e2.value = &v2;
  Shimkit__Ml__V1__FeatureRow__ValuesEntry *entries[] = {&e1, &eb, &e2};
  Shimkit__Ml__V1__FeatureRow row = SHIMKIT__ML__V1__FEATURE_ROW__INIT, *rows[] = {&row, &row};
  row.entity_key = "k";
  row.n_values = 3;
  row.values = entries;
  fs_entity *out = NULL;
  fs_err err;
  assert_int_equal(fs_rows_from_proto(&view, rows, 2, "message 0", &mem, &out, &err), 0);
  for (size_t r = 0; r < 2; r++) { /* the second row reads the same: nothing carried over */
    assert_int_equal(out[r].n_cells, 2);
    assert_int_equal(out[r].cells[0].feature, 0);
    assert_int_equal(out[r].cells[0].value.u.i, 2);
    assert_int_equal(out[r].cells[1].feature, 1);
    assert_string_equal(out[r].cells[1].value.u.s, "x");
  }
  fs_mem_free(&mem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rc_to_code_table),
      cmocka_unit_test(test_rows_duplicate_key_last_wins),
      cmocka_unit_test_setup_teardown(test_native_failures_reach_the_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_exists, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_view_pages_and_midstream_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_online_order_and_statuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
      cmocka_unit_test_setup_teardown(test_online_view_cache, setup_cached, teardown),
  };
  return cmocka_run_group_tests_name("fs_handlers", tests, NULL, NULL);
}
