/*
 * test_supervise.c - the supervisor's pass (supervise.c) with a fake
 * environment that names its replicas as docker does ("fake-<set>-<index>":
 * a replacement has the id of the replica it replaces).
 *
 *   - alive -1 (the environment cannot tell, e.g. docker inspect failed):
 *     the replica is left as it is -- no ended step, no replacement, no
 *     stop, not forgotten -- and acted on once alive says 0 again.
 *   - ended on a thread: while one dead replica's ended step is held
 *     (a gate the test opens), another dead replica is restarted, and the
 *     held one's slot is not started again until its step is done; then it
 *     is, with how it ended. No timing: passes are repeated until the
 *     expected state shows (bounded only against a hang).
 */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "state.h"
#include "supervise.h"

#define MAX_FAKE 16

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;

static struct {
  char id[SHIMCTL_STR];
  int alive;   /* what alive answers */
  int starts;  /* start calls that made this id */
  int ended;   /* ended calls for it */
  int stops;   /* stop calls for it */
} g_fake[MAX_FAKE];
static int g_n_fake;
static char g_held[SHIMCTL_STR]; /* ended of this id waits until g_open */
static bool g_open;

static int fake_find(const char *id) { /* under g_lock */
  for (int i = 0; i < g_n_fake; i++) {
    if (strcmp(g_fake[i].id, id) == 0) {
      return i;
    }
  }
  assert_true(g_n_fake < MAX_FAKE);
  memset(&g_fake[g_n_fake], 0, sizeof g_fake[g_n_fake]);
  snprintf(g_fake[g_n_fake].id, sizeof g_fake[g_n_fake].id, "%s", id);
  return g_n_fake++;
}

static void fake_set_alive(const char *id, int alive) {
  pthread_mutex_lock(&g_lock);
  g_fake[fake_find(id)].alive = alive;
  pthread_mutex_unlock(&g_lock);
}

static int fake_count(const char *id, char what) {
  pthread_mutex_lock(&g_lock);
  int i = fake_find(id);
  int n = what == 's' ? g_fake[i].starts : what == 'e' ? g_fake[i].ended : g_fake[i].stops;
  pthread_mutex_unlock(&g_lock);
  return n;
}

static int fake_start(const shimctl_replica_spec *spec, char *id, size_t id_len, char *err, size_t err_len) {
  (void)err;
  (void)err_len;
  snprintf(id, id_len, "fake-%s-%d", spec->set, spec->index);
  pthread_mutex_lock(&g_lock);
  int i = fake_find(id);
  g_fake[i].starts++;
  g_fake[i].alive = 1;
  pthread_mutex_unlock(&g_lock);
  return 0;
}

static int fake_stop(const char *id, int grace_ms) {
  (void)grace_ms;
  pthread_mutex_lock(&g_lock);
  int i = fake_find(id);
  g_fake[i].stops++;
  g_fake[i].alive = 0;
  pthread_mutex_unlock(&g_lock);
  return 0;
}

static int fake_alive(const char *id) {
  pthread_mutex_lock(&g_lock);
  int a = g_fake[fake_find(id)].alive;
  pthread_mutex_unlock(&g_lock);
  return a;
}

static int fake_ended(const char *id, char *how, size_t how_len) {
  pthread_mutex_lock(&g_lock);
  while (strcmp(id, g_held) == 0 && !g_open) {
    pthread_cond_wait(&g_cond, &g_lock);
  }
  g_fake[fake_find(id)].ended++;
  pthread_mutex_unlock(&g_lock);
  snprintf(how, how_len, "exit code 137 (killed by signal 9)");
  return 0;
}

static const shimctl_env g_env = {
    .name = "fake", .start = fake_start, .stop = fake_stop, .alive = fake_alive, .ended = fake_ended};
static const shimctl_env g_router_env = {
    .name = "fake-router", .start = fake_start, .stop = fake_stop, .alive = fake_alive};

static char g_dir[] = "/tmp/shimctl-supervise-XXXXXX";

/* A state with set `name` of n wanted replicas, each started earlier (ids as fake_start makes them). */
static shimctl_state *state_with(const char *name, int n) {
  shimctl_state *st = shimctl_state_new();
  assert_non_null(st);
  snprintf(st->stack, sizeof st->stack, "t");
  snprintf(st->router_id, sizeof st->router_id, "fake-router");
  fake_set_alive("fake-router", 1);
  st->n_sets = 1;
  shimctl_set *set = &st->sets[0];
  snprintf(set->name, sizeof set->name, "%s", name);
  snprintf(set->kind, sizeof set->kind, "feature_store");
  snprintf(set->impl, sizeof set->impl, "sqlite");
  snprintf(set->program, sizeof set->program, "/nonexistent/feature_store_shim");
  set->replicas = n;
  set->n_rep = n;
  for (int r = 0; r < n; r++) {
    set->rep[r].index = r;
    set->rep[r].port = 20000 + r;
    snprintf(set->rep[r].id, sizeof set->rep[r].id, "fake-%s-%d", name, r);
    fake_set_alive(set->rep[r].id, 1);
  }
  return st;
}

