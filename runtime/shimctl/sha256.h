/*
 * sha256.h - SHA-256 (FIPS 180-4) of a buffer, as lower-case hex: the
 * checksum of the router's sets that the kubernetes environment puts on the
 * router's pod template (shimkit.io/sets-sha256), so that a changed sets
 * file rolls the router. No library needed for one digest.
 */
#ifndef SHIMCTL_SHA256_H
#define SHIMCTL_SHA256_H

#include <stddef.h>

#define SHIMCTL_SHA256_HEX 65 /* 64 hex digits and the NUL */

void shimctl_sha256_hex(const void *data, size_t len, char out[SHIMCTL_SHA256_HEX]);

#endif /* SHIMCTL_SHA256_H */
