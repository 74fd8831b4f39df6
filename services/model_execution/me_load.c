/*
 * me_load.c - from a repository version to a servable model: fetch the
 * artifact (me_fetch.c), pick the runtime its framework names, load it,
 * describe it from the repository's schema, and put it in the table. Loads
 * are serialized (load_mu) so two calls asking for the same cold model
 * fetch it once; predictions on loaded models never wait for a load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "me_fetch.h"
#include "me_service.h"
#include "me_tensor.h"

const me_runtime_ops *me_service_runtime(const me_service *svc, const char *framework) {
  for (size_t i = 0; i < svc->n_runtimes; i++)
    if (strcmp(svc->runtimes[i]->framework, framework) == 0) return svc->runtimes[i];
  return NULL;
}

int me_parse_version(const char *s, uint64_t *version, me_err *err) {
  *version = 0;
  if (!s || !s[0]) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || errno || v == 0 || s[0] == '-' || s[0] == '+')
    return me_fail(err, SHIMKIT_INVALID_ARGUMENT, "version \"%.64s\" is not a version number (1, 2, ...)", s);
  *version = v;
  return 0;
}

static void me_copy_specs(Shimkit__Ml__V1__TensorSpec **in, size_t n, me_tensor_spec *out, size_t *n_out) {
  *n_out = n < ME_MAX_TENSORS ? n : ME_MAX_TENSORS;
  for (size_t i = 0; i < *n_out; i++) {
    snprintf(out[i].name, sizeof out[i].name, "%s", in[i]->name);
    snprintf(out[i].datatype, sizeof out[i].datatype, "%s", in[i]->datatype);
    out[i].n_shape = in[i]->n_shape < ME_MAX_DIMS ? in[i]->n_shape : ME_MAX_DIMS;
    memcpy(out[i].shape, in[i]->shape, out[i].n_shape * sizeof out[i].shape[0]);
  }
}

/* Fills what the model tells about itself and what the schema says; -1 + err when it cannot be served. */
static int me_describe(me_model *m, const Shimkit__Ml__V1__ModelVersion *mv, me_err *err) {
  me_copy_specs(mv->inputs, mv->n_inputs, m->inputs, &m->n_inputs);
  me_copy_specs(mv->outputs, mv->n_outputs, m->outputs, &m->n_outputs);
  for (size_t i = 0; i < m->n_inputs; i++)
    if (strcmp(m->inputs[i].name, ME_INPUT_NAME) == 0 && m->inputs[i].n_shape == 2 &&
        m->inputs[i].shape[1] > 0)
      m->n_features = (size_t)m->inputs[i].shape[1];
  if (!m->n_features) m->n_features = m->rt->n_features(m->native);
  if (!m->n_features || m->n_features > ME_MAX_ELEMENTS)
    return me_fail(
        err, SHIMKIT_FAILED_PRECONDITION,
        "model %s version %llu: its schema gives no input %s [-1, n_features] and the %s file does not say",
        m->name, (unsigned long long)m->version, ME_INPUT_NAME, m->rt->framework);
  double labels[ME_MAX_CLASSES];
  m->n_classes = m->rt->classes(m->native, labels);
  m->has_probability = m->rt->has_probability(m->native);
  if (!m->n_inputs) { /* a version registered without a schema: describe what it takes */
    m->n_inputs = 1;
    snprintf(m->inputs[0].name, sizeof m->inputs[0].name, "%s", ME_INPUT_NAME);
    snprintf(m->inputs[0].datatype, sizeof m->inputs[0].datatype, "FP64");
    m->inputs[0].n_shape = 2;
    m->inputs[0].shape[0] = -1;
    m->inputs[0].shape[1] = (int64_t)m->n_features;
  }
  if (!m->n_outputs) {
    m->n_outputs = 1;
    snprintf(m->outputs[0].name, sizeof m->outputs[0].name, "%s", ME_OUTPUT_LABEL);
    snprintf(m->outputs[0].datatype, sizeof m->outputs[0].datatype, "FP64");
    m->outputs[0].n_shape = 1;
    m->outputs[0].shape[0] = -1;
  }
  bool listed = false;
  for (size_t i = 0; i < m->n_outputs; i++)
    listed |= strcmp(m->outputs[i].name, ME_OUTPUT_PROBABILITY) == 0;
  if (m->has_probability && !listed && m->n_outputs < ME_MAX_TENSORS) { /* on request: FP64 [N, classes] */
    me_tensor_spec *p = &m->outputs[m->n_outputs++];
    snprintf(p->name, sizeof p->name, "%s", ME_OUTPUT_PROBABILITY);
    snprintf(p->datatype, sizeof p->datatype, "FP64");
    p->n_shape = 2;
    p->shape[0] = -1;
    p->shape[1] = (int64_t)m->n_classes;
  }
  return 0;
}

/* The fetch and load, with load_mu held. */
static me_model *me_load_locked(me_service *svc, const char *name, uint64_t version, const char *alias,
                                me_err *err) {
  me_fetched f;
  if (me_fetch(svc, name, version, alias, &f, err) != 0) return NULL;
  me_model *m = NULL;
  const Shimkit__Ml__V1__ModelVersion *mv = f.mv;
  const me_runtime_ops *rt = me_service_runtime(svc, mv->framework);
  if (mv->status != SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION,
            "model %s version %llu is not READY in the repository (archived)", name,
            (unsigned long long)mv->version);
  } else if (!rt) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION,
            "model %s version %llu has framework \"%.64s\", which this server cannot run", name,
            (unsigned long long)mv->version, mv->framework);
  } else if ((m = me_models_get(svc->models, name, mv->version)) ==
             NULL) { /* an alias may name a loaded version */
    void *native = rt->load(f.path, err);
    if (native) {
      m = me_model_new(name, mv->version, rt, native);
      if (!m) {
        rt->unload(native);
        me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory loading model %s", name);
      } else if (me_describe(m, mv, err) != 0 || me_models_put(svc->models, m, err) != 0) {
        me_model_release(svc->models, m);
        m = NULL;
      }
    } else {
      char reason[ME_ERR_MAX];
      snprintf(reason, sizeof reason, "%s", err->msg);
      me_fail(err, err->code, "model %s version %llu does not load: %s", name,
              (unsigned long long)mv->version, reason);
    }
  }
  unlink(f.path);
  protobuf_c_message_free_unpacked(&f.mv->base, NULL);
  return m;
}

me_model *me_service_load(me_service *svc, const char *name, uint64_t version, const char *alias,
                          me_err *err) {
  pthread_mutex_lock(&svc->load_mu);
  me_model *m = me_load_locked(svc, name, version, alias, err);
  pthread_mutex_unlock(&svc->load_mu);
  return m;
}

me_model *me_service_get(me_service *svc, const char *name, uint64_t version, me_err *err) {
  me_model *m = me_models_get(svc->models, name, version);
  if (m) return m;
  pthread_mutex_lock(&svc->load_mu);
  m = me_models_get(svc->models, name, version); /* loaded while we waited */
  if (!m) m = me_load_locked(svc, name, version, NULL, err);
  pthread_mutex_unlock(&svc->load_mu);
  return m;
}
