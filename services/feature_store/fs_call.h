/*
 * fs_call.h - what every FeatureStore handler does the same way: map a
 * back-end result to a status, give a call its result memory, load a view by
 * name, pick the requested features. Internal to the handlers.
 */
#ifndef FS_CALL_H
#define FS_CALL_H

#include "fs_backend.h"
#include "fs_convert.h"
#include "fs_handlers.h"
#include "fs_views.h"

/* The back end a handler was registered with. */
#define FS_BACKEND(user_data) ((fs_backend *)(user_data))

/* Result memory that lives as long as the call (shimkit_call_alloc). */
void fs_call_mem(fs_mem *mem, shimkit_call *call);

/*
 * Sets the call's status for a failed back-end operation and returns its
 * code: NOT_FOUND and ALREADY_EXISTS name the view, the rest carry the back
 * end's message. prefix ("message 3: ") may be "".
 */
shimkit_code fs_backend_error(shimkit_call *call, const fs_backend *b, fs_rc rc, const fs_err *err,
                              const char *view, const char *prefix);

/* Loads view name into *out (memory from mem); on failure sets the status and returns its code. */
shimkit_code fs_load_view(shimkit_call *call, const fs_backend *b, const char *name, fs_mem *mem, fs_view *out);

/*
 * Same from the cache b->views (which must be set): *out lives until
 * fs_views_release(b->views, *entry). reload skips a cached definition.
 */
shimkit_code fs_load_view_cached(shimkit_call *call, const fs_backend *b, const char *name, bool reload,
                                 fs_views_entry **entry, const fs_view **out);

/*
 * The feature indexes a request asks for: names in request order, or every
 * feature of the view in its order when n_names is 0. INVALID_ARGUMENT for a
 * name the view lacks.
 */
shimkit_code fs_select_features(shimkit_call *call, const fs_view *view, char *const *names, size_t n_names,
                                fs_mem *mem, size_t **out, size_t *n_out);

#endif /* FS_CALL_H */
