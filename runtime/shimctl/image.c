/*
 * image.c - shimctl build: a three-layer image FROM scratch per service
 * implementation (see image.h for the layers).
 *
 * The split is computed, not listed: layer 1 is libshimkit plus ldd's closure
 * of libshimkit itself (so it is byte-identical in every shim image and Docker
 * stores it once), layer 2 is the rest of the program's closure. Every
 * library is copied to the directory libc lives in, under its soname (the
 * name the loader looks for), with the content of the file the soname link
 * points to; the loader goes to its PT_INTERP path. No ld.so.cache is needed:
 * the loader's built-in search path covers that directory.
 */
#define _XOPEN_SOURCE 700
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_ldd.h"
#include "runcmd.h"

/* ------------------------------------------------------------ profiles */

/* What an implementation's image carries in layer 3 besides the program. */
typedef struct image_profile {
  const char *service;
  const char *impl;
  const char *config; /* the shim's --config file: "option = value" lines */
} image_profile;

/* Paths are inside the container: /data is the image's data directory,
 * /tmp its scratch directory (see docs/images.md). Redis and PostgreSQL
 * addresses are deployment facts, given at run time (--redis, --postgres-dsn). */
static const image_profile profiles[] = {
    {"echo", "builtin", "# echo_shim: no options beyond the command line\n"},
    {"model_repository", "fs", "backend = fs\ndata-dir = /data/model-repository\n"},
    {"model_repository", "postgres", "backend = postgres\n"},
    {"feature_store", "sqlite", "backend = sqlite\ndb = /data/feature_store.db\n"},
    {"feature_store", "redis", "backend = redis\n"},
    {"training", "liblinear", "backend = liblinear\ntmp-dir = /tmp\n"},
    {"training", "libsvm", "backend = libsvm\ntmp-dir = /tmp\n"},
    {"training", "xgboost", "backend = xgboost\ntmp-dir = /tmp\n"},
    {"model_execution", "oip", "tmp-dir = /tmp\n"},
    /* The router: its sets come from --state or through RouterAdmin. */
    {"router", "shimkit", "# shimkit_router: sets from --state FILE or RouterAdmin\n"},
};

const char *shimctl_image_config(const char *service, const char *impl) {
  for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
    if (strcmp(profiles[i].service, service) == 0 && strcmp(profiles[i].impl, impl) == 0) return profiles[i].config;
  return NULL;
}

/* ------------------------------------------------------------ names */

const char *shimctl_image_tag(void) {
  const char *t = getenv("SHIMCTL_IMAGE_TAG");
  return t && *t ? t : "dev";
}

static int name_ok(const char *s, const char *allowed, size_t max) {
  size_t n = strlen(s);
  return n > 0 && n <= max && strspn(s, allowed) == n && s[0] != '.' && s[0] != '-';
}

int shimctl_image_ref(const char *service, const char *impl, const char *tag, char *buf, size_t len) {
  static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789_-.";
  static const char tagchars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
  if (!name_ok(service, lower, 100) || !name_ok(impl, lower, 100) || !name_ok(tag, tagchars, 128)) return -1;
  int n = snprintf(buf, len, "shimkit/%s-%s:%s", service, impl, tag);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ------------------------------------------------------------ files */

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
  return chmod(tmp, mode); /* umask must not narrow /tmp's 1777 */
}

/* Copies src (following symlinks) to dst with the given mode. */
static int copy_file(const char *src, const char *dst, mode_t mode, char *err, size_t errlen) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno));
    return -1;
  }
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    snprintf(err, errlen, "cannot write %s: %s", dst, strerror(errno));
    close(in);
    return -1;
  }
  char buf[65536];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "reading %s: %s", src, strerror(errno));
      rc = -1;
      break;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        snprintf(err, errlen, "writing %s: %s", dst, strerror(errno));
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && rc == 0) {
    snprintf(err, errlen, "writing %s: %s", dst, strerror(errno));
    rc = -1;
  }
  if (rc == 0) chmod(dst, mode);
  return rc;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  fputs(text, f);
  if (fclose(f) != 0) {
    snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
    return -1;
  }
  chmod(path, 0644);
  return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static long long tree_bytes_acc;
