/*
 * util.c - helpers the commands share (see shimctl.h): loading the stack
 * and its state, finding programs, ports, building a set from the stack
 * file, and waiting on the supervisor through the state file.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "env.h"
#include "shimctl.h"
#include "sockets.h"

#ifndef SHIMCTL_BUILD_DIR
#define SHIMCTL_BUILD_DIR ""
#endif

void shimctl_say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("shimctl: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
}

/* Whether the command starts something (so a refused file means "nothing was started"). */
static bool starts_something(const char *command) {
  static const char *const starting[] = {"up", "scale", "swap"};
  for (size_t i = 0; command != NULL && i < sizeof starting / sizeof starting[0]; i++) {
    if (strcmp(command, starting[i]) == 0) {
      return true;
    }
  }
  return false;
}

shimctl_stack *shimctl_load_stack(const shimctl_opts *o) {
  FILE *f = fopen(o->file, "r");
  if (f == NULL) { /* not a problem of the file's contents: no line, no "refused" */
    fprintf(stderr, "shimctl: cannot open %s: %s\n", o->file, strerror(errno));
    return NULL;
  }
  fclose(f);
  shimctl_errors *errs = calloc(1, sizeof *errs);
  if (errs == NULL) {
    return NULL;
  }
  shimctl_stack *stack = shimctl_stack_load(o->file, errs);
  for (size_t i = 0; stack == NULL && i < errs->n; i++) {
    fprintf(stderr, "%s\n", errs->msg[i]);
  }
  if (stack == NULL) {
    fprintf(stderr, "shimctl: %s refused (%zu problem%s)%s\n", o->file, errs->n, errs->n == 1 ? "" : "s",
            starts_something(o->command) ? "; nothing was started" : "");
  }
  free(errs);
  return stack;
}

int shimctl_load(const shimctl_opts *o, shimctl_stack **stack, shimctl_state **st, char *dir, size_t dir_len) {
  *stack = shimctl_load_stack(o);
  *st = NULL;
  if (*stack == NULL) {
    return -1;
  }
  if (strcmp((*stack)->environment, "kubernetes") == 0) {
    /* No state there: up, scale and down are kubectl apply / delete; the rest is kubectl's. */
    fprintf(stderr, "shimctl: environment kubernetes: %s\n", shimctl_env_missing("kubernetes"));
    return 1;
  }
  shimctl_state_dir(*stack, dir, dir_len);
  *st = shimctl_state_new();
  if (*st == NULL) {
    return -1;
  }
  int rc = shimctl_state_read(dir, *st);
  if (rc == 1 || (rc == 0 && (*st)->stack[0] == '\0')) {
    fprintf(stderr, "shimctl: stack %s is not up (no state in %s); run shimctl up\n", (*stack)->name, dir);
    return 1;
  }
  return rc < 0 ? -1 : 0;
}

int shimctl_load_locked(const shimctl_opts *o, const char *command, shimctl_stack **stack, shimctl_state **st,
                        char *dir, size_t dir_len) {
  int lr = shimctl_load(o, stack, st, dir, dir_len);
  if (lr != 0) {
    return lr == 1 ? SHIMCTL_EXIT_FAIL : SHIMCTL_EXIT_USAGE;
  }
  if (shimctl_command_lock(dir, command) != 0 || shimctl_reload(dir, *st) != 0) {
    return SHIMCTL_EXIT_FAIL;
  }
  return SHIMCTL_EXIT_OK;
}

static bool executable(const char *path) { return access(path, X_OK) == 0; }

