/*
 * test_router_pick.c - how a set picks a replica (router_pick, backends.c)
 * and keeps its round-robin turn across snapshots (router_config_replace,
 * sets.c). Written because two behaviours had no test, so a mutation of
 * either passed the suite: a borrow (borrow.c: the router's own reflection
 * lookups) takes no round-robin turn and is no forwarded call, and a new
 * snapshot of a set continues its rotation instead of restarting at replica
 * 0. Also: round robin skipping unhealthy and tried replicas,
 * least_outstanding, the hash policy's rendezvous property and
 * router_release's failure count.
 *
 * Replicas come from router_backend_new (a lazy channel: nothing connects
 * until a call) and the test sets their health itself. The snapshot test
 * goes through router_config_replace: its new replicas' first health watch
 * fails at once on loopback ports bound but not listening, then the test
 * stops those watches (as router_stop does) so that the health it sets stays.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

#include "closed_port.h"
#include "router.h"

#define MAX_REPLICAS 8

/* A set built by hand (no snapshot) over n replicas, all healthy. */
typedef struct fixture {
  router r;
  router_set set;
  router_backend *b[MAX_REPLICAS];
  int n;
} fixture;

static void set_health(router_backend *b, bool healthy) {
  atomic_store(&b->known, true);
  atomic_store(&b->healthy, healthy);
}

static fixture *make_set(int n, router_policy policy) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  router_init(&f->r);
  f->n = n;
  f->set.spec.policy = policy;
  f->set.backends = f->b;
  f->set.n_backends = n;
  atomic_init(&f->set.next, 0);
  for (int i = 0; i < n; i++) {
    char address[32];
    snprintf(address, sizeof address, "127.0.0.1:%d", 50001 + i);
    f->b[i] = router_backend_new(&f->r, "pick", address);
    assert_non_null(f->b[i]);
    set_health(f->b[i], true);
  }
  return f;
}

static void free_set(fixture *f) {
  for (int i = 0; i < f->n; i++) {
    router_backend_unref(f->b[i]);
  }
  router_stop(&f->r);
  free(f);
}

/* The index of b in the set, or -1 (b NULL or not one of its replicas). */
static int index_of(const router_set *s, const router_backend *b) {
  for (int i = 0; i < s->n_backends; i++) {
    if (s->backends[i] == b) {
      return i;
    }
  }
  return -1;
}

static int pick_index(router_set *s, router_backend *const *tried, int n_tried) {
  return index_of(s, router_pick(s, tried, n_tried, false, NULL, 0));
}

static void test_round_robin_rotates(void **state) {
  (void)state;
  fixture *f = make_set(3, ROUTER_ROUND_ROBIN);
  for (int i = 0; i < 9; i++) {
    assert_int_equal(pick_index(&f->set, NULL, 0), i % 3);
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&f->b[i]->calls), 3);
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 3);
    for (int k = 0; k < 3; k++) {
      router_release(f->b[i], SHIMKIT_OK);
    }
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 0);
  }
  free_set(f);
}

/*
 * Borrows between the ordinary picks leave the rotation strict, 0 to 3 at a
 * time (borrows that took turns would go unseen if their number were always
 * a multiple of the set's size); calls counts only the ordinary picks; a
 * borrow is outstanding until given back. Run for round_robin and for hash
 * without a key (which picks as round robin).
 */
