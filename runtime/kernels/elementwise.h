/*
 * elementwise.h - kernels of runtime/kernels/elementwise*.c (see kernels.h):
 * ops that compute each output element from the elements at the same
 * (broadcast) position of their inputs.
 *
 *   elementwise_common.c  what the files below share (ferry_ew_*): the
 *                         broadcasting plan, chunked parallel runs,
 *                         dtype classes, saturating float -> int
 *   elementwise_vmath.c   float32 vector approximations of exp, tanh,
 *                         erf, sigmoid, gelu (also for other families:
 *                         softmax, attention, normalization)
 *   elementwise_unary.c   one-input math and activations, Clip, IsInf,
 *                         IsNaN, Not, BitwiseNot, Gelu, FastGelu
 *   elementwise_binary.c  arithmetic, comparisons, logic, bitwise, Pow,
 *                         Mod, BitShift, PRelu, Sum/Mean/Max/Min, Where
 *   elementwise_cast.c    Cast, CastLike
 *   elementwise_chain.c   fused chains of float32 element-wise steps (the
 *                         runtime's planner makes them: runtime/chain.c)
 *
 * Float-to-integer conversions (Cast, and ops computing in floats with an
 * integer output) truncate toward zero and saturate to the target's range;
 * NaN becomes 0. Integer division or modulo by zero gives 0; integer
 * arithmetic wraps around.
 */
#ifndef FERRY_KERNELS_ELEMENTWISE_H
#define FERRY_KERNELS_ELEMENTWISE_H

#include "../kernel.h"
#include "simd.h"

/* t clamped to [0, 1], NaN kept (scalar and per lane) */
#define CLAMP01(t) ((t) < 0 ? 0 : (t) > 1 ? 1 : (t))
/* m ? a : b per lane */
FERRY_VINLINE f32x4 vsel4(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b)); }
FERRY_VINLINE f32x4 vclamp01(f32x4 t) { /* t < 0 ? 0 : t, then 1 < t ? 1 : t: one pmax, one pmin in wasm */
  return FERRY_VPMIN(FERRY_VPMAX(t, f32x4_splat(0)), f32x4_splat(1));
}

/* ---- unary (elementwise_unary.c) ---- */
int ferry_kernel_Abs(ferry_kctx *k);
int ferry_kernel_Acos(ferry_kctx *k);
int ferry_kernel_Acosh(ferry_kctx *k);
int ferry_kernel_Asin(ferry_kctx *k);
int ferry_kernel_Asinh(ferry_kctx *k);
int ferry_kernel_Atan(ferry_kctx *k);
int ferry_kernel_Atanh(ferry_kctx *k);
int ferry_kernel_Ceil(ferry_kctx *k);
int ferry_kernel_Cos(ferry_kctx *k);
int ferry_kernel_Cosh(ferry_kctx *k);
int ferry_kernel_Erf(ferry_kctx *k);
int ferry_kernel_Exp(ferry_kctx *k);
int ferry_kernel_Floor(ferry_kctx *k);
int ferry_kernel_IsInf(ferry_kctx *k);
int ferry_kernel_IsNaN(ferry_kctx *k);
int ferry_kernel_Log(ferry_kctx *k);
int ferry_kernel_Neg(ferry_kctx *k);
int ferry_kernel_Not(ferry_kctx *k);
int ferry_kernel_Reciprocal(ferry_kctx *k);
int ferry_kernel_Round(ferry_kctx *k);
int ferry_kernel_Sign(ferry_kctx *k);
int ferry_kernel_Sin(ferry_kctx *k);
int ferry_kernel_Sinh(ferry_kctx *k);
int ferry_kernel_Sqrt(ferry_kctx *k);
int ferry_kernel_Tan(ferry_kctx *k);
int ferry_kernel_Tanh(ferry_kctx *k);
int ferry_kernel_Sigmoid(ferry_kctx *k);
int ferry_kernel_HardSigmoid(ferry_kctx *k);
int ferry_kernel_HardSwish(ferry_kctx *k);
int ferry_kernel_Relu(ferry_kctx *k);
int ferry_kernel_LeakyRelu(ferry_kctx *k);
int ferry_kernel_Elu(ferry_kctx *k);
int ferry_kernel_Selu(ferry_kctx *k);
int ferry_kernel_Celu(ferry_kctx *k);
int ferry_kernel_Softplus(ferry_kctx *k);
int ferry_kernel_Softsign(ferry_kctx *k);
int ferry_kernel_ThresholdedRelu(ferry_kctx *k);
int ferry_kernel_Mish(ferry_kctx *k);
int ferry_kernel_Shrink(ferry_kctx *k);
int ferry_kernel_Clip(ferry_kctx *k);
int ferry_kernel_BitwiseNot(ferry_kctx *k);
int ferry_kernel_Gelu(ferry_kctx *k);     /* com.microsoft, and ai.onnx from opset 20 */
int ferry_kernel_FastGelu(ferry_kctx *k); /* com.microsoft */

