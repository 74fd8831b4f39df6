/*
 * fake_backend.h - an fs_backend_ops whose results a test sets: each
 * operation returns the fs_rc (and message) the test put in fake_backend,
 * and serves one fixed view "v" (entity key "id"; features a INT64, b STRING,
 * c DOUBLE) and a made-up number of entities for scan.
 */
#ifndef FAKE_BACKEND_H
#define FAKE_BACKEND_H

#include "fs_backend.h"

typedef struct fake_backend {
  fs_rc create_rc, get_rc, list_rc, delete_rc, write_rc, lookup_rc, scan_rc; /* results to return */
  const char *msg;          /* err->msg of a failure */
  size_t n_views;           /* list_views: views "v0".. that exist */
  size_t n_entities;        /* scan: entities "e0000".. that exist */
  size_t scan_fail_after;   /* scan: return scan_rc once this many entities were served (0 = at once) */
  size_t written;           /* write: rows received */
  size_t scans;             /* scan: calls */
  size_t gets;              /* get_view: calls */
  size_t lookup_stale;      /* lookup: answer FS_NOT_FOUND (view re-created) this many times first */
} fake_backend;

extern const fs_backend_ops fake_ops;

#endif /* FAKE_BACKEND_H */
