/*
 * me_err.h - how every layer of the model execution shim reports a failure:
 * a gRPC status code and a sentence a person can act on. The native
 * adapters (liblinear/, libsvm/) fill it too, so a handler only copies it
 * into the call's status.
 */
#ifndef ME_ERR_H
#define ME_ERR_H

#include <shimkit/status.h>

#define ME_ERR_MAX 512
typedef struct me_err {
  shimkit_code code;    /* set when a call returns -1 */
  char msg[ME_ERR_MAX]; /* the reason, NUL-terminated */
} me_err;

/* Sets err and returns -1: return me_fail(err, SHIMKIT_NOT_FOUND, "no model %s", name); */
int me_fail(me_err *err, shimkit_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* ME_ERR_H */
