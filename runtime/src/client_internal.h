/*
 * client_internal.h - what client.c needs to know about a shimkit_channel.
 *
 * The channel (channel.c) and the calls made on it (client.c) are separate
 * files; this is the one struct they share. Nothing outside the client side
 * of the runtime includes it.
 */
#ifndef SHIMKIT_CLIENT_INTERNAL_H
#define SHIMKIT_CLIENT_INTERNAL_H

#include <grpc/grpc.h>

struct shimkit_channel {
  grpc_channel *core; /* the gRPC core channel; thread-safe, shared by all calls */
  int max_receive;    /* largest response message accepted, bytes */
};

#endif /* SHIMKIT_CLIENT_INTERNAL_H */
