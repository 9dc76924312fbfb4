/* nn.h - kernels of runtime/kernels/nn*.c (see kernels.h):
 *   nn_pool.c    MaxPool, AveragePool, LpPool, Global*Pool, MaxUnpool,
 *                MaxRoiPool, RoiAlign;
 *   nn_norm.c    BatchNormalization, InstanceNormalization,
 *                LayerNormalization, GroupNormalization, LpNormalization,
 *                MeanVarianceNormalization, LRN, Softmax, LogSoftmax, Hardmax;
 *   nn_reduce.c  Reduce*, ArgMax, ArgMin, TopK;
 *   nn_quant.c   QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear;
 *   nn_misc.c    Dropout, NonMaxSuppression, Det, GridSample;
 *   nn_util.c    helpers the files above share (declared at the end). */
#ifndef FERRY_KERNELS_NN_H
#define FERRY_KERNELS_NN_H

#include "../kernel.h"

/* nn_pool.c */
int ferry_kernel_MaxPool(ferry_kctx *k);
int ferry_kernel_AveragePool(ferry_kctx *k);
int ferry_kernel_LpPool(ferry_kctx *k);
int ferry_kernel_GlobalMaxPool(ferry_kctx *k);
int ferry_kernel_GlobalAveragePool(ferry_kctx *k);
int ferry_kernel_GlobalLpPool(ferry_kctx *k);
int ferry_kernel_MaxUnpool(ferry_kctx *k);
int ferry_kernel_MaxRoiPool(ferry_kctx *k);
int ferry_kernel_RoiAlign(ferry_kctx *k);

/* nn_norm.c */
int ferry_kernel_BatchNormalization(ferry_kctx *k);
int ferry_kernel_InstanceNormalization(ferry_kctx *k);
int ferry_kernel_LayerNormalization(ferry_kctx *k);
int ferry_kernel_GroupNormalization(ferry_kctx *k);
int ferry_kernel_LpNormalization(ferry_kctx *k);
int ferry_kernel_MeanVarianceNormalization(ferry_kctx *k);
int ferry_kernel_LRN(ferry_kctx *k);
int ferry_kernel_Softmax(ferry_kctx *k);
int ferry_kernel_LogSoftmax(ferry_kctx *k);
int ferry_kernel_Hardmax(ferry_kctx *k);

/* nn_reduce.c */
int ferry_kernel_ReduceSum(ferry_kctx *k);
int ferry_kernel_ReduceMean(ferry_kctx *k);
int ferry_kernel_ReduceMax(ferry_kctx *k);
int ferry_kernel_ReduceMin(ferry_kctx *k);
int ferry_kernel_ReduceProd(ferry_kctx *k);
int ferry_kernel_ReduceL1(ferry_kctx *k);
int ferry_kernel_ReduceL2(ferry_kctx *k);
int ferry_kernel_ReduceLogSum(ferry_kctx *k);
int ferry_kernel_ReduceLogSumExp(ferry_kctx *k);
int ferry_kernel_ReduceSumSquare(ferry_kctx *k);
int ferry_kernel_ArgMax(ferry_kctx *k);
int ferry_kernel_ArgMin(ferry_kctx *k);
int ferry_kernel_TopK(ferry_kctx *k);

/* nn_quant.c */
int ferry_kernel_QuantizeLinear(ferry_kctx *k);
int ferry_kernel_DequantizeLinear(ferry_kctx *k);
int ferry_kernel_DynamicQuantizeLinear(ferry_kctx *k);

/* nn_misc.c */
int ferry_kernel_Dropout(ferry_kctx *k);
int ferry_kernel_NonMaxSuppression(ferry_kctx *k);
int ferry_kernel_Det(ferry_kctx *k);
int ferry_kernel_GridSample(ferry_kctx *k);

/* ---- nn_util.c: helpers shared by the nn*.c files ---- */

/* Output i with the given dtype and dims: shapes it through set_output()
 * when the executor could not, else checks the executor's numel agrees.
 * Returns 0 or an error (k->err set). */
int ferry_nn_out(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims);
/* Scratch for n elements of `size` bytes: k->scratch() with the size
 * checked against size_t (32 bits on wasm32); NULL with k->err set when
 * too large or out of memory. */
void *ferry_nn_scratch(ferry_kctx *k, int64_t n, size_t size);
/* The whole of t as doubles in scratch (NULL: out of memory, k->err set). */
double *ferry_nn_load(ferry_kctx *k, const ferry_tview *t);
/* Stores n doubles into t (any numeric dtype; integer dtypes saturate,
 * NaN becomes 0, so no float-to-int conversion is undefined). */
void ferry_nn_store(ferry_tview *t, const double *v, int64_t n);
/* v as an int64 without undefined behaviour: NaN -> 0, saturating. */
int64_t ferry_nn_to_i64(double v);
/* Product of dims[from, to). */
int64_t ferry_nn_prod(const int64_t *dims, int from, int to);
/* The k-th element of integer tensor t (any integer dtype) or dflt when
 * t is absent or empty. */
int64_t ferry_nn_int_at(const ferry_tview *t, int64_t i, int64_t dflt);
/* A float attribute given as FLOAT or INT (old opsets), else dflt. */
double ferry_nn_attr_num(ferry_kctx *k, const char *name, double dflt);

/* float32 row primitives (SIMD through simd.h). Max/min propagate NaN. */
float ferry_nn_max_f32(const float *x, int64_t n);
float ferry_nn_min_f32(const float *x, int64_t n);
float ferry_nn_sum_f32(const float *x, int64_t n);
float ferry_nn_sumsq_f32(const float *x, int64_t n);
float ferry_nn_sumabs_f32(const float *x, int64_t n);
float ferry_nn_prod_f32(const float *x, int64_t n);
/* y[i] = exp(x[i] - shift) (y may be NULL or x); returns the sum. For
 * softmax-style sums: shift must be at least max(x) - 88 (callers pass
 * the max, so every argument is <= 0; past 88.7 the result is garbage).
 * The vector exp is accurate to ~2 ulp for arguments <= 88; below about
 * -87.7 it gives 0 (denormals between); NaN stays NaN. */
float ferry_nn_exp_sum_f32(float *y, const float *x, int64_t n, float shift);
/* Softmax down the w columns of s [n][w] (w a multiple of 8),
 * in place but for the division by each column's sum: column j's max into
 * mx[j], 1 / its exp sum into inv[j] (0 when not positive). lo and hi
 * (both NULL: every row counts) limit column j to rows lo[j]..hi[j]; the
 * others become 0, unread. */
void ferry_nn_softmax_cols_f32(float *s, int64_t n, int w, const int32_t *lo, const int32_t *hi, float *mx,
                               float *inv);
/* y[i] = x[i] * a + b (y may be x). */
void ferry_nn_affine_f32(float *y, const float *x, int64_t n, float a, float b);
/* Mean and (population) variance of x, two passes. */
void ferry_nn_moments_f32(const float *x, int64_t n, float *mean, float *var);
void ferry_nn_moments_f64(const double *x, int64_t n, double *mean, double *var);

#endif
