/*
 * env_docker.c - replicas as Docker containers (the "docker" environment
 * of env.h), driven through the docker CLI from argv arrays.
 *
 *   start  docker run -d --restart unless-stopped --name shimkit-<stack>-<set>-<i>
 *                 --label io.shimkit.log=<log file> -p 127.0.0.1:P:P [-v <name>-data:/data]
 *                 <image> --listen 0.0.0.0:P <args>
 *   stop   docker stop -t <grace + 2 s>, its output kept, docker rm (the data volume stays)
 *   alive  docker inspect -f '{{.State.Running}} {{.State.Restarting}}'
 *   logs   docker logs --timestamps [-f]: the live container only
 *   ended  (a dead replica) its output kept, docker rm -f; nothing when
 *          docker inspect fails (1: unknown, look again later)
 *
 * Logs: before shimctl removes a container -- stop, ended, or start
 * replacing a leftover of the same name -- its output (docker logs
 * --timestamps, every run docker's restart policy made) is appended to the
 * replica's log file, <state>/logs/<set>-<i>.log as in the process
 * environment, between a start and an end line (docker_log.h). The file is
 * named in the container's io.shimkit.log label, so stop, which gets only
 * the container name, finds it.
 *
 * The container name is the replica's id, so a restarted shimctl finds its
 * replicas again by name. The shim is PID 1 in its container; it installs
 * SIGTERM and SIGINT handlers (runtime/src/signals.c), so docker stop's
 * SIGTERM starts its graceful drain as it does for a process.
 *
 * Stateful back ends: the sqlite and fs back ends keep their files under
 * /data, a named volume per replica (labelled io.shimkit.stack) that
 * outlives the container; Redis and PostgreSQL run outside, reached as
 * host.docker.internal (--add-host host-gateway): see docs/environments.md.
 * An absolute path among the shim's arguments (--data-dir /srv/mr, --db
 * /srv/fs.db) means the host's: its folder (the path itself when it is a
 * folder, else its parent, created if missing) is bind-mounted at the same
 * path, so one stack file runs unchanged in the process and docker
 * environments. System folders (/, /etc, /usr, /proc...) are never mounted.
 * Inside a container 127.0.0.1 is the container itself, where nothing but
 * the shim runs, so 127.0.0.1 and localhost in the shim's arguments
 * ("127.0.0.1:PORT", libpq's "host=localhost" and
 * "postgresql://user@127.0.0.1:PORT/db") are rewritten to
 * host.docker.internal: the host's server must then listen on an address the
 * bridge reaches.
 *
 * SHIMCTL_DOCKER names another CLI with the same commands (podman).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "docker_log.h"
#include "env.h"
#include "runcmd.h"

/* Seconds docker waits after SIGTERM beyond the shim's own drain grace. */
#define STOP_MARGIN_MS 2000
#define MAX_ARGS 160

static const char *docker_cli(void) { return shimctl_runcmd_docker(); }

/* Services whose back ends keep files (sqlite, fs) under /data. */
static int stateful(const char *service) {
  return service && (strcmp(service, "feature_store") == 0 || strcmp(service, "model_repository") == 0);
}

/* Keeps the output of container id in its log file (fallback: when its label
 * names none that can be opened); a failure is said on stderr (the
 * supervisor's log, or shimctl's terminal) but does not keep the container.
 * shimctl_docker_keep_log's result: 1 when there is no such container. */
static int keep_log(const char *id, const char *fallback, char *how, size_t how_len) {
  char err[1300];
  int rc = shimctl_docker_keep_log(id, fallback, how, how_len, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "shimctl: %s\n", err);
  }
  return rc;
}

/* First line of text, at most 300 bytes, for an error message. */
static void first_line(const char *text, char *out, size_t len) {
  size_t n = text ? strcspn(text, "\n") : 0;
  if (n > 300) n = 300;
  snprintf(out, len, "%.*s", (int)n, text ? text : "");
}

static int has_arg(const char *const *args, const char *name) {
  size_t n = strlen(name);
  for (; args && *args; args++)
    if (strncmp(*args, name, n) == 0 && ((*args)[n] == '\0' || (*args)[n] == '=')) return 1;
  return 0;
}

/* A host starts an argument, a word, a value, a list item, or follows a URI's "//" or "user@". */
static int host_before(const char *arg, const char *at) {
  return at == arg || strchr(" =@,", at[-1]) != NULL || (at - arg >= 2 && at[-1] == '/' && at[-2] == '/');
}

/* ... and ends it, or goes on with a port, a path, a URI's query or the next item. */
static int host_after(char c) {
  return c == '\0' || strchr(":/ ,?", c) != NULL;
}

