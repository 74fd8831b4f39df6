/*
 * reflection.c - grpc.reflection.v1.ServerReflection and its v1alpha twin.
 *
 * One bidi handler answers both: the two protos are wire-identical, so a
 * v1alpha request is re-read as v1 (pack, unpack) and the v1 answer re-read
 * as v1alpha before it is written. Each request gets exactly one response
 * that echoes it (original_request, valid_host); a query that finds nothing
 * gets an error_response (NOT_FOUND) and the stream stays open, as grpcurl
 * expects (list_services, then file_containing_symbol, then
 * file_by_filename per dependency).
 *
 * Answers come from the file set of the server's registered services
 * (reflection.h); a stream builds it at its first file query, from the
 * process-wide decoded-file cache, and frees it when it ends. Requests are
 * untrusted: strings are only compared, and echoed in messages cut to 200
 * bytes.
 *
 * A proxy's fallback (shimkit/reflection.h, reflection_fallback.c) adds
 * service names to list_services and answers the file queries the server's
 * own descriptors cannot; its files are passed on as given.
 *
 * Extensions: file_containing_extension and all_extension_numbers_of_type
 * are answered from the extensions the embedded descriptors declare; an
 * unknown type or number is NOT_FOUND, a known type without extensions gets
 * an empty list.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.shimkit.h"
#include "grpc/reflection/v1alpha/reflection.shimkit.h"
#include "reflection.h"
#include "server_internal.h"
#include "shimkit/log.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_response;

/* State of one ServerReflectionInfo stream. */
struct refl_stream {
  shimkit_server *srv;        /* whose services are described */
  shimkit__refl_files *files; /* built at the first file query; NULL before */
  bool files_failed;          /* building it ran out of memory */
};

/* Everything one response points at that must be freed after it was written. */
struct refl_answer {
  Grpc__Reflection__V1__ListServiceResponse list;
  Grpc__Reflection__V1__ServiceResponse *services;
  Grpc__Reflection__V1__ServiceResponse **service_ptrs;
  Grpc__Reflection__V1__FileDescriptorResponse fds;
  ProtobufCBinaryData *blobs;
  Grpc__Reflection__V1__ExtensionNumberResponse numbers;
  int32_t *numbers_buf;
  Grpc__Reflection__V1__ErrorResponse error;
  char error_message[320];
  shimkit_reflection_answer *fb; /* what the fallback added, or NULL */
};

static void answer_free(struct refl_answer *a) {
  shimkit__refl_answer_free(a->fb);
  free(a->services);
  free(a->service_ptrs);
  free(a->blobs);
  free(a->numbers_buf);
}

/* Longest part of a request echoed in an error message. */
#define ECHO_MAX 200

/*
 * An error_response: what + the untrusted subject, cut to ECHO_MAX bytes on
 * a UTF-8 character boundary (proto3 strings must stay valid UTF-8 for
 * clients such as grpcurl to parse the answer).
 */
/* Points the response at the error already written into a->error_message. */
static void use_error(refl_response *resp, struct refl_answer *a, shimkit_code code) {
  a->error.error_code = (int32_t)code;
  a->error.error_message = a->error_message;
  resp->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
  resp->error_response = &a->error;
}

static void set_error(refl_response *resp, struct refl_answer *a, shimkit_code code, const char *what,
                      const char *subject) {
  grpc__reflection__v1__error_response__init(&a->error);
  size_t n = strnlen(subject, ECHO_MAX + 1);
  if (n > ECHO_MAX) {
    n = ECHO_MAX;
    while (n > 0 && ((unsigned char)subject[n] & 0xC0) == 0x80) {
      n--; /* subject[n] continues a character: cut before its lead byte */
    }
  }
  snprintf(a->error_message, sizeof(a->error_message), "%s%.*s", what, (int)n, subject);
  use_error(resp, a, code);
}

/* An error_response with a fixed text (no untrusted subject to cut). */
static void set_plain_error(refl_response *resp, struct refl_answer *a, shimkit_code code, const char *text) {
  grpc__reflection__v1__error_response__init(&a->error);
  snprintf(a->error_message, sizeof(a->error_message), "%s", text);
  use_error(resp, a, code);
}

