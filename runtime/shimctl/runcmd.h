/*
 * runcmd.h - runs an outside program (docker, kubectl, ldd, strip) from an
 * argv array with posix_spawn, never through a shell, so no argument is
 * ever re-split or interpreted. The image builder and the docker and
 * kubernetes environments share it.
 */
#ifndef SHIMCTL_RUNCMD_H
#define SHIMCTL_RUNCMD_H

#include <stddef.h>
#include <stdio.h>

/* The most a captured run keeps of the program's output; the rest is read and dropped. */
#define SHIMCTL_RUNCMD_MAX_OUTPUT (1u << 20)

/*
 * Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null, and
 * captures its stdout (and its stderr too when merge_stderr is non-zero) into
 * a NUL-terminated buffer that *out receives; the caller frees it (also on
 * failure, when *out is not NULL). Output beyond SHIMCTL_RUNCMD_MAX_OUTPUT
 * is dropped. Returns the exit status (0..255), 128+N when a signal N ended
 * it, or -1 when it could not be started (reason in err).
 */
int shimctl_runcmd_capture(const char *const argv[], int merge_stderr, char **out, char *err, size_t err_len);

/*
 * Runs argv like shimctl_runcmd_capture but copies its stdout and stderr to
 * out as they come (NULL: inherit this process's). Same return values.
 */
int shimctl_runcmd_stream(const char *const argv[], FILE *out, char *err, size_t err_len);

/* Runs argv with all output dropped; the exit status as above. */
int shimctl_runcmd_quiet(const char *const argv[]);

/* 1 when a program of that name is found in PATH (or is an executable path), else 0. */
int shimctl_runcmd_have(const char *program);

/* The container CLI: $SHIMCTL_DOCKER when set (e.g. "podman"), else "docker". */
const char *shimctl_runcmd_docker(void);

#endif /* SHIMCTL_RUNCMD_H */