static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  if (flag == FTW_F) tree_bytes_acc += st->st_size;
  return 0;
}

/* Bytes of the regular files under dir (single-threaded use only). */
static long long tree_bytes(const char *dir) {
  tree_bytes_acc = 0;
  nftw(dir, add_size, 16, FTW_PHYS);
  return tree_bytes_acc;
}

/* ------------------------------------------------------------ the context */

/* Build state: the context directory and the library directory inside it. */
typedef struct build_ctx {
  char dir[1024];    /* the context (TMPDIR is refused when longer) */
  char libdir[1024]; /* where libc is, e.g. "/lib/x86_64-linux-gnu" */
  int stripped;          /* files strip made smaller or left alone */
  bool have_strip;
} build_ctx;

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Parent directory of path into out. */
static void dir_name(const char *path, char *out, size_t len) {
  snprintf(out, len, "%s", path);
  char *s = strrchr(out, '/');
  if (s == out) s[1] = '\0';
  else if (s) *s = '\0';
}

/* Strips a copied library or program; a failed strip keeps the file as it was. */
static void strip_copy(build_ctx *b, const char *path) {
  if (!b->have_strip) return;
  const char *argv[] = {"strip", "--strip-unneeded", path, NULL};
  if (shimctl_runcmd_quiet(argv) == 0) b->stripped++;
}

/* Copies library lib into <ctx>/<layer><libdir>/<soname>. */
static int put_lib(build_ctx *b, const char *layer, const shimctl_ldd_lib *lib, char *err, size_t errlen) {
  char dst[PATH_MAX];
  if (snprintf(dst, sizeof dst, "%s/%s%s", b->dir, layer, b->libdir) >= (int)sizeof dst || mkdir_p(dst, 0755) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", dst, strerror(errno));
    return -1;
  }
  size_t n = strlen(dst);
  snprintf(dst + n, sizeof dst - n, "/%s", lib->soname);
  if (copy_file(lib->path, dst, 0755, err, errlen) != 0) return -1;
  strip_copy(b, dst);
  return 0;
}

/* Copies the loader to its own path (PT_INTERP) in layer 1; never stripped. */
static int put_loader(build_ctx *b, const char *loader, char *err, size_t errlen) {
  char dst[PATH_MAX], parent[PATH_MAX];
  snprintf(dst, sizeof dst, "%s/layer1%s", b->dir, loader);
  dir_name(dst, parent, sizeof parent);
  if (mkdir_p(parent, 0755) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", parent, strerror(errno));
    return -1;
  }
  return copy_file(loader, dst, 0755, err, errlen);
}

/* Is soname in the closure cl (or is it libshimkit itself)? */
static bool in_layer1(const shimctl_ldd *cl, const char *soname) {
  for (size_t i = 0; i < cl->n; i++)
    if (strcmp(cl->libs[i].soname, soname) == 0) return true;
  return false;
}

static int sub_dir(build_ctx *b, const char *rel, mode_t mode, char *err, size_t errlen) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", b->dir, rel);
  if (mkdir_p(p, mode) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
    return -1;
  }
  return 0;
}

static int sub_file(build_ctx *b, const char *rel, const char *text, char *err, size_t errlen) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", b->dir, rel);
  return write_text(p, text, err, errlen);
}

