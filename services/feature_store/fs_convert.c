/*
 * fs_convert.c - see fs_convert.h. The checks here are the whole of what a
 * back end may assume about its input: valid names, known features, values
 * of the declared type, event times inside google.protobuf.Timestamp's range.
 */
#define _POSIX_C_SOURCE 200809L

#include "fs_convert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define FS_TIME_MIN_SEC (-62135596800LL)
#define FS_TIME_MAX_SEC 253402300799LL

/* ---- small things ------------------------------------------------------------ */

fs_rc fs_fail(fs_err *err, fs_rc rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return rc;
}

int fs_time_cmp(fs_time a, fs_time b) {
  if (a.sec != b.sec) return a.sec < b.sec ? -1 : 1;
  if (a.nanos != b.nanos) return a.nanos < b.nanos ? -1 : 1;
  return 0;
}

fs_time fs_time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (fs_time){.sec = (int64_t)ts.tv_sec, .nanos = (int32_t)ts.tv_nsec};
}

bool fs_name_ok(const char *name) {
  if (!name || !name[0]) return false;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok || n >= FS_MAX_NAME) return false;
  }
  return true;
}

const char *fs_type_name(fs_type type) {
  switch (type) {
    case FS_TYPE_INT64: return "INT64";
    case FS_TYPE_DOUBLE: return "DOUBLE";
    case FS_TYPE_STRING: return "STRING";
    case FS_TYPE_BOOL: return "BOOL";
    default: return "UNSPECIFIED";
  }
}

static const char *kind_name(Shimkit__Ml__V1__FeatureValue__KindCase k) {
  switch (k) {
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE: return "int64_value";
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE: return "double_value";
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_STRING_VALUE: return "string_value";
    case SHIMKIT__ML__V1__FEATURE_VALUE__KIND_BOOL_VALUE: return "bool_value";
    default: return "no value";
  }
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* ---- views ------------------------------------------------------------------- */

int fs_view_from_proto(const Shimkit__Ml__V1__FeatureView *pb, fs_mem *mem, fs_view *out, fs_err *err) {
  if (!pb) return fs_fail(err, FS_ERROR, "view is missing"), -1;
  if (!fs_name_ok(pb->name))
    return fs_fail(err, FS_ERROR, "view name \"%.200s\" is not valid: use 1 to %d of A-Z a-z 0-9 _ . -",
                   str_or_empty(pb->name), FS_MAX_NAME),
           -1;
  if (!fs_name_ok(pb->entity_key))
    return fs_fail(err, FS_ERROR,
                   "view \"%s\": entity_key \"%.200s\" is not valid: use 1 to %d of A-Z a-z 0-9 _ . -",
                   pb->name, str_or_empty(pb->entity_key), FS_MAX_NAME),
           -1;
  if (pb->n_features == 0) return fs_fail(err, FS_ERROR, "view \"%s\" has no features", pb->name), -1;
  if (pb->n_features > FS_MAX_FEATURES)
    return fs_fail(err, FS_ERROR, "view \"%s\" has %zu features; at most %d", pb->name, pb->n_features,
                   FS_MAX_FEATURES),
           -1;
  fs_feature *features = fs_mem_alloc(mem, pb->n_features * sizeof *features);
  if (!features) return fs_fail(err, FS_FULL, "out of memory"), -1;
  for (size_t i = 0; i < pb->n_features; i++) {
    const Shimkit__Ml__V1__FeatureSpec *f = pb->features[i];
    if (!fs_name_ok(f->name))
      return fs_fail(err, FS_ERROR,
                     "view \"%s\": feature %zu name \"%.200s\" is not valid: use 1 to %d of A-Z a-z 0-9 _ . -",
                     pb->name, i, str_or_empty(f->name), FS_MAX_NAME),
             -1;
    if (strcmp(f->name, pb->entity_key) == 0)
      return fs_fail(err, FS_ERROR, "view \"%s\": feature \"%s\" has the entity key's name", pb->name,
                     f->name),
             -1;
    if ((int)f->type < FS_TYPE_INT64 || (int)f->type > FS_TYPE_BOOL)
      return fs_fail(err, FS_ERROR, "view \"%s\": feature \"%s\" needs a type (INT64, DOUBLE, STRING, BOOL)",
                     pb->name, f->name),
             -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(features[j].name, f->name) == 0)
        return fs_fail(err, FS_ERROR, "view \"%s\": feature \"%s\" is declared twice", pb->name, f->name), -1;
    features[i] = (fs_feature){.name = f->name, .type = (fs_type)f->type, .description = str_or_empty(f->description)};
  }
  *out = (fs_view){.name = pb->name,
                   .entity_key = pb->entity_key,
                   .description = str_or_empty(pb->description),
                   .n_features = pb->n_features,
                   .features = features};
  if (pb->created_at) out->created = (fs_time){pb->created_at->seconds, pb->created_at->nanos};
  return 0;
}

