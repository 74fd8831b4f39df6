/* me_err.c - see me_err.h. */
#include "me_err.h"

#include <stdarg.h>
#include <stdio.h>

int me_fail(me_err *err, shimkit_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err->code = code;
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}
