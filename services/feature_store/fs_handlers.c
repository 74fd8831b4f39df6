/*
 * fs_handlers.c - the generated FeatureStore table, filled with the
 * back-end independent handlers of fs_*.c. user_data is the fs_backend.
 */
#include "fs_rpcs.h"

const Shimkit__Ml__V1__FeatureStore_Handlers fs_handlers = {
    .create_feature_view = fs_create_feature_view,
    .get_feature_view = fs_get_feature_view,
    .list_feature_views = fs_list_feature_views,
    .delete_feature_view = fs_delete_feature_view,
    .write_rows = fs_write_rows,
    .get_online_features = fs_get_online_features,
    .read_view = fs_read_view,
    .export_ = fs_export,
    .import = fs_import,
};
