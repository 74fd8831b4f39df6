/*
 * env.c - shimctl_env_find(): the environments compiled into this shimctl.
 * The docker environment (env_docker.c) is compiled in when its file is in
 * the tree (CMake defines SHIMCTL_HAVE_DOCKER); without it, a stack file
 * with environment: docker is refused with a reason, never a crash.
 */
#include <string.h>

#include "env.h"

const shimctl_env *shimctl_env_find(const char *name) {
  if (name == NULL || strcmp(name, "process") == 0) {
    return &shimctl_env_process;
  }
#ifdef SHIMCTL_HAVE_DOCKER
  if (strcmp(name, "docker") == 0) {
    return &shimctl_env_docker;
  }
#endif
  return NULL;
}

const char *shimctl_env_missing(const char *name) {
  if (name != NULL && strcmp(name, "docker") == 0) {
    return "the docker environment is not compiled into this shimctl (env_docker.c is missing)";
  }
  if (name != NULL && strcmp(name, "kubernetes") == 0) {
    return "the kubernetes environment is deployed by shimctl up, scale and down (manifests in <state>/kubernetes, "
           "kubectl apply / delete); status, logs and swap are kubectl's there (docs/environments.md)";
  }
  return "unknown environment (valid: process, docker, kubernetes)";
}
