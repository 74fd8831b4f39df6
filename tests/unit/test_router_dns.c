/*
 * test_router_dns.c - dns:HOST:PORT backends (runtime/router/dns_table.c):
 * what a valid one is (alone, in set validation and in a state file), and
 * what a resolution does to a name's replicas, with the resolver faked: the
 * first answer, addresses added and removed, a failure keeping the last good
 * list (warned once per streak), a name that never resolved leaving its set
 * empty, more than ROUTER_MAX_BACKENDS addresses, and a set's backends
 * expanded into replica addresses. The real resolver is run on numeric
 * hosts only (IPv4 and IPv6 formatting; no name server is asked).
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

#include "dns_table.h"
#include "state.h"

/* ---- the fake resolver ------------------------------------------------------------ */

typedef struct fake {
  const char *host;        /* the host it expects */
  const char *addrs[80];   /* its answer (NULL-terminated), or... */
  int count;               /* ...count generated addresses 10.0.x.y */
  const char *fail;        /* ...a failure with this reason */
  int calls;
} fake;

static int fake_resolve(const char *host, unsigned port, char ***addrs, int *n, char *err, size_t cap, void *ctx) {
  fake *f = ctx;
  f->calls++;
  assert_string_equal(host, f->host);
  if (f->fail != NULL) {
    snprintf(err, cap, "%s", f->fail);
    return -1;
  }
  *addrs = calloc(100, sizeof **addrs);
  *n = 0;
  char text[64];
  for (int i = 0; f->count > 0 ? i < f->count : f->addrs[i] != NULL; i++) {
    if (f->count > 0) {
      snprintf(text, sizeof text, "10.0.%d.%d:%u", i / 250, i % 250 + 1, port);
    } else {
      snprintf(text, sizeof text, "%s:%u", f->addrs[i], port);
    }
    (*addrs)[(*n)++] = strdup(text);
  }
  return 0;
}

static router_dns_entry *entry_for(router_dns_table *t, const char *backend) {
  router_set_spec s;
  memset(&s, 0, sizeof s);
  s.name = strdup("s");
  router_spec_push(&s.backends, &s.n_backends, backend);
  assert_int_equal(router_dns_add(t, &s), 1);
  router_spec_clear(&s);
  router_dns_entry *e = router_dns_find(t, backend);
  assert_non_null(e);
  return e;
}

static void assert_list(char **list, int n, const char *const *want) {
  int k = 0;
  for (; want[k] != NULL; k++) {
    assert_true(k < n);
    assert_string_equal(list[k], want[k]);
  }
  assert_int_equal(n, k);
}

/* ---- validation -------------------------------------------------------------------- */

