/*
 * test_sockets.c - replica addresses on unix sockets (sockets.h): the
 * names, the router's rule for a unix: path (1..107 bytes of
 * [A-Za-z0-9._/+~@=,-]) at its edges, the longest path a kind can get, and
 * the clearing before a start: the socket folder made, a socket file a
 * killed replica left removed, any other file left alone.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockets.h"

static char g_dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/test_shimctl_sockets.XXXXXX");
  return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/sockets/file", g_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/sockets/echo-builtin-0.sock", g_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/sockets", g_dir);
  rmdir(path);
  rmdir(g_dir);
  return 0;
}

/* A path of n bytes: "/" and then 'a's. */
static void path_of(char *buf, size_t n) {
  buf[0] = '/';
  memset(buf + 1, 'a', n - 1);
  buf[n] = '\0';
}

static void test_path_rule(void **state) {
  (void)state;
  char p[200];
  path_of(p, 107);
  assert_true(shimctl_socket_path_ok(p));
  path_of(p, 108);
  assert_false(shimctl_socket_path_ok(p));
  assert_false(shimctl_socket_path_ok(""));
  assert_false(shimctl_socket_path_ok(NULL));
  assert_true(shimctl_socket_path_ok("/tmp/A-z_0.9+~@=,/x.sock"));
  assert_false(shimctl_socket_path_ok("/tmp/a b.sock"));
  assert_false(shimctl_socket_path_ok("/tmp/q\"uote.sock"));
  assert_false(shimctl_socket_path_ok("/tmp/n\nl.sock"));
}

static void test_names(void **state) {
  (void)state;
  char addr[SHIMCTL_ADDR];
  assert_int_equal(shimctl_socket_addr("/run/s/demo", "echo-builtin", 3, addr, sizeof addr), 0);
  assert_string_equal(addr, "unix:/run/s/demo/sockets/echo-builtin-3.sock");
  /* the longest echo path (a "-NN" set suffix, replica NN) is what shimctl_socket_longest says */
  assert_int_equal(shimctl_socket_addr("/run/s/demo", "echo-builtin-32", 31, addr, sizeof addr), 0);
  assert_int_equal(strlen(addr) - strlen("unix:"),
                   shimctl_socket_longest("/run/s/demo", shimctl_kind_find("echo")));
  /* its longest implementation counts: model_repository-postgres */
  assert_int_equal(shimctl_socket_longest("/d", shimctl_kind_find("model_repository")),
                   strlen("/d/sockets/model_repository-postgres-NN-NN.sock"));
  /* too long, a bad character, too small a buffer: -1 and "" */
  char deep[120];
  path_of(deep, 90);
  assert_int_equal(shimctl_socket_addr(deep, "echo-builtin", 0, addr, sizeof addr), -1);
  assert_string_equal(addr, "");
  assert_int_equal(shimctl_socket_addr("/tmp/a b", "echo-builtin", 0, addr, sizeof addr), -1);
  assert_int_equal(shimctl_socket_addr("/tmp", "echo-builtin", 0, addr, 10), -1);
  assert_string_equal(addr, "");
}

static void test_replica_addr(void **state) {
  (void)state;
  shimctl_replica rep;
  memset(&rep, 0, sizeof rep);
  rep.port = 50110;
  char addr[SHIMCTL_ADDR];
  shimctl_replica_addr(&rep, addr, sizeof addr);
  assert_string_equal(addr, "127.0.0.1:50110");
  assert_false(shimctl_replica_is_unix(&rep));
  rep.port = 0;
  snprintf(rep.addr, sizeof rep.addr, "unix:/tmp/x/sockets/echo-builtin-0.sock");
  shimctl_replica_addr(&rep, addr, sizeof addr);
  assert_string_equal(addr, "unix:/tmp/x/sockets/echo-builtin-0.sock");
  assert_true(shimctl_replica_is_unix(&rep));
}

/* Binds a unix socket at path and closes it: the file stays, as after a SIGKILL. */
static void leave_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
  assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
  close(fd);
}

static void test_prepare(void **state) {
  (void)state;
  char addr[SHIMCTL_ADDR], err[256] = "", path[256];
  assert_int_equal(shimctl_socket_addr(g_dir, "echo-builtin", 0, addr, sizeof addr), 0);
  const char *sock = addr + strlen("unix:");
  /* the folder is made, private */
  assert_int_equal(shimctl_socket_prepare(addr, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/sockets", g_dir);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(sb.st_mode & 0777, 0700);
  /* a socket left behind is removed, again and again */
  for (int i = 0; i < 2; i++) {
    leave_socket(sock);
    assert_int_equal(lstat(sock, &sb), 0);
    assert_int_equal(shimctl_socket_prepare(addr, err, sizeof err), 0);
    assert_int_equal(lstat(sock, &sb), -1);
  }
  /* any other file is not ours to remove */
  char file_addr[SHIMCTL_ADDR];
  snprintf(file_addr, sizeof file_addr, "unix:%s/sockets/file", g_dir);
  FILE *f = fopen(file_addr + strlen("unix:"), "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(shimctl_socket_prepare(file_addr, err, sizeof err), 0);
  shimctl_socket_remove(file_addr);
  assert_int_equal(lstat(file_addr + strlen("unix:"), &sb), 0);
  /* remove: the socket goes; loopback addresses are nothing to do */
  leave_socket(sock);
  shimctl_socket_remove(addr);
  assert_int_equal(lstat(sock, &sb), -1);
  assert_int_equal(shimctl_socket_prepare("127.0.0.1:1", err, sizeof err), 0);
  shimctl_socket_remove("127.0.0.1:1");
  /* a folder that cannot be made: the reason */
  assert_int_equal(shimctl_socket_prepare("unix:/nonexistent/deeper/x.sock", err, sizeof err), -1);
  assert_non_null(strstr(err, "cannot create /nonexistent/deeper"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_rule),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_replica_addr),
      cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
