/* pb_schema: protobuf schemas - files, messages, fields, enums, services - loaded from .proto
 * text (pb_proto.c, our own parser), FileDescriptorSet/FileDescriptorProto bytes (pb_desc.c, our
 * own wire code; also what gRPC reflection returns) and the built-ins (pb_builtin.c). Lookup by
 * full type name and by gRPC method path. Limits (pb_schema_limits): total bytes, files, symbols,
 * import depth, one source's size. Everything lives in one arena freed by pb_schemas_del. */
#ifndef PB_SCHEMA_H
#define PB_SCHEMA_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"

/* Field types and labels numbered as in google/protobuf/descriptor.proto. */
enum pb_ftype {
    PB_T_DOUBLE = 1, PB_T_FLOAT, PB_T_INT64, PB_T_UINT64, PB_T_INT32, PB_T_FIXED64, PB_T_FIXED32,
    PB_T_BOOL, PB_T_STRING, PB_T_GROUP, PB_T_MESSAGE, PB_T_BYTES, PB_T_UINT32, PB_T_ENUM,
    PB_T_SFIXED32, PB_T_SFIXED64, PB_T_SINT32, PB_T_SINT64,
};
enum pb_label { PB_L_OPTIONAL = 1, PB_L_REQUIRED = 2, PB_L_REPEATED = 3 };

struct pb_msgdef;
struct pb_enumdef;
struct pb_filedef;

typedef struct pb_fdef {
    const char *name;
    const char *json_name;    /* lowerCamelCase, or the json_name option */
    uint32_t number;
    int type;                 /* enum pb_ftype; 0 while a parsed name is unresolved */
    int label;                /* enum pb_label */
    const char *type_name;    /* message/enum: fully qualified with a leading '.' once resolved */
    const char *extendee;     /* extensions: fully qualified extended message */
    const char *full_name;    /* extensions: scope.name (no dot); NULL for ordinary fields */
    const char *default_value;/* proto2 default as written (not normalised), or NULL */
    int oneof_index;          /* -1 when not in a oneof */
    int proto3_optional;
    int packed;               /* the packed option: -1 not set, 0, 1 */
    const struct pb_msgdef *msg;   /* resolved message/group type, or NULL */
    const struct pb_enumdef *en;   /* resolved enum type, or NULL */
    const struct pb_filedef *file;
    uint32_t line, col;       /* where the type name was written (parser only; 0 otherwise) */
    const char *scope;        /* parser: the scope for relative type names (full name) */
} pb_fdef;

typedef struct pb_enumval {
    const char *name;
    int32_t number;
} pb_enumval;

typedef struct pb_range {
    int32_t start, end;       /* end exclusive, as in descriptor.proto */
} pb_range;

typedef struct pb_enumdef {
    const char *name;         /* short */
    const char *full_name;    /* package.Outer.Name, no leading dot */
    pb_enumval *vals; size_t n_vals;
    pb_range *reserved; size_t n_reserved;   /* end inclusive for enums (descriptor.proto) */
    const char **reserved_names; size_t n_reserved_names;
    const struct pb_filedef *file;
} pb_enumdef;

typedef struct pb_msgdef {
    const char *name;
    const char *full_name;
    pb_fdef *fields; size_t n_fields;        /* declaration order */
    const char **oneofs; size_t n_oneofs;    /* names; synthetic "_x" oneofs last */
    struct pb_msgdef **nested; size_t n_nested;
    pb_enumdef **enums; size_t n_enums;
    pb_fdef *extensions; size_t n_extensions; /* extend blocks inside this message */
    pb_range *ext_ranges; size_t n_ext_ranges;
    pb_range *reserved; size_t n_reserved;
    const char **reserved_names; size_t n_reserved_names;
    int map_entry;
    const struct pb_filedef *file;
} pb_msgdef;

