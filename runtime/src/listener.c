/*
 * listener.c - shimkit_server_add_listener: plaintext, TLS and mutual TLS.
 *
 * TLS material comes from PEM files read here (bounded: a PEM file larger
 * than 1 MiB is not a certificate), checked to at least look like PEM so a
 * wrong path fails at start-up with a clear message rather than at the first
 * handshake. gRPC copies what it is given, so the buffers are freed at once.
 *
 * A front (shimkit_server_set_front_peer_key) is a proxy in the same process
 * in front of the server's unix listener; call_run.c takes the client's
 * address it names as the call's peer.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata_internal.h"
#include "server_core.h"
#include "shimkit/log.h"
#include "shimkit/server.h"

#define PEM_MAX_BYTES (1024 * 1024)

/* The whole file, NUL-terminated, or NULL (logged). */
static char *read_pem(const char *path, const char *what) {
  if (path == NULL || path[0] == '\0') {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "TLS %s file not given", what);
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot open TLS %s %s: %s", what, path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(PEM_MAX_BYTES + 1);
  size_t n = 0;
  int err = 0;
  if (buf != NULL) {
    n = fread(buf, 1, PEM_MAX_BYTES + 1, f);
    err = ferror(f);
  }
  fclose(f);
  const char *why = NULL;
  if (buf == NULL) {
    why = "out of memory";
  } else if (err) {
    why = "unreadable";
  } else if (n == 0) {
    why = "empty";
  } else if (n > PEM_MAX_BYTES) {
    why = "larger than 1 MiB";
  } else {
    buf[n] = '\0';
    if (strstr(buf, "-----BEGIN ") == NULL) {
      why = "not PEM (no -----BEGIN line)";
    }
  }
  if (why != NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "TLS %s %s: %s", what, path, why);
    free(buf);
    return NULL;
  }
  return buf;
}

static void free_secret(char *p) {
  if (p != NULL) {
    /* Private keys should not linger in freed heap memory. */
    volatile char *v = p;
    while (*v != '\0') {
      *v++ = '\0';
    }
    free(p);
  }
}

/* Server credentials for tls, or NULL with *rc set. */
static grpc_server_credentials *tls_credentials(const shimkit_tls_options *tls, shimkit_code *rc) {
  *rc = SHIMKIT_INVALID_ARGUMENT;
  if (tls->require_client_cert && tls->client_ca_file == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server",
                "require_client_cert needs client_ca_file to verify client certificates");
    return NULL;
  }
  char *cert = read_pem(tls->cert_file, "certificate");
  char *key = cert != NULL ? read_pem(tls->key_file, "private key") : NULL;
  char *ca = NULL;
  if (key != NULL && tls->client_ca_file != NULL) {
    ca = read_pem(tls->client_ca_file, "client CA");
  }
  grpc_server_credentials *creds = NULL;
  if (cert != NULL && key != NULL && (tls->client_ca_file == NULL || ca != NULL)) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    grpc_ssl_client_certificate_request_type req = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    if (ca != NULL) {
      req = tls->require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                     : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc_ssl_server_credentials_create_ex(ca, &pair, 1, req, NULL);
    if (creds == NULL) {
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "gRPC refused the TLS material of %s", tls->cert_file);
    }
  }
  free(cert);
  free_secret(key);
  free(ca);
  return creds;
}

shimkit_code shimkit_server_add_listener(shimkit_server *srv, const char *address,
                                         const shimkit_tls_options *tls, int *bound_port) {
  if (bound_port != NULL) {
    *bound_port = 0;
  }
  if (srv == NULL || address == NULL || address[0] == '\0' || strlen(address) > 1024) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  pthread_mutex_lock(&srv->lock);
  shimkit_code rc = SHIMKIT_OK;
  if (srv->state != SHIMKIT__SERVER_NEW) {
    rc = SHIMKIT_FAILED_PRECONDITION;
  } else if (srv->n_listeners == SHIMKIT__MAX_LISTENERS) {
    rc = SHIMKIT_RESOURCE_EXHAUSTED;
  }
  pthread_mutex_unlock(&srv->lock);
  if (rc != SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot listen on %s: %s", address,
                rc == SHIMKIT_FAILED_PRECONDITION ? "server already started" : "too many listeners");
    return rc;
  }

  grpc_server_credentials *creds;
  if (tls == NULL) {
    creds = grpc_insecure_server_credentials_create();
  } else {
    creds = tls_credentials(tls, &rc);
    if (creds == NULL) {
      return rc;
    }
  }
  int port = grpc_server_add_http2_port(srv->core, address, creds);
  grpc_server_credentials_release(creds);
  if (port <= 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot listen on %s (address in use or invalid)", address);
    return SHIMKIT_UNAVAILABLE;
  }
  if (bound_port != NULL) {
    *bound_port = port;
  }

  /* Remember "host:port (tls)" for the start-up log line. */
  char desc[1100];
  const char *colon = strrchr(address, ':');
  bool unix_socket = strncmp(address, "unix:", 5) == 0 || strncmp(address, "unix-abstract:", 14) == 0;
  if (!unix_socket && colon != NULL && strcmp(colon, ":0") == 0) {
    snprintf(desc, sizeof desc, "%.*s:%d%s", (int)(colon - address), address, port,
             tls == NULL ? "" : (tls->require_client_cert ? " (mTLS)" : " (TLS)"));
  } else {
    snprintf(desc, sizeof desc, "%s%s", address,
             tls == NULL ? "" : (tls->require_client_cert ? " (mTLS)" : " (TLS)"));
  }
  char *copy = strdup(desc);
  pthread_mutex_lock(&srv->lock);
  if (copy != NULL && srv->n_listeners < SHIMKIT__MAX_LISTENERS) {
    srv->listeners[srv->n_listeners] = copy;
    copy = NULL;
  }
  srv->n_listeners++; /* counted even if the description could not be kept */
  pthread_mutex_unlock(&srv->lock);
  free(copy);
  return SHIMKIT_OK;
}

shimkit_code shimkit_server_set_front_peer_key(shimkit_server *srv, const char *key) {
  if (srv == NULL || key == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  size_t n = strlen(key);
  if (!shimkit__metadata_key_valid(key) || n >= sizeof srv->front_peer_key || strncmp(key, "grpc-", 5) == 0 ||
      (n >= 4 && strcmp(key + n - 4, "-bin") == 0)) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  pthread_mutex_lock(&srv->lock);
  shimkit_code rc = SHIMKIT_OK;
  if (srv->state != SHIMKIT__SERVER_NEW || srv->started) {
    rc = SHIMKIT_FAILED_PRECONDITION;
  } else {
    memcpy(srv->front_peer_key, key, n + 1);
  }
  pthread_mutex_unlock(&srv->lock);
  return rc;
}

void shimkit__listeners_free(shimkit_server *srv) {
  for (int i = 0; i < SHIMKIT__MAX_LISTENERS; i++) {
    free(srv->listeners[i]);
    srv->listeners[i] = NULL;
  }
}
