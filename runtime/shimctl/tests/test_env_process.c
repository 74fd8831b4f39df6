/*
 * test_env_process.c - the process environment's idea of "alive": a
 * process whose main thread has ended while another thread still runs
 * shows as a zombie in /proc, yet still holds its files and its listening
 * socket; it must count as alive until the last thread is gone, or a
 * replica restarted on its port cannot listen (and down and scale return
 * with the port still taken). The same program is the child: with
 * --zombie-leader it listens on a port, writes it to stdout (the log file),
 * and ends its main thread while a second thread goes on for at most 60 s.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "shimctl.h"

static char g_self[4096];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *linger(void *arg) {
  (void)arg;
  sleep(60);
  return NULL;
}

static int zombie_leader_main(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    return 1;
  }
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  pthread_t t;
  if (pthread_create(&t, NULL, linger, NULL) != 0) {
    return 1;
  }
  pthread_exit(NULL); /* the process goes on in linger() */
}

static char proc_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return '?';
  }
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  return p != NULL && p[1] == ' ' ? p[2] : '?';
}

static void zombie_leader_is_alive_until_its_last_thread_ends(void **state) {
  (void)state;
  char dir[] = "/tmp/test_shimctl_env.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char log_path[128];
  snprintf(log_path, sizeof log_path, "%s/child.log", dir);
  const char *args[] = {"--zombie-leader", NULL};
  shimctl_replica_spec spec = {0};
  spec.stack = "t";
  spec.service = "echo";
  spec.set = "echo-t";
  spec.program = "test_shimctl_env_process";
  spec.program_path = g_self;
  spec.args = args;
  spec.host = "127.0.0.1";
  spec.port = 1; /* --listen is ignored by the child */
  spec.log_path = log_path;
  char id[128], err[256];
  assert_int_equal(shimctl_env_process.start(&spec, id, sizeof id, err, sizeof err), 0);
  pid_t pid = (pid_t)atoi(id);

  int port = 0;
  char st = '?';
  for (int waited = 0; waited < 10000 && (port == 0 || st != 'Z'); waited += 10) {
    FILE *f = fopen(log_path, "r");
    if (f != NULL) {
      if (fscanf(f, "port %d", &port) != 1) {
        port = 0;
      }
      fclose(f);
    }
    st = proc_state(pid);
    sleep_ms(10);
  }
  assert_int_not_equal(port, 0);
  assert_int_equal(st, 'Z'); /* the main thread ended: a zombie in /proc */

  /* Its other thread runs and holds the socket: alive. */
  assert_false(shimctl_port_free(port));
  assert_int_equal(shimctl_env_process.alive(id), 1);

  /* stop: SIGTERM ends it; it returns once the port is free. */
  assert_int_equal(shimctl_env_process.stop(id, 1000), 0);
  assert_int_equal(shimctl_env_process.alive(id), 0);
  assert_true(shimctl_port_free(port));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  assert_int_equal(shimctl_env_process.alive(id), 0);
  unlink(log_path);
  rmdir(dir);
}

/* An id that is not "pid@start" names no process: 0 (gone), not -1 (unknown: the supervisor would
 * leave its replica as it is for ever, and down would fail on it for ever). */
static void malformed_id_is_gone(void **unused) {
  (void)unused;
  assert_int_equal(shimctl_env_process.alive("shimkit-ml-echo-builtin-0"), 0);
  assert_int_equal(shimctl_env_process.alive("12345"), 0);
  assert_int_equal(shimctl_env_process.alive(""), 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--zombie-leader") == 0) {
    return zombie_leader_main();
  }
  ssize_t n = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
  if (n <= 0) {
    return 1;
  }
  g_self[n] = '\0';
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(zombie_leader_is_alive_until_its_last_thread_ends),
      cmocka_unit_test(malformed_id_is_gone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
