/*
 * check_kernels_elementwise.c - the elementwise kernels
 * (runtime/kernels/elementwise*.c).
 *
 *   node tests   every ONNX node test whose one node is an elementwise op
 *                passes through its registry kernel (tests/nodetest.h),
 *                but for the listed known exceptions;
 *   broadcast    hand-made shapes (kfake.h) against a naive reference,
 *                same-shape and scalar fast paths against the general one,
 *                Where's 4-byte row path and Not on bool bytes;
 *   dtypes       float16 / bfloat16 round trips, integer semantics (wrap,
 *                division and modulo by zero, Mod signs, Pow), empty
 *                tensors, Cast of NaN / inf / out-of-range values;
 *   accuracy     the float32 vector exp, tanh, erf, sigmoid and gelus
 *                swept against libm, generic and AVX2;
 *   parallel     large tensors split in chunks give the same result;
 *   chains       a fused chain (ferry_chain_eval) gives the bits of its
 *                ops' kernels run one by one.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "onnx.pb-c.h"
#include "testutil.h"

/* ---- node tests ---- */

static const char *const OPS[] = {
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Erf", "Exp", "Floor",
    "IsInf", "IsNaN", "Log", "Neg", "Not", "Reciprocal", "Round", "Sign", "Sin", "Sinh", "Sqrt", "Tan", "Tanh",
    "Sigmoid", "HardSigmoid", "HardSwish", "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign",
    "ThresholdedRelu", "Mish", "Shrink", "PRelu", "Clip", "BitwiseNot", "Add", "Sub", "Mul", "Div", "Pow", "Mod",
    "BitShift", "And", "Or", "Xor", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "Sum", "Mean", "Max", "Min", "Where", "Cast", "CastLike", "Gelu", "FastGelu",
};

/* Node tests allowed to fail or error, and why. */
static const char *const KNOWN[] = {
    /* string tensors are out of scope for kernels */
    "test_cast_FLOAT_to_STRING", "test_cast_STRING_to_FLOAT", "test_castlike_FLOAT_to_STRING",
    "test_castlike_STRING_to_FLOAT", "test_castlike_FLOAT_to_STRING_expanded",
    "test_castlike_STRING_to_FLOAT_expanded",
    /* this test data stores bfloat16 tensors as uint16 (data_type 4), so the
     * kernel sees a uint16 <-> float cast (test_cast_bf16_data checks the
     * same values with real bfloat16 tensors) */
    "test_cast_BFLOAT16_to_FLOAT", "test_cast_FLOAT_to_BFLOAT16", "test_castlike_BFLOAT16_to_FLOAT",
    "test_castlike_FLOAT_to_BFLOAT16", "test_castlike_BFLOAT16_to_FLOAT_expanded",
    "test_castlike_FLOAT_to_BFLOAT16_expanded",
};

START_TEST(test_node_tests) {
  nodetest_tally t;
  nodetest_run_family("elementwise", OPS, (int)(sizeof OPS / sizeof *OPS), KNOWN, (int)(sizeof KNOWN / sizeof *KNOWN),
                      &t);
  ck_assert_int_ge(t.n[NT_PASS], 226);
  ck_assert_msg(t.unexpected == 0, "%d node tests failed (see above)", t.unexpected);
}
END_TEST

/* ---- helpers ---- */

static const int64_t ONE[1] = {1}; /* dims of rank-0 tensors (never read) */

static int64_t numel_of(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

/* Runs a binary float32 kernel on a (ra, da) and b (rb, db) into a
 * broadcast output of (ro, dout); returns the output (malloc'd). */
static float *run2(ferry_kernel_fn fn, const float *a, int ra, const int64_t *da, const float *b, int rb,
                   const int64_t *db, int ro, const int64_t *dout, int known_out) {
  kf_call c;
  kf_init(&c, 17);
  kf_in(&c, FERRY_F32, ra, da, a);
  kf_in(&c, FERRY_F32, rb, db, b);
  if (known_out) kf_out(&c, FERRY_F32, ro, dout);
  else kf_out_unknown(&c);
  int rc = kf_run(&c, fn);
  ck_assert_msg(rc == 0, "kernel: %s", c.k.err);
  ck_assert_int_eq(c.out[0].rank, ro);
  for (int i = 0; i < ro; i++) ck_assert_int_eq(c.out[0].dims[i], dout[i]);
  int64_t n = numel_of(ro, dout);
  float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
  memcpy(y, c.out[0].data, (size_t)n * sizeof *y);
  kf_free(&c);
  return y;
}

static float *rand_floats(int64_t n, unsigned seed) {
  float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  srand(seed);
  for (int64_t i = 0; i < n; i++) v[i] = (float)(rand() % 2001 - 1000) / 97.0f;
  return v;
}

/* ---- broadcasting ---- */

/* Naive broadcast reference: element i of the output from a and b. */
static float ref_at(const float *x, int rx, const int64_t *dx, int ro, const int64_t *dout, int64_t i) {
  return x[ferry_bcast_index(dout, ro, dx, rx, i)];
}

START_TEST(test_broadcast_shapes) {
  struct {
    int ra, rb, ro;
    int64_t da[4], db[4], dout[4];
  } cases[] = {
      {2, 2, 2, {3, 4}, {3, 4}, {3, 4}},           /* same shape */
      {2, 0, 2, {3, 4}, {0}, {3, 4}},              /* scalar */
      {0, 2, 2, {0}, {3, 4}, {3, 4}},              /* scalar first */
      {2, 1, 2, {3, 4}, {4}, {3, 4}},              /* row */
      {2, 2, 2, {3, 4}, {3, 1}, {3, 4}},           /* column */
      {2, 2, 2, {3, 1}, {1, 4}, {3, 4}},           /* outer product */
      {4, 3, 4, {2, 3, 4, 5}, {3, 1, 5}, {2, 3, 4, 5}},
      {4, 4, 4, {2, 1, 4, 1}, {1, 3, 1, 5}, {2, 3, 4, 5}},
      {3, 1, 3, {2, 3, 37}, {37}, {2, 3, 37}},     /* odd row length: vector tails */
      {3, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {2, 1, 2, {0, 4}, {4}, {0, 4}},              /* empty */
      {2, 2, 2, {3, 0}, {1, 1}, {3, 0}},
  };
  ferry_kernel_fn fns[] = {ferry_kernel_Add, ferry_kernel_Sub, ferry_kernel_Mul, ferry_kernel_Div,
                           ferry_kernel_Max, ferry_kernel_Min};
  for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
    int64_t na = numel_of(cases[t].ra, cases[t].da), nb = numel_of(cases[t].rb, cases[t].db);
    int64_t no = numel_of(cases[t].ro, cases[t].dout);
    float *a = rand_floats(na, 1 + (unsigned)t), *b = rand_floats(nb, 100 + (unsigned)t);
    for (int64_t i = 0; i < nb; i++)
      if (b[i] == 0) b[i] = 1;
    for (size_t f = 0; f < sizeof fns / sizeof *fns; f++)
      for (int known = 0; known < 2; known++) {
        float *y = run2(fns[f], a, cases[t].ra, cases[t].da, b, cases[t].rb, cases[t].db, cases[t].ro,
                        cases[t].dout, known);
        for (int64_t i = 0; i < no; i++) {
          float x0 = ref_at(a, cases[t].ra, cases[t].da, cases[t].ro, cases[t].dout, i);
          float x1 = ref_at(b, cases[t].rb, cases[t].db, cases[t].ro, cases[t].dout, i);
          float want = f == 0 ? x0 + x1 : f == 1 ? x0 - x1 : f == 2 ? x0 * x1 : f == 3 ? x0 / x1
                       : f == 4 ? fmaxf(x0, x1) : fminf(x0, x1);
          ck_assert_msg(y[i] == want, "case %zu op %zu [%lld]: %g, want %g", t, f, (long long)i, y[i], want);
        }
        free(y);
      }
    free(a);
    free(b);
  }
}
END_TEST

START_TEST(test_broadcast_errors) {
  kf_call c;
  kf_init(&c, 17);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, NULL);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){4}, NULL);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Add), FERRY_E_INPUT);
  kf_free(&c);
  /* an output the inputs do not broadcast to */
  kf_init(&c, 17);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, NULL);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, NULL);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){4});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Mul), FERRY_E_INPUT);
  kf_free(&c);
  /* mismatched dtypes */
  kf_init(&c, 17);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, NULL);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){3}, NULL);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Add), FERRY_E_INPUT);
  ck_assert(strstr(c.k.err, "float32") != NULL);
  kf_free(&c);
}
END_TEST

