/* me_xgboost.h - runs models saved by XGBoost's XGBoosterSaveModel() (JSON or UBJSON). */
#ifndef ME_XGBOOST_H
#define ME_XGBOOST_H

#include "me_runtime.h"

extern const me_runtime_ops me_xgboost;

#endif /* ME_XGBOOST_H */
