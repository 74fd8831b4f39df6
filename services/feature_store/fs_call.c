/*
 * fs_call.c - see fs_call.h. fs_rc_to_code is the one place where a native
 * failure becomes a gRPC status code.
 */
#include "fs_call.h"

#include <string.h>

shimkit_code fs_rc_to_code(fs_rc rc) {
  switch (rc) {
    case FS_OK: return SHIMKIT_OK;
    case FS_NOT_FOUND: return SHIMKIT_NOT_FOUND;
    case FS_EXISTS: return SHIMKIT_ALREADY_EXISTS;
    case FS_UNAVAILABLE: return SHIMKIT_UNAVAILABLE;
    case FS_FULL: return SHIMKIT_RESOURCE_EXHAUSTED;
    case FS_CORRUPT: return SHIMKIT_DATA_LOSS;
    case FS_CHANGED: return SHIMKIT_ABORTED;
    default: return SHIMKIT_INTERNAL;
  }
}

static void *call_alloc(void *ctx, size_t size) { return shimkit_call_alloc(ctx, size); }

void fs_call_mem(fs_mem *mem, shimkit_call *call) { fs_mem_init_external(mem, FS_MEM_LIMIT, call_alloc, call); }

shimkit_code fs_backend_error(shimkit_call *call, const fs_backend *b, fs_rc rc, const fs_err *err,
                              const char *view, const char *prefix) {
  shimkit_code code = fs_rc_to_code(rc);
  if (rc == FS_NOT_FOUND && view)
    return shimkit_call_error(call, code, "%sfeature view \"%s\" does not exist", prefix, view);
  if (rc == FS_EXISTS && view)
    return shimkit_call_error(call, code, "%sfeature view \"%s\" already exists", prefix, view);
  return shimkit_call_error(call, code, "%s%s back end: %s", prefix, b->ops->name, err->msg);
}

shimkit_code fs_load_view(shimkit_call *call, const fs_backend *b, const char *name, fs_mem *mem, fs_view *out) {
  if (!name || !name[0]) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "the view name is missing");
  /* A name no view can have is answered without asking the store. */
  if (!fs_name_ok(name))
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "feature view \"%.200s\" does not exist", name);
  fs_err err;
  fs_rc rc = b->ops->get_view(b->be, name, mem, out, &err);
  if (rc != FS_OK) return fs_backend_error(call, b, rc, &err, name, "");
  if (fs_view_index(out, mem) != 0) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  return SHIMKIT_OK;
}

shimkit_code fs_load_view_cached(shimkit_call *call, const fs_backend *b, const char *name, bool reload,
                                 fs_views_entry **entry, const fs_view **out) {
  if (!name || !name[0]) return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "the view name is missing");
  if (!fs_name_ok(name))
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "feature view \"%.200s\" does not exist", name);
  fs_err err;
  fs_rc rc = fs_views_get(b->views, b, name, reload, entry, out, &err);
  return rc == FS_OK ? SHIMKIT_OK : fs_backend_error(call, b, rc, &err, name, "");
}

shimkit_code fs_select_features(shimkit_call *call, const fs_view *view, char *const *names, size_t n_names,
                                fs_mem *mem, size_t **out, size_t *n_out) {
  size_t n = n_names ? n_names : view->n_features;
  if (n > FS_MAX_FEATURES)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%zu feature names; at most %d", n, FS_MAX_FEATURES);
  size_t *idx = fs_mem_alloc(mem, n * sizeof *idx);
  if (!idx) return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (!n_names) {
      idx[i] = i;
      continue;
    }
    long fi = fs_view_feature(view, names[i] ? names[i] : "");
    if (fi < 0)
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "view \"%s\" has no feature \"%.200s\"",
                                view->name, names[i] ? names[i] : "");
    idx[i] = (size_t)fi;
  }
  *out = idx;
  *n_out = n;
  return SHIMKIT_OK;
}
