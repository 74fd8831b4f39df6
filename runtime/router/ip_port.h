/*
 * ip_port.h - telling an address the relay can connect to by itself (a
 * numeric "IP:PORT" or "[IPv6]:PORT", or "unix:PATH") from a name, and
 * turning it into a socket address.
 */
#ifndef SHIMKIT_ROUTER_IP_PORT_H
#define SHIMKIT_ROUTER_IP_PORT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

/* address ("1.2.3.4:80", "[::1]:80") into *ss and *len; false when it is not numeric (a name, no port). */
bool router_ip_port(const char *address, struct sockaddr_storage *ss, socklen_t *len);

/* Longest PATH of a "unix:PATH" backend: what fits in sockaddr_un.sun_path with its NUL. */
#define ROUTER_MAX_UNIX_PATH 107

/*
 * Whether address is "unix:PATH", PATH 1..ROUTER_MAX_UNIX_PATH bytes of
 * [A-Za-z0-9._/+~@=,-] (no spaces, quotes or control bytes: it is written
 * in state files and metric labels as it is).
 */
bool router_unix_address(const char *address);

/* router_ip_port, or a router_unix_address into a sockaddr_un: false for anything else. */
bool router_socket_address(const char *address, struct sockaddr_storage *ss, socklen_t *len);

#endif /* SHIMKIT_ROUTER_IP_PORT_H */
