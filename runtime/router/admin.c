/*
 * admin.c - the RouterAdmin service (proto/shimkit/router/v1/admin.proto),
 * served on the router's own address: add, replace and remove sets, set
 * weights, hold a service, list everything with health and load.
 *
 * Every change goes the same way, under admin_lock: take the current specs,
 * change them, validate, write the --state file (if any; a change that
 * cannot be saved is refused and nothing changes; a --sets-file is never
 * written), then swap in the new snapshot (sets.c); a set's new dns: names
 * are resolved once first (discover.c). Bad requests get INVALID_ARGUMENT
 * or NOT_FOUND with a message that names the set and the problem.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "shimkit/router/v1/admin.shimkit.h"
#include "state.h"

typedef Shimkit__Router__V1__Set pb_set;
typedef Shimkit__Router__V1__SetStatus pb_set_status;
typedef Shimkit__Router__V1__BackendStatus pb_backend_status;

/* ---- replies ------------------------------------------------------------------ */

static char *dup_or_empty(shimkit_call *call, const char *s) {
  char *d = shimkit_call_strdup(call, s != NULL ? s : "");
  return d != NULL ? d : (char *)"";
}

/* Fills out with s (its spec, replicas, health and counters), in call memory. */
static int fill_status(shimkit_call *call, const router_set *s, pb_set_status *out) {
  shimkit__router__v1__set_status__init(out);
  pb_set *ps = shimkit_call_alloc(call, sizeof *ps);
  if (ps == NULL) {
    return -1;
  }
  shimkit__router__v1__set__init(ps);
  ps->name = dup_or_empty(call, s->spec.name);
  ps->n_services = (size_t)s->spec.n_services;
  ps->services = s->spec.n_services > 0 ? shimkit_call_alloc(call, (size_t)s->spec.n_services * sizeof(char *))
                                        : NULL;
  for (int i = 0; ps->services != NULL && i < s->spec.n_services; i++) {
    ps->services[i] = dup_or_empty(call, s->spec.services[i]);
  }
  ps->n_backends = (size_t)s->spec.n_backends;
  ps->backends = shimkit_call_alloc(call, (size_t)s->spec.n_backends * sizeof(char *) + 1);
  out->backends = shimkit_call_alloc(call, (size_t)s->n_backends * sizeof *out->backends + 1);
  out->unresolved = shimkit_call_alloc(call, (size_t)s->n_unresolved * sizeof(char *) + 1);
  if ((ps->services == NULL && s->spec.n_services > 0) || ps->backends == NULL || out->backends == NULL ||
      out->unresolved == NULL) {
    return -1;
  }
  ps->policy = (Shimkit__Router__V1__Policy)s->spec.policy;
  ps->hash_field = dup_or_empty(call, s->spec.hash_field);
  ps->hash_key = dup_or_empty(call, s->spec.hash_key);
  ps->weight = s->spec.weight;
  ps->retry_not_found = s->spec.retry_not_found;
  out->set = ps;
  for (int i = 0; i < s->spec.n_backends; i++) {
    ps->backends[i] = dup_or_empty(call, s->spec.backends[i]); /* as given: dns: entries too */
  }
  out->n_unresolved = (size_t)s->n_unresolved;
  for (int i = 0; i < s->n_unresolved; i++) {
    out->unresolved[i] = dup_or_empty(call, s->unresolved[i]);
  }
  out->n_backends = (size_t)s->n_backends;
  for (int i = 0; i < s->n_backends; i++) {
    router_backend *b = s->backends[i];
    pb_backend_status *bs = shimkit_call_alloc(call, sizeof *bs);
    if (bs == NULL) {
      return -1;
    }
    shimkit__router__v1__backend_status__init(bs);
    bs->address = dup_or_empty(call, b->address);
    bs->source = ps->backends[s->origin[i]];
    bs->serving = atomic_load(&b->healthy);
    bs->outstanding = atomic_load(&b->outstanding);
    bs->calls = atomic_load(&b->calls);
    bs->failures = atomic_load(&b->failures);
    bs->retried_away = atomic_load(&b->retried_away);
    out->backends[i] = bs;
  }
  return 0;
}

