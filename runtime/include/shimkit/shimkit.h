/*
 * shimkit/shimkit.h - the whole public API of libshimkit in one include.
 *
 * No gRPC core type appears in any of these headers: the core's C API
 * changes between releases, so it stays behind shimkit's opaque handles.
 */
#ifndef SHIMKIT_SHIMKIT_H
#define SHIMKIT_SHIMKIT_H

#include "shimkit/export.h"
#include "shimkit/status.h"
#include "shimkit/metadata.h"
#include "shimkit/service.h"
#include "shimkit/call.h"
#include "shimkit/server.h"
#include "shimkit/arena.h"
#include "shimkit/client.h"
#include "shimkit/log.h"
#include "shimkit/metrics.h"
#include "shimkit/raw.h"
#include "shimkit/forward.h"
#include "shimkit/reflection.h"

#endif /* SHIMKIT_SHIMKIT_H */