/* Before opset 7: broadcast=1 with axis aligns B at `axis`. */
START_TEST(test_legacy_broadcast) {
  float a[24], b[3] = {100, 200, 300};
  for (int i = 0; i < 24; i++) a[i] = (float)i;
  kf_call c;
  kf_init(&c, 6);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 4}, a);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, b);
  kf_out(&c, FERRY_F32, 3, (int64_t[]){2, 3, 4});
  kf_attr_int(&c, "broadcast", 1);
  kf_attr_int(&c, "axis", 1);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Add), 0);
  for (int i = 0; i < 24; i++) ck_assert(((float *)c.out[0].data)[i] == a[i] + b[i / 4 % 3]);
  kf_free(&c);
}
END_TEST

/* The same-shape and scalar fast paths agree with the general strided
 * path (forced by an equivalent broadcast with a size-1 middle axis). */
START_TEST(test_fast_vs_generic) {
  ferry_kernel_fn fns[] = {ferry_kernel_Add, ferry_kernel_Sub, ferry_kernel_Mul, ferry_kernel_Div,
                           ferry_kernel_PRelu};
  int64_t n = 1003;
  float *a = rand_floats(n, 7), *b = rand_floats(n, 8);
  for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
    /* same shape [n] vs [n,1] + [1,1]... : element i pairs a[i], b[i] */
    float *fast = run2(fns[f], a, 1, (int64_t[]){n}, b, 1, (int64_t[]){n}, 1, (int64_t[]){n}, 1);
    float *slow = malloc((size_t)n * sizeof *slow);
    for (int64_t i = 0; i < n; i++) { /* one element at a time: rows of 1 */
      float *y = run2(fns[f], a + i, 0, ONE, b + i, 0, ONE, 0, ONE, 1);
      slow[i] = y[0];
      free(y);
    }
    for (int64_t i = 0; i < n; i++) ck_assert_msg(fast[i] == slow[i], "op %zu [%lld]", f, (long long)i);
    /* scalar broadcast */
    float *fs = run2(fns[f], a, 1, (int64_t[]){n}, b, 0, ONE, 1, (int64_t[]){n}, 1);
    for (int64_t i = 0; i < n; i++) {
      float *y = run2(fns[f], a + i, 0, ONE, b, 0, ONE, 0, ONE, 1);
      ck_assert_msg(fs[i] == y[0], "op %zu scalar [%lld]", f, (long long)i);
      free(y);
    }
    free(fast);
    free(slow);
    free(fs);
  }
  free(a);
  free(b);
}
END_TEST

/* ---- unary: float16 / bfloat16 through the float32 loops ---- */

static void run1(ferry_kernel_fn fn, int dt, int odt, int64_t n, const void *x, void *y, int opset) {
  kf_call c;
  kf_init(&c, opset);
  kf_in(&c, dt, 1, (int64_t[]){n}, x);
  kf_out(&c, odt, 1, (int64_t[]){n});
  int rc = kf_run(&c, fn);
  ck_assert_msg(rc == 0, "kernel: %s", c.k.err);
  memcpy(y, c.out[0].data, (size_t)n * (size_t)ferry_dtype_size(odt));
  kf_free(&c);
}

START_TEST(test_half_unary) {
  ferry_kernel_fn fns[] = {ferry_kernel_Relu, ferry_kernel_Sigmoid, ferry_kernel_Tanh, ferry_kernel_Exp,
                           ferry_kernel_Erf, ferry_kernel_Neg, ferry_kernel_Abs, ferry_kernel_Sqrt,
                           ferry_kernel_Gelu, ferry_kernel_FastGelu, ferry_kernel_Softplus};
  enum { N = 700 };
  float x[N], y32[N];
  uint16_t h[N], hy[N], b[N], by[N];
  for (int i = 0; i < N; i++) {
    h[i] = ferry_f32_to_f16((float)(i - N / 2) / 64.0f);
    x[i] = ferry_f16_to_f32(h[i]);
    b[i] = ferry_f32_to_bf16(x[i]);
  }
  float xb[N], yb32[N];
  for (int i = 0; i < N; i++) xb[i] = ferry_bf16_to_f32(b[i]);
  /* the half results are the float32 results of the same values, rounded */
  for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
    run1(fns[f], FERRY_F32, FERRY_F32, N, x, y32, 17);
    run1(fns[f], FERRY_F32, FERRY_F32, N, xb, yb32, 17);
    run1(fns[f], FERRY_F16, FERRY_F16, N, h, hy, 17);
    run1(fns[f], FERRY_BF16, FERRY_BF16, N, b, by, 17);
    for (int i = 0; i < N; i++) {
      float w = y32[i], wb = yb32[i];
      ck_assert_msg(hy[i] == ferry_f32_to_f16(w) || (isnan(w) && isnan(ferry_f16_to_f32(hy[i]))),
                    "fn %zu f16 [%d]: %g vs %g", f, i, ferry_f16_to_f32(hy[i]), w);
      ck_assert_msg(by[i] == ferry_f32_to_bf16(wb) || (isnan(wb) && isnan(ferry_bf16_to_f32(by[i]))),
                    "fn %zu bf16 [%d]: %g vs %g", f, i, ferry_bf16_to_f32(by[i]), wb);
    }
  }
}
END_TEST

