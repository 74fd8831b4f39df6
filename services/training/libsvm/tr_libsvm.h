/*
 * tr_libsvm.h - the libsvm back end of the Training shim
 * (training_shim --backend libsvm). Artifacts are libsvm's svm_save_model()
 * text files (first line "svm_type c_svc").
 */
#ifndef TR_LIBSVM_H
#define TR_LIBSVM_H

#include "tr_trainer.h"

extern const tr_trainer_ops tr_libsvm;

#endif /* TR_LIBSVM_H */
