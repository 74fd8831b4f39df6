/*
 * tr_convert.h - between the Training messages and the shim's own types:
 * a SubmitJobRequest checked and copied into a tr_spec, and a job view
 * written into a Job message in call memory. Internal to the handlers.
 */
#ifndef TR_CONVERT_H
#define TR_CONVERT_H

#include "ml/v1/training.shimkit.h"
#include "tr_service.h"

/*
 * Checks the request (algorithm matches the back end, hyperparameters the
 * back end accepts, a dataset and a model name) and copies it into *out
 * (heap; the caller frees with tr_spec_free). On failure sets the status
 * (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED) and returns it.
 */
shimkit_code tr_spec_from_request(shimkit_call *call, const tr_service *svc,
                                  const Shimkit__Ml__V1__SubmitJobRequest *req, tr_spec **out);

/* Fills *job from v (memory from the call); SHIMKIT_RESOURCE_EXHAUSTED when out of memory. */
shimkit_code tr_job_to_proto(shimkit_call *call, const tr_job_view *v, Shimkit__Ml__V1__Job *job);

#endif /* TR_CONVERT_H */
