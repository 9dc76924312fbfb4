/*
 * elementwise_binary.c - two-input elementwise ops with numpy broadcasting
 * (arithmetic, comparisons, logic, bitwise, Mod, BitShift, PRelu), Pow
 * with its mixed dtypes, the variadic Sum/Mean/Max/Min, and Where.
 *
 * A `bop` describes an op per dtype class: float32 rows (vectorized with
 * simd.h; float16/bfloat16 use them through converted blocks), a double
 * function (float64, and float ops without float32 rows), and int64 /
 * uint64 functions for integers and bool, whose results wrap around
 * (computed in uint64: no signed overflow). binary() shapes and checks the
 * output, plans the broadcast (elementwise_common.c: same-shape and scalar
 * operands become one row with stride 1 or 0) and runs the rows in
 * parallel chunks. Variadic ops fold their inputs pairwise into the
 * output, in place.
 */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "simd.h"
#include "util.h"

typedef struct bparam {
  int fmod;  /* Mod: C fmod semantics (sign of the dividend) */
  int left;  /* BitShift: direction */
} bparam;

/* rows: y[i] = f(a[i * sa], b[i * sb]) for i < n, strides 0 or 1 */
typedef void (*f32row)(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n);
typedef void (*cmprow)(const float *a, int64_t sa, const float *b, int64_t sb, uint8_t *y, int64_t n);

typedef struct bop {
  f32row f32;   /* float32 rows; NULL: floats through f64 */
  cmprow cmp;   /* float32 rows with a bool output (to_bool ops) */
  double (*f64)(double a, double b, const bparam *p);
  int64_t (*s64)(int64_t a, int64_t b, const bparam *p);
  uint64_t (*u64)(uint64_t a, uint64_t b, const bparam *p); /* unsigned and bool */
  unsigned classes; /* FERRY_EW_* the op accepts */
  int to_bool;      /* the output is bool */
} bop;

/* ---- float32 rows ---- */

static inline f32x4 sel4(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)(((i32x4)a & m) | ((i32x4)b & ~m)); }

/* A row function from Name_v (vector) and Name_s (scalar), with the
 * stride cases split so each inner loop is a plain vector loop. */
#define F32_ROW(Name)                                                                                   \
  static void Name##_row(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n) { \
    int64_t i = 0;                                                                                      \
    if (sa && sb) {                                                                                     \
      for (; i + 8 <= n; i += 8) {                                                                      \
        f32x4 r0 = Name##_v(f32x4_load(a + i), f32x4_load(b + i));                                      \
        f32x4 r1 = Name##_v(f32x4_load(a + i + 4), f32x4_load(b + i + 4));                              \
        f32x4_store(y + i, r0);                                                                         \
        f32x4_store(y + i + 4, r1);                                                                     \
      }                                                                                                 \
      for (; i < n; i++) y[i] = Name##_s(a[i], b[i]);                                                   \
    } else if (sa) {                                                                                    \
      const float s = b[0];                                                                             \
      const f32x4 vs = f32x4_splat(s);                                                                  \
      for (; i + 8 <= n; i += 8) {                                                                      \
        f32x4 r0 = Name##_v(f32x4_load(a + i), vs), r1 = Name##_v(f32x4_load(a + i + 4), vs);           \
        f32x4_store(y + i, r0);                                                                         \
        f32x4_store(y + i + 4, r1);                                                                     \
      }                                                                                                 \
      for (; i < n; i++) y[i] = Name##_s(a[i], s);                                                      \
    } else if (sb) {                                                                                    \
      const float s = a[0];                                                                             \
      const f32x4 vs = f32x4_splat(s);                                                                  \
      for (; i + 8 <= n; i += 8) {                                                                      \
        f32x4 r0 = Name##_v(vs, f32x4_load(b + i)), r1 = Name##_v(vs, f32x4_load(b + i + 4));           \
        f32x4_store(y + i, r0);                                                                         \
        f32x4_store(y + i + 4, r1);                                                                     \
      }                                                                                                 \
      for (; i < n; i++) y[i] = Name##_s(s, b[i]);                                                      \
    } else {                                                                                            \
      const float r = Name##_s(a[0], b[0]);                                                             \
      for (; i < n; i++) y[i] = r;                                                                      \
    }                                                                                                   \
  }

