/* me_libsvm.h - runs models saved by libsvm's svm_save_model(). */
#ifndef ME_LIBSVM_H
#define ME_LIBSVM_H

#include "me_runtime.h"

extern const me_runtime_ops me_libsvm;

#endif /* ME_LIBSVM_H */
