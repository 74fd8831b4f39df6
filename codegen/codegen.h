/*
 * codegen.h - what the parts of protoc-gen-shimkit share.
 *
 * The plugin turns one CodeGeneratorRequest (untrusted bytes from stdin)
 * into one CodeGeneratorResponse. Everything it allocates while doing so
 * comes from one arena with a hard limit, and every error unwinds with
 * longjmp to sk_run(), which frees the arena: no path can leak, and no code
 * below sk_run() needs cleanup branches.
 */
#ifndef SHIMKIT_CODEGEN_H
#define SHIMKIT_CODEGEN_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

#define SK_GENERATOR_VERSION "0.1.0"
#define SK_ABI_VERSION 1

/* Hard limits on what the plugin accepts and produces. */
#define SK_MAX_INPUT_BYTES (64u * 1024u * 1024u)   /* CodeGeneratorRequest */
#define SK_MAX_ARENA_BYTES (512u * 1024u * 1024u)  /* all working memory */
#define SK_MAX_NAME_LEN 4096u                      /* any name or path */
#define SK_MAX_DEPTH 64u                           /* nesting of messages / imports */

typedef Google__Protobuf__FileDescriptorProto sk_file;
typedef Google__Protobuf__DescriptorProto sk_message;
typedef Google__Protobuf__ServiceDescriptorProto sk_service;
typedef Google__Protobuf__MethodDescriptorProto sk_method;

/* ---- arena and errors (arena.c) ------------------------------------------ */

typedef struct sk_chunk sk_chunk;

/** State of one run of the generator. */
typedef struct sk_ctx {
  jmp_buf fail;            /* sk_fail() jumps here */
  char error[1024];        /* message for CodeGeneratorResponse.error */
  sk_chunk *chunks;        /* arena blocks, freed by sk_ctx_release() */
  size_t used;             /* bytes taken from malloc so far */
  size_t limit;            /* hard maximum of used */
} sk_ctx;

