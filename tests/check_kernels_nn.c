/*
 * check_kernels_nn.c - the nn kernels (runtime/kernels/nn*.c): pooling,
 * normalization, softmax family, reductions, ArgMax/ArgMin/TopK,
 * quantization, Dropout, NonMaxSuppression, Det, GridSample.
 *
 *   node tests   every ONNX node test whose one node is one of these ops
 *                passes through its registry kernel (tests/nodetest.h),
 *                but for the listed known exceptions;
 *   reductions   empty sets (identity values), keepdims, several axes
 *                against a naive reference, integer dtypes, noop;
 *   nan/inf      NaN and -inf in MaxPool (fast and generic paths),
 *                ReduceMax, ArgMax/ArgMin, TopK order and ties;
 *   numerics     softmax / log-softmax of huge and tiny values, the
 *                vector exp and the row max on both instruction sets,
 *                float16 LayerNormalization;
 *   pooling      the float32 fast path against the generic one (strides,
 *                dilations, pads, ceil_mode, count_include_pad), the
 *                separable rows on both instruction sets, wide and 1-D;
 *   errors       bad indices and batch indices give an error, not a crash;
 *                data-dependent outputs go through set_output.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "kernels/gemm.h"
#include "kernels/nn.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "testutil.h"

/* ---- node tests ---- */

static const char *const OPS[] = {
    "MaxPool", "AveragePool", "LpPool", "GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool", "MaxUnpool",
    "MaxRoiPool", "RoiAlign", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
    "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN", "Softmax", "LogSoftmax",
    "Hardmax", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "TopK", "QuantizeLinear",
    "DequantizeLinear", "DynamicQuantizeLinear", "Dropout", "NonMaxSuppression", "Det", "GridSample",
};

/* Node tests allowed to fail or error, and why. */
static const char *const KNOWN[] = {
    /* Dropout in training mode with a non-zero ratio draws random masks
     * from an unseeded generator: no reference can be matched, and ferry
     * runs inference only, so the kernel refuses it with an error. */
    "test_training_dropout", "test_training_dropout_default", "test_training_dropout_default_mask",
    "test_training_dropout_mask",
};

START_TEST(test_node_tests) {
  nodetest_tally t;
  nodetest_run_family("nn", OPS, (int)(sizeof OPS / sizeof *OPS), KNOWN, (int)(sizeof KNOWN / sizeof *KNOWN), &t);
  ck_assert_int_gt(t.n[NT_PASS], 230);
  ck_assert_msg(t.unexpected == 0, "%d node tests failed (see above)", t.unexpected);
}
END_TEST

/* ---- helpers ---- */

static const int64_t ONE[1] = {1};

static float *out_f(kf_call *c, int i) { return c->k.out[i].data; }
static int64_t *out_i(kf_call *c, int i) { return c->k.out[i].data; }

static void close_f(float got, double want, double tol, const char *what, int64_t i) {
  if (isnan(want)) {
    ck_assert_msg(isnan(got), "%s[%lld] = %g, want NaN", what, (long long)i, got);
    return;
  }
  if (isinf(want)) {
    ck_assert_msg(got == want, "%s[%lld] = %g, want %g", what, (long long)i, got, want);
    return;
  }
  ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "%s[%lld] = %.9g, want %.9g", what, (long long)i, got,
                want);
}

/* Deterministic pseudo-random floats in [-scale, scale). */
static void fill(float *v, int64_t n, unsigned seed, float scale) {
  unsigned s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    v[i] = ((float)(s >> 8) / 16777216.0f * 2 - 1) * scale;
  }
}

/* ---- reductions ---- */

/* A reduce op on x [dims] over axes (attribute, opset 13) into a known
 * output shape; returns the kf_call (caller frees). */
static void reduce_call(kf_call *c, ferry_kernel_fn fn, int opset, const float *x, int rank, const int64_t *dims,
                        int n_axes, const int64_t *axes, int keep, int orank, const int64_t *od) {
  kf_init(c, opset);
  kf_in(c, FERRY_F32, rank, dims, x);
  if (opset >= 18 || (opset >= 13 && fn == ferry_kernel_ReduceSum)) kf_in(c, FERRY_I64, 1, (int64_t[]){n_axes}, axes);
  else if (n_axes) kf_attr_ints(c, "axes", n_axes, axes);
  kf_attr_int(c, "keepdims", keep);
  kf_out(c, FERRY_F32, orank, od);
  ck_assert_int_eq(kf_run(c, fn), 0);
}