/* Writes the Dockerfile: one COPY per layer, in order. */
static int write_dockerfile(build_ctx *b, const char *service, const char *impl, const char *program,
                            char *err, size_t errlen) {
  char text[4096];
  snprintf(text, sizeof text,
           "# Written by shimctl build (runtime/shimctl/image.c); see docs/images.md.\n"
           "FROM scratch\n"
           "# layer 1: shared runtime (libshimkit and its closure, loader, /etc/passwd, /tmp)\n"
           "COPY layer1/ /\n"
           "# layer 2: native service (libraries only %s needs, /data)\n"
           "COPY layer2/ /\n"
           "# layer 3: shim program and its configuration\n"
           "COPY layer3/ /\n"
           "LABEL org.opencontainers.image.title=\"shimkit/%s-%s\" \\\n"
           "      io.shimkit.service=\"%s\" io.shimkit.implementation=\"%s\" io.shimkit.program=\"%s\"\n"
           "ENV TMPDIR=/tmp\n"
           "EXPOSE %d\n"
           "STOPSIGNAL SIGTERM\n"
           "ENTRYPOINT [\"/usr/bin/%s\", \"--config\", \"/etc/shimkit/shim.conf\"]\n"
           "CMD [\"--listen\", \"0.0.0.0:%d\"]\n",
           program, service, impl, service, impl, program, SHIMCTL_IMAGE_PORT, program, SHIMCTL_IMAGE_PORT);
  return sub_file(b, "Dockerfile", text, err, errlen);
}

/* Lays out the three layer folders. */
static int write_context(build_ctx *b, const char *service, const char *impl, const char *program_path,
                         const char *config, bool verbose, char *err, size_t errlen) {
  static shimctl_ldd prog, rt; /* large; shimctl builds one image at a time */
  if (shimctl_ldd_run(program_path, &prog, err, errlen) != 0) return -1;
  int libc = shimctl_ldd_find(&prog, "libc.so.");
  if (libc < 0 || prog.loader[0] == '\0') {
    snprintf(err, errlen, "%s: ldd shows no libc or no loader; is it a glibc program?", program_path);
    return -1;
  }
  dir_name(prog.libs[libc].path, b->libdir, sizeof b->libdir);

  /* Layer 1: libshimkit and its own closure. */
  memset(&rt, 0, sizeof rt);
  int shimkit = shimctl_ldd_find(&prog, "libshimkit.so");
  if (shimkit >= 0) {
    if (shimctl_ldd_run(prog.libs[shimkit].path, &rt, err, errlen) != 0) return -1;
    if (rt.n >= SHIMCTL_LDD_MAX_LIBS) {
      snprintf(err, errlen, "libshimkit's closure is too large");
      return -1;
    }
    rt.libs[rt.n++] = prog.libs[shimkit];
  } else {
    /* Statically linked libshimkit: the runtime is whatever libc's closure is. */
    if (shimctl_ldd_run(prog.libs[libc].path, &rt, err, errlen) != 0) return -1;
    rt.libs[rt.n++] = prog.libs[libc];
  }
  if (put_loader(b, prog.loader, err, errlen) != 0) return -1;
  for (size_t i = 0; i < rt.n; i++)
    if (put_lib(b, "layer1", &rt.libs[i], err, errlen) != 0) return -1;
  /* No name service in the image: root and nobody are enough for getpwuid()
   * (libpq asks for the user's name); /tmp is world-writable and sticky. */
  if (sub_dir(b, "layer1/etc", 0755, err, errlen) != 0 || sub_dir(b, "layer1/tmp", 01777, err, errlen) != 0 ||
      sub_file(b, "layer1/etc/passwd",
               "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n", err,
               errlen) != 0 ||
      sub_file(b, "layer1/etc/group", "root:x:0:\nnogroup:x:65534:\n", err, errlen) != 0)
    return -1;

  /* Layer 2: the program's libraries that are not in layer 1, and /data. */
  char listing[8192] = "";
  size_t ll = 0;
  int n2 = 0;
  for (size_t i = 0; i < prog.n; i++) {
    if (in_layer1(&rt, prog.libs[i].soname)) continue;
    if (put_lib(b, "layer2", &prog.libs[i], err, errlen) != 0) return -1;
    if (ll < sizeof listing) ll += (size_t)snprintf(listing + ll, sizeof listing - ll, "%s\n", prog.libs[i].soname);
    n2++;
  }
  char rel[PATH_MAX];
  snprintf(rel, sizeof rel, "layer2/usr/share/shimkit/%s", service);
  if (sub_dir(b, "layer2/data", 0755, err, errlen) != 0 || sub_dir(b, rel, 0755, err, errlen) != 0) return -1;
  char text[8400];
  snprintf(text, sizeof text, "# native libraries of %s beyond the shared runtime (layer 2)\n%s",
           base_name(program_path), n2 ? listing : "# none\n");
  snprintf(rel, sizeof rel, "layer2/usr/share/shimkit/%s/native-libraries.txt", service);
  if (sub_file(b, rel, text, err, errlen) != 0) return -1;

  /* Layer 3: the program and its configuration. */
  if (sub_dir(b, "layer3/usr/bin", 0755, err, errlen) != 0 || sub_dir(b, "layer3/etc/shimkit", 0755, err, errlen) != 0)
    return -1;
  char dst[PATH_MAX];
  snprintf(dst, sizeof dst, "%s/layer3/usr/bin/%s", b->dir, base_name(program_path));
  if (copy_file(program_path, dst, 0755, err, errlen) != 0) return -1;
  strip_copy(b, dst);
  snprintf(text, sizeof text, "# %s-%s: options of %s in this image (command-line flags win)\n%s", service, impl,
           base_name(program_path), config);
  if (sub_file(b, "layer3/etc/shimkit/shim.conf", text, err, errlen) != 0) return -1;
  if (verbose)
    printf("build: layer 1 %zu libraries + loader, layer 2 %d libraries, layer 3 %s\n", rt.n, n2,
           base_name(program_path));
  return write_dockerfile(b, service, impl, base_name(program_path), err, errlen);
}