int shimctl_find_program(const char *bin_dir, const char *program, const char *subdir, char *out, size_t len) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(self, '/');
  if (slash != NULL) {
    *slash = '\0';
  }
  const char *dirs[3] = {bin_dir, n > 0 ? self : NULL, SHIMCTL_BUILD_DIR[0] != '\0' ? SHIMCTL_BUILD_DIR : NULL};
  for (int i = 0; i < 3; i++) {
    if (dirs[i] == NULL || dirs[i][0] == '\0') {
      continue;
    }
    snprintf(out, len, "%s/%s", dirs[i], program);
    if (executable(out)) {
      return 0;
    }
    snprintf(out, len, "%s/%s/%s", dirs[i], subdir, program);
    if (executable(out)) {
      return 0;
    }
  }
  snprintf(out, len, "%s", program);
  return -1;
}

bool shimctl_port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int shimctl_pick_port(const int *avoid, int n_avoid) {
  for (int attempt = 0; attempt < 50; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
      port = ntohs(a.sin_port);
    }
    close(fd);
    bool taken = port < 0;
    for (int i = 0; i < n_avoid && !taken; i++) {
      taken = avoid[i] == port;
    }
    if (!taken) {
      return port;
    }
  }
  return -1;
}

int shimctl_state_ports(const shimctl_state *st, int *ports, int max) {
  int n = 0;
  int p = shimctl_addr_port(st->router_listen);
  if (p > 0 && n < max) {
    ports[n++] = p;
  }
  p = st->router_metrics[0] != '\0' ? shimctl_addr_port(st->router_metrics) : -1;
  if (p > 0 && n < max) {
    ports[n++] = p;
  }
  for (int s = 0; s < st->n_sets; s++) {
    for (int r = 0; r < st->sets[s].n_rep && n < max; r++) {
      if (st->sets[s].rep[r].port > 0) { /* 0: on a unix socket */
        ports[n++] = st->sets[s].rep[r].port;
      }
    }
  }
  return n;
}

static bool has_flag(const shimctl_set *set, const char *flag) {
  for (int i = 0; i < set->n_args; i++) {
    if (strcmp(set->args[i], flag) == 0) {
      return true;
    }
  }
  return false;
}

static int add_arg(shimctl_set *set, const char *a) {
  if (set->n_args == SHIMCTL_MAX_ARGS || strlen(a) >= SHIMCTL_STR) {
    return -1;
  }
  snprintf(set->args[set->n_args++], SHIMCTL_STR, "%s", a);
  return 0;
}

static int add_config(shimctl_set *set, const shimctl_config *cfg) {
  for (size_t i = 0; cfg != NULL && i < cfg->n; i++) {
    char flag[SHIMCTL_STR];
    snprintf(flag, sizeof flag, "--%s", cfg->kv[i].key);
    if (add_arg(set, flag) != 0 || add_arg(set, cfg->kv[i].value) != 0) {
      return -1;
    }
  }
  return 0;
}

/* The replicas 0..out->replicas-1 of out, each on its unix socket in the stack's state folder. */
static int unix_replicas(const shimctl_stack *stack, shimctl_set *out, char *err, size_t err_len) {
  char dir[SHIMCTL_PATH];
  shimctl_state_dir(stack, dir, sizeof dir);
  for (int i = 0; i < out->replicas; i++) {
    shimctl_replica *r = &out->rep[out->n_rep++];
    r->index = i;
    if (shimctl_socket_addr(dir, out->name, i, r->addr, sizeof r->addr) != 0) {
      snprintf(err, err_len, "the unix socket of %s replica %d in %s/%s does not fit in %d bytes (set a shorter "
               "state_dir)", out->name, i, dir, SHIMCTL_SOCKETS_DIR, SHIMCTL_UNIX_PATH_MAX);
      return -1;
    }
  }
  return 0;
}

