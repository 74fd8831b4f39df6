/*
 * swrr.c - smooth weighted round robin (swrr.h): spreads picks in proportion
 * to the weights, interleaved rather than in bursts, with O(n) work and no
 * randomness.
 */
#include "swrr.h"

int router_swrr_pick(int64_t *current, const uint32_t *weights, const bool *eligible, int n) {
  int best = -1;
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    if (!eligible[i] || weights[i] == 0) {
      continue;
    }
    current[i] += weights[i];
    total += weights[i];
    if (best < 0 || current[i] > current[best]) {
      best = i;
    }
  }
  if (best >= 0) {
    current[best] -= total;
  }
  return best;
}
