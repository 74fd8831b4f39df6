/*
 * shimkit/reflection.h - letting a server's reflection answer for services
 * it does not serve itself.
 *
 * A proxy (shimkit_router) forwards methods it has no descriptors for, so
 * its built-in reflection (grpc.reflection.v1 and v1alpha) would describe
 * only its own services and clients such as grpcurl could not see the
 * services behind it. A fallback fills the gap:
 *
 *   - list_services: the server lists its own services, then the names the
 *     fallback adds (a name listed already is left out);
 *   - file_containing_symbol, file_by_filename, file_containing_extension:
 *     the server answers from its own descriptors when it can; only for a
 *     name it does not know does it ask the fallback, whose files
 *     (serialized google.protobuf.FileDescriptorProto, the file first, then
 *     its dependencies) become the answer. A fallback that adds nothing
 *     leaves the answer NOT_FOUND.
 *
 * Both reflection versions use the same fallback. The callbacks run on the
 * server's handler threads, several at once: they must be thread-safe.
 * They may block (ask another server) for as long as the client waits.
 */
#ifndef SHIMKIT_REFLECTION_PUBLIC_H
#define SHIMKIT_REFLECTION_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shimkit/export.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_server shimkit_server;

/** What a fallback adds to one reflection answer (owned by the server; valid during the callback only). */
typedef struct shimkit_reflection_answer shimkit_reflection_answer;

/** The file queries a fallback may be asked. */
typedef enum shimkit_reflection_query {
  SHIMKIT_REFLECTION_FILE_CONTAINING_SYMBOL = 1,   /* name: "pkg.Svc", "pkg.Msg", "pkg.Svc.Method" */
  SHIMKIT_REFLECTION_FILE_BY_FILENAME = 2,         /* name: "pkg/file.proto" */
  SHIMKIT_REFLECTION_FILE_CONTAINING_EXTENSION = 3 /* name: the extended message; extension_number */
} shimkit_reflection_query;

/** A fallback: either callback may be NULL. */
typedef struct shimkit_reflection_fallback {
  /** Adds service names to a list_services answer (shimkit_reflection_answer_add_service). */
  void (*list_services)(void *user_data, shimkit_reflection_answer *answer);
  /**
   * Answers a file query the server could not (shimkit_reflection_answer_add_file).
   * name is untrusted (from the reflection client), NUL-terminated.
   */
  void (*find_files)(void *user_data, shimkit_reflection_query query, const char *name,
                     int32_t extension_number, shimkit_reflection_answer *answer);
  void *user_data; /* passed to both */
} shimkit_reflection_fallback;

/**
 * Installs the fallback of srv's reflection (copied; a later one replaces
 * it; NULL removes it). Before shimkit_server_start() only:
 * SHIMKIT_FAILED_PRECONDITION after. user_data must outlive the server.
 */
SHIMKIT_API shimkit_code shimkit_server_set_reflection_fallback(shimkit_server *srv,
                                                                const shimkit_reflection_fallback *fallback);

/** Adds a fully-qualified service name (copied). 0, or -1 when out of memory or past 4096 names. */
SHIMKIT_API int shimkit_reflection_answer_add_service(shimkit_reflection_answer *answer, const char *name);

/**
 * Adds one serialized FileDescriptorProto (copied), in answer order: the
 * file asked for first. 0, or -1 when out of memory or past 4096 files or
 * 64 MiB.
 */
SHIMKIT_API int shimkit_reflection_answer_add_file(shimkit_reflection_answer *answer, const void *data,
                                                   size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_REFLECTION_PUBLIC_H */
