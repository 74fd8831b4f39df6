/* pkgconfig_check.c - compiled with only `pkg-config --cflags --libs shimkit`. */
#include <stdio.h>
#include <string.h>

#include <shimkit/shimkit.h>

int main(void) {
  const char *name = shimkit_code_name(SHIMKIT_NOT_FOUND);
  printf("shimkit %s: %s\n", SHIMKIT_VERSION_STRING, name);
  return strcmp(name, "NOT_FOUND") == 0 ? 0 : 1;
}
