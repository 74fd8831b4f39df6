/*
 * swrr.h - smooth weighted round robin (the pick nginx uses between
 * upstreams): which set of a service a new call goes to. Deterministic, so a
 * test can predict it: with weights 5,1,1 the picks run a a b a c a a; with
 * 50,50 they alternate; a weight of 0 is never picked.
 */
#ifndef SHIMKIT_ROUTER_SWRR_H
#define SHIMKIT_ROUTER_SWRR_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One pick among n entries: each eligible entry with a weight above 0 adds
 * its weight to its current[i]; the largest current wins (the earliest on a
 * tie) and loses the total. Entries not eligible (no healthy replica) are
 * left out and keep their current. current starts all 0 and is the caller's
 * state (guarded by the caller). Returns the index, or -1 when no eligible
 * entry has a weight.
 */
int router_swrr_pick(int64_t *current, const uint32_t *weights, const bool *eligible, int n);

#endif /* SHIMKIT_ROUTER_SWRR_H */
