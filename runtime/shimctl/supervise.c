/*
 * supervise.c - the supervisor (see supervise.h).
 *
 * One loop, every 200 ms or at once after a signal: reap children, then
 * lock + read the state, compare what should run with what runs, start or
 * stop, write the state back if anything changed. Stops run on threads of
 * their own (a drain takes seconds) so the loop keeps restarting others
 * meanwhile; so does an environment's ended step (docker: docker inspect,
 * the whole docker logs copied into the log file, docker rm), which could
 * otherwise stall every other replica behind one long log. A replica whose
 * environment cannot tell whether it runs (alive -1: docker CLI or daemon
 * failing for a moment) is left as it is until it can. The supervisor never
 * uses gRPC: it only forks, signals and waits, so forking its children is
 * safe.
 */
#define _XOPEN_SOURCE 700
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "image.h"
#include "sockets.h"
#include "state.h"

#define SUP_MAX_TRACK (SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 1)
#define SUP_BACKOFF_MIN_MS 100
#define SUP_BACKOFF_MAX_MS 5000
#define SUP_HEALTHY_RUN_MS 10000
#define SUP_ROUTER_DRAIN_MS 1000

static volatile sig_atomic_t g_hup;
static volatile sig_atomic_t g_term;

static void on_signal(int sig) {
  if (sig == SIGHUP) {
    g_hup = 1;
  } else {
    g_term = 1;
  }
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  char when[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s supervisor: ", when);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
  va_end(ap);
}

/* ---------------------------------------------------------------- memory of the loop */

typedef struct track {
  char key[SHIMCTL_STR + 16]; /* "set/index" or "router" */
  int64_t next_start_ms;      /* monotonic: not before */
  int delay_ms;               /* next backoff */
  int64_t started_mono_ms;
  bool unknown_said;          /* alive -1 logged for this streak */
} track;

static track g_track[SUP_MAX_TRACK];
static int g_n_track;

static track *track_get(const char *key) {
  for (int i = 0; i < g_n_track; i++) {
    if (strcmp(g_track[i].key, key) == 0) {
      return &g_track[i];
    }
  }
  if (g_n_track == SUP_MAX_TRACK) {
    return NULL;
  }
  track *t = &g_track[g_n_track++];
  memset(t, 0, sizeof *t);
  snprintf(t->key, sizeof t->key, "%s", key);
  t->delay_ms = SUP_BACKOFF_MIN_MS;
  return t;
}

/* Exit statuses reaped but not yet seen by the loop. */
typedef struct reaped {
  pid_t pid;
  char how[64];
} reaped;
static reaped g_reaped[64];
static int g_n_reaped;

static void record_exit(pid_t pid, int status) {
  reaped *r = &g_reaped[g_n_reaped % 64];
  g_n_reaped++;
  r->pid = pid;
  if (WIFEXITED(status)) {
    snprintf(r->how, sizeof r->how, "exit status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    snprintf(r->how, sizeof r->how, "killed by signal %d", WTERMSIG(status));
  } else {
    snprintf(r->how, sizeof r->how, "ended");
  }
}

/* Reaps the loop's own children (the replicas and the router, all started
 * by this thread). __WNOTHREAD (Linux) leaves alone the children of the stop
 * threads -- the docker CLI runs of env_docker's stop, which wait for them
 * by pid: reaped here first, their exit status was lost ("waitpid docker: No
 * child processes") and the stop, or the keeping of the container's log,
 * failed. */
static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG | __WNOTHREAD)) > 0) {
    record_exit(pid, status);
  }
}

static const char *reaped_how(pid_t pid) {
  int n = g_n_reaped < 64 ? g_n_reaped : 64;
  for (int k = 0; k < n; k++) { /* newest first: a pid may have been used before */
    const reaped *r = &g_reaped[(g_n_reaped - 1 - k) % 64];
    if (r->pid == pid) {
      return r->how;
    }
  }
  return NULL;
}