START_TEST(test_half_binary) {
  enum { N = 333 };
  uint16_t a[N], b[N];
  float af[N], bf[N];
  for (int i = 0; i < N; i++) {
    a[i] = ferry_f32_to_f16((float)(i - 100) / 8.0f);
    b[i] = ferry_f32_to_f16((float)(i % 17 + 1) / 4.0f);
    af[i] = ferry_f16_to_f32(a[i]);
    bf[i] = ferry_f16_to_f32(b[i]);
  }
  ferry_kernel_fn fns[] = {ferry_kernel_Add, ferry_kernel_Sub, ferry_kernel_Mul, ferry_kernel_Div,
                           ferry_kernel_Less, ferry_kernel_Equal};
  for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
    int cmp = f >= 4;
    kf_call c;
    kf_init(&c, 17);
    kf_in(&c, FERRY_F16, 1, (int64_t[]){N}, a);
    kf_in(&c, FERRY_F16, 1, (int64_t[]){N}, b);
    kf_out(&c, cmp ? FERRY_BOOL : FERRY_F16, 1, (int64_t[]){N});
    ck_assert_int_eq(kf_run(&c, fns[f]), 0);
    for (int i = 0; i < N; i++) {
      float w = f == 0 ? af[i] + bf[i] : f == 1 ? af[i] - bf[i] : f == 2 ? af[i] * bf[i] : f == 3 ? af[i] / bf[i]
                : f == 4 ? af[i] < bf[i] : af[i] == bf[i];
      if (cmp) ck_assert_int_eq(((uint8_t *)c.out[0].data)[i], (int)w);
      else ck_assert_int_eq(((uint16_t *)c.out[0].data)[i], ferry_f32_to_f16(w));
    }
    kf_free(&c);
  }
}
END_TEST

START_TEST(test_empty) {
  ferry_kernel_fn un[] = {ferry_kernel_Relu, ferry_kernel_Exp, ferry_kernel_Abs, ferry_kernel_Cast};
  for (size_t f = 0; f < sizeof un / sizeof *un; f++) {
    kf_call c;
    kf_init(&c, 17);
    kf_in(&c, FERRY_F32, 2, (int64_t[]){0, 3}, NULL);
    kf_out(&c, FERRY_F32, 2, (int64_t[]){0, 3});
    kf_attr_int(&c, "to", FERRY_F32);
    ck_assert_int_eq(kf_run(&c, un[f]), 0);
    kf_free(&c);
  }
  kf_call c;
  kf_init(&c, 17);
  kf_in(&c, FERRY_BOOL, 1, (int64_t[]){0}, NULL);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 0}, NULL);
  kf_in(&c, FERRY_F32, 0, NULL, (float[]){1});
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Where), 0);
  ck_assert_int_eq(c.out[0].rank, 2);
  ck_assert_int_eq(c.out[0].numel, 0);
  kf_free(&c);
}
END_TEST

/* Where's 4-byte row path (contiguous condition; X and Y contiguous or
 * one broadcast value, as attention masks) and Not on bool bytes against
 * a naive reference: rows of every length around the 4 lanes, condition
 * bytes other than 0 and 1 counting as true, X / Y shapes that take the
 * fast path and ones that do not (a broadcast condition column). */
START_TEST(test_where_not_fast) {
  enum { H = 3, R = 5, LMAX = 19 };
  static uint8_t cond[R * LMAX];
  static float x[H * R * LMAX], yv[H * R * LMAX], want[H * R * LMAX];
  for (int64_t L = 1; L <= LMAX; L++)
    for (int shape = 0; shape < 4; shape++) {
      int64_t n = H * R * L;
      for (int64_t i = 0; i < R * L; i++) cond[i] = (uint8_t)((i * 7 + L) % 5 == 0 ? 0 : (i % 3) + 1) * (i % 4 != 1);
      for (int64_t i = 0; i < n; i++) x[i] = (float)i, yv[i] = -(float)i - 0.5f;
      int xs = shape != 1, ys = shape == 1 || shape == 3; /* 0: X full, Y scalar; 1: X scalar, Y full; 2, 3 */
      int64_t cd[4] = {1, 1, R, shape == 2 ? 1 : L}, full[4] = {1, H, R, L};
      kf_call c;
      kf_init(&c, 16);
      kf_in(&c, FERRY_BOOL, 4, cd, cond);
      kf_in(&c, FERRY_F32, xs ? 4 : 0, xs ? full : NULL, x);
      kf_in(&c, FERRY_F32, ys ? 4 : 0, ys ? full : NULL, yv);
      kf_out(&c, FERRY_F32, 4, full);
      ck_assert_int_eq(kf_run(&c, ferry_kernel_Where), 0);
      for (int64_t i = 0; i < n; i++) {
        int64_t rl = i % (R * L), ci = shape == 2 ? rl / L : rl;
        want[i] = cond[ci] ? (xs ? x[i] : x[0]) : (ys ? yv[i] : yv[0]);
        ck_assert_msg(((float *)c.out[0].data)[i] == want[i], "Where L %lld shape %d [%lld] = %g, want %g", (long long)L,
                      shape, (long long)i, ((float *)c.out[0].data)[i], want[i]);
      }
      kf_free(&c);
    }
  for (int64_t n = 1; n <= 37; n += 4) {
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_BOOL, 1, (int64_t[]){n}, cond);
    kf_out(&c, FERRY_BOOL, 1, (int64_t[]){n});
    ck_assert_int_eq(kf_run(&c, ferry_kernel_Not), 0);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(((uint8_t *)c.out[0].data)[i], !cond[i]);
    kf_free(&c);
  }
}
END_TEST

/* ---- integer semantics ---- */

static void run_i(ferry_kernel_fn fn, int dt, int odt, int n, const void *a, const void *b, void *y) {
  kf_call c;
  kf_init(&c, 17);
  kf_in(&c, dt, 1, (int64_t[]){n}, a);
  if (b) kf_in(&c, dt, 1, (int64_t[]){n}, b);
  kf_out(&c, odt, 1, (int64_t[]){n});
  int rc = kf_run(&c, fn);
  ck_assert_msg(rc == 0, "kernel: %s", c.k.err);
  memcpy(y, c.out[0].data, (size_t)n * (size_t)ferry_dtype_size(odt));
  kf_free(&c);
}

