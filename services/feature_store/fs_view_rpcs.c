/*
 * fs_view_rpcs.c - CreateFeatureView, GetFeatureView, ListFeatureViews,
 * DeleteFeatureView. Paging of ListFeatureViews: the token is the name of
 * the last view of the page (views are listed by name), so a page stays
 * right while views are added or removed.
 */
#include "fs_rpcs.h"

shimkit_code fs_create_feature_view(shimkit_call *call, const Shimkit__Ml__V1__CreateFeatureViewRequest *req,
                                    Shimkit__Ml__V1__FeatureView *resp, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  fs_mem mem;
  fs_call_mem(&mem, call);
  fs_view view;
  fs_err err;
  if (!req->view) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "the view definition is missing");
  if (fs_view_from_proto(req->view, &mem, &view, &err) != 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s", err.msg);
  view.created = fs_time_now();
  fs_rc rc = b->ops->create_view(b->be, &view, &err);
  if (rc != FS_OK) return fs_backend_error(call, b, rc, &err, view.name, "");
  if (fs_view_to_proto(&view, &mem, resp) != 0)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  return SHIMKIT_OK;
}

shimkit_code fs_get_feature_view(shimkit_call *call, const Shimkit__Ml__V1__GetFeatureViewRequest *req,
                                 Shimkit__Ml__V1__FeatureView *resp, void *user_data) {
  fs_mem mem;
  fs_call_mem(&mem, call);
  fs_view view;
  shimkit_code code = fs_load_view(call, FS_BACKEND(user_data), req->name, &mem, &view);
  if (code != SHIMKIT_OK) return code;
  if (fs_view_to_proto(&view, &mem, resp) != 0)
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  return SHIMKIT_OK;
}

shimkit_code fs_list_feature_views(shimkit_call *call, const Shimkit__Ml__V1__ListFeatureViewsRequest *req,
                                   Shimkit__Ml__V1__ListFeatureViewsResponse *resp, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  size_t limit = FS_DEFAULT_PAGE;
  const char *after = "";
  if (req->page) {
    if (req->page->page_size > 0) limit = req->page->page_size;
    if (limit > FS_MAX_PAGE) limit = FS_MAX_PAGE;
    if (req->page->page_token && req->page->page_token[0]) after = req->page->page_token;
  }
  if (after[0] && !fs_name_ok(after))
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "page_token \"%.200s\" is not one this service returned", after);
  fs_mem mem;
  fs_call_mem(&mem, call);
  fs_view *views = NULL;
  size_t n = 0;
  fs_err err;
  fs_rc rc = b->ops->list_views(b->be, after, limit + 1, &mem, &views, &n, &err);
  if (rc != FS_OK) return fs_backend_error(call, b, rc, &err, NULL, "");
  if (n > limit) {
    n = limit;
    resp->next_page_token = (char *)views[n - 1].name;
  }
  Shimkit__Ml__V1__FeatureView **out = fs_mem_alloc(&mem, (n ? n : 1) * sizeof *out);
  Shimkit__Ml__V1__FeatureView *msgs = fs_mem_alloc(&mem, (n ? n : 1) * sizeof *msgs);
  if (!out || !msgs) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (fs_view_to_proto(&views[i], &mem, &msgs[i]) != 0)
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
    out[i] = &msgs[i];
  }
  resp->n_views = n;
  resp->views = out;
  return SHIMKIT_OK;
}

shimkit_code fs_delete_feature_view(shimkit_call *call, const Shimkit__Ml__V1__DeleteFeatureViewRequest *req,
                                    Shimkit__Ml__V1__DeleteFeatureViewResponse *resp, void *user_data) {
  (void)resp;
  const fs_backend *b = FS_BACKEND(user_data);
  if (!req->name || !req->name[0]) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "the view name is missing");
  if (!fs_name_ok(req->name))
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "feature view \"%.200s\" does not exist", req->name);
  fs_err err;
  fs_rc rc = b->ops->delete_view(b->be, req->name, &err);
  return rc == FS_OK ? SHIMKIT_OK : fs_backend_error(call, b, rc, &err, req->name, "");
}