static void borrows_take_no_turn(router_policy policy) {
  fixture *f = make_set(3, policy);
  router_backend *borrowed[64];
  int n_borrowed = 0;
  long picks[3] = {0};
  int lent[3] = {0};
  for (int i = 0; i < 12; i++) {
    for (int k = 0; k < i % 4; k++) {
      /* Half straight through router_pick (borrow true, as borrow.c calls it), half through router_borrow. */
      router_backend *b =
          k % 2 == 0 ? router_pick(&f->set, NULL, 0, true, NULL, 0) : router_borrow(&f->set, NULL, 0);
      assert_true(index_of(&f->set, b) >= 0);
      lent[index_of(&f->set, b)]++;
      borrowed[n_borrowed++] = b;
    }
    int got = pick_index(&f->set, NULL, 0);
    assert_int_equal(got, i % 3);
    picks[got]++;
    router_release(f->b[got], SHIMKIT_OK);
  }
  assert_true(n_borrowed > 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&f->b[i]->calls), picks[i]);
    assert_int_equal(atomic_load(&f->b[i]->outstanding), lent[i]);
  }
  for (int k = 0; k < n_borrowed; k++) {
    if (k % 2 == 0) {
      router_release(borrowed[k], SHIMKIT_OK);
    } else {
      router_give_back(borrowed[k]);
    }
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 0);
    assert_int_equal(atomic_load(&f->b[i]->calls), picks[i]);
    assert_int_equal(atomic_load(&f->b[i]->failures), 0);
  }
  /* A borrow skips tried replicas too. */
  router_backend *tried[] = {f->b[0], f->b[1]};
  router_backend *b = router_borrow(&f->set, tried, 2);
  assert_ptr_equal(b, f->b[2]);
  router_give_back(b);
  assert_null(router_borrow(&f->set, f->b, 3));
  free_set(f);
}

static void test_borrow_takes_no_turn(void **state) {
  (void)state;
  borrows_take_no_turn(ROUTER_ROUND_ROBIN);
}

static void test_borrow_takes_no_turn_hash_without_key(void **state) {
  (void)state;
  borrows_take_no_turn(ROUTER_HASH);
}

static void test_round_robin_skips_unhealthy_and_tried(void **state) {
  (void)state;
  fixture *f = make_set(4, ROUTER_ROUND_ROBIN);
  set_health(f->b[1], false);
  int seen[4] = {0};
  for (int i = 0; i < 40; i++) {
    int got = pick_index(&f->set, NULL, 0);
    assert_true(got >= 0);
    seen[got]++;
    router_release(f->b[got], SHIMKIT_OK);
  }
  assert_int_equal(seen[1], 0);
  /* The others share evenly: the one after the unhealthy replica does not get its turn too. */
  assert_int_equal(seen[0] + seen[2] + seen[3], 40);
  for (int i = 0; i < 4; i += i == 0 ? 2 : 1) {
    assert_true(seen[i] >= 13 && seen[i] <= 14);
  }
  assert_int_equal(atomic_load(&f->b[1]->calls), 0);

  /* Whatever the cursor, a retry never goes back to a tried replica. */
  router_backend *tried[] = {f->b[0], f->b[3]};
  for (int i = 0; i < 8; i++) {
    int got = pick_index(&f->set, tried, 1);
    assert_true(got == 2 || got == 3);
    router_release(f->b[got], SHIMKIT_OK);
    assert_int_equal(pick_index(&f->set, tried, 2), 2);
    router_release(f->b[2], SHIMKIT_OK);
  }
  /* Every healthy replica tried, or none healthy: none, and nothing counted. */
  router_backend *all_healthy[] = {f->b[0], f->b[2], f->b[3]};
  assert_null(router_pick(&f->set, all_healthy, 3, false, NULL, 0));
  for (int i = 0; i < 4; i++) {
    set_health(f->b[i], false);
  }
  long calls[4];
  for (int i = 0; i < 4; i++) {
    calls[i] = atomic_load(&f->b[i]->calls);
  }
  for (int i = 0; i < 4; i++) {
    assert_null(router_pick(&f->set, NULL, 0, false, NULL, 0));
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(atomic_load(&f->b[i]->calls), calls[i]);
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 0);
  }
  /* Replicas that are back get their turns again: one in every four picks each. */
  for (int i = 0; i < 4; i++) {
    set_health(f->b[i], true);
  }
  int back = 0;
  for (int i = 0; i < 8; i++) {
    int got = pick_index(&f->set, NULL, 0);
    back += got == 1;
    router_release(f->b[got], SHIMKIT_OK);
  }
  assert_int_equal(back, 2);
  free_set(f);
}

