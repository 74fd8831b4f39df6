/*
 * supervise.h - the supervisor: `shimctl supervise --dir DIR`, a detached
 * process (setsid) per stack that keeps what the state file asks for
 * running. It starts the router (always a local process, with --state
 * DIR/router.state) and every replica through the stack's environment,
 * starts again whatever dies (backoff 100 ms doubling to 5 s, reset after
 * 10 s of life), stops replicas no longer wanted (scale down, retiring sets:
 * SIGTERM, drain, SIGKILL after the grace), re-reads the state at once on
 * SIGHUP (it also polls it every 200 ms), and on SIGTERM stops everything
 * (replicas drain) and exits. Its pid is in DIR/supervisor.pid, which it
 * holds locked for its whole life: a lock that can be taken means no
 * supervisor runs.
 */
#ifndef SHIMCTL_SUPERVISE_H
#define SHIMCTL_SUPERVISE_H

#include <sys/types.h>

/* The supervisor's main: runs until SIGTERM. Returns the exit status. */
int shimctl_supervise_main(const char *dir);

/* Pid of the running supervisor of dir, or 0 when none runs. */
pid_t shimctl_supervisor_pid(const char *dir);

/* Starts a detached supervisor for dir (this program, "supervise --dir
 * dir", in a new session, output to dir/supervisor.log) and waits until it
 * holds its pid file (at most 10 s). Returns its pid, or -1 with a reason on stderr. */
pid_t shimctl_supervisor_spawn(const char *dir);

/* Sends sig to the supervisor of dir. 0, or -1 when none runs. */
int shimctl_supervisor_signal(const char *dir, int sig);

struct shimctl_state;
struct shimctl_env;

/* One pass of the supervisor's loop over st (the state as read; the caller
 * writes it back): env runs the replicas, router_env the router (the
 * process environment; tests pass fakes). 1 when st changed, else 0. An
 * environment's ended step runs on a thread: a later pass takes its result. */
int shimctl_supervise_pass(struct shimctl_state *st, const char *dir, const struct shimctl_env *env,
                           const struct shimctl_env *router_env);

#endif /* SHIMCTL_SUPERVISE_H */
