/*
 * status.c - names and descriptions of shimkit_code, and shimkit_status_clear.
 *
 * The code table lives once, as an X-macro in shimkit/status.h; both lookups
 * here are generated from it so a new code can never be half-added.
 */
#include <stdlib.h>

#include "shimkit/status.h"

const char *shimkit_code_name(shimkit_code code) {
  switch (code) {
#define SHIMKIT__CODE_NAME(name, num, desc)                                                                  \
  case SHIMKIT_##name: return #name;
    SHIMKIT_CODE_TABLE(SHIMKIT__CODE_NAME)
#undef SHIMKIT__CODE_NAME
  }
  return "UNKNOWN_CODE";
}

const char *shimkit_strerror(shimkit_code code) {
  switch (code) {
#define SHIMKIT__CODE_DESC(name, num, desc)                                                                  \
  case SHIMKIT_##name: return desc;
    SHIMKIT_CODE_TABLE(SHIMKIT__CODE_DESC)
#undef SHIMKIT__CODE_DESC
  }
  return "unknown status code";
}

void shimkit_status_clear(shimkit_status *status) {
  if (status == NULL) {
    return;
  }
  free(status->message);
  free(status->details);
  status->code = SHIMKIT_OK;
  status->message = NULL;
  status->details = NULL;
  status->details_len = 0;
}
