/*
 * channel.c - shimkit_channel: one gRPC core channel behind an opaque handle.
 *
 * A channel owns a grpc_channel (plaintext, TLS, or mutual TLS from PEM
 * files) and the per-channel limits client calls need. It holds one
 * grpc_init() reference for its lifetime, so a program that only makes
 * client calls never has to know gRPC core needs initialising. Calls are in
 * client.c; they reach the core channel through client_internal.h.
 */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "shimkit/client.h"
#include "shimkit/log.h"

/* PEM files are certificates and keys: anything larger is not one. */
#define SHIMKIT__PEM_MAX_BYTES (1024 * 1024)
#define SHIMKIT__DEFAULT_MAX_RECEIVE (4 * 1024 * 1024)

/* ---- PEM files ------------------------------------------------------------ */

/* Reads a whole file into a NUL-terminated heap buffer, or NULL (logged). */
static char *read_pem(const char *path, const char *what) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "cannot open %s %s: %s", what, path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(SHIMKIT__PEM_MAX_BYTES + 1);
  size_t n = 0;
  if (buf != NULL) {
    n = fread(buf, 1, SHIMKIT__PEM_MAX_BYTES + 1, f);
  }
  int err = ferror(f);
  fclose(f);
  if (buf == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "out of memory reading %s %s", what, path);
    return NULL;
  }
  if (err || n == 0 || n > SHIMKIT__PEM_MAX_BYTES) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "%s %s is %s", what, path,
                err ? "unreadable" : (n == 0 ? "empty" : "larger than 1 MiB"));
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  char *shrunk = realloc(buf, n + 1);
  return shrunk != NULL ? shrunk : buf;
}

/* Overwrites key material before it goes back to the allocator. */
static void free_secret(char *s) {
  if (s != NULL) {
    volatile char *p = s;
    while (*p != '\0') {
      *p++ = '\0';
    }
    free(s);
  }
}

static grpc_channel_credentials *tls_credentials(const shimkit_channel_tls *tls) {
  if (tls->ca_file == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "TLS channel needs ca_file");
    return NULL;
  }
  if ((tls->cert_file == NULL) != (tls->key_file == NULL)) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "mutual TLS needs both cert_file and key_file (got only one)");
    return NULL;
  }
  grpc_channel_credentials *creds = NULL;
  char *ca = read_pem(tls->ca_file, "CA file");
  char *cert = NULL;
  char *key = NULL;
  if (ca == NULL) {
    goto err;
  }
  if (tls->cert_file != NULL) {
    cert = read_pem(tls->cert_file, "certificate file");
    key = read_pem(tls->key_file, "key file");
    if (cert == NULL || key == NULL) {
      goto err;
    }
  }
  grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
  /* The core copies the PEM strings. */
  creds = grpc_ssl_credentials_create(ca, cert != NULL ? &pair : NULL, NULL, NULL);
  if (creds == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "gRPC refused the TLS settings");
  }
err:
  free(ca);
  free(cert);
  free_secret(key);
  return creds;
}

/* ---- channel -------------------------------------------------------------- */

shimkit_channel *shimkit_channel_new(const char *target, const shimkit_channel_tls *tls,
                                     int max_receive_bytes) {
  if (target == NULL || target[0] == '\0' || max_receive_bytes < 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "channel needs a target and max_receive_bytes >= 0");
    return NULL;
  }
  shimkit_channel *ch = calloc(1, sizeof(*ch));
  if (ch == NULL) {
    return NULL;
  }
  ch->max_receive = max_receive_bytes > 0 ? max_receive_bytes : SHIMKIT__DEFAULT_MAX_RECEIVE;
  grpc_init();

  grpc_channel_credentials *creds = tls != NULL ? tls_credentials(tls) : grpc_insecure_credentials_create();
  if (creds == NULL) {
    grpc_shutdown();
    free(ch);
    return NULL;
  }

  grpc_arg args[2];
  size_t n_args = 0;
  args[n_args].type = GRPC_ARG_INTEGER;
  args[n_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[n_args].value.integer = ch->max_receive;
  n_args++;
  if (tls != NULL && tls->server_name != NULL) {
    args[n_args].type = GRPC_ARG_STRING;
    args[n_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    args[n_args].value.string = (char *)tls->server_name;
    n_args++;
  }
  grpc_channel_args chargs = {.num_args = n_args, .args = args};
  ch->core = grpc_channel_create(target, creds, &chargs);
  grpc_channel_credentials_release(creds);
  if (ch->core == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "cannot create a channel to %s", target);
    grpc_shutdown();
    free(ch);
    return NULL;
  }
  return ch;
}

void shimkit_channel_free(shimkit_channel *channel) {
  if (channel == NULL) {
    return;
  }
  grpc_channel_destroy(channel->core);
  free(channel);
  grpc_shutdown();
}
