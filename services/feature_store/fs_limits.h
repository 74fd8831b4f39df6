/*
 * fs_limits.h - the hard limits of the FeatureStore shim, in one place. Each
 * bounds memory or time of one call; requests over them get INVALID_ARGUMENT
 * (or are clamped, for page sizes) with a message that gives the limit.
 */
#ifndef FS_LIMITS_H
#define FS_LIMITS_H

#define FS_MAX_NAME 128                   /* bytes of a view or feature name */
#define FS_MAX_ENTITY_KEY 1024            /* bytes of one entity key value */
#define FS_MAX_FEATURES 1000              /* features of one view */
#define FS_MAX_ROWS_PER_MESSAGE 10000     /* rows of one WriteRowsRequest / FeatureRecord */
#define FS_MAX_KEYS_PER_LOOKUP 1000       /* entity keys of one GetOnlineFeatures */
#define FS_DEFAULT_PAGE 100               /* ListFeatureViews page_size 0 */
#define FS_MAX_PAGE 1000                  /* larger page sizes are clamped to this */
#define FS_SCAN_PAGE 256                  /* entities fetched at a time by ReadView and Export */
#define FS_EXPORT_ROWS 1000               /* rows per exported WriteRowsRequest */
#define FS_MEM_LIMIT (256u * 1024 * 1024) /* bytes one call may allocate for results */

#endif /* FS_LIMITS_H */