static router_set *find_set(router_config *cfg, const char *name) {
  for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
    if (strcmp(cfg->sets[i].spec.name, name) == 0) {
      return &cfg->sets[i];
    }
  }
  return NULL;
}

static bool serves(const router_set_spec *s, const char *service) {
  for (int i = 0; i < s->n_services; i++) {
    if (strcmp(s->services[i], service) == 0) {
      return true;
    }
  }
  return false;
}

/* ---- changing the sets ------------------------------------------------------------ */

static shimkit_code oom(shimkit_call *call) {
  return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: out of memory");
}

/* INVALID_ARGUMENT for a request that lacks what (method "needs" what). */
static shimkit_code needs(shimkit_call *call, const char *method, const char *what) {
  return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s needs %s", method, what);
}

static int index_of(const router_set_spec *specs, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    if (strcmp(specs[i].name, name) == 0) {
      return i;
    }
  }
  return -1;
}

/* *at = the index of the set named name; NOT_FOUND when there is none. */
static shimkit_code find_named(shimkit_call *call, const router_set_spec *specs, int n, const char *name,
                               int *at) {
  *at = index_of(specs, n, name);
  return *at >= 0 ? SHIMKIT_OK : shimkit_call_error(call, SHIMKIT_NOT_FOUND, "no set named \"%.128s\"", name);
}

/* Saves specs to the state file (if any) and swaps them in. admin_lock held. */
static shimkit_code commit(router *r, shimkit_call *call, const router_set_spec *specs, int n,
                           const router_set_spec *old, int n_old) {
  char err[512];
  if (r->state_path != NULL && router_state_save(r->state_path, specs, n, err, sizeof err) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "state file: %s", err);
    return shimkit_call_error(call, SHIMKIT_INTERNAL, "router: %s; nothing changed", err);
  }
  if (router_config_replace(r, specs, n) != 0) {
    if (r->state_path != NULL) {
      router_state_save(r->state_path, old, n_old, err, sizeof err);
    }
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: out of memory; nothing changed");
  }
  return SHIMKIT_OK;
}

/*
 * One change of the sets: checks the request against them and edits
 * sets[0..*n) in place (room for one more). SHIMKIT_OK, or the call's
 * error and nothing changes.
 */
typedef shimkit_code (*sets_edit)(shimkit_call *call, router_set_spec *sets, int *n, const void *arg);

/* Runs edit on a copy of the current specs, then commits the result. admin_lock held. */
static shimkit_code change_sets(router *r, shimkit_call *call, sets_edit edit, const void *arg) {
  router_set_spec *specs = NULL, *next = NULL;
  int n = 0, n_next = 0;
  shimkit_code code;
  if (router_config_specs(r, &specs, &n) != 0 || (next = calloc((size_t)n + 1, sizeof *next)) == NULL) {
    code = oom(call);
  } else {
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
      rc = router_spec_copy(&next[n_next++], &specs[i]);
    }
    code = rc != 0 ? oom(call) : edit(call, next, &n_next, arg);
    if (code == SHIMKIT_OK) {
      code = commit(r, call, next, n_next, specs, n);
    }
  }
  router_specs_free(next, n_next);
  router_specs_free(specs, n);
  return code;
}

/* Converts a request's Set to a spec ("" fields become absent). */
static int spec_from_pb(const pb_set *ps, router_set_spec *out) {
  memset(out, 0, sizeof *out);
  int rc = 0;
  out->name = strdup(ps->name != NULL ? ps->name : "");
  rc |= out->name == NULL ? -1 : 0;
  for (size_t i = 0; rc == 0 && i < ps->n_services && i <= ROUTER_MAX_SERVICES; i++) {
    rc = router_spec_push(&out->services, &out->n_services, ps->services[i]);
  }
  for (size_t i = 0; rc == 0 && i < ps->n_backends && i <= ROUTER_MAX_BACKENDS; i++) {
    rc = router_spec_push(&out->backends, &out->n_backends, ps->backends[i]);
  }
  out->policy = (router_policy)ps->policy;
  if (rc == 0 && ps->hash_field != NULL && ps->hash_field[0] != '\0') {
    rc = (out->hash_field = strdup(ps->hash_field)) == NULL ? -1 : 0;
  }
  if (rc == 0 && ps->hash_key != NULL && ps->hash_key[0] != '\0') {
    rc = (out->hash_key = strdup(ps->hash_key)) == NULL ? -1 : 0;
  }
  out->weight = ps->weight;
  out->retry_not_found = ps->retry_not_found;
  return rc;
}

