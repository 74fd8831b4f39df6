/*
 * fs_sqlite_schema.h - the tables of the SQLite back end and the statements
 * it runs, as text in one place. fs_views/fs_features hold definitions;
 * fs_rows holds one row per (view, entity, feature) with its latest value:
 * the upsert only replaces a value whose event time is not later than the
 * new one, so "latest event time wins" is enforced by the database itself.
 * fs_rows.value has no declared type, so each value keeps its storage class
 * (INTEGER for INT64 and BOOL, REAL for DOUBLE, TEXT for STRING).
 */
#ifndef FS_SQLITE_SCHEMA_H
#define FS_SQLITE_SCHEMA_H

#define FS_SQL_SCHEMA                                                                              \
  "PRAGMA journal_mode=WAL;"                                                                       \
  "PRAGMA synchronous=FULL;"                                                                       \
  "PRAGMA foreign_keys=ON;"                                                                        \
  "CREATE TABLE IF NOT EXISTS fs_views("                                                           \
  "  name TEXT PRIMARY KEY, entity_key TEXT NOT NULL, description TEXT NOT NULL,"                  \
  "  created_sec INTEGER NOT NULL, created_nanos INTEGER NOT NULL) WITHOUT ROWID;"                 \
  "CREATE TABLE IF NOT EXISTS fs_features("                                                        \
  "  view TEXT NOT NULL REFERENCES fs_views(name) ON DELETE CASCADE, pos INTEGER NOT NULL,"        \
  "  name TEXT NOT NULL, type INTEGER NOT NULL, description TEXT NOT NULL,"                        \
  "  PRIMARY KEY(view, pos)) WITHOUT ROWID;"                                                       \
  "CREATE TABLE IF NOT EXISTS fs_rows("                                                            \
  "  view TEXT NOT NULL, entity TEXT NOT NULL, feature TEXT NOT NULL, value,"                      \
  "  event_sec INTEGER NOT NULL, event_nanos INTEGER NOT NULL,"                                    \
  "  PRIMARY KEY(view, entity, feature)) WITHOUT ROWID;"

#define FS_SQL_INSERT_VIEW \
  "INSERT INTO fs_views(name, entity_key, description, created_sec, created_nanos) VALUES(?1, ?2, ?3, ?4, ?5)"
#define FS_SQL_INSERT_FEATURE \
  "INSERT INTO fs_features(view, pos, name, type, description) VALUES(?1, ?2, ?3, ?4, ?5)"
#define FS_SQL_GET_VIEW \
  "SELECT entity_key, description, created_sec, created_nanos FROM fs_views WHERE name = ?1"
#define FS_SQL_GET_FEATURES "SELECT name, type, description FROM fs_features WHERE view = ?1 ORDER BY pos"
#define FS_SQL_LIST_VIEWS "SELECT name FROM fs_views WHERE name > ?1 ORDER BY name LIMIT ?2"
#define FS_SQL_DELETE_ROWS "DELETE FROM fs_rows WHERE view = ?1"
#define FS_SQL_DELETE_VIEW "DELETE FROM fs_views WHERE name = ?1"
#define FS_SQL_VIEW_CREATED "SELECT created_sec, created_nanos FROM fs_views WHERE name = ?1"
#define FS_SQL_UPSERT                                                                                   \
  "INSERT INTO fs_rows(view, entity, feature, value, event_sec, event_nanos) VALUES(?1, ?2, ?3, ?4, ?5, ?6)" \
  " ON CONFLICT(view, entity, feature) DO UPDATE SET"                                                   \
  "   value = excluded.value, event_sec = excluded.event_sec, event_nanos = excluded.event_nanos"        \
  " WHERE (excluded.event_sec, excluded.event_nanos) >= (fs_rows.event_sec, fs_rows.event_nanos)"
#define FS_SQL_LOOKUP \
  "SELECT feature, value, event_sec, event_nanos FROM fs_rows WHERE view = ?1 AND entity = ?2"
#define FS_SQL_SCAN                                                                                \
  "SELECT entity, feature, value, event_sec, event_nanos FROM fs_rows WHERE view = ?1 AND entity IN" \
  " (SELECT DISTINCT entity FROM fs_rows WHERE view = ?1 AND entity > ?2 ORDER BY entity LIMIT ?3)"  \
  " ORDER BY entity"

#endif /* FS_SQLITE_SCHEMA_H */
