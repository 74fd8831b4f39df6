/*
 * descriptors.c - a pool of FileDescriptorProtos from a replica's
 * reflection, and field-path resolution over it (descriptors.h).
 *
 * Names in descriptors sent by reflection are fully qualified (".pkg.Msg"),
 * as protoc writes them; a relative type name is refused rather than
 * guessed. Everything read from a decoded descriptor may be missing (NULL
 * name, no number): each use checks.
 */
#define _POSIX_C_SOURCE 200809L
#include "descriptors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "refl_client.h"

#define MAX_NAME 1024 /* longest service, method, type or field path handled */
#define MAX_ASKS 64   /* reflection requests of one fetch */

typedef Google__Protobuf__FileDescriptorProto file_proto;
typedef Google__Protobuf__DescriptorProto msg_proto;

struct router_desc_pool {
  file_proto *files[ROUTER_DESC_MAX_FILES];
  size_t n;
  size_t bytes; /* serialized bytes added */
};

router_desc_pool *router_desc_pool_new(void) {
  return calloc(1, sizeof(router_desc_pool));
}

void router_desc_pool_free(router_desc_pool *pool) {
  if (pool == NULL) {
    return;
  }
  for (size_t i = 0; i < pool->n; i++) {
    google__protobuf__file_descriptor_proto__free_unpacked(pool->files[i], NULL);
  }
  free(pool);
}

size_t router_desc_pool_count(const router_desc_pool *pool) {
  return pool != NULL ? pool->n : 0;
}

static const file_proto *find_file(const router_desc_pool *pool, const char *name) {
  for (size_t i = 0; i < pool->n; i++) {
    if (strcmp(pool->files[i]->name, name) == 0) {
      return pool->files[i];
    }
  }
  return NULL;
}

int router_desc_pool_add(router_desc_pool *pool, const uint8_t *data, size_t len) {
  if (pool == NULL || (data == NULL && len > 0) || pool->n == ROUTER_DESC_MAX_FILES ||
      len > ROUTER_DESC_MAX_BYTES - pool->bytes) {
    return -1;
  }
  file_proto *f = google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
  if (f == NULL) {
    return -1;
  }
  if (f->name == NULL || f->name[0] == '\0') {
    google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
    return -1;
  }
  if (find_file(pool, f->name) != NULL) {
    google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
    return 0;
  }
  pool->files[pool->n++] = f;
  pool->bytes += len;
  return 1;
}

/* A dependency not in the pool and not among skip (n_skip names), or NULL. */
static const char *missing_except(const router_desc_pool *pool, char *const *skip, size_t n_skip) {
  for (size_t i = 0; i < pool->n; i++) {
    const file_proto *f = pool->files[i];
    for (size_t d = 0; d < f->n_dependency; d++) {
      const char *dep = f->dependency[d];
      if (dep == NULL || find_file(pool, dep) != NULL) {
        continue;
      }
      bool skipped = false;
      for (size_t k = 0; k < n_skip && !skipped; k++) {
        skipped = strcmp(skip[k], dep) == 0;
      }
      if (!skipped) {
        return dep;
      }
    }
  }
  return NULL;
}

const char *router_desc_pool_missing(const router_desc_pool *pool) {
  return pool != NULL ? missing_except(pool, NULL, 0) : NULL;
}

/* ---- names ------------------------------------------------------------------- */

/* rest of full when full is pkg + "." + rest (or pkg is empty); NULL otherwise. */
static const char *in_package(const file_proto *f, const char *full) {
  const char *pkg = f->package != NULL ? f->package : "";
  size_t lp = strlen(pkg);
  if (lp == 0) {
    return full;
  }
  if (strncmp(full, pkg, lp) == 0 && full[lp] == '.') {
    return full + lp + 1;
  }
  return NULL;
}

/* The message named by rest ("Outer.Inner") among n messages, nested at most ROUTER_DESC_MAX_NESTING deep. */
static const msg_proto *find_nested(msg_proto *const *msgs, size_t n, const char *rest, int depth) {
  if (depth > ROUTER_DESC_MAX_NESTING) {
    return NULL;
  }
  const char *dot = strchr(rest, '.');
  size_t seg = dot != NULL ? (size_t)(dot - rest) : strlen(rest);
  for (size_t i = 0; i < n; i++) {
    const msg_proto *m = msgs[i];
    if (m == NULL || m->name == NULL || strlen(m->name) != seg || strncmp(m->name, rest, seg) != 0) {
      continue;
    }
    if (dot == NULL) {
      return m;
    }
    const msg_proto *inner = find_nested(m->nested_type, m->n_nested_type, dot + 1, depth + 1);
    if (inner != NULL) {
      return inner;
    }
  }
  return NULL;
}

