/*
 * retry_rule.c - tells a connect failure from a connection lost under a
 * started call, by gRPC core's status message (retry_rule.h). Matched on
 * the fixed texts core builds, checked on this machine against a port
 * nobody listens on and an echo_shim SIGKILLed during a call.
 */
#include "retry_rule.h"

#include <string.h>

bool router_connect_failure(const char *message) {
  if (message == NULL) {
    return false;
  }
  /* The pick failed: no subchannel could connect ("...; last error: ..."). */
  if (strncmp(message, "failed to connect to all addresses", 34) == 0) {
    return true;
  }
  /* The connect itself failed (same text without the pick's prefix). */
  return strstr(message, "Failed to connect to remote host") != NULL ||
         strstr(message, "Connection refused") != NULL;
}
