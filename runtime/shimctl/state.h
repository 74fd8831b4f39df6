/*
 * state.h - the stack's state on disk, <state_dir>/<stack>/state: what
 * should run (sets, replica counts, ports, weights, program and flags: the
 * desired part, written by the shimctl commands) and what runs (replica ids,
 * restarts: the actual part, written by the supervisor). Both sides change
 * it only as lock + read + modify + write (flock on state.lock, atomic
 * rename), so neither loses the other's update. Every shimctl command reads
 * it: shimctl itself keeps nothing in memory between runs.
 */
#ifndef SHIMCTL_STATE_H
#define SHIMCTL_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "stack.h"

#define SHIMCTL_MAX_SETS 32   /* sets in a stack, counting those being swapped out */
#define SHIMCTL_MAX_ARGS 64   /* shim arguments of one set */
#define SHIMCTL_STR 256       /* longest name, address or argument */
#define SHIMCTL_PATH 1024     /* longest path */
#define SHIMCTL_ADDR 128      /* longest replica address: "unix:" + 107 bytes of path, or "127.0.0.1:PORT" */

typedef struct shimctl_replica {
  int index;                /* replica number in the set */
  int port;                 /* its port on 127.0.0.1; 0 when it listens on a unix socket */
  char addr[SHIMCTL_ADDR];  /* "unix:PATH" it listens on, or "" = 127.0.0.1:port (sockets.h) */
  char id[SHIMCTL_STR];     /* environment id (process: "PID@STARTTIME"); "" = not started */
  int restarts;             /* times the supervisor started it again */
  int64_t started_ms;       /* wall clock of the last start */
  char last_exit[SHIMCTL_STR]; /* how its previous run ended, or "" */
} shimctl_replica;

typedef struct shimctl_set {
  char name[SHIMCTL_STR];   /* "feature_store-sqlite" */
  char kind[SHIMCTL_STR];   /* catalog kind */
  char impl[SHIMCTL_STR];   /* implementation */
  char program[SHIMCTL_PATH]; /* absolute path of the shim program */
  int policy;               /* shimctl_policy */
  char hash_field[SHIMCTL_STR];
  char hash_key[SHIMCTL_STR];
  int weight;               /* router weight as last applied */
  int drain_grace_ms;       /* --drain-grace-ms of its replicas */
  int replicas;             /* desired count: replicas 0..replicas-1 run */
  bool retiring;            /* being removed: the supervisor stops every replica, then drops the set */
  int n_args;
  char args[SHIMCTL_MAX_ARGS][SHIMCTL_STR]; /* shim arguments (no --listen) */
  int n_rep;
  shimctl_replica rep[SHIMCTL_MAX_REPLICAS]; /* by index; more than replicas while scaling down */
} shimctl_set;

typedef struct shimctl_state {
  char stack[SHIMCTL_STR];
  char environment[SHIMCTL_STR];
  char base_dir[SHIMCTL_PATH];      /* the stack file's folder: replicas run there */
  char stack_file[SHIMCTL_PATH];    /* the stack file, absolute */
  char router_program[SHIMCTL_PATH];
  char router_listen[SHIMCTL_STR];
  char router_metrics[SHIMCTL_STR]; /* "" = none */
  char router_id[SHIMCTL_STR];      /* "" = not started */
  int router_restarts;
  shimctl_sockets replica_sockets;  /* where new replicas listen (the stack file's replica_sockets) */
  int n_sets;
  shimctl_set sets[SHIMCTL_MAX_SETS];
} shimctl_state;

/* <state_dir>/<stack> of a stack into buf. */
void shimctl_state_dir(const shimctl_stack *stack, char *buf, size_t len);

/* Allocates a zeroed state (it is large). NULL when out of memory. */
shimctl_state *shimctl_state_new(void);

/* Reads dir/state into st. 0; 1 when there is no state; -1 when it is unreadable (reason on stderr). */
int shimctl_state_read(const char *dir, shimctl_state *st);

/* Writes st to dir/state atomically (tmp, fsync, rename). 0 or -1. */
int shimctl_state_write(const char *dir, const shimctl_state *st);

/* Takes the state lock of dir (blocking). Returns an fd for unlock, -1 on error. */
int shimctl_state_lock(const char *dir);
void shimctl_state_unlock(int fd);

/* Lock, read, fn(st, arg), write when fn returns 1, unlock. Returns what fn
 * returned (-1 on a failed read/write, 1 changed, 0 unchanged, or fn's own
 * negative error). A missing state reads as an empty one. */
int shimctl_state_update(const char *dir, int (*fn)(shimctl_state *st, void *arg), void *arg);

/* The set of that name, or NULL. */
shimctl_set *shimctl_state_find_set(shimctl_state *st, const char *name);

/* The active (not retiring) set of a service kind with the highest weight, or NULL. */
shimctl_set *shimctl_state_active_set(shimctl_state *st, const char *kind);

/* The replica entry of index in set, or NULL. */
shimctl_replica *shimctl_set_replica(shimctl_set *set, int index);

/* Milliseconds of CLOCK_REALTIME / CLOCK_MONOTONIC. */
int64_t shimctl_now_ms(void);
int64_t shimctl_mono_ms(void);
void shimctl_sleep_ms(int ms);

#endif /* SHIMCTL_STATE_H */