int shimctl_make_set(const shimctl_opts *o, const shimctl_stack *stack, const shimctl_state *st,
                     const shimctl_service_spec *svc, const char *impl, int base_port, int weight, shimctl_set *out,
                     char *err, size_t err_len) {
  const shimctl_kind *kind = svc->kind;
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s-%s", kind->name, impl);
  for (int suffix = 2; shimctl_state_find_set((shimctl_state *)st, out->name) != NULL; suffix++) {
    snprintf(out->name, sizeof out->name, "%s-%s-%d", kind->name, impl, suffix);
  }
  snprintf(out->kind, sizeof out->kind, "%s", kind->name);
  snprintf(out->impl, sizeof out->impl, "%s", impl);
  char subdir[SHIMCTL_STR];
  snprintf(subdir, sizeof subdir, "services/%s", kind->name);
  if (shimctl_find_program(o->bin_dir, kind->program, subdir, out->program, sizeof out->program) != 0) {
    snprintf(err, err_len, "cannot find the program %s (give --bin-dir DIR or set SHIMCTL_BIN_DIR)", kind->program);
    return -1;
  }
  out->policy = (int)svc->policy;
  snprintf(out->hash_field, sizeof out->hash_field, "%s", svc->hash_field != NULL ? svc->hash_field : "");
  snprintf(out->hash_key, sizeof out->hash_key, "%s", svc->hash_key != NULL ? svc->hash_key : "");
  out->weight = weight;
  out->drain_grace_ms = svc->drain_grace_ms;
  out->replicas = svc->replicas;
  int rc = 0;
  if (kind->impl_flag != NULL) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", kind->impl_flag);
    rc |= add_arg(out, flag);
    rc |= add_arg(out, impl);
  }
  rc |= add_config(out, &svc->config);
  rc |= add_config(out, shimctl_service_impl_config(svc, impl));
  for (const char *const *f = kind->router_flags; *f != NULL; f++) {
    char flag[SHIMCTL_STR];
    snprintf(flag, sizeof flag, "--%s", *f);
    if (!has_flag(out, flag)) {
      rc |= add_arg(out, flag);
      rc |= add_arg(out, stack->router_listen);
    }
  }
  if (rc != 0) {
    snprintf(err, err_len, "%s: too many or too long flags", out->name);
    return -1;
  }
  if (st->replica_sockets == SHIMCTL_SOCKETS_UNIX) {
    return unix_replicas(stack, out, err, err_len);
  }
  int used[SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2 + SHIMCTL_MAX_REPLICAS];
  int n_used = shimctl_state_ports(st, used, SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2);
  for (int i = 0; i < svc->replicas; i++) {
    shimctl_replica *r = &out->rep[out->n_rep++];
    r->index = i;
    r->port = base_port != 0 ? base_port + i : shimctl_pick_port(used, n_used);
    if (r->port <= 0) {
      snprintf(err, err_len, "no free port for %s replica %d", out->name, i);
      return -1;
    }
    for (int u = 0; u < n_used; u++) {
      if (used[u] == r->port) {
        snprintf(err, err_len, "port %d of %s replica %d is used by this stack already", r->port, out->name, i);
        return -1;
      }
    }
    if (!shimctl_port_free(r->port)) {
      snprintf(err, err_len, "port %d of %s replica %d is in use", r->port, out->name, i);
      return -1;
    }
    used[n_used++] = r->port;
  }
  return 0;
}

int shimctl_set_addrs(const shimctl_set *set, char addrs[][SHIMCTL_ADDR], const char **ptrs) {
  int n = 0;
  for (int i = 0; i < set->n_rep; i++) {
    if (set->rep[i].index < set->replicas) {
      shimctl_replica_addr(&set->rep[i], addrs[n], SHIMCTL_ADDR);
      ptrs[n] = addrs[n];
      n++;
    }
  }
  return n;
}

/* A condition on the state as just read (r: what shimctl_state_read returned). */
typedef bool (*state_test)(int r, shimctl_state *st, const void *arg);

