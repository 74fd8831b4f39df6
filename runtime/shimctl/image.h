/*
 * image.h - one OCI image per service implementation, built by the local
 * Docker Engine with no registry and no base image (FROM scratch), in three
 * layers so that what images share is stored once:
 *
 *   layer 1  shared runtime   the closure of libshimkit (gRPC core, absl,
 *                             protobuf-c, OpenSSL, libc, the loader...),
 *                             /etc/passwd and /etc/group, a writable /tmp
 *   layer 2  native service   the libraries only this program needs on top
 *                             (liblinear, libsqlite3, libpq...), /data
 *   layer 3  shim program     /usr/bin/<shim> and /etc/shimkit/shim.conf,
 *                             the implementation's options (--backend...)
 *
 * Libraries come from ldd(1) of the built program; copies are stripped.
 * docs/images.md has the layout, the measured sizes and how to run one.
 */
#ifndef SHIMCTL_IMAGE_H
#define SHIMCTL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The tag shimctl builds and runs: $SHIMCTL_IMAGE_TAG when set, else "dev". */
const char *shimctl_image_tag(void);

/* Port the image's default command listens on and EXPOSEs. */
#define SHIMCTL_IMAGE_PORT 50051

/*
 * The image reference of an implementation: "shimkit/<service>-<impl>:<tag>"
 * into buf. 0, or -1 when a name is not usable in a reference (lower-case
 * letters, digits, '_', '-', '.'; tag up to 128 of [A-Za-z0-9_.-]) or buf is
 * too small.
 */
int shimctl_image_ref(const char *service, const char *impl, const char *tag, char *buf, size_t len);

/*
 * The shim options (config file lines "option = value") an implementation's
 * image carries in layer 3, or NULL when shimctl knows no image for that
 * service and implementation. Static storage.
 */
const char *shimctl_image_config(const char *service, const char *impl);

/*
 * Builds shimkit/<service>-<impl>:<tag> from program_path (the built shim
 * program, dynamically linked against libshimkit): writes a build context
 * in a fresh directory under $TMPDIR (kept, and its path printed, when the
 * environment has SHIMCTL_KEEP_CONTEXT=1), runs `docker build`, removes the
 * context. verbose copies docker's output to stdout; otherwise it is shown
 * only on failure. Progress lines go to stdout. Returns 0, or -1 with the
 * reason in err.
 */
int shimctl_image_build(const char *service, const char *impl, const char *program_path, const char *tag,
                        bool verbose, char *err, size_t errlen);

/* Sizes of a built image, from docker image inspect and docker history. */
typedef struct shimctl_image_info {
  long long size;          /* whole image, bytes (docker image inspect .Size) */
  long long layer_size[3]; /* the three COPY layers in build order, bytes */
  int layers;              /* COPY layers found (3 for an image built here) */
} shimctl_image_info;

/* Fills info for image (a reference). 0, or -1 with a reason in err. */
int shimctl_image_inspect(const char *image, shimctl_image_info *info, char *err, size_t errlen);

/*
 * Prints the image's size and its three layers (name, size, what docker
 * history says created it) to out. 0, or -1 with a reason in err.
 */
int shimctl_image_layers(const char *image, FILE *out, char *err, size_t errlen);

#endif /* SHIMCTL_IMAGE_H */
