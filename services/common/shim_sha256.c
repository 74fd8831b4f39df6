/*
 * shim_sha256.c - see shim_sha256.h. The handle is OpenSSL's EVP_MD_CTX
 * itself, behind our own name.
 */
#include "shim_sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>

shim_sha256 *shim_sha256_new(void) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    ctx = NULL;
  }
  return (shim_sha256 *)ctx;
}

int shim_sha256_update(shim_sha256 *h, const void *data, size_t len) {
  if (len == 0) return 0;
  return EVP_DigestUpdate((EVP_MD_CTX *)h, data, len) == 1 ? 0 : -1;
}

int shim_sha256_hex(shim_sha256 *h, char hex[SHIM_SHA256_HEX_LEN + 1]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  hex[0] = '\0';
  if (EVP_DigestFinal_ex((EVP_MD_CTX *)h, md, &len) != 1 || len * 2 != SHIM_SHA256_HEX_LEN) return -1;
  for (unsigned int i = 0; i < len; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[SHIM_SHA256_HEX_LEN] = '\0';
  return 0;
}

void shim_sha256_free(shim_sha256 *h) { EVP_MD_CTX_free((EVP_MD_CTX *)h); }

int shim_sha256_file(const char *path, char hex[SHIM_SHA256_HEX_LEN + 1], uint64_t *size) {
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  shim_sha256 *h = shim_sha256_new();
  int rc = h ? 0 : -2;
  unsigned char buf[65536];
  size_t n;
  while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
    if (shim_sha256_update(h, buf, n) != 0) rc = -2;
    *size += n;
  }
  if (rc == 0 && ferror(f)) {
    rc = -1;
    errno = EIO;
  }
  if (rc == 0 && shim_sha256_hex(h, hex) != 0) rc = -2;
  int saved = errno;
  shim_sha256_free(h);
  fclose(f);
  errno = saved;
  return rc;
}
