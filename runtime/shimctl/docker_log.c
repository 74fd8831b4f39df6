/*
 * docker_log.c - a docker replica's output kept in its log file before the
 * container goes (see docker_log.h): docker inspect for the container's id,
 * state and io.shimkit.log label, then, under an exclusive flock of the
 * file, a start line, `docker logs --timestamps` streamed into the file and
 * an end line with the exit status.
 */
#define _POSIX_C_SOURCE 200809L
#include "docker_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runcmd.h"

/* How far back from the end of the file a container's end line is looked for. */
#define TAIL_BYTES 8192

/* What docker inspect says about a container. */
typedef struct container_info {
  char id[16]; /* short id, 12 hex digits */
  int running;
  int exit_code;
  int oom_killed;
  int restarts; /* by docker's restart policy */
  char started[64];
  char finished[64];
  char image[256];
  char log_path[1100]; /* the io.shimkit.log label, or "": as long as env_docker.c's label_log allows, never cut */
} container_info;

/* Next '|'-separated field of *p into out; the last one takes the rest of the line. */
static void take_field(char **p, char *out, size_t len, int last) {
  size_t n = last ? strcspn(*p, "\n") : strcspn(*p, "|\n");
  snprintf(out, len, "%.*s", (int)n, *p);
  *p += n;
  if (**p == '|') (*p)++;
}

/* 0 with info filled; 1 when there is no such container; -1 with a reason in err. */
static int inspect(const char *name, container_info *info, char *err, size_t err_len) {
  const char *argv[] = {
      shimctl_runcmd_docker(),
      "inspect",
      "-f",
      "{{.Id}}|{{.State.Running}}|{{.State.ExitCode}}|{{.State.OOMKilled}}|{{.RestartCount}}|"
      "{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.Config.Image}}|"
      "{{index .Config.Labels \"" SHIMCTL_DOCKER_LOG_LABEL "\"}}",
      name,
      NULL};
  char *out = NULL;
  int rc = shimctl_runcmd_capture(argv, 1, &out, err, err_len);
  if (rc != 0) {
    int gone = rc > 0 && out && (strstr(out, "No such") || strstr(out, "no such"));
    if (rc > 0 && !gone) {
      snprintf(err, err_len, "docker inspect %s failed (exit %d): %.200s", name, rc, out ? out : "");
    }
    free(out);
    return gone ? 1 : -1;
  }
  char *p = out;
  char field[64];
  memset(info, 0, sizeof *info);
  take_field(&p, field, sizeof field, 0);
  snprintf(info->id, sizeof info->id, "%.12s", field);
  take_field(&p, field, sizeof field, 0);
  info->running = strcmp(field, "true") == 0;
  take_field(&p, field, sizeof field, 0);
  info->exit_code = atoi(field);
  take_field(&p, field, sizeof field, 0);
  info->oom_killed = strcmp(field, "true") == 0;
  take_field(&p, field, sizeof field, 0);
  info->restarts = atoi(field);
  take_field(&p, info->started, sizeof info->started, 0);
  take_field(&p, info->finished, sizeof info->finished, 0);
  take_field(&p, info->image, sizeof info->image, 0);
  take_field(&p, info->log_path, sizeof info->log_path, 1);
  if (strcmp(info->log_path, "<no value>") == 0) info->log_path[0] = '\0';
  free(out);
  if (info->id[0] == '\0') {
    snprintf(err, err_len, "docker inspect %s: no container id in its answer", name);
    return -1;
  }
  return 0;
}

static void describe_exit(const container_info *info, char *how, size_t len) {
  if (info->running) {
    snprintf(how, len, "still running when shimctl removed it");
  } else if (info->exit_code > 128 && info->exit_code < 128 + 65) {
    snprintf(how, len, "exit code %d (killed by signal %d)%s", info->exit_code, info->exit_code - 128,
             info->oom_killed ? ", out of memory" : "");
  } else {
    snprintf(how, len, "exit code %d%s", info->exit_code, info->oom_killed ? ", out of memory" : "");
  }
}

