/*
 * elementwise_cast.c - Cast and CastLike between all numeric dtypes and
 * bool (float8, 4-bit and string tensors are not supported).
 *
 * Semantics (numpy's astype where it is defined):
 *   float -> integer   truncates toward zero, saturates to the target's
 *                      range, NaN -> 0 (C leaves these undefined; numpy and
 *                      onnxruntime give platform-dependent values);
 *   any -> bool        nonzero (NaN too) -> 1;
 *   integer -> integer wraps around (two's complement);
 *   to float16 and bfloat16: rounded to nearest even, once: float64 and
 *   int64 sources round to odd in float32 first, so no double rounding.
 * Common pairs have typed loops; the rest go element by element through
 * double, int64 or uint64.
 */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "util.h"

typedef struct castrun {
  int from, to;
  const void *x;
  void *y;
} castrun;

/* d in float32, rounded to odd (truncated, last bit set when inexact):
 * rounding that to 16 bits gives d correctly rounded. */
static float f32_round_odd(double d) {
  float f = (float)d;
  if (d != d || (double)f == d || isinf(d)) return f;
  if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f);
  uint32_t bits;
  memcpy(&bits, &f, 4);
  bits |= 1;
  memcpy(&f, &bits, 4);
  return f;
}

static void store_double(void *y, int to, int64_t i, double d) {
  if (to == FERRY_F16) ((uint16_t *)y)[i] = ferry_f32_to_f16(f32_round_odd(d));
  else if (to == FERRY_BF16) ((uint16_t *)y)[i] = ferry_f32_to_bf16(f32_round_odd(d));
  else ferry_ew_store_sat(y, to, i, d); /* float32/64 as is, integers saturated */
}

static void cast_one(const castrun *r, int64_t i) {
  int from = r->from, to = r->to, fc = ferry_ew_class(from);
  if (fc == FERRY_EW_FLOAT) {
    store_double(r->y, to, i, ferry_load_f64(r->x, from, i));
  } else if (fc == FERRY_EW_SINT) {
    int64_t v = ferry_load_i64(r->x, from, i);
    if (to == FERRY_F32) ((float *)r->y)[i] = (float)v;
    else if (ferry_ew_class(to) == FERRY_EW_FLOAT) store_double(r->y, to, i, (double)v);
    else ferry_store_i64(r->y, to, i, v);
  } else {
    uint64_t v = ferry_ew_load_u64(r->x, from, i);
    if (to == FERRY_F32) ((float *)r->y)[i] = (float)v;
    else if (ferry_ew_class(to) == FERRY_EW_FLOAT) store_double(r->y, to, i, (double)v);
    else ferry_store_i64(r->y, to, i, (int64_t)v);
  }
}

static inline int64_t f32_to_i64(float v) {
  return v != v ? 0 : v >= 9223372036854775808.0f ? INT64_MAX : v <= -9223372036854775808.0f ? INT64_MIN : (int64_t)v;
}
static inline int32_t f32_to_i32(float v) {
  return v != v ? 0 : v >= 2147483648.0f ? INT32_MAX : v <= -2147483648.0f ? INT32_MIN : (int32_t)v;
}

#define PAIR(a, b) ((a) * 64 + (b))
#define LOOP(TI, TO, EXPR)                    \
  {                                           \
    const TI *x = r->x;                       \
    TO *y = r->y;                             \
    for (int64_t i = b; i < e; i++) {         \
      TI v = x[i];                            \
      y[i] = (EXPR);                          \
    }                                         \
  }                                           \
  return 1;

/* typed loops for common pairs; 0 when the pair has none */
static int cast_fast(const castrun *r, int64_t b, int64_t e) {
  switch (PAIR(r->from, r->to)) {
  case PAIR(FERRY_F32, FERRY_F16): LOOP(float, uint16_t, ferry_f32_to_f16(v))
  case PAIR(FERRY_F16, FERRY_F32): LOOP(uint16_t, float, ferry_f16_to_f32(v))
  case PAIR(FERRY_F32, FERRY_BF16): LOOP(float, uint16_t, ferry_f32_to_bf16(v))
  case PAIR(FERRY_BF16, FERRY_F32): LOOP(uint16_t, float, ferry_bf16_to_f32(v))
  case PAIR(FERRY_F32, FERRY_F64): LOOP(float, double, (double)v)
  case PAIR(FERRY_F64, FERRY_F32): LOOP(double, float, (float)v)
  case PAIR(FERRY_I64, FERRY_F32): LOOP(int64_t, float, (float)v)
  case PAIR(FERRY_I32, FERRY_F32): LOOP(int32_t, float, (float)v)
  case PAIR(FERRY_U8, FERRY_F32): LOOP(uint8_t, float, (float)v)
  case PAIR(FERRY_BOOL, FERRY_F32): LOOP(uint8_t, float, v ? 1.0f : 0.0f)
  case PAIR(FERRY_F32, FERRY_I64): LOOP(float, int64_t, f32_to_i64(v))
  case PAIR(FERRY_F32, FERRY_I32): LOOP(float, int32_t, f32_to_i32(v))
  case PAIR(FERRY_F32, FERRY_BOOL): LOOP(float, uint8_t, v != 0)
  case PAIR(FERRY_I32, FERRY_I64): LOOP(int32_t, int64_t, v)
  case PAIR(FERRY_I64, FERRY_I32): LOOP(int64_t, int32_t, (int32_t)v) /* wraps */
  case PAIR(FERRY_I64, FERRY_BOOL): LOOP(int64_t, uint8_t, v != 0)
  case PAIR(FERRY_BOOL, FERRY_I64): LOOP(uint8_t, int64_t, v != 0)
  default: return 0;
  }
}

static void cast_range(void *arg, int64_t b, int64_t e) {
  const castrun *r = arg;
  if (r->from == r->to) {
    size_t s = (size_t)ferry_dtype_size(r->from);
    memcpy((char *)r->y + (size_t)b * s, (const char *)r->x + (size_t)b * s, (size_t)(e - b) * s);
    return;
  }
  if (cast_fast(r, b, e)) return;
  for (int64_t i = b; i < e; i++) cast_one(r, i);
}

static int cast_to(ferry_kctx *k, int to) {
  if (k->n_in < 1 || !k->in[0].dtype) return ferry_kernel_fail(k, "missing input");
  const ferry_tview *x = &k->in[0];
  if (!ferry_ew_class(x->dtype) || !ferry_ew_class(to))
    return ferry_kernel_fail(k, "cast from %s to %s is not supported", ferry_dtype_name(x->dtype),
                             ferry_dtype_name(to));
  int rc = ferry_ew_output(k, to, &x, 1);
  if (rc) return rc;
  if (k->out[0].numel != x->numel) return ferry_kernel_fail(k, "output size differs from the input's");
  castrun r = {x->dtype, to, x->data, k->out[0].data};
  ferry_ew_parallel(k, x->numel, cast_range, &r);
  return FERRY_OK;
}

int ferry_kernel_Cast(ferry_kctx *k) {
  if (!ferry_attr_has(k->sctx, "to")) return ferry_kernel_fail(k, "Cast without 'to'");
  return cast_to(k, (int)ferry_attr_int(k->sctx, "to", 0));
}

int ferry_kernel_CastLike(ferry_kctx *k) {
  if (k->n_in < 2 || !k->in[1].dtype) return ferry_kernel_fail(k, "CastLike needs a target input");
  return cast_to(k, k->in[1].dtype);
}