const char *shimctl_docker_host_address(const char *arg, char *buf, size_t len) {
  static const char *const loopback[] = {"127.0.0.1", "localhost"};
  static const char to[] = "host.docker.internal";
  size_t out = 0;
  int changed = 0;
  const char *p = arg;
  while (*p) {
    size_t n = 0;
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0] && n == 0; i++) {
      size_t k = strlen(loopback[i]);
      if (strncmp(p, loopback[i], k) == 0 && host_before(arg, p) && host_after(p[k])) n = k;
    }
    const char *piece = n ? to : p;
    size_t piece_len = n ? sizeof to - 1 : 1;
    if (out + piece_len >= len) return arg;
    memcpy(buf + out, piece, piece_len);
    out += piece_len;
    p += n ? n : 1;
    changed |= n != 0;
  }
  if (!changed || len == 0) return arg;
  buf[out] = '\0';
  return buf;
}

/* The host folder to bind-mount for an absolute path argument into dir, or 0. */
static int host_folder(const char *arg, char *dir, size_t len) {
  static const char *const system[] = {"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root",
                                       "/run", "/sbin", "/sys", "/usr", "/var", "/data"};
  if (arg[0] != '/' || strlen(arg) >= len || strstr(arg, "..") || strchr(arg, ':') || strchr(arg, ',')) return 0;
  struct stat st;
  snprintf(dir, len, "%s", arg);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
  }
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
  for (size_t i = 0; i < sizeof system / sizeof system[0]; i++)
    if (strcmp(dir, system[i]) == 0) return 0;
  /* Created here as on the host it would be by the shim run as a process. */
  char p[1024];
  snprintf(p, sizeof p, "%s", dir);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    mkdir(p, 0755);
    *c = '/';
  }
  mkdir(p, 0755);
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int docker_start(const shimctl_replica_spec *spec, char *id, size_t id_len, char *err, size_t err_len) {
  if (spec->listen != NULL) {
    snprintf(err, err_len, "set %s: a container is reached on a published port, not on %s (replica_sockets: unix "
             "is for the process environment)", spec->set, spec->listen);
    return -1;
  }
  if (!spec->image || !*spec->image) {
    snprintf(err, err_len, "set %s: no image (shimctl build makes shimkit/<service>-<impl>:<tag>)", spec->set);
    return -1;
  }
  char name[256], publish[128], listen[64], grace[32], volume[300], mount[320];
  char label_stack[300], label_set[300], label_index[64], label_log[1100];
  if (snprintf(name, sizeof name, "shimkit-%s-%s-%d", spec->stack, spec->set, spec->index) >= (int)sizeof name) {
    snprintf(err, err_len, "container name too long for set %s", spec->set);
    return -1;
  }
  snprintf(publish, sizeof publish, "%s:%d:%d", spec->host && *spec->host ? spec->host : "127.0.0.1", spec->port,
           spec->port);
  snprintf(listen, sizeof listen, "0.0.0.0:%d", spec->port);
  snprintf(grace, sizeof grace, "%d", spec->drain_grace_ms);
  snprintf(volume, sizeof volume, "%s-data", name);
  snprintf(mount, sizeof mount, "%s:/data", volume);
  snprintf(label_stack, sizeof label_stack, "io.shimkit.stack=%s", spec->stack);
  snprintf(label_set, sizeof label_set, "io.shimkit.set=%s", spec->set);
  snprintf(label_index, sizeof label_index, "io.shimkit.replica=%d", spec->index);
  const char *log_path = spec->log_path != NULL ? spec->log_path : "";
  if (snprintf(label_log, sizeof label_log, SHIMCTL_DOCKER_LOG_LABEL "=%s", log_path) >= (int)sizeof label_log) {
    snprintf(err, err_len, "set %s: log file path too long: %s", spec->set, log_path);
    return -1;
  }
  const char *cli = docker_cli();

  /* A container left by an earlier run under this name would make docker run
   * fail ("name already in use"): this replica replaces it, after keeping
   * what it printed. */
  keep_log(name, spec->log_path, NULL, 0);
  const char *rm[] = {cli, "rm", "-f", name, NULL};
  shimctl_runcmd_quiet(rm);
  if (stateful(spec->service)) {
    const char *vc[] = {cli, "volume", "create", "--label", label_stack, volume, NULL};
    shimctl_runcmd_quiet(vc); /* docker run creates it (unlabelled) if this failed */
  }

  const char *argv[MAX_ARGS];
  int n = 0;
  const char *fixed[] = {cli,           "run",       "-d",          "--restart",
                         "unless-stopped", "--name", name,          "--label",
                         label_stack,   "--label",   label_set,     "--label",
                         label_index,   "--label",   label_log,
                         "--add-host", "host.docker.internal:host-gateway",
                         "-p",          publish};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) argv[n++] = fixed[i];
  if (stateful(spec->service)) {
    argv[n++] = "-v";
    argv[n++] = mount;
  }
  char binds[8][1100]; /* host folders named by the arguments, mounted at the same path */
  int n_binds = 0;
  for (const char *const *a = spec->args; a && *a && n_binds < 8; a++) {
    char dir[512];
    if (!host_folder(*a, dir, sizeof dir)) continue;
    snprintf(binds[n_binds], sizeof binds[n_binds], "%s:%s", dir, dir);
    int dup = 0;
    for (int b = 0; b < n_binds; b++) dup |= strcmp(binds[b], binds[n_binds]) == 0;
    if (dup) continue;
    argv[n++] = "-v";
    argv[n++] = binds[n_binds++];
  }
  argv[n++] = spec->image;
  argv[n++] = "--listen";
  argv[n++] = listen;
  if (spec->drain_grace_ms > 0 && !has_arg(spec->args, "--drain-grace-ms")) {
    argv[n++] = "--drain-grace-ms";
    argv[n++] = grace;
  }
  char rewritten[MAX_ARGS][256]; /* 40 KB of stack, no shared state between starts */
  for (const char *const *a = spec->args; a && *a; a++) {
    if (n >= MAX_ARGS - 1) {
      snprintf(err, err_len, "set %s: too many shim arguments", spec->set);
      return -1;
    }
    argv[n] = shimctl_docker_host_address(*a, rewritten[n], sizeof rewritten[n]);
    n++;
  }
  argv[n] = NULL;

  char *out = NULL;
  int rc = shimctl_runcmd_capture(argv, 1, &out, err, err_len);
  if (rc != 0) {
    if (rc > 0) {
      char line[320];
      first_line(out, line, sizeof line);
      snprintf(err, err_len, "docker run %s failed (exit %d): %s", name, rc, line);
    }
    free(out);
    return -1;
  }
  free(out);
  snprintf(id, id_len, "%s", name);
  return 0;
}