START_TEST(test_int_semantics) {
  int64_t a[] = {INT64_MIN, INT64_MAX, -7, 7, -7, 7, 5, INT64_MIN};
  int64_t b[] = {-1, 1, 2, -2, -2, 2, 0, INT64_MIN};
  int64_t y[8];
  run_i(ferry_kernel_Div, FERRY_I64, FERRY_I64, 8, a, b, y);
  int64_t div[] = {INT64_MIN, INT64_MAX, -3, -3, 3, 3, 0, 1}; /* truncation, /0 -> 0, MIN/-1 wraps */
  for (int i = 0; i < 8; i++) ck_assert_int_eq(y[i], div[i]);
  run_i(ferry_kernel_Add, FERRY_I64, FERRY_I64, 8, a, b, y);
  ck_assert_int_eq(y[1], INT64_MIN); /* wraps */
  run_i(ferry_kernel_Mul, FERRY_I64, FERRY_I64, 8, a, b, y);
  ck_assert_int_eq(y[0], INT64_MIN);
  run_i(ferry_kernel_Neg, FERRY_I64, FERRY_I64, 8, a, NULL, y);
  ck_assert_int_eq(y[0], INT64_MIN);
  run_i(ferry_kernel_Abs, FERRY_I64, FERRY_I64, 8, a, NULL, y);
  ck_assert_int_eq(y[2], 7);
  /* Mod: sign of the divisor (fmod 0), of the dividend (fmod 1) */
  run_i(ferry_kernel_Mod, FERRY_I64, FERRY_I64, 8, a, b, y);
  ck_assert_int_eq(y[2], 1);  /* -7 mod 2 */
  ck_assert_int_eq(y[3], -1); /* 7 mod -2 */
  ck_assert_int_eq(y[4], -1);
  ck_assert_int_eq(y[6], 0);  /* mod 0 */
  ck_assert_int_eq(y[0], 0);  /* MIN mod -1 */
  kf_call c;
  kf_init(&c, 17);
  kf_in(&c, FERRY_I32, 1, (int64_t[]){2}, (int32_t[]){-7, 7});
  kf_in(&c, FERRY_I32, 1, (int64_t[]){2}, (int32_t[]){2, -2});
  kf_out(&c, FERRY_I32, 1, (int64_t[]){2});
  kf_attr_int(&c, "fmod", 1);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Mod), 0);
  ck_assert_int_eq(((int32_t *)c.out[0].data)[0], -1);
  ck_assert_int_eq(((int32_t *)c.out[0].data)[1], 1);
  kf_free(&c);
  /* uint64 beyond int64 compares and divides as unsigned */
  uint64_t ua[] = {UINT64_MAX, 1}, ub[] = {2, UINT64_MAX}, uy[2];
  uint8_t by[2];
  run_i(ferry_kernel_Less, FERRY_U64, FERRY_BOOL, 2, ua, ub, by);
  ck_assert_int_eq(by[0], 0);
  ck_assert_int_eq(by[1], 1);
  run_i(ferry_kernel_Div, FERRY_U64, FERRY_U64, 2, ua, ub, uy);
  ck_assert(uy[0] == UINT64_MAX / 2 && uy[1] == 0);
  run_i(ferry_kernel_Max, FERRY_U64, FERRY_U64, 2, ua, ub, uy);
  ck_assert(uy[0] == UINT64_MAX && uy[1] == UINT64_MAX);
  /* int8 wraps */
  int8_t ia[] = {127, -128}, ib[] = {1, -1}, iy[2];
  run_i(ferry_kernel_Add, FERRY_I8, FERRY_I8, 2, ia, ib, iy);
  ck_assert_int_eq(iy[0], -128);
  ck_assert_int_eq(iy[1], 127);
  run_i(ferry_kernel_Div, FERRY_I8, FERRY_I8, 2, ia, ib, iy);
  ck_assert_int_eq(iy[1], -128);
  /* bitwise and shifts by the width or more */
  uint8_t sa[] = {0x81, 0x81}, sb[] = {7, 200}, sy[2];
  kf_init(&c, 17);
  kf_in(&c, FERRY_U8, 1, (int64_t[]){2}, sa);
  kf_in(&c, FERRY_U8, 1, (int64_t[]){2}, sb);
  kf_out(&c, FERRY_U8, 1, (int64_t[]){2});
  kf_attr_string(&c, "direction", "LEFT");
  ck_assert_int_eq(kf_run(&c, ferry_kernel_BitShift), 0);
  memcpy(sy, c.out[0].data, 2);
  ck_assert_int_eq(sy[0], 0x80);
  ck_assert_int_eq(sy[1], 0);
  kf_free(&c);
  int32_t wa[] = {0x0f0f, -1}, wb[] = {0x00ff, 5}, wy[2];
  run_i(ferry_kernel_BitwiseAnd, FERRY_I32, FERRY_I32, 2, wa, wb, wy);
  ck_assert_int_eq(wy[0], 0x000f);
  ck_assert_int_eq(wy[1], 5);
  run_i(ferry_kernel_BitwiseXor, FERRY_I32, FERRY_I32, 2, wa, wb, wy);
  ck_assert_int_eq(wy[0], 0x0ff0);
  run_i(ferry_kernel_BitwiseNot, FERRY_I32, FERRY_I32, 2, wa, NULL, wy);
  ck_assert_int_eq(wy[1], 0);
}
END_TEST

START_TEST(test_pow_mixed) {
  kf_call c;
  /* int64 ^ int64: exact, wrapping; negative exponents truncate */
  kf_init(&c, 15);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){5}, (int64_t[]){3, 2, -1, 2, 7});
  kf_in(&c, FERRY_I64, 1, (int64_t[]){5}, (int64_t[]){20, 64, 3, -1, 0});
  kf_out(&c, FERRY_I64, 1, (int64_t[]){5});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Pow), 0);
  int64_t *y = c.out[0].data;
  ck_assert_int_eq(y[0], 3486784401LL);
  ck_assert_int_eq(y[1], 0);
  ck_assert_int_eq(y[2], -1);
  ck_assert_int_eq(y[3], 0);
  ck_assert_int_eq(y[4], 1);
  kf_free(&c);
  /* int32 ^ float: computed in double, truncated, saturated */
  kf_init(&c, 15);
  kf_in(&c, FERRY_I32, 1, (int64_t[]){3}, (int32_t[]){2, 10, -8});
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, (float[]){0.5f, 20.0f, 0.5f});
  kf_out(&c, FERRY_I32, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Pow), 0);
  int32_t *yi = c.out[0].data;
  ck_assert_int_eq(yi[0], 1);
  ck_assert_int_eq(yi[1], INT32_MAX);
  ck_assert_int_eq(yi[2], 0); /* NaN -> 0 */
  kf_free(&c);
  /* float ^ scalar 2 and general */
  kf_init(&c, 15);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, (float[]){1.5f, -3.0f, 0.1f});
  kf_in(&c, FERRY_F32, 0, NULL, (float[]){2.0f});
  kf_out(&c, FERRY_F32, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Pow), 0);
  float *yf = c.out[0].data;
  ck_assert(yf[0] == 2.25f && yf[1] == 9.0f && yf[2] == 0.1f * 0.1f);
  kf_free(&c);
}
END_TEST

/* ---- Cast ---- */

START_TEST(test_cast_edges) {
  float x[] = {NAN, INFINITY, -INFINITY, 3e9f, -3e9f, 1e20f, -1e20f, 2.9f, -2.9f, 255.5f, -0.5f, 0.0f};
  enum { N = sizeof x / sizeof *x };
  int tos[] = {FERRY_I8, FERRY_U8, FERRY_I16, FERRY_U16, FERRY_I32, FERRY_U32, FERRY_I64, FERRY_U64, FERRY_BOOL};
  for (size_t t = 0; t < sizeof tos / sizeof *tos; t++)
    for (int src = 0; src < 3; src++) { /* from float32, float64, float16 */
      int dt = src == 0 ? FERRY_F32 : src == 1 ? FERRY_F64 : FERRY_F16;
      double xd[N];
      uint16_t xh[N];
      for (int i = 0; i < N; i++) xd[i] = x[i], xh[i] = ferry_f32_to_f16(x[i]);
      kf_call c;
      kf_init(&c, 19);
      kf_in(&c, dt, 1, (int64_t[]){N}, src == 0 ? (void *)x : src == 1 ? (void *)xd : (void *)xh);
      kf_out(&c, tos[t], 1, (int64_t[]){N});
      kf_attr_int(&c, "to", tos[t]);
      ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
      const void *y = c.out[0].data;
      int to = tos[t];
      int64_t v0 = ferry_load_i64(y, to, 0), v7 = ferry_load_i64(y, to, 7), v8 = ferry_load_i64(y, to, 8);
      if (to == FERRY_BOOL) {
        ck_assert_int_eq(v0, 1); /* NaN is nonzero */
        ck_assert_int_eq(ferry_load_i64(y, to, 11), 0);
      } else {
        ck_assert_int_eq(v0, 0); /* NaN -> 0 */
        ck_assert_int_eq(v7, 2); /* truncation */
        ck_assert_int_eq(v8, (to == FERRY_U8 || to == FERRY_U16 || to == FERRY_U32 || to == FERRY_U64) ? 0 : -2);
        /* +inf saturates to the max */
        uint64_t mx = ferry_ew_load_u64(y, to, 1);
        uint64_t want = to == FERRY_I8 ? 127 : to == FERRY_U8 ? 255 : to == FERRY_I16 ? 32767
                        : to == FERRY_U16 ? 65535 : to == FERRY_I32 ? INT32_MAX : to == FERRY_U32 ? UINT32_MAX
                        : to == FERRY_I64 ? (uint64_t)INT64_MAX : UINT64_MAX;
        ck_assert_msg(mx == want, "to %d from %d: inf -> %llu", to, dt, (unsigned long long)mx);
      }
      kf_free(&c);
    }
}
END_TEST

