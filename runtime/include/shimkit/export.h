/*
 * shimkit/export.h - symbol visibility and the runtime ABI version.
 *
 * libshimkit is built with hidden visibility; only what is marked
 * SHIMKIT_API is exported. Generated code checks SHIMKIT_ABI_VERSION at
 * compile time so stubs from an older generator fail loudly, not at run time.
 */
#ifndef SHIMKIT_EXPORT_H
#define SHIMKIT_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SHIMKIT_API __attribute__((visibility("default")))
#else
#define SHIMKIT_API
#endif

/** Version of the contract between generated code and the runtime. */
#define SHIMKIT_ABI_VERSION 1

/** Version of the toolkit, as a string. */
#define SHIMKIT_VERSION_STRING "0.1.0"

#endif /* SHIMKIT_EXPORT_H */
