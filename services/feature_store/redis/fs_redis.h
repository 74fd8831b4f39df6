/*
 * fs_redis.h - the Redis FeatureStore back end (hiredis): a hash per
 * (view, entity) with the latest value and event time of each feature, view
 * definitions in hashes, and an index of entities per view for ReadView.
 * Keys are listed in fs_redis_scripts.h. Durability is Redis's: run it with
 * appendonly yes and appendfsync always so that acknowledged writes survive.
 */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include "fs_backend.h"

/*
 * Prepares a back end for the Redis server at addr (HOST:PORT) and fills
 * *out. Redis need not be up yet: operations answer FS_UNAVAILABLE until it
 * is. -1 with err set only for a bad address or no memory. A warning goes to
 * stderr when Redis cannot be reached now.
 */
int fs_redis_open(const char *addr, fs_backend *out, fs_err *err);

#endif /* FS_REDIS_H */