static void test_split(void **state) {
  (void)state;
  char host[300];
  unsigned port = 0;
  assert_int_equal(router_dns_split("dns:echo.shop.svc.cluster.local:50051", host, sizeof host, &port), 0);
  assert_string_equal(host, "echo.shop.svc.cluster.local");
  assert_int_equal(port, 50051);
  assert_int_equal(router_dns_split("dns:localhost:1", host, sizeof host, &port), 0);
  assert_int_equal(router_dns_split("dns:a-b.c0:65535", host, sizeof host, &port), 0);
  assert_int_equal(router_dns_split("dns:echo.shop.:80", host, sizeof host, &port), 0); /* absolute */
  assert_string_equal(host, "echo.shop.");
  assert_int_equal(router_dns_split("dns:10.0.0.1:80", host, sizeof host, &port), 0);   /* digits are RFC 1123 */

  const char *bad[] = {
      "dns:",                 "dns:host",            "dns:host:",          "dns::80",
      "dns:host:0",           "dns:host:65536",      "dns:host:123456",    "dns:host:8x",
      "dns:host:-1",          "dns:-host:80",        "dns:host-:80",       "dns:ho_st:80",
      "dns:a..b:80",          "dns:.a:80",           "dns:a b:80",         "dns:[::1]:80",
      "dns:host:80:81",       "dns:host/x:80",       "host:80",            "DNS:host:80",
      "dns:..:80",            "dns:a.-b:80",         "dns:a.b-.c:80",      "dns:h\x01st:80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (router_dns_split(bad[i], host, sizeof host, &port) == 0) {
      fail_msg("accepted %s", bad[i]);
    }
  }
  /* label and name lengths: 63 per label, 253 in all */
  char name[400];
  snprintf(name, sizeof name, "dns:%.63s:80", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  assert_int_equal(router_dns_split(name, host, sizeof host, &port), 0);
  snprintf(name, sizeof name, "dns:%.64s:80", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  assert_int_equal(router_dns_split(name, host, sizeof host, &port), -1);
  char longest[260] = "";
  for (int i = 0; i < 63; i++) {
    strcat(longest, "abc.");
  }
  strcat(longest, "a"); /* 253 */
  snprintf(name, sizeof name, "dns:%s:80", longest);
  assert_int_equal(router_dns_split(name, host, sizeof host, &port), 0);
  snprintf(name, sizeof name, "dns:%sb:80", longest);
  assert_int_equal(router_dns_split(name, host, sizeof host, &port), -1);
}

static void test_validate_and_state_file(void **state) {
  (void)state;
  router_set_spec s;
  memset(&s, 0, sizeof s);
  s.name = strdup("echo");
  s.weight = 100;
  router_spec_push(&s.backends, &s.n_backends, "dns:echo.shop.svc.cluster.local:50051");
  router_spec_push(&s.backends, &s.n_backends, "127.0.0.1:50070");
  char err[300];
  assert_int_equal(router_spec_validate(&s, err, sizeof err), 0);
  router_spec_push(&s.backends, &s.n_backends, "dns:echo.shop.svc.cluster.local:50051");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  assert_non_null(strstr(err, "listed twice"));
  free(s.backends[2]);
  s.backends[2] = strdup("dns:bad_name:50051");
  assert_int_equal(router_spec_validate(&s, err, sizeof err), -1);
  assert_non_null(strstr(err, "dns:HOST:PORT"));
  assert_non_null(strstr(err, "bad_name"));
  router_spec_clear(&s);

  const char *text = "shimkit-router-state 1\nset echo\nweight 100\npolicy round_robin\n"
                     "backend dns:echo-headless.shop.svc.cluster.local:50051\nbackend 10.1.2.3:50051\nend\n"
                     "end-state 1\n";
  router_set_spec *sets = NULL;
  int n = 0;
  assert_int_equal(router_state_parse(text, strlen(text), &sets, &n, err, sizeof err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(sets[0].n_backends, 2);
  assert_string_equal(sets[0].backends[0], "dns:echo-headless.shop.svc.cluster.local:50051");
  size_t len = 0;
  char *again = router_state_format(sets, n, &len);
  assert_non_null(strstr(again, text)); /* written back as given (after a comment line) */
  free(again);
  router_specs_free(sets, n);

  const char *bad = "shimkit-router-state 1\nset echo\nweight 100\npolicy round_robin\n"
                    "backend dns:echo:0\nend\nend-state 1\n";
  assert_int_equal(router_state_parse(bad, strlen(bad), &sets, &n, err, sizeof err), -1);
  assert_non_null(strstr(err, "dns:echo:0"));
}

/* ---- resolutions --------------------------------------------------------------------- */

static void test_added_and_removed(void **state) {
  (void)state;
  router_dns_table t = {0};
  router_dns_entry *e = entry_for(&t, "dns:echo:7000");
  fake f = {.host = "echo", .addrs = {"127.0.0.3", "127.0.0.2", "127.0.0.3", NULL}};
  router_dns_change ch;

  /* First answer: sorted, duplicates dropped, all added. */
  assert_true(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_list(e->addrs, e->n_addrs, (const char *[]){"127.0.0.2:7000", "127.0.0.3:7000", NULL});
  assert_list(ch.added, ch.n_added, (const char *[]){"127.0.0.2:7000", "127.0.0.3:7000", NULL});
  assert_int_equal(ch.n_removed, 0);
  assert_true(e->resolved);
  router_dns_change_clear(&ch);

  /* The same addresses in another order: no change. */
  f = (fake){.host = "echo", .addrs = {"127.0.0.2", "127.0.0.3", NULL}};
  assert_false(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_int_equal(ch.n_added + ch.n_removed, 0);
  router_dns_change_clear(&ch);

  /* One more: only it is added. */
  f = (fake){.host = "echo", .addrs = {"127.0.0.4", "127.0.0.2", "127.0.0.3", NULL}};
  assert_true(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_list(ch.added, ch.n_added, (const char *[]){"127.0.0.4:7000", NULL});
  assert_int_equal(ch.n_removed, 0);
  router_dns_change_clear(&ch);

  /* One gone, one new: one removed, one added. */
  f = (fake){.host = "echo", .addrs = {"127.0.0.4", "127.0.0.2", "127.0.0.9", NULL}};
  assert_true(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_list(ch.added, ch.n_added, (const char *[]){"127.0.0.9:7000", NULL});
  assert_list(ch.removed, ch.n_removed, (const char *[]){"127.0.0.3:7000", NULL});
  assert_list(e->addrs, e->n_addrs, (const char *[]){"127.0.0.2:7000", "127.0.0.4:7000", "127.0.0.9:7000", NULL});
  router_dns_change_clear(&ch);
  router_dns_table_clear(&t);
}

static void test_failure_keeps_last_good(void **state) {
  (void)state;
  router_dns_table t = {0};
  router_dns_entry *e = entry_for(&t, "dns:echo:7000");
  fake f = {.host = "echo", .addrs = {"127.0.0.2", "127.0.0.3", NULL}};
  assert_true(router_dns_refresh(e, fake_resolve, &f, NULL));

  router_dns_change ch;
  f = (fake){.host = "echo", .fail = "Temporary failure in name resolution"};
  assert_false(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_true(ch.warn); /* the first failure of a streak warns */
  assert_string_equal(e->error, "Temporary failure in name resolution");
  assert_int_equal(e->n_addrs, 2); /* the last good list stays */
  assert_false(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_false(ch.warn); /* once per streak */
  assert_int_equal(e->n_addrs, 2);

  f = (fake){.host = "echo", .addrs = {"127.0.0.2", "127.0.0.3", NULL}};
  assert_false(router_dns_refresh(e, fake_resolve, &f, &ch)); /* back, same list: no new snapshot */
  assert_true(ch.recovered);
  assert_string_equal(e->error, "");
  f = (fake){.host = "echo", .fail = "again"};
  assert_false(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_true(ch.warn); /* a new streak warns again */
  assert_int_equal(e->attempts, 5);
  router_dns_table_clear(&t);
}

static void test_never_resolved_and_expand(void **state) {
  (void)state;
  router_set_spec s;
  memset(&s, 0, sizeof s);
  s.name = strdup("echo");
  router_spec_push(&s.backends, &s.n_backends, "10.9.9.9:1");
  router_spec_push(&s.backends, &s.n_backends, "dns:a:7000");
  router_spec_push(&s.backends, &s.n_backends, "dns:b:7000");
  router_dns_table t = {0};
  assert_int_equal(router_dns_sync(&t, &s, 1, 1000, 30000), 2);

  /* Nothing resolved yet: only the fixed backend. */
  const char **addrs = NULL;
  int *origin = NULL, n = 0, dropped = 0;
  assert_int_equal(router_dns_expand(&s, &t, &addrs, &origin, &n, &dropped), 0);
  assert_int_equal(n, 1);
  assert_string_equal(addrs[0], "10.9.9.9:1");
  free(addrs);
  free(origin);

  /* a fails (it never resolved: nothing from it); b resolves to two, one of them the fixed one. */
  fake fa = {.host = "a", .fail = "Name or service not known"};
  router_dns_change ch;
  assert_false(router_dns_refresh(router_dns_find(&t, "dns:a:7000"), fake_resolve, &fa, &ch));
  assert_true(ch.warn);
  assert_int_equal(router_dns_find(&t, "dns:a:7000")->n_addrs, 0);
  fake fb = {.host = "b", .addrs = {"10.0.0.2", "10.9.9.9", NULL}};
  assert_true(router_dns_refresh(router_dns_find(&t, "dns:b:7000"), fake_resolve, &fb, NULL));
  free(s.backends[0]);
  s.backends[0] = strdup("10.9.9.9:7000");
  assert_int_equal(router_dns_expand(&s, &t, &addrs, &origin, &n, &dropped), 0);
  assert_int_equal(n, 2); /* each address once */
  assert_string_equal(addrs[0], "10.9.9.9:7000");
  assert_int_equal(origin[0], 0);
  assert_string_equal(addrs[1], "10.0.0.2:7000");
  assert_int_equal(origin[1], 2);
  assert_int_equal(dropped, 0);
  free(addrs);
  free(origin);

  /* A name no set uses is kept for a while (a change not swapped in yet), then dropped. */
  router_set_spec only_a;
  memset(&only_a, 0, sizeof only_a);
  only_a.name = strdup("x");
  router_spec_push(&only_a.backends, &only_a.n_backends, "dns:a:7000");
  assert_int_equal(router_dns_sync(&t, &only_a, 1, 2000, 30000), 0);
  assert_non_null(router_dns_find(&t, "dns:b:7000"));
  assert_int_equal(router_dns_sync(&t, &only_a, 1, 40000, 30000), 0);
  assert_null(router_dns_find(&t, "dns:b:7000"));
  assert_non_null(router_dns_find(&t, "dns:a:7000"));
  router_spec_clear(&only_a);
  router_spec_clear(&s);
  router_dns_table_clear(&t);
}

static void test_too_many_addresses(void **state) {
  (void)state;
  router_dns_table t = {0};
  router_dns_entry *e = entry_for(&t, "dns:big:80");
  fake f = {.host = "big", .count = ROUTER_MAX_BACKENDS + 6};
  router_dns_change ch;
  assert_true(router_dns_refresh(e, fake_resolve, &f, &ch));
  assert_int_equal(e->n_addrs, ROUTER_MAX_BACKENDS);
  assert_int_equal(ch.dropped, 6);
  router_dns_change_clear(&ch);

  /* Two such names in one set: the replicas stop at ROUTER_MAX_BACKENDS. */
  router_dns_entry *e2 = entry_for(&t, "dns:big:81");
  f.calls = 0;
  assert_true(router_dns_refresh(e2, fake_resolve, &f, NULL));
  router_set_spec s;
  memset(&s, 0, sizeof s);
  s.name = strdup("big");
  router_spec_push(&s.backends, &s.n_backends, "dns:big:80");
  router_spec_push(&s.backends, &s.n_backends, "dns:big:81");
  const char **addrs = NULL;
  int *origin = NULL, n = 0, dropped = 0;
  assert_int_equal(router_dns_expand(&s, &t, &addrs, &origin, &n, &dropped), 0);
  assert_int_equal(n, ROUTER_MAX_BACKENDS);
  assert_int_equal(dropped, ROUTER_MAX_BACKENDS);
  free(addrs);
  free(origin);
  router_spec_clear(&s);
  router_dns_table_clear(&t);
}

static void test_diff(void **state) {
  (void)state;
  char *before[] = {"a:1", "b:1", "c:1"};
  char *now[] = {"c:1", "d:1", "a:1", "d:1"};
  char **added, **removed;
  int n_added, n_removed;
  assert_int_equal(router_addr_diff(before, 3, now, 4, &added, &n_added, &removed, &n_removed), 0);
  assert_list(added, n_added, (const char *[]){"d:1", NULL});
  assert_list(removed, n_removed, (const char *[]){"b:1", NULL});
  router_dns_change ch = {.added = added, .n_added = n_added, .removed = removed, .n_removed = n_removed};
  router_dns_change_clear(&ch);
  assert_int_equal(router_addr_diff(NULL, 0, NULL, 0, &added, &n_added, &removed, &n_removed), 0);
  assert_int_equal(n_added + n_removed, 0);
}

/* The real resolver on numeric hosts: IPv4 "IP:PORT", IPv6 "[IP]:PORT". */
static void test_system_resolver_formats(void **state) {
  (void)state;
  char **addrs = NULL;
  int n = 0;
  char err[200] = "";
  assert_int_equal(router_resolve_system("127.0.0.2", 50051, &addrs, &n, err, sizeof err, NULL), 0);
  assert_true(n >= 1);
  assert_string_equal(addrs[0], "127.0.0.2:50051");
  for (int i = 0; i < n; i++) {
    free(addrs[i]);
  }
  free(addrs);
  assert_int_equal(router_resolve_system("::1", 8080, &addrs, &n, err, sizeof err, NULL), 0);
  assert_true(n >= 1);
  assert_string_equal(addrs[0], "[::1]:8080");
  for (int i = 0; i < n; i++) {
    free(addrs[i]);
  }
  free(addrs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_validate_and_state_file),
      cmocka_unit_test(test_added_and_removed),
      cmocka_unit_test(test_failure_keeps_last_good),
      cmocka_unit_test(test_never_resolved_and_expand),
      cmocka_unit_test(test_too_many_addresses),
      cmocka_unit_test(test_diff),
      cmocka_unit_test(test_system_resolver_formats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
