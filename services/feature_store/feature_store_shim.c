/*
 * feature_store_shim.c - serves shimkit.ml.v1.FeatureStore over a native
 * back end chosen on the command line (or in a --config file):
 *   --backend sqlite --db FILE        the embedded default
 *   --backend redis --redis HOST:PORT
 * The handlers are the same for both (fs_handlers.c); only the adapter
 * differs. Common flags come from services/common/shim_cli.
 */
#include <stdio.h>
#include <string.h>

#include "fs_handlers.h"
#include "fs_views.h"
#include "redis/fs_redis.h"
#include "shim_cli.h"
#include "sqlite/fs_sqlite.h"

typedef struct fs_shim {
  const char *backend; /* --backend */
  const char *db;      /* --db */
  const char *redis;   /* --redis */
  fs_backend store;    /* opened in setup */
} fs_shim;

/* shim_cli's check: a back end name it knows (exit 2 otherwise). */
static int check(void *ctx) {
  const fs_shim *shim = ctx;
  if (strcmp(shim->backend, "sqlite") == 0 || strcmp(shim->backend, "redis") == 0) return 0;
  fprintf(stderr, "feature_store_shim: --backend must be sqlite or redis, not \"%s\"\n", shim->backend);
  return -1;
}

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  fs_shim *shim = ctx;
  fs_err err;
  int rc;
  if (strcmp(shim->backend, "sqlite") == 0)
    rc = fs_sqlite_open(shim->db, &shim->store, &err);
  else
    rc = fs_redis_open(shim->redis, &shim->store, &err);
  if (rc != 0) {
    fprintf(stderr, "feature_store_shim: %s\n", err.msg);
    return SHIMKIT_UNAVAILABLE;
  }
  if (!(shim->store.views = fs_views_new())) {
    fprintf(stderr, "feature_store_shim: out of memory\n");
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  return shimkit__ml__v1__feature_store__shimkit_register(srv, &fs_handlers, &shim->store);
}

static void teardown(void *ctx) {
  fs_shim *shim = ctx;
  if (shim->store.ops) shim->store.ops->close(shim->store.be);
  shim->store.ops = NULL;
  fs_views_free(shim->store.views);
  shim->store.views = NULL;
}

int main(int argc, char **argv) {
  static fs_shim shim = {.backend = "sqlite", .db = "feature_store.db", .redis = "127.0.0.1:6379"};
  const shim_cli_option options[] = {
      {"backend", "NAME", "native back end: sqlite (default) or redis", &shim.backend},
      {"db", "FILE", "sqlite: database file, created if missing (default feature_store.db)", &shim.db},
      {"redis", "HOST:PORT", "redis: server address (default 127.0.0.1:6379)", &shim.redis},
      {0},
  };
  const shim_cli_program program = {
      .name = "feature_store_shim",
      .summary = "Serves shimkit.ml.v1.FeatureStore (proto/ml/v1/feature_store.proto) over SQLite or\n"
                 "Redis, with gRPC health checking and server reflection.",
      .options = options,
      .check = check,
      .setup = setup,
      .teardown = teardown,
      .ctx = &shim,
  };
  return shim_cli_main(&program, argc, argv);
}