static inline f32x4 add_v(f32x4 a, f32x4 b) { return a + b; }
static inline float add_s(float a, float b) { return a + b; }
static inline f32x4 sub_v(f32x4 a, f32x4 b) { return a - b; }
static inline float sub_s(float a, float b) { return a - b; }
static inline f32x4 mul_v(f32x4 a, f32x4 b) { return a * b; }
static inline float mul_s(float a, float b) { return a * b; }
static inline f32x4 div_v(f32x4 a, f32x4 b) { return a / b; }
static inline float div_s(float a, float b) { return a / b; }
/* Max and Min propagate NaN (numpy's maximum, minimum) */
static inline f32x4 max_v(f32x4 a, f32x4 b) { return sel4((i32x4)(a > b) | (i32x4)(a != a), a, b); }
static inline float max_s(float a, float b) { return a > b || a != a ? a : b; }
static inline f32x4 min_v(f32x4 a, f32x4 b) { return sel4((i32x4)(a < b) | (i32x4)(a != a), a, b); }
static inline float min_s(float a, float b) { return a < b || a != a ? a : b; }
static inline f32x4 prelu_v(f32x4 x, f32x4 s) { return sel4((i32x4)(x < f32x4_splat(0.0f)), x * s, x); }
static inline float prelu_s(float x, float s) { return x < 0 ? x * s : x; }

F32_ROW(add)
F32_ROW(sub)
F32_ROW(mul)
F32_ROW(div)
F32_ROW(max)
F32_ROW(min)
F32_ROW(prelu)

#define CMP_ROW(Name, OP)                                                                                 \
  static void Name##_cmp(const float *a, int64_t sa, const float *b, int64_t sb, uint8_t *y, int64_t n) { \
    if (sa && sb)                                                                                         \
      for (int64_t i = 0; i < n; i++) y[i] = a[i] OP b[i];                                                \
    else                                                                                                  \
      for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] OP b[i * sb];                                      \
  }

CMP_ROW(eq, ==)
CMP_ROW(lt, <)
CMP_ROW(le, <=)
CMP_ROW(gt, >)
CMP_ROW(ge, >=)

/* ---- scalar functions per class ---- */

#define U(x) ((uint64_t)(x))
#define WRAP(expr) ((int64_t)(expr)) /* uint64 -> int64: wraps (gcc, clang) */
#define FN2(Name, DEXPR, SEXPR, UEXPR)                                                   \
  static double Name##_f64(double a, double b, const bparam *p) {                        \
    (void)p, (void)a, (void)b;                                                           \
    return (DEXPR);                                                                      \
  }                                                                                      \
  static int64_t Name##_s64(int64_t a, int64_t b, const bparam *p) {                     \
    (void)p, (void)a, (void)b;                                                           \
    return (SEXPR);                                                                      \
  }                                                                                      \
  static uint64_t Name##_u64(uint64_t a, uint64_t b, const bparam *p) {                  \
    (void)p, (void)a, (void)b;                                                           \
    return (UEXPR);                                                                      \
  }

FN2(add, a + b, WRAP(U(a) + U(b)), a + b)
FN2(sub, a - b, WRAP(U(a) - U(b)), a - b)
FN2(mul, a * b, WRAP(U(a) * U(b)), a * b)
/* integer division truncates (C, onnxruntime); by 0 gives 0; MIN / -1 wraps */
FN2(div, a / b, b == 0 ? 0 : b == -1 ? WRAP(0 - U(a)) : a / b, b == 0 ? 0 : a / b)
FN2(max, a > b || a != a ? a : b, a > b ? a : b, a > b ? a : b)
FN2(min, a < b || a != a ? a : b, a < b ? a : b, a < b ? a : b)
FN2(prelu, a < 0 ? a * b : a, a < 0 ? WRAP(U(a) * U(b)) : a, a)
FN2(eq, a == b, a == b, a == b)
FN2(lt, a < b, a < b, a < b)
FN2(le, a <= b, a <= b, a <= b)
FN2(gt, a > b, a > b, a > b)
FN2(ge, a >= b, a >= b, a >= b)
FN2(and, a != 0 && b != 0, a && b, a && b)
FN2(or, a != 0 || b != 0, a || b, a || b)
FN2(xor, (a != 0) != (b != 0), !a != !b, !a != !b)
FN2(band, 0, a & b, a & b)
FN2(bor, 0, a | b, a | b)
FN2(bxor, 0, a ^ b, a ^ b)
FN2(shift, 0, 0, b >= 64 ? 0 : p->left ? a << b : a >> b)