static void test_least_outstanding(void **state) {
  (void)state;
  fixture *f = make_set(3, ROUTER_LEAST_OUTSTANDING);
  /* Calls that do not end spread evenly. */
  for (int i = 0; i < 6; i++) {
    assert_true(pick_index(&f->set, NULL, 0) >= 0);
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 2);
  }
  /* The replica whose calls ended gets the next ones. */
  router_release(f->b[2], SHIMKIT_OK);
  router_release(f->b[2], SHIMKIT_OK);
  assert_int_equal(pick_index(&f->set, NULL, 0), 2);
  assert_int_equal(pick_index(&f->set, NULL, 0), 2);
  assert_int_equal(atomic_load(&f->b[2]->outstanding), 2);

  /* 5, 1, 3 outstanding: the second; then it has 2, still the fewest. */
  atomic_store(&f->b[0]->outstanding, 5);
  atomic_store(&f->b[1]->outstanding, 1);
  atomic_store(&f->b[2]->outstanding, 3);
  assert_int_equal(pick_index(&f->set, NULL, 0), 1);
  assert_int_equal(pick_index(&f->set, NULL, 0), 1);
  assert_int_equal(atomic_load(&f->b[1]->outstanding), 3);
  /* 5, 3, 3: one of the two with 3. */
  int got = pick_index(&f->set, NULL, 0);
  assert_true(got == 1 || got == 2);
  router_release(f->b[got], SHIMKIT_OK);
  /* Not an unhealthy one, nor a tried one, however idle. */
  atomic_store(&f->b[0]->outstanding, 5);
  atomic_store(&f->b[1]->outstanding, 0);
  atomic_store(&f->b[2]->outstanding, 3);
  set_health(f->b[1], false);
  assert_int_equal(pick_index(&f->set, NULL, 0), 2);
  router_backend *tried[] = {f->b[2]};
  assert_int_equal(pick_index(&f->set, tried, 1), 0);
  assert_int_equal(atomic_load(&f->b[0]->outstanding), 6);
  assert_int_equal(atomic_load(&f->b[1]->outstanding), 0);
  assert_int_equal(atomic_load(&f->b[2]->outstanding), 4);
  for (int i = 0; i < 3; i++) {
    atomic_store(&f->b[i]->outstanding, 0);
  }
  /* Ties rotate: calls that each end before the next one starts (a lightly
   * loaded set) are shared, not all sent to the first replica. */
  set_health(f->b[1], true);
  int seen[3] = {0};
  for (int i = 0; i < 30; i++) {
    int k = pick_index(&f->set, NULL, 0);
    seen[k]++;
    router_release(f->b[k], SHIMKIT_OK);
  }
  assert_int_equal(seen[0], 10);
  assert_int_equal(seen[1], 10);
  assert_int_equal(seen[2], 10);
  free_set(f);
}

#define N_KEYS 200

static int hash_pick(router_set *s, router_backend *const *tried, int n_tried, int key) {
  char k[32];
  int n = snprintf(k, sizeof k, "user-%d", key);
  router_backend *b = router_pick(s, tried, n_tried, false, k, (size_t)n);
  if (b != NULL) {
    router_release(b, SHIMKIT_OK);
  }
  return index_of(s, b);
}

