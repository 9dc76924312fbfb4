/*
 * shape.h - op shape rules, written once for the converter and the runtime.
 *
 * A shape rule computes a node's output dtypes and shapes from its inputs'
 * dtypes, shapes, attributes and, where an input is a small integer tensor
 * computed from shapes (Shape -> Gather -> Concat -> Reshape), its content.
 * Rules never see concrete integers or symbolic expressions directly: they
 * work on `ferry_sdim` handles through a `ferry_dimops` table.
 *   - the converter plugs in the symbolic algebra (convert/dim.h): a handle
 *     is a ferry_dim, so inferred shapes read "batch", "sequence - 1";
 *   - the runtime plugs in plain int64 arithmetic: a handle is the number.
 * So one rule serves static symbolic inference and run-time shape checks,
 * and lives beside its op's kernel in runtime/ops/ (libc only).
 *
 * Rules report problems in `c->err` (one line, no node name: the caller
 * adds it) and return FERRY_E_INPUT; FERRY_OK otherwise.
 *
 * Content: `content` holds the elements of a small tensor of a content
 * dtype (integers, bool; floats while their values are integers) as
 * handles, so Shape(x)[1] * 64 is the handle of 64*sequence. Rules that
 * move or compute elements fill it; an element they cannot compute drops
 * the whole content (n_content -1). Symbols stand for dims, so rules may
 * assume them >= 0, and treat symbolic slice bounds as in range: the
 * runtime, where handles are numbers, computes the exact result.
 *
 * Rules may read in[] and out[] past n_in/n_out: the caller gives at least
 * 8 entries, the extra ones absent (present 0, rank -1).
 */
#ifndef FERRY_SHAPE_H
#define FERRY_SHAPE_H

#include <stdint.h>

#include "ferry_base.h"

#define FERRY_MAX_RANK 16
#define FERRY_MAX_CONTENT 64 /* longest integer tensor whose content is tracked */

typedef int64_t ferry_sdim;

typedef struct ferry_dimops {
  void *ctx;
  ferry_sdim (*konst)(void *ctx, int64_t v);
  ferry_sdim (*add)(void *ctx, ferry_sdim a, ferry_sdim b);
  ferry_sdim (*sub)(void *ctx, ferry_sdim a, ferry_sdim b);
  ferry_sdim (*mul)(void *ctx, ferry_sdim a, ferry_sdim b);
  ferry_sdim (*div)(void *ctx, ferry_sdim a, ferry_sdim b); /* floor */
  ferry_sdim (*mod)(void *ctx, ferry_sdim a, ferry_sdim b); /* floor */
  ferry_sdim (*min)(void *ctx, ferry_sdim a, ferry_sdim b);
  ferry_sdim (*max)(void *ctx, ferry_sdim a, ferry_sdim b);
  /* 1 and *v set when the handle is a known integer. */
  int (*is_const)(void *ctx, ferry_sdim a, int64_t *v);
  /* A dim nothing is known about (data-dependent sizes: NonZero, Unique). */
  ferry_sdim (*fresh)(void *ctx);
} ferry_dimops;
/* Handles are compared with ==: both implementations make equal values
 * equal handles (the symbolic one by hash-consing). 0 is never a valid
 * symbolic handle but is the integer 0 at run time: use konst(). */

/* One input or output of a node as a shape rule sees it. */
typedef struct ferry_sval {
  int present;               /* 0: optional input omitted / output unused */
  int dtype;                 /* enum ferry_dtype, 0 unknown */
  int rank;                  /* -1 unknown */
  ferry_sdim dims[FERRY_MAX_RANK];
  int n_content;             /* -1: content unknown; else element count */
  ferry_sdim content[FERRY_MAX_CONTENT]; /* int tensors from shape math */
  const void *data;          /* constant data (any dtype) when known, else NULL */
  int64_t numel_data;        /* elements at `data` */
  /* What the value is: a tensor (0, the default), or a sequence or optional
   * whose element is described by dtype/rank/dims; elem_kind says whether an
   * optional holds a tensor or a sequence. Same numbers as the IR's kinds. */
  int kind, elem_kind;
} ferry_sval;

enum ferry_sval_kind { FERRY_SV_TENSOR = 0, FERRY_SV_SEQUENCE = 1, FERRY_SV_OPTIONAL = 2 };

/* An attribute as a rule sees it (a neutral view of the IR's or the
 * bundle's attribute). */
typedef struct ferry_attrv {
  int type;                  /* ONNX AttributeType numbers, 0 when absent */
  int64_t i;
  float f;
  const char *s;              /* STRING: the bytes, NUL-terminated (every provider
                                 of attributes guarantees it); STRINGS: the n strings one
                                 after another, each NUL-terminated */
  int64_t slen;               /* bytes at s (STRINGS: all of them, NULs included) */
  int n;
  const int64_t *ints;
  const float *floats;
  int tdtype, trank;         /* TENSOR: dtype, rank, dims, data; TYPE_PROTO:
                                i = kind (ferry_sval_kind), tdtype = element
                                dtype, trank -1 */
  const int64_t *tdims;
  const void *tdata;
} ferry_attrv;