void sk_ctx_init(sk_ctx *ctx);
void sk_ctx_release(sk_ctx *ctx);
/** Records a message and unwinds to sk_run(); never returns. */
_Noreturn void sk_fail(sk_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void *sk_alloc(sk_ctx *ctx, size_t size);          /* zeroed; fails the run on OOM */
char *sk_strdup(sk_ctx *ctx, const char *s);
char *sk_strndup(sk_ctx *ctx, const char *s, size_t n);
char *sk_printf(sk_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- printer (printer.c) --------------------------------------------------- */

#define SK_MAX_VARS 32

/** Named values for $name$ substitution. */
typedef struct sk_vars {
  size_t n;                       /* pairs in use */
  const char *key[SK_MAX_VARS];   /* variable names */
  const char *value[SK_MAX_VARS]; /* their text */
} sk_vars;

/** An output file being written. */
typedef struct sk_printer {
  sk_ctx *ctx;   /* arena and error handling */
  char *buf;     /* text so far (NUL-terminated) */
  size_t len;    /* bytes in buf */
  size_t cap;    /* size of buf */
} sk_printer;

void sk_vars_set(sk_ctx *ctx, sk_vars *vars, const char *key, const char *value);
void sk_printer_init(sk_printer *p, sk_ctx *ctx);
/** Appends tmpl with each $name$ replaced by its value in vars ($$ = $). */
void sk_print(sk_printer *p, const sk_vars *vars, const char *tmpl);
void sk_write(sk_printer *p, const char *text, size_t len);

/* ---- names (names.c) ------------------------------------------------------- */

/** protoc-c's CamelToLower / CamelToUpper / ToCamel of one name segment. */
char *sk_camel_to_lower(sk_ctx *ctx, const char *name);
char *sk_camel_to_upper(sk_ctx *ctx, const char *name);
char *sk_to_camel(sk_ctx *ctx, const char *name);
/** protoc-c's FullNameToC / ToLower / ToUpper, honouring (pb_c_file).c_package. */
char *sk_full_name_to_c(sk_ctx *ctx, const char *full_name, const sk_file *file);
char *sk_full_name_to_lower(sk_ctx *ctx, const char *full_name, const sk_file *file);
char *sk_full_name_to_upper(sk_ctx *ctx, const char *full_name, const sk_file *file);
/** True for C11 and C++ keywords and names the standard headers define as macros. */
bool sk_is_reserved(const char *name);
/**
 * The C name of a method, used for its handler member and in its function
 * names: snake_case, plus a trailing _ when it is a C/C++ keyword, a
 * standard macro, or a name shimkit uses itself (register, service, methods).
 */
char *sk_member_name(sk_ctx *ctx, const char *method_name);
/** "a/b.proto" -> "a/b". */
char *sk_strip_proto(sk_ctx *ctx, const char *filename);
/** A C string literal (with quotes) for any bytes. */
char *sk_c_literal(sk_ctx *ctx, const char *s);
/** s made safe inside a C comment. */
char *sk_comment_text(sk_ctx *ctx, const char *s);
/** An identifier made of s: alnum kept, other bytes as _XX. */
char *sk_identifier_of(sk_ctx *ctx, const char *s);
/** Fails the run unless name is a proto identifier ([A-Za-z_][A-Za-z0-9_]*). */
void sk_check_ident(sk_ctx *ctx, const char *what, const char *name);
/** Fails the run unless name is dot-separated identifiers (leading dot allowed). */
void sk_check_dotted(sk_ctx *ctx, const char *what, const char *name);

/* ---- the request as a whole (plugin.c) ------------------------------------- */

/** A message type known to the request, by full name (no leading dot). */
typedef struct sk_type {
  const char *full_name;   /* "pkg.Outer.Inner" */
  const sk_file *file;     /* file declaring it */
} sk_type;

typedef struct sk_request {
  const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
  sk_type *types;          /* every message of every proto_file, sorted by name */
  size_t n_types;
} sk_request;

const sk_file *sk_find_file(const sk_request *r, const char *name);
/** The message ".pkg.Msg" (leading dot optional), or fails the run. */
const sk_type *sk_find_type(sk_ctx *ctx, const sk_request *r, const char *name);

/* ---- descriptor blobs (descriptor_blob.c) ---------------------------------- */

/**
 * Emits static byte arrays and `static const shimkit_file_blob <array_name>[]`
 * for file and its transitive dependencies (dependencies first, each once,
 * file last). Returns the number of entries.
 */
size_t sk_emit_blobs(sk_ctx *ctx, sk_printer *c, const sk_request *r, const sk_file *file,
                     const char *array_name);

/* ---- services and clients (service_gen.c, client_gen.c) -------------------- */

/** What both generators need to know about one method. */
typedef struct sk_method_info {
  const sk_method *m;       /* the descriptor */
  const char *name;         /* "Say" */
  const char *path;         /* "/pkg.Svc/Say" */
  const char *member;       /* "say" (escaped when reserved) */
  const char *snake;        /* same as member: used in function names */
  const char *upper;        /* "SAY" */
  const char *kind;         /* "SHIMKIT_METHOD_UNARY" ... */
  bool client_streaming;    /* stream request */
  bool server_streaming;    /* stream response */
  const char *in_type;      /* Pkg__EchoRequest */
  const char *out_type;     /* Pkg__EchoReply */
  const char *in_desc;      /* pkg__echo_request__descriptor */
  const char *out_desc;     /* pkg__echo_reply__descriptor */
  size_t index;             /* position in the table sorted by path */
} sk_method_info;

typedef struct sk_service_info {
  const sk_service *s;
  const char *full_name;    /* "pkg.Svc" */
  const char *type_prefix;  /* "Pkg__Svc" */
  const char *lower;        /* "pkg__svc" */
  const char *upper;        /* "PKG__SVC" */
  size_t n_methods;
  sk_method_info *methods;  /* declaration order */
  sk_method_info **sorted;  /* by path */
} sk_service_info;

/** Registers a file-scope identifier the file generates; duplicates fail the run. */
typedef struct sk_names {
  size_t n, cap;
  const char **name;
} sk_names;
void sk_names_add(sk_ctx *ctx, sk_names *names, const char *name);
void sk_names_check(sk_ctx *ctx, sk_names *names, const char *file_name);

void sk_service_info_build(sk_ctx *ctx, const sk_request *r, const sk_file *file,
                           const sk_service *s, sk_service_info *out);
void sk_service_gen_header(sk_ctx *ctx, sk_printer *h, const sk_service_info *svc, sk_names *names);
void sk_service_gen_source(sk_ctx *ctx, sk_printer *c, const sk_service_info *svc,
                           const char *blobs_name, size_t n_blobs, const char *file_name);
void sk_client_gen_header(sk_ctx *ctx, sk_printer *h, const sk_service_info *svc, sk_names *names);
void sk_client_gen_source(sk_ctx *ctx, sk_printer *c, const sk_service_info *svc);

/* ---- one file (file_gen.c) --------------------------------------------------- */

/** Generates <base>.shimkit.h and <base>.shimkit.c for one file to generate. */
void sk_file_gen(sk_ctx *ctx, const sk_request *r, const sk_file *file, sk_printer *h,
                 sk_printer *c);

/* ---- entry point (plugin.c) ---------------------------------------------------- */

/**
 * Runs the generator on a serialized CodeGeneratorRequest. Returns 0 and sets
 * *out (malloc'd, caller frees) to a serialized CodeGeneratorResponse, which
 * carries .error for problems in the request's content; returns -1 and writes
 * a message to err when the input is not a CodeGeneratorRequest at all or
 * memory runs out.
 */
int sk_run(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len, char *err,
           size_t err_size);

#endif /* SHIMKIT_CODEGEN_H */
