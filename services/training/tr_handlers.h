/*
 * tr_handlers.h - the shimkit.ml.v1.Training handler table over any native
 * trainer. Register with
 *   shimkit__ml__v1__training__shimkit_register(srv, &tr_handlers, service);
 * where service is a tr_service * that outlives the server (borrowed).
 */
#ifndef TR_HANDLERS_H
#define TR_HANDLERS_H

#include "ml/v1/training.shimkit.h"

extern const Shimkit__Ml__V1__Training_Handlers tr_handlers;

#endif /* TR_HANDLERS_H */
