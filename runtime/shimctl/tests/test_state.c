/*
 * test_state.c - the state file: what is written reads back the same
 * (names with spaces, '%', "-" and empty arguments included); a missing
 * file reads as "no state"; malformed lines and corrupted bytes are
 * refused without a crash; update() changes only what its function changed;
 * a state from before replica_sockets reads as replicas on loopback ports.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sockets.h"
#include "state.h"

static char g_dir[256];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/test_shimctl_state.XXXXXX");
  return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char path[400];
  const char *files[] = {"state", "state.lock", "state.tmp"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
    unlink(path);
  }
  rmdir(g_dir);
  return 0;
}

static void fill(shimctl_state *st) {
  snprintf(st->stack, sizeof st->stack, "ml");
  snprintf(st->environment, sizeof st->environment, "process");
  snprintf(st->base_dir, sizeof st->base_dir, "/tmp/a dir/with%%percent");
  snprintf(st->router_program, sizeof st->router_program, "/bin/shimkit_router");
  snprintf(st->router_listen, sizeof st->router_listen, "127.0.0.1:50100");
  snprintf(st->router_id, sizeof st->router_id, "123@456");
  st->router_restarts = 2;
  st->n_sets = 2;
  shimctl_set *s = &st->sets[0];
  snprintf(s->name, sizeof s->name, "feature_store-sqlite");
  snprintf(s->kind, sizeof s->kind, "feature_store");
  snprintf(s->impl, sizeof s->impl, "sqlite");
  snprintf(s->program, sizeof s->program, "/bin/feature_store_shim");
  s->policy = 2;
  snprintf(s->hash_field, sizeof s->hash_field, "entity_keys");
  s->weight = 100;
  s->drain_grace_ms = 1500;
  s->replicas = 2;
  s->n_args = 4;
  snprintf(s->args[0], SHIMCTL_STR, "--db");
  snprintf(s->args[1], SHIMCTL_STR, "my db.sqlite");
  snprintf(s->args[2], SHIMCTL_STR, "-");
  snprintf(s->args[3], SHIMCTL_STR, "%s", "");
  s->n_rep = 3;
  for (int i = 0; i < 3; i++) {
    s->rep[i].index = i;
    s->rep[i].port = 50110 + i;
    snprintf(s->rep[i].id, SHIMCTL_STR, "%d@99", 1000 + i);
    s->rep[i].restarts = i;
    s->rep[i].started_ms = 1795629287059LL + i;
  }
  snprintf(s->rep[2].last_exit, SHIMCTL_STR, "killed by signal 9");
  shimctl_set *t = &st->sets[1];
  snprintf(t->name, sizeof t->name, "feature_store-redis");
  snprintf(t->kind, sizeof t->kind, "feature_store");
  t->retiring = true;
  t->replicas = 1;
  st->replica_sockets = SHIMCTL_SOCKETS_UNIX; /* a replica on a unix socket: no port, its address */
  t->n_rep = 1;
  snprintf(t->rep[0].addr, sizeof t->rep[0].addr, "unix:/tmp/s/sockets/feature_store-redis-0.sock");
}

static void test_round_trip(void **state) {
  (void)state;
  shimctl_state *a = shimctl_state_new(), *b = shimctl_state_new();
  fill(a);
  assert_int_equal(shimctl_state_write(g_dir, a), 0);
  assert_int_equal(shimctl_state_read(g_dir, b), 0);
  assert_memory_equal(a, b, sizeof *a);
  assert_ptr_equal(shimctl_state_find_set(b, "feature_store-redis"), &b->sets[1]);
  assert_null(shimctl_state_find_set(b, "nope"));
  /* the retiring set does not count as active */
  assert_ptr_equal(shimctl_state_active_set(b, "feature_store"), &b->sets[0]);
  assert_ptr_equal(shimctl_set_replica(&b->sets[0], 2), &b->sets[0].rep[2]);
  assert_null(shimctl_set_replica(&b->sets[0], 3));
  free(a);
  free(b);
}

static void test_missing(void **state) {
  (void)state;
  shimctl_state *st = shimctl_state_new();
  assert_int_equal(shimctl_state_read(g_dir, st), 1);
  free(st);
}

