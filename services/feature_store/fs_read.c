/*
 * fs_read.c - GetOnlineFeatures (latest values of some entities, in the
 * requested feature order, with a status and event time per value) and
 * ReadView (every entity of a view, streamed page by page so that memory
 * stays bounded whatever the size of the view).
 */
#include "fs_rpcs.h"

#include <stdio.h>
#include <string.h>

/* pos[f] = 1 + index of the cell of feature f in e, or 0: the cells of one entity by feature. */
static void index_cells(const fs_entity *e, size_t *pos, size_t n_features) {
  memset(pos, 0, n_features * sizeof *pos);
  for (size_t c = 0; c < e->n_cells; c++)
    if (e->cells[c].feature < n_features) pos[e->cells[c].feature] = c + 1;
}

/* Fills one vector: values, statuses and event times of the selected features. */
static int fill_vector(const fs_entity *e, const size_t *sel, size_t n_sel, const size_t *pos, fs_mem *mem,
                       Shimkit__Ml__V1__OnlineFeatureVector *v) {
  shimkit__ml__v1__online_feature_vector__init(v);
  Shimkit__Ml__V1__FeatureValue *vals = fs_mem_alloc(mem, n_sel * sizeof *vals);
  Shimkit__Ml__V1__FeatureValue **valp = fs_mem_alloc(mem, n_sel * sizeof *valp);
  Shimkit__Ml__V1__ValueStatus *st = fs_mem_alloc(mem, n_sel * sizeof *st);
  Google__Protobuf__Timestamp *ts = fs_mem_alloc(mem, n_sel * sizeof *ts);
  Google__Protobuf__Timestamp **tsp = fs_mem_alloc(mem, n_sel * sizeof *tsp);
  if (!vals || !valp || !st || !ts || !tsp) return -1;
  for (size_t j = 0; j < n_sel; j++) {
    size_t p = pos[sel[j]];
    if (p) {
      const fs_cell *c = &e->cells[p - 1];
      fs_value_to_proto(&c->value, &vals[j]);
      st[j] = SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_PRESENT;
      fs_time_to_proto(c->time, &ts[j]);
    } else {
      shimkit__ml__v1__feature_value__init(&vals[j]);
      st[j] = SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_NOT_FOUND;
      google__protobuf__timestamp__init(&ts[j]);
    }
    valp[j] = &vals[j];
    tsp[j] = &ts[j];
  }
  v->entity_key = (char *)e->key;
  v->n_values = v->n_statuses = v->n_event_times = n_sel;
  v->values = valp;
  v->statuses = st;
  v->event_times = tsp;
  return 0;
}

/*
 * The lookup of one attempt with view. A lookup that answers FS_NOT_FOUND (the
 * view is gone or was re-created) sets *stale and no status: the caller
 * reloads the definition and tries once more.
 */
static shimkit_code lookup_with(shimkit_call *call, const fs_backend *b,
                                const Shimkit__Ml__V1__GetOnlineFeaturesRequest *req, const fs_view *view,
                                fs_mem *mem, Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp, bool *stale) {
  size_t n = req->n_entity_keys;
  if (n == 0) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "entity_keys is empty");
  if (n > FS_MAX_KEYS_PER_LOOKUP)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%zu entity keys; at most %d per call", n,
                              FS_MAX_KEYS_PER_LOOKUP);
  for (size_t i = 0; i < n; i++)
    if (!req->entity_keys[i] || !req->entity_keys[i][0])
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "entity_keys[%zu] (%s) is empty", i,
                                view->entity_key);
  size_t *sel, n_sel;
  shimkit_code code = fs_select_features(call, view, req->feature_names, req->n_feature_names, mem, &sel, &n_sel);
  if (code != SHIMKIT_OK) return code;

  fs_entity *ents = fs_mem_alloc(mem, n * sizeof *ents);
  size_t *pos = fs_mem_alloc(mem, view->n_features * sizeof *pos);
  char **names = fs_mem_alloc(mem, n_sel * sizeof *names);
  Shimkit__Ml__V1__OnlineFeatureVector *vecs = fs_mem_alloc(mem, n * sizeof *vecs);
  Shimkit__Ml__V1__OnlineFeatureVector **vecp = fs_mem_alloc(mem, n * sizeof *vecp);
  if (!ents || !pos || !names || !vecs || !vecp)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  fs_err err;
  fs_rc rc = b->ops->lookup(b->be, view, (const char *const *)req->entity_keys, n, mem, ents, &err);
  if (rc == FS_NOT_FOUND) {
    *stale = true;
    return SHIMKIT_NOT_FOUND;
  }
  if (rc != FS_OK) return fs_backend_error(call, b, rc, &err, view->name, "");
  /* The response is sent after the handler returns, when a cached view may be gone: copy the names. */
  for (size_t j = 0; j < n_sel; j++)
    if (!(names[j] = fs_mem_strdup(mem, view->features[sel[j]].name)))
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < n; i++) {
    ents[i].key = req->entity_keys[i];
    index_cells(&ents[i], pos, view->n_features);
    if (fill_vector(&ents[i], sel, n_sel, pos, mem, &vecs[i]) != 0)
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
    vecp[i] = &vecs[i];
  }
  resp->n_feature_names = n_sel;
  resp->feature_names = names;
  resp->n_vectors = n;
  resp->vectors = vecp;
  return SHIMKIT_OK;
}

