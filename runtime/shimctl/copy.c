/*
 * copy.c - Export -> Import (see copy.h). Generic over the kind: the
 * methods come from the generated service tables by path, the records are
 * passed on as decoded messages without looking inside, so a new stateful
 * kind only needs its row below.
 */
#define _XOPEN_SOURCE 700
#include "copy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "ml/v1/feature_store.shimkit.h"
#include "ml/v1/model_repository.shimkit.h"

typedef struct copy_kind {
  const char *kind;
  const shimkit_service_desc *service;
} copy_kind;

static const copy_kind copy_kinds[] = {
    {"feature_store", &shimkit__ml__v1__feature_store__shimkit_service},
    {"model_repository", &shimkit__ml__v1__model_repository__shimkit_service},
    {NULL, NULL},
};

static const shimkit_service_desc *service_of(const shimctl_kind *kind) {
  for (const copy_kind *c = copy_kinds; c->kind != NULL; c++) {
    if (strcmp(c->kind, kind->name) == 0) {
      return c->service;
    }
  }
  return NULL;
}

int shimctl_copy_supported(const shimctl_kind *kind) { return service_of(kind) != NULL; }

static const shimkit_method_desc *method(const shimkit_service_desc *svc, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/%s/%s", svc->full_name, name);
  return shimkit_service_find_method(svc, path);
}

int shimctl_copy_state(const shimctl_kind *kind, const char *from, const char *to, int timeout_ms, long *records,
                       char *err, size_t err_len) {
  *records = 0;
  const shimkit_service_desc *svc = service_of(kind);
  const shimkit_method_desc *exp = svc != NULL ? method(svc, "Export") : NULL;
  const shimkit_method_desc *imp = svc != NULL ? method(svc, "Import") : NULL;
  if (exp == NULL || imp == NULL) {
    snprintf(err, err_len, "%s has no Export/Import", kind->name);
    return -1;
  }
  shimkit_channel *src = shimkit_channel_new(from, NULL, 64 * 1024 * 1024);
  shimkit_channel *dst = shimkit_channel_new(to, NULL, 64 * 1024 * 1024);
  ProtobufCMessage *req = calloc(1, exp->request->sizeof_message);
  shimkit_status est = {0}, ist = {0};
  shimkit_call_options eo = {0}, io = {0};
  eo.timeout_ms = timeout_ms;
  eo.status_out = &est;
  io.timeout_ms = timeout_ms;
  io.status_out = &ist;
  int rc = -1;
  shimkit_client_call *ecall = NULL, *icall = NULL;
  if (src == NULL || dst == NULL || req == NULL) {
    snprintf(err, err_len, "out of memory");
    goto out;
  }
  protobuf_c_message_init(exp->request, req);
  ecall = shimkit_client_call_start(src, exp, &eo);
  icall = shimkit_client_call_start(dst, imp, &io);
  if (ecall == NULL || icall == NULL) {
    snprintf(err, err_len, "cannot start the calls");
    goto out;
  }
  if (shimkit_client_call_send(ecall, req) == 0) {
    shimkit_client_call_close_send(ecall);
  }
  ProtobufCMessage *rec = NULL;
  int got;
  bool send_failed = false;
  while ((got = shimkit_client_call_recv(ecall, &rec)) == 1) {
    int sent = shimkit_client_call_send(icall, rec);
    protobuf_c_message_free_unpacked(rec, NULL);
    if (sent != 0) {
      send_failed = true;
      shimkit_client_call_cancel(ecall);
      break;
    }
    (*records)++;
  }
  shimkit_code ecode = shimkit_client_call_finish(ecall);
  ecall = NULL;
  if (ecode != SHIMKIT_OK && !send_failed) {
    snprintf(err, err_len, "Export from %s: %s%s%s", from, shimkit_code_name(ecode), est.message ? ": " : "",
             est.message ? est.message : "");
    shimkit_client_call_cancel(icall);
    shimkit_client_call_finish(icall);
    icall = NULL;
    goto out;
  }
  shimkit_client_call_close_send(icall);
  ProtobufCMessage *summary = NULL;
  if (shimkit_client_call_recv(icall, &summary) == 1) {
    protobuf_c_message_free_unpacked(summary, NULL);
  }
  shimkit_code icode = shimkit_client_call_finish(icall);
  icall = NULL;
  if (icode != SHIMKIT_OK) {
    snprintf(err, err_len, "Import into %s: %s%s%s", to, shimkit_code_name(icode), ist.message ? ": " : "",
             ist.message ? ist.message : "");
    goto out;
  }
  rc = 0;
out:
  if (ecall != NULL) {
    shimkit_client_call_cancel(ecall);
    shimkit_client_call_finish(ecall);
  }
  if (icall != NULL) {
    shimkit_client_call_cancel(icall);
    shimkit_client_call_finish(icall);
  }
  shimkit_status_clear(&est);
  shimkit_status_clear(&ist);
  free(req);
  shimkit_channel_free(src);
  shimkit_channel_free(dst);
  return rc;
}