START_TEST(test_cast_round_trips) {
  /* every float16 through float32 and float64 and back is exact */
  static uint16_t h[65536], back[65536];
  static float f[65536];
  static double d[65536];
  for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  kf_call c;
  for (int via = 0; via < 2; via++) {
    int mid = via ? FERRY_F64 : FERRY_F32;
    void *buf = via ? (void *)d : (void *)f;
    kf_init(&c, 19);
    kf_in(&c, FERRY_F16, 1, (int64_t[]){65536}, h);
    kf_out(&c, mid, 1, (int64_t[]){65536});
    kf_attr_int(&c, "to", mid);
    ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
    memcpy(buf, c.out[0].data, 65536 * (size_t)ferry_dtype_size(mid));
    kf_free(&c);
    kf_init(&c, 19);
    kf_in(&c, mid, 1, (int64_t[]){65536}, buf);
    kf_in(&c, FERRY_F16, 0, NULL, (uint16_t[]){0});
    kf_out(&c, FERRY_F16, 1, (int64_t[]){65536});
    ck_assert_int_eq(kf_run(&c, ferry_kernel_CastLike), 0);
    memcpy(back, c.out[0].data, sizeof back);
    kf_free(&c);
    for (int i = 0; i < 65536; i++) {
      int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
      if (nan) ck_assert((back[i] & 0x7c00) == 0x7c00 && (back[i] & 0x3ff));
      else ck_assert_msg(back[i] == h[i], "via %d: %04x -> %04x", via, i, back[i]);
    }
  }
  /* float64 -> float16 rounds once: 1 + 2^-11 + 2^-40 is above the tie */
  double t[] = {1.0 + 0x1p-11 + 0x1p-40, 1.0 + 0x1p-11, 65520.0, -1e-30, 1e300};
  kf_init(&c, 19);
  kf_in(&c, FERRY_F64, 1, (int64_t[]){5}, t);
  kf_out(&c, FERRY_F16, 1, (int64_t[]){5});
  kf_attr_int(&c, "to", FERRY_F16);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
  uint16_t *y = c.out[0].data;
  ck_assert_int_eq(y[0], 0x3c01);
  ck_assert_int_eq(y[1], 0x3c00); /* tie to even */
  ck_assert_int_eq(y[2], 0x7c00); /* overflow -> inf */
  ck_assert_int_eq(y[3], 0x8000);
  ck_assert_int_eq(y[4], 0x7c00);
  kf_free(&c);
  /* integers: wrap between integer types; bool is 0/1 */
  int64_t iv[] = {300, -1, 1LL << 40, 0};
  kf_init(&c, 19);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){4}, iv);
  kf_out(&c, FERRY_U8, 1, (int64_t[]){4});
  kf_attr_int(&c, "to", FERRY_U8);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
  uint8_t *u = c.out[0].data;
  ck_assert(u[0] == 44 && u[1] == 255 && u[2] == 0 && u[3] == 0);
  kf_free(&c);
  uint64_t big[] = {UINT64_MAX};
  kf_init(&c, 19);
  kf_in(&c, FERRY_U64, 1, (int64_t[]){1}, big);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){1});
  kf_attr_int(&c, "to", FERRY_F32);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
  ck_assert(((float *)c.out[0].data)[0] == 18446744073709551616.0f);
  kf_free(&c);
}
END_TEST

/* The bfloat16 Cast node tests with their uint16-typed data read as
 * bfloat16: BFLOAT16 -> FLOAT exactly; FLOAT -> BFLOAT16 within one
 * bfloat16 step (that data truncates; ferry rounds to nearest even, as the
 * ONNX spec now says). */
static Onnx__TensorProto *read_tensor(const char *test, const char *file) {
  char path[4096];
  size_t len;
  snprintf(path, sizeof path, "%s/node/%s/test_data_set_0/%s", tu_env("ONNX_TESTDATA"), test, file);
  char *buf = tu_read(path, &len);
  ck_assert_msg(buf != NULL, "cannot read %s", path);
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  free(buf);
  ck_assert(t != NULL && t->has_raw_data);
  return t;
}

START_TEST(test_cast_bf16_data) {
  for (int dir = 0; dir < 2; dir++) {
    const char *test = dir ? "test_cast_FLOAT_to_BFLOAT16" : "test_cast_BFLOAT16_to_FLOAT";
    Onnx__TensorProto *in = read_tensor(test, "input_0.pb"), *want = read_tensor(test, "output_0.pb");
    int from = dir ? FERRY_F32 : FERRY_BF16, to = dir ? FERRY_BF16 : FERRY_F32;
    int64_t n = (int64_t)(in->raw_data.len / (size_t)ferry_dtype_size(from));
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, from, 1, (int64_t[]){n}, in->raw_data.data);
    kf_out(&c, to, 1, (int64_t[]){n});
    kf_attr_int(&c, "to", to);
    ck_assert_int_eq(kf_run(&c, ferry_kernel_Cast), 0);
    for (int64_t i = 0; i < n; i++) {
      uint16_t w16;
      float got, w;
      if (dir) {
        memcpy(&w16, want->raw_data.data + 2 * i, 2);
        got = ferry_bf16_to_f32(((uint16_t *)c.out[0].data)[i]), w = ferry_bf16_to_f32(w16);
      } else {
        memcpy(&w, want->raw_data.data + 4 * i, 4);
        got = ((float *)c.out[0].data)[i];
      }
      ck_assert_msg(got == w || (isnan(got) && isnan(w)) || (dir && fabsf(got - w) <= fabsf(w) / 128),
                    "%s [%lld]: %g, want %g", test, (long long)i, got, w);
    }
    kf_free(&c);
    onnx__tensor_proto__free_unpacked(in, NULL);
    onnx__tensor_proto__free_unpacked(want, NULL);
  }
}
END_TEST

/* ---- accuracy of the vector math ---- */

