/*
 * test_router_state.c - the router's --state file (runtime/router/state.c)
 * and set validation (spec.c): a round trip through text and disk, and
 * malformed files (garbage, every truncation, every single-byte change, a
 * NUL, overlong lines, bad values) refused with a reason and no crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

/* Two sets: a catch-all round robin and a hashed one for two services. */
static void two_sets(router_set_spec s[2]) {
  memset(s, 0, 2 * sizeof *s);
  s[0].name = strdup("default");
  router_spec_push(&s[0].backends, &s[0].n_backends, "127.0.0.1:50070");
  router_spec_push(&s[0].backends, &s[0].n_backends, "localhost:50071");
  s[0].weight = 100;
  s[1].name = strdup("feature_store-sqlite");
  router_spec_push(&s[1].services, &s[1].n_services, "shimkit.ml.v1.FeatureStore");
  router_spec_push(&s[1].services, &s[1].n_services, "shimkit.ml.v1.Other");
  router_spec_push(&s[1].backends, &s[1].n_backends, "[::1]:50110");
  s[1].policy = ROUTER_HASH;
  s[1].hash_key = strdup("x-user");
  s[1].weight = 0;
  s[1].retry_not_found = true;
}

static void assert_same(const router_set_spec *a, const router_set_spec *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->n_services, b->n_services);
  for (int i = 0; i < a->n_services; i++) {
    assert_string_equal(a->services[i], b->services[i]);
  }
  assert_int_equal(a->n_backends, b->n_backends);
  for (int i = 0; i < a->n_backends; i++) {
    assert_string_equal(a->backends[i], b->backends[i]);
  }
  assert_int_equal(a->policy, b->policy);
  assert_int_equal(a->weight, b->weight);
  assert_int_equal(a->retry_not_found, b->retry_not_found);
  assert_true((a->hash_key == NULL) == (b->hash_key == NULL));
  if (a->hash_key != NULL) {
    assert_string_equal(a->hash_key, b->hash_key);
  }
}

static void test_round_trip(void **state) {
  (void)state;
  router_set_spec s[2];
  two_sets(s);
  char err[256];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(router_spec_validate(&s[i], err, sizeof err), 0);
  }
  size_t len = 0;
  char *text = router_state_format(s, 2, &len);
  assert_non_null(text);
  router_set_spec *got = NULL;
  int n = 0;
  assert_int_equal(router_state_parse(text, len, &got, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  assert_same(&got[0], &s[0]);
  assert_same(&got[1], &s[1]);
  router_specs_free(got, n);

  /* On disk: atomic save, load back; a missing file is "no state yet". */
  char dir[] = "/tmp/shimkit-state-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/router.state", dir);
  assert_int_equal(router_state_load(path, &got, &n, err, sizeof err), 1);
  assert_int_equal(n, 0);
  assert_int_equal(router_state_save(path, s, 2, err, sizeof err), 0);
  assert_int_equal(router_state_load(path, &got, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  assert_same(&got[1], &s[1]);
  router_specs_free(got, n);
  assert_int_equal(router_state_save(path, NULL, 0, err, sizeof err), 0); /* no sets is a state too */
  assert_int_equal(router_state_load(path, &got, &n, err, sizeof err), 0);
  assert_int_equal(n, 0);
  router_specs_free(got, n);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  assert_int_not_equal(access(tmp, F_OK), 0); /* no temporary file left behind */
  unlink(path);
  rmdir(dir);
  /* A folder that does not exist: an error, not a crash. */
  assert_int_equal(router_state_save("/nonexistent-dir/x/router.state", s, 2, err, sizeof err), -1);
  assert_non_null(strstr(err, "cannot write"));
  free(text);
  router_spec_clear(&s[0]);
  router_spec_clear(&s[1]);
}

static void expect_error(const char *text, const char *why) {
  router_set_spec *got = (router_set_spec *)1;
  int n = -1;
  char err[300] = "";
  assert_int_equal(router_state_parse(text, strlen(text), &got, &n, err, sizeof err), -1);
  assert_null(got);
  assert_int_equal(n, 0);
  if (strstr(err, why) == NULL) {
    fail_msg("error \"%s\" does not say \"%s\"", err, why);
  }
}

static void test_malformed(void **state) {
  (void)state;
  expect_error("", "cut short: empty file");
  expect_error("hello world\n", "not a shimkit_router state file");
  expect_error("shimkit-router-state 2\n", "line 1: not a shimkit_router state file");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\nend\n", "no end-state line");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\n", "no end-state");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\nend-state 1\n", "has no end line");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\nend\nend-state 2\n", "the file has 1");
  expect_error("shimkit-router-state 1\nset a\nset b\n", "has no end line before the next set");
  expect_error("shimkit-router-state 1\nbackend 127.0.0.1:1\n", "line 2: \"backend\" outside a set block");
  expect_error("shimkit-router-state 1\nset a\ncolour blue\n", "line 3: unknown key \"colour\"");
  expect_error("shimkit-router-state 1\nset a\nretry_not_found yes\n", "line 3: retry_not_found takes no value");
  expect_error("shimkit-router-state 1\nset a\nweight -1\n", "weight");
  expect_error("shimkit-router-state 1\nset a\nweight 99999999999999999999\n", "weight");
  expect_error("shimkit-router-state 1\nset a\npolicy random\n", "policy");
  expect_error("shimkit-router-state 1\nset a\nend\nend-state 1\n", "no backends");
  expect_error("shimkit-router-state 1\nset a\nbackend nowhere\nend\nend-state 1\n", "not host:port");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\npolicy hash\nend\nend-state 1\n",
               "needs hash_field");
  expect_error("shimkit-router-state 1\nset a\nbackend 127.0.0.1:1\nend\nset a\nbackend 127.0.0.1:2\nend\n"
               "end-state 2\n",
               "appears twice");
  expect_error("shimkit-router-state 1\nend\n", "end without a set");
  expect_error("shimkit-router-state 1\nend-state 0\nset a\n", "after the end-state line");
  const char nul[] = "shimkit-router-state 1\n\0set a\n";
  router_set_spec *got = NULL;
  int n = 0;
  char err[300];
  assert_int_equal(router_state_parse(nul, sizeof nul - 1, &got, &n, err, sizeof err), -1);
  assert_non_null(strstr(err, "NUL"));
  char *longline = malloc(2000);
  strcpy(longline, "shimkit-router-state 1\nset ");
  memset(longline + strlen(longline), 'x', 1000);
  longline[1028] = '\0';
  expect_error(longline, "longer than");
  free(longline);
}