static void test_hash_rendezvous(void **state) {
  (void)state;
  fixture *f = make_set(5, ROUTER_HASH);
  int owner[N_KEYS];
  int keys_of[5] = {0};
  for (int k = 0; k < N_KEYS; k++) {
    owner[k] = hash_pick(&f->set, NULL, 0, k);
    assert_true(owner[k] >= 0);
    keys_of[owner[k]]++;
  }
  /* The same key, the same replica, whatever was picked in between. */
  for (int round = 0; round < 3; round++) {
    for (int k = N_KEYS - 1; k >= 0; k--) {
      assert_int_equal(hash_pick(&f->set, NULL, 0, k), owner[k]);
    }
  }
  for (int i = 0; i < 5; i++) {
    assert_true(keys_of[i] >= N_KEYS / 5 / 2); /* every replica owns at least half its fair share */
  }
  /* A replica gone: its keys move, spread over the others; no other key moves. */
  const int gone = 2;
  set_health(f->b[gone], false);
  int moved_to[5] = {0};
  int elsewhere[N_KEYS];
  for (int k = 0; k < N_KEYS; k++) {
    int now = hash_pick(&f->set, NULL, 0, k);
    assert_true(now >= 0 && now != gone);
    if (owner[k] != gone) {
      assert_int_equal(now, owner[k]);
    } else {
      moved_to[now]++;
    }
    elsewhere[k] = now;
  }
  int targets = 0;
  for (int i = 0; i < 5; i++) {
    targets += moved_to[i] > 0;
  }
  assert_true(targets >= 2);
  /* A tried replica is passed over the same way (a retry goes to the key's second choice). */
  set_health(f->b[gone], true);
  router_backend *tried[] = {f->b[gone]};
  for (int k = 0; k < N_KEYS; k++) {
    assert_int_equal(hash_pick(&f->set, tried, 1, k), elsewhere[k]);
  }
  /* Back: every key returns to its first owner. */
  for (int k = 0; k < N_KEYS; k++) {
    assert_int_equal(hash_pick(&f->set, NULL, 0, k), owner[k]);
  }
  for (int i = 0; i < 5; i++) {
    assert_int_equal(atomic_load(&f->b[i]->outstanding), 0);
  }
  free_set(f);
}

static void test_release_counts_failures(void **state) {
  (void)state;
  fixture *f = make_set(1, ROUTER_ROUND_ROBIN);
  router_backend *b = f->b[0];
  assert_ptr_equal(router_pick(&f->set, NULL, 0, false, NULL, 0), b);
  router_release(b, SHIMKIT_OK);
  assert_int_equal(atomic_load(&b->failures), 0);
  assert_int_equal(atomic_load(&b->outstanding), 0);
  for (int code = SHIMKIT_CANCELLED; code <= SHIMKIT_UNAUTHENTICATED; code++) {
    assert_ptr_equal(router_pick(&f->set, NULL, 0, false, NULL, 0), b);
    assert_int_equal(atomic_load(&b->outstanding), 1);
    router_release(b, (shimkit_code)code);
    assert_int_equal(atomic_load(&b->failures), code);
    assert_int_equal(atomic_load(&b->outstanding), 0);
  }
  assert_ptr_equal(router_pick(&f->set, NULL, 0, false, NULL, 0), b);
  router_release(b, SHIMKIT_OK);
  assert_int_equal(atomic_load(&b->failures), SHIMKIT_UNAUTHENTICATED);
  assert_int_equal(atomic_load(&b->calls), SHIMKIT_UNAUTHENTICATED + 2);
  free_set(f);
}

/* ---- snapshots (sets.c) ------------------------------------------------------- */

#define N_PORTS 5

/* A loopback port bound but not listening: connecting to it is refused at once. */
static router_set_spec make_spec(const char *name, char addresses[][32], int n) {
  router_set_spec s = {0};
  s.name = strdup(name);
  assert_non_null(s.name);
  for (int i = 0; i < n; i++) {
    assert_int_equal(router_spec_push(&s.backends, &s.n_backends, addresses[i]), 0);
  }
  s.policy = ROUTER_ROUND_ROBIN;
  s.weight = 1;
  return s;
}

/*
 * After router_config_replace: ends the health watches of every replica of
 * the current snapshot (their first answer, a refused connection, came in)
 * and waits for them, as router_stop does, then marks every replica healthy.
 * Later snapshots keep these replicas without watching them again.
 */
static void settle(router *r) {
  router_config *cfg = router_config_get(r);
  assert_non_null(cfg);
  router_stop_watches(r, cfg);
  for (int i = 0; i < cfg->n_sets; i++) {
    for (int j = 0; j < cfg->sets[i].n_backends; j++) {
      set_health(cfg->sets[i].backends[j], true);
    }
  }
  router_config_unref(cfg);
}

