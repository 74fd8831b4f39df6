/*
 * fs_backend.h - the embedded back end of the model repository: artifacts as
 * files under a data directory, metadata in SQLite (WAL, one transaction per
 * change). Layout of DIR:
 *   DIR/metadata.sqlite3         models, versions, aliases
 *   DIR/artifacts/<model>/<n>.bin  the artifact of version n, complete and fsync'd
 *   DIR/tmp/                     uploads in progress (emptied at start)
 */
#ifndef MR_FS_BACKEND_H
#define MR_FS_BACKEND_H

#include "mr_backend.h"

/* Opens (creating if needed) the repository in dir, and dir's missing parents (mkdir -p, 0755);
 * fills *out. Close with out->ops->close(out->self). */
mr_rc mr_fs_open(const char *dir, mr_backend *out, mr_err *err);

#endif /* MR_FS_BACKEND_H */
