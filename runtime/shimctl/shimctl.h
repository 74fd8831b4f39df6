/*
 * shimctl.h - what the commands share: the global options, the command
 * table's entry type, and helpers to load the stack, find programs, pick
 * ports and build a set from a service of the stack file.
 */
#ifndef SHIMCTL_SHIMCTL_H
#define SHIMCTL_SHIMCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "stack.h"
#include "state.h"

/* Options every command takes (before or after its name). */
typedef struct shimctl_opts {
  const char *file;    /* -f/--file: the stack file (default stack.yaml, or $SHIMCTL_FILE) */
  const char *bin_dir; /* --bin-dir: where shim programs are (or $SHIMCTL_BIN_DIR) */
  int timeout_ms;      /* --timeout S: longest wait for SERVING, drains, ... (default 60 s) */
  const char *command; /* the command's name ("up"), for messages */
} shimctl_opts;

/* A command: argv[0] is its name. Returns the exit status. */
typedef int (*shimctl_cmd_fn)(const shimctl_opts *o, int argc, char **argv);

typedef struct shimctl_command {
  const char *name;
  shimctl_cmd_fn fn;
  const char *summary; /* one line for shimctl --help */
  const char *help;    /* shimctl CMD --help */
  bool hidden;         /* not listed (supervise) */
} shimctl_command;

/* The command table (commands.c). */
extern const shimctl_command shimctl_commands[];

int shimctl_cmd_up(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_status(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_scale(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_swap(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_down(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_logs(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_build(const shimctl_opts *o, int argc, char **argv);
int shimctl_cmd_supervise(const shimctl_opts *o, int argc, char **argv);

/* shimctl up in the kubernetes environment (cmd_up_kubernetes.c): renders
 * and applies the manifests, deletes sets no longer rendered; the exit status. */
int shimctl_up_kubernetes(const shimctl_opts *o, const shimctl_stack *stack);

/* shimctl scale there: the service's Deployment rendered again with n
 * replicas and applied; the exit status. */
int shimctl_scale_kubernetes(const shimctl_opts *o, const shimctl_stack *stack, const char *service, int n);

/* shimctl down there: kubectl delete of the stack's Deployments and
 * Services, then its manifests folder removed; the exit status. */
int shimctl_down_kubernetes(const shimctl_opts *o, const shimctl_stack *stack);

/* Exit statuses. */
enum { SHIMCTL_EXIT_OK = 0, SHIMCTL_EXIT_FAIL = 1, SHIMCTL_EXIT_USAGE = 2 };

/* Loads and validates the stack file, printing every problem (or only that
 * it cannot be opened); NULL on failure. */
shimctl_stack *shimctl_load_stack(const shimctl_opts *o);

/* Loads the stack file and the state of its stack: dir receives the state
 * directory. 0; 1 when the stack is not up (message printed); -1 on error. */
int shimctl_load(const shimctl_opts *o, shimctl_stack **stack, shimctl_state **st, char *dir, size_t dir_len);

/* For a command that changes a running stack (scale, swap, down): shimctl_load,
 * then the command lock (shimctl_command_lock), then the state re-read under
 * it. SHIMCTL_EXIT_OK, or the exit status to end with (reason printed);
 * *stack and *st are the caller's to free either way. */
int shimctl_load_locked(const shimctl_opts *o, const char *command, shimctl_stack **stack, shimctl_state **st,
                        char *dir, size_t dir_len);

/* Finds program: in bin_dir (and bin_dir/subdir), next to shimctl, then
 * in the build tree shimctl was built in (SHIMCTL_BUILD_DIR/subdir). 0 or -1. */
int shimctl_find_program(const char *bin_dir, const char *program, const char *subdir, char *out, size_t len);

/* True when 127.0.0.1:port can be bound now. */
bool shimctl_port_free(int port);

/* A free port on 127.0.0.1 not in avoid[0..n_avoid), or -1. */
int shimctl_pick_port(const int *avoid, int n_avoid);

/* Every port the state uses (router, metrics, replicas) into ports; returns the count. */
int shimctl_state_ports(const shimctl_state *st, int *ports, int max);

/*
 * Builds a set for svc with implementation impl: name kind-impl (or
 * kind-impl-2, ... when taken in st), program, flags (--backend, config,
 * the implementation's config, router-provided addresses), replicas with
 * ports from base_port (0: free ports), or, when st's replica_sockets is
 * unix, each on its unix socket in the state folder (sockets.h; base_port
 * is then not used). weight is set as given. 0, or -1 with a reason in err.
 */
int shimctl_make_set(const shimctl_opts *o, const shimctl_stack *stack, const shimctl_state *st,
                     const shimctl_service_spec *svc, const char *impl, int base_port, int weight, shimctl_set *out,
                     char *err, size_t err_len);

/* The address of each replica 0..replicas-1 of set ("127.0.0.1:PORT" or
 * "unix:PATH", shimctl_replica_addr) into addrs, pointed to by ptrs; returns the count. */
int shimctl_set_addrs(const shimctl_set *set, char addrs[][SHIMCTL_ADDR], const char **ptrs);

/* A progress line on stdout, flushed: "shimctl: ...". */
void shimctl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Waits until the supervisor recorded an id for every wanted replica of
 * set_name (and, if router, the router). 0 or -1 after timeout_ms. */
int shimctl_wait_started(const char *dir, const char *set_name, bool router, int timeout_ms);

/* Waits until set_name is gone from the state (the supervisor stopped all
 * its replicas), or (index >= 0) until replicas >= index are gone. 0 or -1. */
int shimctl_wait_stopped(const char *dir, const char *set_name, int from_index, int timeout_ms);

/* Waits until every wanted replica of set_name (in dir's state) answers
 * grpc.health.v1 SERVING, printing progress lines, at most timeout_ms; gives
 * up as soon as one that never answered has exited 3 times since the wait
 * began (a bad flag: it cannot start), printing how it last ended and the
 * last lines of its log (wait_set.c). 0, or -1 with the reason printed. */
int shimctl_wait_set_serving(const char *dir, const char *set_name, int timeout_ms);

/* rm -rf path (symbolic links are removed, not followed). 0, or -1 when path itself stays. */
int shimctl_remove_tree(const char *path);

/* Re-reads the state under its lock. 0, or -1 (also when it is gone). */
int shimctl_reload(const char *dir, shimctl_state *st);

/* Takes dir/command.lock for the rest of this process's life, so that two
 * commands that change a stack (up, scale, swap, down) never run at once.
 * 0, or -1 after printing which process holds it. Released when the
 * process exits, however it exits. Taken again by the same process (up
 * running swap and scale), it is already held: 0. */
int shimctl_command_lock(const char *dir, const char *command);

/* up on a running stack: applies what changed in the stack file (cmd_up_apply.c). Exit status. */
int shimctl_up_apply(const shimctl_opts *o, const shimctl_stack *stack, const shimctl_state *st);

#endif /* SHIMCTL_SHIMCTL_H */
