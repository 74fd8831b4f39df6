/*
 * test_stack.c - the stack file: a good file gives the model it describes;
 * a table of bad files, each refused with "FILE:LINE: reason" (the line and
 * a part of the reason are checked), replica_sockets among them; every
 * truncation and many corruptions of a good file are refused or accepted
 * without a crash (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockets.h"
#include "stack.h"

static const char good[] =
    "# a stack of three services\n"
    "stack: ml\n"
    "environment: process\n"
    "state_dir: /tmp/shimctl-test-state\n"
    "router:\n"
    "  listen: 127.0.0.1:50100\n"
    "  metrics_listen: 127.0.0.1:9100\n"
    "services:\n"
    "  feature_store:\n"
    "    implementation: sqlite\n"
    "    replicas: 2\n"
    "    port: 50110\n"
    "    policy: hash\n"
    "    hash_field: entity_keys\n"
    "    config:\n"
    "      workers: 8\n"
    "    implementations:\n"
    "      sqlite: {db: /tmp/fs.db}\n"
    "      redis: {redis: \"127.0.0.1:6379\"}\n"
    "  echo:\n"
    "    port: 50120\n"
    "  training:\n"
    "    implementation: libsvm\n"
    "    policy: least_outstanding\n"
    "    drain_grace_ms: 2000\n";

static shimctl_stack *parse(const char *text, shimctl_errors *errs) {
  return shimctl_stack_parse("stack.yaml", text, strlen(text), errs);
}

static void test_good_file(void **state) {
  (void)state;
  shimctl_errors errs;
  shimctl_stack *st = parse(good, &errs);
  for (size_t i = 0; st == NULL && i < errs.n; i++) {
    print_error("%s\n", errs.msg[i]);
  }
  assert_non_null(st);
  assert_string_equal(st->name, "ml");
  assert_string_equal(st->environment, "process");
  assert_string_equal(st->state_dir, "/tmp/shimctl-test-state");
  assert_string_equal(st->router_listen, "127.0.0.1:50100");
  assert_string_equal(st->router_metrics, "127.0.0.1:9100");
  assert_int_equal(st->n_services, 3);
  shimctl_service_spec *fs = shimctl_stack_service(st, "feature_store");
  assert_non_null(fs);
  assert_string_equal(fs->implementation, "sqlite");
  assert_int_equal(fs->replicas, 2);
  assert_int_equal(fs->port, 50110);
  assert_int_equal(fs->policy, SHIMCTL_POLICY_HASH);
  assert_string_equal(fs->hash_field, "entity_keys");
  assert_int_equal(fs->config.n, 1);
  assert_string_equal(fs->config.kv[0].key, "workers");
  assert_string_equal(fs->config.kv[0].value, "8");
  const shimctl_config *redis = shimctl_service_impl_config(fs, "redis");
  assert_non_null(redis);
  assert_string_equal(redis->kv[0].key, "redis");
  assert_string_equal(redis->kv[0].value, "127.0.0.1:6379");
  assert_null(shimctl_service_impl_config(fs, "nothing"));
  shimctl_service_spec *echo = shimctl_stack_service(st, "echo");
  assert_string_equal(echo->implementation, "builtin"); /* the only one: the default */
  assert_int_equal(echo->replicas, 1);
  shimctl_service_spec *tr = shimctl_stack_service(st, "training");
  assert_int_equal(tr->port, 0); /* free ports at start */
  assert_int_equal(tr->policy, SHIMCTL_POLICY_LEAST_OUTSTANDING);
  assert_int_equal(tr->drain_grace_ms, 2000);
  assert_null(shimctl_stack_service(st, "model_repository"));
  shimctl_stack_free(st);
}

static void test_defaults(void **state) {
  (void)state;
  shimctl_errors errs;
  shimctl_stack *st = parse("stack: s\nrouter: {listen: 'localhost:7000'}\nservices:\n  echo: {}\n", &errs);
  assert_non_null(st);
  assert_string_equal(st->environment, "process");
  /* state_dir defaults to .shimctl next to the file */
  size_t n = strlen(st->state_dir);
  assert_true(n > 9 && strcmp(st->state_dir + n - 9, "/.shimctl") == 0);
  assert_null(st->router_metrics);
  shimctl_stack_free(st);
}

