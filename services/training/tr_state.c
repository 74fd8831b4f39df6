/*
 * tr_state.c - see tr_state.h.
 */
#include "tr_state.h"

tr_state tr_state_next(tr_state state, tr_event ev) {
  switch (state) {
    case TR_QUEUED:
      if (ev == TR_EV_START) return TR_RUNNING;
      if (ev == TR_EV_CANCEL) return TR_CANCELLED;
      return TR_STATE_NONE;
    case TR_RUNNING:
      if (ev == TR_EV_SUCCEED) return TR_SUCCEEDED;
      if (ev == TR_EV_FAIL) return TR_FAILED;
      if (ev == TR_EV_CANCEL) return TR_CANCELLED;
      return TR_STATE_NONE;
    default: return TR_STATE_NONE;
  }
}

bool tr_state_final(tr_state state) {
  return state == TR_SUCCEEDED || state == TR_FAILED || state == TR_CANCELLED;
}

const char *tr_state_name(tr_state state) {
  switch (state) {
    case TR_QUEUED: return "QUEUED";
    case TR_RUNNING: return "RUNNING";
    case TR_SUCCEEDED: return "SUCCEEDED";
    case TR_FAILED: return "FAILED";
    case TR_CANCELLED: return "CANCELLED";
    default: return "UNSPECIFIED";
  }
}