typedef struct ferry_shape_ctx {
  const ferry_dimops *D;
  int opset;                 /* opset version that applies to the node */
  int n_in, n_out;
  const ferry_sval *in;
  ferry_sval *out;           /* preset: present, rank -1, dtype 0, n_content -1 */
  /* attribute lookup: fills *a and returns 1 when present, else 0 */
  int (*attr)(void *node, const char *name, ferry_attrv *a);
  void *node;
  char err[256];
} ferry_shape_ctx;

typedef int (*ferry_shape_fn)(ferry_shape_ctx *c);

/* ---- helpers for rules (runtime/shape.c) ---- */

/* Attribute accessors with defaults. */
int64_t ferry_attr_int(ferry_shape_ctx *c, const char *name, int64_t dflt);
float ferry_attr_float(ferry_shape_ctx *c, const char *name, float dflt);
/* Ints list; returns count (0 when absent), *v points to the values. */
int ferry_attr_ints(ferry_shape_ctx *c, const char *name, const int64_t **v);
/* Formats c->err and returns FERRY_E_INPUT. */
int ferry_shape_fail(ferry_shape_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Numpy multidirectional broadcast of in[a] and in[b] into *out's dims
 * (rank and dims); FERRY_E_INPUT when incompatible. Two different symbolic
 * dims give max(a, b): they are equal at run time, or one of them is 1. */
int ferry_broadcast(ferry_shape_ctx *c, const ferry_sval *a, const ferry_sval *b, ferry_sval *out);
/* Normalizes a possibly negative axis for `rank`; -1 when out of range. */
int ferry_axis(int64_t axis, int rank);
/* in[i]'s content as integers when every element is a known constant
 * (from `content` or `data`); returns the count, -1 otherwise. */
int ferry_const_ints(ferry_shape_ctx *c, int i, int64_t *v, int cap);

/* ---- more helpers (runtime/shape.c) ---- */

/* 1 when the attribute is present; string attribute or dflt; any attribute. */
int ferry_attr_has(ferry_shape_ctx *c, const char *name);
const char *ferry_attr_str(ferry_shape_ctx *c, const char *name, const char *dflt);
int ferry_attr_get(ferry_shape_ctx *c, const char *name, ferry_attrv *a);
/* The handle of integer v; 1 when handle d is the integer v. */
ferry_sdim ferry_k(ferry_shape_ctx *c, int64_t v);
int ferry_dim_is(ferry_shape_ctx *c, ferry_sdim d, int64_t v);
/* Product of v's dims [from, to). */
ferry_sdim ferry_numel(ferry_shape_ctx *c, const ferry_sval *v, int from, int to);
/* 1 and *n when every dim of v is a known integer. */
int ferry_known_numel(ferry_shape_ctx *c, const ferry_sval *v, int64_t *n);
/* out's dtype, rank and dims (dims may alias out->dims); or in's shape. */
void ferry_set_shape(ferry_sval *out, int dtype, int rank, const ferry_sdim *dims);
void ferry_same_shape(ferry_sval *out, const ferry_sval *in, int dtype);
/* 1 for the dtypes whose content is tracked: integers and bool, and
 * float32/float64 while their values are integers (shape math done in
 * floats: Cast(Shape) -> Mul -> Ceil -> Cast); 1 for those float dtypes. */
int ferry_content_dtype(int dtype);
int ferry_is_float(int dtype);
/* Like ferry_data_ints, also reading float data whose values are all
 * integers (of magnitude up to 2^24); -1 otherwise. */
int ferry_data_content(int dtype, const void *data, int64_t n, int64_t *v, int cap);
/* n integers of constant data (integer dtypes); count or -1 (n > cap, not int). */
int ferry_data_ints(int dtype, const void *data, int64_t n, int64_t *v, int cap);
/* Element i of constant numeric data as a double. */
double ferry_data_float(int dtype, const void *data, int64_t i);
/* Fills v's content from its constant data when small and integral. */
void ferry_content_from_data(ferry_shape_ctx *c, ferry_sval *v);
/* 1 and d[] when every dim of v is a known integer. */
int ferry_const_dims(ferry_shape_ctx *c, const ferry_sval *v, int64_t *d);
/* Flat index into an input of rank r, dims d, of element `flat` of a
 * broadcast output of rank R, dims od (numpy right-aligned broadcasting). */
int64_t ferry_bcast_index(const int64_t *od, int R, const int64_t *d, int r, int64_t flat);
/* A 1-D content read as dims (Reshape, Expand targets): count or -1. */
int ferry_shape_from_content(ferry_shape_ctx *c, const ferry_sval *s, ferry_sdim *dims);

#endif
