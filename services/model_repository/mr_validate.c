/*
 * mr_validate.c - the input rules of the model repository (see mr_validate.h).
 * Names are restricted so that they are safe as file names and URL parts
 * everywhere: lower-case letters, digits, '.', '_' and '-', starting with a
 * letter or digit, at most 128 bytes.
 */
#include "mr_validate.h"

#include <string.h>

static int name_char(char c, int first) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return 1;
  return !first && (c == '.' || c == '_' || c == '-');
}

const char *mr_check_name(const char *what, const char *name, char *msg, size_t cap) {
  if (!name || !name[0]) {
    snprintf(msg, cap, "%s is empty", what);
    return msg;
  }
  size_t len = strlen(name);
  if (len > MR_NAME_MAX) {
    snprintf(msg, cap, "%s is %zu bytes long, the limit is %d", what, len, MR_NAME_MAX);
    return msg;
  }
  for (size_t i = 0; i < len; i++) {
    if (!name_char(name[i], i == 0)) {
      snprintf(msg, cap,
               "%s '%.*s' is not valid: use lower-case letters, digits, '.', '_' and '-', "
               "starting with a letter or digit",
               what, MR_NAME_MAX, name);
      return msg;
    }
  }
  return NULL;
}

const char *mr_check_sha256(const char *sha, char *msg, size_t cap) {
  size_t len = sha ? strlen(sha) : 0;
  int ok = len == 64;
  for (size_t i = 0; ok && i < len; i++)
    ok = (sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f');
  if (ok) return NULL;
  snprintf(msg, cap, "sha256 '%.80s' is not 64 lower-case hex digits", sha ? sha : "");
  return msg;
}

const char *mr_check_text(const char *what, const char *text, size_t max, char *msg, size_t cap) {
  size_t len = text ? strlen(text) : 0;
  if (len <= max) return NULL;
  snprintf(msg, cap, "%s is %zu bytes long, the limit is %zu", what, len, max);
  return msg;
}

const char *mr_check_tag(const char *key, const char *value, char *msg, size_t cap) {
  size_t klen = key ? strlen(key) : 0;
  if (klen == 0 || klen > MR_NAME_MAX) {
    snprintf(msg, cap, "tag key '%.*s' must be 1 to %d bytes", MR_NAME_MAX, key ? key : "", MR_NAME_MAX);
    return msg;
  }
  size_t vlen = value ? strlen(value) : 0;
  if (vlen > MR_TEXT_MAX) {
    snprintf(msg, cap, "value of tag '%s' is %zu bytes long, the limit is %d", key, vlen, MR_TEXT_MAX);
    return msg;
  }
  return NULL;
}
