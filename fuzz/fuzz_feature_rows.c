/*
 * fuzz_feature_rows.c - FeatureStore view definitions and WriteRows rows,
 * decoded as the server decodes them, then checked and converted by the
 * shim (services/feature_store/fs_convert.c) into what back ends store.
 *
 * Why: CreateFeatureView, WriteRows and Import hand client messages to
 * fs_view_from_proto / fs_rows_from_proto, the only checks between a
 * client and SQLite or Redis. What they accept must keep the promises of
 * fs_backend.h (a known feature of the right type, each at most once per
 * entity, a valid time), and a view they accept must convert back to a
 * message that is accepted as the same schema.
 *
 * Input (fuzz.h's split): first part, a FeatureView; the rest, one
 * WriteRowsRequest, converted against that view, or against a fixed view
 * of every feature type when the first part is not a valid view.
 */
#include <stdlib.h>
#include <string.h>

#include "fs_convert.h"
#include "fs_mem.h"
#include "fuzz.h"

#define MEM_LIMIT (64u << 20)

/* patient_id -> age INT64, bmi DOUBLE, city STRING, smoker BOOL. */
static fs_view fixed_view(fs_mem *mem) {
  static fs_feature features[] = {
      {"age", FS_TYPE_INT64, ""},
      {"bmi", FS_TYPE_DOUBLE, ""},
      {"city", FS_TYPE_STRING, ""},
      {"smoker", FS_TYPE_BOOL, ""},
  };
  fs_view v = {.name = "patients", .entity_key = "patient_id", .description = "", .n_features = 4,
               .features = features};
  if (fs_view_index(&v, mem) != 0) {
    abort();
  }
  return v;
}

/* A view accepted from a message reads back from its own message as the same schema. */
static void check_view_round_trip(const fs_view *view, fs_mem *mem) {
  Shimkit__Ml__V1__FeatureView pb;
  fs_view again;
  fs_err err;
  if (fs_view_to_proto(view, mem, &pb) != 0 || fs_view_from_proto(&pb, mem, &again, &err) != 0 ||
      !fs_view_same_schema(view, &again)) {
    abort();
  }
}

/* What fs_backend.h promises a back end about rows. */
static void check_rows(const fs_view *view, const fs_entity *ents, size_t n) {
  for (size_t r = 0; r < n; r++) {
    const fs_entity *e = &ents[r];
    if (e->key == NULL || e->key[0] == '\0' || strlen(e->key) > FS_MAX_ENTITY_KEY || e->n_cells == 0) {
      abort();
    }
    for (size_t c = 0; c < e->n_cells; c++) {
      const fs_cell *cell = &e->cells[c];
      if (cell->feature >= view->n_features || cell->value.type != view->features[cell->feature].type ||
          (cell->value.type == FS_TYPE_STRING && cell->value.u.s == NULL) || cell->time.nanos < 0 ||
          cell->time.nanos > 999999999) {
        abort();
      }
      for (size_t d = 0; d < c; d++) {
        if (e->cells[d].feature == cell->feature) {
          abort(); /* a feature twice in one entity */
        }
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_part view_part, rows_part;
  fuzz_split(data, size, &view_part, &rows_part);
  fs_mem mem;
  fs_mem_init(&mem, MEM_LIMIT);
  fs_err err;
  err.msg[0] = '\0';
  fs_view view;
  Shimkit__Ml__V1__FeatureView *view_pb = (Shimkit__Ml__V1__FeatureView *)fuzz_unpack(
      &shimkit__ml__v1__feature_view__descriptor, view_part.data, view_part.len);
  if (view_pb != NULL && fs_view_from_proto(view_pb, &mem, &view, &err) == 0) {
    if (fs_view_index(&view, &mem) != 0) {
      abort();
    }
    check_view_round_trip(&view, &mem);
  } else {
    view = fixed_view(&mem);
  }
  Shimkit__Ml__V1__WriteRowsRequest *req = (Shimkit__Ml__V1__WriteRowsRequest *)fuzz_unpack(
      &shimkit__ml__v1__write_rows_request__descriptor, rows_part.data, rows_part.len);
  if (req != NULL) {
    fs_entity *ents = NULL;
    if (fs_rows_from_proto(&view, req->rows, req->n_rows, "message 1", &mem, &ents, &err) == 0) {
      check_rows(&view, ents, req->n_rows);
      for (size_t r = 0; r < req->n_rows; r++) {
        for (size_t c = 0; c < ents[r].n_cells; c++) {
          Shimkit__Ml__V1__FeatureValue out;
          fs_value_to_proto(&ents[r].cells[c].value, &out);
        }
      }
    } else if (err.msg[0] == '\0') {
      abort();
    }
    shimkit__ml__v1__write_rows_request__free_unpacked(req, NULL);
  }
  if (view_pb != NULL) {
    shimkit__ml__v1__feature_view__free_unpacked(view_pb, NULL);
  }
  fs_mem_free(&mem);
  return 0;
}