int fs_view_to_proto(const fs_view *view, fs_mem *mem, Shimkit__Ml__V1__FeatureView *out) {
  shimkit__ml__v1__feature_view__init(out);
  Shimkit__Ml__V1__FeatureSpec **specs = fs_mem_alloc(mem, view->n_features * sizeof *specs);
  Shimkit__Ml__V1__FeatureSpec *spec = fs_mem_alloc(mem, view->n_features * sizeof *spec);
  Google__Protobuf__Timestamp *ts = fs_mem_alloc(mem, sizeof *ts);
  if (!specs || !spec || !ts) return -1;
  for (size_t i = 0; i < view->n_features; i++) {
    shimkit__ml__v1__feature_spec__init(&spec[i]);
    spec[i].name = (char *)view->features[i].name;
    spec[i].type = (Shimkit__Ml__V1__FeatureType)view->features[i].type;
    spec[i].description = (char *)view->features[i].description;
    specs[i] = &spec[i];
  }
  out->name = (char *)view->name;
  out->entity_key = (char *)view->entity_key;
  out->description = (char *)view->description;
  out->n_features = view->n_features;
  out->features = specs;
  fs_time_to_proto(view->created, ts);
  out->created_at = ts;
  return 0;
}

bool fs_view_same_schema(const fs_view *a, const fs_view *b) {
  if (strcmp(a->entity_key, b->entity_key) != 0 || a->n_features != b->n_features) return false;
  for (size_t i = 0; i < a->n_features; i++)
    if (strcmp(a->features[i].name, b->features[i].name) != 0 || a->features[i].type != b->features[i].type)
      return false;
  return true;
}

long fs_view_feature(const fs_view *view, const char *name) {
  if (view->by_name) {
    size_t lo = 0, hi = view->n_features;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2, i = view->by_name[mid];
      int c = strcmp(view->features[i].name, name);
      if (c == 0) return (long)i;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }
  for (size_t i = 0; i < view->n_features; i++)
    if (strcmp(view->features[i].name, name) == 0) return (long)i;
  return -1;
}

static int by_name_cmp(const void *a, const void *b) {
  return strcmp((*(const fs_feature *const *)a)->name, (*(const fs_feature *const *)b)->name);
}

int fs_view_index(fs_view *view, fs_mem *mem) {
  size_t n = view->n_features;
  const fs_feature **p = malloc((n ? n : 1) * sizeof *p);
  size_t *idx = fs_mem_alloc(mem, (n ? n : 1) * sizeof *idx);
  if (!p || !idx) {
    free(p);
    return -1;
  }
  for (size_t i = 0; i < n; i++) p[i] = &view->features[i];
  qsort(p, n, sizeof *p, by_name_cmp);
  for (size_t i = 0; i < n; i++) idx[i] = (size_t)(p[i] - view->features);
  free(p);
  view->by_name = idx;
  return 0;
}

/* ---- values and rows ---------------------------------------------------------- */

void fs_time_to_proto(fs_time t, Google__Protobuf__Timestamp *out) {
  google__protobuf__timestamp__init(out);
  out->seconds = t.sec;
  out->nanos = t.nanos;
}

void fs_value_to_proto(const fs_value *value, Shimkit__Ml__V1__FeatureValue *out) {
  shimkit__ml__v1__feature_value__init(out);
  switch (value->type) {
    case FS_TYPE_INT64:
      out->kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE;
      out->int64_value = value->u.i;
      break;
    case FS_TYPE_DOUBLE:
      out->kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE;
      out->double_value = value->u.d;
      break;
    case FS_TYPE_STRING:
      out->kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_STRING_VALUE;
      out->string_value = (char *)value->u.s;
      break;
    case FS_TYPE_BOOL:
      out->kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_BOOL_VALUE;
      out->bool_value = value->u.b;
      break;
    default: break;
  }
}

