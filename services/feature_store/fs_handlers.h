/*
 * fs_handlers.h - the shimkit.ml.v1.FeatureStore handler table over any
 * native adapter (fs_backend.h).
 *
 * Register with:
 *   shimkit__ml__v1__feature_store__shimkit_register(srv, &fs_handlers, backend);
 * where backend is an fs_backend * that outlives the server (borrowed).
 */
#ifndef FS_HANDLERS_H
#define FS_HANDLERS_H

#include "fs_backend.h"
#include "ml/v1/feature_store.shimkit.h"

extern const Shimkit__Ml__V1__FeatureStore_Handlers fs_handlers;

/* The gRPC status for a back-end result: the one mapping of fs_rc to codes. */
shimkit_code fs_rc_to_code(fs_rc rc);

#endif /* FS_HANDLERS_H */
