/*
 * me_fetch.c - see me_fetch.h. The artifact streams straight into the
 * temporary file while it is hashed (services/common/shim_sha256.h), so a model never sits in memory
 * twice; the file is removed on every failure path.
 */
#include "me_fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ml/v1/model_repository.shimkit.h"
#include "shim_sha256.h"

#define ME_PAGE 1000

int me_fetch_fail(const me_service *svc, const char *what, shimkit_code code, const shimkit_status *st,
                  me_err *err) {
  const char *msg = st && st->message ? st->message : shimkit_strerror(code);
  if (code == SHIMKIT_UNAVAILABLE || code == SHIMKIT_DEADLINE_EXCEEDED)
    return me_fail(err, SHIMKIT_UNAVAILABLE, "the ModelRepository at %s is unreachable (%s: %.300s)",
                   svc->repo_addr, shimkit_code_name(code), msg);
  return me_fail(err, code, "ModelRepository %s: %.400s", what, msg);
}

/* The highest READY version of name, walking ListVersions page by page. */
static int me_latest_ready(me_service *svc, const char *name, uint64_t *version, me_err *err) {
  Shimkit__Ml__V1__PageRequest page = SHIMKIT__ML__V1__PAGE_REQUEST__INIT;
  Shimkit__Ml__V1__ListVersionsRequest req = SHIMKIT__ML__V1__LIST_VERSIONS_REQUEST__INIT;
  req.model_name = (char *)name;
  req.page = &page;
  page.page_size = ME_PAGE;
  char token[256] = "";
  *version = 0;
  for (int pages = 0; pages < 1000; pages++) {
    page.page_token = token;
    Shimkit__Ml__V1__ListVersionsResponse *resp = NULL;
    shimkit_status st = {0};
    shimkit_call_options opts = {.timeout_ms = ME_REPO_TIMEOUT_MS, .status_out = &st};
    shimkit_code code =
        shimkit__ml__v1__model_repository__shimkit_list_versions(svc->repo, &req, &resp, &opts);
    if (code != SHIMKIT_OK) {
      int rc = code == SHIMKIT_NOT_FOUND ? me_fail(err, code, "model %.200s is not in the repository", name)
                                         : me_fetch_fail(svc, "ListVersions", code, &st, err);
      shimkit_status_clear(&st);
      return rc;
    }
    for (size_t i = 0; i < resp->n_versions; i++)
      if (resp->versions[i]->status == SHIMKIT__ML__V1__VERSION_STATUS__VERSION_STATUS_READY &&
          resp->versions[i]->version > *version)
        *version = resp->versions[i]->version;
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (!token[0]) break;
  }
  if (*version == 0) return me_fail(err, SHIMKIT_NOT_FOUND, "model %.200s has no READY version", name);
  return 0;
}

/* Receives every chunk into f, hashing; -1 with err when the stream or the file fails. */
static int me_receive(me_service *svc, shimkit_client_call *call, FILE *f, shim_sha256 *md, me_fetched *out,
                      me_err *err) {
  Shimkit__Ml__V1__ArtifactChunk *chunk = NULL;
  uint64_t at = 0;
  int r;
  while ((r = shimkit__ml__v1__model_repository__shimkit_download_artifact_recv(call, &chunk)) == 1) {
    if (chunk->version && !out->mv) {
      out->mv = chunk->version;
      chunk->version = NULL; /* kept: the rest of the chunk is freed */
      if (out->mv->size_bytes > ME_MAX_ARTIFACT_BYTES) {
        protobuf_c_message_free_unpacked(&chunk->base, NULL);
        return me_fail(err, SHIMKIT_FAILED_PRECONDITION,
                       "the artifact is %llu bytes, more than the %llu this server loads",
                       (unsigned long long)out->mv->size_bytes, (unsigned long long)ME_MAX_ARTIFACT_BYTES);
      }
    }
    int bad = !out->mv || chunk->offset != at || at + chunk->data.len > ME_MAX_ARTIFACT_BYTES;
    if (!bad && chunk->data.len) {
      bad = fwrite(chunk->data.data, 1, chunk->data.len, f) != chunk->data.len;
      if (bad) {
        protobuf_c_message_free_unpacked(&chunk->base, NULL);
        return me_fail(err, SHIMKIT_INTERNAL, "cannot write the artifact to %s: %s", out->path,
                       strerror(errno));
      }
      if (shim_sha256_update(md, chunk->data.data, chunk->data.len) != 0) {
        protobuf_c_message_free_unpacked(&chunk->base, NULL);
        return me_fail(err, SHIMKIT_INTERNAL, "sha256 of the artifact failed (OpenSSL)");
      }
      at += chunk->data.len;
    }
    protobuf_c_message_free_unpacked(&chunk->base, NULL);
    if (bad)
      return me_fail(err, SHIMKIT_DATA_LOSS,
                     "the repository sent the artifact out of order or oversized at byte %llu",
                     (unsigned long long)at);
  }
  (void)svc;
  return r == 0 ? 0 : -2; /* -2: the call failed, finish says why */
}

