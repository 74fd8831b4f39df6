/*
 * test_shimctl_images.c - units of the image builder and the kubernetes
 * renderer that need no docker: the ldd parser (typical output, the vDSO,
 * the loader, every way it must refuse, every truncation of a valid text),
 * image references and recipes, Kubernetes names and YAML quoting, the
 * docker environment's rewrite of loopback addresses.
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
  shimctl_k8s_set s = {"ml", "echo", "builtin", "echo-builtin", "shimkit/echo-builtin:dev", args, 50110, 1, 0};
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
  free(buf);
  s.replicas = 0;
  f = open_memstream(&buf, &len);
  assert_int_equal(shimctl_k8s_render_set(&s, f, err, sizeof err), -1);
  fclose(f);
  free(buf);
  assert_non_null(strstr(err, "replicas"));
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
