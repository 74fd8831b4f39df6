/*
 * borrow.c - a healthy replica lent to the router itself (not a forwarded
 * call): to learn descriptors (hash on a field) or answer reflection for the
 * replicas' services. It counts as outstanding while borrowed, so
 * least_outstanding sees the load (and a drained set waits for it), but not
 * in the replica's call counts.
 */
#include "router.h"

router_backend *router_borrow(router_set *s, router_backend *const *tried, int n_tried) {
  return router_pick(s, tried, n_tried, true, NULL, 0); /* no key: round robin for hash */
}

void router_give_back(router_backend *b) {
  if (b != NULL) {
    router_release(b, SHIMKIT_OK);
  }
}
