/*
 * bundle.h - reading a .ferry bundle (docs/bundle-format.md), libc only.
 *
 * The reader never trusts its input: ferry_bundle_open checks the header,
 * the section table, every CRC32, every offset, size, count and index, the
 * subgraph tree and every dim program before it returns, so the views it
 * hands out can be used without further checks. Bytes are borrowed, not
 * copied: strings and tensor data point into the buffers the caller passed
 * (or into sections the host inflated), which must outlive the bundle.
 *
 * Errors come back as a ferry_err whose message does not name the file;
 * callers add it with ferry_err_prefix(err, path).
 *
 *   ferry_bundle *b = ferry_bundle_open(buf, len, &err);
 *   for (int k = 1; k < ferry_bundle_n_shards(b); k++)
 *     ferry_bundle_add_shard(b, k, shard_buf[k], shard_len[k], &err);
 *   const ferry_bgraph *g = ferry_bundle_graph(b, 0);   // the main graph
 *   ...
 *   ferry_bundle_free(b);
 */
#ifndef FERRY_RUNTIME_BUNDLE_H
#define FERRY_RUNTIME_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_base.h"

/* ---- format numbers (docs/bundle-format.md) ---- */

#define FERRY_BUNDLE_MAGIC "\x89" "FRY\r\n\x1a\n"
#define FERRY_BUNDLE_MAJOR 1
#define FERRY_BUNDLE_MINOR 0
#define FERRY_BUNDLE_HEADER_SIZE 64
#define FERRY_BUNDLE_SECTION_ENTRY 40
#define FERRY_BUNDLE_MAX_SECTIONS 64
#define FERRY_BUNDLE_ALIGN 64          /* DATA sections and tensors */
#define FERRY_BUNDLE_MAX_DIM_OPS 256   /* ops per dim program */
#define FERRY_BUNDLE_MAX_DIM_STACK 64  /* stack slots a dim program may use */
#define FERRY_BUNDLE_MAX_TYPE_DEPTH 16 /* nesting of sequence/optional/map */
#define FERRY_BUNDLE_MAX_RANK 64       /* of a tensor in the tensor table */

enum ferry_section_kind {
  FERRY_SEC_METADATA = 1,
  FERRY_SEC_STRINGS = 2,
  FERRY_SEC_GRAPH = 3,
  FERRY_SEC_TENSORS = 4,
  FERRY_SEC_DATA = 5,
};
#define FERRY_SEC_DEFLATE 1u /* section flag bit 0 */

enum ferry_encoding {
  FERRY_ENC_RAW = 0,       /* the dtype's bytes (strings: u32 string indices) */
  FERRY_ENC_F16 = 1,       /* float32 stored as IEEE half */
  FERRY_ENC_AFFINE_I8 = 2, /* float32 as int8, per-tensor/per-axis scale+zp */
  FERRY_ENC_AFFINE_U8 = 3, /* float32 as uint8, likewise */
  FERRY_ENC_Q4_32 = 4,     /* float32, blocks of 32: f16 scale + 16 B nibbles */
  FERRY_ENC_Q8_32 = 5,     /* float32, blocks of 32: f16 scale + 32 int8 */
  FERRY_ENC_COUNT
};

enum ferry_dim_op {
  FERRY_DOP_CONST = 1, FERRY_DOP_SYM = 2, FERRY_DOP_ADD = 3, FERRY_DOP_SUB = 4,
  FERRY_DOP_MUL = 5, FERRY_DOP_DIV = 6, FERRY_DOP_MOD = 7, FERRY_DOP_MIN = 8,
  FERRY_DOP_MAX = 9,
};

/* CRC32 as zlib computes it: crc = ferry_crc32(0, buf, n), or continue
 * with a previous result. */
uint32_t ferry_crc32(uint32_t crc, const void *buf, size_t n);

/* ---- views (read-only; valid until ferry_bundle_free) ---- */

typedef struct ferry_bstr {
  const char *s; /* NUL-terminated (may also contain NULs: use len) */
  uint32_t len;
} ferry_bstr;

typedef struct ferry_bdim_op {
  int32_t op;    /* enum ferry_dim_op */
  int64_t arg;   /* CONST: the value; SYM: the symbol index */
} ferry_bdim_op;

/* A dimension: a postfix program (docs/bundle-format.md section 7). */
typedef struct ferry_bdim {
  const ferry_bdim_op *ops;
  int n;
} ferry_bdim;

typedef struct ferry_btype {
  int kind;                       /* 0 tensor, 1 sequence, 2 optional, 3 map,
                                     4 sparse, 5 unknown (as ir.h) */
  int dtype;                      /* 0 = unknown */
  int rank;                       /* -1 = unknown */
  const ferry_bdim *dims;         /* rank entries */
  const struct ferry_btype *elem; /* sequence/optional element, map value */
} ferry_btype;

typedef struct ferry_bvalue {
  ferry_bstr name;
  unsigned flags;   /* 1 input, 2 output, 4 weight, 8 Constant output */
  int outer;        /* index in the parent graph, -1 if local */
  int tensor;       /* tensor index of its data, -1 if none */
  int producer;     /* node index, -1 if none (computed by the reader) */
  ferry_btype type;
} ferry_bvalue;

typedef struct ferry_battr {
  ferry_bstr name;
  int type;                 /* ONNX AttributeType: 1 FLOAT ... 14 TYPE_PROTOS */
  int n;                    /* element count of list types */
  float f;                  /* FLOAT */
  int64_t i;                /* INT */
  ferry_bstr s;             /* STRING */
  int tensor;               /* TENSOR, SPARSE_TENSOR: tensor index */
  int graph;                /* GRAPH: graph index */
  const float *floats;      /* FLOATS */
  const int64_t *ints;      /* INTS */
  const ferry_bstr *strings;/* STRINGS */
  const int *tensors;       /* TENSORS, SPARSE_TENSORS: tensor indices */
  const int *graphs;        /* GRAPHS: graph indices */
  const ferry_btype *types; /* TYPE_PROTO (n = 1), TYPE_PROTOS */
} ferry_battr;