/* Mod: fmod = 1 takes the dividend's sign (C), 0 the divisor's (Python);
 * integer modulo by 0 gives 0. */
static double mod_f64(double a, double b, const bparam *p) {
  double r = fmod(a, b);
  if (!p->fmod && r != 0 && (r < 0) != (b < 0)) r += b;
  return r;
}
static int64_t mod_s64(int64_t a, int64_t b, const bparam *p) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  if (!p->fmod && r != 0 && (r < 0) != (b < 0)) r += b;
  return r;
}
static uint64_t mod_u64(uint64_t a, uint64_t b, const bparam *p) {
  (void)p;
  return b ? a % b : 0;
}

#define F FERRY_EW_FLOAT
#define INTS (FERRY_EW_SINT | FERRY_EW_UINT)
#define ALL (F | INTS | FERRY_EW_BOOL)

static const bop OP_ADD = {add_row, NULL, add_f64, add_s64, add_u64, F | INTS, 0};
static const bop OP_SUB = {sub_row, NULL, sub_f64, sub_s64, sub_u64, F | INTS, 0};
static const bop OP_MUL = {mul_row, NULL, mul_f64, mul_s64, mul_u64, F | INTS, 0};
static const bop OP_DIV = {div_row, NULL, div_f64, div_s64, div_u64, F | INTS, 0};
static const bop OP_MAX = {max_row, NULL, max_f64, max_s64, max_u64, F | INTS, 0};
static const bop OP_MIN = {min_row, NULL, min_f64, min_s64, min_u64, F | INTS, 0};
static const bop OP_PRELU = {prelu_row, NULL, prelu_f64, prelu_s64, prelu_u64, F | INTS, 0};
static const bop OP_MOD = {NULL, NULL, mod_f64, mod_s64, mod_u64, F | INTS, 0};
static const bop OP_EQ = {NULL, eq_cmp, eq_f64, eq_s64, eq_u64, ALL, 1};
static const bop OP_LT = {NULL, lt_cmp, lt_f64, lt_s64, lt_u64, ALL, 1};
static const bop OP_LE = {NULL, le_cmp, le_f64, le_s64, le_u64, ALL, 1};
static const bop OP_GT = {NULL, gt_cmp, gt_f64, gt_s64, gt_u64, ALL, 1};
static const bop OP_GE = {NULL, ge_cmp, ge_f64, ge_s64, ge_u64, ALL, 1};
static const bop OP_AND = {NULL, NULL, and_f64, and_s64, and_u64, FERRY_EW_BOOL, 1};
static const bop OP_OR = {NULL, NULL, or_f64, or_s64, or_u64, FERRY_EW_BOOL, 1};
static const bop OP_XOR = {NULL, NULL, xor_f64, xor_s64, xor_u64, FERRY_EW_BOOL, 1};
static const bop OP_BAND = {NULL, NULL, band_f64, band_s64, band_u64, INTS, 0};
static const bop OP_BOR = {NULL, NULL, bor_f64, bor_s64, bor_u64, INTS, 0};
static const bop OP_BXOR = {NULL, NULL, bxor_f64, bxor_s64, bxor_u64, INTS, 0};
static const bop OP_SHIFT = {NULL, NULL, shift_f64, shift_s64, shift_u64, FERRY_EW_UINT, 0};

/* ---- running a bop over a plan ---- */

typedef struct brun {
  const bop *op;
  const bparam *p;
  int dt;
  const void *a, *b;
  void *y;
  ferry_ew_plan plan;
} brun;

#define HALF_BLOCK 256

static float half_at(const void *data, int dt, int64_t i) {
  uint16_t h = ((const uint16_t *)data)[i];
  return dt == FERRY_F16 ? ferry_f16_to_f32(h) : ferry_bf16_to_f32(h);
}

/* float16 / bfloat16 through the float32 rows, a block at a time */
static void half_row(const brun *r, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  float ta[HALF_BLOCK], tb[HALF_BLOCK];
  for (int64_t c = 0; c < n; c += HALF_BLOCK) {
    int64_t m = n - c < HALF_BLOCK ? n - c : HALF_BLOCK;
    for (int64_t j = 0; j < m; j++) {
      ta[j] = half_at(r->a, r->dt, off[0] + (c + j) * st[0]);
      tb[j] = half_at(r->b, r->dt, off[1] + (c + j) * st[1]);
    }
    if (r->op->to_bool) {
      r->op->cmp(ta, 1, tb, 1, (uint8_t *)r->y + y + c, m);
      continue;
    }
    r->op->f32(ta, 1, tb, 1, ta, m);
    uint16_t *o = (uint16_t *)r->y + y + c;
    for (int64_t j = 0; j < m; j++) o[j] = r->dt == FERRY_F16 ? ferry_f32_to_f16(ta[j]) : ferry_f32_to_bf16(ta[j]);
  }
}

