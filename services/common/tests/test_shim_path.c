/*
 * test_shim_path.c - mkdir -p of the back ends that keep files
 * (services/common/shim_path.h): nested folders made with mode 0755, folders
 * already there accepted, a file in the way refused with ENOTDIR, the parent
 * of a file path, and paths without a folder to make.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim_path.h"

static char root[64];

static int make_root(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/test_shim_path.XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int remove_root(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  return st.st_mode & 0777;
}

static void test_nested_folders(void **state) {
  (void)state;
  char path[256];
  mode_t old = umask(022);
  snprintf(path, sizeof path, "%s/a/b//c/", root);
  assert_int_equal(shim_mkdir_p(path), 0);
  assert_int_equal(shim_mkdir_p(path), 0); /* there already: fine */
  snprintf(path, sizeof path, "%s/a/b/c", root);
  assert_int_equal(mode_of(path), 0755);
  snprintf(path, sizeof path, "%s/a", root);
  assert_int_equal(mode_of(path), 0755);
  umask(old);
}

static void test_file_in_the_way(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/file", root);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(shim_mkdir_p(path), -1);
  assert_int_equal(errno, ENOTDIR);
  snprintf(path, sizeof path, "%s/file/below", root);
  assert_int_equal(shim_mkdir_p(path), -1);
  assert_int_equal(errno, ENOTDIR);
}

static void test_parent_of_a_file(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/data/deep/features.db", root);
  assert_int_equal(shim_mkdir_parent(path), 0);
  snprintf(path, sizeof path, "%s/data/deep", root);
  assert_int_equal(mode_of(path), 0755);
  snprintf(path, sizeof path, "%s/data/deep/features.db", root);
  assert_int_equal(access(path, F_OK), -1); /* the file itself is not made */
  assert_int_equal(shim_mkdir_parent("features.db"), 0);
  assert_int_equal(shim_mkdir_parent("/features.db"), 0);
}

static void test_bad_arguments(void **state) {
  (void)state;
  assert_int_equal(shim_mkdir_p(""), -1);
  assert_int_equal(errno, ENOENT);
  assert_int_equal(shim_mkdir_p(NULL), -1);
  char *long_path = malloc(5000);
  assert_non_null(long_path);
  memset(long_path, 'a', 4999);
  long_path[4999] = '\0';
  assert_int_equal(shim_mkdir_p(long_path), -1);
  assert_int_equal(errno, ENAMETOOLONG);
  long_path[4990] = '/';
  assert_int_equal(shim_mkdir_parent(long_path), -1);
  assert_int_equal(errno, ENAMETOOLONG);
  free(long_path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested_folders),
      cmocka_unit_test(test_file_in_the_way),
      cmocka_unit_test(test_parent_of_a_file),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, make_root, remove_root);
}
