/*
 * reflection.h - server reflection (grpc.reflection.v1 and v1alpha) and the
 * symbol index it answers from.
 *
 * The server calls shimkit__reflection_register() once; both reflection
 * services then answer from the file blobs (serialized FileDescriptorProtos)
 * that generated service tables embed. The index part is separate so it can
 * be tested against blobs without a server:
 *
 *   - Each distinct file (same name, same bytes) is decoded once per process
 *     and its symbols kept in a process-wide cache (reflection_index.c). The
 *     cache holds no pointer into any blob, so it never outlives what it
 *     describes; it is bounded by the generated files linked into the
 *     program.
 *   - A "file set" is the files of one server's services, deduplicated by
 *     name (each generated .c embeds its own copy of its dependencies). A
 *     reflection stream builds one on its first file query and frees it when
 *     the stream ends.
 *
 * Blobs come from generated code (trusted) but are decoded defensively: a
 * blob that does not decode is skipped with a warning. Query strings come
 * from the network (untrusted) and are only compared, never parsed.
 */
#ifndef SHIMKIT_REFLECTION_H
#define SHIMKIT_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "shimkit/server.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

/* Registers grpc.reflection.v1.ServerReflection and its v1alpha twin on srv. */
shimkit_code shimkit__reflection_register(shimkit_server *srv);

/* ---- the fallback (shimkit/reflection.h, reflection_fallback.c) ------------------ */

#include "shimkit/reflection.h"

/* What a fallback added to one answer. */
struct shimkit_reflection_answer {
  char **services; /* names, copies */
  size_t n_services, cap_services;
  struct {
    uint8_t *data; /* a serialized FileDescriptorProto, copy */
    size_t len;
  } *files;
  size_t n_files, cap_files;
  size_t file_bytes; /* sum of the files' len */
};

/* The server's fallback, or NULL when none is set. */
const shimkit_reflection_fallback *shimkit__server_reflection_fallback(const shimkit_server *srv);

/* An empty answer (NULL when out of memory) and its release (accepts NULL). */
shimkit_reflection_answer *shimkit__refl_answer_new(void);
void shimkit__refl_answer_free(shimkit_reflection_answer *a);

/* ---- the index ---------------------------------------------------------------- */

typedef struct shimkit__refl_files shimkit__refl_files;

/*
 * The files of these services (n pointers; NULL entries are skipped),
 * deduplicated by name, indexed. NULL when out of memory. The services'
 * tables must outlive the set.
 */
shimkit__refl_files *shimkit__refl_files_new(const shimkit_service_desc *const *services, size_t n);

/* Frees the set (not the process-wide cache). Accepts NULL. */
void shimkit__refl_files_free(shimkit__refl_files *set);

/* Number of files in the set. */
size_t shimkit__refl_files_count(const shimkit__refl_files *set);

/*
 * The file declaring a fully-qualified symbol: package, message, nested
 * message, field, oneof, enum, enum value, service, method or extension
 * ("pkg.Svc", "pkg.Svc.Method", "pkg.Outer.Inner"; a leading '.' is
 * ignored). NULL when no file of the set declares it.
 */
const shimkit_file_blob *shimkit__refl_find_symbol(const shimkit__refl_files *set, const char *symbol);

/* The file with this name ("grpc/health/v1/health.proto"), or NULL. */
const shimkit_file_blob *shimkit__refl_find_file(const shimkit__refl_files *set, const char *name);

/* The file declaring extension number of message type (fully qualified), or NULL. */
const shimkit_file_blob *shimkit__refl_find_extension(const shimkit__refl_files *set, const char *type,
                                                      int32_t number);

/*
 * Writes up to max extension numbers of message type into out and returns
 * how many there are in total (may exceed max), or -1 when no file of the set
 * declares the type.
 */
long shimkit__refl_extension_numbers(const shimkit__refl_files *set, const char *type, int32_t *out,
                                     size_t max);

/*
 * The file and its transitive dependencies, the file first, each once:
 * writes up to max blobs into out and returns how many there are in total.
 * Dependencies the set does not hold are left out (logged once per call).
 */
size_t shimkit__refl_file_closure(const shimkit__refl_files *set, const shimkit_file_blob *file,
                                  const shimkit_file_blob **out, size_t max);

#endif /* SHIMKIT_REFLECTION_H */