/* ---- binary and variadic (elementwise_binary.c) ---- */
int ferry_kernel_Add(ferry_kctx *k);
int ferry_kernel_Sub(ferry_kctx *k);
int ferry_kernel_Mul(ferry_kctx *k);
int ferry_kernel_Div(ferry_kctx *k);
int ferry_kernel_Pow(ferry_kctx *k);
int ferry_kernel_Mod(ferry_kctx *k);
int ferry_kernel_BitShift(ferry_kctx *k);
int ferry_kernel_And(ferry_kctx *k);
int ferry_kernel_Or(ferry_kctx *k);
int ferry_kernel_Xor(ferry_kctx *k);
int ferry_kernel_BitwiseAnd(ferry_kctx *k);
int ferry_kernel_BitwiseOr(ferry_kctx *k);
int ferry_kernel_BitwiseXor(ferry_kctx *k);
int ferry_kernel_Equal(ferry_kctx *k);
int ferry_kernel_Less(ferry_kctx *k);
int ferry_kernel_LessOrEqual(ferry_kctx *k);
int ferry_kernel_Greater(ferry_kctx *k);
int ferry_kernel_GreaterOrEqual(ferry_kctx *k);
int ferry_kernel_PRelu(ferry_kctx *k);
int ferry_kernel_Sum(ferry_kctx *k);
int ferry_kernel_Mean(ferry_kctx *k);
int ferry_kernel_Max(ferry_kctx *k);
int ferry_kernel_Min(ferry_kctx *k);
int ferry_kernel_Where(ferry_kctx *k);

/* ---- conversions (elementwise_cast.c) ---- */
int ferry_kernel_Cast(ferry_kctx *k);
int ferry_kernel_CastLike(ferry_kctx *k);

/* ---- float32 vector math (elementwise_vmath.c) ----
 * y[i] = f(x[i]) for i < n; y may equal x. Relative error within about
 * 1e-6 of libm (erf, gelu: absolute 1e-7 near zero crossings of 1+erf);
 * NaN in gives NaN out, infinities give the limits. */
void ferry_vexp_f32(const float *x, float *y, int64_t n);
void ferry_vtanh_f32(const float *x, float *y, int64_t n);
void ferry_verf_f32(const float *x, float *y, int64_t n);
void ferry_vsigmoid_f32(const float *x, float *y, int64_t n);
void ferry_vgelu_f32(const float *x, float *y, int64_t n);     /* x/2 (1 + erf(x/sqrt 2)) */
void ferry_vfastgelu_f32(const float *x, float *y, int64_t n); /* tanh approximation */

/* ---- fused chains (elementwise_chain.c) ----
 * A chain is a tiny program over float32 tensors of one shape: each step
 * reads the previous step's result (ACC), an input tensor of the chain or
 * a constant, and the last step's result is the output. The planner
 * (runtime/chain.c) fuses runs of element-wise nodes into one, so the
 * intermediates never go to memory; every step computes the same float
 * expression as the op's own kernel, so a fused chain gives the same bits. */