/* Last lines of text (for a failed docker build's reason). */
static const char *tail_lines(const char *text, int lines) {
  const char *s = text + strlen(text);
  while (s > text && (s[-1] == '\n' || s[-1] == ' ')) s--;
  while (s > text && lines > 0) {
    s--;
    if (*s == '\n') lines--;
  }
  return s == text ? s : s + 1;
}

int shimctl_image_build(const char *service, const char *impl, const char *program_path, const char *tag,
                        bool verbose, char *err, size_t errlen) {
  char ref[512];
  if (shimctl_image_ref(service, impl, tag, ref, sizeof ref) != 0) {
    snprintf(err, errlen, "'%s', '%s', '%s' do not make an image reference (lower case, digits, _ - .)", service, impl,
             tag);
    return -1;
  }
  const char *config = shimctl_image_config(service, impl);
  if (!config) {
    snprintf(err, errlen, "no image recipe for %s implementation '%s'", service, impl);
    return -1;
  }
  if (access(program_path, X_OK) != 0) {
    snprintf(err, errlen, "program %s: %s (build it first: scripts/build.sh)", program_path, strerror(errno));
    return -1;
  }
  if (!shimctl_runcmd_have(shimctl_runcmd_docker())) {
    snprintf(err, errlen, "%s not found in PATH (scripts/services/docker.sh installs and starts it)",
             shimctl_runcmd_docker());
    return -1;
  }
  if (!shimctl_runcmd_have("ldd")) {
    snprintf(err, errlen, "ldd not found in PATH (Debian package libc-bin)");
    return -1;
  }

  build_ctx b;
  memset(&b, 0, sizeof b);
  b.have_strip = shimctl_runcmd_have("strip");
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 900) tmp = "/tmp";
  snprintf(b.dir, sizeof b.dir, "%s/shimctl-image-XXXXXX", tmp);
  if (!mkdtemp(b.dir)) {
    snprintf(err, errlen, "cannot create a build context under %s: %s", tmp, strerror(errno));
    return -1;
  }
  printf("build: %s from %s\n", ref, program_path);
  fflush(stdout);
  int rc = write_context(&b, service, impl, program_path, config, verbose, err, errlen);
  if (rc == 0) {
    char l[PATH_MAX];
    long long sz[3];
    for (int i = 0; i < 3; i++) {
      snprintf(l, sizeof l, "%s/layer%d", b.dir, i + 1);
      sz[i] = tree_bytes(l);
    }
    printf("build: context %s: layer 1 %.1f MB, layer 2 %.1f MB, layer 3 %.1f MB%s\n", b.dir, sz[0] / 1e6,
           sz[1] / 1e6, sz[2] / 1e6, b.have_strip ? " (stripped copies)" : " (no strip(1): copies not stripped)");
    printf("build: docker build -t %s\n", ref);
    fflush(stdout);
    const char *argv[] = {shimctl_runcmd_docker(), "build", "--force-rm", "-t", ref, b.dir, NULL};
    if (verbose) {
      rc = shimctl_runcmd_stream(argv, NULL, err, errlen);
      if (rc > 0) snprintf(err, errlen, "docker build %s failed (exit %d), output above", ref, rc);
    } else {
      char *out = NULL;
      rc = shimctl_runcmd_capture(argv, 1, &out, err, errlen);
      if (rc > 0)
        snprintf(err, errlen, "docker build %s failed (exit %d):\n%s", ref, rc, out ? tail_lines(out, 8) : "");
      free(out);
    }
    if (rc != 0) rc = -1;
  }
  const char *keep = getenv("SHIMCTL_KEEP_CONTEXT");
  if (keep && strcmp(keep, "1") == 0) {
    printf("build: context kept in %s\n", b.dir);
  } else {
    rm_rf(b.dir);
  }
  return rc;
}