/* 1 when the end line of container id is in the last TAIL_BYTES of fd. */
static int kept_already(int fd, const char *id) {
  struct stat sb;
  if (fstat(fd, &sb) != 0 || sb.st_size == 0) return 0;
  char buf[TAIL_BYTES + 1];
  off_t from = sb.st_size > TAIL_BYTES ? sb.st_size - TAIL_BYTES : 0;
  ssize_t n = pread(fd, buf, (size_t)(sb.st_size - from), from);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char needle[64];
  snprintf(needle, sizeof needle, "(%s) ended ", id);
  /* The tail may hold NUL bytes of a shim's output: search line by line. */
  for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
    if (strstr(p, needle) != NULL) return 1;
  }
  return 0;
}

/* 1 when the file of fd is empty or ends with a newline. */
static int ends_with_newline(int fd) {
  struct stat sb;
  char c = '\n';
  if (fstat(fd, &sb) != 0 || sb.st_size == 0) return 1;
  return pread(fd, &c, 1, sb.st_size - 1) == 1 && c == '\n';
}

/* Opens path for appending, or -1 with the reason in err. */
static int open_log(const char *name, const char *path, char *err, size_t err_len) {
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, err_len, "cannot keep the output of container %s in %s: %s", name, path, strerror(errno));
  }
  return fd;
}

int shimctl_docker_keep_log(const char *name, const char *fallback, char *how, size_t how_len, char *err,
                            size_t err_len) {
  char dummy[64];
  if (how == NULL) {
    how = dummy;
    how_len = sizeof dummy;
  }
  container_info info;
  int ir = inspect(name, &info, err, err_len);
  if (ir != 0) {
    snprintf(how, how_len, "%s",
             ir > 0 ? "container removed (how it ended: the end line in the replica's log file)"
                    : "unknown (docker inspect failed)");
    return ir > 0 ? 1 : -2;
  }
  describe_exit(&info, how, how_len);
  const char *path = info.log_path[0] != '\0' ? info.log_path : fallback;
  if (path == NULL || path[0] == '\0') {
    return 0; /* started without a log file (shimctl_env_tool): nothing to keep it in */
  }
  int fd = open_log(name, path, err, err_len);
  if (fd < 0 && path != fallback && fallback != NULL && fallback[0] != '\0') {
    /* The label's folder is gone (an earlier run's state, removed by down): the replica's file now. */
    path = fallback;
    fd = open_log(name, path, err, err_len);
  }
  if (fd < 0) return -1;
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  if (kept_already(fd, info.id)) {
    close(fd);
    return 0;
  }
  int rc = 0;
  /* CLOEXEC: a child another thread spawns meanwhile (the router the
   * supervisor restarts) must not inherit it and hold the flock for life. */
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  FILE *f = dup_fd >= 0 ? fdopen(dup_fd, "a") : NULL;
  if (f == NULL) {
    if (dup_fd >= 0) close(dup_fd);
    snprintf(err, err_len, "cannot keep the output of container %s in %s: %s", name, path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!ends_with_newline(fd)) fputc('\n', f);
  fprintf(f, SHIMCTL_DOCKER_LOG_MARK "%s (%s) started %s, image %s\n", name, info.id, info.started,
          info.image);
  fflush(f);
  const char *argv[] = {shimctl_runcmd_docker(), "logs", "--timestamps", name, NULL};
  char lerr[256] = "";
  int lr = shimctl_runcmd_stream(argv, f, lerr, sizeof lerr);
  fflush(f);
  if (!ends_with_newline(fd)) fputc('\n', f);
  fprintf(f, SHIMCTL_DOCKER_LOG_MARK "%s (%s) ended %s: %s", name, info.id,
          info.running ? "-" : info.finished, how);
  if (info.restarts > 0) {
    fprintf(f, "; docker's restart policy restarted it %d time%s (all its runs are above)", info.restarts,
            info.restarts == 1 ? "" : "s");
  }
  if (lr != 0) {
    if (lr > 0) snprintf(lerr, sizeof lerr, "exit status %d", lr);
    fprintf(f, "; its output could not be read in full (docker logs: %s)", lerr);
    snprintf(err, err_len, "docker logs %s failed (exit %d): its output in %s is incomplete", name, lr, path);
    rc = -1;
  }
  fputc('\n', f);
  if (fclose(f) != 0 && rc == 0) {
    snprintf(err, err_len, "cannot write the output of container %s to %s: %s", name, path, strerror(errno));
    rc = -1;
  }
  close(fd); /* releases the lock */
  return rc;
}