typedef struct pb_methoddef {
    const char *name;
    const char *input_type, *output_type;    /* fully qualified, leading dot, once resolved */
    int client_streaming, server_streaming;
    const pb_msgdef *in, *out;
    uint32_t line, col;
} pb_methoddef;

typedef struct pb_servicedef {
    const char *name;
    const char *full_name;
    pb_methoddef *methods; size_t n_methods;
    const struct pb_filedef *file;
} pb_servicedef;

typedef struct pb_filedef {
    const char *name;         /* as imported: "google/protobuf/timestamp.proto" */
    const char *package;      /* "" when none */
    int syntax;               /* 2 or 3 */
    const char **deps; size_t n_deps;
    int32_t *public_deps; size_t n_public_deps;  /* indexes into deps */
    pb_msgdef **messages; size_t n_messages;
    pb_enumdef **enums; size_t n_enums;
    pb_servicedef **services; size_t n_services;
    pb_fdef *extensions; size_t n_extensions;
    int builtin;              /* a built-in: anything loaded later overrides its symbols */
    int learned;              /* from reflection in the capture */
} pb_filedef;

typedef struct pb_schema_limits {
    size_t max_bytes;         /* arena bytes for everything (default 64 MiB) */
    size_t max_files;         /* default 4096 */
    size_t max_symbols;       /* messages + enums + services + packages (default 262144) */
    size_t max_source;        /* one .proto file or descriptor set (default 16 MiB) */
    int max_import_depth;     /* default 64 */
    int max_nesting;          /* nested message/enum declarations (default 64) */
} pb_schema_limits;
void pb_schema_limits_default(pb_schema_limits *l);

typedef struct pb_schemas pb_schemas;

/* lim may be NULL. Returns 0 or GW_ENOMEM. */
int pb_schemas_new(pb_schemas **out, const pb_schema_limits *lim);
void pb_schemas_del(pb_schemas *s);

/* Load the built-ins (WKT, google.rpc.Status, helloworld). Returns 0, GW_ENOMEM, GW_ECAP. */
int pb_schemas_add_builtin(pb_schemas *s);

/* Parse a .proto file from disk, with its imports searched in dirs (then the directory of path,
 * then the built-ins). Returns 0, or GW_EPARSE / GW_ENOTFOUND / GW_EIO / GW_ECAP / GW_ENOMEM with
 * "file:line:column: message" in err. On failure nothing of that file is kept, but imports that
 * loaded stay. */
int pb_schemas_load_proto(pb_schemas *s, const char *path, const char *const *dirs, size_t n_dirs,
                          char *err, size_t errlen);
/* Parse .proto text given in memory under the import name `name`; imports come from dirs, then
 * the built-ins. Same returns. */
int pb_schemas_parse_proto(pb_schemas *s, const char *name, const char *text, size_t len,
                           const char *const *dirs, size_t n_dirs, char *err, size_t errlen);

/* A FileDescriptorSet (protoc -o / --descriptor_set_out, with or without --include_imports).
 * Files already loaded under the same name are skipped. Returns 0, GW_EPARSE, GW_ECAP,
 * GW_ENOMEM (err says which file and why). */
int pb_schemas_load_descset(pb_schemas *s, const uint8_t *p, size_t n, char *err, size_t errlen);
int pb_schemas_load_protoset_file(pb_schemas *s, const char *path, char *err, size_t errlen);
/* One FileDescriptorProto (reflection). learned marks it as from the capture. */
int pb_schemas_add_fdproto(pb_schemas *s, const uint8_t *p, size_t n, int learned, char *err,
                           size_t errlen);
/* A grpc.reflection.v1(alpha).ServerReflectionResponse: loads every file_descriptor_proto in its
 * file_descriptor_response. Returns the number of files newly loaded (>= 0) or a GW_E* error. */
int pb_schemas_learn_reflection(pb_schemas *s, const uint8_t *p, size_t n);
/* 1 when path is a reflection method (v1 or v1alpha ServerReflectionInfo). */
int pb_is_reflection_method(const char *path);