static void generic_row(const brun *r, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  const bop *op = r->op;
  int dt = r->dt, cls = ferry_ew_class(dt), odt = op->to_bool ? FERRY_BOOL : dt;
  int64_t ia = off[0], ib = off[1];
  for (int64_t i = 0; i < n; i++, ia += st[0], ib += st[1]) {
    if (cls == FERRY_EW_FLOAT) {
      double v = op->f64(ferry_load_f64(r->a, dt, ia), ferry_load_f64(r->b, dt, ib), r->p);
      if (op->to_bool) ((uint8_t *)r->y)[y + i] = v != 0;
      else ferry_store_f64(r->y, dt, y + i, v);
    } else if (cls == FERRY_EW_SINT) {
      ferry_store_i64(r->y, odt, y + i, op->s64(ferry_load_i64(r->a, dt, ia), ferry_load_i64(r->b, dt, ib), r->p));
    } else {
      uint64_t v = op->u64(ferry_ew_load_u64(r->a, dt, ia), ferry_ew_load_u64(r->b, dt, ib), r->p);
      ferry_store_i64(r->y, odt, y + i, (int64_t)v);
    }
  }
}

static void bop_row(void *arg, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  const brun *r = arg;
  const bop *op = r->op;
  int has_f32 = op->to_bool ? op->cmp != NULL : op->f32 != NULL;
  if (r->dt == FERRY_F32 && has_f32) {
    const float *a = (const float *)r->a + off[0], *b = (const float *)r->b + off[1];
    if (op->to_bool) op->cmp(a, st[0], b, st[1], (uint8_t *)r->y + y, n);
    else op->f32(a, st[0], b, st[1], (float *)r->y + y, n);
  } else if ((r->dt == FERRY_F16 || r->dt == FERRY_BF16) && has_f32) {
    half_row(r, y, off, st, n);
  } else {
    generic_row(r, y, off, st, n);
  }
}

static void bop_range(void *arg, int64_t b, int64_t e) {
  brun *r = arg;
  ferry_ew_plan_rows(&r->plan, b, e, bop_row, r);
}

/* y = op(a, b) into out[0] (already shaped); y may be a. */
static int run_bop(ferry_kctx *k, const bop *op, const bparam *p, const ferry_tview *a, const ferry_tview *b) {
  const ferry_tview *in[2] = {a, b};
  brun r = {op, p, a->dtype, a->data, b->data, k->out[0].data, {0}};
  int rc = ferry_ew_plan_init(k, &r.plan, &k->out[0], in, 2);
  if (rc) return rc;
  ferry_ew_parallel(k, k->out[0].numel, bop_range, &r);
  return FERRY_OK;
}

static int check_dtypes(ferry_kctx *k, const bop *op, const ferry_tview *a, const ferry_tview *b) {
  if (!a->dtype || !b->dtype) return ferry_kernel_fail(k, "missing input");
  if (a->dtype != b->dtype)
    return ferry_kernel_fail(k, "inputs are %s and %s, expected one dtype", ferry_dtype_name(a->dtype),
                             ferry_dtype_name(b->dtype));
  if (!(ferry_ew_class(a->dtype) & op->classes))
    return ferry_kernel_fail(k, "input dtype %s is not supported", ferry_dtype_name(a->dtype));
  return FERRY_OK;
}

/* Before opset 7, broadcast=1 with `axis` aligns B with A's dims from
 * axis on: B's view gets trailing 1s. */
static void legacy_broadcast(ferry_kctx *k, const ferry_tview *a, ferry_tview *b) {
  if (k->opset >= 7 || !ferry_attr_int(k->sctx, "broadcast", 0) || !ferry_attr_has(k->sctx, "axis")) return;
  int64_t axis = ferry_attr_int(k->sctx, "axis", 0);
  if (axis < 0) axis += a->rank;
  int rank = (int)(a->rank - axis);
  if (axis < 0 || rank < b->rank || rank > FERRY_MAX_RANK) return;
  for (int i = b->rank; i < rank; i++) b->dims[i] = 1;
  b->rank = rank;
}

