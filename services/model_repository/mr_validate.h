/*
 * mr_validate.h - the input rules of the model repository, checked by the
 * shared handlers before any back end sees a request (docs in
 * services/model_repository/README.md).
 *
 * Each check returns NULL when the input is fine, or a sentence saying what is
 * wrong, written into the caller's buffer.
 */
#ifndef MR_VALIDATE_H
#define MR_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MR_NAME_MAX 128          /* model and alias names: [a-z0-9][a-z0-9._-]{0,127} */
#define MR_TEXT_MAX 4096         /* description, tag value */
#define MR_TAGS_MAX 64           /* tags per model or version */
#define MR_TENSORS_MAX 256       /* inputs or outputs per version */
#define MR_DIMS_MAX 16           /* dimensions per tensor */
#define MR_VALIDATE_MSG_MAX 256

/* what: "model name", "alias"; the value is quoted in the message. */
const char *mr_check_name(const char *what, const char *name, char *msg, size_t cap);
/* A sha256 as 64 lower-case hex digits. */
const char *mr_check_sha256(const char *sha, char *msg, size_t cap);
/* Free text of at most MR_TEXT_MAX bytes (description, framework). */
const char *mr_check_text(const char *what, const char *text, size_t max, char *msg, size_t cap);

/* One tag: key 1..MR_NAME_MAX bytes, value up to MR_TEXT_MAX. Callers check the count. */
const char *mr_check_tag(const char *key, const char *value, char *msg, size_t cap);

/* Checks n_tags and every entry of a protoc-c map field (any *__TagsEntry type). */
#define MR_CHECK_TAGS(n, entries, msg, cap, out)                                                \
  do {                                                                                          \
    (out) = NULL;                                                                               \
    if ((n) > MR_TAGS_MAX) {                                                                    \
      snprintf((msg), (cap), "%zu tags are more than the limit of %d", (size_t)(n), MR_TAGS_MAX); \
      (out) = (msg);                                                                            \
    }                                                                                           \
    for (size_t i_ = 0; !(out) && i_ < (n); i_++)                                               \
      (out) = mr_check_tag((entries)[i_]->key, (entries)[i_]->value, (msg), (cap));             \
  } while (0)

#endif /* MR_VALIDATE_H */