typedef struct bad_case {
  const char *name;
  const char *text;
  int line;           /* of the first problem reported */
  const char *reason; /* a part of its message */
} bad_case;

#define HEAD "stack: s\nrouter:\n  listen: 127.0.0.1:50100\nservices:\n"

/* With it, state_dir "/tmp/" STATE_DIR_68 is 73 bytes, and stack s's echo
 * sockets take up to 73 + 34 = 107 bytes ("/s" "/sockets/" "echo-builtin"
 * "-NN" "-NN" ".sock", sockets.h): just what fits; one byte more does not. */
#define STATE_DIR_68 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const bad_case bad_cases[] = {
    {"empty", "", 1, "empty"},
    {"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
    {"yaml syntax", "stack: s\nrouter: [\n", 3, "YAML:"},
    {"unknown top key", "stack: s\nrouters: {}\n", 2, "unknown key 'routers'"},
    {"missing stack", "router:\n  listen: 127.0.0.1:50100\nservices:\n  echo: {}\n", 1, "missing field 'stack'"},
    {"missing router", "stack: s\nservices:\n  echo: {}\n", 1, "missing field 'router'"},
    {"missing listen", "stack: s\nrouter:\n  metrics_listen: 127.0.0.1:9000\nservices:\n  echo: {}\n", 3,
     "missing field 'listen'"},
    {"missing services", "stack: s\nrouter:\n  listen: 127.0.0.1:50100\n", 1, "missing field 'services'"},
    {"bad stack name", "stack: 'My Stack'\nrouter: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n", 1,
     "stack name"},
    {"unknown environment", "stack: s\nenvironment: vm\nrouter: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n", 2,
     "unknown environment 'vm'"},
    {"router not host:port", "stack: s\nrouter:\n  listen: 50100\nservices:\n  echo: {}\n", 3, "not HOST:PORT"},
    {"router bad port", "stack: s\nrouter:\n  listen: 127.0.0.1:70000\nservices:\n  echo: {}\n", 3,
     "not HOST:PORT"},
    {"unknown router key", "stack: s\nrouter:\n  listen: 127.0.0.1:1\n  tls: on\nservices:\n  echo: {}\n", 4,
     "unknown key 'tls' in router"},
    {"unknown kind", HEAD "  mysql:\n    replicas: 1\n", 5, "unknown service kind 'mysql' (known: echo,"},
    {"unknown implementation", HEAD "  feature_store:\n    implementation: mysql\n", 6,
     "unknown implementation 'mysql' of feature_store (valid: sqlite, redis)"},
    {"missing implementation", HEAD "  training:\n    replicas: 2\n", 5,
     "missing field 'implementation' (one of: liblinear, libsvm, xgboost)"},
    {"unknown service key", HEAD "  echo:\n    replica: 2\n", 6, "unknown key 'replica' in services.echo"},
    {"replicas zero", HEAD "  echo:\n    replicas: 0\n", 6, "replicas must be at least 1"},
    {"replicas negative", HEAD "  echo:\n    replicas: -3\n", 6, "replicas must be at least 1"},
    {"replicas not a number", HEAD "  echo:\n    replicas: two\n", 6, "replicas must be a number"},
    {"replicas too many", HEAD "  echo:\n    replicas: 1000\n", 6, "replicas must be at most"},
    {"port zero", HEAD "  echo:\n    port: 0\n", 6, "port must be a number 1..65535"},
    {"port too big", HEAD "  echo:\n    port: 65536\n", 6, "port must be a number 1..65535"},
    {"port range past 65535", HEAD "  echo:\n    replicas: 3\n    port: 65534\n", 7, "go past 65535"},
    {"port clash with router", HEAD "  echo:\n    replicas: 3\n    port: 50099\n", 7,
     "port clash: echo ports 50099..50101 include the router's listen port 50100"},
    {"port clash with metrics",
     "stack: s\nrouter:\n  listen: 127.0.0.1:50100\n  metrics_listen: 127.0.0.1:9100\nservices:\n"
     "  echo:\n    port: 9100\n",
     7, "include the router's metrics port 9100"},
    {"router and metrics clash", "stack: s\nrouter:\n  listen: 127.0.0.1:5\n  metrics_listen: 127.0.0.1:5\n"
                                 "services:\n  echo: {}\n",
     4, "port clash: router metrics_listen"},
    {"overlapping sets", HEAD "  echo:\n    replicas: 3\n    port: 50200\n  training:\n    implementation: libsvm\n"
                              "    port: 50202\n",
     10, "port clash: training ports 50202..50202 overlap echo ports 50200..50202"},
    {"hash without field", HEAD "  echo:\n    policy: hash\n", 6, "needs exactly one of hash_field or hash_key"},
    {"hash with both", HEAD "  echo:\n    policy: hash\n    hash_field: a\n    hash_key: b\n", 6,
     "needs exactly one of hash_field or hash_key"},
    {"hash_field without hash", HEAD "  echo:\n    hash_field: a\n", 5, "need policy: hash"},
    {"unknown policy", HEAD "  echo:\n    policy: random\n", 6, "unknown policy 'random'"},
    {"config not a mapping", HEAD "  echo:\n    config: [a, b]\n", 6, "services.echo.config must be a mapping"},
    {"config sets listen", HEAD "  echo:\n    config:\n      listen: 0.0.0.0:1\n", 7, "'listen' is set by shimctl"},
    {"config sets backend", HEAD "  feature_store:\n    implementation: redis\n    config:\n      backend: sqlite\n", 8,
     "'backend' is set by shimctl"},
    {"config with dashes", HEAD "  echo:\n    config:\n      --name: x\n", 7, "without dashes"},
    {"config nested value", HEAD "  echo:\n    config:\n      name: {a: 1}\n", 7, "must be a single value"},
    {"implementations unknown", HEAD "  feature_store:\n    implementation: redis\n    implementations:\n"
                                     "      mysql: {db: x}\n",
     8, "unknown implementation 'mysql' of feature_store"},
    {"duplicate key", HEAD "  echo:\n    replicas: 1\n    replicas: 2\n", 7, "duplicate key 'replicas'"},
    {"services not a mapping", "stack: s\nrouter: {listen: 127.0.0.1:1}\nservices: [echo]\n", 3,
     "services must be a mapping"},
    {"drain not a number", HEAD "  echo:\n    drain_grace_ms: soon\n", 6, "drain_grace_ms must be a number"},
    {"replica_sockets unknown", "stack: s\nreplica_sockets: udp\nrouter: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n",
     2, "unknown replica_sockets 'udp' (valid: tcp, unix)"},
    {"replica_sockets not a value", "stack: s\nreplica_sockets: [unix]\nrouter: {listen: 127.0.0.1:1}\n"
                                    "services: {echo: {}}\n",
     2, "replica_sockets must be a single value"},
    {"replica_sockets unix in docker", "stack: s\nenvironment: docker\nreplica_sockets: unix\n"
                                       "router: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n",
     3, "replica_sockets: unix is for the process environment only (environment docker, line 2"},
    {"replica_sockets unix in kubernetes", "stack: s\nreplica_sockets: unix\nenvironment: kubernetes\n"
                                           "router: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n",
     2, "replica_sockets: unix is for the process environment only (environment kubernetes, line 3"},
    {"replica_sockets unix with a port", "stack: s\nstate_dir: /tmp/x\nrouter: {listen: 127.0.0.1:1}\n"
                                         "services:\n  echo:\n    port: 50200\nreplica_sockets: unix\n",
     6, "services.echo: port has no meaning with replica_sockets: unix (line 7"},
    {"replica_sockets unix, state_dir with a space", "stack: s\nreplica_sockets: unix\nstate_dir: '/tmp/a b'\n"
                                                      "router: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n",
     3, "replica_sockets: unix needs a state_dir of letters, digits and ._/+~@=,- only"},
    {"replica_sockets unix, state_dir too deep",
     "stack: s\nreplica_sockets: unix\nstate_dir: /tmp/" STATE_DIR_68 "b\nrouter: {listen: 127.0.0.1:1}\n"
     "services: {echo: {}}\n",
     3, "replica_sockets: unix needs a shorter state_dir: echo's replica sockets in /tmp/aaa"},
    {"replica_sockets unix, a longer kind too deep",
     "stack: s\nreplica_sockets: unix\nstate_dir: /tmp/" STATE_DIR_68 "\nrouter: {listen: 127.0.0.1:1}\n"
     "services: {echo: {}, model_repository: {implementation: fs}}\n",
     3, "model_repository's replica sockets in /tmp/"},
};

