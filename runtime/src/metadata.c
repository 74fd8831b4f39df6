/*
 * metadata.c - shimkit_metadata, an owned, growable list of (key, value).
 *
 * Each entry is one allocation holding the key and the value, both
 * NUL-terminated, so a value can be read as a C string and freeing is one
 * call per entry. The list has a hard maximum number of entries, and keys
 * and values are validated here (see metadata_internal.h for why).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metadata_internal.h"
#include "shimkit/metadata.h"

typedef struct entry {
  size_t key_len;   /* strlen(key) */
  size_t value_len; /* value bytes, not counting the NUL added after them */
  char data[];      /* key, NUL, value, NUL */
} entry;

struct shimkit_metadata {
  entry **entries; /* count used, cap allocated */
  size_t count;    /* entries in use */
  size_t cap;      /* capacity of entries */
};

bool shimkit__metadata_key_valid(const char *key) {
  if (key == NULL || key[0] == '\0' || key[0] == ':') {
    return false;
  }
  size_t i = 0;
  for (; key[i] != '\0'; i++) {
    unsigned char c = (unsigned char)key[i];
    if (i >= SHIMKIT__METADATA_KEY_MAX) {
      return false;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool shimkit__metadata_key_reserved(const char *key) {
  return key == NULL || key[0] == ':' || strncmp(key, "grpc-", 5) == 0 || strcmp(key, "te") == 0 ||
         strcmp(key, "content-type") == 0 || strcmp(key, "user-agent") == 0;
}

static bool key_is_binary(const char *key) {
  size_t n = strlen(key);
  return n > 4 && strcmp(key + n - 4, "-bin") == 0;
}

bool shimkit__metadata_value_valid(const char *key, const void *value, size_t len) {
  if (len > SHIMKIT__METADATA_VALUE_MAX || (value == NULL && len > 0)) {
    return false;
  }
  if (key_is_binary(key)) {
    return true;
  }
  const unsigned char *v = value;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < 0x20 || v[i] > 0x7e) {
      return false;
    }
  }
  return true;
}

shimkit_metadata *shimkit_metadata_new(void) {
  return calloc(1, sizeof(shimkit_metadata));
}

void shimkit_metadata_clear(shimkit_metadata *md) {
  if (md == NULL) {
    return;
  }
  for (size_t i = 0; i < md->count; i++) {
    free(md->entries[i]);
  }
  md->count = 0;
}

void shimkit_metadata_free(shimkit_metadata *md) {
  if (md == NULL) {
    return;
  }
  shimkit_metadata_clear(md);
  free(md->entries);
  free(md);
}

shimkit_code shimkit_metadata_add(shimkit_metadata *md, const char *key, const void *value, size_t len) {
  if (md == NULL || !shimkit__metadata_key_valid(key) || !shimkit__metadata_value_valid(key, value, len)) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (md->count == SHIMKIT__METADATA_MAX_ENTRIES) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  if (md->count == md->cap) {
    size_t cap = md->cap == 0 ? 8 : md->cap * 2;
    entry **grown = realloc(md->entries, cap * sizeof *grown);
    if (grown == NULL) {
      return SHIMKIT_RESOURCE_EXHAUSTED;
    }
    md->entries = grown;
    md->cap = cap;
  }
  size_t key_len = strlen(key);
  entry *e = malloc(sizeof *e + key_len + 1 + len + 1);
  if (e == NULL) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  e->key_len = key_len;
  e->value_len = len;
  memcpy(e->data, key, key_len + 1);
  if (len > 0) {
    memcpy(e->data + key_len + 1, value, len);
  }
  e->data[key_len + 1 + len] = '\0';
  md->entries[md->count++] = e;
  return SHIMKIT_OK;
}

shimkit_code shimkit_metadata_add_string(shimkit_metadata *md, const char *key, const char *value) {
  if (value == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  return shimkit_metadata_add(md, key, value, strlen(value));
}

size_t shimkit_metadata_count(const shimkit_metadata *md) {
  return md == NULL ? 0 : md->count;
}

int shimkit_metadata_at(const shimkit_metadata *md, size_t i, const char **key, const char **value,
                        size_t *len) {
  if (md == NULL || i >= md->count) {
    return -1;
  }
  const entry *e = md->entries[i];
  if (key != NULL) {
    *key = e->data;
  }
  if (value != NULL) {
    *value = e->data + e->key_len + 1;
  }
  if (len != NULL) {
    *len = e->value_len;
  }
  return 0;
}

const char *shimkit_metadata_get(const shimkit_metadata *md, const char *key, size_t *len) {
  if (md == NULL || key == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < md->count; i++) {
    const entry *e = md->entries[i];
    if (strcmp(e->data, key) == 0) {
      if (len != NULL) {
        *len = e->value_len;
      }
      return e->data + e->key_len + 1;
    }
  }
  return NULL;
}
