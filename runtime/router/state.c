/*
 * state.c - reading and writing the router's --state file (state.h). The
 * reader treats the file as untrusted bytes: every line is bounded, every
 * set is validated, anything unexpected (garbage, a cut file, a NUL) is a
 * one-line error, never a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "shimkit-router-state 1"
#define STATE_MAX_LINE 512

void router_specs_free(router_set_spec *sets, int n) {
  for (int i = 0; sets != NULL && i < n; i++) {
    router_spec_clear(&sets[i]);
  }
  free(sets);
}

static int set_string(char **dst, const char *v) {
  free(*dst);
  *dst = strdup(v);
  return *dst == NULL ? -1 : 0;
}

/* One line's key and value: key up to the first space, value after it. */
static int parse_line(router_set_spec *cur, const char *key, const char *value, char *why, size_t cap) {
  if (strcmp(key, "weight") == 0) {
    char *end = NULL;
    errno = 0;
    unsigned long w = strtoul(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || w > ROUTER_MAX_WEIGHT) {
      snprintf(why, cap, "weight \"%.32s\" is not a number 0-%u", value, ROUTER_MAX_WEIGHT);
      return -1;
    }
    cur->weight = (uint32_t)w;
  } else if (strcmp(key, "policy") == 0) {
    if (router_policy_parse(value, &cur->policy) != 0) {
      snprintf(why, cap, "policy \"%.32s\" is not round_robin, least_outstanding or hash", value);
      return -1;
    }
  } else if (strcmp(key, "retry_not_found") == 0) {
    if (value[0] != '\0') {
      snprintf(why, cap, "retry_not_found takes no value, not \"%.32s\"", value);
      return -1;
    }
    cur->retry_not_found = true;
  } else if (strcmp(key, "hash_field") == 0 || strcmp(key, "hash_key") == 0) {
    if (set_string(key[5] == 'f' ? &cur->hash_field : &cur->hash_key, value) != 0) {
      snprintf(why, cap, "out of memory");
      return -1;
    }
  } else if (strcmp(key, "service") == 0 || strcmp(key, "backend") == 0) {
    bool svc = key[0] == 's';
    if ((svc ? cur->n_services >= ROUTER_MAX_SERVICES : cur->n_backends >= ROUTER_MAX_BACKENDS)) {
      snprintf(why, cap, "too many %.16ss in one set", key);
      return -1;
    }
    if (router_spec_push(svc ? &cur->services : &cur->backends, svc ? &cur->n_services : &cur->n_backends,
                         value) != 0) {
      snprintf(why, cap, "out of memory");
      return -1;
    }
  } else {
    snprintf(why, cap, "unknown key \"%.32s\"", key);
    return -1;
  }
  return 0;
}

int router_state_parse(const char *text, size_t len, router_set_spec **sets_out, int *n_out, char *err,
                       size_t cap) {
  router_set_spec *sets = NULL;
  int n = 0;
  router_set_spec *cur = NULL; /* the set being read, between "set" and "end" */
  bool magic = false;
  bool ended = false;
  char why[256] = "";
  char line[STATE_MAX_LINE + 1];
  size_t pos = 0;
  int lineno = 0;
  *sets_out = NULL;
  *n_out = 0;
  if (len > ROUTER_STATE_MAX_BYTES) {
    snprintf(err, cap, "larger than %d bytes: not a state file", ROUTER_STATE_MAX_BYTES);
    return -1;
  }
  if (memchr(text, '\0', len) != NULL) {
    snprintf(err, cap, "has a NUL byte: not a state file");
    return -1;
  }
  while (pos < len) {
    lineno++;
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t ll = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
    if (ll > STATE_MAX_LINE) {
      snprintf(why, sizeof why, "line longer than %d bytes", STATE_MAX_LINE);
      goto bad;
    }
    memcpy(line, text + pos, ll);
    line[ll] = '\0';
    pos += ll + (nl != NULL ? 1 : 0);
    if (ll > 0 && line[ll - 1] == '\r') {
      line[--ll] = '\0';
    }
    if (ll == 0 || line[0] == '#') {
      continue;
    }
    if (ended) {
      snprintf(why, sizeof why, "text after the end-state line");
      goto bad;
    }
    if (!magic) {
      if (strcmp(line, STATE_MAGIC) != 0) {
        snprintf(why, sizeof why, "not a shimkit_router state file (the first line is not \"%s\")", STATE_MAGIC);
        goto bad;
      }
      magic = true;
      continue;
    }
    char *sp = strchr(line, ' ');
    const char *key = line;
    const char *value = "";
    if (sp != NULL) {
      *sp = '\0';
      value = sp + 1;
    }
    if (strcmp(key, "set") == 0) {
      if (cur != NULL) {
        snprintf(why, sizeof why, "set \"%.64s\" has no end line before the next set", cur->name);
        goto bad;
      }
      if (n >= ROUTER_MAX_SETS) {
        snprintf(why, sizeof why, "more than %d sets", ROUTER_MAX_SETS);
        goto bad;
      }
      router_set_spec *grown = realloc(sets, (size_t)(n + 1) * sizeof *grown);
      if (grown == NULL) {
        snprintf(why, sizeof why, "out of memory");
        goto bad;
      }
      sets = grown;
      cur = &sets[n++];
      memset(cur, 0, sizeof *cur);
      if (set_string(&cur->name, value) != 0) {
        snprintf(why, sizeof why, "out of memory");
        goto bad;
      }
    } else if (strcmp(key, "end") == 0) {
      if (cur == NULL) {
        snprintf(why, sizeof why, "end without a set");
        goto bad;
      }
      char verr[256];
      if (router_spec_validate(cur, verr, sizeof verr) != 0) {
        snprintf(why, sizeof why, "%s", verr);
        goto bad;
      }
      for (int i = 0; i < n - 1; i++) {
        if (strcmp(sets[i].name, cur->name) == 0) {
          snprintf(why, sizeof why, "set \"%s\" appears twice", cur->name);
          goto bad;
        }
      }
      cur = NULL;
    } else if (strcmp(key, "end-state") == 0) {
      if (cur != NULL) {
        snprintf(why, sizeof why, "set \"%.64s\" has no end line", cur->name);
        goto bad;
      }
      char *end = NULL;
      long count = strtol(value, &end, 10);
      if (end == value || *end != '\0' || count != n) {
        snprintf(why, sizeof why, "end-state says %.16s sets, the file has %d", value, n);
        goto bad;
      }
      ended = true;
    } else if (cur == NULL) {
      snprintf(why, sizeof why, "\"%.32s\" outside a set block", key);
      goto bad;
    } else if (parse_line(cur, key, value, why, sizeof why) != 0) {
      goto bad;
    }
  }
  if (!ended) {
    snprintf(err, cap, "cut short: %s", !magic ? "empty file" : "no end-state line (was the file truncated?)");
    router_specs_free(sets, n);
    return -1;
  }
  *sets_out = sets;
  *n_out = n;
  return 0;
bad:
  snprintf(err, cap, "line %d: %s", lineno, why);
  router_specs_free(sets, n);
  return -1;
}

