/*
 * ip_port.h - telling a numeric "IP:PORT" or "[IPv6]:PORT" address from a
 * name, and turning it into a socket address.
 */
#ifndef SHIMKIT_ROUTER_IP_PORT_H
#define SHIMKIT_ROUTER_IP_PORT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

/* address ("1.2.3.4:80", "[::1]:80") into *ss and *len; false when it is not numeric (a name, no port). */
bool router_ip_port(const char *address, struct sockaddr_storage *ss, socklen_t *len);

#endif /* SHIMKIT_ROUTER_IP_PORT_H */