START_TEST(test_reduce_empty_set) {
  /* x [2, 0, 3] reduced over axis 1: identity values for every op */
  struct {
    ferry_kernel_fn fn;
    double want;
  } cases[] = {
      {ferry_kernel_ReduceSum, 0},        {ferry_kernel_ReduceSumSquare, 0}, {ferry_kernel_ReduceL1, 0},
      {ferry_kernel_ReduceL2, 0},         {ferry_kernel_ReduceProd, 1},      {ferry_kernel_ReduceMax, -INFINITY},
      {ferry_kernel_ReduceMin, INFINITY}, {ferry_kernel_ReduceMean, NAN},    {ferry_kernel_ReduceLogSum, -INFINITY},
      {ferry_kernel_ReduceLogSumExp, -INFINITY},
  };
  for (size_t t = 0; t < sizeof cases / sizeof *cases; t++)
    for (int keep = 0; keep < 2; keep++) {
      kf_call c;
      int64_t od[3] = {2, 1, 3};
      reduce_call(&c, cases[t].fn, 18, NULL, 3, (int64_t[]){2, 0, 3}, 1, (int64_t[]){1}, keep, keep ? 3 : 2,
                  keep ? od : (int64_t[]){2, 3});
      for (int i = 0; i < 6; i++) close_f(out_f(&c, 0)[i], cases[t].want, 0, "empty", (int64_t)t);
      kf_free(&c);
    }
  /* integer max over an empty set gives the dtype's minimum */
  kf_call c;
  kf_init(&c, 18);
  kf_in(&c, FERRY_I8, 2, (int64_t[]){0, 2}, NULL);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){1}, (int64_t[]){0});
  kf_attr_int(&c, "keepdims", 0);
  kf_out(&c, FERRY_I8, 1, (int64_t[]){2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMax), 0);
  ck_assert_int_eq(((int8_t *)c.k.out[0].data)[1], -128);
  kf_free(&c);
}
END_TEST

/* Naive reference: reduce x [2, 3, 4, 5] over marked axes with op. */
static double naive_reduce(const float *x, const int *mark, const int64_t *oidx, int op) {
  double acc = op == 2 ? -INFINITY : op == 3 ? 1 : 0, cnt = 0, m = -INFINITY;
  for (int64_t i = 0; i < 120; i++) {
    int64_t idx[4] = {i / 60, i / 20 % 3, i / 5 % 4, i % 5}, ok = 1;
    for (int a = 0; a < 4; a++) ok &= mark[a] || idx[a] == oidx[a];
    if (!ok) continue;
    double v = x[i];
    cnt++;
    if (op == 0) acc += v;
    else if (op == 1) acc += v * v;
    else if (op == 2) acc = v > acc ? v : acc;
    else if (op == 3) acc *= v;
    else if (op == 5) acc += v;
    else m = v > m ? v : m;
  }
  if (op == 4) { /* log-sum-exp */
    for (int64_t i = 0; i < 120; i++) {
      int64_t idx[4] = {i / 60, i / 20 % 3, i / 5 % 4, i % 5}, ok = 1;
      for (int a = 0; a < 4; a++) ok &= mark[a] || idx[a] == oidx[a];
      if (ok) acc += exp(x[i] - m);
    }
    return m + log(acc);
  }
  if (op == 5) return acc / cnt;
  return acc;
}

START_TEST(test_reduce_axes_keepdims) {
  static const int64_t dims[4] = {2, 3, 4, 5};
  float x[120];
  fill(x, 120, 7, 1.5f);
  ferry_kernel_fn fns[] = {ferry_kernel_ReduceSum, ferry_kernel_ReduceSumSquare, ferry_kernel_ReduceMax,
                           ferry_kernel_ReduceProd, ferry_kernel_ReduceLogSumExp, ferry_kernel_ReduceMean};
  for (int mask = 0; mask < 16; mask++)
    for (int op = 0; op < 6; op++)
      for (int keep = 0; keep < 2; keep++) {
        int mark[4], n = 0, orank = 0;
        int64_t axes[4], od[4];
        for (int a = 0; a < 4; a++) {
          mark[a] = mask >> a & 1;
          if (mark[a]) axes[n++] = a - (a & 1) * 4; /* some negative */
          if (!mark[a] || keep) od[orank++] = mark[a] ? 1 : dims[a];
        }
        if (n == 0)
          for (int a = 0; a < 4; a++) mark[a] = 1; /* no axes: all */
        if (n == 0) {
          orank = keep ? 4 : 0;
          for (int a = 0; a < 4; a++) od[a] = 1;
        }
        kf_call c;
        reduce_call(&c, fns[op], mask % 2 ? 13 : 18, x, 4, dims, n, axes, keep, orank, od); /* attribute or input */
        int64_t on = c.k.out[0].numel, j = 0;
        for (int64_t i = 0; i < 120; i++) { /* walk the output positions in order */
          int64_t idx[4] = {i / 60, i / 20 % 3, i / 5 % 4, i % 5}, first = 1;
          for (int a = 0; a < 4; a++) first &= !mark[a] || idx[a] == 0;
          if (!first) continue;
          close_f(out_f(&c, 0)[j], naive_reduce(x, mark, idx, op), 2e-5, "reduce", mask * 100 + op);
          j++;
        }
        ck_assert_int_eq(j, on);
        kf_free(&c);
      }
}
END_TEST

