/*
 * env.h - where a replica runs. shimctl starts, stops and watches the
 * replicas of a set through one of these environments, so the commands
 * (up, scale, swap, down, logs) do not care whether a replica is a local
 * process, a Docker container or (rendered only) a Kubernetes pod.
 *
 *   process     env_process.c     supervised child processes on loopback
 *   docker      env_docker.c      docker run -d --restart unless-stopped -p 127.0.0.1:P:P; output kept
 *                                 in the log file when the container goes (docker_log.c)
 *   kubernetes  env_kubernetes.c  Deployment + Service manifests, kubectl apply
 */
#ifndef SHIMCTL_ENV_H
#define SHIMCTL_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Everything needed to run one replica of a set. */
/* Every replica shimctl starts gets --drain-delay-ms this (before the set's
 * own arguments, which may override it): on SIGTERM it reports NOT_SERVING
 * and still serves for this long, so that the router, which watches its
 * health, stops sending before it refuses calls. */
#define SHIMCTL_REPLICA_DRAIN_DELAY_MS 300

typedef struct shimctl_replica_spec {
  const char *stack;       /* stack name, e.g. "ml" */
  const char *service;     /* service kind, e.g. "feature_store" */
  const char *set;         /* set name, e.g. "feature_store-sqlite" */
  int index;               /* replica number in the set, from 0 */
  const char *program;     /* shim program, e.g. "feature_store_shim" */
  const char *program_path;/* process: absolute path of the program */
  const char *image;       /* docker/kubernetes: image reference, e.g. "shimkit/feature_store-sqlite:dev" */
  /* shim arguments after the program name, NULL-terminated: everything but
   * --listen, which the environment adds (process: HOST:PORT or listen;
   * container: 0.0.0.0:PORT). They include --drain-grace-ms. */
  const char *const *args;
  const char *host;        /* address the replica is reached on, "127.0.0.1" */
  int port;                /* port it listens on (and is published on) */
  /* process: "unix:PATH" to listen on instead of host:port (replica_sockets:
   * unix, sockets.h), or NULL. Containers refuse it: they are reached on a
   * published port. */
  const char *listen;
  int drain_grace_ms;      /* the shim's --drain-grace-ms; stop waits this long plus a margin */
  const char *log_path;    /* file its stdout and stderr go to (appended); docker: where its output is
                            * kept when its container goes (docker_log.h) */
  const char *workdir;     /* process: its working directory (the stack file's folder), or NULL */
} shimctl_replica_spec;

typedef struct shimctl_env {
  const char *name; /* "process", "docker", "kubernetes" */
  /* Starts a replica; writes an id (pid, container name) to id. 0, or -1
   * with a reason in err. */
  int (*start)(const shimctl_replica_spec *spec, char *id, size_t id_len, char *err, size_t err_len);
  /* SIGTERM (graceful drain), then kills it after grace_ms. 0 or -1. */
  int (*stop)(const char *id, int grace_ms);
  /* 1 running, 0 gone, -1 unknown. */
  int (*alive)(const char *id);
  /* Copies its log to out; follow keeps copying until interrupted. docker:
   * only the live container's output (what earlier containers printed is in
   * the replica's log file). */
  int (*logs)(const char *id, bool follow, FILE *out);
  /* For a replica found not alive: clears up after it and writes how it
   * ended to how. docker: its output kept in its log file, the container
   * removed; how is "exit code N ...". 0, or -1 (how says "unknown"), or 1
   * when it could not be looked at (docker inspect failed) and nothing was
   * done: the caller keeps the replica and looks again later.
   * NULL when there is nothing to clear up (process: the supervisor reaps
   * its children and knows how they ended). */
  int (*ended)(const char *id, char *how, size_t how_len);
} shimctl_env;

extern const shimctl_env shimctl_env_process;
extern const shimctl_env shimctl_env_docker;

/* docker: arg with every loopback host in it -- "127.0.0.1" or "localhost"
 * after the start, ' ', '=', '@', ',' or "//" and before the end, ':', '/',
 * ' ', ',' or '?' ("127.0.0.1:6379", "host=localhost port=5432",
 * "postgresql://u@127.0.0.1:5432/db") -- replaced by "host.docker.internal"
 * (the host, from inside a container), written to buf. Returns buf, or arg
 * itself when it names no loopback host or the result does not fit in len. */
const char *shimctl_docker_host_address(const char *arg, char *buf, size_t len);

/* The environment of that name, or NULL: unknown, or not compiled into this
 * shimctl (then shimctl_env_missing() says why). */
const shimctl_env *shimctl_env_find(const char *name);

/* Why shimctl_env_find(name) returned NULL, for the operator. */
const char *shimctl_env_missing(const char *name);

#endif /* SHIMCTL_ENV_H */