/* Every prefix of a good file but the whole one is refused; every one-byte
 * change either parses to valid sets or is refused. Never a crash or leak. */
static void test_truncations_and_mutations(void **state) {
  (void)state;
  router_set_spec s[2];
  two_sets(s);
  size_t len = 0;
  char *text = router_state_format(s, 2, &len);
  char err[300];
  router_set_spec *got = NULL;
  int n = 0;
  for (size_t cut = 0; cut < len; cut++) {
    /* A prefix that ends right after "end-state 2" minus its newline is complete. */
    int rc = router_state_parse(text, cut, &got, &n, err, sizeof err);
    if (cut == len - 1) {
      assert_int_equal(rc, 0);
      router_specs_free(got, n);
      continue;
    }
    assert_int_equal(rc, -1);
    assert_null(got);
  }
  char *copy = malloc(len);
  const char subst[] = {'\0', '\n', ' ', 'x', '9', ':', '#', (char)0xff};
  for (size_t i = 0; i < len; i++) {
    for (size_t k = 0; k < sizeof subst; k++) {
      memcpy(copy, text, len);
      copy[i] = subst[k];
      if (router_state_parse(copy, len, &got, &n, err, sizeof err) == 0) {
        for (int j = 0; j < n; j++) {
          assert_int_equal(router_spec_validate(&got[j], err, sizeof err), 0);
        }
        router_specs_free(got, n);
      } else {
        assert_true(strlen(err) > 0);
      }
    }
  }
  /* Random garbage. */
  srand(7);
  for (int round = 0; round < 2000; round++) {
    size_t glen = (size_t)(rand() % 300);
    for (size_t i = 0; i < glen && i < len; i++) {
      copy[i] = (char)(rand() % 4 == 0 ? text[rand() % (int)len] : rand());
    }
    if (router_state_parse(copy, glen < len ? glen : len, &got, &n, err, sizeof err) == 0) {
      router_specs_free(got, n);
    }
  }
  free(copy);
  free(text);
  router_spec_clear(&s[0]);
  router_spec_clear(&s[1]);
}

static void test_validate_messages(void **state) {
  (void)state;
  router_set_spec s;
  memset(&s, 0, sizeof s);
  char err[300];
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  assert_string_equal(err, "a set needs a name");
  s.name = strdup("A");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  assert_non_null(strstr(err, "no backends"));
  const char *bad[] = {"", ":80", "host:", "host:0", "host:65536", "host:8x", "ho st:80", "[::1:80", "[]:80",
                       "unix:", "unix:/a b", "unix:/a\"b", "unix:/a\\b", "unix:/a\nb",
                       "unix:/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    router_spec_push(&s.backends, &s.n_backends, bad[i]);
    assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
    assert_non_null(strstr(err, "not host:port"));
    free(s.backends[--s.n_backends]);
  }
  router_spec_push(&s.backends, &s.n_backends, "unix:/run/shimkit/r-0.sock");
  router_spec_push(&s.backends, &s.n_backends, "unix:relative/x.sock");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), 0);
  router_spec_push(&s.backends, &s.n_backends, "10.0.0.1:65535");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), 0);
  s.weight = ROUTER_MAX_WEIGHT + 1;
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  s.weight = 1;
  s.policy = (router_policy)7;
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  assert_non_null(strstr(err, "unknown policy"));
  s.policy = ROUTER_HASH;
  s.hash_field = strdup("key.entity_id");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), 0);
  router_spec_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_truncations_and_mutations),
      cmocka_unit_test(test_validate_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
