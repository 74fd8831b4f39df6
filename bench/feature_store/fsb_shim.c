/*
 * fsb_shim.c - fs_bench through feature_store_shim with the generated C
 * client stubs (ml/v1/feature_store.shimkit.h): the setup (the view
 * FSB_VIEW with cfg->features DOUBLE features, replaced if it exists, and
 * cfg->entities rows ingested with WriteRows) and the lookup variant
 * (GetOnlineFeatures of one entity, every feature; all client threads share
 * one channel, as an application would; each thread decodes responses into
 * its own arena, shimkit/arena.h, reset after every lookup).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>

#include "fsb.h"
#include "shimkit/arena.h"
#include "ml/v1/feature_store.shimkit.h"

#define ROWS_PER_MESSAGE 250
#define SETUP_TIMEOUT_MS 120000
#define LOOKUP_TIMEOUT_MS 10000

typedef Shimkit__Ml__V1__FeatureRow Row;
typedef Shimkit__Ml__V1__FeatureRow__ValuesEntry Entry;
typedef Shimkit__Ml__V1__FeatureValue Value;

static void feature_name(int f, char *buf, size_t size) { snprintf(buf, size, "f%03d", f); }

static int create_view(shimkit_channel *ch, int n_features) {
  Shimkit__Ml__V1__DeleteFeatureViewRequest del = SHIMKIT__ML__V1__DELETE_FEATURE_VIEW_REQUEST__INIT;
  del.name = FSB_VIEW;
  Shimkit__Ml__V1__DeleteFeatureViewResponse *dr = NULL;
  shimkit_call_options opts = {.timeout_ms = SETUP_TIMEOUT_MS};
  shimkit_code c = shimkit__ml__v1__feature_store__shimkit_delete_feature_view(ch, &del, &dr, &opts);
  if (dr) protobuf_c_message_free_unpacked(&dr->base, NULL);
  if (c != SHIMKIT_OK && c != SHIMKIT_NOT_FOUND) {
    fprintf(stderr, "fs_bench: DeleteFeatureView: code %d\n", (int)c);
    return -1;
  }
  Shimkit__Ml__V1__FeatureSpec *specs = calloc((size_t)n_features, sizeof *specs);
  Shimkit__Ml__V1__FeatureSpec **specp = calloc((size_t)n_features, sizeof *specp);
  char (*names)[16] = calloc((size_t)n_features, sizeof *names);
  int rc = -1;
  if (specs && specp && names) {
    for (int f = 0; f < n_features; f++) {
      shimkit__ml__v1__feature_spec__init(&specs[f]);
      feature_name(f, names[f], sizeof names[f]);
      specs[f].name = names[f];
      specs[f].type = SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_DOUBLE;
      specp[f] = &specs[f];
    }
    Shimkit__Ml__V1__FeatureView view = SHIMKIT__ML__V1__FEATURE_VIEW__INIT;
    view.name = FSB_VIEW;
    view.entity_key = "entity_id";
    view.description = "fs_bench: GetOnlineFeatures benchmark";
    view.n_features = (size_t)n_features;
    view.features = specp;
    Shimkit__Ml__V1__CreateFeatureViewRequest req = SHIMKIT__ML__V1__CREATE_FEATURE_VIEW_REQUEST__INIT;
    req.view = &view;
    Shimkit__Ml__V1__FeatureView *created = NULL;
    c = shimkit__ml__v1__feature_store__shimkit_create_feature_view(ch, &req, &created, &opts);
    if (created) protobuf_c_message_free_unpacked(&created->base, NULL);
    if (c == SHIMKIT_OK) rc = 0;
    else fprintf(stderr, "fs_bench: CreateFeatureView: code %d\n", (int)c);
  }
  free(specs), free(specp), free(names);
  return rc;
}

/* One WriteRows call, ROWS_PER_MESSAGE rows per message. */
static int ingest(shimkit_channel *ch, int n_entities, int n_features) {
  size_t cells = (size_t)ROWS_PER_MESSAGE * (size_t)n_features;
  Row *rows = calloc(ROWS_PER_MESSAGE, sizeof *rows);
  Row **rowp = calloc(ROWS_PER_MESSAGE, sizeof *rowp);
  char (*keys)[16] = calloc(ROWS_PER_MESSAGE, sizeof *keys);
  char (*names)[16] = calloc((size_t)n_features, sizeof *names);
  Entry *ents = calloc(cells, sizeof *ents);
  Entry **entp = calloc(cells, sizeof *entp);
  Value *vals = calloc(cells, sizeof *vals);
  shimkit_status status = {0};
  shimkit_call_options opts = {.timeout_ms = SETUP_TIMEOUT_MS, .status_out = &status};
  shimkit_client_call *call = NULL;
  int rc = -1;
  if (!rows || !rowp || !keys || !names || !ents || !entp || !vals) goto out;
  for (int f = 0; f < n_features; f++) feature_name(f, names[f], sizeof names[f]);
  call = shimkit__ml__v1__feature_store__shimkit_write_rows_start(ch, &opts);
  if (!call) goto out;
  for (int first = 0; first < n_entities; first += ROWS_PER_MESSAGE) {
    int n = n_entities - first < ROWS_PER_MESSAGE ? n_entities - first : ROWS_PER_MESSAGE;
    for (int r = 0; r < n; r++) {
      shimkit__ml__v1__feature_row__init(&rows[r]);
      fsb_entity_key(first + r, keys[r], sizeof keys[r]);
      rows[r].entity_key = keys[r];
      rows[r].n_values = (size_t)n_features;
      rows[r].values = &entp[(size_t)r * (size_t)n_features];
      for (int f = 0; f < n_features; f++) {
        size_t k = (size_t)r * (size_t)n_features + (size_t)f;
        shimkit__ml__v1__feature_value__init(&vals[k]);
        vals[k].kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE;
        vals[k].double_value = (first + r) * 0.001 + f;
        shimkit__ml__v1__feature_row__values_entry__init(&ents[k]);
        ents[k].key = names[f];
        ents[k].value = &vals[k];
        entp[k] = &ents[k];
      }
      rowp[r] = &rows[r];
    }
    Shimkit__Ml__V1__WriteRowsRequest req = SHIMKIT__ML__V1__WRITE_ROWS_REQUEST__INIT;
    req.view = FSB_VIEW;
    req.n_rows = (size_t)n;
    req.rows = rowp;
    if (shimkit__ml__v1__feature_store__shimkit_write_rows_send(call, &req) != 0) break;
  }
  shimkit_client_call_close_send(call);
  Shimkit__Ml__V1__WriteRowsResponse *resp = NULL;
  int got = shimkit__ml__v1__feature_store__shimkit_write_rows_recv(call, &resp);
  unsigned long long written = got == 1 && resp ? (unsigned long long)resp->rows_written : 0;
  if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
  shimkit_code c = shimkit_client_call_finish(call);
  if (c == SHIMKIT_OK && written == (unsigned long long)n_entities) rc = 0;
  else fprintf(stderr, "fs_bench: WriteRows: code %d (%s), %llu of %d rows written\n", (int)c,
               status.message ? status.message : "", written, n_entities);
out:
  shimkit_status_clear(&status);
  free(rows), free(rowp), free(keys), free(names), free(ents), free(entp), free(vals);
  return rc;
}