int me_fetch(me_service *svc, const char *name, uint64_t version, const char *alias, me_fetched *out,
             me_err *err) {
  memset(out, 0, sizeof *out);
  if (!alias && version == 0 && me_latest_ready(svc, name, &version, err) != 0) return -1;
  Shimkit__Ml__V1__VersionRef ref = SHIMKIT__ML__V1__VERSION_REF__INIT;
  ref.model_name = (char *)name;
  if (alias) {
    ref.selector_case = SHIMKIT__ML__V1__VERSION_REF__SELECTOR_ALIAS;
    ref.alias = (char *)alias;
  } else {
    ref.selector_case = SHIMKIT__ML__V1__VERSION_REF__SELECTOR_VERSION;
    ref.version = version;
  }
  Shimkit__Ml__V1__DownloadArtifactRequest req = SHIMKIT__ML__V1__DOWNLOAD_ARTIFACT_REQUEST__INIT;
  req.ref = &ref;

  snprintf(out->path, sizeof out->path, "%s/shimkit-model-XXXXXX", svc->tmp_dir);
  int fd = mkstemp(out->path);
  if (fd < 0)
    return me_fail(err, SHIMKIT_INTERNAL, "cannot create a temporary file in %s: %s", svc->tmp_dir,
                   strerror(errno));
  FILE *f = fdopen(fd, "wb");
  shim_sha256 *md = shim_sha256_new();
  shimkit_status st = {0};
  shimkit_call_options opts = {.timeout_ms = 10 * ME_REPO_TIMEOUT_MS, .status_out = &st};
  shimkit_client_call *call = NULL;
  int rc = -1;
  if (!f || !md) {
    me_fail(err, SHIMKIT_INTERNAL, "cannot start the download (out of memory or OpenSSL)");
    if (!f) close(fd);
    goto done;
  }
  call = shimkit__ml__v1__model_repository__shimkit_download_artifact_start(svc->repo, &req, &opts);
  if (!call) {
    me_fail(err, SHIMKIT_INTERNAL, "out of memory starting ModelRepository.DownloadArtifact");
    goto done;
  }
  int r = me_receive(svc, call, f, md, out, err);
  if (r == -1) shimkit_client_call_cancel(call);
  shimkit_code code = shimkit_client_call_finish(call);
  if (r == -1) goto done;
  if (code != SHIMKIT_OK) {
    if (code == SHIMKIT_NOT_FOUND && alias)
      me_fail(err, code, "model %.200s alias %.200s: %.300s", name, alias,
              st.message ? st.message : "not found");
    else if (code == SHIMKIT_NOT_FOUND)
      me_fail(err, code, "model %.200s version %llu: %.300s", name, (unsigned long long)version,
              st.message ? st.message : "not found");
    else
      me_fetch_fail(svc, "DownloadArtifact", code, &st, err);
    goto done;
  }
  if (!out->mv) {
    me_fail(err, SHIMKIT_DATA_LOSS, "the repository sent no version metadata with the artifact");
    goto done;
  }
  if (fflush(f) != 0) {
    me_fail(err, SHIMKIT_INTERNAL, "cannot write the artifact to %s: %s", out->path, strerror(errno));
    goto done;
  }
  char hex[SHIM_SHA256_HEX_LEN + 1] = "";
  if (shim_sha256_hex(md, hex) != 0) {
    me_fail(err, SHIMKIT_INTERNAL, "sha256 of the artifact failed (OpenSSL)");
    goto done;
  }
  if (strcmp(hex, out->mv->sha256) != 0) {
    me_fail(err, SHIMKIT_DATA_LOSS,
            "model %.200s version %llu: the artifact's sha256 is %s, the repository recorded %.64s", name,
            (unsigned long long)out->mv->version, hex, out->mv->sha256);
    goto done;
  }
  rc = 0;
done:
  shimkit_status_clear(&st);
  shim_sha256_free(md);
  if (f) fclose(f);
  if (rc != 0) {
    unlink(out->path);
    if (out->mv) protobuf_c_message_free_unpacked(&out->mv->base, NULL);
    out->mv = NULL;
  }
  return rc;
}
