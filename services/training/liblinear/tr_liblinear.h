/*
 * tr_liblinear.h - the liblinear back end of the Training shim
 * (training_shim --backend liblinear). Artifacts are liblinear's
 * save_model() text files (first line "solver_type ...").
 */
#ifndef TR_LIBLINEAR_H
#define TR_LIBLINEAR_H

#include "tr_trainer.h"

extern const tr_trainer_ops tr_liblinear;

#endif /* TR_LIBLINEAR_H */
