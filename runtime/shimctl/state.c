/*
 * state.c - reading and writing the state file (see state.h).
 *
 * Text, one record per line, fields separated by one space; a field is
 * percent-encoded (space, %, control bytes) and "-" stands for an empty one:
 *
 *   shimctl-state 1
 *   stack NAME / environment ENV / base_dir PATH / stack_file PATH
 *   router PROGRAM LISTEN METRICS ID RESTARTS
 *   replica_sockets tcp|unix   (absent in older states: tcp)
 *   set NAME KIND IMPL PROGRAM POLICY HASH_FIELD HASH_KEY WEIGHT DRAIN REPLICAS RETIRING
 *   arg VALUE                  (of the last set)
 *   replica INDEX PORT ID RESTARTS STARTED_MS LAST_EXIT ADDR   (of the last set;
 *                              ADDR "unix:PATH" or "-", absent in older states)
 */
#define _XOPEN_SOURCE 700
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAX_FIELDS 16

int64_t shimctl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t shimctl_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void shimctl_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void shimctl_state_dir(const shimctl_stack *stack, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", stack->state_dir, stack->name);
}

shimctl_state *shimctl_state_new(void) { return calloc(1, sizeof(shimctl_state)); }

static void put(FILE *f, const char *s) {
  fputc(' ', f);
  if (s == NULL || *s == '\0') {
    fputc('-', f);
    return;
  }
  if (strcmp(s, "-") == 0) {
    fputs("%2D", f);
    return;
  }
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if (*p <= ' ' || *p == '%' || *p == 0x7f) {
      fprintf(f, "%%%02X", *p);
    } else {
      fputc(*p, f);
    }
  }
}

static void put_int(FILE *f, long long v) { fprintf(f, " %lld", v); }

/* Decodes one field in place. */
static void decode(char *s) {
  if (strcmp(s, "-") == 0) {
    s[0] = '\0';
    return;
  }
  char *out = s;
  for (char *p = s; *p != '\0'; p++) {
    unsigned int v;
    if (*p == '%' && p[1] != '\0' && p[2] != '\0' && sscanf(p + 1, "%2x", &v) == 1) {
      *out++ = (char)v;
      p += 2;
    } else {
      *out++ = *p;
    }
  }
  *out = '\0';
}

static void copy(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src); }

int shimctl_state_write(const char *dir, const shimctl_state *st) {
  char path[SHIMCTL_PATH + 32], tmp[SHIMCTL_PATH + 32];
  snprintf(path, sizeof path, "%s/state", dir);
  snprintf(tmp, sizeof tmp, "%s/state.tmp", dir);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    fprintf(stderr, "shimctl: cannot write %s: %s\n", tmp, strerror(errno));
    return -1;
  }
  fprintf(f, "shimctl-state 1\n");
  fprintf(f, "stack");
  put(f, st->stack);
  fprintf(f, "\nenvironment");
  put(f, st->environment);
  fprintf(f, "\nbase_dir");
  put(f, st->base_dir);
  fprintf(f, "\nstack_file");
  put(f, st->stack_file);
  fprintf(f, "\nrouter");
  put(f, st->router_program);
  put(f, st->router_listen);
  put(f, st->router_metrics);
  put(f, st->router_id);
  put_int(f, st->router_restarts);
  fprintf(f, "\nreplica_sockets");
  put(f, shimctl_sockets_name(st->replica_sockets));
  fputc('\n', f);
  for (int i = 0; i < st->n_sets; i++) {
    const shimctl_set *s = &st->sets[i];
    fprintf(f, "set");
    put(f, s->name);
    put(f, s->kind);
    put(f, s->impl);
    put(f, s->program);
    put_int(f, s->policy);
    put(f, s->hash_field);
    put(f, s->hash_key);
    put_int(f, s->weight);
    put_int(f, s->drain_grace_ms);
    put_int(f, s->replicas);
    put_int(f, s->retiring);
    fputc('\n', f);
    for (int a = 0; a < s->n_args; a++) {
      fprintf(f, "arg");
      put(f, s->args[a]);
      fputc('\n', f);
    }
    for (int r = 0; r < s->n_rep; r++) {
      const shimctl_replica *rep = &s->rep[r];
      fprintf(f, "replica");
      put_int(f, rep->index);
      put_int(f, rep->port);
      put(f, rep->id);
      put_int(f, rep->restarts);
      put_int(f, (long long)rep->started_ms);
      put(f, rep->last_exit);
      put(f, rep->addr);
      fputc('\n', f);
    }
  }
  int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    fprintf(stderr, "shimctl: cannot write %s: %s\n", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* Splits line into fields (in place). Returns the count. */
static int split(char *line, char **fields) {
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, " \n", &save); tok != NULL && n < STATE_MAX_FIELDS;
       tok = strtok_r(NULL, " \n", &save)) {
    decode(tok);
    fields[n++] = tok;
  }
  return n;
}