static void set_oom(refl_response *resp, struct refl_answer *a) {
  set_plain_error(resp, a, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- the queries ----------------------------------------------------------------- */

/* Asks the server's fallback (shimkit/reflection.h); a->fb holds what it added (NULL: no fallback or out of
 * memory). */
static void ask_fallback(struct refl_stream *st, struct refl_answer *a, bool list,
                         shimkit_reflection_query query, const char *name, int32_t number) {
  const shimkit_reflection_fallback *fb = shimkit__server_reflection_fallback(st->srv);
  if (fb == NULL || (list ? fb->list_services == NULL : fb->find_files == NULL) ||
      (a->fb = shimkit__refl_answer_new()) == NULL) {
    return;
  }
  if (list) {
    fb->list_services(fb->user_data, a->fb);
  } else {
    fb->find_files(fb->user_data, query, name, number, a->fb);
  }
}

static void list_services(struct refl_stream *st, refl_response *resp, struct refl_answer *a) {
  size_t n = shimkit__server_service_count(st->srv);
  ask_fallback(st, a, true, SHIMKIT_REFLECTION_FILE_CONTAINING_SYMBOL, NULL, 0);
  size_t extra = a->fb != NULL ? a->fb->n_services : 0;
  grpc__reflection__v1__list_service_response__init(&a->list);
  if (n + extra > 0) {
    a->services = calloc(n + extra, sizeof(*a->services));
    a->service_ptrs = calloc(n + extra, sizeof(*a->service_ptrs));
    if (a->services == NULL || a->service_ptrs == NULL) {
      set_oom(resp, a);
      return;
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < n + extra; i++) {
    const char *name;
    if (i < n) {
      const shimkit_service_desc *svc = shimkit__server_service_at(st->srv, i);
      name = svc != NULL ? svc->full_name : NULL;
    } else {
      name = a->fb->services[i - n];
    }
    bool listed = name == NULL;
    for (size_t j = 0; j < k && !listed; j++) {
      listed = strcmp(a->services[j].name, name) == 0;
    }
    if (listed) {
      continue;
    }
    grpc__reflection__v1__service_response__init(&a->services[k]);
    a->services[k].name = (char *)name;
    a->service_ptrs[k] = &a->services[k];
    k++;
  }
  a->list.n_service = k;
  a->list.service = a->service_ptrs;
  resp->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
  resp->list_services_response = &a->list;
}

/* Answers with the files the fallback added; false when it added none. */
static bool fallback_answer(struct refl_stream *st, shimkit_reflection_query query, const char *name,
                            int32_t number, refl_response *resp, struct refl_answer *a) {
  ask_fallback(st, a, false, query, name, number);
  if (a->fb == NULL || a->fb->n_files == 0) {
    return false;
  }
  a->blobs = calloc(a->fb->n_files, sizeof(*a->blobs));
  if (a->blobs == NULL) {
    set_oom(resp, a);
    return true;
  }
  for (size_t i = 0; i < a->fb->n_files; i++) {
    a->blobs[i].data = a->fb->files[i].data;
    a->blobs[i].len = a->fb->files[i].len;
  }
  grpc__reflection__v1__file_descriptor_response__init(&a->fds);
  a->fds.n_file_descriptor_proto = a->fb->n_files;
  a->fds.file_descriptor_proto = a->blobs;
  resp->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
  resp->file_descriptor_response = &a->fds;
  return true;
}

/* The stream's file set, built on first use; NULL when out of memory. */
static shimkit__refl_files *files_of(struct refl_stream *st) {
  if (st->files != NULL || st->files_failed) {
    return st->files;
  }
  size_t n = shimkit__server_service_count(st->srv);
  const shimkit_service_desc **svcs = calloc(n > 0 ? n : 1, sizeof(*svcs));
  if (svcs == NULL) {
    st->files_failed = true;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    svcs[i] = shimkit__server_service_at(st->srv, i);
  }
  st->files = shimkit__refl_files_new(svcs, n);
  free(svcs);
  st->files_failed = st->files == NULL;
  return st->files;
}

/* Answers with file and its transitive dependencies, the file first. */
static void file_answer(shimkit__refl_files *files, const shimkit_file_blob *file, refl_response *resp,
                        struct refl_answer *a) {
  size_t max = shimkit__refl_files_count(files);
  const shimkit_file_blob **closure = calloc(max > 0 ? max : 1, sizeof(*closure));
  a->blobs = calloc(max > 0 ? max : 1, sizeof(*a->blobs));
  if (closure == NULL || a->blobs == NULL) {
    free(closure);
    set_oom(resp, a);
    return;
  }
  size_t n = shimkit__refl_file_closure(files, file, closure, max);
  if (n > max) {
    n = max;
  }
  for (size_t i = 0; i < n; i++) {
    a->blobs[i].data = (uint8_t *)closure[i]->data;
    a->blobs[i].len = closure[i]->len;
  }
  free(closure);
  grpc__reflection__v1__file_descriptor_response__init(&a->fds);
  a->fds.n_file_descriptor_proto = n;
  a->fds.file_descriptor_proto = a->blobs;
  resp->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
  resp->file_descriptor_response = &a->fds;
}

static void extension_numbers(shimkit__refl_files *files, const char *type, refl_response *resp,
                              struct refl_answer *a) {
  long total = shimkit__refl_extension_numbers(files, type, NULL, 0);
  if (total < 0) {
    set_error(resp, a, SHIMKIT_NOT_FOUND, "type not found: ", type);
    return;
  }
  if (total > 0) {
    a->numbers_buf = calloc((size_t)total, sizeof(*a->numbers_buf));
    if (a->numbers_buf == NULL) {
      set_oom(resp, a);
      return;
    }
    shimkit__refl_extension_numbers(files, type, a->numbers_buf, (size_t)total);
  }
  grpc__reflection__v1__extension_number_response__init(&a->numbers);
  a->numbers.base_type_name = (char *)(type[0] == '.' ? type + 1 : type);
  a->numbers.n_extension_number = (size_t)total;
  a->numbers.extension_number = a->numbers_buf;
  resp->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
  resp->all_extension_numbers_response = &a->numbers;
}

/* Fills resp (which echoes req) with the answer to req. */
static void answer(struct refl_stream *st, const refl_request *req, refl_response *resp,
                   struct refl_answer *a) {
  resp->valid_host = req->host != NULL ? req->host : (char *)"";
  resp->original_request = (refl_request *)req;

  if (req->message_request_case ==
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES) {
    list_services(st, resp, a);
    return;
  }
  shimkit__refl_files *files = NULL;
  switch (req->message_request_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
    files = files_of(st);
    if (files == NULL) {
      set_oom(resp, a);
      return;
    }
    break;
  default: set_plain_error(resp, a, SHIMKIT_INVALID_ARGUMENT, "the request asks nothing"); return;
  }

  const shimkit_file_blob *file;
  switch (req->message_request_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
    file = shimkit__refl_find_file(files, req->file_by_filename);
    if (file == NULL &&
        fallback_answer(st, SHIMKIT_REFLECTION_FILE_BY_FILENAME, req->file_by_filename, 0, resp, a)) {
      return;
    }
    if (file == NULL) {
      set_error(resp, a, SHIMKIT_NOT_FOUND, "file not found: ", req->file_by_filename);
      return;
    }
    file_answer(files, file, resp, a);
    return;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
    file = shimkit__refl_find_symbol(files, req->file_containing_symbol);
    if (file == NULL && fallback_answer(st, SHIMKIT_REFLECTION_FILE_CONTAINING_SYMBOL,
                                        req->file_containing_symbol, 0, resp, a)) {
      return;
    }
    if (file == NULL) {
      set_error(resp, a, SHIMKIT_NOT_FOUND, "symbol not found: ", req->file_containing_symbol);
      return;
    }
    file_answer(files, file, resp, a);
    return;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION: {
    const Grpc__Reflection__V1__ExtensionRequest *ext = req->file_containing_extension;
    file =
        ext != NULL ? shimkit__refl_find_extension(files, ext->containing_type, ext->extension_number) : NULL;
    if (file == NULL && ext != NULL && ext->containing_type != NULL &&
        fallback_answer(st, SHIMKIT_REFLECTION_FILE_CONTAINING_EXTENSION, ext->containing_type,
                        ext->extension_number, resp, a)) {
      return;
    }
    if (file == NULL) {
      set_error(resp, a, SHIMKIT_NOT_FOUND, "extension not found on ",
                ext != NULL ? ext->containing_type : "");
      return;
    }
    file_answer(files, file, resp, a);
    return;
  }
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
    extension_numbers(
        files, req->all_extension_numbers_of_type != NULL ? req->all_extension_numbers_of_type : "", resp, a);
    return;
  default: return;
  }
}

/* ---- the stream ------------------------------------------------------------------- */

/* Re-reads a message as another wire-identical type; NULL when out of memory or bad. */
static ProtobufCMessage *convert(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *to) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n > 0 ? n : 1);
  if (buf == NULL) {
    return NULL;
  }
  protobuf_c_message_pack(msg, buf);
  ProtobufCMessage *out = protobuf_c_message_unpack(to, NULL, n, buf);
  free(buf);
  return out;
}

/*
 * Serves one ServerReflectionInfo stream: v1 answers are written as they
 * are; for v1alpha, requests are re-read as v1 and answers as v1alpha.
 */
static shimkit_code serve(shimkit_call *call, shimkit_server *srv, bool alpha) {
  struct refl_stream st = {.srv = srv};
  shimkit_code code = SHIMKIT_OK;
  for (;;) {
    ProtobufCMessage *in = NULL;
    int rc = shimkit_call_read(call, &in);
    if (rc == 0) {
      break;
    }
    if (rc < 0) {
      code = shimkit_call_is_cancelled(call) ? SHIMKIT_CANCELLED : SHIMKIT_INVALID_ARGUMENT;
      break;
    }
    refl_request *req = (refl_request *)in;
    ProtobufCMessage *converted = NULL;
    if (alpha) {
      converted = convert(in, &grpc__reflection__v1__server_reflection_request__descriptor);
      if (converted == NULL) {
        code = shimkit_call_error(call, SHIMKIT_INTERNAL, "cannot convert a v1alpha reflection request");
        break;
      }
      req = (refl_request *)converted;
    }

    refl_response resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    struct refl_answer a;
    memset(&a, 0, sizeof(a));
    answer(&st, req, &resp, &a);

    int wrc;
    if (alpha) {
      ProtobufCMessage *out =
          convert(&resp.base, &grpc__reflection__v1alpha__server_reflection_response__descriptor);
      wrc = out != NULL ? shimkit_call_write(call, out) : -1;
      if (out != NULL) {
        protobuf_c_message_free_unpacked(out, NULL);
      }
    } else {
      wrc = shimkit_call_write(call, &resp.base);
    }
    answer_free(&a);
    if (converted != NULL) {
      protobuf_c_message_free_unpacked(converted, NULL);
    }
    if (wrc != 0) {
      code = SHIMKIT_CANCELLED;
      break;
    }
  }
  shimkit__refl_files_free(st.files);
  return code;
}

static shimkit_code reflection_v1(shimkit_call *call, void *user_data) {
  return serve(call, (shimkit_server *)user_data, false);
}

static shimkit_code reflection_v1alpha(shimkit_call *call, void *user_data) {
  return serve(call, (shimkit_server *)user_data, true);
}

static const Grpc__Reflection__V1__ServerReflection_Handlers v1_handlers = {
    .server_reflection_info = reflection_v1,
};

static const Grpc__Reflection__V1alpha__ServerReflection_Handlers v1alpha_handlers = {
    .server_reflection_info = reflection_v1alpha,
};

shimkit_code shimkit__reflection_register(shimkit_server *srv) {
  shimkit_code code = grpc__reflection__v1__server_reflection__shimkit_register(srv, &v1_handlers, srv);
  if (code != SHIMKIT_OK) {
    return code;
  }
  return grpc__reflection__v1alpha__server_reflection__shimkit_register(srv, &v1alpha_handlers, srv);
}
