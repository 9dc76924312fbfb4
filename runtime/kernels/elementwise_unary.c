/*
 * elementwise_unary.c - one-input elementwise ops: math functions,
 * activations, Clip, IsInf, IsNaN, Not, BitwiseNot, Gelu and FastGelu.
 *
 * Each op is a `uop`: a float32 array loop (vectorized for the hot ones
 * through elementwise_vmath.c; the clamps HardSigmoid, HardSwish and Clip
 * in f32x4 here, UNARY_FLOAT_V), a double function (float64, and integer
 * inputs of ops that compute in floats), and for ops with integer
 * semantics an int64 and a uint64 function. unary() checks the dtype,
 * shapes the output and runs the right loop in parallel chunks; float16
 * and bfloat16 go through the float32 loop in small converted blocks.
 * Attributes arrive in a `uparam`, read by each kernel's wrapper.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "simd.h"
#include "util.h"

typedef struct uparam {
  float a, b, c;     /* float attributes (alpha, beta, gamma, lambd, bias, Clip bounds) */
  double da, db;     /* Clip bounds for float64 */
  int64_t ilo, ihi;  /* Clip bounds for signed integers */
  uint64_t ulo, uhi; /* Clip bounds for unsigned integers */
} uparam;

typedef struct uop {
  void (*f32)(const float *x, float *y, int64_t n, const uparam *p);
  double (*f64)(double v, const uparam *p);
  int64_t (*s64)(int64_t v, const uparam *p);    /* NULL: signed ints via f64 */
  uint64_t (*u64)(uint64_t v, const uparam *p);  /* NULL: unsigned ints via f64 */
  unsigned classes;                              /* FERRY_EW_* the op accepts */
} uop;

/* ---- running a uop ---- */

typedef struct urun {
  const uop *op;
  const uparam *p;
  int dt;
  const void *x;
  void *y;
} urun;

#define HALF_BLOCK 256

static void half_range(const urun *r, int64_t b, int64_t e) {
  const uint16_t *x = r->x;
  uint16_t *y = r->y;
  float t[HALF_BLOCK];
  int f16 = r->dt == FERRY_F16;
  for (int64_t c = b; c < e; c += HALF_BLOCK) {
    int64_t m = e - c < HALF_BLOCK ? e - c : HALF_BLOCK;
    for (int64_t j = 0; j < m; j++) t[j] = f16 ? ferry_f16_to_f32(x[c + j]) : ferry_bf16_to_f32(x[c + j]);
    r->op->f32(t, t, m, r->p);
    for (int64_t j = 0; j < m; j++) y[c + j] = f16 ? ferry_f32_to_f16(t[j]) : ferry_f32_to_bf16(t[j]);
  }
}

static void unary_range(void *arg, int64_t b, int64_t e) {
  const urun *r = arg;
  const uop *op = r->op;
  int dt = r->dt, cls = ferry_ew_class(dt);
  if (dt == FERRY_F32) {
    op->f32((const float *)r->x + b, (float *)r->y + b, e - b, r->p);
  } else if (dt == FERRY_F16 || dt == FERRY_BF16) {
    half_range(r, b, e);
  } else if (dt == FERRY_F64) {
    const double *x = r->x;
    double *y = r->y;
    for (int64_t i = b; i < e; i++) y[i] = op->f64(x[i], r->p);
  } else if (cls == FERRY_EW_SINT && op->s64) {
    for (int64_t i = b; i < e; i++) ferry_store_i64(r->y, dt, i, op->s64(ferry_load_i64(r->x, dt, i), r->p));
  } else if (cls != FERRY_EW_SINT && op->u64) {
    for (int64_t i = b; i < e; i++)
      ferry_store_i64(r->y, dt, i, (int64_t)op->u64(ferry_ew_load_u64(r->x, dt, i), r->p));
  } else {
    for (int64_t i = b; i < e; i++) ferry_ew_store_sat(r->y, dt, i, op->f64(ferry_load_f64(r->x, dt, i), r->p));
  }
}