/* How the process of id ended: reaped already, or a child of ours that
 * died since the last reap (reaped now), or, with no status to tell (not
 * our child: a replica adopted from an earlier supervisor), just that it
 * ended. A killed multi-threaded
 * child shows as a zombie while its other threads still exit, and cannot
 * be waited for yet: that takes a few milliseconds, so wait (bounded). */
static const char *how_ended(const char *id) {
  if (strchr(id, '@') == NULL) {
    return "ended"; /* not a process id ("pid@start"): a container, whose engine knows more */
  }
  pid_t pid = (pid_t)atoi(id);
  const char *how = reaped_how(pid);
  for (int waited = 0; how == NULL && pid > 0 && waited <= 2000; waited += 5) {
    int status;
    /* __WNOTHREAD: never a stop thread's docker CLI run that took a dead adopted replica's pid */
    pid_t got = waitpid(pid, &status, WNOHANG | __WNOTHREAD);
    if (got == pid) {
      record_exit(pid, status);
      how = reaped_how(pid);
    } else if (got < 0 && errno != EINTR) {
      break; /* not our child */
    } else {
      shimctl_sleep_ms(5);
    }
  }
  return how != NULL ? how : "ended (exit status unknown: started by an earlier supervisor)";
}

/* ---------------------------------------------------------------- stops on threads */

typedef struct stopping {
  char id[SHIMCTL_STR];
  const shimctl_env *env;
  int grace_ms;
} stopping;

static pthread_mutex_t g_stop_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_stopping[SUP_MAX_TRACK][SHIMCTL_STR];
static atomic_int g_stop_threads;

static bool is_stopping(const char *id) {
  bool found = false;
  pthread_mutex_lock(&g_stop_lock);
  for (int i = 0; i < SUP_MAX_TRACK && !found; i++) {
    found = strcmp(g_stopping[i], id) == 0;
  }
  pthread_mutex_unlock(&g_stop_lock);
  return found;
}

static void set_stopping(const char *id, bool on) {
  pthread_mutex_lock(&g_stop_lock);
  for (int i = 0; i < SUP_MAX_TRACK; i++) {
    if (on ? g_stopping[i][0] == '\0' : strcmp(g_stopping[i], id) == 0) {
      snprintf(g_stopping[i], SHIMCTL_STR, "%s", on ? id : "");
      break;
    }
  }
  pthread_mutex_unlock(&g_stop_lock);
}

static void *stop_main(void *arg) {
  stopping *s = arg;
  if (s->env->stop(s->id, s->grace_ms) != 0) {
    logf_("could not stop %s", s->id);
  }
  set_stopping(s->id, false);
  free(s);
  atomic_fetch_sub(&g_stop_threads, 1);
  return NULL;
}

/* Starts stopping id on a thread, unless that is under way. */
static void stop_async(const shimctl_env *env, const char *id, int grace_ms) {
  if (id[0] == '\0' || is_stopping(id)) {
    return;
  }
  stopping *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return;
  }
  snprintf(s->id, sizeof s->id, "%s", id);
  s->env = env;
  s->grace_ms = grace_ms;
  set_stopping(id, true);
  atomic_fetch_add(&g_stop_threads, 1);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, stop_main, s) != 0) {
    atomic_fetch_sub(&g_stop_threads, 1);
    set_stopping(id, false);
    free(s);
    env->stop(id, grace_ms);
  }
  pthread_attr_destroy(&attr);
}

/* ---------------------------------------------------------------- ended steps on threads */

/* An environment's ended step for a replica found dead, run on a thread.
 * The replica keeps its id in the state meanwhile, and its slot is not
 * started again until the step is done and its result taken: env_docker
 * names a container after its replica (shimkit-<stack>-<set>-<i>), so the
 * replacement has the SAME name, and an ended step still running while it
 * starts would race docker_start's own keep-log + rm -f of that name, and
 * its docker rm -f could remove the replacement. Only the dead replica's
 * own slot waits; the loop goes on checking and restarting the others. */