static shimkit_code reply_set(router *r, shimkit_call *call, const char *name, pb_set_status *out) {
  router_config *cfg = router_config_get(r);
  router_set *s = find_set(cfg, name);
  int rc = s != NULL ? fill_status(call, s, out) : -1;
  router_config_unref(cfg);
  return rc == 0 ? SHIMKIT_OK : oom(call);
}

/* ApplySet's edit: spec replaces the set of its name, or is added. */
typedef struct apply_arg {
  const router_set_spec *spec;
  bool *added; /* out: there was no set of that name */
} apply_arg;

static shimkit_code apply_edit(shimkit_call *call, router_set_spec *sets, int *n, const void *arg) {
  const apply_arg *a = arg;
  int at = index_of(sets, *n, a->spec->name);
  *a->added = at < 0;
  if (at < 0 && *n >= ROUTER_MAX_SETS) {
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: at most %d sets", ROUTER_MAX_SETS);
  }
  if (at < 0) {
    at = (*n)++;
  } else {
    router_spec_clear(&sets[at]);
  }
  return router_spec_copy(&sets[at], a->spec) == 0 ? SHIMKIT_OK : oom(call);
}

static shimkit_code apply_set(shimkit_call *call, const Shimkit__Router__V1__ApplySetRequest *req,
                              pb_set_status *reply, void *user_data) {
  router *r = user_data;
  if (req->set == NULL) {
    return needs(call, "ApplySet", "a set");
  }
  router_set_spec spec;
  if (spec_from_pb(req->set, &spec) != 0) {
    router_spec_clear(&spec);
    return oom(call);
  }
  char err[300];
  if (router_spec_validate(&spec, err, sizeof err) != 0) {
    router_spec_clear(&spec);
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "%s", err);
  }
  bool added = false;
  apply_arg a = {.spec = &spec, .added = &added};
  pthread_mutex_lock(&r->admin_lock);
  router_dns_prime(r, &spec, 1); /* its new dns: names resolved once before it goes live */
  shimkit_code code = change_sets(r, call, apply_edit, &a);
  if (code == SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s set %s: %d backends, policy %s, weight %u",
                added ? "added" : "replaced", spec.name, spec.n_backends, router_policy_name(spec.policy),
                spec.weight);
    code = reply_set(r, call, spec.name, reply);
  }
  pthread_mutex_unlock(&r->admin_lock);
  router_spec_clear(&spec);
  return code;
}

/* RemoveSet's edit: the set named arg goes. */
static shimkit_code remove_edit(shimkit_call *call, router_set_spec *sets, int *n, const void *arg) {
  int at;
  shimkit_code code = find_named(call, sets, *n, arg, &at);
  if (code == SHIMKIT_OK) {
    router_spec_clear(&sets[at]);
    memmove(&sets[at], &sets[at + 1], (size_t)(*n - at - 1) * sizeof *sets);
    (*n)--;
  }
  return code;
}

static shimkit_code remove_set(shimkit_call *call, const Shimkit__Router__V1__RemoveSetRequest *req,
                               Shimkit__Router__V1__RemoveSetResponse *reply, void *user_data) {
  (void)reply;
  router *r = user_data;
  if (req->name == NULL || req->name[0] == '\0') {
    return needs(call, "RemoveSet", "the set's name");
  }
  pthread_mutex_lock(&r->admin_lock);
  shimkit_code code = change_sets(r, call, remove_edit, req->name);
  if (code == SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "removed set %s", req->name);
  }
  pthread_mutex_unlock(&r->admin_lock);
  return code;
}

