/*
 * test_shimctl_images.c - units of the image builder and the kubernetes
 * renderer that need no docker: the ldd parser (typical output, the vDSO,
 * the loader, every way it must refuse, every truncation of a valid text),
 * image references and recipes, Kubernetes names and YAML quoting, the
 * router's sets file and its SHA-256, the docker environment's rewrite of
 * loopback addresses.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env.h"
#include "env_kubernetes.h"
#include "image.h"
#include "image_ldd.h"
#include "router_sets.h"
#include "sha256.h"

static const char typical[] =
    "\tlinux-vdso.so.1 (0x00007ffd5b3f2000)\n"
    "\tlibshimkit.so.0 => /work/build/runtime/libshimkit.so.0 (0x00007f40f12ed000)\n"
    "\tlibgrpc.so.29 => /lib/x86_64-linux-gnu/libgrpc.so.29 (0x00007f40f0a00000)\n"
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f40f10f5000)\n"
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f40f1337000)\n";

static shimctl_ldd parsed;

static void test_ldd_typical(void **state) {
  (void)state;
  char err[256];
  assert_int_equal(shimctl_ldd_parse(typical, &parsed, err, sizeof err), 0);
  assert_int_equal(parsed.n, 3);
  assert_string_equal(parsed.libs[0].soname, "libshimkit.so.0");
  assert_string_equal(parsed.libs[0].path, "/work/build/runtime/libshimkit.so.0");
  assert_string_equal(parsed.libs[2].path, "/lib/x86_64-linux-gnu/libc.so.6");
  assert_string_equal(parsed.loader, "/lib64/ld-linux-x86-64.so.2");
  assert_int_equal(shimctl_ldd_find(&parsed, "libgrpc.so"), 1);
  assert_int_equal(shimctl_ldd_find(&parsed, "libpq.so"), -1);
}

static void expect_refused(const char *text, const char *why) {
  char err[256] = "";
  assert_int_equal(shimctl_ldd_parse(text, &parsed, err, sizeof err), -1);
  if (!strstr(err, why)) fail_msg("for %s: error '%s' lacks '%s'", text, err, why);
}

static void test_ldd_refusals(void **state) {
  (void)state;
  expect_refused("\tlibfoo.so.1 => not found\n", "libfoo.so.1 not found");
  expect_refused("\tstatically linked\n", "statically linked");
  expect_refused("", "no library");
  expect_refused("\tlinux-vdso.so.1 (0x1)\n", "no library");
  expect_refused("\tlibfoo.so.1 => relative/libfoo.so.1 (0x1)\n", "without an absolute path");
  expect_refused("\tlibfoo.so.1 =>\n", "without an absolute path");
  expect_refused("\tgarbage here\n", "not understood");
  expect_refused("\ta/b => /x (0x1)\n", "bad library name");
}

static void test_ldd_limits(void **state) {
  (void)state;
  /* One path too long for the field. */
  size_t big = SHIMCTL_LDD_PATH_MAX + 64;
  char *text = malloc(big + 64);
  assert_non_null(text);
  int n = sprintf(text, "\tlibx.so.1 => /");
  memset(text + n, 'a', big);
  strcpy(text + n + big, " (0x1)\n");
  expect_refused(text, "without an absolute path");
  free(text);
  /* More libraries than the closure holds. */
  size_t cap = (SHIMCTL_LDD_MAX_LIBS + 2) * 48;
  text = malloc(cap);
  assert_non_null(text);
  size_t len = 0;
  for (int i = 0; i < SHIMCTL_LDD_MAX_LIBS + 1; i++)
    len += (size_t)snprintf(text + len, cap - len, "\tlib%d.so => /l/lib%d.so (0x1)\n", i, i);
  expect_refused(text, "more than");
  free(text);
}

/* Every prefix of a valid text parses or is refused with a reason; none crashes. */
static void test_ldd_truncations(void **state) {
  (void)state;
  size_t n = strlen(typical);
  for (size_t cut = 0; cut <= n; cut++) {
    char *t = malloc(cut + 1);
    assert_non_null(t);
    memcpy(t, typical, cut);
    t[cut] = '\0';
    char err[256] = "";
    int rc = shimctl_ldd_parse(t, &parsed, err, sizeof err);
    assert_true(rc == 0 || (rc == -1 && err[0] != '\0'));
    free(t);
  }
}

static void test_image_refs(void **state) {
  (void)state;
  char ref[128];
  assert_int_equal(shimctl_image_ref("feature_store", "sqlite", "dev", ref, sizeof ref), 0);
  assert_string_equal(ref, "shimkit/feature_store-sqlite:dev");
  assert_int_equal(shimctl_image_ref("Feature", "sqlite", "dev", ref, sizeof ref), -1);
  assert_int_equal(shimctl_image_ref("echo", "builtin", "a:b", ref, sizeof ref), -1);
  assert_int_equal(shimctl_image_ref("echo", "builtin", "-x", ref, sizeof ref), -1);
  assert_int_equal(shimctl_image_ref("echo", "", "dev", ref, sizeof ref), -1);
  assert_int_equal(shimctl_image_ref("echo", "builtin", "dev", ref, 8), -1);
  assert_non_null(strstr(shimctl_image_config("feature_store", "sqlite"), "backend = sqlite"));
  assert_non_null(strstr(shimctl_image_config("training", "xgboost"), "backend = xgboost"));
  assert_null(shimctl_image_config("training", "tensorflow"));
}

