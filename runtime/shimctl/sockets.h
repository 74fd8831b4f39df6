/*
 * sockets.h - where a replica of the process environment listens: on a
 * loopback port ("127.0.0.1:PORT", the default) or, with the stack file's
 * replica_sockets: unix, on a unix socket of its own in the stack's state
 * folder ("unix:<state>/sockets/<set>-<index>.sock"). Each replica's
 * address is kept in the state (state.h), so that every command and the
 * supervisor reach it the same way; the router is given the same address as
 * its backend. No gRPC here: unit-tested with the stack file.
 */
#ifndef SHIMCTL_SOCKETS_H
#define SHIMCTL_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "state.h"

/* Longest PATH of "unix:PATH": what fits in sockaddr_un.sun_path with its
 * NUL, the router's limit too (runtime/router/ip_port.h). */
#define SHIMCTL_UNIX_PATH_MAX 107

/* The folder of the replicas' sockets in a stack's state folder. */
#define SHIMCTL_SOCKETS_DIR "sockets"

/*
 * Whether path can be a replica's unix socket: 1..SHIMCTL_UNIX_PATH_MAX bytes
 * of [A-Za-z0-9._/+~@=,-], the router's rule for a "unix:PATH" backend (no
 * spaces or quotes: it is written as it is in state files and metric labels).
 */
bool shimctl_socket_path_ok(const char *path);

/* The first byte of path outside [A-Za-z0-9._/+~@=,-], or NULL when there is none. */
const char *shimctl_socket_bad_char(const char *path);

/*
 * "unix:<dir>/sockets/<set_name>-<index>.sock" into addr (dir: the stack's
 * state folder, shimctl_state_dir). 0, or -1 when the path would not pass
 * shimctl_socket_path_ok or addr is too small (addr then "").
 */
int shimctl_socket_addr(const char *dir, const char *set_name, int index, char *addr, size_t len);

/*
 * Length of the longest socket path a set of kind can get in dir: its
 * longest "<kind>-<impl>", a "-NN" suffix (a second set of the same
 * implementation) and a two-digit replica index (SHIMCTL_MAX_SETS and
 * SHIMCTL_MAX_REPLICAS are below 100). The stack file's check of
 * replica_sockets: unix compares it with SHIMCTL_UNIX_PATH_MAX.
 */
size_t shimctl_socket_longest(const char *dir, const shimctl_kind *kind);

/* The address rep is reached on into buf: its unix: address when it has one,
 * else "127.0.0.1:PORT". */
void shimctl_replica_addr(const shimctl_replica *rep, char *buf, size_t len);

/* True when rep listens on a unix socket. */
bool shimctl_replica_is_unix(const shimctl_replica *rep);

/*
 * Before a replica starts on addr: for "unix:PATH", makes PATH's folder
 * (mode 0700, one level: the state folder exists) and removes a socket file
 * left at PATH by a replica that was killed (only a socket, nothing else).
 * Nothing for any other address. 0, or -1 with a reason in err.
 */
int shimctl_socket_prepare(const char *addr, char *err, size_t err_len);

/* Removes the socket file of "unix:PATH" if one is there. Nothing for any other address. */
void shimctl_socket_remove(const char *addr);

#endif /* SHIMCTL_SOCKETS_H */
