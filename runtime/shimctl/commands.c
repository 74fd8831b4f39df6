/*
 * commands.c - the command table: every shimctl command, its one-line
 * summary and its --help. One place, so adding a command (or replacing one,
 * as build will be) touches this file and the command's own file.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "shimctl.h"
#include "supervise.h"

int shimctl_cmd_supervise(const shimctl_opts *o, int argc, char **argv) {
  (void)o;
  if (argc == 3 && strcmp(argv[1], "--dir") == 0) {
    struct stat sb;
    int st = stat(argv[2], &sb);
    if (st != 0 || !S_ISDIR(sb.st_mode)) {
      fprintf(stderr, "shimctl supervise: %s: %s (--dir is a stack's state directory, made by shimctl up)\n",
              argv[2], st != 0 ? strerror(errno) : "not a directory");
      return SHIMCTL_EXIT_USAGE;
    }
    return shimctl_supervise_main(argv[2]);
  }
  fprintf(stderr, "shimctl supervise: give --dir DIR (shimctl up starts the supervisor itself)\n");
  return SHIMCTL_EXIT_USAGE;
}

const shimctl_command shimctl_commands[] = {
    {"build", shimctl_cmd_build, "build the image of each implementation of the stack",
     "usage: shimctl build [SERVICE...|router] [--verbose] [-f FILE] [--bin-dir DIR]\n"
     "Builds shimkit/<service>-<impl>:<tag> for every implementation of the\n"
     "stack's services (or of those named) and the router's image, with the local\n"
     "Docker Engine, FROM scratch in three layers: shared runtime libraries (the\n"
     "closure of libshimkit), the native service's libraries and /data, the shim\n"
     "program and its options; then prints each image's layers and sizes. The tag\n"
     "is $SHIMCTL_IMAGE_TAG (default dev), the one the docker and kubernetes\n"
     "environments run. --verbose shows docker build's output. docs/images.md.\n",
     false},
    {"up", shimctl_cmd_up, "validate the stack file and start the stack",
     "usage: shimctl up [-f FILE] [--bin-dir DIR] [--timeout S]\n"
     "Validates the stack file (every problem as FILE:LINE: reason; nothing starts\n"
     "if there is one), writes the state, starts the supervisor (detached), which\n"
     "starts the router and every replica, waits until each replica answers\n"
     "SERVING, gives the router its sets and prints the address clients call.\n"
     "On a stack whose supervisor died, starts a new one from the state.\n"
     "On a running stack, applies the file's changes: another implementation\n"
     "(as shimctl swap does), another replica count (as shimctl scale does);\n"
     "services added or removed need down, then up.\n"
     "environment: kubernetes: writes a Deployment + Service per set and the\n"
     "router's, kubectl apply -f on them, then deletes sets of an earlier up\n"
     "that are no longer in the stack file (docs/environments.md).\n",
     false},
    {"status", shimctl_cmd_status, "sets, replicas, health and load",
     "usage: shimctl status [-f FILE]\n"
     "Every set (implementation, weight, policy, replicas running/wanted) and\n"
     "replica (address, id, restarts; from the router: SERVING, outstanding\n"
     "calls, calls, failures).\n",
     false},
    {"scale", shimctl_cmd_scale, "change the replica count of a service",
     "usage: shimctl scale SERVICE N [-f FILE] [--timeout S]\n"
     "Up: new replicas start, become SERVING, then join the set in the router.\n"
     "Down: the router stops sending to the last replicas, then they drain and stop.\n"
     "environment: kubernetes: renders the service's Deployment again with N\n"
     "replicas and runs kubectl apply on it (docs/environments.md).\n",
     false},
    {"swap", shimctl_cmd_swap, "replace a service's implementation with no failed call",
     "usage: shimctl swap SERVICE --to IMPL [--canary W1,W2,...] [--step-ms MS]\n"
     "                    [--port P] [--timeout S] [-f FILE]\n"
     "Starts a set of IMPL (as many replicas, flags from the stack file's config\n"
     "and implementations.IMPL), waits until every replica is SERVING, adds it\n"
     "to the router with weight 0, then:\n"
     "  stateless: moves traffic at once, or by the canary percentages (new set\n"
     "    W%, old 100-W%, --step-ms apart, default 1000);\n"
     "  stateful (model_repository, feature_store): holds the service's new calls\n"
     "    in the router, waits for the old set's calls to finish, copies the state\n"
     "    with Export (old) -> Import (new), moves all traffic, releases the hold;\n"
     "then waits until the old set has no call left, removes it from the router\n"
     "and stops its replicas (they drain). Any failure before traffic moved\n"
     "removes the new set and leaves the old one serving.\n",
     false},
    {"down", shimctl_cmd_down, "stop the stack and remove its state",
     "usage: shimctl down [-f FILE] [--keep-logs]\n"
     "Stops every replica and the router (each drains first) and the supervisor,\n"
     "then removes the stack's state directory (--keep-logs keeps logs/).\n"
     "environment: kubernetes: kubectl delete of the stack's Deployments and\n"
     "Services (by label), then removes its manifests (docs/environments.md).\n",
     false},
    {"logs", shimctl_cmd_logs, "a replica's output",
     "usage: shimctl logs SERVICE|SET|router|supervisor [--replica I] [--follow] [-f FILE]\n"
     "Prints the log of replica I (default 0) of the service's active set (or of\n"
     "the set named), of the router or of the supervisor; --follow keeps printing\n"
     "until interrupted. Logs are files in the state directory, logs/<set>-<i>.log,\n"
     "kept across restarts; in the docker environment the file keeps the output of\n"
     "the replica's containers that ended (each between a start and an end line),\n"
     "and logs prints it, then the live container's output (docker logs).\n",
     false},
    {"supervise", shimctl_cmd_supervise, "(internal) the supervisor process",
     "usage: shimctl supervise --dir STATE_DIR\n"
     "The supervisor shimctl up starts; not meant to be run by hand.\n",
     true},
    {NULL, NULL, NULL, NULL, false},
};