static router_set *find_set(router_config *cfg, const char *name) {
  for (int i = 0; i < cfg->n_sets; i++) {
    if (strcmp(cfg->sets[i].spec.name, name) == 0) {
      return &cfg->sets[i];
    }
  }
  fail_msg("no set %s", name);
  return NULL;
}

/* n ordinary picks (each released) of set name in the current snapshot, into got. */
static void picks(router *r, const char *name, int *got, int n) {
  router_config *cfg = router_config_get(r);
  assert_non_null(cfg);
  router_set *s = find_set(cfg, name);
  for (int i = 0; i < n; i++) {
    router_backend *b = router_pick(s, NULL, 0, false, NULL, 0);
    assert_non_null(b);
    got[i] = index_of(s, b);
    router_release(b, SHIMKIT_OK);
  }
  router_config_unref(cfg);
}

static void test_snapshot_keeps_turn(void **state) {
  (void)state;
  int fds[N_PORTS];
  char addresses[N_PORTS][32];
  for (int i = 0; i < N_PORTS; i++) {
    int port;
    fds[i] = closed_port(&port);
    snprintf(addresses[i], sizeof addresses[i], "127.0.0.1:%d", port);
  }
  router r;
  router_init(&r);
  router_set_spec specs[2] = {make_spec("a", addresses, 3), make_spec("b", addresses + 3, 2)};

  assert_int_equal(router_config_replace(&r, specs, 1), 0);
  settle(&r);
  router_config *first = router_config_get(&r);
  router_backend *kept[3];
  memcpy(kept, find_set(first, "a")->backends, sizeof kept);
  router_config_unref(first);
  int got[4];
  picks(&r, "a", got, 2);
  assert_int_equal(got[0], 0);
  assert_int_equal(got[1], 1);

  /* The same set again (an ApplySet that changes nothing, a DNS answer with the same addresses). */
  assert_int_equal(router_config_replace(&r, specs, 1), 0);
  router_config *second = router_config_get(&r);
  assert_ptr_not_equal(second, first);
  assert_memory_equal(find_set(second, "a")->backends, kept, sizeof kept); /* the same replicas */
  router_config_unref(second);
  picks(&r, "a", got, 3);
  assert_int_equal(got[0], 2); /* not 0: the turn went on */
  assert_int_equal(got[1], 0);
  assert_int_equal(got[2], 1);

  /* Another set added, listed first: a keeps its own turn (by name, not by place), b (new) starts at its
   * first replica. */
  router_set_spec b_then_a[2] = {specs[1], specs[0]}; /* router_config_replace copies them */
  assert_int_equal(router_config_replace(&r, b_then_a, 2), 0);
  settle(&r);
  picks(&r, "a", got, 2);
  assert_int_equal(got[0], 2);
  assert_int_equal(got[1], 0);
  picks(&r, "b", got, 3);
  assert_int_equal(got[0], 0);
  assert_int_equal(got[1], 1);
  assert_int_equal(got[2], 0);

  /* b removed again: a still goes on. */
  assert_int_equal(router_config_replace(&r, specs, 1), 0);
  picks(&r, "a", got, 4);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(got[i], (1 + i) % 3);
  }
  /* The kept replicas counted every pick of every snapshot: 11 in all, 4 on the first. */
  assert_int_equal(atomic_load(&kept[0]->calls) + atomic_load(&kept[1]->calls) + atomic_load(&kept[2]->calls),
                   11);
  assert_int_equal(atomic_load(&kept[0]->calls), 4);

  router_stop(&r);
  router_spec_clear(&specs[0]);
  router_spec_clear(&specs[1]);
  for (int i = 0; i < N_PORTS; i++) {
    close(fds[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_robin_rotates),
      cmocka_unit_test(test_borrow_takes_no_turn),
      cmocka_unit_test(test_borrow_takes_no_turn_hash_without_key),
      cmocka_unit_test(test_round_robin_skips_unhealthy_and_tried),
      cmocka_unit_test(test_least_outstanding),
      cmocka_unit_test(test_hash_rendezvous),
      cmocka_unit_test(test_release_counts_failures),
      cmocka_unit_test(test_snapshot_keeps_turn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