/* Passes until done(st) or a bound against a hang (not a timing check). */
static void pass_until(shimctl_state *st, bool (*done)(const shimctl_state *st)) {
  for (int i = 0; i < 20000 && !done(st); i++) {
    shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env);
    shimctl_sleep_ms(1);
  }
  assert_true(done(st));
}

static bool u_restarted(const shimctl_state *st) { return st->sets[0].rep[0].restarts == 1 && st->sets[0].rep[0].id[0]; }

static void unknown_is_left_alone(void **unused) {
  (void)unused;
  shimctl_state *st = state_with("u", 1);
  const char *id = "fake-u-0";
  fake_set_alive(id, -1);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env), 0);
  }
  assert_string_equal(st->sets[0].rep[0].id, id);
  assert_int_equal(st->sets[0].n_rep, 1);
  assert_int_equal(fake_count(id, 'e'), 0);
  assert_int_equal(fake_count(id, 's'), 0);
  assert_int_equal(fake_count(id, 't'), 0);

  /* Not wanted any more (scaled to 0), still unknown: not stopped, not forgotten. */
  st->sets[0].replicas = 0;
  shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env);
  assert_int_equal(fake_count(id, 't'), 0);
  assert_int_equal(st->sets[0].n_rep, 1);
  st->sets[0].replicas = 1;

  /* Known dead again: ended, then started again. */
  fake_set_alive(id, 0);
  pass_until(st, u_restarted);
  assert_int_equal(fake_count(id, 'e'), 1);
  assert_int_equal(fake_count(id, 's'), 1);
  free(st);
}

static bool h1_restarted(const shimctl_state *st) { return st->sets[0].rep[1].restarts == 1 && st->sets[0].rep[1].id[0]; }

static bool h0_restarted(const shimctl_state *st) { return st->sets[0].rep[0].restarts == 1 && st->sets[0].rep[0].id[0]; }

static void ended_runs_aside(void **unused) {
  (void)unused;
  shimctl_state *st = state_with("h", 2);
  pthread_mutex_lock(&g_lock);
  snprintf(g_held, sizeof g_held, "fake-h-0");
  g_open = false;
  pthread_mutex_unlock(&g_lock);
  fake_set_alive("fake-h-0", 0);
  fake_set_alive("fake-h-1", 0);

  /* h/1 is restarted while h/0's ended step is held. */
  pass_until(st, h1_restarted);
  assert_int_equal(fake_count("fake-h-1", 'e'), 1);
  assert_int_equal(fake_count("fake-h-1", 's'), 1);
  assert_string_equal(st->sets[0].rep[1].last_exit, "exit code 137 (killed by signal 9)");
  /* h/0 waits: same id as its replacement would have. */
  for (int i = 0; i < 5; i++) {
    shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env);
  }
  assert_string_equal(st->sets[0].rep[0].id, "fake-h-0");
  assert_int_equal(st->sets[0].rep[0].restarts, 0);
  assert_int_equal(fake_count("fake-h-0", 's'), 0);
  assert_int_equal(fake_count("fake-h-0", 'e'), 0);

  pthread_mutex_lock(&g_lock);
  g_open = true;
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_lock);
  pass_until(st, h0_restarted);
  assert_int_equal(fake_count("fake-h-0", 'e'), 1);
  assert_int_equal(fake_count("fake-h-0", 's'), 1);
  assert_string_equal(st->sets[0].rep[0].last_exit, "exit code 137 (killed by signal 9)");
  free(st);
}

static bool r0_restarted(const shimctl_state *st) { return st->sets[0].rep[0].restarts == 1 && st->sets[0].rep[0].id[0]; }

static bool r0_step_done(const shimctl_state *st) {
  (void)st;
  return fake_count("fake-r-0", 'e') == 1;
}

/* An ended step's result is of the death it was started for: the container seen running again
 * meanwhile (docker start), its next death gets an ended step of its own, not the stale result. */
static void stale_result_is_dropped(void **unused) {
  (void)unused;
  shimctl_state *st = state_with("r", 1);
  const char *id = "fake-r-0";
  pthread_mutex_lock(&g_lock);
  snprintf(g_held, sizeof g_held, "%s", id);
  g_open = false;
  pthread_mutex_unlock(&g_lock);
  fake_set_alive(id, 0);
  shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env); /* its ended step starts, held */
  fake_set_alive(id, 1);                                    /* running again */
  pthread_mutex_lock(&g_lock);
  g_open = true;
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_lock);
  pass_until(st, r0_step_done);
  for (int i = 0; i < 3; i++) {
    shimctl_supervise_pass(st, g_dir, &g_env, &g_router_env); /* seen running: nothing to do */
  }
  assert_int_equal(st->sets[0].rep[0].restarts, 0);
  fake_set_alive(id, 0); /* dies again: a step of its own first */
  pass_until(st, r0_restarted);
  assert_int_equal(fake_count(id, 'e'), 2);
  free(st);
}

int main(void) {
  if (mkdtemp(g_dir) == NULL) {
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unknown_is_left_alone),
      cmocka_unit_test(ended_runs_aside),
      cmocka_unit_test(stale_result_is_dropped),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rmdir(g_dir);
  return rc;
}