static int supports(const uop *op, int cls) {
  if (!(cls & op->classes)) return 0;
  if (cls == FERRY_EW_FLOAT) return op->f32 && op->f64;
  return (cls == FERRY_EW_SINT ? op->s64 != NULL : op->u64 != NULL) || op->f64;
}

/* Checks x's dtype against the op, shapes the output like x and runs. */
static int unary(ferry_kctx *k, const uop *op, const uparam *p) {
  if (k->n_in < 1 || !k->in[0].dtype) return ferry_kernel_fail(k, "missing input");
  const ferry_tview *x = &k->in[0];
  if (!supports(op, ferry_ew_class(x->dtype)))
    return ferry_kernel_fail(k, "input dtype %s is not supported", ferry_dtype_name(x->dtype));
  int rc = ferry_ew_output(k, x->dtype, &x, 1);
  if (rc) return rc;
  if (k->out[0].numel != x->numel) return ferry_kernel_fail(k, "output has %lld elements, input %lld",
                                                            (long long)k->out[0].numel, (long long)x->numel);
  urun r = {op, p, x->dtype, x->data, k->out[0].data};
  ferry_ew_parallel(k, x->numel, unary_range, &r);
  return FERRY_OK;
}

/* ---- float math: a float32 loop from a float expression of v, a double
 * function from a double expression of v ---- */

#define UNARY_FLOAT(Name, FEXPR, DEXPR)                                          \
  static void Name##_f32(const float *x, float *y, int64_t n, const uparam *p) { \
    (void)p;                                                                     \
    for (int64_t i = 0; i < n; i++) {                                            \
      float v = x[i];                                                            \
      y[i] = (FEXPR);                                                            \
    }                                                                            \
  }                                                                              \
  static double Name##_f64(double v, const uparam *p) {                          \
    (void)p;                                                                     \
    return (DEXPR);                                                              \
  }

/* a float op with a vectorized float32 loop (elementwise_vmath.c) */
#define UNARY_VMATH(Name, VFN, DEXPR)                                            \
  static void Name##_f32(const float *x, float *y, int64_t n, const uparam *p) { \
    (void)p;                                                                     \
    VFN(x, y, n);                                                                \
  }                                                                              \
  static double Name##_f64(double v, const uparam *p) {                          \
    (void)p;                                                                     \
    return (DEXPR);                                                              \
  }

/* the kernel of an op without attributes */
#define KERNEL(Name, S64, U64, CLASSES)                                      \
  static const uop OP_##Name = {Name##_f32, Name##_f64, S64, U64, CLASSES}; \
  int ferry_kernel_##Name(ferry_kctx *k) { return unary(k, &OP_##Name, NULL); }

#define F FERRY_EW_FLOAT
#define INTS (FERRY_EW_SINT | FERRY_EW_UINT)

UNARY_FLOAT(Acos, acosf(v), acos(v))
UNARY_FLOAT(Acosh, acoshf(v), acosh(v))
UNARY_FLOAT(Asin, asinf(v), asin(v))
UNARY_FLOAT(Asinh, asinhf(v), asinh(v))
UNARY_FLOAT(Atan, atanf(v), atan(v))
UNARY_FLOAT(Atanh, atanhf(v), atanh(v))
UNARY_FLOAT(Ceil, ceilf(v), ceil(v))
UNARY_FLOAT(Cos, cosf(v), cos(v))
UNARY_FLOAT(Cosh, coshf(v), cosh(v))
UNARY_FLOAT(Floor, floorf(v), floor(v))
UNARY_FLOAT(Log, logf(v), log(v))
UNARY_FLOAT(Reciprocal, 1.0f / v, 1.0 / v)
UNARY_FLOAT(Round, nearbyintf(v), nearbyint(v)) /* ties to even in the default rounding mode */
UNARY_FLOAT(Sin, sinf(v), sin(v))
UNARY_FLOAT(Sinh, sinhf(v), sinh(v))
UNARY_FLOAT(Sqrt, sqrtf(v), sqrt(v))
UNARY_FLOAT(Tan, tanf(v), tan(v))
UNARY_FLOAT(Softsign, v / (1.0f + fabsf(v)), v / (1.0 + fabs(v)))
UNARY_VMATH(Exp, ferry_vexp_f32, exp(v))
UNARY_VMATH(Tanh, ferry_vtanh_f32, tanh(v))
UNARY_VMATH(Sigmoid, ferry_vsigmoid_f32, 1.0 / (1.0 + exp(-v)))
UNARY_VMATH(Erf, ferry_verf_f32, erf(v))

