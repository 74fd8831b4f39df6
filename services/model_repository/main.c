/*
 * main.c - model_repository_shim: serves shimkit.ml.v1.ModelRepository
 * (proto/ml/v1/model_repository.proto) on the back end picked by --backend:
 *   fs        artifacts in files under --data-dir, metadata in SQLite (default)
 *   postgres  metadata and artifacts in PostgreSQL at --postgres-dsn
 * The common flags (listen, TLS, workers, limits, --config ...) come from
 * services/common/shim_cli.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_sqlite/fs_backend.h"
#include "mr_service.h"
#include "postgres/pg_backend.h"
#include "shim_cli.h"

typedef struct mr_program {
  const char *backend;      /* "fs" or "postgres" */
  const char *data_dir;     /* fs: where files and the SQLite database live */
  const char *postgres_dsn; /* postgres: libpq connection string */
  const char *max_artifact; /* --max-artifact-bytes, as text */
  mr_service service;       /* what the handlers get */
} mr_program;

/* shim_cli's check: the back end and its options, --max-artifact-bytes (exit 2 otherwise). */
static int check(void *ctx) {
  mr_program *p = ctx;
  if (p->max_artifact) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p->max_artifact, &end, 10);
    if (errno || *end || v == 0 || p->max_artifact[0] == '-') {
      fprintf(stderr, "model_repository_shim: --max-artifact-bytes wants a positive number, got '%s'\n",
              p->max_artifact);
      return -1;
    }
    p->service.max_artifact_bytes = v;
  }
  if (strcmp(p->backend, "fs") != 0 && strcmp(p->backend, "postgres") != 0) {
    fprintf(stderr, "model_repository_shim: --backend wants fs or postgres, got '%s'\n", p->backend);
    return -1;
  }
  if (strcmp(p->backend, "postgres") == 0 && !p->postgres_dsn) {
    fprintf(stderr, "model_repository_shim: --backend postgres needs --postgres-dsn DSN\n");
    return -1;
  }
  return 0;
}

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  mr_program *p = ctx;
  mr_err err = {{0}};
  mr_rc rc;
  if (strcmp(p->backend, "fs") == 0)
    rc = mr_fs_open(p->data_dir, &p->service.backend, &err);
  else
    rc = mr_pg_open(p->postgres_dsn, &p->service.backend, &err);
  if (rc != MR_OK) {
    fprintf(stderr, "model_repository_shim: cannot open the %s back end: %s\n", p->backend, err.msg);
    return SHIMKIT_UNAVAILABLE;
  }
  shimkit_log(SHIMKIT_LOG_INFO, "model_repository_shim", "back end %s (%s)", p->backend,
              strcmp(p->backend, "fs") == 0 ? p->data_dir : "PostgreSQL");
  return mr_service_register(srv, &p->service);
}

static void teardown(void *ctx) {
  mr_program *p = ctx;
  if (p->service.backend.ops) p->service.backend.ops->close(p->service.backend.self);
  p->service.backend.ops = NULL;
}

int main(int argc, char **argv) {
  static mr_program prog = {.backend = "fs", .data_dir = "model-repository"};
  const shim_cli_option options[] = {
      {"backend", "NAME", "fs (files + SQLite, the default) or postgres", &prog.backend},
      {"data-dir", "DIR", "fs: directory of artifacts and metadata (default ./model-repository)",
       &prog.data_dir},
      {"postgres-dsn", "DSN", "postgres: libpq connection string, e.g. 'host=127.0.0.1 port=5432 dbname=mr'",
       &prog.postgres_dsn},
      {"max-artifact-bytes", "N", "largest artifact accepted (default 4 GiB)", &prog.max_artifact},
      {0},
  };
  const shim_cli_program program = {
      .name = "model_repository_shim",
      .summary = "Serves shimkit.ml.v1.ModelRepository (proto/ml/v1/model_repository.proto) on a\n"
                 "filesystem + SQLite or a PostgreSQL back end, with health checking and reflection.",
      .options = options,
      .check = check,
      .setup = setup,
      .teardown = teardown,
      .ctx = &prog,
  };
  return shim_cli_main(&program, argc, argv);
}