typedef struct buf {
  char *p;
  size_t len, cap;
  bool oom;
} buf;

static void put(buf *b, const char *key, const char *value) {
  size_t need = strlen(key) + 1 + strlen(value) + 1;
  if (b->oom) {
    return;
  }
  if (b->len + need + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + need + 1) {
      cap *= 2;
    }
    char *grown = realloc(b->p, cap);
    if (grown == NULL) {
      b->oom = true;
      return;
    }
    b->p = grown;
    b->cap = cap;
  }
  b->len += (size_t)snprintf(b->p + b->len, b->cap - b->len, "%s%s%s\n", key, value[0] ? " " : "", value);
}

char *router_state_format(const router_set_spec *sets, int n, size_t *len) {
  buf b = {0};
  put(&b, "# shimkit_router --state file: its sets and weights, rewritten after every admin change", "");
  put(&b, STATE_MAGIC, "");
  for (int i = 0; i < n; i++) {
    const router_set_spec *s = &sets[i];
    char w[16];
    snprintf(w, sizeof w, "%u", s->weight);
    put(&b, "set", s->name);
    put(&b, "weight", w);
    put(&b, "policy", router_policy_name(s->policy));
    if (s->hash_field != NULL && s->hash_field[0] != '\0') {
      put(&b, "hash_field", s->hash_field);
    }
    if (s->hash_key != NULL && s->hash_key[0] != '\0') {
      put(&b, "hash_key", s->hash_key);
    }
    if (s->retry_not_found) {
      put(&b, "retry_not_found", "");
    }
    for (int j = 0; j < s->n_services; j++) {
      put(&b, "service", s->services[j]);
    }
    for (int j = 0; j < s->n_backends; j++) {
      put(&b, "backend", s->backends[j]);
    }
    put(&b, "end", "");
  }
  char count[16];
  snprintf(count, sizeof count, "%d", n);
  put(&b, "end-state", count);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}

int router_state_load(const char *path, router_set_spec **sets, int *n, char *err, size_t cap) {
  *sets = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (errno == ENOENT) {
      return 1;
    }
    snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char *text = malloc(ROUTER_STATE_MAX_BYTES + 1);
  size_t len = text != NULL ? fread(text, 1, ROUTER_STATE_MAX_BYTES + 1, f) : 0;
  int rerr = ferror(f);
  fclose(f);
  if (text == NULL || rerr) {
    snprintf(err, cap, "%s: %s", path, text == NULL ? "out of memory" : "unreadable");
    free(text);
    return -1;
  }
  char why[300];
  int rc = router_state_parse(text, len, sets, n, why, sizeof why);
  free(text);
  if (rc != 0) {
    snprintf(err, cap, "%s: %s", path, why);
    return -1;
  }
  return 0;
}

int router_state_save(const char *path, const router_set_spec *sets, int n, char *err, size_t cap) {
  size_t len = 0;
  char *text = router_state_format(sets, n, &len);
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  char *dir = strdup(path);
  int fd = -1;
  if (text == NULL || tmp == NULL || dir == NULL) {
    snprintf(err, cap, "out of memory");
    goto fail;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
    goto fail;
  }
  for (size_t off = 0; off < len;) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
      goto fail;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    fd = -1;
    snprintf(err, cap, "cannot sync %s: %s", tmp, strerror(errno));
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    snprintf(err, cap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    goto fail;
  }
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* the rename itself reaches the disk */
    close(dfd);
  }
  free(text);
  free(tmp);
  free(dir);
  return 0;
fail:
  if (fd >= 0) {
    close(fd);
  }
  if (tmp != NULL) {
    unlink(tmp);
  }
  free(text);
  free(tmp);
  free(dir);
  return -1;
}