/* The message type with this fully-qualified name (no leading '.'), or NULL. */
static const msg_proto *find_message(const router_desc_pool *pool, const char *full) {
  for (size_t i = 0; i < pool->n; i++) {
    const char *rest = in_package(pool->files[i], full);
    const msg_proto *m =
        rest != NULL ? find_nested(pool->files[i]->message_type, pool->files[i]->n_message_type, rest, 0)
                     : NULL;
    if (m != NULL) {
      return m;
    }
  }
  return NULL;
}

static const Google__Protobuf__ServiceDescriptorProto *find_service(const router_desc_pool *pool,
                                                                    const char *full) {
  for (size_t i = 0; i < pool->n; i++) {
    const file_proto *f = pool->files[i];
    const char *rest = in_package(f, full);
    for (size_t s = 0; rest != NULL && s < f->n_service; s++) {
      if (f->service[s] != NULL && f->service[s]->name != NULL && strcmp(f->service[s]->name, rest) == 0) {
        return f->service[s];
      }
    }
  }
  return NULL;
}

/* Splits "/pkg.Svc/Method" into svc and method (each buf MAX_NAME + 1); false when it is not one. */
static bool split_method(const char *path, char *svc, char *method) {
  if (path == NULL || path[0] != '/') {
    return false;
  }
  const char *slash = strchr(path + 1, '/');
  if (slash == NULL || slash == path + 1 || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
    return false;
  }
  size_t ls = (size_t)(slash - path - 1);
  size_t lm = strlen(slash + 1);
  if (ls > MAX_NAME || lm > MAX_NAME) {
    return false;
  }
  memcpy(svc, path + 1, ls);
  svc[ls] = '\0';
  memcpy(method, slash + 1, lm + 1);
  return true;
}

/* ---- resolution -------------------------------------------------------------- */

static const Google__Protobuf__FieldDescriptorProto *find_field(const msg_proto *m, const char *name,
                                                                size_t len) {
  for (size_t i = 0; i < m->n_field; i++) {
    const Google__Protobuf__FieldDescriptorProto *f = m->field[i];
    if (f != NULL && f->name != NULL && strlen(f->name) == len && strncmp(f->name, name, len) == 0) {
      return f;
    }
  }
  return NULL;
}

int router_desc_resolve(const router_desc_pool *pool, const char *method_path, const char *field_path,
                        router_field_path *out, char *err, size_t errlen) {
  char svc_name[MAX_NAME + 1];
  char method_name[MAX_NAME + 1];
  if (pool == NULL || out == NULL || !split_method(method_path, svc_name, method_name)) {
    snprintf(err, errlen, "not a method path");
    return -1;
  }
  if (field_path == NULL || field_path[0] == '\0' || strlen(field_path) > MAX_NAME) {
    snprintf(err, errlen, "no field path");
    return -1;
  }
  const Google__Protobuf__ServiceDescriptorProto *svc = find_service(pool, svc_name);
  if (svc == NULL) {
    snprintf(err, errlen, "service %s is not in the replica's descriptors", svc_name);
    return -1;
  }
  const Google__Protobuf__MethodDescriptorProto *method = NULL;
  for (size_t i = 0; i < svc->n_method && method == NULL; i++) {
    if (svc->method[i] != NULL && svc->method[i]->name != NULL &&
        strcmp(svc->method[i]->name, method_name) == 0) {
      method = svc->method[i];
    }
  }
  if (method == NULL || method->input_type == NULL || method->input_type[0] != '.') {
    snprintf(err, errlen, "method %s is not in service %s", method_name, svc_name);
    return -1;
  }
  const char *type = method->input_type + 1;
  memset(out, 0, sizeof *out);
  const char *seg = field_path;
  for (;;) {
    const msg_proto *m = find_message(pool, type);
    if (m == NULL) {
      snprintf(err, errlen, "message type %.200s is not in the replica's descriptors", type);
      return -1;
    }
    const char *dot = strchr(seg, '.');
    size_t len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
    const Google__Protobuf__FieldDescriptorProto *f = find_field(m, seg, len);
    if (len == 0 || f == NULL || !f->has_number || !f->has_type || f->number < 1) {
      snprintf(err, errlen, "%.200s has no field %.*s", type, (int)(len > 200 ? 200 : len), seg);
      return -1;
    }
    if (out->n == ROUTER_FIELD_MAX_DEPTH) {
      snprintf(err, errlen, "field path deeper than %d", ROUTER_FIELD_MAX_DEPTH);
      return -1;
    }
    router_field_step *st = &out->steps[out->n++];
    st->number = (uint32_t)f->number;
    st->type = (int)f->type;
    st->repeated =
        f->has_label && f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
    if (dot == NULL) {
      if (st->type == ROUTER_FT_MESSAGE || st->type == ROUTER_FT_GROUP || st->type < ROUTER_FT_DOUBLE ||
          st->type > ROUTER_FT_SINT64) {
        snprintf(err, errlen, "field %s is a message, not a scalar", field_path);
        return -1;
      }
      return 0;
    }
    if (st->type != ROUTER_FT_MESSAGE || f->type_name == NULL || f->type_name[0] != '.') {
      snprintf(err, errlen, "field %.*s of %s is not a message", (int)len, seg, field_path);
      return -1;
    }
    type = f->type_name + 1;
    seg = dot + 1;
  }
}

