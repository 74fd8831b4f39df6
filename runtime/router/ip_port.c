/*
 * ip_port.c - "IP:PORT", "[IPv6]:PORT" and "unix:PATH" addresses
 * (ip_port.h): the one parser behind the relay's sockets and the replicas'
 * "numeric" flag.
 */
#define _POSIX_C_SOURCE 200809L
#include "ip_port.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

bool router_ip_port(const char *address, struct sockaddr_storage *ss, socklen_t *len) {
  char host[64];
  const char *colon = strrchr(address, ':');
  if (colon == NULL || colon == address || (size_t)(colon - address) >= sizeof host) {
    return false;
  }
  char *end = NULL;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535) {
    return false;
  }
  memcpy(host, address, (size_t)(colon - address));
  host[colon - address] = '\0';
  memset(ss, 0, sizeof *ss);
  size_t hl = strlen(host);
  if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
      return false;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    return true;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
    return false;
  }
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)port);
  *len = sizeof *a4;
  return true;
}

bool router_unix_address(const char *address) {
  if (strncmp(address, "unix:", 5) != 0) {
    return false;
  }
  const char *path = address + 5;
  size_t n = strlen(path);
  if (n == 0 || n > ROUTER_MAX_UNIX_PATH) {
    return false;
  }
  for (const char *p = path; *p != '\0'; p++) {
    bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
    if (!alnum && strchr("._/+~@=,-", *p) == NULL) {
      return false;
    }
  }
  return true;
}

bool router_socket_address(const char *address, struct sockaddr_storage *ss, socklen_t *len) {
  if (!router_unix_address(address)) {
    return router_ip_port(address, ss, len);
  }
  struct sockaddr_un *un = (struct sockaddr_un *)ss;
  memset(ss, 0, sizeof *ss);
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, address + 5, strlen(address + 5) + 1); /* fits: router_unix_address */
  *len = sizeof *un;
  return true;
}
