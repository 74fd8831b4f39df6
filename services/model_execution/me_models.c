/*
 * me_models.c - see me_models.h. A small array: the table is bounded by
 * --max-models (tens, not thousands), so a linear scan beats a hash here.
 */
#include "me_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

me_models *me_models_new(size_t max) {
  me_models *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->items = calloc(max ? max : 1, sizeof *t->items);
  if (!t->items || pthread_mutex_init(&t->mu, NULL) != 0) {
    free(t->items);
    free(t);
    return NULL;
  }
  t->max = max ? max : 1;
  return t;
}

void me_models_free(me_models *t) {
  if (!t) return;
  while (t->n)
    me_model_release(t, t->items[--t->n]);
  pthread_mutex_destroy(&t->mu);
  free(t->items);
  free(t);
}

me_model *me_model_new(const char *name, uint64_t version, const me_runtime_ops *rt, void *native) {
  me_model *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  snprintf(m->name, sizeof m->name, "%s", name);
  m->version = version;
  m->rt = rt;
  m->native = native;
  m->refs = 1;
  return m;
}

void me_model_release(me_models *t, me_model *m) {
  if (!m) return;
  pthread_mutex_lock(&t->mu);
  int left = --m->refs;
  pthread_mutex_unlock(&t->mu);
  if (left > 0) return;
  if (m->rt && m->native) m->rt->unload(m->native);
  free(m);
}

me_model *me_models_get(me_models *t, const char *name, uint64_t version) {
  me_model *best = NULL;
  pthread_mutex_lock(&t->mu);
  for (size_t i = 0; i < t->n; i++) {
    me_model *m = t->items[i];
    if (strcmp(m->name, name) != 0) continue;
    if (version ? m->version == version : (!best || m->version > best->version)) best = m;
  }
  if (best) best->refs++;
  pthread_mutex_unlock(&t->mu);
  return best;
}

int me_models_put(me_models *t, me_model *m, me_err *err) {
  me_model *old = NULL;
  pthread_mutex_lock(&t->mu);
  size_t i = 0;
  while (i < t->n && !(strcmp(t->items[i]->name, m->name) == 0 && t->items[i]->version == m->version))
    i++;
  if (i == t->n && t->n == t->max) {
    pthread_mutex_unlock(&t->mu);
    return me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED,
                   "%zu models are loaded, the most this server takes (--max-models): unload one first",
                   t->max);
  }
  if (i < t->n)
    old = t->items[i];
  else
    t->n++;
  m->refs++;
  t->items[i] = m;
  pthread_mutex_unlock(&t->mu);
  me_model_release(t, old);
  return 0;
}

size_t me_models_remove(me_models *t, const char *name, uint64_t version) {
  me_model *gone[64];
  size_t n_gone = 0, removed = 0;
  for (;;) { /* batches of 64, releasing outside the lock */
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n && n_gone < 64;) {
      me_model *m = t->items[i];
      if (strcmp(m->name, name) == 0 && (!version || m->version == version)) {
        gone[n_gone++] = m;
        t->items[i] = t->items[--t->n];
      } else {
        i++;
      }
    }
    pthread_mutex_unlock(&t->mu);
    if (!n_gone) return removed;
    removed += n_gone;
    while (n_gone)
      me_model_release(t, gone[--n_gone]);
  }
}

size_t me_models_list(me_models *t, me_model **out, size_t max) {
  pthread_mutex_lock(&t->mu);
  size_t n = t->n < max ? t->n : max;
  for (size_t i = 0; i < n; i++) {
    out[i] = t->items[i];
    out[i]->refs++;
  }
  pthread_mutex_unlock(&t->mu);
  return n;
}