/* ------------------------------------------------------------ inspecting */

int shimctl_image_inspect(const char *image, shimctl_image_info *info, char *err, size_t errlen) {
  memset(info, 0, sizeof *info);
  const char *insp[] = {shimctl_runcmd_docker(), "image", "inspect", "-f", "{{.Size}}", image, NULL};
  char *out = NULL;
  int rc = shimctl_runcmd_capture(insp, 1, &out, err, errlen);
  if (rc != 0) {
    if (rc > 0) snprintf(err, errlen, "docker image inspect %s: %s", image, out ? tail_lines(out, 1) : "failed");
    free(out);
    return -1;
  }
  info->size = strtoll(out, NULL, 10);
  free(out);
  out = NULL;
  const char *hist[] = {shimctl_runcmd_docker(), "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}",
                        image, NULL};
  rc = shimctl_runcmd_capture(hist, 0, &out, err, errlen);
  if (rc != 0) {
    if (rc > 0) snprintf(err, errlen, "docker history %s failed (exit %d)", image, rc);
    free(out);
    return -1;
  }
  /* Newest first: collect the COPY lines, then reverse into build order. */
  long long sizes[64];
  int n = 0;
  for (char *line = out; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    char *tab = strchr(line, '\t');
    if (tab && strstr(tab, "COPY") && n < 64) sizes[n++] = strtoll(line, NULL, 10);
    line = nl ? nl + 1 : NULL;
  }
  free(out);
  info->layers = n;
  for (int i = 0; i < n && i < 3; i++) info->layer_size[i] = sizes[n - 1 - i];
  return 0;
}

int shimctl_image_layers(const char *image, FILE *out, char *err, size_t errlen) {
  shimctl_image_info info;
  if (shimctl_image_inspect(image, &info, err, errlen) != 0) return -1;
  static const char *names[3] = {"shared runtime", "native service", "shim program"};
  fprintf(out, "%s  %.1f MB\n", image, info.size / 1e6);
  for (int i = 0; i < info.layers && i < 3; i++)
    fprintf(out, "  layer %d  %-15s %8.1f MB\n", i + 1, names[i], info.layer_size[i] / 1e6);
  if (info.layers != 3) fprintf(out, "  (%d COPY layers: not an image shimctl built?)\n", info.layers);
  return 0;
}
