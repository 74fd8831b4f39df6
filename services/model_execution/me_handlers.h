/*
 * me_handlers.h - the GRPCInferenceService handler table (user data: a
 * me_service) and the helpers its three files share.
 */
#ifndef ME_HANDLERS_H
#define ME_HANDLERS_H

#include "inference/grpc_predict_v2.shimkit.h"
#include "me_service.h"

#define ME_SERVER_NAME "shimkit-model-execution"
#define ME_SERVER_VERSION "0.1.0"

extern const Inference__GRPCInferenceService_Handlers me_handlers;

/* me_handlers.c */
shimkit_code me_reply_error(shimkit_call *call, const me_err *err);
/* A model name the table can hold: -1 + err INVALID_ARGUMENT otherwise. */
int me_check_name(const char *name, me_err *err);

/* me_infer.c */
shimkit_code me_model_infer(shimkit_call *call, const Inference__ModelInferRequest *req,
                            Inference__ModelInferResponse *resp, void *user_data);

/* me_repository.c: the repository extension */
shimkit_code me_repository_index(shimkit_call *call, const Inference__RepositoryIndexRequest *req,
                                 Inference__RepositoryIndexResponse *resp, void *user_data);
shimkit_code me_repository_model_load(shimkit_call *call, const Inference__RepositoryModelLoadRequest *req,
                                      Inference__RepositoryModelLoadResponse *resp, void *user_data);
shimkit_code me_repository_model_unload(shimkit_call *call,
                                        const Inference__RepositoryModelUnloadRequest *req,
                                        Inference__RepositoryModelUnloadResponse *resp, void *user_data);

#endif /* ME_HANDLERS_H */