/* Re-reads the state under its lock every 50 ms until test holds: 0, or -1 after timeout_ms. */
static int wait_state(const char *dir, int timeout_ms, state_test test, const void *arg) {
  shimctl_state *st = shimctl_state_new();
  if (st == NULL) {
    return -1;
  }
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  int rc = -1;
  while (rc != 0 && shimctl_mono_ms() < deadline) {
    int fd = shimctl_state_lock(dir);
    int r = fd >= 0 ? shimctl_state_read(dir, st) : -1;
    shimctl_state_unlock(fd);
    if (test(r, st, arg)) {
      rc = 0;
    } else {
      shimctl_sleep_ms(50);
    }
  }
  free(st);
  return rc;
}

typedef struct started_arg {
  const char *set_name; /* NULL: no set */
  bool router;
} started_arg;

static bool started(int r, shimctl_state *st, const void *arg) {
  const started_arg *a = arg;
  if (r != 0) {
    return false;
  }
  bool ok = !a->router || st->router_id[0] != '\0';
  shimctl_set *set = a->set_name != NULL ? shimctl_state_find_set(st, a->set_name) : NULL;
  for (int i = 0; set != NULL && i < set->n_rep; i++) {
    ok = ok && (set->rep[i].index >= set->replicas || set->rep[i].id[0] != '\0');
  }
  return ok && (a->set_name == NULL || set != NULL);
}

int shimctl_wait_started(const char *dir, const char *set_name, bool router, int timeout_ms) {
  started_arg a = {set_name, router};
  return wait_state(dir, timeout_ms, started, &a);
}

typedef struct stopped_arg {
  const char *set_name;
  int from_index; /* -1: the whole set */
} stopped_arg;

static bool stopped(int r, shimctl_state *st, const void *arg) {
  const stopped_arg *a = arg;
  if (r < 0) {
    return false;
  }
  shimctl_set *set = shimctl_state_find_set(st, a->set_name);
  bool gone = set == NULL;
  if (set != NULL && a->from_index >= 0) {
    gone = true;
    for (int i = 0; i < set->n_rep; i++) {
      gone = gone && set->rep[i].index < a->from_index;
    }
  }
  return gone;
}

int shimctl_wait_stopped(const char *dir, const char *set_name, int from_index, int timeout_ms) {
  stopped_arg a = {set_name, from_index};
  return wait_state(dir, timeout_ms, stopped, &a);
}

int shimctl_command_lock(const char *dir, const char *command) {
  static char held[SHIMCTL_PATH + 32]; /* the lock this process holds ("" = none) */
  char path[SHIMCTL_PATH + 32];
  snprintf(path, sizeof path, "%s/command.lock", dir);
  if (strcmp(held, path) == 0) {
    return 0;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "shimctl %s: cannot open %s: %s\n", command, path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char who[128] = "";
    ssize_t n = pread(fd, who, sizeof who - 1, 0);
    who[n > 0 ? n : 0] = '\0';
    who[strcspn(who, "\n")] = '\0';
    fprintf(stderr, "shimctl %s: another shimctl command is changing this stack (%s); try again when it is done\n",
            command, who[0] ? who : "unknown");
    close(fd);
    return -1;
  }
  char me[128];
  int len = snprintf(me, sizeof me, "pid %d: %s\n", (int)getpid(), command);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, me, (size_t)len, 0) != len) {
    /* the lock is what matters; the text only helps the message above */
  }
  snprintf(held, sizeof held, "%s", path);
  return 0; /* fd stays open (and locked) until exit */
}

int shimctl_reload(const char *dir, shimctl_state *st) {
  int fd = shimctl_state_lock(dir);
  int rc = fd >= 0 ? shimctl_state_read(dir, st) : -1;
  shimctl_state_unlock(fd);
  return rc == 0 && st->stack[0] != '\0' ? 0 : -1;
}

int shimctl_remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) {
    return 0;
  }
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (d != NULL) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
          continue;
        }
        char child[SHIMCTL_PATH + 256];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        shimctl_remove_tree(child);
      }
      closedir(d);
    }
    return rmdir(path);
  }
  return unlink(path);
}