static void test_k8s_names(void **state) {
  (void)state;
  char name[64];
  assert_int_equal(shimctl_k8s_name("ml", "feature_store-sqlite", name, sizeof name), 0);
  assert_string_equal(name, "ml-feature-store-sqlite");
  assert_int_equal(shimctl_k8s_name("ML", "a.b", name, sizeof name), 0);
  assert_string_equal(name, "ml-a-b");
  assert_int_equal(shimctl_k8s_name("1ml", "x", name, sizeof name), -1);
  assert_int_equal(shimctl_k8s_name("ml", "x y", name, sizeof name), -1);
  char longset[80];
  memset(longset, 'a', 70);
  longset[70] = '\0';
  assert_int_equal(shimctl_k8s_name("ml", longset, name, sizeof name), -1);
}

/* Hostile arguments stay single double-quoted scalars. */
static void test_k8s_quoting(void **state) {
  (void)state;
  const char *args[] = {"--name", "a\"b\\c: d # e\nf\x01", NULL};
  shimctl_k8s_set s = {"ml", "echo", "builtin", "echo-builtin", "shimkit/echo-builtin:dev", args, 50110, 1, 0, {0}};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  char err[256];
  assert_int_equal(shimctl_k8s_render_set(&s, f, err, sizeof err), 0);
  fclose(f);
  assert_non_null(strstr(buf, "- \"a\\\"b\\\\c: d # e\\nf\\x01\"\n"));
  assert_non_null(strstr(buf, "terminationGracePeriodSeconds: 15\n"));
  assert_non_null(strstr(buf, "grpc:\n              port: 50110\n"));
  /* The headless Service: the set's ready pods in DNS, for the router. */
  assert_non_null(strstr(buf, "  name: \"ml-echo-builtin-pods\"\n"));
  assert_non_null(strstr(buf, "  clusterIP: \"None\"\n  publishNotReadyAddresses: false\n"));
  free(buf);
  s.replicas = 0;
  f = open_memstream(&buf, &len);
  assert_int_equal(shimctl_k8s_render_set(&s, f, err, sizeof err), -1);
  fclose(f);
  free(buf);
  assert_non_null(strstr(err, "replicas"));
}