static int binary(ferry_kctx *k, const bop *op, const bparam *p) {
  if (k->n_in < 2) return ferry_kernel_fail(k, "needs two inputs");
  const ferry_tview *a = &k->in[0];
  ferry_tview b = k->in[1];
  int rc = check_dtypes(k, op, a, &b);
  if (rc) return rc;
  legacy_broadcast(k, a, &b);
  const ferry_tview *in[2] = {a, &b};
  rc = ferry_ew_output(k, op->to_bool ? FERRY_BOOL : a->dtype, in, 2);
  return rc ? rc : run_bop(k, op, p, a, &b);
}

#define BINARY(Name, OP) \
  int ferry_kernel_##Name(ferry_kctx *k) { return binary(k, &OP, &(bparam){0, 0}); }

BINARY(Add, OP_ADD)
BINARY(Sub, OP_SUB)
BINARY(Mul, OP_MUL)
BINARY(Div, OP_DIV)
BINARY(Equal, OP_EQ)
BINARY(Less, OP_LT)
BINARY(LessOrEqual, OP_LE)
BINARY(Greater, OP_GT)
BINARY(GreaterOrEqual, OP_GE)
BINARY(And, OP_AND)
BINARY(Or, OP_OR)
BINARY(Xor, OP_XOR)
BINARY(BitwiseAnd, OP_BAND)
BINARY(BitwiseOr, OP_BOR)
BINARY(BitwiseXor, OP_BXOR)

int ferry_kernel_Mod(ferry_kctx *k) {
  bparam p = {(int)ferry_attr_int(k->sctx, "fmod", 0), 0};
  return binary(k, &OP_MOD, &p);
}

int ferry_kernel_BitShift(ferry_kctx *k) {
  const char *dir = ferry_attr_str(k->sctx, "direction", "");
  if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0)
    return ferry_kernel_fail(k, "direction is not LEFT or RIGHT");
  bparam p = {0, strcmp(dir, "LEFT") == 0};
  return binary(k, &OP_SHIFT, &p);
}

/* PRelu: slope broadcasts to X (one way); the output is X's shape. */
int ferry_kernel_PRelu(ferry_kctx *k) {
  int rc = binary(k, &OP_PRELU, &(bparam){0, 0});
  if (!rc && k->out[0].numel != k->in[0].numel) return ferry_kernel_fail(k, "slope is larger than X");
  return rc;
}

/* ---- Sum, Mean, Max, Min: inputs folded pairwise into the output ---- */

static void divide_range(void *arg, int64_t b, int64_t e) {
  const ferry_tview *t = ((void **)arg)[0];
  double n = *(const double *)((void **)arg)[1];
  if (t->dtype == FERRY_F32) {
    float *y = t->data, s = (float)n;
    for (int64_t i = b; i < e; i++) y[i] /= s;
    return;
  }
  for (int64_t i = b; i < e; i++) ferry_store_f64(t->data, t->dtype, i, ferry_load_f64(t->data, t->dtype, i) / n);
}

static int variadic(ferry_kctx *k, const bop *op, int mean) {
  int n = k->n_in;
  if (n < 1) return ferry_kernel_fail(k, "needs at least one input");
  const ferry_tview *in[FERRY_MAX_RANK * 4];
  if (n > (int)(sizeof in / sizeof *in)) return ferry_kernel_fail(k, "%d inputs", n);
  for (int i = 0; i < n; i++) {
    int rc = check_dtypes(k, op, &k->in[0], &k->in[i]);
    if (rc) return rc;
    in[i] = &k->in[i];
  }
  if (mean && ferry_ew_class(in[0]->dtype) != FERRY_EW_FLOAT)
    return ferry_kernel_fail(k, "input dtype %s is not supported", ferry_dtype_name(in[0]->dtype));
  int rc = ferry_ew_output(k, in[0]->dtype, in, n);
  if (rc) return rc;
  ferry_tview *out = &k->out[0];
  if (n == 1) { /* the output is the input (same shape) */
    if (out->numel != in[0]->numel) return ferry_kernel_fail(k, "output size differs from the input's");
    if (out->numel) memcpy(out->data, in[0]->data, (size_t)out->numel * (size_t)ferry_dtype_size(out->dtype));
    return FERRY_OK;
  }
  bparam p = {0, 0};
  ferry_tview acc = *out;
  rc = run_bop(k, op, &p, in[0], in[1]);
  for (int i = 2; i < n && !rc; i++) rc = run_bop(k, op, &p, &acc, in[i]);
  if (rc || !mean) return rc;
  double count = n;
  void *arg[2] = {out, &count};
  ferry_ew_parallel(k, out->numel, divide_range, arg);
  return FERRY_OK;
}