static void write_text(const char *text, size_t len) {
  char path[400];
  snprintf(path, sizeof path, "%s/state", g_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fwrite(text, 1, len, f);
  fclose(f);
}

static void test_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "shimctl-state 2\n",
      "stack\n",
      "bogus line\n",
      "router a b\n",
      "set x\n",
      "arg before-any-set\n",
      "replica 0 1 2 3 4 5\n",
      "replica_sockets udp\n",
      "replica_sockets\n",
  };
  shimctl_state *st = shimctl_state_new();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_text(bad[i], strlen(bad[i]));
    assert_int_equal(shimctl_state_read(g_dir, st), -1);
  }
  /* A good file cut anywhere or with bytes changed: never a crash. */
  shimctl_state *good = shimctl_state_new();
  fill(good);
  assert_int_equal(shimctl_state_write(g_dir, good), 0);
  char path[400];
  snprintf(path, sizeof path, "%s/state", g_dir);
  FILE *f = fopen(path, "r");
  char text[8192];
  size_t len = fread(text, 1, sizeof text, f);
  fclose(f);
  for (size_t cut = 0; cut < len; cut += 3) {
    write_text(text, cut);
    int rc = shimctl_state_read(g_dir, st);
    assert_true(rc == 0 || rc == -1);
  }
  uint32_t seed = 7;
  static const char junk[] = {' ', '%', '\n', '-', '0', '\xff', '\0', 'x'};
  for (int round = 0; round < 500; round++) {
    char copy[8192];
    memcpy(copy, text, len);
    seed = seed * 1103515245u + 12345u;
    copy[(seed >> 8) % len] = junk[(seed >> 4) % sizeof junk];
    write_text(copy, len);
    int rc = shimctl_state_read(g_dir, st);
    assert_true(rc == 0 || rc == -1);
  }
  free(good);
  free(st);
}

/* A state written before replica_sockets (no such line, 7-field replica
 * lines): replicas on loopback ports, reached as 127.0.0.1:PORT. */
static void test_older_state(void **state) {
  (void)state;
  static const char text[] = "shimctl-state 1\nstack ml\nenvironment process\nbase_dir /tmp\nstack_file /tmp/s.yaml\n"
                             "router /bin/r 127.0.0.1:50100 - 1@2 0\n"
                             "set echo-builtin echo builtin /bin/echo_shim 0 - - 100 500 1 0\n"
                             "replica 0 50110 3@4 0 1795629287059 -\n";
  write_text(text, strlen(text));
  shimctl_state *st = shimctl_state_new();
  assert_int_equal(shimctl_state_read(g_dir, st), 0);
  assert_int_equal(st->replica_sockets, SHIMCTL_SOCKETS_TCP);
  assert_int_equal(st->sets[0].n_rep, 1);
  const shimctl_replica *rep = &st->sets[0].rep[0];
  assert_string_equal(rep->addr, "");
  assert_false(shimctl_replica_is_unix(rep));
  char addr[SHIMCTL_ADDR];
  shimctl_replica_addr(rep, addr, sizeof addr);
  assert_string_equal(addr, "127.0.0.1:50110");
  free(st);
}

static int bump(shimctl_state *st, void *arg) {
  (void)arg;
  st->router_restarts++;
  return 1;
}

static int no_change(shimctl_state *st, void *arg) {
  (void)st;
  (void)arg;
  return 0;
}

static void test_update(void **state) {
  (void)state;
  shimctl_state *st = shimctl_state_new();
  fill(st);
  assert_int_equal(shimctl_state_write(g_dir, st), 0);
  assert_int_equal(shimctl_state_update(g_dir, bump, NULL), 1);
  assert_int_equal(shimctl_state_update(g_dir, no_change, NULL), 0);
  assert_int_equal(shimctl_state_read(g_dir, st), 0);
  assert_int_equal(st->router_restarts, 3);
  assert_int_equal(st->n_sets, 2);
  free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_update, setup, teardown),
      cmocka_unit_test_setup_teardown(test_older_state, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
