/*
 * fs_schema.h - the SQLite schema of the fs back end. Foreign keys cascade a
 * model's deletion to its versions and aliases; times are Unix nanoseconds,
 * tags/spec are the opaque blobs of mr_backend.h.
 */
#ifndef MR_FS_SCHEMA_H
#define MR_FS_SCHEMA_H

#define FS_SCHEMA_SQL                                                                     \
  "CREATE TABLE IF NOT EXISTS models ("                                                   \
  "  name TEXT PRIMARY KEY,"                                                              \
  "  description TEXT NOT NULL,"                                                          \
  "  tags BLOB NOT NULL,"                                                                 \
  "  created_ns INTEGER NOT NULL,"                                                        \
  "  updated_ns INTEGER NOT NULL);"                                                       \
  "CREATE TABLE IF NOT EXISTS versions ("                                                 \
  "  model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,"                      \
  "  version INTEGER NOT NULL,"                                                           \
  "  status INTEGER NOT NULL,"                                                            \
  "  framework TEXT NOT NULL,"                                                            \
  "  description TEXT NOT NULL,"                                                          \
  "  spec BLOB NOT NULL,"                                                                 \
  "  sha256 TEXT NOT NULL,"                                                               \
  "  size_bytes INTEGER NOT NULL,"                                                        \
  "  created_ns INTEGER NOT NULL,"                                                        \
  "  PRIMARY KEY (model, version));"                                                      \
  "CREATE TABLE IF NOT EXISTS aliases ("                                                  \
  "  model TEXT NOT NULL,"                                                                \
  "  alias TEXT NOT NULL,"                                                                \
  "  version INTEGER NOT NULL,"                                                           \
  "  PRIMARY KEY (model, alias),"                                                         \
  "  FOREIGN KEY (model, version) REFERENCES versions(model, version) ON DELETE CASCADE);"

#define FS_VERSION_COLUMNS "model, version, status, framework, description, spec, sha256, size_bytes, created_ns"

#endif /* MR_FS_SCHEMA_H */