/* The value of pb if it has feature f's type; -1 and a message otherwise. */
static int value_from_proto(const fs_feature *f, const Shimkit__Ml__V1__FeatureValue *pb, fs_value *out,
                            const char *where, fs_err *err) {
  Shimkit__Ml__V1__FeatureValue__KindCase k = pb ? pb->kind_case : SHIMKIT__ML__V1__FEATURE_VALUE__KIND__NOT_SET;
  out->type = f->type;
  switch (f->type) {
    case FS_TYPE_INT64:
      if (k != SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE) break;
      out->u.i = pb->int64_value;
      return 0;
    case FS_TYPE_DOUBLE:
      if (k != SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE) break;
      out->u.d = pb->double_value;
      return 0;
    case FS_TYPE_STRING:
      if (k != SHIMKIT__ML__V1__FEATURE_VALUE__KIND_STRING_VALUE) break;
      out->u.s = str_or_empty(pb->string_value);
      return 0;
    case FS_TYPE_BOOL:
      if (k != SHIMKIT__ML__V1__FEATURE_VALUE__KIND_BOOL_VALUE) break;
      out->u.b = pb->bool_value;
      return 0;
    default: break;
  }
  fs_fail(err, FS_ERROR, "%s: feature \"%s\" is %s but the value is %s", where, f->name, fs_type_name(f->type),
          kind_name(k));
  return -1;
}

int fs_rows_from_proto(const fs_view *view, Shimkit__Ml__V1__FeatureRow *const *rows, size_t n_rows,
                       const char *what, fs_mem *mem, fs_entity **out, fs_err *err) {
  if (n_rows > FS_MAX_ROWS_PER_MESSAGE)
    return fs_fail(err, FS_ERROR, "%s has %zu rows; at most %d per message", what, n_rows,
                   FS_MAX_ROWS_PER_MESSAGE),
           -1;
  fs_entity *ents = fs_mem_alloc(mem, (n_rows ? n_rows : 1) * sizeof *ents);
  /* slot[f]: 1 + the cell of feature f in the row being read, 0 for none. A map key sent twice (the wire
   * allows it) keeps its last value, as protobuf's map semantics say: one cell per feature (fs_backend.h). */
  size_t *slot = fs_mem_alloc(mem, (view->n_features ? view->n_features : 1) * sizeof *slot);
  if (!ents || !slot) return fs_fail(err, FS_FULL, "out of memory"), -1;
  fs_time now = fs_time_now();
  for (size_t r = 0; r < n_rows; r++) {
    const Shimkit__Ml__V1__FeatureRow *row = rows[r];
    char where[FS_MAX_ENTITY_KEY / 4 + 128];
    const char *key = str_or_empty(row->entity_key);
    snprintf(where, sizeof where, "%s, row %zu (%s \"%.200s\")", what, r, view->entity_key, key);
    if (!key[0])
      return fs_fail(err, FS_ERROR, "%s, row %zu: the entity key (%s) is missing", what, r, view->entity_key), -1;
    if (strlen(key) > FS_MAX_ENTITY_KEY)
      return fs_fail(err, FS_ERROR, "%s: the entity key is longer than %d bytes", where, FS_MAX_ENTITY_KEY), -1;
    if (row->n_values == 0) return fs_fail(err, FS_ERROR, "%s has no values", where), -1;
    fs_time t = now;
    if (row->event_time) {
      t = (fs_time){row->event_time->seconds, row->event_time->nanos};
      if (t.sec < FS_TIME_MIN_SEC || t.sec > FS_TIME_MAX_SEC || t.nanos < 0 || t.nanos > 999999999)
        return fs_fail(err, FS_ERROR, "%s: event_time is outside 0001-01-01..9999-12-31", where), -1;
    }
    fs_cell *cells = fs_mem_alloc(mem, row->n_values * sizeof *cells);
    if (!cells) return fs_fail(err, FS_FULL, "out of memory"), -1;
    size_t n_cells = 0;
    for (size_t v = 0; v < row->n_values; v++) {
      const Shimkit__Ml__V1__FeatureRow__ValuesEntry *e = row->values[v];
      long fi = fs_view_feature(view, str_or_empty(e->key));
      if (fi < 0)
        return fs_fail(err, FS_ERROR, "%s: view \"%s\" has no feature \"%.200s\"", where, view->name,
                       str_or_empty(e->key)),
               -1;
      size_t c = slot[fi] ? slot[fi] - 1 : n_cells++;
      slot[fi] = c + 1;
      cells[c].feature = (size_t)fi;
      cells[c].time = t;
      if (value_from_proto(&view->features[fi], e->value, &cells[c].value, where, err) != 0) return -1;
    }
    for (size_t c = 0; c < n_cells; c++) slot[cells[c].feature] = 0;
    ents[r] = (fs_entity){.key = key, .n_cells = n_cells, .cells = cells};
  }
  *out = ents;
  return 0;
}