KERNEL(Acos, NULL, NULL, F)
KERNEL(Acosh, NULL, NULL, F)
KERNEL(Asin, NULL, NULL, F)
KERNEL(Asinh, NULL, NULL, F)
KERNEL(Atan, NULL, NULL, F)
KERNEL(Atanh, NULL, NULL, F)
KERNEL(Ceil, NULL, NULL, F)
KERNEL(Cos, NULL, NULL, F)
KERNEL(Cosh, NULL, NULL, F)
KERNEL(Floor, NULL, NULL, F)
KERNEL(Log, NULL, NULL, F)
KERNEL(Reciprocal, NULL, NULL, F)
KERNEL(Round, NULL, NULL, F)
KERNEL(Sin, NULL, NULL, F)
KERNEL(Sinh, NULL, NULL, F)
KERNEL(Sqrt, NULL, NULL, F)
KERNEL(Tan, NULL, NULL, F)
KERNEL(Softsign, NULL, NULL, F)
KERNEL(Exp, NULL, NULL, F)
KERNEL(Tanh, NULL, NULL, F)
KERNEL(Sigmoid, NULL, NULL, F)
KERNEL(Erf, NULL, NULL, F | INTS) /* integers: erf in double, truncated */

/* ---- ops with integer semantics ---- */

/* Integer negation wraps (computed in uint64, no signed overflow). */
static int64_t neg_s64(int64_t v) { return (int64_t)(0 - (uint64_t)v); }

static int64_t Abs_s64(int64_t v, const uparam *p) { (void)p; return v < 0 ? neg_s64(v) : v; }
static uint64_t Abs_u64(uint64_t v, const uparam *p) { (void)p; return v; }
UNARY_FLOAT(Abs, fabsf(v), fabs(v))
KERNEL(Abs, Abs_s64, Abs_u64, F | INTS)

static int64_t Neg_s64(int64_t v, const uparam *p) { (void)p; return neg_s64(v); }
UNARY_FLOAT(Neg, -v, -v)
KERNEL(Neg, Neg_s64, NULL, F | FERRY_EW_SINT)

static int64_t Sign_s64(int64_t v, const uparam *p) { (void)p; return (v > 0) - (v < 0); }
static uint64_t Sign_u64(uint64_t v, const uparam *p) { (void)p; return v != 0; }
UNARY_FLOAT(Sign, v > 0 ? 1.0f : v < 0 ? -1.0f : v, v > 0 ? 1.0 : v < 0 ? -1.0 : v) /* keeps 0 and NaN */
KERNEL(Sign, Sign_s64, Sign_u64, F | INTS)

/* Relu keeps NaN (x < 0 ? 0 : x), as numpy's maximum does. */
static void Relu_f32(const float *x, float *y, int64_t n, const uparam *p) {
  (void)p;
  int64_t i = 0;
  const f32x4 zero = f32x4_splat(0.0f);
  for (; i + 4 <= n; i += 4) {
    f32x4 v = f32x4_load(x + i);
    f32x4_store(y + i, FERRY_VPMAX(v, zero)); /* v < 0 ? 0 : v */
  }
  for (; i < n; i++) y[i] = x[i] < 0 ? 0.0f : x[i];
}
static double Relu_f64(double v, const uparam *p) { (void)p; return v < 0 ? 0.0 : v; }
static int64_t Relu_s64(int64_t v, const uparam *p) { (void)p; return v < 0 ? 0 : v; }
KERNEL(Relu, Relu_s64, NULL, F | FERRY_EW_SINT)

