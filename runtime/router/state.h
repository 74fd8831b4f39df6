/*
 * state.h - the router's --state file: its sets and their weights, written
 * atomically after every admin change and read at start, so that a router
 * restarted (even after SIGKILL) comes back with the same sets and weights.
 *
 * The format is text, one "key value" per line, one block per set:
 *
 *   shimkit-router-state 1
 *   set training-liblinear
 *   weight 90
 *   policy round_robin            (or least_outstanding, hash)
 *   hash_key x-user               (hash only; or hash_field model_name)
 *   retry_not_found               (only when set: spec.h)
 *   service shimkit.ml.v1.Training   (repeated; none = the catch-all set)
 *   backend 127.0.0.1:50110          (repeated)
 *   end
 *   end-state 1                   (the number of sets: a cut file is refused)
 *
 * Every set read is checked as an ApplySet would check it (spec.h).
 */
#ifndef SHIMKIT_ROUTER_STATE_H
#define SHIMKIT_ROUTER_STATE_H

#include <stddef.h>

#include "spec.h"

#define ROUTER_STATE_MAX_BYTES (4 * 1024 * 1024)

/*
 * Parses a state file's text (len bytes, need not be NUL-terminated). 0 with
 * *sets (malloc'd, router_specs_free) and *n; -1 with a reason in err
 * ("line 7: unknown key \"foo\"", "cut short: no end-state line"), *sets NULL.
 */
int router_state_parse(const char *text, size_t len, router_set_spec **sets, int *n, char *err, size_t cap);

/* The text of n sets (malloc'd, NUL-terminated, *len without the NUL), or NULL (out of memory). */
char *router_state_format(const router_set_spec *sets, int n, size_t *len);

/*
 * Reads path: 0 with the sets, 1 when the file does not exist (*n = 0), -1
 * with a reason in err ("state.txt: line 3: ...", "state.txt: unreadable: ...").
 */
int router_state_load(const char *path, router_set_spec **sets, int *n, char *err, size_t cap);

/* Writes path atomically (path.tmp, fsync, rename, fsync of the folder). 0, or -1 with err. */
int router_state_save(const char *path, const router_set_spec *sets, int n, char *err, size_t cap);

/* Frees n specs and the array. Accepts NULL. */
void router_specs_free(router_set_spec *sets, int n);

#endif /* SHIMKIT_ROUTER_STATE_H */