/* SetWeights' edit: every set named gets its weight, once all are checked. */
static shimkit_code weights_edit(shimkit_call *call, router_set_spec *sets, int *n, const void *arg) {
  const Shimkit__Router__V1__SetWeightsRequest *req = arg;
  const char *service = req->service != NULL ? req->service : "";
  for (size_t i = 0; i < req->n_weights; i++) {
    const char *name = req->weights[i]->key != NULL ? req->weights[i]->key : "";
    int at;
    shimkit_code code = find_named(call, sets, *n, name, &at);
    if (code != SHIMKIT_OK) {
      return code;
    }
    if (service[0] != '\0' && sets[at].n_services > 0 && !serves(&sets[at], service)) {
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "set \"%s\" does not serve %.128s", name,
                                service);
    }
    if (req->weights[i]->value > ROUTER_MAX_WEIGHT) {
      return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT, "set \"%s\": weight %u is over %u", name,
                                req->weights[i]->value, ROUTER_MAX_WEIGHT);
    }
  }
  for (size_t i = 0; i < req->n_weights; i++) {
    sets[index_of(sets, *n, req->weights[i]->key)].weight = req->weights[i]->value;
  }
  return SHIMKIT_OK;
}

/* SetWeights' reply: the sets of the service (or, with no service, those named). */
static void reply_weights(router *r, shimkit_call *call, const Shimkit__Router__V1__SetWeightsRequest *req,
                          Shimkit__Router__V1__SetWeightsResponse *reply) {
  const char *service = req->service != NULL ? req->service : "";
  router_config *cfg = router_config_get(r);
  reply->sets = shimkit_call_alloc(call, (size_t)(cfg != NULL ? cfg->n_sets : 0) * sizeof *reply->sets + 1);
  for (int i = 0; reply->sets != NULL && cfg != NULL && i < cfg->n_sets; i++) {
    const router_set *s = &cfg->sets[i];
    bool named = false;
    for (size_t k = 0; k < req->n_weights; k++) {
      named = named || strcmp(req->weights[k]->key, s->spec.name) == 0;
    }
    if (!named && (service[0] == '\0' || !serves(&s->spec, service))) {
      continue;
    }
    pb_set_status *st = shimkit_call_alloc(call, sizeof *st);
    if (st == NULL || fill_status(call, s, st) != 0) {
      break;
    }
    reply->sets[reply->n_sets++] = st;
  }
  router_config_unref(cfg);
}

static shimkit_code set_weights(shimkit_call *call, const Shimkit__Router__V1__SetWeightsRequest *req,
                                Shimkit__Router__V1__SetWeightsResponse *reply, void *user_data) {
  router *r = user_data;
  if (req->n_weights == 0) {
    return needs(call, "SetWeights", "at least one set name -> weight");
  }
  pthread_mutex_lock(&r->admin_lock);
  shimkit_code code = change_sets(r, call, weights_edit, req);
  if (code == SHIMKIT_OK) {
    for (size_t i = 0; i < req->n_weights; i++) {
      shimkit_log(SHIMKIT_LOG_INFO, "router", "set %s: weight %u", req->weights[i]->key,
                  req->weights[i]->value);
    }
    reply_weights(r, call, req, reply);
  }
  pthread_mutex_unlock(&r->admin_lock);
  return code;
}

static bool service_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > ROUTER_MAX_NAME) {
    return false;
  }
  for (; *s != '\0'; s++) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
          *s == '.')) {
      return false;
    }
  }
  return true;
}

static shimkit_code hold_service(shimkit_call *call, const Shimkit__Router__V1__HoldServiceRequest *req,
                                 Shimkit__Router__V1__HoldServiceResponse *reply, void *user_data) {
  router *r = user_data;
  const char *service = req->service != NULL ? req->service : "";
  if (service[0] == '\0') {
    return needs(call, "HoldService", "a service name");
  }
  if (!service_name(service)) {
    return shimkit_call_error(call, SHIMKIT_INVALID_ARGUMENT,
                              "\"%.128s\" is not a full service name (e.g. shimkit.ml.v1.FeatureStore)", service);
  }
  int waiting = router_hold_set(r, service, req->hold, req->hold_timeout_ms);
  if (waiting < 0) {
    return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: at most %d services held at once",
                              ROUTER_MAX_HOLDS);
  }
  reply->held_calls = waiting;
  return SHIMKIT_OK;
}

