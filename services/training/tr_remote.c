/*
 * tr_remote.c - how a failed call to the FeatureStore or the
 * ModelRepository reads in a job's failure_reason.
 */
#include "tr_service.h"

int tr_fail_rpc(tr_err *err, const char *service, const char *addr, const char *what, shimkit_code code,
                const shimkit_status *status) {
  const char *msg = status && status->message ? status->message : shimkit_strerror(code);
  if (code == SHIMKIT_UNAVAILABLE || code == SHIMKIT_DEADLINE_EXCEEDED)
    return tr_fail(err, "the %s at %s is unreachable (%s: %.300s)", service, addr, shimkit_code_name(code), msg);
  return tr_fail(err, "%s %s at %s failed: %s: %.300s", service, what, addr, shimkit_code_name(code), msg);
}
