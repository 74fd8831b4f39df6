/*
 * env_tool.c - drives one environment of env.h (docker) from the command
 * line, for e2e.images: start a replica, ask if it is alive, stop it, show
 * its logs, without the rest of shimctl.
 *
 *   shimctl_env_tool start ENV STACK SERVICE SET INDEX IMAGE PORT GRACE_MS [SHIM ARGS...]
 *   shimctl_env_tool alive ENV ID      prints 1, 0 or -1
 *   shimctl_env_tool stop ENV ID GRACE_MS
 *   shimctl_env_tool logs ENV ID
 *
 * $SHIMCTL_ENV_TOOL_LOG, when set, is the replica's log file (spec.log_path):
 * docker keeps the container's output there when stop removes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

static const shimctl_env *env_named(const char *name) {
  if (strcmp(name, "docker") == 0) return &shimctl_env_docker;
  fprintf(stderr, "shimctl_env_tool: unknown environment %s\n", name);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc >= 10 && strcmp(argv[1], "start") == 0) {
    shimctl_replica_spec spec = {
        .stack = argv[3],
        .service = argv[4],
        .set = argv[5],
        .index = atoi(argv[6]),
        .image = argv[7],
        .port = atoi(argv[8]),
        .drain_grace_ms = atoi(argv[9]),
        .host = "127.0.0.1",
        .args = (const char *const *)(argv + 10),
        .log_path = getenv("SHIMCTL_ENV_TOOL_LOG"),
    };
    char id[256], err[1024];
    if (env_named(argv[2])->start(&spec, id, sizeof id, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl_env_tool: %s\n", err);
      return 1;
    }
    printf("%s\n", id);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "alive") == 0) {
    printf("%d\n", env_named(argv[2])->alive(argv[3]));
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "stop") == 0) return env_named(argv[2])->stop(argv[3], atoi(argv[4])) == 0 ? 0 : 1;
  if (argc == 4 && strcmp(argv[1], "logs") == 0) return env_named(argv[2])->logs(argv[3], false, stdout) == 0 ? 0 : 1;
  fprintf(stderr, "usage: shimctl_env_tool start|alive|stop|logs ENV ...\n");
  return 2;
}