static void test_bad_files(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    if (c->reason == NULL) {
      continue;
    }
    shimctl_errors errs;
    shimctl_stack *st = parse(c->text, &errs);
    char want_prefix[32];
    snprintf(want_prefix, sizeof want_prefix, "stack.yaml:%d: ", c->line);
    if (st != NULL || errs.n == 0) {
      print_error("case '%s': accepted\n", c->name);
      failures++;
    } else if (strncmp(errs.msg[0], want_prefix, strlen(want_prefix)) != 0 || strstr(errs.msg[0], c->reason) == NULL) {
      print_error("case '%s': got \"%s\", want \"%s...%s\"\n", c->name, errs.msg[0], want_prefix, c->reason);
      failures++;
    }
    shimctl_stack_free(st);
  }
  assert_int_equal(failures, 0);
}

/* replica_sockets: tcp by default; unix in the process environment, with
 * the longest socket path exactly 107 bytes; the default state_dir (next to
 * the file) too deep is reported at the replica_sockets line. */
static void test_replica_sockets(void **state) {
  (void)state;
  shimctl_errors errs;
  shimctl_stack *st = parse("stack: s\nrouter: {listen: 127.0.0.1:1}\nservices:\n  echo: {port: 50200}\n", &errs);
  assert_non_null(st);
  assert_int_equal(st->replica_sockets, SHIMCTL_SOCKETS_TCP);
  shimctl_stack_free(st);
  st = parse("stack: s\nreplica_sockets: tcp\nenvironment: docker\nrouter: {listen: 127.0.0.1:1}\n"
             "services:\n  echo: {port: 50200}\n",
             &errs);
  assert_non_null(st);
  assert_int_equal(st->replica_sockets, SHIMCTL_SOCKETS_TCP);
  shimctl_stack_free(st);
  st = parse("stack: s\nreplica_sockets: unix\nenvironment: process\nstate_dir: /tmp/" STATE_DIR_68 "\n"
             "router: {listen: 127.0.0.1:50100}\nservices:\n  echo: {replicas: 3}\n",
             &errs);
  for (size_t i = 0; st == NULL && i < errs.n; i++) {
    print_error("%s\n", errs.msg[i]);
  }
  assert_non_null(st);
  assert_int_equal(st->replica_sockets, SHIMCTL_SOCKETS_UNIX);
  assert_int_equal(shimctl_socket_longest("/tmp/" STATE_DIR_68 "/s", shimctl_kind_find("echo")), 107);
  shimctl_stack_free(st);
  /* No state_dir: .shimctl next to the file, here in a folder that does not exist (kept as named). */
  char path[200];
  snprintf(path, sizeof path, "/srv/%s/stack.yaml", STATE_DIR_68);
  const char *text = "stack: s\nreplica_sockets: unix\nrouter: {listen: 127.0.0.1:1}\nservices: {echo: {}}\n";
  st = shimctl_stack_parse(path, text, strlen(text), &errs);
  assert_null(st);
  assert_int_equal(errs.n, 1);
  char want[512];
  snprintf(want, sizeof want, "%s:2: replica_sockets: unix needs a shorter state_dir: echo's replica sockets in "
           "/srv/%s/.shimctl/s/sockets/ would take up to 116 bytes", path, STATE_DIR_68);
  assert_non_null(strstr(errs.msg[0], want));
  assert_int_equal(shimctl_sockets_parse("unix"), SHIMCTL_SOCKETS_UNIX);
  assert_int_equal(shimctl_sockets_parse("UNIX"), -1);
  assert_string_equal(shimctl_sockets_name(SHIMCTL_SOCKETS_TCP), "tcp");
}

