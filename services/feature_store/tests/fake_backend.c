/*
 * fake_backend.c - see fake_backend.h. No storage: results are made up from
 * the settings, so that each test decides which operation fails and how.
 */
#include "fake_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fs_feature features[] = {
    {.name = "a", .type = FS_TYPE_INT64, .description = ""},
    {.name = "b", .type = FS_TYPE_STRING, .description = ""},
    {.name = "c", .type = FS_TYPE_DOUBLE, .description = ""},
};

static fs_rc result(const fake_backend *f, fs_rc rc, fs_err *err) {
  return rc == FS_OK ? FS_OK : fs_fail(err, rc, "%s", f->msg ? f->msg : "fake failure");
}

static void the_view(const char *name, fs_view *out) {
  *out = (fs_view){.name = name, .entity_key = "id", .description = "", .n_features = 3, .features = features};
}

static fs_rc create_view(void *be, const fs_view *view, fs_err *err) {
  (void)view;
  return result(be, ((fake_backend *)be)->create_rc, err);
}

static fs_rc get_view(void *be, const char *name, fs_mem *mem, fs_view *out, fs_err *err) {
  fake_backend *f = be;
  f->gets++;
  if (f->get_rc != FS_OK) return result(f, f->get_rc, err);
  the_view(fs_mem_strdup(mem, name), out);
  return FS_OK;
}

static fs_rc list_views(void *be, const char *after, size_t limit, fs_mem *mem, fs_view **out, size_t *n_out,
                        fs_err *err) {
  fake_backend *f = be;
  if (f->list_rc != FS_OK) return result(f, f->list_rc, err);
  fs_view *v = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < f->n_views && n < limit; i++) {
    char name[32];
    snprintf(name, sizeof name, "v%zu", i);
    if (strcmp(name, after) > 0) the_view(fs_mem_strdup(mem, name), &v[n++]);
  }
  *out = v;
  *n_out = n;
  return FS_OK;
}

static fs_rc delete_view(void *be, const char *name, fs_err *err) {
  (void)name;
  return result(be, ((fake_backend *)be)->delete_rc, err);
}

static fs_rc write_rows(void *be, const fs_view *view, const fs_entity *rows, size_t n_rows, fs_err *err) {
  (void)view;
  (void)rows;
  fake_backend *f = be;
  if (f->write_rc != FS_OK) return result(f, f->write_rc, err);
  f->written += n_rows;
  return FS_OK;
}

/* Entity "known" has a = 7 (time 5) and c = 0.5 (time 9), stored in reverse feature order. */
static fs_rc lookup(void *be, const fs_view *view, const char *const *keys, size_t n_keys, fs_mem *mem,
                    fs_entity *out, fs_err *err) {
  (void)view;
  fake_backend *f = be;
  if (f->lookup_rc != FS_OK) return result(f, f->lookup_rc, err);
  if (f->lookup_stale) {
    f->lookup_stale--;
    return fs_fail(err, FS_NOT_FOUND, "no view %s of that definition", view->name);
  }
  for (size_t i = 0; i < n_keys; i++) {
    out[i] = (fs_entity){.key = keys[i]};
    if (strcmp(keys[i], "known") != 0) continue;
    fs_cell *c = fs_mem_alloc(mem, 2 * sizeof *c);
    c[0] = (fs_cell){.feature = 2, .value = {.type = FS_TYPE_DOUBLE, .u.d = 0.5}, .time = {9, 0}};
    c[1] = (fs_cell){.feature = 0, .value = {.type = FS_TYPE_INT64, .u.i = 7}, .time = {5, 0}};
    out[i].cells = c;
    out[i].n_cells = 2;
  }
  return FS_OK;
}

static fs_rc scan(void *be, const fs_view *view, const char *after, size_t limit, fs_mem *mem, fs_entity **out,
                  size_t *n_out, fs_err *err) {
  (void)view;
  fake_backend *f = be;
  f->scans++;
  size_t start = after[0] ? (size_t)atol(after + 1) + 1 : 0;
  if (f->scan_rc != FS_OK && start >= f->scan_fail_after) return result(f, f->scan_rc, err);
  fs_entity *e = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof *e);
  size_t n = 0;
  for (size_t i = start; i < f->n_entities && n < limit; i++, n++) {
    char key[32];
    snprintf(key, sizeof key, "e%04zu", i);
    fs_cell *c = fs_mem_alloc(mem, sizeof *c);
    *c = (fs_cell){.feature = 0, .value = {.type = FS_TYPE_INT64, .u.i = (int64_t)i}, .time = {(int64_t)i, 0}};
    e[n] = (fs_entity){.key = fs_mem_strdup(mem, key), .n_cells = 1, .cells = c};
  }
  *out = e;
  *n_out = n;
  return FS_OK;
}

static void close_fake(void *be) { (void)be; }

const fs_backend_ops fake_ops = {
    .name = "fake",
    .create_view = create_view,
    .get_view = get_view,
    .list_views = list_views,
    .delete_view = delete_view,
    .write = write_rows,
    .lookup = lookup,
    .scan = scan,
    .close = close_fake,
};
