/*
 * fs_views.h - the handlers' cache of view definitions, so that
 * GetOnlineFeatures does not read the definition from the store before every
 * lookup.
 *
 * Correct with several shims over one store: a cached definition is only a
 * guess. The back end's lookup checks, in the same snapshot (SQLite) or the
 * same pipelined round trip (Redis) as the values, that the stored view still
 * has the cached definition's `created` time, and answers FS_NOT_FOUND when
 * it does not (deleted, or deleted and re-created by any shim). The handler
 * then drops the entry, reloads the definition and looks up once more, so a
 * re-created view is never served with its old schema. Entries also expire
 * after FS_VIEW_TTL_MS.
 *
 * Entries are reference counted: a call holds the one it uses until it
 * returns, even if another call replaces it meanwhile.
 */
#ifndef FS_VIEWS_H
#define FS_VIEWS_H

#include "fs_backend.h"

#define FS_VIEW_TTL_MS 5000 /* a cached definition is reloaded after this long */
#define FS_VIEWS_MAX 256    /* at most this many cached views (the oldest loaded goes first) */

typedef struct fs_views fs_views;
typedef struct fs_views_entry fs_views_entry;

/* An empty cache; NULL when out of memory. */
fs_views *fs_views_new(void);

/* Frees the cache and its entries (no call may hold one). Accepts NULL. */
void fs_views_free(fs_views *v);

/*
 * The definition of view name: the cached one unless reload or expired, else
 * read with b->ops->get_view and cached. *out points into the entry; hold it
 * until fs_views_release.
 */
fs_rc fs_views_get(fs_views *v, const fs_backend *b, const char *name, bool reload, fs_views_entry **entry,
                   const fs_view **out, fs_err *err);

/* Drops entry from the cache (the store says it is stale); the caller still holds it. */
void fs_views_forget(fs_views *v, fs_views_entry *entry);

/* Gives up the caller's hold on entry. Accepts NULL. */
void fs_views_release(fs_views *v, fs_views_entry *entry);

#endif /* FS_VIEWS_H */