START_TEST(test_reduce_integers) {
  kf_call c;
  int32_t xi[6] = {2147483647, 1, -5, 7, 3, -2};
  kf_init(&c, 13);
  kf_in(&c, FERRY_I32, 2, (int64_t[]){2, 3}, xi);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){1}, (int64_t[]){1});
  kf_attr_int(&c, "keepdims", 0);
  kf_out(&c, FERRY_I32, 1, (int64_t[]){2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceSum), 0);
  ck_assert_int_eq(((int32_t *)c.k.out[0].data)[0], (int32_t)(2147483647u - 4u)); /* wraps */
  ck_assert_int_eq(((int32_t *)c.k.out[0].data)[1], 8);
  kf_free(&c);
  uint64_t xu[3] = {UINT64_MAX, 1, 0x8000000000000000u};
  kf_init(&c, 18);
  kf_in(&c, FERRY_U64, 1, (int64_t[]){3}, xu);
  kf_attr_int(&c, "keepdims", 0);
  kf_out(&c, FERRY_U64, 0, ONE);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMax), 0);
  ck_assert(*(uint64_t *)c.k.out[0].data == UINT64_MAX);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMin), 0);
  ck_assert(*(uint64_t *)c.k.out[0].data == 1);
  kf_free(&c);
  int64_t xm[4] = {-7, 2, 9, 4};
  kf_init(&c, 18);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){4}, xm);
  kf_attr_int(&c, "keepdims", 1);
  kf_out(&c, FERRY_I64, 1, ONE);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMean), 0);
  ck_assert_int_eq(out_i(&c, 0)[0], 2);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceL1), 0);
  ck_assert_int_eq(out_i(&c, 0)[0], 22);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceL2), 0);
  ck_assert_int_eq(out_i(&c, 0)[0], 12); /* sqrt(150) truncated */
  kf_free(&c);
}
END_TEST

START_TEST(test_reduce_noop_and_axes_input) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  kf_call c;
  kf_init(&c, 18);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){0}, NULL);
  kf_attr_int(&c, "noop_with_empty_axes", 1);
  kf_out(&c, FERRY_F32, 2, (int64_t[]){2, 3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceSumSquare), 0);
  for (int i = 0; i < 6; i++) ck_assert_float_eq(out_f(&c, 0)[i], x[i]);
  kf_free(&c);
  /* the output shape unknown to the executor: set_output */
  kf_init(&c, 18);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){-1});
  kf_attr_int(&c, "keepdims", 0);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMean), 0);
  ck_assert_int_eq(c.k.out[0].rank, 1);
  ck_assert_int_eq(c.k.out[0].dims[0], 2);
  ck_assert_float_eq(out_f(&c, 0)[1], 5);
  kf_free(&c);
  /* an axis out of range is an error */
  kf_init(&c, 18);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){2});
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceSum), FERRY_E_INPUT);
  ck_assert_ptr_nonnull(strstr(c.k.err, "out of range"));
  kf_free(&c);
}
END_TEST

/* ---- NaN and -inf ---- */

START_TEST(test_reduce_max_nan) {
  float x[11] = {1, 2, 3, 4, 5, 6, 7, NAN, 9, 10, 11};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){11}, x);
  kf_attr_int(&c, "keepdims", 0);
  kf_out(&c, FERRY_F32, 0, ONE);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMax), 0);
  ck_assert(isnan(out_f(&c, 0)[0]));
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMin), 0);
  ck_assert(isnan(out_f(&c, 0)[0]));
  kf_free(&c);
  float y[5] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){5}, y);
  kf_attr_int(&c, "keepdims", 0);
  kf_out(&c, FERRY_F32, 0, ONE);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceLogSumExp), 0);
  ck_assert(out_f(&c, 0)[0] == -INFINITY);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ReduceMax), 0);
  ck_assert(out_f(&c, 0)[0] == -INFINITY);
  kf_free(&c);
}
END_TEST

/* ArgMax/ArgMin of a row, through the float32 fast path and the generic
 * (float64) one, which must agree. */
static int64_t argx(ferry_kernel_fn fn, const float *x, int n, int last) {
  int64_t r[2];
  double xd[16];
  for (int i = 0; i < n; i++) xd[i] = x[i];
  for (int f64 = 0; f64 < 2; f64++) {
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, f64 ? FERRY_F64 : FERRY_F32, 1, (int64_t[]){n}, f64 ? (const void *)xd : (const void *)x);
    kf_attr_int(&c, "keepdims", 0);
    kf_attr_int(&c, "select_last_index", last);
    kf_out(&c, FERRY_I64, 0, ONE);
    ck_assert_int_eq(kf_run(&c, fn), 0);
    r[f64] = out_i(&c, 0)[0];
    kf_free(&c);
  }
  ck_assert_int_eq(r[0], r[1]);
  return r[0];
}

START_TEST(test_argmax_nan_inf) {
  float a[5] = {-INFINITY, 3, NAN, 3, NAN};
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, a, 5, 0), 2); /* NaN wins, as in numpy */
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, a, 5, 1), 4);
  ck_assert_int_eq(argx(ferry_kernel_ArgMin, a, 5, 0), 2);
  float b[4] = {-INFINITY, -INFINITY, -1, -INFINITY};
  ck_assert_int_eq(argx(ferry_kernel_ArgMin, b, 4, 0), 0);
  ck_assert_int_eq(argx(ferry_kernel_ArgMin, b, 4, 1), 3);
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, b, 4, 0), 2);
  float z[3] = {-0.0f, 0.0f, -0.0f}; /* signed zeros are equal */
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, z, 3, 0), 0);
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, z, 3, 1), 2);
  float u[6] = {NAN, 1, NAN, 5, 5, 2};
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, u, 6, 0), 0);
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, u, 6, 1), 2);
  ck_assert_int_eq(argx(ferry_kernel_ArgMin, u + 3, 3, 0), 2);
  ck_assert_int_eq(argx(ferry_kernel_ArgMax, u + 3, 3, 1), 1);
}
END_TEST

