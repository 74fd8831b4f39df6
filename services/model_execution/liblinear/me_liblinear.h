/* me_liblinear.h - runs models saved by liblinear's save_model(). */
#ifndef ME_LIBLINEAR_H
#define ME_LIBLINEAR_H

#include "me_runtime.h"

extern const me_runtime_ops me_liblinear;

#endif /* ME_LIBLINEAR_H */
