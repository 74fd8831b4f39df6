/*
 * fs_sqlite.h - the embedded FeatureStore back end: one SQLite database file
 * (WAL, synchronous=FULL) holding view definitions and the latest value of
 * every (view, entity, feature).
 */
#ifndef FS_SQLITE_H
#define FS_SQLITE_H

#include "fs_backend.h"

/*
 * Opens (creating when needed) the database at path, and the folders it is
 * in (mkdir -p, 0755: "data/features.db" in a fresh folder), and fills *out. Returns
 * 0, or -1 with a reason in err (the file cannot be opened, is not a
 * database, or has a schema of another program). Close with out->ops->close(out->be).
 */
int fs_sqlite_open(const char *path, fs_backend *out, fs_err *err);

#endif /* FS_SQLITE_H */