START_TEST(test_topk_ties_and_order) {
  float x[8] = {3, 1, 3, NAN, 2, 3, -INFINITY, 1};
  int64_t want_l[5] = {3, 0, 2, 5, 4}, want_s[5] = {6, 1, 7, 4, 0};
  for (int largest = 0; largest < 2; largest++) {
    kf_call c;
    kf_init(&c, 11);
    kf_in(&c, FERRY_F32, 1, (int64_t[]){8}, x);
    kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){5});
    kf_attr_int(&c, "largest", largest);
    kf_out_unknown(&c);
    kf_out_unknown(&c);
    ck_assert_int_eq(kf_run(&c, ferry_kernel_TopK), 0);
    ck_assert_int_eq(c.k.out[1].dims[0], 5);
    for (int i = 0; i < 5; i++) {
      int64_t idx = out_i(&c, 1)[i];
      ck_assert_int_eq(idx, largest ? want_l[i] : want_s[i]);
      ck_assert(memcmp(&out_f(&c, 0)[i], &x[idx], 4) == 0);
    }
    kf_free(&c);
  }
  /* k larger than the axis: an error */
  kf_call c;
  kf_init(&c, 11);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){8}, x);
  kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){9});
  kf_out_unknown(&c);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_TopK), FERRY_E_INPUT);
  kf_free(&c);
}
END_TEST

/* One MaxPool run: x [1, 1, 1, w], kernel 1 x k, stride s, pads p; fast
 * (float32) or generic (float64) path. */
static void maxpool_row(const float *x, int w, int kk, int s, int p, int ow, float *y, int f64, int64_t *ind) {
  kf_call c;
  kf_init(&c, 12);
  double xd[64];
  for (int i = 0; i < w; i++) xd[i] = x[i];
  kf_in(&c, f64 ? FERRY_F64 : FERRY_F32, 4, (int64_t[]){1, 1, 1, w}, f64 ? (const void *)xd : (const void *)x);
  kf_attr_ints(&c, "kernel_shape", 2, (int64_t[]){1, kk});
  kf_attr_ints(&c, "strides", 2, (int64_t[]){1, s});
  kf_attr_ints(&c, "pads", 4, (int64_t[]){0, p, 0, p});
  kf_out(&c, f64 ? FERRY_F64 : FERRY_F32, 4, (int64_t[]){1, 1, 1, ow});
  if (ind) kf_out(&c, FERRY_I64, 4, (int64_t[]){1, 1, 1, ow});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MaxPool), 0);
  for (int i = 0; i < ow; i++) y[i] = f64 ? (float)((double *)c.k.out[0].data)[i] : out_f(&c, 0)[i];
  if (ind) memcpy(ind, c.k.out[1].data, (size_t)ow * sizeof *ind);
  kf_free(&c);
}

START_TEST(test_maxpool_nan_inf) {
  float x[12] = {1, NAN, 2, -INFINITY, -INFINITY, -INFINITY, 5, 4, 3, 2, NAN, 0};
  float want[10] = {NAN, NAN, 2, -INFINITY, 5, 5, 5, 4, NAN, NAN}, y[10];
  int64_t ind[10], want_i[10] = {1, 1, 2, 3, 6, 6, 6, 7, 10, 10};
  for (int f64 = 0; f64 < 3; f64++) {
    maxpool_row(x, 12, 3, 1, 0, 10, y, f64 == 1, f64 == 2 ? ind : NULL);
    for (int i = 0; i < 10; i++) close_f(y[i], want[i], 0, "maxpool", f64 * 100 + i);
    for (int i = 0; f64 == 2 && i < 10; i++) ck_assert_int_eq(ind[i], want_i[i]);
  }
}
END_TEST

/* ---- pooling: fast path against the generic path ---- */

static void pool_run(ferry_kernel_fn fn, int dt, const float *x, const int64_t *xd, const int64_t *kk,
                     const int64_t *st, const int64_t *dl, const int64_t *pads, int ceil, int incl, const int64_t *od,
                     double *y) {
  kf_call c;
  kf_init(&c, 19);
  int64_t n = xd[0] * xd[1] * xd[2] * xd[3];
  double *xv = malloc((size_t)n * sizeof *xv);
  for (int64_t i = 0; i < n; i++) xv[i] = x[i];
  kf_in(&c, dt, 4, xd, dt == FERRY_F32 ? (const void *)x : (const void *)xv);
  free(xv);
  kf_attr_ints(&c, "kernel_shape", 2, kk);
  kf_attr_ints(&c, "strides", 2, st);
  kf_attr_ints(&c, "dilations", 2, dl);
  kf_attr_ints(&c, "pads", 4, pads);
  kf_attr_int(&c, "ceil_mode", ceil);
  kf_attr_int(&c, "count_include_pad", incl);
  kf_out_unknown(&c); /* the kernel computes the output dims itself */
  ck_assert_int_eq(kf_run(&c, fn), 0);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(c.k.out[0].dims[i], od[i]);
  for (int64_t i = 0; i < c.k.out[0].numel; i++) y[i] = ferry_load_f64(c.k.out[0].data, dt, i);
  kf_free(&c);
}

