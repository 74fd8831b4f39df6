/*
 * fs_convert.h - between the shared interface's messages (shimkit.ml.v1) and
 * the back ends' plain C types (fs_backend.h), with the checks that make a
 * definition or a row acceptable. Back-end independent; the unit tests drive
 * it through the handlers.
 *
 * Every function that can reject input writes the reason (naming the view,
 * row and feature concerned) into err and returns -1; 0 on success. Output
 * memory comes from mem; protobuf messages built here point into mem too.
 */
#ifndef FS_CONVERT_H
#define FS_CONVERT_H

#include "fs_backend.h"
#include "fs_limits.h"
#include "ml/v1/feature_store.pb-c.h"

/* Names of views and features: [A-Za-z0-9_.-]{1,FS_MAX_NAME}. */
bool fs_name_ok(const char *name);

/* The current time (CLOCK_REALTIME). */
fs_time fs_time_now(void);

/* A view definition from a request, checked: names, types, unique features, limits. */
int fs_view_from_proto(const Shimkit__Ml__V1__FeatureView *pb, fs_mem *mem, fs_view *out, fs_err *err);

/* A FeatureView message for a stored view (pointing into mem and into view). -1 out of memory. */
int fs_view_to_proto(const fs_view *view, fs_mem *mem, Shimkit__Ml__V1__FeatureView *out);

/* Same schema: entity key and the features' names and types, in order. */
bool fs_view_same_schema(const fs_view *a, const fs_view *b);

/*
 * The rows of one WriteRowsRequest, checked against view's schema: entity key
 * present, every value named after a feature of the view and of its type,
 * event time valid (missing = now). what prefixes messages ("message 2").
 */
int fs_rows_from_proto(const fs_view *view, Shimkit__Ml__V1__FeatureRow *const *rows, size_t n_rows,
                       const char *what, fs_mem *mem, fs_entity **out, fs_err *err);

/* A FeatureValue for a stored value (strings point into value). */
void fs_value_to_proto(const fs_value *value, Shimkit__Ml__V1__FeatureValue *out);

/* A Timestamp message for t. */
void fs_time_to_proto(fs_time t, Google__Protobuf__Timestamp *out);

/* Sets view->by_name (memory from mem) so that fs_view_feature is a binary search; -1 out of memory. */
int fs_view_index(fs_view *view, fs_mem *mem);

#endif /* FS_CONVERT_H */