int fsb_shim_setup(const fsb_config *cfg, const char *addr, double *ingest_s) {
  shimkit_channel *ch = shimkit_channel_new(addr, NULL, 0);
  if (!ch) return -1;
  int rc = create_view(ch, cfg->features);
  double t0 = fsb_now();
  if (rc == 0) rc = ingest(ch, cfg->entities, cfg->features);
  *ingest_s = fsb_now() - t0;
  shimkit_channel_free(ch);
  return rc;
}

/* ---- the lookup variant ------------------------------------------------------ */

/* Per client thread: the shared channel and an arena the responses are decoded into. */
typedef struct shim_state {
  shimkit_channel *ch;
  shimkit_arena *arena;
} shim_state;

static void *shim_open(const fsb_config *cfg, void *shared) {
  (void)cfg;
  shim_state *s = calloc(1, sizeof *s);
  if (s && !(s->arena = shimkit_arena_new(0))) {
    free(s);
    return NULL;
  }
  if (s) s->ch = shared; /* the channel is thread-safe */
  return s;
}

static int shim_lookup(void *state, const char *key) {
  shim_state *s = state;
  char *keys[1] = {(char *)key};
  Shimkit__Ml__V1__GetOnlineFeaturesRequest req = SHIMKIT__ML__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
  req.view = FSB_VIEW;
  req.n_entity_keys = 1;
  req.entity_keys = keys;
  Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp = NULL;
  shimkit_call_options opts = {.timeout_ms = LOOKUP_TIMEOUT_MS, .allocator = shimkit_arena_allocator(s->arena)};
  int present = -1;
  if (shimkit__ml__v1__feature_store__shimkit_get_online_features(s->ch, &req, &resp, &opts) == SHIMKIT_OK)
    present = fsb_count_present(resp);
  shimkit_arena_reset(s->arena); /* drops the response */
  return present;
}

int fsb_count_present(const Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp) {
  if (resp == NULL || resp->n_vectors != 1) return -1;
  const Shimkit__Ml__V1__OnlineFeatureVector *v = resp->vectors[0];
  int present = 0;
  for (size_t i = 0; i < v->n_values && i < v->n_statuses; i++)
    if (v->statuses[i] == SHIMKIT__ML__V1__VALUE_STATUS__VALUE_STATUS_PRESENT &&
        v->values[i]->kind_case == SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE)
      present++;
  return present;
}

static void shim_close(void *state) {
  shim_state *s = state;
  if (s) shimkit_arena_free(s->arena);
  free(s);
}

int fsb_shim_variant(const fsb_config *cfg, const char *addr, const char *backend, fsb_variant *out) {
  (void)cfg;
  shimkit_channel *ch = shimkit_channel_new(addr, NULL, 0);
  if (!ch) return -1;
  *out = (fsb_variant){.name = "shim", .backend = backend, .open = shim_open, .lookup = shim_lookup,
                       .close = shim_close, .shared = ch};
  return 0;
}

void fsb_shim_variant_free(fsb_variant *v) {
  shimkit_channel_free(v->shared);
  v->shared = NULL;
}