START_TEST(test_pool_fast_vs_generic) {
  static float x[2 * 3 * 11 * 13];
  fill(x, 2 * 3 * 11 * 13, 3, 4);
  int64_t xd[4] = {2, 3, 11, 13};
  for (int cfg = 0; cfg < 48; cfg++) {
    int64_t kk[2] = {1 + cfg % 3, 2 + cfg % 4}, st[2] = {1 + cfg / 3 % 2, 1 + cfg / 6 % 3},
            dl[2] = {1, 1 + cfg / 18 % 2}, pads[4] = {cfg % 2, cfg % 3 > 0, cfg % 2, 1};
    int ceil = cfg / 24, incl = cfg % 5 == 0;
    int64_t od[4] = {2, 3, 0, 0};
    for (int i = 0; i < 2; i++) {
      int64_t ek = (kk[i] - 1) * dl[i] + 1, in = xd[i + 2], num = in + pads[i] + pads[i + 2] - ek;
      od[i + 2] = (ceil ? (num + st[i] - 1) / st[i] : num / st[i]) + 1;
      if (ceil && (od[i + 2] - 1) * st[i] >= in + pads[i]) od[i + 2]--;
    }
    static double a[2 * 3 * 16 * 16], b[2 * 3 * 16 * 16];
    for (int avg = 0; avg < 2; avg++) {
      ferry_kernel_fn fn = avg ? ferry_kernel_AveragePool : ferry_kernel_MaxPool;
      pool_run(fn, FERRY_F32, x, xd, kk, st, dl, pads, ceil, incl, od, a);
      pool_run(fn, FERRY_F64, x, xd, kk, st, dl, pads, ceil, incl, od, b);
      for (int64_t i = 0; i < od[0] * od[1] * od[2] * od[3]; i++) close_f((float)a[i], b[i], 1e-6, "pool", cfg);
    }
  }
}
END_TEST

/* One pool run on x [1, 2, H, W] (rank 4) or [1, 2, W] (rank 3, the 1-D
 * path), square-free window given per dim; output values as doubles. */
static int64_t pool_run_nd(ferry_kernel_fn fn, int dt, int rank, const float *x, int64_t H, int64_t W, const int64_t *kk,
                           const int64_t *st, const int64_t *dl, const int64_t *pads, int ceil, int incl, double *y) {
  kf_call c;
  kf_init(&c, 19);
  int64_t n = 2 * H * W, sp = rank - 2, xd[4] = {1, 2, H, W}, p[4];
  if (rank == 3) xd[2] = W;
  double *xv = malloc((size_t)n * sizeof *xv);
  for (int64_t i = 0; i < n; i++) xv[i] = x[i];
  kf_in(&c, dt, rank, xd, dt == FERRY_F32 ? (const void *)x : (const void *)xv);
  free(xv);
  for (int i = 0; i < sp; i++) p[i] = pads[2 - sp + i], p[i + sp] = pads[4 - sp + i];
  kf_attr_ints(&c, "kernel_shape", (int)sp, kk + 2 - sp);
  kf_attr_ints(&c, "strides", (int)sp, st + 2 - sp);
  kf_attr_ints(&c, "dilations", (int)sp, dl + 2 - sp);
  kf_attr_ints(&c, "pads", 2 * (int)sp, p);
  kf_attr_int(&c, "ceil_mode", ceil);
  kf_attr_int(&c, "count_include_pad", incl);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, fn), 0);
  int64_t m = c.k.out[0].numel;
  for (int64_t i = 0; i < m; i++) y[i] = ferry_load_f64(c.k.out[0].data, dt, i);
  kf_free(&c);
  return m;
}

/* The separable float32 path (window rows reduced into one row, then
 * vectors of columns; pool_row.h) on both instruction sets against the
 * generic double path: rows wide enough for several vectors and a tail,
 * kernels 2 and 3 (the unrolled ones) and others, strides 1-3, dilations,
 * pads with ceil_mode and count_include_pad, 1-D and 2-D, and NaN / -inf
 * inside the windows. */
