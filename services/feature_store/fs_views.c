/*
 * fs_views.c - see fs_views.h. A short list under one mutex: there are few
 * views, and the lock is held only to find, insert or unlink an entry, never
 * while the store is asked.
 */
#define _POSIX_C_SOURCE 200809L

#include "fs_views.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_convert.h"
#include "fs_limits.h"

struct fs_views_entry {
  fs_views_entry *next; /* in the cache's list, newest first */
  int refs;             /* the cache's (while listed) + one per call using it */
  bool listed;          /* still in the list */
  int64_t loaded_ms;    /* monotonic time of loading */
  fs_mem mem;           /* holds view */
  fs_view view;
};

struct fs_views {
  pthread_mutex_t lock;
  fs_views_entry *head;
  size_t n;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

fs_views *fs_views_new(void) {
  fs_views *v = calloc(1, sizeof *v);
  if (v) pthread_mutex_init(&v->lock, NULL);
  return v;
}

static void entry_free(fs_views_entry *e) {
  fs_mem_free(&e->mem);
  free(e);
}

/* With the lock held: unlinks e and drops the cache's reference. */
static void unlink_entry(fs_views *v, fs_views_entry *e) {
  if (!e->listed) return;
  for (fs_views_entry **p = &v->head; *p; p = &(*p)->next) {
    if (*p == e) {
      *p = e->next;
      break;
    }
  }
  e->listed = false;
  e->next = NULL;
  v->n--;
  if (--e->refs == 0) entry_free(e);
}

void fs_views_free(fs_views *v) {
  if (!v) return;
  while (v->head) unlink_entry(v, v->head);
  pthread_mutex_destroy(&v->lock);
  free(v);
}

fs_rc fs_views_get(fs_views *v, const fs_backend *b, const char *name, bool reload, fs_views_entry **entry,
                   const fs_view **out, fs_err *err) {
  int64_t now = now_ms();
  pthread_mutex_lock(&v->lock);
  for (fs_views_entry *e = v->head; e; e = e->next) {
    if (strcmp(e->view.name, name) != 0) continue;
    if (reload || now - e->loaded_ms >= FS_VIEW_TTL_MS) {
      unlink_entry(v, e);
      break;
    }
    e->refs++;
    pthread_mutex_unlock(&v->lock);
    *entry = e;
    *out = &e->view;
    return FS_OK;
  }
  pthread_mutex_unlock(&v->lock);

  fs_views_entry *e = calloc(1, sizeof *e);
  if (!e) return fs_fail(err, FS_FULL, "out of memory");
  fs_mem_init(&e->mem, FS_MEM_LIMIT);
  fs_rc rc = b->ops->get_view(b->be, name, &e->mem, &e->view, err);
  if (rc == FS_OK && fs_view_index(&e->view, &e->mem) != 0) rc = fs_fail(err, FS_FULL, "out of memory");
  if (rc != FS_OK) {
    entry_free(e);
    return rc;
  }
  e->loaded_ms = now;
  e->refs = 2; /* the cache and the caller */
  e->listed = true;
  pthread_mutex_lock(&v->lock);
  for (fs_views_entry *o = v->head; o; o = o->next) /* loaded meanwhile by another call: replace it */
    if (strcmp(o->view.name, name) == 0) {
      unlink_entry(v, o);
      break;
    }
  if (v->n >= FS_VIEWS_MAX) { /* the oldest loaded is last */
    fs_views_entry *last = v->head;
    while (last && last->next) last = last->next;
    if (last) unlink_entry(v, last);
  }
  e->next = v->head;
  v->head = e;
  v->n++;
  pthread_mutex_unlock(&v->lock);
  *entry = e;
  *out = &e->view;
  return FS_OK;
}

void fs_views_forget(fs_views *v, fs_views_entry *entry) {
  if (!entry) return;
  pthread_mutex_lock(&v->lock);
  unlink_entry(v, entry);
  pthread_mutex_unlock(&v->lock);
}

void fs_views_release(fs_views *v, fs_views_entry *entry) {
  if (!entry) return;
  pthread_mutex_lock(&v->lock);
  if (--entry->refs == 0) entry_free(entry);
  pthread_mutex_unlock(&v->lock);
}
