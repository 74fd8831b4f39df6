/*
 * fs_export.c - Export and Import: the whole store as a stream of
 * FeatureRecords, each view first, then its rows. An entity's features can
 * carry different event times, so Export writes one row per (entity, event
 * time): Import of the stream rebuilds exactly the same latest values and
 * times in any back end, and importing twice changes nothing.
 */
#include "fs_rpcs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FS_EXPORT_BYTES (1024u * 1024u) /* flush a rows record past this packed size */

/* Rows of one view being gathered into the next FeatureRecord. */
typedef struct export_batch {
  const char *view;                      /* view name */
  Shimkit__Ml__V1__FeatureRow **rows;    /* FS_EXPORT_ROWS slots */
  size_t n;                              /* rows gathered */
  size_t bytes;                          /* their packed size, roughly */
} export_batch;

static int cell_time_cmp(const void *a, const void *b) {
  return fs_time_cmp(((const fs_cell *)a)->time, ((const fs_cell *)b)->time);
}

static shimkit_code flush(shimkit_call *call, export_batch *batch) {
  if (!batch->n) return SHIMKIT_OK;
  Shimkit__Ml__V1__WriteRowsRequest w = SHIMKIT__ML__V1__WRITE_ROWS_REQUEST__INIT;
  w.view = (char *)batch->view;
  w.n_rows = batch->n;
  w.rows = batch->rows;
  Shimkit__Ml__V1__FeatureRecord rec = SHIMKIT__ML__V1__FEATURE_RECORD__INIT;
  rec.record_case = SHIMKIT__ML__V1__FEATURE_RECORD__RECORD_ROWS;
  rec.rows = &w;
  batch->n = 0;
  batch->bytes = 0;
  return shimkit__ml__v1__feature_store__shimkit_export__write(call, &rec) == 0 ? SHIMKIT_OK : SHIMKIT_CANCELLED;
}

/* Adds the rows of one entity (one per distinct event time) to the batch, flushing as needed. */
static shimkit_code add_entity(shimkit_call *call, const fs_view *view, fs_entity *e, fs_mem *mem,
                               export_batch *batch) {
  qsort(e->cells, e->n_cells, sizeof *e->cells, cell_time_cmp);
  for (size_t start = 0; start < e->n_cells;) {
    size_t end = start + 1;
    while (end < e->n_cells && fs_time_cmp(e->cells[end].time, e->cells[start].time) == 0) end++;
    size_t k = end - start;
    Shimkit__Ml__V1__FeatureRow *row = fs_mem_alloc(mem, sizeof *row);
    Google__Protobuf__Timestamp *ts = fs_mem_alloc(mem, sizeof *ts);
    Shimkit__Ml__V1__FeatureRow__ValuesEntry **entp = fs_mem_alloc(mem, k * sizeof *entp);
    Shimkit__Ml__V1__FeatureRow__ValuesEntry *ent = fs_mem_alloc(mem, k * sizeof *ent);
    Shimkit__Ml__V1__FeatureValue *vals = fs_mem_alloc(mem, k * sizeof *vals);
    if (!row || !ts || !entp || !ent || !vals)
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
    shimkit__ml__v1__feature_row__init(row);
    for (size_t i = 0; i < k; i++) {
      const fs_cell *c = &e->cells[start + i];
      shimkit__ml__v1__feature_row__values_entry__init(&ent[i]);
      fs_value_to_proto(&c->value, &vals[i]);
      ent[i].key = (char *)view->features[c->feature].name;
      ent[i].value = &vals[i];
      entp[i] = &ent[i];
    }
    fs_time_to_proto(e->cells[start].time, ts);
    row->entity_key = (char *)e->key;
    row->event_time = ts;
    row->n_values = k;
    row->values = entp;
    size_t bytes = protobuf_c_message_get_packed_size(&row->base);
    if (batch->n == FS_EXPORT_ROWS || (batch->n && batch->bytes + bytes > FS_EXPORT_BYTES)) {
      shimkit_code code = flush(call, batch);
      if (code != SHIMKIT_OK) return code;
    }
    batch->rows[batch->n++] = row;
    batch->bytes += bytes + 8;
    start = end;
  }
  return SHIMKIT_OK;
}

