/*
 * test_router_service_health.c - what the router publishes as the health of
 * each routed service (service_health.c) as replicas' health and the sets
 * change: SERVING while a set listing the service (weight 0 included) has a
 * healthy replica, NOT_SERVING otherwise and once no set lists it; only
 * changes are published; the catch-all sets and the router's own services
 * publish nothing; nothing after stop.
 *
 * Snapshots come from router_config_replace over loopback ports bound but
 * not listening (as in test_router_pick.c): the first health watch of each
 * replica fails at once, the test stops the watches and then sets health by
 * hand, calling router_service_health_update as backends.c does after a
 * change. Publications go to a recorder instead of a server.
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

#define ECHO "shimkit.examples.v1.Echo"
#define OTHER "shimkit.examples.v1.Other"
#define ADMIN "shimkit.router.v1.RouterAdmin"
#define N_PORTS 5
#define MAX_RECORDS 32

/* What was published, in order. */
typedef struct recorder {
  char name[MAX_RECORDS][64];
  bool serving[MAX_RECORDS];
  int n;
} recorder;

static void record(void *ctx, const char *service, bool serving) {
  recorder *rec = ctx;
  assert_true(rec->n < MAX_RECORDS);
  snprintf(rec->name[rec->n], sizeof rec->name[rec->n], "%s", service);
  rec->serving[rec->n] = serving;
  rec->n++;
}

/* The status published for service since the last reset: 1 SERVING, 0 NOT_SERVING, -1 none. */
static int published(const recorder *rec, const char *service) {
  int st = -1;
  for (int i = 0; i < rec->n; i++) {
    if (strcmp(rec->name[i], service) == 0) {
      assert_int_equal(st, -1); /* at most once per recompute */
      st = rec->serving[i] ? 1 : 0;
    }
  }
  return st;
}

static router_set_spec make_spec(const char *name, const char *address, const char *service1,
                                 const char *service2, uint32_t weight) {
  router_set_spec s = {0};
  s.name = strdup(name);
  assert_non_null(s.name);
  assert_int_equal(router_spec_push(&s.backends, &s.n_backends, address), 0);
  const char *services[] = {service1, service2};
  for (int i = 0; i < 2; i++) {
    if (services[i] != NULL) {
      assert_int_equal(router_spec_push(&s.services, &s.n_services, services[i]), 0);
    }
  }
  s.policy = ROUTER_ROUND_ROBIN;
  s.weight = weight;
  return s;
}

/* Applies specs (n) and ends the new replicas' watches (their first answer came), so that health is the
 * test's. */
static void apply(router *r, const router_set_spec *specs, int n) {
  assert_int_equal(router_config_replace(r, specs, n), 0);
  router_config *cfg = router_config_get(r);
  router_stop_watches(r, cfg);
  router_config_unref(cfg);
}

/* Sets the health of the replica of set name (one each) and recomputes, as backends.c's set_healthy does. */
static void set_health(router *r, const char *name, bool healthy) {
  router_config *cfg = router_config_get(r);
  bool found = false;
  for (int i = 0; i < cfg->n_sets; i++) {
    if (strcmp(cfg->sets[i].spec.name, name) == 0) {
      atomic_store(&cfg->sets[i].backends[0]->healthy, healthy);
      found = true;
    }
  }
  router_config_unref(cfg);
  assert_true(found);
  router_service_health_update(r);
}

static void test_service_health_follows_replicas_and_sets(void **state) {
  (void)state;
  int fds[N_PORTS];
  char addr[N_PORTS][32];
  for (int i = 0; i < N_PORTS; i++) {
    int port;
    fds[i] = closed_port(&port);
    snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", port);
  }
  router r;
  router_init(&r);
  recorder rec = {0};
  router_service_health_start_with(&r, record, &rec);
  assert_int_equal(rec.n, 0); /* no set yet: nothing to say */

  /* a: Echo; b: Echo and Other at weight 0; c: the catch-all; d: lists the router's own admin service. */
  router_set_spec specs[4] = {
      make_spec("a", addr[0], ECHO, NULL, 100),
      make_spec("b", addr[1], ECHO, OTHER, 0),
      make_spec("c", addr[2], NULL, NULL, 100),
      make_spec("d", addr[3], ADMIN, NULL, 100),
  };
  apply(&r, specs, 4);
  /* Every listed name published once, none healthy yet; nothing for the catch-all or the router's own. */
  assert_int_equal(rec.n, 2);
  assert_int_equal(published(&rec, ECHO), 0);
  assert_int_equal(published(&rec, OTHER), 0);

  rec.n = 0;
  set_health(&r, "c", true); /* the catch-all's replica: no named service changes */
  set_health(&r, "d", true);
  assert_int_equal(rec.n, 0);

  set_health(&r, "a", true);
  assert_int_equal(rec.n, 1);
  assert_int_equal(published(&rec, ECHO), 1);

  rec.n = 0;
  set_health(&r, "b", true); /* weight 0 still serves when it is all there is: Other is SERVING */
  assert_int_equal(rec.n, 1);
  assert_int_equal(published(&rec, OTHER), 1);

  rec.n = 0;
  set_health(&r, "a", false); /* b still serves Echo */
  assert_int_equal(rec.n, 0);
  router_config *cfg = router_config_get(&r);
  assert_true(router_service_serving(cfg, ECHO));
  assert_false(router_service_serving(cfg, "no.such.Service"));
  router_config_unref(cfg);

  set_health(&r, "b", false);
  assert_int_equal(rec.n, 2);
  assert_int_equal(published(&rec, ECHO), 0);
  assert_int_equal(published(&rec, OTHER), 0);

  /* b removed while healthy: Other, listed by no set any more, goes NOT_SERVING. */
  set_health(&r, "a", true);
  set_health(&r, "b", true);
  rec.n = 0;
  router_set_spec without_b[3] = {specs[0], specs[2], specs[3]};
  apply(&r, without_b, 3);
  assert_int_equal(rec.n, 1);
  assert_int_equal(published(&rec, OTHER), 0);

  /* b back (a new replica object, not healthy yet), then healthy: Other SERVING again. */
  rec.n = 0;
  apply(&r, specs, 4);
  assert_int_equal(rec.n, 0);
  set_health(&r, "b", true);
  assert_int_equal(rec.n, 1);
  assert_int_equal(published(&rec, OTHER), 1);

  /* Stopped: nothing more is published. */
  rec.n = 0;
  router_service_health_stop(&r);
  set_health(&r, "a", false);
  set_health(&r, "b", false);
  assert_int_equal(rec.n, 0);

  router_stop(&r);
  for (int i = 0; i < 4; i++) {
    router_spec_clear(&specs[i]);
  }
  for (int i = 0; i < N_PORTS; i++) {
    close(fds[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_service_health_follows_replicas_and_sets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
