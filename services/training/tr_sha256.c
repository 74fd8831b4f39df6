/*
 * tr_sha256.c - the checksum the ModelRepository verifies end to end:
 * sha256 of a model file with OpenSSL's EVP interface.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "tr_register.h"

int tr_sha256_file(const char *path, char hex[65], uint64_t *size, tr_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return tr_fail(err, "cannot open the model file %s: %s", path, strerror(errno));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = -1;
  unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  *size = 0;
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    tr_fail(err, "OpenSSL cannot start a sha256");
    goto err;
  }
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    EVP_DigestUpdate(ctx, buf, n);
    *size += n;
  }
  if (ferror(f)) {
    tr_fail(err, "cannot read the model file %s", path);
    goto err;
  }
  EVP_DigestFinal_ex(ctx, md, &md_len);
  for (unsigned int i = 0; i < md_len && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  rc = 0;
err:
  EVP_MD_CTX_free(ctx);
  fclose(f);
  return rc;
}