typedef struct ferry_bnode {
  ferry_bstr name, domain, op; /* domain "" is ai.onnx */
  int opset;
  int n_inputs, n_outputs, n_attrs;
  const int *inputs, *outputs; /* value indices, -1 = omitted */
  const ferry_battr *attrs;
} ferry_bnode;

typedef struct ferry_bgraph {
  ferry_bstr name;
  int parent; /* -1 for graph 0 (the main graph) */
  int n_values, n_nodes, n_inputs, n_outputs;
  const ferry_bvalue *values;
  const ferry_bnode *nodes;   /* topological order */
  const int *inputs, *outputs;
} ferry_bgraph;

typedef struct ferry_btensor {
  int dtype;             /* logical dtype */
  int encoding;          /* enum ferry_encoding */
  int rank;
  const int64_t *dims;
  int64_t numel;
  int shard;
  uint64_t offset;       /* in the shard's DATA section */
  uint64_t nbytes;
  const void *data;      /* 64-byte aligned when the buffer is; NULL until the
                            shard is added (and for nbytes 0 it may be any
                            non-NULL pointer) */
  /* AFFINE_I8/U8 parameters (n_scales 0 otherwise) */
  int axis;              /* -1: per-tensor */
  int n_scales;
  const float *scales;
  const uint8_t *zero_points; /* int8 for AFFINE_I8, as bytes */
} ferry_btensor;

typedef struct ferry_bmeta {
  ferry_bstr producer_name, producer_version, ferry_version;
  uint8_t source_sha256[32];
  ferry_bstr source_producer_name, source_producer_version, source_domain,
      source_doc;
  int64_t ir_version, model_version;
  int n_opsets;
  const ferry_bstr *opset_domains; /* "" is ai.onnx */
  const int64_t *opset_versions;
  int n_props;
  const ferry_bstr *props;         /* 2*n_props: key, value, key, value ... */
} ferry_bmeta;

/* ---- opening ---- */

typedef struct ferry_bundle ferry_bundle;

/* Inflates a zlib stream `src` of `n` bytes into exactly `raw` bytes at
 * `dst`; returns 0 on success. */
typedef int (*ferry_inflate_fn)(void *user, const void *src, size_t n, void *dst,
                                size_t raw);

/* The runtime's own zlib decoder (inflate.c), a ferry_inflate_fn: for
 * hosts without zlib (ferry.wasm); -1 on any malformed stream, a wrong
 * size or a wrong Adler-32. */
int ferry_inflate(void *user, const void *src, size_t n, void *dst, size_t raw);

typedef struct ferry_bundle_options {
  ferry_inflate_fn inflate; /* NULL: the runtime's own (ferry_inflate) */
  void *user;
  int skip_data_crc;        /* 1: do not CRC the DATA sections (big bundles
                               whose transport already checked them) */
} ferry_bundle_options;

/* Opens shard 0 from `buf` (which must stay valid and unchanged until
 * ferry_bundle_free). NULL on failure, with `err` filled (FERRY_E_INPUT for
 * a bad file, FERRY_E_SYSTEM for out of memory). */
ferry_bundle *ferry_bundle_open(const void *buf, size_t len, ferry_err *err);
ferry_bundle *ferry_bundle_open_with(const void *buf, size_t len,
                                     const ferry_bundle_options *opts,
                                     ferry_err *err);
/* Adds shard `index` (1 .. n_shards-1), checked against shard 0 like the
 * first file; its tensors' `data` become non-NULL. Returns 0 or the error
 * code. */
int ferry_bundle_add_shard(ferry_bundle *b, int index, const void *buf, size_t len,
                           ferry_err *err);
void ferry_bundle_free(ferry_bundle *b);

int ferry_bundle_n_shards(const ferry_bundle *b);
/* The lowest shard index not added yet, -1 when all are there. */
int ferry_bundle_missing_shard(const ferry_bundle *b);

/* ---- walking ---- */

const ferry_bmeta *ferry_bundle_meta(const ferry_bundle *b);
int ferry_bundle_n_graphs(const ferry_bundle *b);
const ferry_bgraph *ferry_bundle_graph(const ferry_bundle *b, int i); /* NULL if out of range */
int ferry_bundle_n_tensors(const ferry_bundle *b);
const ferry_btensor *ferry_bundle_tensor(const ferry_bundle *b, int i);
int ferry_bundle_n_strings(const ferry_bundle *b);
/* String-table entry `i` (string tensors hold such indices); {"", 0} if out of range. */
ferry_bstr ferry_bundle_string(const ferry_bundle *b, int i);

/* ---- symbolic dims ---- */

int ferry_bundle_n_symbols(const ferry_bundle *b);
ferry_bstr ferry_bundle_symbol(const ferry_bundle *b, int i);
int ferry_bundle_find_symbol(const ferry_bundle *b, const char *name); /* -1 if none */

/* Marks a symbol as unbound in the `values` array of ferry_bundle_eval_dim. */
#define FERRY_DIM_UNBOUND INT64_MIN

/* Evaluates `d` with symbol i bound to values[i] (i < n_values, and not
 * FERRY_DIM_UNBOUND). Returns 0 and sets *out, or -1 for an unbound symbol,
 * division or modulo by zero, or int64 overflow. */
int ferry_bundle_eval_dim(const ferry_bundle *b, const ferry_bdim *d,
                          const int64_t *values, int n_values, int64_t *out);

#endif
