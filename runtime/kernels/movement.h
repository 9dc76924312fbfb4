/*
 * movement.h - kernels of runtime/kernels/movement*.c (see kernels.h):
 * ops that move, select, generate or resample elements.
 *
 *   movement_common.c     helpers the files below share (ferry_mv_*)
 *   movement_shape.c      copies that only change the shape, Shape, Size,
 *                         Constant, ConstantOfShape, EyeLike, Range, Trilu
 *   movement_transpose.c  Transpose, DepthToSpace, SpaceToDepth, Expand, Tile
 *   movement_slice.c      Concat, Split, Slice, Pad, CenterCropPad,
 *                         Compress, ReverseSequence, CumSum
 *   movement_index.c      Gather*, Scatter*, OneHot, NonZero, Unique
 *   movement_resize.c     Resize, Upsample, Col2Im
 */
#ifndef FERRY_KERNELS_MOVEMENT_H
#define FERRY_KERNELS_MOVEMENT_H

#include "../kernel.h"

int ferry_kernel_Identity(ferry_kctx *k);
int ferry_kernel_Constant(ferry_kctx *k);
int ferry_kernel_Reshape(ferry_kctx *k);
int ferry_kernel_Flatten(ferry_kctx *k);
int ferry_kernel_Squeeze(ferry_kctx *k);
int ferry_kernel_Unsqueeze(ferry_kctx *k);
int ferry_kernel_Shape(ferry_kctx *k);
int ferry_kernel_Size(ferry_kctx *k);
int ferry_kernel_ConstantOfShape(ferry_kctx *k);
int ferry_kernel_EyeLike(ferry_kctx *k);
int ferry_kernel_Range(ferry_kctx *k);
int ferry_kernel_Trilu(ferry_kctx *k);

int ferry_kernel_Transpose(ferry_kctx *k);
int ferry_kernel_DepthToSpace(ferry_kctx *k);
int ferry_kernel_SpaceToDepth(ferry_kctx *k);
int ferry_kernel_Expand(ferry_kctx *k);
int ferry_kernel_Tile(ferry_kctx *k);

int ferry_kernel_Concat(ferry_kctx *k);
int ferry_kernel_Split(ferry_kctx *k);
int ferry_kernel_Slice(ferry_kctx *k);
int ferry_kernel_Pad(ferry_kctx *k);
int ferry_kernel_CenterCropPad(ferry_kctx *k);
int ferry_kernel_Compress(ferry_kctx *k);
int ferry_kernel_ReverseSequence(ferry_kctx *k);
int ferry_kernel_CumSum(ferry_kctx *k);

int ferry_kernel_Gather(ferry_kctx *k);
int ferry_kernel_GatherElements(ferry_kctx *k);
int ferry_kernel_GatherND(ferry_kctx *k);
int ferry_kernel_Scatter(ferry_kctx *k);
int ferry_kernel_ScatterElements(ferry_kctx *k);
int ferry_kernel_ScatterND(ferry_kctx *k);
int ferry_kernel_OneHot(ferry_kctx *k);
int ferry_kernel_NonZero(ferry_kctx *k);
int ferry_kernel_Unique(ferry_kctx *k);

int ferry_kernel_Resize(ferry_kctx *k);
int ferry_kernel_Upsample(ferry_kctx *k);
int ferry_kernel_Col2Im(ferry_kctx *k);

/* ---- shared by movement*.c (movement_common.c) ---- */

/* Out[i] must be dtype/rank/dims: checks it when the executor shaped it,
 * shapes and allocates it (set_output) when it could not. */
int ferry_mv_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims);
/* Product of dims into *n; 0 on a negative dim or when the product of the
 * nonzero dims is over 2^53 (so no later product of these dims overflows). */
int ferry_mv_numel(int rank, const int64_t *dims, int64_t *n);
/* Bytes per element of a dtype kernels can move, or fails (k->err). */
int ferry_mv_esize(ferry_kctx *k, int dtype, int *size);
/* 1 when input i is given (not an omitted optional input). */
int ferry_mv_has(const ferry_kctx *k, int i);
/* Element i of an integer (or float) tensor as int64 (int32/int64 fast). */
int64_t ferry_mv_int(const ferry_tview *t, int64_t i);
/* Index v normalized for an axis of size d (negatives wrap): 0 or -1 when
 * out of range. */
int ferry_mv_wrap(int64_t *v, int64_t d);
/* Stores v as element i of dtype dt: floats as they are, integers
 * truncated (or rounded to nearest when `round`) and clamped to the
 * dtype's range, NaN as 0 - never an out-of-range conversion. */
void ferry_mv_store(void *data, int dt, int64_t i, double v, int round);
/* Copies n elements of `size` bytes from src[si...] to dst[di...]. */
void ferry_mv_copy(void *dst, const void *src, int size, int64_t n);
/* Runs fn over [0, n) on the executor's threads when the work (n units of
 * `cost` elements) is large enough to pay for it, else inline. */
void ferry_mv_parallel(ferry_kctx *k, int64_t n, int64_t cost, void (*fn)(void *, int64_t, int64_t),
                       void *arg);
/* dst = src (dims[0..rank), elements of `size` bytes) with its axes
 * permuted: dst axis i is src axis perm[i]. Blocked for the cache. */
void ferry_mv_permute(ferry_kctx *k, void *dst, const void *src, int size, int rank, const int64_t *dims,
                      const int *perm);
/* Sorts idx[0..n) stably with cmp(ctx, a, b); tmp holds n entries. */
void ferry_mv_sort(int64_t *idx, int64_t *tmp, int64_t n, int (*cmp)(const void *ctx, int64_t a, int64_t b),
                   const void *ctx);

#endif