typedef struct ending {
  char id[SHIMCTL_STR];
  bool done;
  int rc;
  char how[SHIMCTL_STR];
  const shimctl_env *env;
} ending;

static ending g_ending[SUP_MAX_TRACK]; /* under g_stop_lock; id "" is a free slot */

static ending *ending_find(const char *id) {
  for (int i = 0; i < SUP_MAX_TRACK; i++) {
    if (g_ending[i].id[0] != '\0' && strcmp(g_ending[i].id, id) == 0) {
      return &g_ending[i];
    }
  }
  return NULL;
}

/* Forgets any ended step result for id (a new replica of that id starts). */
static void ending_forget(const char *id) {
  pthread_mutex_lock(&g_stop_lock);
  ending *e = ending_find(id);
  if (e != NULL && e->done) {
    memset(e, 0, sizeof *e);
  }
  pthread_mutex_unlock(&g_stop_lock);
}

static void *ended_main(void *arg) {
  ending *e = arg; /* a slot of g_ending: its id stays until the loop takes the result */
  char id[SHIMCTL_STR], how[SHIMCTL_STR] = "";
  pthread_mutex_lock(&g_stop_lock);
  snprintf(id, sizeof id, "%s", e->id);
  const shimctl_env *env = e->env;
  pthread_mutex_unlock(&g_stop_lock);
  int rc = env->ended(id, how, sizeof how);
  pthread_mutex_lock(&g_stop_lock);
  snprintf(e->how, sizeof e->how, "%s", how);
  e->rc = rc;
  e->done = true;
  pthread_mutex_unlock(&g_stop_lock);
  atomic_fetch_sub(&g_stop_threads, 1);
  return NULL;
}

/* The ended step of dead replica id: started on a thread at the first call;
 * false while it runs; true once done, with how it ended in how and the
 * step's result in *rc (the result is then forgotten). */
static bool ended_async(const shimctl_env *env, const char *id, char *how, size_t how_len, int *rc) {
  pthread_mutex_lock(&g_stop_lock);
  ending *e = ending_find(id);
  if (e != NULL) {
    bool done = e->done;
    if (done) {
      snprintf(how, how_len, "%s", e->how);
      *rc = e->rc;
      memset(e, 0, sizeof *e);
    }
    pthread_mutex_unlock(&g_stop_lock);
    return done;
  }
  e = NULL;
  for (int i = 0; e == NULL && i < SUP_MAX_TRACK; i++) {
    e = g_ending[i].id[0] == '\0' ? &g_ending[i] : NULL;
  }
  if (e != NULL) {
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->env = env;
    atomic_fetch_add(&g_stop_threads, 1);
  }
  pthread_mutex_unlock(&g_stop_lock);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  bool threaded = e != NULL && pthread_create(&t, &attr, ended_main, e) == 0;
  pthread_attr_destroy(&attr);
  if (threaded) {
    return false;
  }
  if (e != NULL) { /* no thread: run it here, as before */
    pthread_mutex_lock(&g_stop_lock);
    memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&g_stop_lock);
    atomic_fetch_sub(&g_stop_threads, 1);
  }
  *rc = env->ended(id, how, how_len);
  return true;
}

/* ---------------------------------------------------------------- one pass */

typedef struct pass_ctx {
  const char *dir;
  const shimctl_env *env;
  const shimctl_env *router_env; /* the process environment (a test's fake) */
  bool shutting_down;
} pass_ctx;

/* Whether a restart of key may happen now; on true the backoff grows. */
static bool backoff_ok(track *t) {
  int64_t now = shimctl_mono_ms();
  if (t == NULL) {
    return true;
  }
  if (now < t->next_start_ms) {
    return false;
  }
  if (t->started_mono_ms != 0 && now - t->started_mono_ms > SUP_HEALTHY_RUN_MS) {
    t->delay_ms = SUP_BACKOFF_MIN_MS; /* it ran long enough: start afresh */
  }
  t->next_start_ms = now + t->delay_ms;
  t->delay_ms = t->delay_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : t->delay_ms * 2;
  t->started_mono_ms = now;
  return true;
}

