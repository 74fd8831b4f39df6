/*
 * fs_rpcs.h - the FeatureStore handlers, one per RPC, grouped by file:
 * fs_view_rpcs.c (definitions), fs_write.c (ingest), fs_read.c (lookups and
 * whole-view reads), fs_export.c (export and import). fs_handlers.c puts
 * them in the generated table. Internal.
 */
#ifndef FS_RPCS_H
#define FS_RPCS_H

#include "fs_call.h"

shimkit_code fs_create_feature_view(shimkit_call *call, const Shimkit__Ml__V1__CreateFeatureViewRequest *req,
                                    Shimkit__Ml__V1__FeatureView *resp, void *user_data);
shimkit_code fs_get_feature_view(shimkit_call *call, const Shimkit__Ml__V1__GetFeatureViewRequest *req,
                                 Shimkit__Ml__V1__FeatureView *resp, void *user_data);
shimkit_code fs_list_feature_views(shimkit_call *call, const Shimkit__Ml__V1__ListFeatureViewsRequest *req,
                                   Shimkit__Ml__V1__ListFeatureViewsResponse *resp, void *user_data);
shimkit_code fs_delete_feature_view(shimkit_call *call, const Shimkit__Ml__V1__DeleteFeatureViewRequest *req,
                                    Shimkit__Ml__V1__DeleteFeatureViewResponse *resp, void *user_data);
shimkit_code fs_write_rows(shimkit_call *call, Shimkit__Ml__V1__WriteRowsResponse *resp, void *user_data);
shimkit_code fs_get_online_features(shimkit_call *call, const Shimkit__Ml__V1__GetOnlineFeaturesRequest *req,
                                    Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp, void *user_data);
shimkit_code fs_read_view(shimkit_call *call, const Shimkit__Ml__V1__ReadViewRequest *req, void *user_data);
shimkit_code fs_export(shimkit_call *call, const Shimkit__Ml__V1__ExportFeaturesRequest *req, void *user_data);
shimkit_code fs_import(shimkit_call *call, Shimkit__Ml__V1__ImportFeaturesSummary *resp, void *user_data);

/* A cache of the last view a stream of row batches named. */
typedef struct fs_view_cache {
  fs_mem mem;    /* holds view; reset when another view is loaded */
  bool loaded;   /* view is valid */
  fs_view view;  /* the view last loaded */
} fs_view_cache;

/*
 * Checks and writes one batch of rows of view_name (one transaction). what
 * names the batch in messages ("message 2"); *written counts acknowledged
 * rows and is quoted in failures after some were written. mem is scratch.
 */
shimkit_code fs_apply_rows(shimkit_call *call, const fs_backend *b, fs_view_cache *cache, const char *view_name,
                           Shimkit__Ml__V1__FeatureRow *const *rows, size_t n_rows, const char *what,
                           fs_mem *mem, uint64_t *written);

#endif /* FS_RPCS_H */
