/*
 * pg_schema.h - the PostgreSQL schema of the postgres back end. Names use
 * the "C" collation so that listing order (and paging) is byte order, as in
 * the SQLite back end. An artifact is a run of bytea chunks keyed by an
 * artifact id drawn when the upload starts; the foreign key from the chunks
 * to their version is checked at commit, so chunks can be written inside
 * the upload's transaction before the version row exists.
 */
#ifndef MR_PG_SCHEMA_H
#define MR_PG_SCHEMA_H

#define PG_SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7224017)"

#define PG_SCHEMA_SQL                                                                          \
  "CREATE TABLE IF NOT EXISTS mr_models ("                                                     \
  "  name text COLLATE \"C\" PRIMARY KEY,"                                                     \
  "  description text NOT NULL,"                                                               \
  "  tags bytea NOT NULL,"                                                                     \
  "  created_ns bigint NOT NULL,"                                                              \
  "  updated_ns bigint NOT NULL);"                                                             \
  "CREATE SEQUENCE IF NOT EXISTS mr_artifact_ids;"                                             \
  "CREATE TABLE IF NOT EXISTS mr_versions ("                                                   \
  "  model text COLLATE \"C\" NOT NULL REFERENCES mr_models(name) ON DELETE CASCADE,"          \
  "  version bigint NOT NULL,"                                                                 \
  "  status integer NOT NULL,"                                                                 \
  "  framework text NOT NULL,"                                                                 \
  "  description text NOT NULL,"                                                               \
  "  spec bytea NOT NULL,"                                                                     \
  "  sha256 text NOT NULL,"                                                                    \
  "  size_bytes bigint NOT NULL,"                                                              \
  "  created_ns bigint NOT NULL,"                                                              \
  "  artifact_id bigint NOT NULL UNIQUE,"                                                      \
  "  PRIMARY KEY (model, version));"                                                           \
  "CREATE TABLE IF NOT EXISTS mr_chunks ("                                                     \
  "  artifact_id bigint NOT NULL REFERENCES mr_versions(artifact_id) ON DELETE CASCADE"        \
  "    DEFERRABLE INITIALLY DEFERRED,"                                                         \
  "  seq integer NOT NULL,"                                                                    \
  "  data bytea NOT NULL,"                                                                     \
  "  PRIMARY KEY (artifact_id, seq));"                                                         \
  "CREATE TABLE IF NOT EXISTS mr_aliases ("                                                    \
  "  model text COLLATE \"C\" NOT NULL,"                                                       \
  "  alias text COLLATE \"C\" NOT NULL,"                                                       \
  "  version bigint NOT NULL,"                                                                 \
  "  PRIMARY KEY (model, alias),"                                                              \
  "  FOREIGN KEY (model, version) REFERENCES mr_versions(model, version) ON DELETE CASCADE);"

#define PG_VERSION_COLUMNS \
  "model, version, status, framework, description, spec, sha256, size_bytes, created_ns"

#endif /* MR_PG_SCHEMA_H */