enum ferry_chain_code {
  FERRY_CH_ADD, FERRY_CH_SUB, FERRY_CH_MUL, FERRY_CH_DIV,           /* a op b */
  FERRY_CH_RELU, FERRY_CH_LEAKYRELU, FERRY_CH_HARDSIGMOID, FERRY_CH_HARDSWISH, /* f(a) */
  FERRY_CH_SIGMOID, FERRY_CH_TANH
};
#define FERRY_CH_ACC (-1)   /* operand: the previous step's result */
#define FERRY_CH_CONST (-2) /* operand: the step's constant */
#define FERRY_CH_MAX_IN 8   /* input tensors of a chain */

typedef struct ferry_chain_op {
  int code;          /* enum ferry_chain_code */
  int a, b;          /* operands: input index, FERRY_CH_ACC or FERRY_CH_CONST (b unused by f(a)) */
  float c;           /* the constant operand */
  float alpha, beta; /* LeakyRelu alpha; HardSigmoid alpha, beta */
} ferry_chain_op;

/* out[i0 .. i0+n) of the chain over in[k][i0 .. i0+n), 256 elements at a
 * time (the block stays in L1); out may be one of the inputs. */
void ferry_chain_eval(const ferry_chain_op *ops, int n_ops, const float *const *in, int64_t i0, int64_t n,
                      float *out);

/* ---- shared by elementwise*.c (elementwise_common.c) ---- */

#define FERRY_EW_MAX_IN 3      /* inputs a broadcasting plan combines */
#define FERRY_EW_CHUNK 16384   /* elements per parallel work item, at least */

/* A broadcast of n_in inputs to an output shape, simplified: size-1 output
 * dims dropped and dims that stay contiguous in every input merged, so a
 * same-shape or scalar operand becomes one long row. The innermost dim
 * (`inner` elements) has stride 0 or 1 in every input. */
typedef struct ferry_ew_plan {
  int rank, n_in;
  int64_t dims[FERRY_MAX_RANK];
  int64_t st[FERRY_EW_MAX_IN][FERRY_MAX_RANK];
  int64_t numel, inner;
} ferry_ew_plan;

/* Plans in[0..n) broadcast to out's shape; fails (k->err) when an input
 * does not broadcast to it. */
int ferry_ew_plan_init(ferry_kctx *k, ferry_ew_plan *p, const ferry_tview *out, const ferry_tview *const *in,
                       int n);

/* Calls row(ctx, y, off, st, len) for output elements [begin, end) split
 * at row ends: output elements y..y+len, input j's elements from off[j]
 * with stride st[j] (0 or 1). */
typedef void (*ferry_ew_rowfn)(void *ctx, int64_t y, const int64_t *off, const int64_t *st, int64_t len);
void ferry_ew_plan_rows(const ferry_ew_plan *p, int64_t begin, int64_t end, ferry_ew_rowfn row, void *ctx);

/* Runs fn(arg, begin, end) over [0, n) on k's threads in chunks of at least
 * FERRY_EW_CHUNK elements, inline when n is small. */
void ferry_ew_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg);

/* Shapes out[0] as the broadcast of in[0..n) when the executor could not
 * (data NULL), then checks its dtype and that the inputs broadcast to it. */
int ferry_ew_output(ferry_kctx *k, int dtype, const ferry_tview *const *in, int n);


/* dtype classes */
enum { FERRY_EW_FLOAT = 1, FERRY_EW_SINT = 2, FERRY_EW_UINT = 4, FERRY_EW_BOOL = 8 };
int ferry_ew_class(int dtype); /* 0 for strings, 4-bit, float8, complex */

/* Stores v into element i of an integer or bool tensor: truncated toward
 * zero, saturated to the dtype's range, NaN -> 0 (bool: v != 0). Any dtype
 * works; float dtypes take v as is. */
void ferry_ew_store_sat(void *data, int dt, int64_t i, double v);

/* Element i as uint64 for unsigned and bool dtypes (exact). */
uint64_t ferry_ew_load_u64(const void *data, int dt, int64_t i);

#endif
