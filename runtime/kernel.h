/*
 * kernel.h - the CPU kernel contract: what a kernel sees and may call.
 *
 * The executor (runtime/exec.c) walks a plan of steps; for each node it
 * evaluates the op's shape rule on the actual input shapes (runtime/shape.h
 * with integer dims), allocates the outputs from its arena, and calls the
 * op's kernel (the `kernel` column of runtime/ops.def) with a ferry_kctx:
 *   in[]   the inputs: dtype, rank, dims, contiguous row-major data;
 *          an omitted optional input has data == NULL and dtype 0;
 *   out[]  the outputs, already shaped and allocated (data != NULL) when
 *          the shape rule could tell the shape; when it could not (the
 *          shape depends on the data: NonZero, Unique, TopK with a runtime
 *          k...) out[i].data is NULL and the kernel calls k->set_output()
 *          once it knows the shape; an output the node leaves unnamed
 *          (nothing reads it) has dtype 0 and data NULL: the kernel may
 *          skip it (or set_output and write it: harmless);
 *   attr   the node's attributes, through the same accessor shape rules
 *          use (ferry_attr_int(k->sctx, ...) etc. work on k->sctx).
 * Sequences and optionals are ferry_tviews of another kind (below): read
 * through items[], made with k->set_items().
 * A kernel writes every element of its outputs, returns FERRY_OK, or
 * fills k->err (one line, no node name: the executor adds it) and returns
 * FERRY_E_INPUT for bad data (an index out of range) - never crashes,
 * never aborts, never allocates with malloc (k->scratch() instead).
 *
 * Kernels are libc-only C that also builds to wasm32 (clang
 * --target=wasm32 -msimd128): portable vector code uses GCC/clang vector
 * extensions (runtime/kernels/simd.h), never intrinsics.
 */
#ifndef FERRY_KERNEL_H
#define FERRY_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_base.h"
#include "shape.h"

/* A value as kernels see it. Usually a tensor: contiguous, row-major,
 * little-endian; `kind` is then 0 (the zero value: code that only knows
 * tensors never looks past `data`).
 *
 * Sequences and optionals (kind FERRY_TV_SEQUENCE, FERRY_TV_OPTIONAL) hold
 * their elements in items[0 .. n_items): tensors, or sequences for an
 * optional(sequence). A sequence's dtype is its element dtype (0 unknown:
 * an empty sequence of an undeclared type), rank -1, numel 0, data NULL.
 * An optional has n_items 0 (none) or 1 (present) and the dtype of what it
 * holds. Kernels read items like inputs and make such outputs with
 * k->set_items, which copies them; values of these kinds live outside the
 * arena's planning (the executor gives each its own block, freed after its
 * last reader) and every step reading one is shaped at run time. Build
 * views with designated initializers or memset, so that kind is 0. */
typedef struct ferry_tview {
  int dtype;                      /* enum ferry_dtype; 0 for an omitted input */
  int rank;
  int64_t dims[FERRY_MAX_RANK];
  int64_t numel;
  void *data;                     /* NULL for an omitted input */
  int kind;                       /* enum ferry_tview_kind: 0 tensor */
  int n_items;                    /* sequence length; optional: 0 none, 1 present */
  struct ferry_tview *items;
} ferry_tview;

enum ferry_tview_kind { FERRY_TV_TENSOR = 0, FERRY_TV_SEQUENCE = 1, FERRY_TV_OPTIONAL = 2 };

typedef struct ferry_kctx ferry_kctx;
typedef int (*ferry_kernel_fn)(ferry_kctx *k);

struct ferry_kctx {
  int opset;                      /* opset version that applies to the node */
  int n_in, n_out;
  const ferry_tview *in;
  ferry_tview *out;
  /* attributes: the shape-rule context of this node (attr, node, opset);
   * use ferry_attr_int(k->sctx, "axis", 0) and friends from shape.h */
  ferry_shape_ctx *sctx;
  /* workspace for this call, 64-byte aligned, gone after the kernel
   * returns; NULL when out of memory */
  void *(*scratch)(ferry_kctx *k, size_t bytes);
  /* shapes and allocates out[i] when the shape rule could not
   * (out[i].data == NULL); returns 0 or an error code */
  int (*set_output)(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims);
  /* makes out[i] a sequence or optional (kind) of element dtype `dtype`
   * holding copies of items[0 .. n_items) (tensors, or sequences inside
   * an optional); the copies are the executor's, the items stay the
   * caller's; returns 0 or an error code (k->err set) */
  int (*set_items)(ferry_kctx *k, int i, int kind, int dtype, int n_items, const ferry_tview *items);
  /* runs the subgraph held by attribute `attr` (If/Loop/Scan bodies) on
   * `inputs`; fills outputs[] with views valid until the next call with
   * the same attribute or the end of this kernel */
  int (*run_graph)(ferry_kctx *k, const char *attr, const ferry_tview *inputs, int n_inputs,
                   ferry_tview *outputs, int n_outputs);
  /* splits [0, n) into chunks run on the executor's threads (or inline
   * when single-threaded); fn must be safe to run concurrently */
  void (*parallel)(ferry_kctx *k, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end),
                   void *arg);
  /* threads parallel() spreads work over: 1 when it runs all of it inline
   * (wasm, one-thread sessions), so splitting gains nothing; 0 from
   * callers that do not say, taken as several */
  int threads;
  /* bit i set: input i (i < 64) is bundle data, the same bytes every run
   * (a weight); 0 from callers that cannot tell */
  uint64_t const_in;
  /* a buffer of `bytes` (64-byte aligned) the executor keeps for this node
   * until the session closes, for what the kernel derives from constant
   * inputs (prepacked weights). *fresh is 1 when the kernel must fill it
   * (the first call, or another size than before) - completely, before it
   * returns - and 0 when it holds what an earlier call wrote. NULL when
   * out of memory; the member itself is NULL where the caller keeps
   * nothing (test harnesses): kernels then work without. */
  void *(*persist)(ferry_kctx *k, size_t bytes, int *fresh);
  /* NULL, or an element-wise map the executor fused onto float32 output 0
   * (runtime/chain.c: a chain of element-wise steps after a Conv, which
   * may also read other tensors of the output's shape at the same
   * offsets): a kernel may run it in place on stretches of the output
   * as it finishes them, post(post_ctx, y, n) mapping y[0..n) (once per
   * element; safe from several threads on disjoint stretches), and then
   * sets post_done; when it does not, the executor maps the whole output
   * after the kernel. */
  void (*post)(const void *ctx, float *y, int64_t n);
  const void *post_ctx;
  int post_done;
  void *exec;                     /* the executor's private state */
  char err[256];
};

/* Deep copies of values of every kind (runtime/value.c): the bytes a copy
 * of v takes (tensor data, and for sequences and optionals their items
 * arrays and items, each part 64-byte aligned), SIZE_MAX when v is not a
 * well-formed value (bad dtype or dims, data missing, items of different
 * dtypes, an optional with more than one item, nesting deeper than 8);
 * and the copy into buf (that many bytes, 64-byte aligned): *dst views it.
 * numel is recomputed from dims. */
size_t ferry_value_bytes(const ferry_tview *v);
void ferry_value_copy(ferry_tview *dst, const ferry_tview *v, void *buf);

/* Formats k->err and returns FERRY_E_INPUT. */
int ferry_kernel_fail(ferry_kctx *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