/* Lookups; names with or without a leading dot. NULL when unknown. */
const pb_msgdef *pb_schemas_find_message(const pb_schemas *s, const char *full_name);
const pb_enumdef *pb_schemas_find_enum(const pb_schemas *s, const char *full_name);
const pb_servicedef *pb_schemas_find_service(const pb_schemas *s, const char *full_name);
const pb_filedef *pb_schemas_find_file(const pb_schemas *s, const char *name);
/* "/pkg.Service/Method" -> its method, or NULL. */
const pb_methoddef *pb_schemas_find_method(const pb_schemas *s, const char *path);
/* The same through a small per-thread cache, for callers that look up every call's method: a
 * cached answer is used only while s and its generation are unchanged. Safe from several
 * threads reading the same s (each thread has its own cache), not while s changes. */
const pb_methoddef *pb_schemas_find_method_cached(const pb_schemas *s, const char *path);
/* A number that changes with every change to s (files registered, options set), unique across
 * all pb_schemas objects of the process: caches of lookups key on (s, generation). */
uint64_t pb_schemas_generation(const pb_schemas *s);
/* An extension of message `extendee` (full name, no dot) with that number, or NULL. */
const pb_fdef *pb_schemas_find_extension(const pb_schemas *s, const char *extendee, uint32_t number);
/* A field of m by number (extensions not included), or NULL. */
const pb_fdef *pb_msg_field(const pb_msgdef *m, uint32_t number);
/* The name of an enum value, or NULL (the first, when aliased). */
const char *pb_enum_value_name(const pb_enumdef *e, int32_t number);

/* Files in load order. */
size_t pb_schemas_n_files(const pb_schemas *s);
const pb_filedef *pb_schemas_file(const pb_schemas *s, size_t i);
/* Every service, for method guessing: i-th service in load order. */
size_t pb_schemas_n_services(const pb_schemas *s);
const pb_servicedef *pb_schemas_service(const pb_schemas *s, size_t i);

/* Options for the views, carried on the schemas so view_opts needs no new fields. */
void pb_schemas_set_guess(pb_schemas *s, int on);
int pb_schemas_guess(const pb_schemas *s);

/* A canonical text dump of one file (for tests: our parser vs protoc's descriptor set). Fields in
 * declaration order; defaults are not dumped (protoc normalises them). */
int pb_schema_dump_file(gw_buf *out, const pb_filedef *f);

/* ---- internal to src/pb (pb_proto.c, pb_desc.c, pb_builtin.c) ----------------------------- */
typedef struct pb_arena pb_arena;
void *pb_arena_alloc(pb_schemas *s, size_t n);           /* zeroed; NULL on cap/OOM */
char *pb_arena_strndup(pb_schemas *s, const char *p, size_t n);
/* Grow an arena array by one element (copying when full); returns the new slot or NULL. */
void *pb_arena_push(pb_schemas *s, void **arr, size_t *n, size_t elsz);
const pb_schema_limits *pb_schemas_limits(const pb_schemas *s);
/* Register a finished file: symbols, then link every unresolved reference it can. Returns 0,
 * GW_ECAP, GW_ENOMEM. */
int pb_schemas_register(pb_schemas *s, pb_filedef *f);
/* Builtin .proto text by import name, or NULL. */
const char *pb_builtin_source(const char *name);
/* Load a built-in (and its imports) by import name through the parser. */
int pb_schemas_builtin_parse(pb_schemas *s, const char *name, char *err, size_t errlen);
/* For the parser's name resolution: the symbol kind of a full name (no dot): 0 none, 1 package,
 * 2 message, 3 enum, 4 service. */
int pb_schemas_symbol_kind(const pb_schemas *s, const char *full_name, size_t len);
/* Compute json_name from a field name (protoc's ToJsonName). */
char *pb_json_name(pb_schemas *s, const char *name);

#endif
