/*
 * fs_write.c - WriteRows: each message of the client stream is one batch,
 * checked against its view and written in one back-end transaction, so a
 * batch is stored whole or not at all and rows_written counts only what was
 * acknowledged by the store. A failing batch ends the call; batches before
 * it stay written (the status message says how many rows).
 *
 * The definition is read once per call, and each batch's transaction checks
 * that the stored view is still that one (its created time), so a view that
 * another shim deleted and re-created mid-stream ends the call with ABORTED
 * before a row is written under the old schema.
 */
#include "fs_rpcs.h"

#include <stdio.h>
#include <string.h>

/* " (1200 rows of earlier batches were written" when some were. */
static const char *written_note(char *buf, size_t len, uint64_t written) {
  if (!written) return "";
  snprintf(buf, len, " (%llu rows of earlier batches were written)", (unsigned long long)written);
  return buf;
}

shimkit_code fs_apply_rows(shimkit_call *call, const fs_backend *b, fs_view_cache *cache, const char *view_name,
                           Shimkit__Ml__V1__FeatureRow *const *rows, size_t n_rows, const char *what,
                           fs_mem *mem, uint64_t *written) {
  char note[96];
  if (!view_name || !view_name[0])
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s: the view name is missing%s", what,
                              written_note(note, sizeof note, *written));
  if (!cache->loaded || strcmp(cache->view.name, view_name) != 0) {
    fs_mem_reset(&cache->mem);
    cache->loaded = false;
    if (!fs_name_ok(view_name))
      return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "%s: feature view \"%.200s\" does not exist%s", what,
                                view_name, written_note(note, sizeof note, *written));
    fs_err err;
    fs_rc rc = b->ops->get_view(b->be, view_name, &cache->mem, &cache->view, &err);
    if (rc == FS_NOT_FOUND)
      return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "%s: feature view \"%s\" does not exist%s", what,
                                view_name, written_note(note, sizeof note, *written));
    if (rc != FS_OK)
      return shimkit_call_error(call, fs_rc_to_code(rc), "%s: %s back end: %s%s", what, b->ops->name, err.msg,
                                written_note(note, sizeof note, *written));
    if (fs_view_index(&cache->view, &cache->mem) != 0)
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "%s: out of memory%s", what,
                                written_note(note, sizeof note, *written));
    cache->loaded = true;
  }
  fs_entity *ents = NULL;
  fs_err err;
  if (fs_rows_from_proto(&cache->view, rows, n_rows, what, mem, &ents, &err) != 0)
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s%s", err.msg,
                              written_note(note, sizeof note, *written));
  if (n_rows == 0) return SHIMKIT_OK;
  fs_rc rc = b->ops->write(b->be, &cache->view, ents, n_rows, &err);
  if (rc != FS_OK) {
    if (rc == FS_NOT_FOUND || rc == FS_CHANGED) cache->loaded = false;
    if (rc == FS_NOT_FOUND)
      return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "%s: feature view \"%s\" was deleted%s", what,
                                view_name, written_note(note, sizeof note, *written));
    if (rc == FS_CHANGED) /* its rows, earlier batches' too, went with the old view */
      return shimkit_call_error(call, SHIMKIT_ABORTED,
                                "%s: feature view \"%s\" was deleted and re-created (through another client) "
                                "during this call; nothing of this batch was written, and rows of earlier batches "
                                "went with the old view: write them again to the new one",
                                what, view_name);
    return shimkit_call_error(call, fs_rc_to_code(rc), "%s: %s back end: %s%s", what, b->ops->name, err.msg,
                              written_note(note, sizeof note, *written));
  }
  *written += n_rows;
  return SHIMKIT_OK;
}

shimkit_code fs_write_rows(shimkit_call *call, Shimkit__Ml__V1__WriteRowsResponse *resp, void *user_data) {
  const fs_backend *b = FS_BACKEND(user_data);
  fs_view_cache cache = {.loaded = false};
  fs_mem_init(&cache.mem, FS_MEM_LIMIT);
  fs_mem mem;
  fs_mem_init(&mem, FS_MEM_LIMIT);
  uint64_t written = 0;
  shimkit_code code = SHIMKIT_OK;
  for (size_t msg = 0;; msg++) {
    Shimkit__Ml__V1__WriteRowsRequest *req = NULL;
    int rc = shimkit__ml__v1__feature_store__shimkit_write_rows_read(call, &req);
    if (rc == 0) break;
    if (rc < 0) {
      code = shimkit_call_is_cancelled(call)
                 ? SHIMKIT_CANCELLED
                 : shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "message %zu could not be read", msg);
      break;
    }
    char what[32];
    snprintf(what, sizeof what, "message %zu", msg);
    code = fs_apply_rows(call, b, &cache, req->view, req->rows, req->n_rows, what, &mem, &written);
    fs_mem_reset(&mem);
    if (code != SHIMKIT_OK) break;
  }
  fs_mem_free(&mem);
  fs_mem_free(&cache.mem);
  resp->rows_written = written;
  return code;
}
