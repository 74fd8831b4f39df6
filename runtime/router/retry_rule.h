/*
 * retry_rule.h - which failed backend calls the router may send again.
 *
 * Only a call that never had a connection: then no handler can have seen
 * it. gRPC core (1.51) ends such a call UNAVAILABLE with the message
 * "failed to connect to all addresses; last error: UNKNOWN:
 * ipv4:127.0.0.1:P: Failed to connect to remote host: Connection refused"
 * (a replica that is gone, whose port refuses). A call whose connection
 * closed under it ends UNAVAILABLE "Socket closed" (the replica died while
 * the call was in flight, maybe inside its handler) or "Broken pipe" /
 * "Connection reset by peer": those may have run, so they are never
 * replayed. Calls that core itself knows were never sent on the wire
 * (GOAWAY, refused streams) are retried transparently by core already.
 */
#ifndef SHIMKIT_ROUTER_RETRY_RULE_H
#define SHIMKIT_ROUTER_RETRY_RULE_H

#include <stdbool.h>

/* True when an UNAVAILABLE status message (NULL = none) says the call never got a connection. */
bool router_connect_failure(const char *message);

#endif /* SHIMKIT_ROUTER_RETRY_RULE_H */