/* The view record, then every row of the view. */
static shimkit_code export_view(shimkit_call *call, const fs_backend *b, const fs_view *view, fs_mem *page) {
  fs_mem_reset(page);
  Shimkit__Ml__V1__FeatureView pv;
  if (fs_view_to_proto(view, page, &pv) != 0)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  Shimkit__Ml__V1__FeatureRecord rec = SHIMKIT__ML__V1__FEATURE_RECORD__INIT;
  rec.record_case = SHIMKIT__ML__V1__FEATURE_RECORD__RECORD_VIEW;
  rec.view = &pv;
  if (shimkit__ml__v1__feature_store__shimkit_export__write(call, &rec) != 0) return SHIMKIT_CANCELLED;

  Shimkit__Ml__V1__FeatureRow *slots[FS_EXPORT_ROWS];
  export_batch batch = {.view = view->name, .rows = slots};
  char after[FS_MAX_ENTITY_KEY + 1] = "";
  for (;;) {
    fs_mem_reset(page);
    if (shimkit_call_is_cancelled(call)) return SHIMKIT_CANCELLED;
    fs_entity *ents = NULL;
    size_t n = 0;
    fs_err err;
    fs_rc rc = b->ops->scan(b->be, view, after, FS_SCAN_PAGE, page, &ents, &n, &err);
    if (rc != FS_OK) return fs_backend_error(call, b, rc, &err, view->name, "");
    for (size_t i = 0; i < n; i++) {
      shimkit_code code = add_entity(call, view, &ents[i], page, &batch);
      if (code != SHIMKIT_OK) return code;
    }
    shimkit_code code = flush(call, &batch); /* rows point into page: send before it is reset */
    if (code != SHIMKIT_OK) return code;
    if (n < FS_SCAN_PAGE) return SHIMKIT_OK;
    snprintf(after, sizeof after, "%s", ents[n - 1].key);
  }
}

shimkit_code fs_export(shimkit_call *call, const Shimkit__Ml__V1__ExportFeaturesRequest *req, void *user_data) {
  (void)req;
  const fs_backend *b = FS_BACKEND(user_data);
  fs_mem list, page;
  fs_mem_init(&list, FS_MEM_LIMIT);
  fs_mem_init(&page, FS_MEM_LIMIT);
  char after[FS_MAX_NAME + 1] = "";
  shimkit_code code = SHIMKIT_OK;
  while (code == SHIMKIT_OK) {
    fs_mem_reset(&list);
    fs_view *views = NULL;
    size_t n = 0;
    fs_err err;
    fs_rc rc = b->ops->list_views(b->be, after, FS_DEFAULT_PAGE, &list, &views, &n, &err);
    if (rc != FS_OK) {
      code = fs_backend_error(call, b, rc, &err, NULL, "");
      break;
    }
    for (size_t i = 0; i < n && code == SHIMKIT_OK; i++) code = export_view(call, b, &views[i], &page);
    if (n < FS_DEFAULT_PAGE) break;
    snprintf(after, sizeof after, "%s", views[n - 1].name);
  }
  fs_mem_free(&page);
  fs_mem_free(&list);
  return code;
}

/* Creates the view of a record, or accepts an existing one of the same schema. */
static shimkit_code import_view(shimkit_call *call, const fs_backend *b, const Shimkit__Ml__V1__FeatureView *pb,
                                size_t index, fs_mem *mem) {
  fs_view view, have;
  fs_err err;
  if (fs_view_from_proto(pb, mem, &view, &err) != 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "record %zu: %s", index, err.msg);
  if (!pb->created_at) view.created = fs_time_now();
  fs_rc rc = b->ops->create_view(b->be, &view, &err);
  if (rc == FS_EXISTS) {
    rc = b->ops->get_view(b->be, view.name, mem, &have, &err);
    if (rc == FS_OK && !fs_view_same_schema(&view, &have))
      return shimkit_call_error(call, SHIMKIT_FAILED_PRECONDITION,
                                "record %zu: feature view \"%s\" exists with another schema", index, view.name);
  }
  if (rc == FS_OK) return SHIMKIT_OK;
  char prefix[48];
  snprintf(prefix, sizeof prefix, "record %zu: ", index);
  return fs_backend_error(call, b, rc, &err, view.name, prefix);
}

shimkit_code fs_import(shimkit_call *call, Shimkit__Ml__V1__ImportFeaturesSummary *resp, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  fs_view_cache cache = {.loaded = false};
  fs_mem_init(&cache.mem, FS_MEM_LIMIT);
  fs_mem mem;
  fs_mem_init(&mem, FS_MEM_LIMIT);
  uint64_t rows = 0, views = 0;
  shimkit_code code = SHIMKIT_OK;
  for (size_t i = 0; code == SHIMKIT_OK; i++) {
    Shimkit__Ml__V1__FeatureRecord *rec = NULL;
    int rc = shimkit__ml__v1__feature_store__shimkit_import_read(call, &rec);
    if (rc == 0) break;
    if (rc < 0) {
      code = shimkit_call_is_cancelled(call)
                 ? SHIMKIT_CANCELLED
                 : shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "record %zu could not be read", i);
      break;
    }
    char what[32];
    snprintf(what, sizeof what, "record %zu", i);
    switch (rec->record_case) {
      case SHIMKIT__ML__V1__FEATURE_RECORD__RECORD_VIEW:
        code = import_view(call, b, rec->view, i, &mem);
        if (code == SHIMKIT_OK) views++;
        cache.loaded = false;
        break;
      case SHIMKIT__ML__V1__FEATURE_RECORD__RECORD_ROWS:
        code = fs_apply_rows(call, b, &cache, rec->rows->view, rec->rows->rows, rec->rows->n_rows, what, &mem,
                             &rows);
        break;
      default:
        code = shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "record %zu has neither a view nor rows", i);
    }
    fs_mem_reset(&mem);
  }
  fs_mem_free(&mem);
  fs_mem_free(&cache.mem);
  resp->views = views;
  resp->rows = rows;
  return code;
}
