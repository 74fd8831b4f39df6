/*
 * shim_path.h - mkdir -p for the back ends that keep files (the feature
 * store's SQLite database, the model repository's data directory), so that
 * a path such as data/features.db works in a fresh folder, as a stack file
 * would write it, instead of failing because data/ is not there yet.
 */
#ifndef SHIMKIT_SHIM_PATH_H
#define SHIMKIT_SHIM_PATH_H

/*
 * Creates dir and every missing parent with mode 0755 (less the umask), as
 * mkdir -p does; directories already there are fine. 0, or -1 with errno
 * set (ENOTDIR when a part is a file, ENAMETOOLONG past 4095 bytes, ...).
 */
int shim_mkdir_p(const char *dir);

/*
 * Creates the folders a file at path needs (its parent, with shim_mkdir_p);
 * nothing for a path without '/'. 0, or -1 with errno set.
 */
int shim_mkdir_parent(const char *path);

#endif /* SHIMKIT_SHIM_PATH_H */