int shimctl_state_read(const char *dir, shimctl_state *st) {
  char path[SHIMCTL_PATH + 32];
  snprintf(path, sizeof path, "%s/state", dir);
  memset(st, 0, sizeof *st);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    if (errno == ENOENT) {
      return 1;
    }
    fprintf(stderr, "shimctl: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[4 * SHIMCTL_PATH];
  int lineno = 0;
  shimctl_set *set = NULL;
  int rc = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    lineno++;
    char *fl[STATE_MAX_FIELDS];
    int n = split(line, fl);
    if (n == 0) {
      continue;
    }
    bool bad = false;
    if (strcmp(fl[0], "shimctl-state") == 0) {
      bad = n != 2 || strcmp(fl[1], "1") != 0;
    } else if (strcmp(fl[0], "stack") == 0 && n == 2) {
      copy(st->stack, sizeof st->stack, fl[1]);
    } else if (strcmp(fl[0], "environment") == 0 && n == 2) {
      copy(st->environment, sizeof st->environment, fl[1]);
    } else if (strcmp(fl[0], "base_dir") == 0 && n == 2) {
      copy(st->base_dir, sizeof st->base_dir, fl[1]);
    } else if (strcmp(fl[0], "stack_file") == 0 && n == 2) {
      copy(st->stack_file, sizeof st->stack_file, fl[1]);
    } else if (strcmp(fl[0], "router") == 0 && n == 6) {
      copy(st->router_program, sizeof st->router_program, fl[1]);
      copy(st->router_listen, sizeof st->router_listen, fl[2]);
      copy(st->router_metrics, sizeof st->router_metrics, fl[3]);
      copy(st->router_id, sizeof st->router_id, fl[4]);
      st->router_restarts = atoi(fl[5]);
    } else if (strcmp(fl[0], "replica_sockets") == 0 && n == 2 && shimctl_sockets_parse(fl[1]) >= 0) {
      st->replica_sockets = (shimctl_sockets)shimctl_sockets_parse(fl[1]);
    } else if (strcmp(fl[0], "set") == 0 && n == 12 && st->n_sets < SHIMCTL_MAX_SETS) {
      set = &st->sets[st->n_sets++];
      copy(set->name, sizeof set->name, fl[1]);
      copy(set->kind, sizeof set->kind, fl[2]);
      copy(set->impl, sizeof set->impl, fl[3]);
      copy(set->program, sizeof set->program, fl[4]);
      set->policy = atoi(fl[5]);
      copy(set->hash_field, sizeof set->hash_field, fl[6]);
      copy(set->hash_key, sizeof set->hash_key, fl[7]);
      set->weight = atoi(fl[8]);
      set->drain_grace_ms = atoi(fl[9]);
      set->replicas = atoi(fl[10]);
      set->retiring = atoi(fl[11]) != 0;
    } else if (strcmp(fl[0], "arg") == 0 && n <= 2 && set != NULL && set->n_args < SHIMCTL_MAX_ARGS) {
      copy(set->args[set->n_args++], SHIMCTL_STR, n == 2 ? fl[1] : "");
    } else if (strcmp(fl[0], "replica") == 0 && (n == 7 || n == 8) && set != NULL && set->n_rep < SHIMCTL_MAX_REPLICAS) {
      shimctl_replica *r = &set->rep[set->n_rep++];
      r->index = atoi(fl[1]);
      r->port = atoi(fl[2]);
      copy(r->id, sizeof r->id, fl[3]);
      r->restarts = atoi(fl[4]);
      r->started_ms = strtoll(fl[5], NULL, 10);
      copy(r->last_exit, sizeof r->last_exit, fl[6]);
      copy(r->addr, sizeof r->addr, n == 8 ? fl[7] : "");
    } else {
      bad = true;
    }
    if (bad) {
      fprintf(stderr, "shimctl: %s:%d: not a shimctl state line\n", path, lineno);
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

int shimctl_state_lock(const char *dir) {
  char path[SHIMCTL_PATH + 32];
  snprintf(path, sizeof path, "%s/state.lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "shimctl: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

void shimctl_state_unlock(int fd) {
  if (fd >= 0) {
    flock(fd, LOCK_UN);
    close(fd);
  }
}

int shimctl_state_update(const char *dir, int (*fn)(shimctl_state *st, void *arg), void *arg) {
  shimctl_state *st = shimctl_state_new();
  if (st == NULL) {
    return -1;
  }
  int fd = shimctl_state_lock(dir);
  if (fd < 0) {
    free(st);
    return -1;
  }
  int rc = shimctl_state_read(dir, st);
  if (rc >= 0) {
    rc = fn(st, arg);
    if (rc == 1 && shimctl_state_write(dir, st) != 0) {
      rc = -1;
    }
  }
  shimctl_state_unlock(fd);
  free(st);
  return rc;
}

shimctl_set *shimctl_state_find_set(shimctl_state *st, const char *name) {
  for (int i = 0; i < st->n_sets; i++) {
    if (strcmp(st->sets[i].name, name) == 0) {
      return &st->sets[i];
    }
  }
  return NULL;
}

shimctl_set *shimctl_state_active_set(shimctl_state *st, const char *kind) {
  shimctl_set *best = NULL;
  for (int i = 0; i < st->n_sets; i++) {
    shimctl_set *s = &st->sets[i];
    if (!s->retiring && strcmp(s->kind, kind) == 0 && (best == NULL || s->weight > best->weight)) {
      best = s;
    }
  }
  return best;
}

shimctl_replica *shimctl_set_replica(shimctl_set *set, int index) {
  for (int i = 0; i < set->n_rep; i++) {
    if (set->rep[i].index == index) {
      return &set->rep[i];
    }
  }
  return NULL;
}