int ferry_kernel_Sum(ferry_kctx *k) { return variadic(k, &OP_ADD, 0); }
int ferry_kernel_Mean(ferry_kctx *k) { return variadic(k, &OP_ADD, 1); }
int ferry_kernel_Max(ferry_kctx *k) { return variadic(k, &OP_MAX, 0); }
int ferry_kernel_Min(ferry_kctx *k) { return variadic(k, &OP_MIN, 0); }

/* ---- Pow: base and exponent dtypes may differ; the output is the base's ---- */

typedef struct powrun {
  int bt, et; /* base and exponent dtypes */
  const void *a, *b;
  void *y;
  ferry_ew_plan plan;
} powrun;

/* a^e in integers, wrapping; negative exponents truncate 1/a^|e| */
static uint64_t ipow(uint64_t a, int64_t e, int is_signed) {
  if (e < 0) {
    if (a == 1) return 1;
    if (is_signed && a == UINT64_MAX) return (e & 1) ? UINT64_MAX : 1; /* (-1)^e */
    return 0;
  }
  uint64_t r = 1, u = (uint64_t)e;
  for (; u; u >>= 1, a *= a)
    if (u & 1) r *= a;
  return r;
}

static void pow_f32_row(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n) {
  if (!sb && b[0] == 2.0f) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] * a[i * sa];
    return;
  }
  for (int64_t i = 0; i < n; i++) y[i] = powf(a[i * sa], b[i * sb]);
}

static void pow_row(void *arg, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  const powrun *r = arg;
  int bt = r->bt, et = r->et, bcls = ferry_ew_class(bt), ecls = ferry_ew_class(et);
  if (bt == FERRY_F32 && et == FERRY_F32) {
    pow_f32_row((const float *)r->a + off[0], st[0], (const float *)r->b + off[1], st[1], (float *)r->y + y, n);
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = off[0] + i * st[0], ib = off[1] + i * st[1];
    if (bcls == FERRY_EW_FLOAT) {
      ferry_store_f64(r->y, bt, y + i, pow(ferry_load_f64(r->a, bt, ia), ferry_load_f64(r->b, et, ib)));
    } else if (ecls == FERRY_EW_FLOAT) {
      ferry_ew_store_sat(r->y, bt, y + i, pow(ferry_load_f64(r->a, bt, ia), ferry_load_f64(r->b, et, ib)));
    } else {
      uint64_t e = ferry_ew_load_u64(r->b, et, ib);
      int64_t ex = ecls == FERRY_EW_SINT ? (int64_t)e : e > INT64_MAX ? INT64_MAX : (int64_t)e;
      uint64_t base = bcls == FERRY_EW_SINT ? (uint64_t)ferry_load_i64(r->a, bt, ia) : ferry_ew_load_u64(r->a, bt, ia);
      ferry_store_i64(r->y, bt, y + i, (int64_t)ipow(base, ex, bcls == FERRY_EW_SINT));
    }
  }
}

static void pow_range(void *arg, int64_t b, int64_t e) {
  powrun *r = arg;
  ferry_ew_plan_rows(&r->plan, b, e, pow_row, r);
}

int ferry_kernel_Pow(ferry_kctx *k) {
  if (k->n_in < 2 || !k->in[0].dtype || !k->in[1].dtype) return ferry_kernel_fail(k, "needs two inputs");
  const ferry_tview *a = &k->in[0];
  ferry_tview b = k->in[1];
  int ac = ferry_ew_class(a->dtype), bc = ferry_ew_class(b.dtype);
  if (!(ac & (F | INTS)) || !(bc & (F | INTS)))
    return ferry_kernel_fail(k, "dtypes %s ^ %s are not supported", ferry_dtype_name(a->dtype),
                             ferry_dtype_name(b.dtype));
  legacy_broadcast(k, a, &b);
  const ferry_tview *in[2] = {a, &b};
  int rc = ferry_ew_output(k, a->dtype, in, 2);
  if (rc) return rc;
  powrun r = {a->dtype, b.dtype, a->data, b.data, k->out[0].data, {0}};
  rc = ferry_ew_plan_init(k, &r.plan, &k->out[0], in, 2);
  if (rc) return rc;
  ferry_ew_parallel(k, k->out[0].numel, pow_range, &r);
  return FERRY_OK;
}