START_TEST(test_pool_separable) {
  static const char *isas[2] = {"generic", "avx2"};
  static const int64_t widths[] = {1, 4, 7, 8, 9, 16, 17, 23, 40, 67};
  static float x[2 * 9 * 67];
  static double a[2 * 9 * 70], b[2 * 9 * 70];
  int cfg = 0;
  for (int isa = 0; isa < 2; isa++) {
    if (!ferry_gemm_use_isa(isas[isa])) continue;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
      for (int v = 0; v < 12; v++, cfg++) {
        int64_t W = widths[wi], H = 1 + (v + (int)wi) % 9, rank = v % 6 == 5 ? 3 : 4;
        if (rank == 3) H = 1;
        int64_t k = v % 4 == 3 ? 1 + v % 5 : 2 + v % 2, kk[2] = {rank == 3 ? 1 : 1 + (v + 1) % 3, k};
        int64_t st[2] = {1 + v / 4 % 2, 1 + v % 3}, dl[2] = {1, v % 5 == 4 ? 2 : 1};
        int64_t pads[4] = {rank == 3 ? 0 : v % 2, (v / 2) % 2, rank == 3 ? 0 : v % 2, (v / 3) % 2};
        int ceil = v / 6, incl = v % 3 == 1;
        if (W + pads[1] + pads[3] < (k - 1) * dl[1] + 1 || H + pads[0] + pads[2] < (kk[0] - 1) * dl[0] + 1) continue;
        fill(x, 2 * H * W, (unsigned)cfg, 3);
        if (v % 2) x[(cfg * 7) % (2 * H * W)] = NAN, x[(cfg * 13) % (2 * H * W)] = -INFINITY;
        for (int avg = 0; avg < 2; avg++) {
          ferry_kernel_fn fn = avg ? ferry_kernel_AveragePool : ferry_kernel_MaxPool;
          int64_t na = pool_run_nd(fn, FERRY_F32, (int)rank, x, H, W, kk, st, dl, pads, ceil, incl, a);
          int64_t nb = pool_run_nd(fn, FERRY_F64, (int)rank, x, H, W, kk, st, dl, pads, ceil, incl, b);
          ck_assert_int_eq(na, nb);
          for (int64_t i = 0; i < na; i++) close_f((float)a[i], b[i], 1e-6, isas[isa], cfg * 10000 + i);
        }
      }
  }
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ---- softmax numerics ---- */

START_TEST(test_softmax_large_values) {
  enum { N = 37 };
  float x[3 * N];
  fill(x, 3 * N, 11, 1);
  for (int i = 0; i < N; i++) x[i] *= 1e4f, x[N + i] = x[N + i] * 1e-3f - 3e4f; /* huge spread, huge offset */
  x[2 * N] = 1e30f, x[2 * N + 1] = -1e30f, x[2 * N + 2] = -INFINITY;
  for (int lg = 0; lg < 2; lg++) {
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 2, (int64_t[]){3, N}, x);
    kf_out(&c, FERRY_F32, 2, (int64_t[]){3, N});
    ck_assert_int_eq(kf_run(&c, lg ? ferry_kernel_LogSoftmax : ferry_kernel_Softmax), 0);
    for (int r = 0; r < 3; r++) {
      double m = -INFINITY, s = 0;
      for (int i = 0; i < N; i++) m = x[r * N + i] > m ? x[r * N + i] : m;
      for (int i = 0; i < N; i++) s += exp((double)x[r * N + i] - m);
      for (int i = 0; i < N; i++) {
        double d = (double)x[r * N + i] - m, want = lg ? d - log(s) : exp(d) / s;
        float got = out_f(&c, 0)[r * N + i];
        ck_assert_msg(!isnan(got), "NaN at %d", r * N + i);
        if (lg) close_f(got, want, 1e-6, "logsoftmax", r * N + i);
        else ck_assert_msg(fabs(got - want) <= 1e-6 * want + 1e-30, "softmax[%d] = %g, want %g", r * N + i, got, want);
      }
    }
    kf_free(&c);
  }
}
END_TEST

/* ferry_nn_exp_sum_f32 and ferry_nn_max_f32 on both instruction sets
 * (nn_exp.h: generic and AVX2): values, their sum, the max, lengths around
 * both vector widths, NaN and -inf. */