static void test_every_problem_reported(void **state) {
  (void)state;
  shimctl_errors errs;
  shimctl_stack *st = parse(HEAD "  echo:\n    replicas: 0\n  feature_store:\n    implementation: mysql\n"
                                 "  nope: {}\n",
                            &errs);
  assert_null(st);
  assert_int_equal(errs.n, 3);
  assert_non_null(strstr(errs.msg[0], "stack.yaml:6: replicas"));
  assert_non_null(strstr(errs.msg[1], "stack.yaml:8: unknown implementation"));
  assert_non_null(strstr(errs.msg[2], "stack.yaml:9: unknown service kind"));
}

static void test_no_services(void **state) {
  (void)state;
  shimctl_errors errs;
  shimctl_stack *st = parse("stack: s\nrouter: {listen: 127.0.0.1:1}\nservices: {}\n", &errs);
  assert_null(st);
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.msg[0], "stack.yaml:3: services: at least one service"));
}

static void test_missing_file(void **state) {
  (void)state;
  shimctl_errors errs;
  assert_null(shimctl_stack_load("/nonexistent/stack.yaml", &errs));
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.msg[0], "/nonexistent/stack.yaml:0: cannot open"));
}

/* Every prefix of the good file, and byte corruptions of it: no crash, and
 * a refusal always says why. */