/* ---- Where(cond, X, Y): copies elements by size ---- */

typedef struct whererun {
  int size;
  const uint8_t *c;
  const void *x, *y;
  void *o;
  ferry_ew_plan plan;
} whererun;

#define WHERE_LOOP(T)                                                                            \
  {                                                                                              \
    const T *x = (const T *)r->x + off[1], *yv = (const T *)r->y + off[2];                        \
    T *o = (T *)r->o + y;                                                                        \
    for (int64_t i = 0; i < n; i++) o[i] = c[i * st[0]] ? x[i * st[1]] : yv[i * st[2]];          \
  }                                                                                              \
  break;

typedef uint8_t where_u8x4 __attribute__((vector_size(4)));

/* A 4-byte Where row with a contiguous condition and X, Y each contiguous
 * or one broadcast value (attention masks): four lanes at a time, the
 * condition's bytes widened into a lane mask. */
static void where_row4(const uint8_t *c, const uint32_t *x, int64_t sx, const uint32_t *yv, int64_t sy, uint32_t *o,
                       int64_t n) {
  i32x4 xs = (i32x4){0} + (int32_t)x[0], ys = (i32x4){0} + (int32_t)yv[0];
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    where_u8x4 cb;
    i32x4 xv = xs, yw = ys;
    memcpy(&cb, c + i, sizeof cb);
    if (sx) memcpy(&xv, x + i, sizeof xv);
    if (sy) memcpy(&yw, yv + i, sizeof yw);
    i32x4 m = __builtin_convertvector(cb, i32x4) != 0;
    i32x4 v = (m & xv) | (~m & yw);
    memcpy(o + i, &v, sizeof v);
  }
  for (; i < n; i++) o[i] = c[i] ? x[i * sx] : yv[i * sy];
}

static void where_row(void *arg, int64_t y, const int64_t *off, const int64_t *st, int64_t n) {
  const whererun *r = arg;
  const uint8_t *c = r->c + off[0];
  if (r->size == 4 && st[0] == 1 && (st[1] == 0 || st[1] == 1) && (st[2] == 0 || st[2] == 1)) {
    where_row4(c, (const uint32_t *)r->x + off[1], st[1], (const uint32_t *)r->y + off[2], st[2], (uint32_t *)r->o + y, n);
    return;
  }
  switch (r->size) {
  case 1: WHERE_LOOP(uint8_t)
  case 2: WHERE_LOOP(uint16_t)
  case 4: WHERE_LOOP(uint32_t)
  default: WHERE_LOOP(uint64_t)
  }
}

static void where_range(void *arg, int64_t b, int64_t e) {
  whererun *r = arg;
  ferry_ew_plan_rows(&r->plan, b, e, where_row, r);
}

int ferry_kernel_Where(ferry_kctx *k) {
  if (k->n_in < 3 || !k->in[0].dtype || !k->in[1].dtype || !k->in[2].dtype)
    return ferry_kernel_fail(k, "needs three inputs");
  const ferry_tview *in[3] = {&k->in[0], &k->in[1], &k->in[2]};
  int size = ferry_dtype_size(in[1]->dtype);
  if (in[0]->dtype != FERRY_BOOL) return ferry_kernel_fail(k, "condition is %s, not bool", ferry_dtype_name(in[0]->dtype));
  if (in[1]->dtype != in[2]->dtype)
    return ferry_kernel_fail(k, "X is %s and Y %s", ferry_dtype_name(in[1]->dtype), ferry_dtype_name(in[2]->dtype));
  if (size != 1 && size != 2 && size != 4 && size != 8)
    return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(in[1]->dtype));
  int rc = ferry_ew_output(k, in[1]->dtype, in, 3);
  if (rc) return rc;
  whererun r = {size, in[0]->data, in[1]->data, in[2]->data, k->out[0].data, {0}};
  rc = ferry_ew_plan_init(k, &r.plan, &k->out[0], in, 3);
  if (rc) return rc;
  ferry_ew_parallel(k, k->out[0].numel, where_range, &r);
  return FERRY_OK;
}