static int64_t BitwiseNot_s64(int64_t v, const uparam *p) { (void)p; return ~v; }
static uint64_t BitwiseNot_u64(uint64_t v, const uparam *p) { (void)p; return ~v; }
static const uop OP_BitwiseNot = {NULL, NULL, BitwiseNot_s64, BitwiseNot_u64, INTS};
int ferry_kernel_BitwiseNot(ferry_kctx *k) { return unary(k, &OP_BitwiseNot, NULL); }

static uint64_t Not_u64(uint64_t v, const uparam *p) { (void)p; return !v; }
static const uop OP_Not = {NULL, NULL, NULL, Not_u64, FERRY_EW_BOOL};

/* Not on bool bytes directly (the generic integer loop loads and stores
 * each element through its dtype's switch). */
static void not_bool_range(void *arg, int64_t b, int64_t e) {
  const urun *r = arg;
  const uint8_t *x = r->x;
  uint8_t *y = r->y;
  for (int64_t i = b; i < e; i++) y[i] = !x[i];
}

int ferry_kernel_Not(ferry_kctx *k) {
  if (k->n_in < 1 || k->in[0].dtype != FERRY_BOOL) return unary(k, &OP_Not, NULL);
  const ferry_tview *x = &k->in[0];
  int rc = ferry_ew_output(k, x->dtype, &x, 1);
  if (rc) return rc;
  if (k->out[0].numel != x->numel) return unary(k, &OP_Not, NULL); /* its error */
  urun r = {&OP_Not, NULL, x->dtype, x->data, k->out[0].data};
  ferry_ew_parallel(k, x->numel, not_bool_range, &r);
  return FERRY_OK;
}

/* ---- activations with attributes (p->a, p->b, p->c) ---- */

#define KERNEL_P(Name, S64, U64, CLASSES, ...)                                \
  static const uop OP_##Name = {Name##_f32, Name##_f64, S64, U64, CLASSES}; \
  int ferry_kernel_##Name(ferry_kctx *k) {                                    \
    uparam p = {__VA_ARGS__};                                                 \
    return unary(k, &OP_##Name, &p);                                          \
  }
#define ATTR(name, dflt) ferry_attr_float(k->sctx, name, dflt)


/* The same float expression on four lanes (f32x4, v the lanes, P a copy
 * of the parameters so they stay in registers), scalar for the tail; the
 * vector form must give the scalar's bits (no contraction differences:
 * one multiply and one add, NaN kept by the selects). */
#define UNARY_FLOAT_V(Name, FEXPR, VEXPR, DEXPR)                                 \
  static void Name##_f32(const float *x, float *y, int64_t n, const uparam *p) { \
    const uparam P = p ? *p : (uparam){0}; /* NULL for ops without parameters */ \
    (void)P;                                                                     \
    int64_t i = 0;                                                               \
    for (; i + 4 <= n; i += 4) {                                                 \
      f32x4 v = f32x4_load(x + i);                                               \
      f32x4_store(y + i, (VEXPR));                                               \
    }                                                                            \
    for (; i < n; i++) {                                                         \
      float v = x[i];                                                            \
      y[i] = (FEXPR);                                                            \
    }                                                                            \
  }                                                                              \
  static double Name##_f64(double v, const uparam *p) {                          \
    (void)p;                                                                     \
    return (DEXPR);                                                              \
  }

/* (CLAMP01, vsel4 and vclamp01 are in elementwise.h) */

UNARY_FLOAT_V(HardSigmoid, CLAMP01(P.a * v + P.b), vclamp01(v * P.a + P.b),
              CLAMP01((double)p->a * v + (double)p->b))