int router_desc_method_streams(const router_desc_pool *pool, const char *method_path, bool *client_streaming,
                               bool *server_streaming) {
  char svc_name[MAX_NAME + 1];
  char method_name[MAX_NAME + 1];
  if (pool == NULL || !split_method(method_path, svc_name, method_name)) {
    return -1;
  }
  const Google__Protobuf__ServiceDescriptorProto *svc = find_service(pool, svc_name);
  for (size_t i = 0; svc != NULL && i < svc->n_method; i++) {
    const Google__Protobuf__MethodDescriptorProto *m = svc->method[i];
    if (m != NULL && m->name != NULL && strcmp(m->name, method_name) == 0) {
      *client_streaming = m->has_client_streaming && m->client_streaming;
      *server_streaming = m->has_server_streaming && m->server_streaming;
      return 0;
    }
  }
  return -1;
}

/* ---- fetching ---------------------------------------------------------------- */

/* Adds the files of a reflection answer: 0; 1 for an error answer ("not found"); -1 for anything else, with
 * err. */
static int add_answer(router_desc_pool *pool, const Grpc__Reflection__V1__ServerReflectionResponse *resp,
                      const char *asked, char *err, size_t errlen) {
  if (resp->message_response_case ==
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE) {
    const char *msg = resp->error_response != NULL && resp->error_response->error_message != NULL
                          ? resp->error_response->error_message
                          : "";
    snprintf(err, errlen, "the replica's reflection does not know %.200s: %.200s", asked, msg);
    return 1;
  }
  if (resp->message_response_case !=
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE ||
      resp->file_descriptor_response == NULL) {
    snprintf(err, errlen, "reflection answered %s with no files", asked);
    return -1;
  }
  const Grpc__Reflection__V1__FileDescriptorResponse *fds = resp->file_descriptor_response;
  for (size_t i = 0; i < fds->n_file_descriptor_proto; i++) {
    if (router_desc_pool_add(pool, fds->file_descriptor_proto[i].data, fds->file_descriptor_proto[i].len) <
            0 &&
        pool->n == ROUTER_DESC_MAX_FILES) {
      snprintf(err, errlen, "more than %d descriptor files", ROUTER_DESC_MAX_FILES);
      return -1;
    }
  }
  return 0;
}

int router_desc_fetch(shimkit_channel *channel, const char *method_path, router_desc_pool *pool,
                      int64_t timeout_ms, char *err, size_t errlen) {
  char svc_name[MAX_NAME + 1];
  char method_name[MAX_NAME + 1];
  if (!split_method(method_path, svc_name, method_name)) {
    snprintf(err, errlen, "not a method path");
    return -1;
  }
  router_refl_client *c = router_refl_open(channel, timeout_ms);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  Grpc__Reflection__V1__ServerReflectionRequest req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.host = "";
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  req.file_containing_symbol = svc_name;
  Grpc__Reflection__V1__ServerReflectionResponse *resp = router_refl_ask(c, &req, err, errlen);
  int rc = resp != NULL ? add_answer(pool, resp, svc_name, err, errlen) : -1;
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
  /* Dependencies the answer did not include; one that fails is skipped (it may not matter). */
  char *asked[MAX_ASKS];
  size_t n_asked = 0;
  const char *dep;
  while (rc == 0 && n_asked < MAX_ASKS && (dep = missing_except(pool, asked, n_asked)) != NULL) {
    asked[n_asked] = strdup(dep);
    if (asked[n_asked] == NULL) {
      break;
    }
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = asked[n_asked++];
    char ignored[64];
    resp = router_refl_ask(c, &req, err, errlen);
    if (resp == NULL) {
      break; /* the stream is over: resolve with what there is */
    }
    add_answer(pool, resp, req.file_by_filename, ignored, sizeof ignored);
    grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
  }
  for (size_t i = 0; i < n_asked; i++) {
    free(asked[i]);
  }
  router_refl_close(c);
  return rc;
}