/* |got - want| relative to |want|, at least floor_; a negative floor_
 * means relative to |want| + |floor_ x| instead. */
static double rel_err(double got, double want, double x, double floor_) {
  if (isnan(want)) return isnan(got) ? 0 : INFINITY;
  if (isinf(want)) return got == want ? 0 : INFINITY;
  if (floor_ < 0) return fabs(got - want) / (fabs(want) + fabs(floor_ * x));
  return fabs(got - want) / fmax(fabs(want), floor_);
}

typedef void (*vfn)(const float *, float *, int64_t);

static double sweep(vfn f, double (*ref)(double), float lo, float hi, int64_t n, double floor_) {
  float *x = calloc((size_t)n, sizeof *x), *y = calloc((size_t)n, sizeof *y);
  ck_assert(x && y);
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)i / (float)(n - 1);
  f(x, y, n);
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = rel_err(y[i], ref(x[i]), x[i], floor_);
    if (e > worst) worst = e;
  }
  free(x);
  free(y);
  return worst;
}

static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }
static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
/* x/2 (1 + tanh u) as x sigmoid(2u): no cancellation in the reference */
static double fastgelu_ref(double x) {
  return x / (1 + exp(-2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* The sweeps and specials on the active instruction set. */
static void vmath_checks(const char *isa) {
  double e;
  e = sweep(ferry_vexp_f32, exp, -87.0f, 88.7f, 1000003, 0);
  ck_assert_msg(e < 2e-7 * 4, "%s exp: %g", isa, e);
  e = sweep(ferry_vexp_f32, exp, -103.0f, -87.0f, 10001, 1.17549435e-38); /* subnormal results */
  ck_assert_msg(e < 1e-6, "%s exp subnormal: %g", isa, e);
  e = sweep(ferry_vtanh_f32, tanh, -12.0f, 12.0f, 1000003, 0);
  ck_assert_msg(e < 1e-6, "%s tanh: %g", isa, e);
  e = sweep(ferry_vtanh_f32, tanh, -1e-3f, 1e-3f, 10001, 0);
  ck_assert_msg(e < 1e-6, "%s tanh near 0: %g", isa, e);
  e = sweep(ferry_verf_f32, erf, -6.0f, 6.0f, 1000003, 0);
  ck_assert_msg(e < 1e-6, "%s erf: %g", isa, e);
  e = sweep(ferry_verf_f32, erf, -1e-3f, 1e-3f, 10001, 0);
  ck_assert_msg(e < 1e-6, "%s erf near 0: %g", isa, e);
  e = sweep(ferry_vsigmoid_f32, sigmoid_ref, -80.0f, 80.0f, 1000003, 0);
  ck_assert_msg(e < 1e-6, "%s sigmoid: %g", isa, e);
  /* gelu: 1 + erf cancels for negative x, leaving erf's absolute error
   * (4e-7) times x/2: error within 1e-6 (|gelu(x)| + |x|/4) */
  e = sweep(ferry_vgelu_f32, gelu_ref, -10.0f, 10.0f, 1000003, -0.25);
  ck_assert_msg(e < 1e-6, "%s gelu: %g", isa, e);
  /* fastgelu: x sigmoid(2u); for x << 0 the float rounding of 2u (about
   * |2u| 6e-8) becomes e^-2u's relative error */
  e = sweep(ferry_vfastgelu_f32, fastgelu_ref, -3.0f, 10.0f, 1000003, 1e-30);
  ck_assert_msg(e < 2e-6, "%s fastgelu: %g", isa, e);
  e = sweep(ferry_vfastgelu_f32, fastgelu_ref, -10.0f, -3.0f, 100003, 1e-30);
  ck_assert_msg(e < 3e-5, "%s fastgelu tail: %g", isa, e);
  /* every length up to 40 (the main loop's steps of several vectors, the
   * single-vector loop, the padded tail): each element as in a long run */
  static const vfn fns[] = {ferry_vexp_f32, ferry_vtanh_f32, ferry_verf_f32, ferry_vsigmoid_f32, ferry_vgelu_f32,
                            ferry_vfastgelu_f32};
  float lx[40], ly[40], full[40];
  for (int i = 0; i < 40; i++) lx[i] = (float)i * 0.23f - 4.0f;
  for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
    fns[f](lx, full, 40);
    for (int n = 1; n <= 40; n++) {
      for (int i = 0; i < 40; i++) ly[i] = 12345.0f;
      fns[f](lx, ly, n);
      ck_assert_msg(!memcmp(ly, full, (size_t)n * sizeof *ly) && (n == 40 || ly[n] == 12345.0f),
                    "%s function %zu, length %d", isa, f, n);
    }
  }
  /* specials */
  float sx[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 100.0f, -200.0f}, sy[7];
  ferry_vexp_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == INFINITY && sy[2] == 0 && sy[3] == 1 && sy[5] == INFINITY && sy[6] == 0, "%s specials", isa);
  ferry_vtanh_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == 1 && sy[2] == -1 && sy[3] == 0 && signbit(sy[4]) && sy[5] == 1, "%s specials", isa);
  ferry_verf_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == 1 && sy[2] == -1 && sy[3] == 0 && sy[6] == -1, "%s specials", isa);
  ferry_vsigmoid_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == 1 && sy[2] == 0 && sy[3] == 0.5f, "%s specials", isa);
  ferry_vgelu_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == INFINITY && sy[2] == 0 && sy[3] == 0 && sy[5] == 100.0f, "%s specials", isa);
  ferry_vfastgelu_f32(sx, sy, 7);
  ck_assert_msg(isnan(sy[0]) && sy[1] == INFINITY && sy[2] == 0 && sy[3] == 0 && sy[5] == 100.0f, "%s specials", isa);
}

/* Both instruction sets of elementwise_vmath.c (vmath_body.h: generic and
 * AVX2) against libm. */