KERNEL_P(HardSigmoid, NULL, NULL, F, .a = ATTR("alpha", 0.2f), .b = ATTR("beta", 0.5f))

UNARY_FLOAT_V(HardSwish, v * CLAMP01(v * (1.0f / 6.0f) + 0.5f), v * vclamp01(v * (1.0f / 6.0f) + 0.5f),
              v * CLAMP01(v / 6.0 + 0.5))
KERNEL(HardSwish, NULL, NULL, F)

UNARY_FLOAT(LeakyRelu, v < 0 ? p->a * v : v, v < 0 ? p->a * v : v)
KERNEL_P(LeakyRelu, NULL, NULL, F, .a = ATTR("alpha", 0.01f))

UNARY_FLOAT(ThresholdedRelu, v > p->a ? v : 0.0f, v > p->a ? v : 0.0)
KERNEL_P(ThresholdedRelu, NULL, NULL, F, .a = ATTR("alpha", 1.0f))

UNARY_FLOAT(Elu, v < 0 ? p->a * expm1f(v) : v, v < 0 ? p->a * expm1(v) : v)
KERNEL_P(Elu, NULL, NULL, F, .a = ATTR("alpha", 1.0f))

UNARY_FLOAT(Selu, v > 0 ? p->c * v : p->c * p->a * expm1f(v), v > 0 ? p->c * v : (double)p->c * p->a * expm1(v))
KERNEL_P(Selu, NULL, NULL, F, .a = ATTR("alpha", 1.67326319217681884765625f),
         .c = ATTR("gamma", 1.05070102214813232421875f))

UNARY_FLOAT(Celu, v > 0 ? v : p->a * expm1f(v / p->a), v > 0 ? v : p->a * expm1(v / p->a))
KERNEL_P(Celu, NULL, NULL, F, .a = ATTR("alpha", 1.0f))

/* log(1 + e^v) without overflow */
static float softplusf(float v) { return v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v)); }
static double softplus(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }
UNARY_FLOAT(Softplus, softplusf(v), softplus(v))
KERNEL(Softplus, NULL, NULL, F)

UNARY_FLOAT(Mish, v * tanhf(softplusf(v)), v * tanh(softplus(v)))
KERNEL(Mish, NULL, NULL, F)

/* Shrink also takes integers: computed in double, saturated back. */
UNARY_FLOAT(Shrink, v < -p->c ? v + p->b : v > p->c ? v - p->b : 0.0f,
            v < -p->c ? v + p->b : v > p->c ? v - p->b : 0.0)
KERNEL_P(Shrink, NULL, NULL, F | INTS, .b = ATTR("bias", 0.0f), .c = ATTR("lambd", 0.5f))

/* ---- Clip: bounds from attributes (before opset 11) or inputs 1, 2 ---- */

/* v clamped to [lo, hi], NaN kept; hi wins when lo > hi (numpy's clip) */
#define CLAMP(v, lo, hi) ((v) < (lo) ? ((lo) > (hi) ? (hi) : (lo)) : (v) > (hi) ? (hi) : (v))
/* lanes: above hi -> hi, then below lo -> min(lo, hi) (CLAMP's order) */
FERRY_VINLINE f32x4 vclip(f32x4 v, float lo, float hi) {
  f32x4 l = f32x4_splat(lo > hi ? hi : lo), h = f32x4_splat(hi);
  f32x4 r = vsel4((i32x4)(v > h), h, v);
  return vsel4((i32x4)(v < f32x4_splat(lo)), l, r);
}
UNARY_FLOAT_V(Clip, CLAMP(v, P.a, P.b), vclip(v, P.a, P.b), CLAMP(v, p->da, p->db))
static int64_t Clip_s64(int64_t v, const uparam *p) { return CLAMP(v, p->ilo, p->ihi); }
static uint64_t Clip_u64(uint64_t v, const uparam *p) { return CLAMP(v, p->ulo, p->uhi); }
static const uop OP_Clip = {Clip_f32, Clip_f64, Clip_s64, Clip_u64, F | INTS};