START_TEST(test_vector_exp_accuracy) {
  static const char *isas[2] = {"generic", "avx2"};
  static float x[4001], y[4001];
  int ran = 0;
  for (int isa = 0; isa < 2; isa++) {
    if (!ferry_gemm_use_isa(isas[isa])) continue;
    ran++;
    for (int i = 0; i <= 4000; i++) x[i] = -100.0f + (float)i * 0.0470f;
    ferry_nn_exp_sum_f32(y, x, 4001, 0.0f);
    for (int i = 0; i <= 4000; i++) {
      double want = exp((double)x[i]);
      if (x[i] < -87.34f) ck_assert_msg(y[i] < 1.2e-38f, "%s exp(%g) = %g", isas[isa], x[i], y[i]);
      else if (x[i] > -87.3f)
        ck_assert_msg(fabs(y[i] - want) <= 3e-7 * want, "%s exp(%g) = %.9g, want %.9g", isas[isa], x[i], y[i], want);
    }
    for (int n = 1; n <= 40; n++) { /* the sum: tails of both widths, one and two steps of four chains */
      double want = 0;
      for (int i = 0; i < n; i++) x[i] = (float)(i % 7) * 0.37f - 1.0f, want += exp((double)x[i] - 0.5);
      float got = ferry_nn_exp_sum_f32(NULL, x, n, 0.5f);
      ck_assert_msg(fabs(got - want) <= 1e-6 * want, "%s exp sum of %d = %.9g, want %.9g", isas[isa], n, got, want);
    }
    for (int n = 0; n <= 75; n++) /* the row max: lengths around every step, NaN anywhere */
      for (int nan = -1; nan < n; nan += 5) {
        float want = -INFINITY;
        for (int i = 0; i < n; i++) x[i] = (float)((i * 11 + n) % 17) - 8.0f, want = x[i] > want ? x[i] : want;
        if (nan >= 0) x[nan] = NAN;
        float got = ferry_nn_max_f32(x, n);
        ck_assert_msg(nan >= 0 ? isnan(got) : got == want, "%s max of %d (NaN at %d) = %g", isas[isa], n, nan, got);
      }
    float n[5] = {NAN, 0, -INFINITY, 1, 2};
    ferry_nn_exp_sum_f32(y, n, 5, 0.0f);
    ck_assert(isnan(y[0]));
    ck_assert_float_eq(y[1], 1);
    ck_assert_float_eq(y[2], 0);
  }
  ck_assert_int_ge(ran, 1);
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ferry_nn_sum_f32 and ferry_nn_moments_f32 (four partial sums, then a
 * vector, then single floats) at every length up to 50 against double
 * sums; n 0 gives a NaN mean and variance. */
START_TEST(test_sums_and_moments) {
  float x[50];
  for (int i = 0; i < 50; i++) x[i] = (float)((i * 37) % 23) * 0.11f - 1.2f;
  for (int n = 1; n <= 50; n++) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = s / n;
    for (int i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    float mean, var;
    ferry_nn_moments_f32(x, n, &mean, &var);
    ck_assert_msg(fabs(ferry_nn_sum_f32(x, n) - s) <= 1e-5, "sum of %d", n);
    ck_assert_msg(fabs(mean - m) <= 1e-6 && fabs(var - q / n) <= 1e-6, "moments of %d: %g %g", n, mean, var);
  }
  float mean, var;
  ferry_nn_moments_f32(x, 0, &mean, &var);
  ck_assert(isnan(mean) && isnan(var));
}
END_TEST

START_TEST(test_softmax_axis_opsets) {
  /* opset 11 coerces [2, 3, 4] at axis 1 to [2, 12]; opset 13 works on axis 1 */
  float x[24];
  fill(x, 24, 5, 2);
  for (int opset = 11; opset <= 13; opset += 2) {
    kf_call c;
    kf_init(&c, opset);
    kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 4}, x);
    kf_attr_int(&c, "axis", 1);
    kf_out(&c, FERRY_F32, 3, (int64_t[]){2, 3, 4});
    ck_assert_int_eq(kf_run(&c, ferry_kernel_Softmax), 0);
    for (int n = 0; n < 2; n++) {
      double s = 0;
      for (int i = 0; i < 12; i++) s += out_f(&c, 0)[n * 12 + i];
      if (opset == 11) close_f((float)s, 1, 1e-6, "sum", n);
      for (int j = 0; opset == 13 && j < 4; j++) {
        double t = 0;
        for (int a = 0; a < 3; a++) t += out_f(&c, 0)[n * 12 + a * 4 + j];
        close_f((float)t, 1, 1e-6, "sum", n * 4 + j);
      }
    }
    kf_free(&c);
  }
}
END_TEST

START_TEST(test_layernorm_f16) {
  enum { R = 3, D = 10 };
  float x[R * D], sc[D], b[D];
  uint16_t xh[R * D], sh[D], bh[D];
  fill(x, R * D, 9, 3);
  fill(sc, D, 10, 1);
  fill(b, D, 12, 1);
  for (int i = 0; i < R * D; i++) xh[i] = ferry_f32_to_f16(x[i]), x[i] = ferry_f16_to_f32(xh[i]);
  for (int i = 0; i < D; i++) sh[i] = ferry_f32_to_f16(sc[i]), sc[i] = ferry_f16_to_f32(sh[i]);
  for (int i = 0; i < D; i++) bh[i] = ferry_f32_to_f16(b[i]), b[i] = ferry_f16_to_f32(bh[i]);
  kf_call c, d;
  kf_init(&c, 17);
  kf_in(&c, FERRY_F16, 2, (int64_t[]){R, D}, xh);
  kf_in(&c, FERRY_F16, 1, (int64_t[]){D}, sh);
  kf_in(&c, FERRY_F16, 1, (int64_t[]){D}, bh);
  kf_out(&c, FERRY_F16, 2, (int64_t[]){R, D});
  kf_out(&c, FERRY_F32, 2, (int64_t[]){R, 1});
  kf_out(&c, FERRY_F32, 2, (int64_t[]){R, 1});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_LayerNormalization), 0);
  kf_init(&d, 17);
  kf_in(&d, FERRY_F32, 2, (int64_t[]){R, D}, x);
  kf_in(&d, FERRY_F32, 1, (int64_t[]){D}, sc);
  kf_in(&d, FERRY_F32, 1, (int64_t[]){D}, b);
  kf_out(&d, FERRY_F32, 2, (int64_t[]){R, D});
  kf_out(&d, FERRY_F32, 2, (int64_t[]){R, 1});
  kf_out(&d, FERRY_F32, 2, (int64_t[]){R, 1});
  ck_assert_int_eq(kf_run(&d, ferry_kernel_LayerNormalization), 0);
  for (int i = 0; i < R * D; i++)
    close_f(ferry_f16_to_f32(((uint16_t *)c.k.out[0].data)[i]), out_f(&d, 0)[i], 2e-3, "ln16", i);
  for (int i = 0; i < R; i++) {
    close_f(out_f(&c, 1)[i], out_f(&d, 1)[i], 1e-5, "mean", i);
    close_f(out_f(&c, 2)[i], out_f(&d, 2)[i], 1e-5, "invstd", i);
  }
  kf_free(&c);
  kf_free(&d);
}
END_TEST