START_TEST(test_vmath_accuracy) {
  static const char *isas[2] = {"generic", "avx2"};
  int ran = 0;
  for (int i = 0; i < 2; i++)
    if (ferry_gemm_use_isa(isas[i])) vmath_checks(isas[i]), ran++;
  ck_assert_int_ge(ran, 1);
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ---- activations, Clip, IsInf: small exact checks ---- */

START_TEST(test_unary_attrs) {
  float x[] = {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f, NAN}, y[6];
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){6}, x);
  kf_in(&c, FERRY_F32, 0, NULL, (float[]){-1.0f});
  kf_in(&c, 0, 0, NULL, NULL); /* no max */
  kf_out(&c, FERRY_F32, 1, (int64_t[]){6});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Clip), 0);
  memcpy(y, c.out[0].data, sizeof y);
  ck_assert(y[0] == -1.0f && y[1] == -0.5f && y[4] == 2.0f && isnan(y[5]));
  kf_free(&c);
  kf_init(&c, 6); /* attributes before opset 11 */
  kf_in(&c, FERRY_F32, 1, (int64_t[]){6}, x);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){6});
  kf_attr_float(&c, "min", 0.0f);
  kf_attr_float(&c, "max", 1.0f);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Clip), 0);
  memcpy(y, c.out[0].data, sizeof y);
  ck_assert(y[0] == 0 && y[3] == 0.5f && y[4] == 1.0f);
  kf_free(&c);
  /* integer Clip with uint64 bounds beyond int64 */
  uint64_t ux[] = {1, UINT64_MAX - 1, UINT64_MAX};
  kf_init(&c, 13);
  kf_in(&c, FERRY_U64, 1, (int64_t[]){3}, ux);
  kf_in(&c, FERRY_U64, 0, NULL, (uint64_t[]){2});
  kf_in(&c, FERRY_U64, 0, NULL, (uint64_t[]){UINT64_MAX - 1});
  kf_out(&c, FERRY_U64, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Clip), 0);
  uint64_t *uy = c.out[0].data;
  ck_assert(uy[0] == 2 && uy[1] == UINT64_MAX - 1 && uy[2] == UINT64_MAX - 1);
  kf_free(&c);
  /* Relu keeps NaN; IsInf directions */
  run1(ferry_kernel_Relu, FERRY_F32, FERRY_F32, 6, x, y, 14);
  ck_assert(y[0] == 0 && y[4] == 2.0f && isnan(y[5]));
  float inf[] = {INFINITY, -INFINITY, 1.0f, NAN};
  uint8_t b[4];
  kf_init(&c, 20);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){4}, inf);
  kf_out(&c, FERRY_BOOL, 1, (int64_t[]){4});
  kf_attr_int(&c, "detect_positive", 0);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_IsInf), 0);
  memcpy(b, c.out[0].data, 4);
  ck_assert(b[0] == 0 && b[1] == 1 && b[2] == 0 && b[3] == 0);
  kf_free(&c);
  /* Mish, Gelu (opset 20 with approximate), FastGelu with bias */
  run1(ferry_kernel_Mish, FERRY_F32, FERRY_F32, 5, x, y, 18);
  for (int i = 0; i < 5; i++) {
    double v = x[i], want = v * tanh(log1p(exp(v)));
    ck_assert_msg(fabs(y[i] - want) < 1e-6, "mish(%g) = %g, want %g", v, y[i], want);
  }
  kf_init(&c, 20);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){5}, x);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){5});
  kf_attr_string(&c, "approximate", "tanh");
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Gelu), 0);
  for (int i = 0; i < 5; i++)
    ck_assert(fabs(((float *)c.out[0].data)[i] - fastgelu_ref(x[i])) < 1e-6);
  kf_free(&c);
  float bias[] = {1.0f, -1.0f, 0.5f};
  float xb[] = {0.1f, 0.2f, 0.3f, -0.4f, -0.5f, -0.6f};
  kf_init(&c, 1);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, xb);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, bias);
  kf_out(&c, FERRY_F32, 2, (int64_t[]){2, 3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_FastGelu), 0);
  for (int i = 0; i < 6; i++)
    ck_assert(fabs(((float *)c.out[0].data)[i] - fastgelu_ref((double)xb[i] + bias[i % 3])) < 1e-6);
  kf_free(&c);
}
END_TEST

/* ---- parallel chunks and variadic ops ---- */

static int64_t calls;
static void counting_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)k;
  for (int64_t i = n - 1; i >= 0; i--, calls++) fn(arg, i, i + 1); /* one item at a time, backwards */
}

START_TEST(test_parallel_chunks) {
  int64_t n = 3 * FERRY_EW_CHUNK + 123;
  float *a = rand_floats(n, 3), *b = rand_floats(n / 7 + 1, 4);
  kf_call c;
  kf_init(&c, 17);
  c.k.parallel = counting_parallel;
  kf_in(&c, FERRY_F32, 2, (int64_t[]){7, n / 7}, a);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){n / 7}, b);
  kf_out(&c, FERRY_F32, 2, (int64_t[]){7, n / 7});
  calls = 0;
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Add), 0);
  ck_assert_int_ge(calls, 3);
  for (int64_t i = 0; i < 7 * (n / 7); i++)
    ck_assert(((float *)c.out[0].data)[i] == a[i] + b[i % (n / 7)]);
  kf_free(&c);
  kf_init(&c, 17);
  c.k.parallel = counting_parallel;
  kf_in(&c, FERRY_F32, 1, (int64_t[]){n}, a);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){n});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Tanh), 0);
  float *ref = malloc((size_t)n * sizeof *ref);
  ferry_vtanh_f32(a, ref, n);
  ck_assert(memcmp(ref, c.out[0].data, (size_t)n * sizeof *ref) == 0);
  kf_free(&c);
  free(ref);
  free(a);
  free(b);
}
END_TEST

/* ---- fused chains ---- */

typedef struct chain_case {
  ferry_kernel_fn fn;
  ferry_chain_op op;
  const char *attr1, *attr2; /* float attributes taking op.alpha, op.beta */
} chain_case;

/* y = the op of cc through its own kernel; a (or b) NULL: the constant. */
static void kernel_step(const chain_case *cc, const float *a, const float *b, int64_t n, float *y) {
  kf_call c;
  kf_init(&c, 17);
  bool binary = cc->op.code <= FERRY_CH_DIV;
  kf_in(&c, FERRY_F32, a ? 1 : 0, (int64_t[]){n}, a ? a : &cc->op.c);
  if (binary) kf_in(&c, FERRY_F32, b ? 1 : 0, (int64_t[]){n}, b ? b : &cc->op.c);
  if (cc->attr1) kf_attr_float(&c, cc->attr1, cc->op.alpha);
  if (cc->attr2) kf_attr_float(&c, cc->attr2, cc->op.beta);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){n});
  ck_assert_int_eq(kf_run(&c, cc->fn), 0);
  memcpy(y, c.out[0].data, (size_t)n * sizeof *y);
  kf_free(&c);
}

enum { X = 0, Y = 1, ACC = FERRY_CH_ACC, K = FERRY_CH_CONST };

/* The chain of the n_ops steps of cases against each op's own kernel, bit
 * for bit (NaN as NaN), evaluated in two pieces (a block boundary inside)
 * on lengths with odd tails. */
static void chain_vs_kernels(const chain_case *cases, int n_ops) {
  for (int64_t n = 1; n <= 1037; n += 259) {
    float *x = rand_floats(n, 11), *y = rand_floats(n, 12), *want = malloc((size_t)n * sizeof(float));
    float *got = malloc((size_t)n * sizeof(float)), *acc = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] *= 8, y[i] = i % 97 == 5 ? NAN : i % 89 == 3 ? 0.0f : y[i] * 5;
    ferry_chain_op ops[32];
    ck_assert_int_le(n_ops, 32);
    for (int k = 0; k < n_ops; k++) {
      const chain_case *cc = &cases[k];
      const float *src[2];
      int opnd[2] = {cc->op.a, cc->op.b};
      for (int j = 0; j < 2; j++)
        src[j] = opnd[j] == X ? x : opnd[j] == Y ? y : opnd[j] == ACC ? acc : NULL;
      kernel_step(cc, src[0], src[1], n, want);
      memcpy(acc, want, (size_t)n * sizeof *acc);
      ops[k] = cc->op;
    }
    const float *in[2] = {x, y};
    int64_t half = n > 512 ? 512 : n;
    ferry_chain_eval(ops, n_ops, in, 0, half, got);
    ferry_chain_eval(ops, n_ops, in, half, n - half, got);
    for (int64_t i = 0; i < n; i++)
      ck_assert_msg((isnan(got[i]) && isnan(want[i])) || !memcmp(&got[i], &want[i], sizeof *got),
                    "n %lld: element %lld: chain %a, kernels %a", (long long)n, (long long)i, got[i], want[i]);
    free(x), free(y), free(want), free(got), free(acc);
  }
}