static bool start_router(pass_ctx *pc, shimctl_state *st) {
  char state_file[SHIMCTL_PATH + 32], log_path[SHIMCTL_PATH + 32], drain[16];
  snprintf(state_file, sizeof state_file, "%s/router.state", pc->dir);
  snprintf(log_path, sizeof log_path, "%s/logs/router.log", pc->dir);
  snprintf(drain, sizeof drain, "%d", SUP_ROUTER_DRAIN_MS);
  const char *args[12];
  int n = 0;
  args[n++] = "--state";
  args[n++] = state_file;
  args[n++] = "--drain-grace-ms";
  args[n++] = drain;
  args[n++] = "--no-access-log";
  if (st->router_metrics[0] != '\0') {
    args[n++] = "--metrics-listen";
    args[n++] = st->router_metrics;
  }
  args[n] = NULL;
  char host[SHIMCTL_STR];
  snprintf(host, sizeof host, "%s", st->router_listen);
  char *colon = strrchr(host, ':');
  int port = colon != NULL ? atoi(colon + 1) : 0;
  if (colon != NULL) {
    *colon = '\0';
  }
  shimctl_replica_spec spec = {0};
  spec.stack = st->stack;
  spec.service = "router";
  spec.set = "router";
  spec.program = "shimkit_router";
  spec.program_path = st->router_program;
  spec.args = args;
  spec.host = host;
  spec.port = port;
  spec.drain_grace_ms = SUP_ROUTER_DRAIN_MS;
  spec.log_path = log_path;
  spec.workdir = st->base_dir;
  char err[256];
  if (pc->router_env->start(&spec, st->router_id, sizeof st->router_id, err, sizeof err) != 0) {
    logf_("cannot start the router: %s", err);
    st->router_id[0] = '\0';
    return false;
  }
  logf_("router started on %s (%s)", st->router_listen, st->router_id);
  return true;
}

static bool start_replica(pass_ctx *pc, shimctl_state *st, shimctl_set *set, shimctl_replica *rep) {
  char log_path[SHIMCTL_PATH + SHIMCTL_STR], drain[16], delay[16], addr[SHIMCTL_ADDR], err[256];
  shimctl_replica_addr(rep, addr, sizeof addr);
  if (shimctl_socket_prepare(addr, err, sizeof err) != 0) { /* a killed replica's socket file, if any */
    logf_("cannot start %s/%d: %s", set->name, rep->index, err);
    return false;
  }
  snprintf(log_path, sizeof log_path, "%s/logs/%s-%d.log", pc->dir, set->name, rep->index);
  snprintf(drain, sizeof drain, "%d", set->drain_grace_ms);
  snprintf(delay, sizeof delay, "%d", SHIMCTL_REPLICA_DRAIN_DELAY_MS);
  const char *args[SHIMCTL_MAX_ARGS + 6];
  int n = 0;
  args[n++] = "--drain-delay-ms";
  args[n++] = delay;
  for (int i = 0; i < set->n_args; i++) {
    args[n++] = set->args[i];
  }
  args[n++] = "--drain-grace-ms";
  args[n++] = drain;
  args[n] = NULL;
  const char *slash = strrchr(set->program, '/');
  shimctl_replica_spec spec = {0};
  spec.stack = st->stack;
  spec.service = set->kind;
  spec.set = set->name;
  spec.index = rep->index;
  spec.program = slash != NULL ? slash + 1 : set->program;
  spec.program_path = set->program;
  spec.args = args;
  spec.host = "127.0.0.1";
  spec.port = rep->port;
  spec.listen = shimctl_replica_is_unix(rep) ? rep->addr : NULL;
  spec.drain_grace_ms = set->drain_grace_ms;
  spec.log_path = log_path;
  spec.workdir = st->base_dir;
  /* Container environments run the implementation's image (shimctl build). */
  char image[512];
  if (shimctl_image_ref(set->kind, set->impl, shimctl_image_tag(), image, sizeof image) == 0) {
    spec.image = image;
  }
  if (pc->env->start(&spec, rep->id, sizeof rep->id, err, sizeof err) != 0) {
    logf_("cannot start %s/%d: %s", set->name, rep->index, err);
    rep->id[0] = '\0';
    return false;
  }
  ending_forget(rep->id); /* same name as an earlier container of this replica (docker) */
  rep->started_ms = shimctl_now_ms();
  logf_("%s/%d started on %s (%s)", set->name, rep->index, addr, rep->id);
  return true;
}