/* ---- errors and data-dependent outputs ---- */

START_TEST(test_bad_indices) {
  float x[4] = {1, 2, 3, 4};
  int64_t ix[4] = {0, 3, 16, 5};
  kf_call c;
  kf_init(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 2, 2}, x);
  kf_in(&c, FERRY_I64, 4, (int64_t[]){1, 1, 2, 2}, ix);
  kf_attr_ints(&c, "kernel_shape", 2, (int64_t[]){2, 2});
  kf_attr_ints(&c, "strides", 2, (int64_t[]){2, 2});
  kf_out(&c, FERRY_F32, 4, (int64_t[]){1, 1, 4, 4});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MaxUnpool), FERRY_E_INPUT);
  ck_assert_ptr_nonnull(strstr(c.k.err, "16"));
  kf_free(&c);
  /* RoiAlign with a batch index past N */
  float img[16] = {0}, rois[4] = {0, 0, 2, 2};
  kf_init(&c, 16);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 4, 4}, img);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){1, 4}, rois);
  kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){1});
  kf_out(&c, FERRY_F32, 4, (int64_t[]){1, 1, 1, 1});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_RoiAlign), FERRY_E_INPUT);
  kf_free(&c);
  /* QuantizeLinear with a per-axis scale of the wrong length */
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 2}, x);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, x);
  kf_out(&c, FERRY_U8, 2, (int64_t[]){2, 2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_QuantizeLinear), FERRY_E_INPUT);
  kf_free(&c);
}
END_TEST

START_TEST(test_nms_set_output) {
  float boxes[4 * 4] = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 10, 1, 11, 0, 0, 0, 0};
  float scores[4] = {0.9f, 0.8f, 0.7f, 0.95f};
  kf_call c;
  kf_init(&c, 11);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){1, 4, 4}, boxes);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){1, 1, 4}, scores);
  kf_in(&c, FERRY_I64, 1, ONE, (int64_t[]){10});
  kf_in(&c, FERRY_F32, 1, ONE, (float[]){0.5f});
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_NonMaxSuppression), 0);
  ck_assert_int_eq(c.k.out[0].dims[0], 3); /* box 1 overlaps box 0 */
  int64_t want[3] = {3, 0, 2};
  for (int i = 0; i < 3; i++) ck_assert_int_eq(out_i(&c, 0)[i * 3 + 2], want[i]);
  kf_free(&c);
}
END_TEST

START_TEST(test_det_and_dropout) {
  double m[2 * 9] = {2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 1, 0, 1, 0, 0, 0, 0, 1};
  kf_call c;
  kf_init(&c, 11);
  kf_in(&c, FERRY_F64, 3, (int64_t[]){2, 3, 3}, m);
  kf_out(&c, FERRY_F64, 1, (int64_t[]){2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Det), 0);
  ck_assert_double_eq(((double *)c.k.out[0].data)[0], 24);
  ck_assert_double_eq(((double *)c.k.out[0].data)[1], -1);
  kf_free(&c);
  float x[3] = {1, NAN, -2};
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, x);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){3});
  kf_out(&c, FERRY_BOOL, 1, (int64_t[]){3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Dropout), 0);
  ck_assert(memcmp(c.k.out[0].data, x, sizeof x) == 0);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(((uint8_t *)c.k.out[1].data)[i], 1);
  kf_free(&c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("kernels_nn");
  TCase *t = tcase_create("node");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_node_tests);
  suite_add_tcase(s, t);
  t = tcase_create("reductions");
  tcase_add_test(t, test_reduce_empty_set);
  tcase_add_test(t, test_reduce_axes_keepdims);
  tcase_add_test(t, test_reduce_integers);
  tcase_add_test(t, test_reduce_noop_and_axes_input);
  suite_add_tcase(s, t);
  t = tcase_create("nan_inf");
  tcase_add_test(t, test_reduce_max_nan);
  tcase_add_test(t, test_argmax_nan_inf);
  tcase_add_test(t, test_topk_ties_and_order);
  tcase_add_test(t, test_maxpool_nan_inf);
  suite_add_tcase(s, t);
  t = tcase_create("numerics");
  tcase_add_test(t, test_softmax_large_values);
  tcase_add_test(t, test_vector_exp_accuracy);
  tcase_add_test(t, test_sums_and_moments);
  tcase_add_test(t, test_softmax_axis_opsets);
  tcase_add_test(t, test_layernorm_f16);
  tcase_add_test(t, test_pool_fast_vs_generic);
  tcase_add_test(t, test_pool_separable);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_add_test(t, test_bad_indices);
  tcase_add_test(t, test_nms_set_output);
  tcase_add_test(t, test_det_and_dropout);
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