/* FIPS 180-4's examples (one block, two blocks of padding, many blocks). */
static void test_sha256(void **state) {
  (void)state;
  char hex[SHIMCTL_SHA256_HEX];
  shimctl_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  shimctl_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  shimctl_sha256_hex(two, strlen(two), hex);
  assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *million = malloc(1000000);
  assert_non_null(million);
  memset(million, 'a', 1000000);
  shimctl_sha256_hex(million, 1000000, hex);
  free(million);
  assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The router's sets file: the router's --state format, a dns: backend per set on its headless Service. */
static void test_k8s_router_sets(void **state) {
  (void)state;
  char name[64], err[256];
  assert_int_equal(shimctl_k8s_headless_name("ml", "feature_store-sqlite", name, sizeof name), 0);
  assert_string_equal(name, "ml-feature-store-sqlite-pods");
  char set60[64];
  memset(set60, 'a', 59);
  set60[59] = '\0'; /* "ml-" + 59 = 62 characters: fits, but not with "-pods" */
  assert_int_equal(shimctl_k8s_name("ml", set60, name, sizeof name), 0);
  assert_int_equal(shimctl_k8s_headless_name("ml", set60, name, sizeof name), -1);

  shimctl_k8s_set sets[] = {
      {"ml", "training", "liblinear", "training-liblinear", "i", NULL, 50051, 3, 0,
       {"training-liblinear", "shimkit.ml.v1.Training", 2, "model_name", "", 100, true}},
      {"ml", "feature_store", "redis", "feature_store-redis", "i", NULL, 50130, 1, 0,
       {"feature_store-redis", "shimkit.ml.v1.FeatureStore", 1, "", "", 7, false}},
  };
  size_t len = 0;
  char *text = shimctl_k8s_router_sets(sets, 2, &len, err, sizeof err);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  assert_string_equal(text,
                      "# shimkit_router --sets-file, written by shimctl: read at start, never written\n"
                      "shimkit-router-state 1\n"
                      "set training-liblinear\nweight 100\npolicy hash\nhash_field model_name\nretry_not_found\n"
                      "service shimkit.ml.v1.Training\nbackend dns:ml-training-liblinear-pods:50051\nend\n"
                      "set feature_store-redis\nweight 7\npolicy least_outstanding\n"
                      "service shimkit.ml.v1.FeatureStore\nbackend dns:ml-feature-store-redis-pods:50130\nend\n"
                      "end-state 2\n");
  free(text);
  /* Refused as the router would refuse them: hash with no field or key, a key with a field. */
  sets[1].route.policy = 2;
  assert_null(shimctl_k8s_router_sets(sets, 2, &len, err, sizeof err));
  assert_non_null(strstr(err, "needs hash_field"));
  sets[1].route.policy = 0;
  sets[1].route.hash_key = "x-k";
  assert_null(shimctl_k8s_router_sets(sets, 2, &len, err, sizeof err));
  assert_non_null(strstr(err, "go with policy HASH only"));
  sets[1].route.hash_key = "";
  sets[1].route.set = "training-liblinear";
  assert_null(shimctl_k8s_router_sets(sets, 2, &len, err, sizeof err));
  assert_non_null(strstr(err, "twice"));
  /* A dns: name the router would refuse (not an RFC 1123 host name). */
  shimctl_route route = {"echo-builtin", "shimkit.examples.v1.Echo", 0, "", "", 100, false};
  const char *bad[] = {"dns:not_a_host:50051"};
  assert_null(shimctl_router_sets_text(&route, bad, 1, &len, err, sizeof err));
  assert_non_null(strstr(err, "dns:HOST:PORT"));
  const char *good[] = {"dns:ml-echo-builtin-pods:50051"};
  text = shimctl_router_sets_text(&route, good, 1, &len, err, sizeof err);
  assert_non_null(text);
  free(text);
}

/* The router's Deployment reads its sets from the ConfigMap rendered with it; the checksum follows the text. */
static void test_k8s_router_render(void **state) {
  (void)state;
  shimctl_k8s_router r = {"shimkit/router-shimkit:dev", NULL, 50100, 0};
  char err[256], sha[SHIMCTL_SHA256_HEX], want[128];
  const char *sets = "shimkit-router-state 1\nend-state 0\n";
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(shimctl_k8s_render_router("ml", &r, sets, f, err, sizeof err), 0);
  fclose(f);
  assert_non_null(strstr(buf, "kind: ConfigMap\nmetadata:\n  name: \"ml-router-sets\"\n"));
  assert_non_null(strstr(buf, "  router.sets: \"shimkit-router-state 1\\nend-state 0\\n\"\n"));
  shimctl_sha256_hex(sets, strlen(sets), sha);
  snprintf(want, sizeof want, "shimkit.io/sets-sha256: \"%s\"\n", sha);
  assert_non_null(strstr(buf, want));
  assert_non_null(strstr(buf, "- \"--sets-file\"\n            - \"/etc/shimkit/router.sets\"\n"));
  assert_non_null(strstr(buf, "mountPath: \"/etc/shimkit\"\n              readOnly: true\n"));
  assert_null(strstr(buf, "\"--state\""));
  assert_null(strstr(buf, "/data"));
  free(buf);
}

/* Loopback hosts in a shim's arguments name the host from inside a container. */
static void test_docker_host_address(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"127.0.0.1:6379", "host.docker.internal:6379"},
      {"localhost:6379", "host.docker.internal:6379"},
      {"--redis=127.0.0.1:6379", "--redis=host.docker.internal:6379"},
      {"host=127.0.0.1 port=5432 dbname=x user=postgres",
       "host=host.docker.internal port=5432 dbname=x user=postgres"},
      {"dbname=x host=localhost", "dbname=x host=host.docker.internal"},
      {"postgresql://postgres@127.0.0.1:5432/x", "postgresql://postgres@host.docker.internal:5432/x"},
      {"postgresql://localhost/x?sslmode=disable", "postgresql://host.docker.internal/x?sslmode=disable"},
      {"postgresql://u@localhost?port=5", "postgresql://u@host.docker.internal?port=5"},
      {"host=localhost,127.0.0.1 port=1,2", "host=host.docker.internal,host.docker.internal port=1,2"},
      /* not loopback hosts: unchanged */
      {"host=127.0.0.12 port=5432", NULL},
      {"10.127.0.0.1:80", NULL},
      {"db.localhost.example:80", NULL},
      {"/srv/localhost/features.db", NULL},
      {"172.17.0.1:6379", NULL},
      {"", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[128];
    const char *got = shimctl_docker_host_address(cases[i][0], buf, sizeof buf);
    if (cases[i][1] == NULL) {
      assert_ptr_equal(got, cases[i][0]);
    } else {
      assert_string_equal(got, cases[i][1]);
    }
  }
  /* Does not fit: the argument as it was (the shim then says it cannot connect). */
  char small[20];
  assert_string_equal(shimctl_docker_host_address("127.0.0.1:6379", small, sizeof small), "127.0.0.1:6379");
  assert_string_equal(shimctl_docker_host_address("127.0.0.1:6379", small, 0), "127.0.0.1:6379");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ldd_typical), cmocka_unit_test(test_ldd_refusals),
      cmocka_unit_test(test_ldd_limits),  cmocka_unit_test(test_ldd_truncations),
      cmocka_unit_test(test_image_refs),  cmocka_unit_test(test_k8s_names),
      cmocka_unit_test(test_k8s_quoting), cmocka_unit_test(test_docker_host_address),
      cmocka_unit_test(test_sha256),      cmocka_unit_test(test_k8s_router_sets),
      cmocka_unit_test(test_k8s_router_render),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
