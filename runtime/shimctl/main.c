/*
 * main.c - shimctl: runs sets of shim replicas behind shimkit_router from a
 * stack file (issue 5). Parses the options every command shares, then runs
 * the command from the table in commands.c. See docs/shimctl.md.
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "shimctl.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: shimctl [-f FILE] [--bin-dir DIR] [--timeout S] COMMAND [ARGS]\n"
          "Runs a stack of shims (sets of replicas behind shimkit_router) from a stack file.\n\n");
  for (const shimctl_command *c = shimctl_commands; c->name != NULL; c++) {
    if (!c->hidden) {
      fprintf(out, "  %-8s %s\n", c->name, c->summary);
    }
  }
  fprintf(out,
          "\noptions of every command:\n"
          "  -f, --file FILE   the stack file (default ./stack.yaml, or $SHIMCTL_FILE)\n"
          "  --bin-dir DIR     where the shim programs and shimkit_router are (or $SHIMCTL_BIN_DIR;\n"
          "                    default: next to shimctl, then the build tree it was built in)\n"
          "  --timeout S       longest wait for a replica to be SERVING or to drain (default 60)\n"
          "\nshimctl COMMAND --help tells more. Exit status: 0 done, 1 failed, 2 bad usage or stack file.\n");
}

int main(int argc, char **argv) {
  shimctl_opts o = {0};
  o.file = getenv("SHIMCTL_FILE") != NULL ? getenv("SHIMCTL_FILE") : "stack.yaml";
  o.bin_dir = getenv("SHIMCTL_BIN_DIR");
  o.timeout_ms = 60000;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (rest == NULL) {
    return SHIMCTL_EXIT_FAIL;
  }
  int n = 0;
  bool help = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && i + 1 < argc) {
      o.file = argv[++i];
    } else if (strcmp(a, "--bin-dir") == 0 && i + 1 < argc) {
      o.bin_dir = argv[++i];
    } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
      o.timeout_ms = atoi(argv[++i]) * 1000;
      if (o.timeout_ms <= 0) {
        fprintf(stderr, "shimctl: --timeout needs a number of seconds > 0\n");
        free(rest);
        return SHIMCTL_EXIT_USAGE;
      }
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      help = true;
    } else {
      rest[n++] = argv[i];
    }
  }
  rest[n] = NULL;
  if (n == 0) {
    usage(help ? stdout : stderr);
    free(rest);
    return help ? SHIMCTL_EXIT_OK : SHIMCTL_EXIT_USAGE;
  }
  const shimctl_command *cmd = NULL;
  for (const shimctl_command *c = shimctl_commands; c->name != NULL; c++) {
    if (strcmp(c->name, rest[0]) == 0) {
      cmd = c;
    }
  }
  if (cmd == NULL) {
    fprintf(stderr, "shimctl: unknown command '%s'\n\n", rest[0]);
    usage(stderr);
    free(rest);
    return SHIMCTL_EXIT_USAGE;
  }
  if (help) {
    fputs(cmd->help, stdout);
    free(rest);
    return SHIMCTL_EXIT_OK;
  }
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(cmd->name, "supervise") != 0) {
    shimkit_log_set_level(SHIMKIT_LOG_WARN);
  }
  o.command = cmd->name;
  int rc = cmd->fn(&o, n, rest);
  free(rest);
  return rc;
}