static int pass(shimctl_state *st, void *arg) {
  pass_ctx *pc = arg;
  bool changed = false;
  if (st->stack[0] == '\0') {
    return 0; /* no state (yet, or any more) */
  }
  /* The router. */
  if (st->router_id[0] != '\0' && pc->router_env->alive(st->router_id) != 1 && !is_stopping(st->router_id)) {
    logf_("router (%s) %s", st->router_id, how_ended(st->router_id));
    st->router_id[0] = '\0';
    st->router_restarts++;
    changed = true;
  }
  if (pc->shutting_down) {
    stop_async(pc->router_env, st->router_id, SUP_ROUTER_DRAIN_MS);
  } else if (st->router_id[0] == '\0' && backoff_ok(track_get("router"))) {
    start_router(pc, st);
    changed = true;
  }
  /* The replicas. */
  for (int s = 0; s < st->n_sets; s++) {
    shimctl_set *set = &st->sets[s];
    for (int r = 0; r < set->n_rep; r++) {
      shimctl_replica *rep = &set->rep[r];
      bool wanted = !pc->shutting_down && !set->retiring && rep->index < set->replicas;
      char key[SHIMCTL_STR + 16];
      snprintf(key, sizeof key, "%s/%d", set->name, rep->index);
      int state = rep->id[0] != '\0' ? pc->env->alive(rep->id) : 0;
      bool alive = state == 1;
      if (state < 0 && !is_stopping(rep->id)) {
        /* Unknown (docker inspect failed: the CLI or the daemon, for a
         * moment): neither dead nor running. Nothing is done to it -- no
         * ended step, which would remove a container that may well run, no
         * replacement, no stop -- until a pass can tell. */
        track *t = track_get(key);
        if (t == NULL || !t->unknown_said) {
          logf_("%s/%d (%s): cannot tell whether it runs; left as it is until that can be told", set->name,
                rep->index, rep->id);
        }
        if (t != NULL) {
          t->unknown_said = true;
        }
        continue;
      }
      if (rep->id[0] != '\0') {
        track *t = track_get(key);
        if (t != NULL && t->unknown_said) {
          t->unknown_said = false;
          logf_("%s/%d (%s): %s again", set->name, rep->index, rep->id, alive ? "seen running" : "seen ended");
        }
      }
      if (alive && pc->env->ended != NULL) {
        /* Seen running again (docker start, or the daemon restarting it) after an ended step
         * was started for it: that step's result is of the earlier death, not of the next. */
        ending_forget(rep->id);
      }
      if (rep->id[0] != '\0' && !alive && !is_stopping(rep->id)) {
        if (pc->env->ended != NULL) {
          /* docker: its output kept in its log file, the container removed,
           * on a thread (ended_async); this slot waits for it. */
          char how[SHIMCTL_STR];
          int erc = 0;
          if (!ended_async(pc->env, rep->id, how, sizeof how, &erc)) {
            continue; /* under way */
          }
          if (erc > 0) {
            /* It could not be inspected after all: nothing was removed; the next pass looks again. */
            logf_("%s/%d (%s): %s; looked at again", set->name, rep->index, rep->id, how);
            continue;
          }
          snprintf(rep->last_exit, sizeof rep->last_exit, "%s", how);
        } else {
          snprintf(rep->last_exit, sizeof rep->last_exit, "%s", how_ended(rep->id));
        }
        if (wanted) {
          logf_("%s/%d (%s) %s; starting it again", set->name, rep->index, rep->id, rep->last_exit);
          rep->restarts++;
        } else {
          logf_("%s/%d (%s) stopped: %s", set->name, rep->index, rep->id, rep->last_exit);
        }
        rep->id[0] = '\0';
        changed = true;
      }
      if (wanted && rep->id[0] == '\0') {
        if (backoff_ok(track_get(key))) {
          start_replica(pc, st, set, rep);
          changed = true;
        }
      } else if (!wanted && alive) {
        stop_async(pc->env, rep->id, set->drain_grace_ms);
      } else if (!wanted && rep->id[0] == '\0' && !pc->shutting_down) {
        /* Stopped and not wanted: forget it (and a socket file a kill left behind). */
        shimctl_socket_remove(rep->addr);
        memmove(rep, rep + 1, (size_t)(set->n_rep - r - 1) * sizeof *rep);
        set->n_rep--;
        r--;
        changed = true;
      }
    }
    if (set->retiring && set->n_rep == 0) {
      logf_("set %s removed", set->name);
      memmove(set, set + 1, (size_t)(st->n_sets - s - 1) * sizeof *set);
      st->n_sets--;
      s--;
      changed = true;
    }
  }
  return changed ? 1 : 0;
}