static shimkit_code list_sets(shimkit_call *call, const Shimkit__Router__V1__ListSetsRequest *req,
                              Shimkit__Router__V1__ListSetsResponse *reply, void *user_data) {
  (void)req;
  router *r = user_data;
  router_config *cfg = router_config_get(r);
  int n = cfg != NULL ? cfg->n_sets : 0;
  shimkit_code code = SHIMKIT_OK;
  reply->sets = shimkit_call_alloc(call, (size_t)n * sizeof *reply->sets + 1);
  for (int i = 0; reply->sets != NULL && i < n; i++) {
    pb_set_status *st = shimkit_call_alloc(call, sizeof *st);
    if (st == NULL || fill_status(call, &cfg->sets[i], st) != 0) {
      code = oom(call);
      break;
    }
    reply->sets[reply->n_sets++] = st;
  }
  router_config_unref(cfg);
  char **held = NULL;
  int n_held = 0;
  if (code == SHIMKIT_OK && router_hold_list(r, &held, &n_held) == 0) {
    reply->held_services = shimkit_call_alloc(call, (size_t)n_held * sizeof(char *) + 1);
    for (int i = 0; reply->held_services != NULL && i < n_held; i++) {
      reply->held_services[reply->n_held_services++] = dup_or_empty(call, held[i]);
    }
  }
  for (int i = 0; i < n_held; i++) {
    free(held[i]);
  }
  free(held);
  return code;
}

static const Shimkit__Router__V1__RouterAdmin_Handlers admin_handlers = {
    .apply_set = apply_set,
    .remove_set = remove_set,
    .set_weights = set_weights,
    .hold_service = hold_service,
    .list_sets = list_sets,
};

shimkit_code router_admin_register(router *r, shimkit_server *srv) {
  return shimkit__router__v1__router_admin__shimkit_register(srv, &admin_handlers, r);
}

int router_load_state(router *r, const router_set_spec *fallback, int n_fallback) {
  router_set_spec *specs = NULL;
  int n = 0;
  char err[600];
  const char *path = r->state_path != NULL ? r->state_path : r->sets_path;
  int rc = path != NULL ? router_state_load(path, &specs, &n, err, sizeof err) : 1;
  if (rc < 0 || (rc == 1 && r->sets_path != NULL)) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot load the %s file: %s", r->sets_path != NULL ? "sets" : "state",
                rc < 0 ? err : "it does not exist");
    return -1;
  }
  if (rc == 0) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "loaded %d set%s from %s", n, n == 1 ? "" : "s", path);
  }
  if (r->sets_path != NULL) {
    shimkit_log(SHIMKIT_LOG_INFO, "router",
                "sets from --sets-file %s, which the router never writes: changes made through RouterAdmin "
                "are not persisted (they last until the router restarts)",
                r->sets_path);
  }
  /* --backend's set "default" joins, unless the state file has its own. */
  for (int i = 0; i < n_fallback; i++) {
    if (index_of(specs, n, fallback[i].name) >= 0) {
      continue;
    }
    router_set_spec *grown = realloc(specs, (size_t)(n + 1) * sizeof *grown);
    if (grown == NULL || router_spec_copy(&grown[n], &fallback[i]) != 0) {
      specs = grown != NULL ? grown : specs;
      router_specs_free(specs, n);
      return -1;
    }
    specs = grown;
    n++;
  }
  pthread_mutex_lock(&r->admin_lock);
  router_dns_prime(r, specs, n); /* dns: names resolved once before the sets go live */
  rc = router_config_replace(r, specs, n);
  if (rc == 0 && r->state_path != NULL && router_state_save(r->state_path, specs, n, err, sizeof err) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot write the state file: %s", err);
    rc = -1;
  }
  pthread_mutex_unlock(&r->admin_lock);
  router_specs_free(specs, n);
  return rc;
}