/* Reads bound input i (1 min, 2 max) into p when present; 0 or error. */
static int clip_bound(ferry_kctx *k, int i, uparam *p) {
  const ferry_tview *t = i < k->n_in ? &k->in[i] : NULL;
  if (!t || !t->dtype || !t->data) return FERRY_OK;
  if (t->numel != 1) return ferry_kernel_fail(k, "Clip bound %d has %lld elements, expected 1", i, (long long)t->numel);
  if (t->dtype != k->in[0].dtype)
    return ferry_kernel_fail(k, "Clip bound %d is %s, input is %s", i, ferry_dtype_name(t->dtype),
                             ferry_dtype_name(k->in[0].dtype));
  double d = ferry_load_f64(t->data, t->dtype, 0);
  int64_t s = ferry_load_i64(t->data, t->dtype, 0);
  uint64_t u = ferry_ew_load_u64(t->data, t->dtype, 0);
  if (i == 1) p->a = (float)d, p->da = d, p->ilo = s, p->ulo = u;
  else p->b = (float)d, p->db = d, p->ihi = s, p->uhi = u;
  return FERRY_OK;
}

int ferry_kernel_Clip(ferry_kctx *k) {
  uparam p = {-INFINITY, INFINITY, 0, -INFINITY, INFINITY, INT64_MIN, INT64_MAX, 0, UINT64_MAX};
  if (k->opset < 11) {
    p.a = ATTR("min", -FLT_MAX), p.b = ATTR("max", FLT_MAX);
    p.da = p.a, p.db = p.b;
  } else {
    int rc = clip_bound(k, 1, &p);
    if (!rc) rc = clip_bound(k, 2, &p);
    if (rc) return rc;
  }
  return unary(k, &OP_Clip, &p);
}

/* ---- Gelu (com.microsoft; ai.onnx from opset 20 with `approximate`) ---- */

static void Gelu_f32(const float *x, float *y, int64_t n, const uparam *p) {
  (void)p;
  ferry_vgelu_f32(x, y, n);
}
/* x/2 erfc(-x/sqrt 2): no cancellation for negative x */
static double Gelu_f64(double v, const uparam *p) {
  (void)p;
  return 0.5 * v * erfc(-v * 0.70710678118654752440);
}
static const uop OP_Gelu = {Gelu_f32, Gelu_f64, NULL, NULL, F};

static void FastGelu_f32(const float *x, float *y, int64_t n, const uparam *p) {
  (void)p;
  ferry_vfastgelu_f32(x, y, n);
}
/* x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
static double FastGelu_f64(double v, const uparam *p) {
  (void)p;
  if (v < -20) return -0.0;
  return v / (1.0 + exp(-v * (1.5957691216057308 + 0.0713548162726009 * v * v)));
}
static const uop OP_FastGelu = {FastGelu_f32, FastGelu_f64, NULL, NULL, F};

int ferry_kernel_Gelu(ferry_kctx *k) {
  const char *approx = ferry_attr_str(k->sctx, "approximate", "none");
  if (strcmp(approx, "tanh") == 0) return unary(k, &OP_FastGelu, NULL);
  if (strcmp(approx, "none") != 0) return ferry_kernel_fail(k, "approximate '%s' is not none or tanh", approx);
  return unary(k, &OP_Gelu, NULL);
}

/* FastGelu(x, bias): bias (optional) broadcasts to x and is added first;
 * float32 rows add then apply the vector gelu while still in cache. */
typedef struct biasrun {
  int dt;
  const void *x, *bias;
  void *y;
  ferry_ew_plan plan;
} biasrun;