int shimctl_supervise_pass(shimctl_state *st, const char *dir, const shimctl_env *env, const shimctl_env *router_env) {
  pass_ctx pc = {dir, env, router_env, false};
  return pass(st, &pc);
}

/* ---------------------------------------------------------------- pid file */

static int pid_file_lock(const char *dir, bool exclusive_nb, int *fd_out) {
  char path[SHIMCTL_PATH + 32];
  snprintf(path, sizeof path, "%s/supervisor.pid", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return -1;
  }
  int rc = flock(fd, (exclusive_nb ? LOCK_EX : LOCK_SH) | LOCK_NB);
  /* A supervisor taking the lock can meet a probe (shimctl_supervisor_pid,
   * which shimctl up runs every 20 ms while it waits for this very
   * supervisor) holding it shared for a moment: try again for up to half a
   * second before concluding that another supervisor holds it. */
  for (int tries = 0; rc != 0 && exclusive_nb && errno == EWOULDBLOCK && tries < 100; tries++) {
    shimctl_sleep_ms(5);
    rc = flock(fd, LOCK_EX | LOCK_NB);
  }
  if (rc != 0) {
    *fd_out = fd;
    return 1; /* somebody holds it */
  }
  *fd_out = fd;
  return 0;
}

pid_t shimctl_supervisor_pid(const char *dir) {
  int fd = -1;
  int rc = pid_file_lock(dir, false, &fd);
  pid_t pid = 0;
  if (rc == 1) {
    char buf[32] = {0};
    if (pread(fd, buf, sizeof buf - 1, 0) > 0) {
      pid = (pid_t)atoi(buf);
    }
    if (pid <= 0) {
      pid = -1; /* held, but the pid is not written yet */
    }
  }
  if (fd >= 0) {
    close(fd);
  }
  return pid;
}

int shimctl_supervisor_signal(const char *dir, int sig) {
  pid_t pid = shimctl_supervisor_pid(dir);
  if (pid <= 0) {
    return -1;
  }
  return kill(pid, sig);
}

/* Copies the last lines of the supervisor's log to stderr (at most 2 KiB),
 * so an error says why without the operator opening the file. */