static int docker_stop(const char *id, int grace_ms) {
  char secs[32];
  int ms = (grace_ms > 0 ? grace_ms : 0) + STOP_MARGIN_MS;
  snprintf(secs, sizeof secs, "%d", (ms + 999) / 1000);
  const char *cli = docker_cli();
  const char *stop[] = {cli, "stop", "-t", secs, id, NULL};
  char *out = NULL, err[256];
  int rc = shimctl_runcmd_capture(stop, 1, &out, err, sizeof err);
  int gone = out && strstr(out, "No such container") != NULL;
  free(out);
  if (rc != 0 && !gone) return -1;
  if (gone) return 0;
  keep_log(id, NULL, NULL, 0);
  const char *rm[] = {cli, "rm", id, NULL};
  return shimctl_runcmd_quiet(rm) == 0 ? 0 : -1;
}

static int docker_ended(const char *id, char *how, size_t how_len) {
  int kept = keep_log(id, NULL, how, how_len);
  if (kept == 1) return 0; /* removed already (by stop) */
  /* docker inspect failed: whether it runs is unknown, so it is not removed (rm -f would kill a
   * running one); the caller looks again later. */
  if (kept == -2) return 1;
  const char *rm[] = {docker_cli(), "rm", "-f", id, NULL};
  return shimctl_runcmd_quiet(rm) == 0 ? 0 : -1;
}

static int docker_alive(const char *id) {
  const char *argv[] = {docker_cli(), "inspect", "-f", "{{.State.Running}} {{.State.Restarting}}", id, NULL};
  char *out = NULL, err[256];
  int rc = shimctl_runcmd_capture(argv, 1, &out, err, sizeof err);
  int result = -1;
  if (rc == 0 && out) {
    /* Restarting: the restart policy is bringing it back, docker is in charge. */
    result = strncmp(out, "true", 4) == 0 || strstr(out, " true") ? 1 : 0;
  } else if (rc > 0 && out && (strstr(out, "No such") || strstr(out, "no such"))) {
    result = 0;
  }
  free(out);
  return result;
}

static int docker_logs(const char *id, bool follow, FILE *out) {
  const char *cli = docker_cli();
  const char *plain[] = {cli, "logs", "--timestamps", id, NULL};
  const char *tail[] = {cli, "logs", "--timestamps", "-f", id, NULL};
  char err[256];
  int rc = shimctl_runcmd_stream(follow ? tail : plain, out, err, sizeof err);
  return rc == 0 ? 0 : -1;
}

const shimctl_env shimctl_env_docker = {
    .name = "docker",
    .start = docker_start,
    .stop = docker_stop,
    .alive = docker_alive,
    .logs = docker_logs,
    .ended = docker_ended,
};