/* Every chain step, with operands from inputs, the accumulator and
 * constants on either side. */
START_TEST(test_chain_matches_kernels) {
  static const chain_case cases[] = {
      {ferry_kernel_Sub, {FERRY_CH_SUB, X, Y, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Div, {FERRY_CH_DIV, K, ACC, 2.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_HardSigmoid, {FERRY_CH_HARDSIGMOID, ACC, 0, 0, 0.3f, 0.4f}, "alpha", "beta"},
      {ferry_kernel_Mul, {FERRY_CH_MUL, X, ACC, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_LeakyRelu, {FERRY_CH_LEAKYRELU, ACC, 0, 0, 0.1f, 0}, "alpha", NULL},
      {ferry_kernel_Sub, {FERRY_CH_SUB, ACC, K, 0.25f, 0, 0}, NULL, NULL},
      {ferry_kernel_HardSwish, {FERRY_CH_HARDSWISH, ACC, 0, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Sigmoid, {FERRY_CH_SIGMOID, ACC, 0, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Add, {FERRY_CH_ADD, ACC, ACC, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Div, {FERRY_CH_DIV, ACC, Y, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Tanh, {FERRY_CH_TANH, ACC, 0, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Relu, {FERRY_CH_RELU, ACC, 0, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Mul, {FERRY_CH_MUL, ACC, K, -3.0f, 0, 0}, NULL, NULL},
      {ferry_kernel_Add, {FERRY_CH_ADD, Y, ACC, 0, 0, 0}, NULL, NULL},
  };
  chain_vs_kernels(cases, sizeof cases / sizeof *cases);
}
END_TEST

/* Steps the evaluator runs two at a time: affine pairs (a step with a
 * constant, then one of its result and a constant; the constant first
 * where the order does not matter) and gates (x * HardSigmoid(x), x an
 * input, either order); and neighbours that must not pair: a constant
 * first in - or /, HardSigmoid of the accumulator then Mul(ACC, ACC),
 * which squares the HardSigmoid. */
START_TEST(test_chain_pairs) {
  static const chain_case affine[] = {
      {ferry_kernel_Mul, {FERRY_CH_MUL, X, K, 1.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_Add, {FERRY_CH_ADD, ACC, K, -0.25f, 0, 0}, NULL, NULL},
      {ferry_kernel_Sub, {FERRY_CH_SUB, ACC, K, 0.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_Div, {FERRY_CH_DIV, ACC, K, 3.0f, 0, 0}, NULL, NULL},
      {ferry_kernel_Add, {FERRY_CH_ADD, K, ACC, 2.0f, 0, 0}, NULL, NULL},
      {ferry_kernel_Mul, {FERRY_CH_MUL, K, ACC, -0.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_Div, {FERRY_CH_DIV, K, ACC, 2.0f, 0, 0}, NULL, NULL},
      {ferry_kernel_Sub, {FERRY_CH_SUB, K, ACC, 1.0f, 0, 0}, NULL, NULL},
      {ferry_kernel_Mul, {FERRY_CH_MUL, ACC, K, 0.75f, 0, 0}, NULL, NULL},
  };
  static const chain_case gate_y[] = {
      {ferry_kernel_HardSigmoid, {FERRY_CH_HARDSIGMOID, Y, 0, 0, 0.2f, 0.5f}, "alpha", "beta"},
      {ferry_kernel_Mul, {FERRY_CH_MUL, ACC, Y, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Sub, {FERRY_CH_SUB, ACC, K, 0.125f, 0, 0}, NULL, NULL},
  };
  static const chain_case gate_x[] = {
      {ferry_kernel_HardSigmoid, {FERRY_CH_HARDSIGMOID, X, 0, 0, 0.3f, 0.4f}, "alpha", "beta"},
      {ferry_kernel_Mul, {FERRY_CH_MUL, X, ACC, 0, 0, 0}, NULL, NULL},
      {ferry_kernel_Mul, {FERRY_CH_MUL, K, ACC, 0.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_Add, {FERRY_CH_ADD, ACC, K, 1.0f, 0, 0}, NULL, NULL},
  };
  static const chain_case squared[] = {
      {ferry_kernel_Mul, {FERRY_CH_MUL, X, K, 0.5f, 0, 0}, NULL, NULL},
      {ferry_kernel_HardSigmoid, {FERRY_CH_HARDSIGMOID, ACC, 0, 0, 0.25f, 0.5f}, "alpha", "beta"},
      {ferry_kernel_Mul, {FERRY_CH_MUL, ACC, ACC, 0, 0, 0}, NULL, NULL},
  };
  chain_vs_kernels(affine, sizeof affine / sizeof *affine);
  chain_vs_kernels(gate_y, sizeof gate_y / sizeof *gate_y);
  chain_vs_kernels(gate_x, sizeof gate_x / sizeof *gate_x);
  chain_vs_kernels(squared, sizeof squared / sizeof *squared);
}
END_TEST

START_TEST(test_variadic) {
  float a[] = {1, 2, 3}, b[] = {10}, d[2][1] = {{100}, {200}};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, a);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){1}, b);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 1}, d);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Mean), 0);
  ck_assert_int_eq(c.out[0].rank, 2);
  ck_assert_int_eq(c.out[0].numel, 6);
  float *y = c.out[0].data;
  ck_assert(y[0] == 111.0f / 3 && y[5] == 213.0f / 3);
  kf_free(&c);
  float n1[] = {1, NAN, 3}, n2[] = {2, 0, NAN};
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, n1);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, n2);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Max), 0);
  y = c.out[0].data;
  ck_assert(y[0] == 2 && isnan(y[1]) && isnan(y[2]));
  kf_free(&c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("kernels_elementwise");
  TCase *t = tcase_create("node");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_node_tests);
  suite_add_tcase(s, t);
  t = tcase_create("hand");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, test_broadcast_shapes);
  tcase_add_test(t, test_broadcast_errors);
  tcase_add_test(t, test_legacy_broadcast);
  tcase_add_test(t, test_fast_vs_generic);
  tcase_add_test(t, test_half_unary);
  tcase_add_test(t, test_half_binary);
  tcase_add_test(t, test_empty);
  tcase_add_test(t, test_where_not_fast);
  tcase_add_test(t, test_int_semantics);
  tcase_add_test(t, test_pow_mixed);
  tcase_add_test(t, test_cast_edges);
  tcase_add_test(t, test_cast_round_trips);
  tcase_add_test(t, test_cast_bf16_data);
  tcase_add_test(t, test_vmath_accuracy);
  tcase_add_test(t, test_unary_attrs);
  tcase_add_test(t, test_parallel_chunks);
  tcase_add_test(t, test_variadic);
  tcase_add_test(t, test_chain_matches_kernels);
  tcase_add_test(t, test_chain_pairs);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(suite());
  srunner_run_all(r, CK_ENV);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