static void test_malformed_input(void **state) {
  (void)state;
  size_t len = strlen(good);
  shimctl_errors errs;
  char *buf = malloc(len + 1);
  assert_non_null(buf);
  for (size_t cut = 0; cut <= len; cut++) {
    memcpy(buf, good, cut);
    shimctl_stack *st = shimctl_stack_parse("t.yaml", buf, cut, &errs);
    assert_true(st != NULL || errs.n > 0);
    shimctl_stack_free(st);
  }
  static const char junk[] = {'\0', ':', '-', '{', '[', '\'', '"', '&', '*', '!', '\t', '\n', '#', '|', '\xff', '%'};
  uint32_t seed = 12345;
  for (int round = 0; round < 3000; round++) {
    memcpy(buf, good, len);
    for (int k = 0; k < 3; k++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = (seed >> 8) % len;
      seed = seed * 1103515245u + 12345u;
      buf[at] = junk[(seed >> 8) % sizeof junk];
    }
    shimctl_stack *st = shimctl_stack_parse("t.yaml", buf, len, &errs);
    assert_true(st != NULL || errs.n > 0);
    shimctl_stack_free(st);
  }
  free(buf);
}

static void test_helpers(void **state) {
  (void)state;
  assert_int_equal(shimctl_addr_port("127.0.0.1:80"), 80);
  assert_int_equal(shimctl_addr_port("[::1]:443"), 443);
  assert_int_equal(shimctl_addr_port("host"), -1);
  assert_int_equal(shimctl_addr_port(":80"), -1);
  assert_int_equal(shimctl_addr_port("h:0"), -1);
  assert_int_equal(shimctl_addr_port("h:8x"), -1);
  assert_int_equal(shimctl_policy_parse("hash"), SHIMCTL_POLICY_HASH);
  assert_int_equal(shimctl_policy_parse("HASH"), -1);
  assert_string_equal(shimctl_policy_name(SHIMCTL_POLICY_LEAST_OUTSTANDING), "least_outstanding");
  const shimctl_kind *k = shimctl_kind_find("model_repository");
  assert_non_null(k);
  assert_true(k->stateful);
  assert_true(shimctl_kind_has_impl(k, "postgres"));
  assert_false(shimctl_kind_has_impl(k, "sqlite"));
  char list[64];
  shimctl_kind_impl_list(k, list, sizeof list);
  assert_string_equal(list, "fs, postgres");
  assert_null(shimctl_kind_find("nope"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_file),         cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_bad_files),         cmocka_unit_test(test_every_problem_reported),
      cmocka_unit_test(test_no_services),       cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_malformed_input),   cmocka_unit_test(test_helpers),
      cmocka_unit_test(test_replica_sockets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