static void bias_row(void *arg, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  const biasrun *r = arg;
  if (r->dt == FERRY_F32) {
    const float *a = (const float *)r->x + off[0], *b = (const float *)r->bias + off[1];
    float *o = (float *)r->y + y;
    if (st[0] && st[1])
      for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i];
    else
      for (int64_t i = 0; i < n; i++) o[i] = a[i * st[0]] + b[i * st[1]];
    ferry_vfastgelu_f32(o, o, n);
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = ferry_load_f64(r->x, r->dt, off[0] + i * st[0]) + ferry_load_f64(r->bias, r->dt, off[1] + i * st[1]);
    ferry_store_f64(r->y, r->dt, y + i, FastGelu_f64(v, NULL));
  }
}

static void bias_range(void *arg, int64_t b, int64_t e) {
  biasrun *r = arg;
  ferry_ew_plan_rows(&r->plan, b, e, bias_row, r);
}

int ferry_kernel_FastGelu(ferry_kctx *k) {
  if (k->n_in < 2 || !k->in[1].dtype) return unary(k, &OP_FastGelu, NULL);
  const ferry_tview *in[2] = {&k->in[0], &k->in[1]};
  if (ferry_ew_class(in[0]->dtype) != FERRY_EW_FLOAT || in[1]->dtype != in[0]->dtype)
    return ferry_kernel_fail(k, "FastGelu takes float tensors of one dtype, not %s and %s",
                             ferry_dtype_name(in[0]->dtype), ferry_dtype_name(in[1]->dtype));
  int rc = ferry_ew_output(k, in[0]->dtype, in, 2);
  if (rc) return rc;
  biasrun r = {in[0]->dtype, in[0]->data, in[1]->data, k->out[0].data, {0}};
  rc = ferry_ew_plan_init(k, &r.plan, &k->out[0], in, 2);
  if (rc) return rc;
  ferry_ew_parallel(k, k->out[0].numel, bias_range, &r);
  return FERRY_OK;
}

/* ---- IsInf, IsNaN: float in, bool out ---- */

typedef struct boolrun {
  int dt, neg, pos;
  const void *x;
  uint8_t *y;
} boolrun;

static void isinf_range(void *arg, int64_t b, int64_t e) {
  const boolrun *r = arg;
  for (int64_t i = b; i < e; i++) {
    double v = ferry_load_f64(r->x, r->dt, i);
    r->y[i] = isinf(v) && (v > 0 ? r->pos : r->neg);
  }
}

static void isnan_range(void *arg, int64_t b, int64_t e) {
  const boolrun *r = arg;
  if (r->dt == FERRY_F32) {
    const float *x = r->x;
    for (int64_t i = b; i < e; i++) r->y[i] = x[i] != x[i];
    return;
  }
  for (int64_t i = b; i < e; i++) r->y[i] = isnan(ferry_load_f64(r->x, r->dt, i));
}

static int float_to_bool(ferry_kctx *k, void (*fn)(void *, int64_t, int64_t), int neg, int pos) {
  if (k->n_in < 1 || !k->in[0].dtype) return ferry_kernel_fail(k, "missing input");
  const ferry_tview *x = &k->in[0];
  if (ferry_ew_class(x->dtype) != FERRY_EW_FLOAT)
    return ferry_kernel_fail(k, "input dtype %s is not supported", ferry_dtype_name(x->dtype));
  int rc = ferry_ew_output(k, FERRY_BOOL, &x, 1);
  if (rc) return rc;
  if (k->out[0].numel != x->numel) return ferry_kernel_fail(k, "output size differs from the input's");
  boolrun r = {x->dtype, neg, pos, x->data, k->out[0].data};
  ferry_ew_parallel(k, x->numel, fn, &r);
  return FERRY_OK;
}

int ferry_kernel_IsInf(ferry_kctx *k) {
  return float_to_bool(k, isinf_range, (int)ferry_attr_int(k->sctx, "detect_negative", 1),
                       (int)ferry_attr_int(k->sctx, "detect_positive", 1));
}

int ferry_kernel_IsNaN(ferry_kctx *k) { return float_to_bool(k, isnan_range, 0, 0); }
