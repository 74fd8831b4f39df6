/*
 * shim_sha256.h - the one sha256 of the ML services: the checksum a model
 * artifact carries end to end (training computes it, the model repository
 * checks it on upload, model execution on download), as 64 lower-case hex
 * digits. A thin layer over OpenSSL's EVP interface, so that the services
 * share one way to start, feed and finish a digest and one hex format.
 */
#ifndef SHIM_SHA256_H
#define SHIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHIM_SHA256_HEX_LEN 64 /* a hex digest is this long, plus its NUL */

typedef struct shim_sha256 shim_sha256;

/* A running digest; NULL when OpenSSL cannot start one (out of memory). Free with shim_sha256_free. */
shim_sha256 *shim_sha256_new(void);

/* Adds len bytes. 0, or -1 when OpenSSL fails (the digest is then unusable). */
int shim_sha256_update(shim_sha256 *h, const void *data, size_t len);

/* Finishes the digest into hex (NUL-terminated, lower case). 0 or -1. No update after it. */
int shim_sha256_hex(shim_sha256 *h, char hex[SHIM_SHA256_HEX_LEN + 1]);

/* Frees h. Accepts NULL. */
void shim_sha256_free(shim_sha256 *h);

/*
 * The digest of the file at path and its size. 0; -1 when the file cannot be
 * opened or read (errno says why); -2 when OpenSSL fails.
 */
int shim_sha256_file(const char *path, char hex[SHIM_SHA256_HEX_LEN + 1], uint64_t *size);

#endif /* SHIM_SHA256_H */