shimkit_code fs_get_online_features(shimkit_call *call, const Shimkit__Ml__V1__GetOnlineFeaturesRequest *req,
                                    Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  fs_mem mem;
  fs_call_mem(&mem, call);
  for (int attempt = 0;; attempt++) {
    const fs_view *view;
    fs_view loaded;
    fs_views_entry *entry = NULL;
    shimkit_code code;
    if (b->views) {
      code = fs_load_view_cached(call, b, req->view, attempt > 0, &entry, &view);
    } else {
      code = fs_load_view(call, b, req->view, &mem, &loaded);
      view = &loaded;
    }
    if (code != SHIMKIT_OK) return code;
    bool stale = false;
    code = lookup_with(call, b, req, view, &mem, resp, &stale);
    if (stale && b->views) fs_views_forget(b->views, entry);
    if (b->views) fs_views_release(b->views, entry);
    if (!stale) return code;
    if (attempt > 0)
      return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "feature view \"%s\" does not exist", req->view);
  }
}

/* A FeatureRow of the selected features e has (event_time = the latest of theirs); 0 fields → skip. */
static int build_row(const fs_view *view, const fs_entity *e, const size_t *sel, size_t n_sel, size_t *pos,
                     fs_mem *mem, Shimkit__Ml__V1__FeatureRow *row) {
  shimkit__ml__v1__feature_row__init(row);
  index_cells(e, pos, view->n_features);
  Shimkit__Ml__V1__FeatureRow__ValuesEntry **entp = fs_mem_alloc(mem, n_sel * sizeof *entp);
  Shimkit__Ml__V1__FeatureRow__ValuesEntry *ent = fs_mem_alloc(mem, n_sel * sizeof *ent);
  Shimkit__Ml__V1__FeatureValue *vals = fs_mem_alloc(mem, n_sel * sizeof *vals);
  Google__Protobuf__Timestamp *ts = fs_mem_alloc(mem, sizeof *ts);
  if (!entp || !ent || !vals || !ts) return -1;
  size_t k = 0;
  fs_time latest = {0, 0};
  for (size_t j = 0; j < n_sel; j++) {
    size_t p = pos[sel[j]];
    if (!p) continue;
    const fs_cell *c = &e->cells[p - 1];
    shimkit__ml__v1__feature_row__values_entry__init(&ent[k]);
    fs_value_to_proto(&c->value, &vals[k]);
    ent[k].key = (char *)view->features[sel[j]].name;
    ent[k].value = &vals[k];
    entp[k] = &ent[k];
    if (k == 0 || fs_time_cmp(c->time, latest) > 0) latest = c->time;
    k++;
  }
  fs_time_to_proto(latest, ts);
  row->entity_key = (char *)e->key;
  row->event_time = ts;
  row->n_values = k;
  row->values = entp;
  return 0;
}

shimkit_code fs_read_view(shimkit_call *call, const Shimkit__Ml__V1__ReadViewRequest *req, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  fs_mem vmem;
  fs_call_mem(&vmem, call);
  fs_view view;
  shimkit_code code = fs_load_view(call, b, req->view, &vmem, &view);
  if (code != SHIMKIT_OK) return code;
  size_t *sel, n_sel;
  code = fs_select_features(call, &view, req->feature_names, req->n_feature_names, &vmem, &sel, &n_sel);
  if (code != SHIMKIT_OK) return code;
  size_t *pos = fs_mem_alloc(&vmem, view.n_features * sizeof *pos);
  if (!pos) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");

  char after[FS_MAX_ENTITY_KEY + 1] = "";
  fs_mem page;
  fs_mem_init(&page, FS_MEM_LIMIT);
  for (;;) {
    if (shimkit_call_is_cancelled(call)) {
      code = SHIMKIT_CANCELLED;
      break;
    }
    fs_entity *ents = NULL;
    size_t n = 0;
    fs_err err;
    fs_rc rc = b->ops->scan(b->be, &view, after, FS_SCAN_PAGE, &page, &ents, &n, &err);
    if (rc != FS_OK) {
      code = fs_backend_error(call, b, rc, &err, view.name, "");
      break;
    }
    for (size_t i = 0; i < n && code == SHIMKIT_OK; i++) {
      Shimkit__Ml__V1__FeatureRow row;
      if (build_row(&view, &ents[i], sel, n_sel, pos, &page, &row) != 0)
        code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
      else if (row.n_values && shimkit__ml__v1__feature_store__shimkit_read_view_write(call, &row) != 0)
        code = SHIMKIT_CANCELLED;
    }
    if (code != SHIMKIT_OK || n < FS_SCAN_PAGE) break;
    snprintf(after, sizeof after, "%s", ents[n - 1].key);
    fs_mem_reset(&page);
  }
  fs_mem_free(&page);
  return code;
}