static void print_log_tail(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return;
  }
  char buf[2048];
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
  size_t n = fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, sizeof buf - 1, f) : 0;
  fclose(f);
  buf[n] = '\0';
  if (n > 0) {
    fprintf(stderr, "shimctl: the end of %s:\n%s%s", path, buf, buf[n - 1] == '\n' ? "" : "\n");
  }
}

pid_t shimctl_supervisor_spawn(const char *dir) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "shimctl: cannot find its own program: %s\n", strerror(errno));
    return -1;
  }
  self[n] = '\0';
  char log_path[SHIMCTL_PATH + 32];
  snprintf(log_path, sizeof log_path, "%s/supervisor.log", dir);
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    fprintf(stderr, "shimctl: cannot open %s: %s\n", log_path, strerror(errno));
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "shimctl: fork: %s\n", strerror(errno));
    close(log_fd);
    close(null_fd);
    return -1;
  }
  if (pid == 0) {
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    char *argv[] = {self, "supervise", "--dir", (char *)dir, NULL};
    execv(self, argv);
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  for (int waited = 0; waited < 10000; waited += 20) {
    pid_t got = shimctl_supervisor_pid(dir);
    if (got > 0) {
      return got;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      fprintf(stderr, "shimctl: the supervisor exited at once (%s %d); see %s\n",
              WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
              log_path);
      print_log_tail(log_path);
      return -1;
    }
    shimctl_sleep_ms(20);
  }
  fprintf(stderr, "shimctl: the supervisor did not start within 10 s; see %s\n", log_path);
  print_log_tail(log_path);
  return -1;
}

/* ---------------------------------------------------------------- main */

int shimctl_supervise_main(const char *dir) {
  int pid_fd = -1;
  int lrc = pid_file_lock(dir, true, &pid_fd);
  if (lrc < 0) { /* cannot even open its pid file: say why (no such directory, ...), not "another" */
    logf_("cannot supervise %s: cannot open %s/supervisor.pid: %s", dir, dir, strerror(errno));
    return 1;
  }
  if (lrc != 0) {
    logf_("another supervisor runs for %s", dir);
    return 1;
  }
  char pidbuf[32];
  int len = snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)getpid());
  if (ftruncate(pid_fd, 0) != 0 || pwrite(pid_fd, pidbuf, (size_t)len, 0) != len) {
    logf_("cannot write the pid file: %s", strerror(errno));
    return 1;
  }
  shimctl_state *st = shimctl_state_new();
  if (st == NULL || shimctl_state_read(dir, st) < 0) {
    logf_("cannot read the state in %s", dir);
    free(st);
    return 1;
  }
  const shimctl_env *env = shimctl_env_find(st->environment);
  if (env == NULL) {
    logf_("environment '%s': %s", st->environment, shimctl_env_missing(st->environment));
    free(st);
    return 1;
  }
  free(st);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  logf_("running for %s (pid %d, environment %s)", dir, (int)getpid(), env->name);

  pass_ctx pc = {dir, env, &shimctl_env_process, false};
  while (!g_term) {
    reap();
    g_hup = 0;
    if (shimctl_state_update(dir, pass, &pc) < 0) {
      logf_("cannot update the state");
    }
    for (int i = 0; i < 10 && !g_hup && !g_term; i++) {
      shimctl_sleep_ms(20);
      reap();
    }
  }
  logf_("SIGTERM: stopping every replica and the router");
  pc.shutting_down = true;
  for (int waited = 0; waited < 120000; waited += 50) {
    reap();
    shimctl_state_update(dir, pass, &pc);
    if (atomic_load(&g_stop_threads) == 0) {
      /* One more pass to record the exits. */
      reap();
      shimctl_state_update(dir, pass, &pc);
      if (atomic_load(&g_stop_threads) == 0) {
        break;
      }
    }
    shimctl_sleep_ms(50);
  }
  logf_("stopped");
  close(pid_fd);
  return 0;
}
