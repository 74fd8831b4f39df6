/*
 * ip_port.c - "IP:PORT" and "[IPv6]:PORT" addresses (ip_port.h): the one
 * parser behind the relay's sockets and the replicas' "numeric" flag.
 */
#define _POSIX_C_SOURCE 200809L
#include "ip_port.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

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
