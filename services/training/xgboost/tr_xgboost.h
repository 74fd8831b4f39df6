/*
 * tr_xgboost.h - the XGBoost back end of the Training shim
 * (training_shim --backend xgboost; built when libxgboost-dev is found).
 * Artifacts are XGBoosterSaveModel() JSON files, framework "xgboost", the
 * format model_execution_shim's xgboost runtime loads. The model predicts
 * class indexes 0..K-1: the dataset's sorted distinct labels, which the
 * version's tag class_labels lists (heart_scale's -1/+1 become 0/1).
 */
#ifndef TR_XGBOOST_H
#define TR_XGBOOST_H

#include "tr_trainer.h"

extern const tr_trainer_ops tr_xgboost;

#endif /* TR_XGBOOST_H */
