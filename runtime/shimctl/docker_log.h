/*
 * docker_log.h - keeps a docker replica's output in its log file before its
 * container is removed (docker_log.c), so the docker environment keeps
 * <state>/logs/<set>-<i>.log as the process environment does: appended
 * across every container the replica has had.
 *
 * The file is the one in the container's io.shimkit.log label (docker_start
 * sets it from the replica's spec->log_path). Each container's output is
 * framed by two lines, so an operator can tell runs apart:
 *
 *   === shimctl: container shimkit-ml-training-liblinear-0 (0b7d45429abc) started 2026-11-25T23:50:24.418786362Z, image shimkit/training-liblinear:dev
 *   2026-11-25T23:50:24.832683774Z <a line the shim wrote>      (docker logs --timestamps)
 *   === shimctl: container shimkit-ml-training-liblinear-0 (0b7d45429abc) ended 2026-11-25T23:50:26.648331824Z: exit code 137 (killed by signal 9)
 *
 * A container kept once is never appended twice (its end line is looked for
 * at the end of the file first), and writers take an exclusive flock on the
 * file, so the supervisor, its stop threads and shimctl down may all keep
 * logs at once.
 */
#ifndef SHIMCTL_DOCKER_LOG_H
#define SHIMCTL_DOCKER_LOG_H

#include <stddef.h>

/* The label naming a container's log file on the host. */
#define SHIMCTL_DOCKER_LOG_LABEL "io.shimkit.log"

/* The marker that starts the lines docker_log writes. */
#define SHIMCTL_DOCKER_LOG_MARK "=== shimctl: container "

/*
 * Appends the output of container name (docker logs --timestamps) to its
 * log file -- the io.shimkit.log label's, else fallback (may be NULL) --
 * between a start and an end line, unless it was kept already. Writes how
 * the container ended ("exit code 137 (killed by signal 9)") to how (may be
 * NULL).
 *
 * Returns 0 when kept, kept already, or nothing to keep (no log file
 * named); 1 when there is no such container (how says it was removed); -2
 * with a reason in err when docker inspect failed (nothing is known about
 * the container, nothing was kept); -1 with a reason in err when the output
 * could not be kept (the file cannot be opened, docker logs failed).
 */
int shimctl_docker_keep_log(const char *name, const char *fallback, char *how, size_t how_len, char *err,
                            size_t err_len);

#endif /* SHIMCTL_DOCKER_LOG_H */
