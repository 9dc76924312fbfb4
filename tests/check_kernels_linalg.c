/*
 * check_kernels_linalg.c - the linear-algebra kernels (runtime/kernels/
 * linalg.h) and the GEMM under them (gemm.h).
 *
 *   node tests  every ONNX node test whose one node is one of these ops
 *               passes through its registry kernel (tests/nodetest.h);
 *   gemm        random sizes 1..300 in each dim (odd ones, transposes,
 *               alpha, broadcast bias, activations) against a double
 *               reference with a normalized error bound, on the serial
 *               and the threaded driver (a parallel() that splits work
 *               into uneven chunks run out of order);
 *   matmul      numpy batch broadcasting and 1-D operands, Gemm's C
 *               broadcasting, float16, integer dtypes, empty sizes;
 *   conv        random 1-D/2-D/3-D convolutions (groups, depthwise,
 *               dilations, strides, pads, auto_pad) and transposed ones
 *               against naive references; FusedConv and FusedGemm with
 *               every activation;
 *   quantized   MatMulInteger / QLinearMatMul / ConvInteger with per-row
 *               and per-column zero points against naive references;
 *   einsum      the GEMM path against the general loop (float32 vs
 *               float64), diagonals, broadcasting ellipsis;
 *   errors      mismatched shapes give an error, never a crash; outputs
 *               the executor could not shape go through set_output.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "kernels/gemm.h"
#include "kernels/linalg.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "testutil.h"

/* ---- node tests ---- */

static const char *const OPS[] = {
    "MatMul",      "Gemm",        "Conv",          "ConvTranspose", "ConvInteger", "MatMulInteger",
    "QLinearConv", "QLinearMatMul", "Einsum",      "FusedConv",     "FusedGemm",
};

/* Node tests allowed to fail or error, and why: none so far. */
static const char *const KNOWN[] = {NULL};

START_TEST(test_node_tests) {
  nodetest_tally t;
  nodetest_run_family("linalg", OPS, (int)(sizeof OPS / sizeof *OPS), KNOWN, (int)(sizeof KNOWN / sizeof *KNOWN), &t);
  ck_assert_int_ge(t.n[NT_PASS], 40);
  ck_assert_msg(t.unexpected == 0, "%d node tests failed (see above)", t.unexpected);
}
END_TEST

/* ---- helpers ---- */

static uint32_t rng = 12345;

static uint32_t rnd(void) {
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return rng;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_f(void) { return (float)(rnd() >> 8) / 16777216.0f * 2.0f - 1.0f; }

static float *rnd_fill(int64_t n) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = rnd_f();
  return p;
}


static void init_call(kf_call *c, int opset) {
  kf_init(c, opset);
  c->k.parallel = kf_chunky_parallel;
}

/* |got - want| within a normalized bound: `scale` is the sum of the
 * magnitudes that went into the value (sum |a||b| + |bias|). */
static void check_close(const float *got, const double *want, const double *scale, int64_t n, int64_t K,
                        const char *what) {
  double eps = 1.2e-7 * (double)(K + 4);
  for (int64_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - want[i]);
    ck_assert_msg(err <= eps * scale[i] + 1e-30, "%s[%lld] = %.9g, want %.9g (scale %g)", what, (long long)i, got[i],
                  want[i], scale[i]);
  }
}

static double act_ref(const ferry_act *a, double x) {
  switch (a->kind) {
  case FERRY_ACT_RELU: return x < 0 ? 0 : x;
  case FERRY_ACT_TANH: return tanh(x);
  case FERRY_ACT_SIGMOID: return 1 / (1 + exp(-x));
  case FERRY_ACT_LEAKYRELU: return x < 0 ? a->a * x : x;
  case FERRY_ACT_CLIP: return x < a->a ? a->a : x > a->b ? a->b : x;
  case FERRY_ACT_HARDSIGMOID: return fmax(0, fmin(1, a->a * x + a->b));
  default: return x;
  }
}

/* ---- the GEMM ---- */

/* One random product through ferry_sgemm (threaded == 1) or the serial
 * driver, against a double reference. */
static void random_gemm(int64_t M, int64_t N, int64_t K, int ta, int tb, int bias_kind, int act_kind, int threaded) {
  float *A = rnd_fill(M * K), *B = rnd_fill(K * N), *bias = rnd_fill(M * N), *C = malloc((size_t)(M * N) * sizeof *C);
  double *want = malloc((size_t)(M * N) * sizeof *want), *scale = malloc((size_t)(M * N) * sizeof *scale);
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.alpha = 0.75f;
  e.beta = bias_kind ? 0.5f : 1;
  e.act = (ferry_act){act_kind, act_kind == FERRY_ACT_CLIP ? -0.3f : 0.1f, act_kind == FERRY_ACT_CLIP ? 0.4f : 0.5f};
  /* bias kinds: none, per row, per column, full, scalar */
  int64_t rs[5] = {0, 1, 0, N, 0}, cs[5] = {0, 0, 1, 1, 0};
  if (bias_kind) e.bias = bias, e.bias_rs = rs[bias_kind], e.bias_cs = cs[bias_kind];
  ferry_fmat a = ta ? (ferry_fmat){A, 1, M} : (ferry_fmat){A, K, 1};
  ferry_gemm_b b = {tb ? (ferry_fmat){B, 1, K} : (ferry_fmat){B, N, 1}, NULL, NULL};
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0, mag = 0;
      for (int64_t p = 0; p < K; p++) {
        double x = a.p[i * a.rs + p * a.cs], y = b.m.p[p * b.m.rs + j * b.m.cs];
        s += x * y, mag += fabs(x * y);
      }
      s *= e.alpha, mag *= fabs(e.alpha);
      if (e.bias) {
        double v = e.beta * e.bias[i * e.bias_rs + j * e.bias_cs];
        s += v, mag += fabs(v);
      }
      want[i * N + j] = act_ref(&e.act, s);
      scale[i * N + j] = mag + 1e-6;
    }
  kf_call c;
  init_call(&c, 13);
  if (threaded) {
    ck_assert_int_eq(ferry_sgemm(&c.k, M, N, K, a, &b, C, N, &e), FERRY_OK);
  } else {
    float *w = malloc(ferry_sgemm_work(M, N, K) * sizeof *w);
    ferry_sgemm_serial(M, N, K, a, &b, C, N, &e, w);
    free(w);
  }
  char what[128];
  snprintf(what, sizeof what, "gemm %lldx%lldx%lld ta%d tb%d bias%d act%d thr%d", (long long)M, (long long)N,
           (long long)K, ta, tb, bias_kind, act_kind, threaded);
  check_close(C, want, scale, M * N, K, what);
  kf_free(&c);
  free(A), free(B), free(bias), free(C), free(want), free(scale);
}

START_TEST(test_gemm_random_sizes) {
  rng = 777;
  for (int it = 0; it < 60; it++) {
    int64_t M = rnd_in(1, 300), N = rnd_in(1, 300), K = rnd_in(1, 300);
    if (it % 5 == 0) M = 1;
    if (it % 7 == 0) N = 1;
    random_gemm(M, N, K, (int)(rnd() & 1), (int)(rnd() & 1), (int)(rnd() % 5), it % 3 ? 0 : (int)(rnd() % 7),
                (int)(rnd() & 1));
  }
}
END_TEST

START_TEST(test_gemm_block_edges) {
  rng = 4242;
  /* around the register tile, the k-block (256), the column block (2048)
   * and the short-k row blocks of the threaded driver (101 rows, k 27;
   * 17 rows, k 20: three tiles in one block natively) */
  static const int64_t sizes[][3] = {{1, 1, 1},   {3, 5, 7},      {4, 8, 256},  {5, 9, 257},   {7, 17, 513},
                                     {129, 33, 1}, {6, 2049, 3},  {2, 4100, 2}, {300, 1, 300}, {1, 300, 600},
                                     {33, 65, 0},  {101, 2600, 27}, {17, 1200, 20}};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    for (int thr = 0; thr < 2; thr++)
      random_gemm(sizes[i][0], sizes[i][1], sizes[i][2], (int)(i & 1), (int)((i >> 1) & 1), (int)(i % 5), 0, thr);
}
END_TEST

/* Edge panels of one or two columns (the narrow kernel: 7x7 images are
 * 3 x 16 + 1 columns) and of three (the half tile), in every micro-kernel
 * this CPU runs: row tails, several k-blocks (a k not a multiple of the
 * narrow kernel's vectors), every bias kind, Relu and Clip. */
START_TEST(test_gemm_narrow_edges) {
  rng = 4949;
  static const int64_t sizes[][3] = {{320, 49, 960}, {13, 17, 300}, {7, 18, 5}, {6, 33, 1},
                                     {25, 50, 257}, {11, 19, 31}, {96, 196, 96}, {5, 10, 513}};
  static const char *isas[] = {"auto", "generic"};
  for (int s = 0; s < 2; s++) {
    ck_assert(ferry_gemm_use_isa(isas[s]));
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
      random_gemm(sizes[i][0], sizes[i][1], sizes[i][2], 0, (int)(i & 1), (int)(i % 5),
                  i % 3 == 0 ? FERRY_ACT_RELU : i % 3 == 1 ? FERRY_ACT_CLIP : FERRY_ACT_NONE, (int)((i >> 1) & 1));
  }
  ferry_gemm_use_isa("auto");
}
END_TEST

/* ---- MatMul and Gemm kernels ---- */

/* numpy matmul reference in double for float32 tensors. */
static void matmul_ref(int ra, const int64_t *da, const float *A, int rb, const int64_t *db, const float *B,
                       int ro, const int64_t *dout, double *Y, double *S) {
  int64_t M = ra >= 2 ? da[ra - 2] : 1, K = da[ra - 1], N = rb >= 2 ? db[rb - 1] : 1;
  int nb = ro - (ra >= 2) - (rb >= 2);
  int64_t nbatch = 1;
  for (int i = 0; i < nb; i++) nbatch *= dout[i];
  for (int64_t bi = 0; bi < nbatch; bi++) {
    int64_t ao = 0, bo = 0, sa = 1, sb = 1, r = bi;
    for (int i = nb - 1; i >= 0; i--) {
      int64_t idx = r % dout[i];
      r /= dout[i];
      int ia = i - (nb - (ra - 2)), ib = i - (nb - (rb - 2));
      if (ra > 2 && ia >= 0) ao += (da[ia] == 1 ? 0 : idx) * sa, sa *= da[ia];
      if (rb > 2 && ib >= 0) bo += (db[ib] == 1 ? 0 : idx) * sb, sb *= db[ib];
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0, m = 0;
        for (int64_t p = 0; p < K; p++) {
          double x = A[(ao * M + i) * K + p], y = B[(bo * K + p) * N + j];
          s += x * y, m += fabs(x * y);
        }
        Y[(bi * M + i) * N + j] = s, S[(bi * M + i) * N + j] = m + 1e-6;
      }
  }
}

static void matmul_case(int ra, const int64_t *da, int rb, const int64_t *db, int ro, const int64_t *dout) {
  int64_t na = 1, nb = 1, no = 1;
  for (int i = 0; i < ra; i++) na *= da[i];
  for (int i = 0; i < rb; i++) nb *= db[i];
  for (int i = 0; i < ro; i++) no *= dout[i];
  float *A = rnd_fill(na), *B = rnd_fill(nb);
  double *Y = malloc((size_t)(no ? no : 1) * sizeof *Y), *S = malloc((size_t)(no ? no : 1) * sizeof *S);
  matmul_ref(ra, da, A, rb, db, B, ro, dout, Y, S);
  kf_call c;
  init_call(&c, 13);
  kf_in(&c, FERRY_F32, ra, da, A);
  kf_in(&c, FERRY_F32, rb, db, B);
  kf_out_unknown(&c); /* through set_output */
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
  ck_assert_int_eq(c.out[0].rank, ro);
  for (int i = 0; i < ro; i++) ck_assert_int_eq(c.out[0].dims[i], dout[i]);
  check_close(c.out[0].data, Y, S, no, da[ra - 1], "matmul");
  kf_free(&c);
  free(A), free(B), free(Y), free(S);
}

START_TEST(test_matmul_broadcast) {
  rng = 99;
  matmul_case(2, (int64_t[]){37, 53}, 2, (int64_t[]){53, 29}, 2, (int64_t[]){37, 29});
  matmul_case(1, (int64_t[]){53}, 2, (int64_t[]){53, 29}, 1, (int64_t[]){29});
  matmul_case(2, (int64_t[]){37, 53}, 1, (int64_t[]){53}, 1, (int64_t[]){37});
  matmul_case(1, (int64_t[]){53}, 1, (int64_t[]){53}, 0, NULL);
  matmul_case(3, (int64_t[]){5, 37, 53}, 2, (int64_t[]){53, 29}, 3, (int64_t[]){5, 37, 29});  /* folds */
  matmul_case(2, (int64_t[]){37, 53}, 3, (int64_t[]){5, 53, 29}, 3, (int64_t[]){5, 37, 29});
  matmul_case(4, (int64_t[]){2, 1, 7, 9}, 3, (int64_t[]){3, 9, 11}, 4, (int64_t[]){2, 3, 7, 11});
  matmul_case(3, (int64_t[]){1, 7, 9}, 4, (int64_t[]){4, 3, 9, 11}, 4, (int64_t[]){4, 3, 7, 11});
  matmul_case(3, (int64_t[]){12, 64, 80}, 3, (int64_t[]){12, 80, 64}, 3, (int64_t[]){12, 64, 64}); /* slots */
  matmul_case(3, (int64_t[]){3, 1, 5}, 3, (int64_t[]){3, 5, 1}, 3, (int64_t[]){3, 1, 1});
  matmul_case(3, (int64_t[]){2, 130, 300}, 3, (int64_t[]){2, 300, 140}, 3, (int64_t[]){2, 130, 140}); /* big */
  matmul_case(3, (int64_t[]){0, 4, 5}, 2, (int64_t[]){5, 6}, 3, (int64_t[]){0, 4, 6});
  matmul_case(2, (int64_t[]){4, 0}, 2, (int64_t[]){0, 6}, 2, (int64_t[]){4, 6});
}
END_TEST

START_TEST(test_matmul_dtypes) {
  /* int32 and int64 exact (wrapping), float16 and float64 */
  int32_t a32[6] = {1, -2, 3, 4, 5, -6}, b32[6] = {7, 8, 9, 10, 11, 12};
  int64_t a64[6] = {INT64_MAX, 1, 2, 3, 4, 5}, b64[6] = {2, 1, 1, 1, 1, 1};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_I32, 2, (int64_t[]){2, 3}, a32);
  kf_in(&c, FERRY_I32, 2, (int64_t[]){3, 2}, b32);
  kf_out(&c, FERRY_I32, 2, (int64_t[]){2, 2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
  int32_t *y = c.out[0].data;
  ck_assert_int_eq(y[0], 1 * 7 - 2 * 9 + 3 * 11);
  ck_assert_int_eq(y[3], 4 * 8 + 5 * 10 - 6 * 12);
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_I64, 2, (int64_t[]){2, 3}, a64);
  kf_in(&c, FERRY_I64, 2, (int64_t[]){3, 2}, b64);
  kf_out(&c, FERRY_I64, 2, (int64_t[]){2, 2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
  ck_assert_int_eq(((int64_t *)c.out[0].data)[0], (int64_t)((uint64_t)INT64_MAX * 2 + 1 + 2)); /* wraps */
  kf_free(&c);
  uint16_t h[6];
  double d[6];
  for (int i = 0; i < 6; i++) h[i] = ferry_f32_to_f16((float)(i + 1) * 0.5f), d[i] = (i + 1) * 0.5;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F16, 2, (int64_t[]){2, 3}, h);
  kf_in(&c, FERRY_F16, 2, (int64_t[]){3, 2}, h);
  kf_out(&c, FERRY_F16, 2, (int64_t[]){2, 2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
  /* [[.5 1 1.5][2 2.5 3]] x [[.5 1][1.5 2][2.5 3]] */
  ck_assert(ferry_f16_to_f32(((uint16_t *)c.out[0].data)[0]) == 0.25f + 1.5f + 3.75f);
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_F64, 2, (int64_t[]){2, 3}, d);
  kf_in(&c, FERRY_F64, 2, (int64_t[]){3, 2}, d);
  kf_out(&c, FERRY_F64, 2, (int64_t[]){2, 2});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
  ck_assert(((double *)c.out[0].data)[3] == 2 * 1 + 2.5 * 2 + 3 * 3);
  kf_free(&c);
}
END_TEST

/* Gemm with every C broadcast, transposes, alpha/beta; FusedGemm. */
START_TEST(test_gemm_kernel) {
  rng = 5;
  static const int crank[] = {0, 1, 1, 2, 2, 2, 2, -1};
  for (int v = 0; v < 8; v++)
    for (int fused = 0; fused < 2; fused++) {
      int64_t M = rnd_in(1, 70), N = rnd_in(1, 70), K = rnd_in(1, 70);
      int ta = v & 1, tb = (v >> 1) & 1;
      int64_t cd[2] = {1, 1};
      int cr = crank[v];
      if (cr == 1) cd[0] = v == 1 ? N : 1;
      if (cr == 2) cd[0] = v == 3 ? M : 1, cd[1] = v == 5 ? 1 : N;
      if (v == 6) cd[0] = 1, cd[1] = 1;
      int64_t cn = cr <= 0 ? 1 : cr == 1 ? cd[0] : cd[0] * cd[1];
      float *A = rnd_fill(M * K), *B = rnd_fill(K * N), *C = rnd_fill(cn);
      kf_call c;
      init_call(&c, 13);
      kf_in(&c, FERRY_F32, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K}, A);
      kf_in(&c, FERRY_F32, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N}, B);
      if (cr >= 0) kf_in(&c, FERRY_F32, cr, cd, C);
      kf_out(&c, FERRY_F32, 2, (int64_t[]){M, N});
      kf_attr_int(&c, "transA", ta);
      kf_attr_int(&c, "transB", tb);
      kf_attr_float(&c, "alpha", 1.5f);
      kf_attr_float(&c, "beta", -0.5f);
      ferry_act act = {FERRY_ACT_NONE, 0, 0};
      if (fused) {
        kf_attr_string(&c, "activation", "LeakyRelu");
        kf_attr_float(&c, "activation_alpha", 0.2f);
        act = (ferry_act){FERRY_ACT_LEAKYRELU, 0.2f, 0};
      }
      ck_assert_int_eq(kf_run(&c, fused ? ferry_kernel_FusedGemm : ferry_kernel_Gemm), FERRY_OK);
      double *Y = malloc((size_t)(M * N) * sizeof *Y), *S = malloc((size_t)(M * N) * sizeof *S);
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          double s = 0, m = 0;
          for (int64_t p = 0; p < K; p++) {
            double x = ta ? A[p * M + i] : A[i * K + p], y = tb ? B[j * K + p] : B[p * N + j];
            s += x * y, m += fabs(x * y);
          }
          s *= 1.5, m *= 1.5;
          if (cr >= 0) {
            int64_t ci = cr == 0 ? 0 : cr == 1 ? (cd[0] == 1 ? 0 : j) : (cd[0] == 1 ? 0 : i) * cd[1] + (cd[1] == 1 ? 0 : j);
            s += -0.5 * C[ci], m += 0.5 * fabs(C[ci]);
          }
          Y[i * N + j] = act_ref(&act, s), S[i * N + j] = m + 1e-6;
        }
      check_close(c.out[0].data, Y, S, M * N, K, fused ? "fusedgemm" : "gemm");
      kf_free(&c);
      free(A), free(B), free(C), free(Y), free(S);
    }
}
END_TEST

/* ---- Conv ---- */

typedef struct cspec {
  int nsp;
  int64_t N, C, M, G, in[3], k[3], s[3], d[3], pb[3], pe[3];
  const char *auto_pad;
} cspec;

static int64_t conv_out_dim(const cspec *p, int i, int64_t *pb) {
  int64_t ek = (p->k[i] - 1) * p->d[i] + 1;
  if (p->auto_pad && !strncmp(p->auto_pad, "SAME", 4)) {
    int64_t out = (p->in[i] + p->s[i] - 1) / p->s[i], total = (out - 1) * p->s[i] + ek - p->in[i];
    if (total < 0) total = 0;
    *pb = !strcmp(p->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
    return out;
  }
  int valid = p->auto_pad && !strcmp(p->auto_pad, "VALID");
  *pb = valid ? 0 : p->pb[i];
  return (p->in[i] + (valid ? 0 : p->pb[i] + p->pe[i]) - ek) / p->s[i] + 1;
}

/* Naive convolution in double: Y and per-element magnitude scale. */
static void conv_ref(const cspec *p, const float *X, const float *W, const float *Bv, const int64_t *out,
                     const int64_t *pb, double *Y, double *S) {
  int64_t Cg = p->C / p->G, Mg = p->M / p->G, osz = 1, isz = 1, ksz = 1;
  for (int i = 0; i < p->nsp; i++) osz *= out[i], isz *= p->in[i], ksz *= p->k[i];
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t m = 0; m < p->M; m++)
      for (int64_t o = 0; o < osz; o++) {
        double s = Bv ? Bv[m] : 0, mag = Bv ? fabs(Bv[m]) : 0;
        int64_t g = m / Mg, oc[3], r = o;
        for (int i = p->nsp - 1; i >= 0; i--) oc[i] = r % out[i], r /= out[i];
        for (int64_t c = 0; c < Cg; c++)
          for (int64_t kx = 0; kx < ksz; kx++) {
            int64_t kc[3], rr = kx, off = 0, ok = 1;
            for (int i = p->nsp - 1; i >= 0; i--) kc[i] = rr % p->k[i], rr /= p->k[i];
            for (int i = 0; i < p->nsp; i++) {
              int64_t pos = oc[i] * p->s[i] - pb[i] + kc[i] * p->d[i];
              ok &= pos >= 0 && pos < p->in[i];
              off = off * p->in[i] + pos;
            }
            if (!ok) continue;
            double x = X[(n * p->C + g * Cg + c) * isz + off], w = W[(m * Cg + c) * ksz + kx];
            s += x * w, mag += fabs(x * w);
          }
        Y[(n * p->M + m) * osz + o] = s, S[(n * p->M + m) * osz + o] = mag + 1e-6;
      }
}

static void conv_case(const cspec *p, int with_bias, const char *act_name, const ferry_act *act) {
  int64_t Cg = p->C / p->G, out[3], pb[3], isz = 1, ksz = 1, osz = 1;
  for (int i = 0; i < p->nsp; i++) out[i] = conv_out_dim(p, i, &pb[i]), isz *= p->in[i], ksz *= p->k[i], osz *= out[i];
  int64_t xd[5] = {p->N, p->C}, wd[5] = {p->M, Cg}, yd[5] = {p->N, p->M};
  for (int i = 0; i < p->nsp; i++) xd[i + 2] = p->in[i], wd[i + 2] = p->k[i], yd[i + 2] = out[i];
  float *X = rnd_fill(p->N * p->C * isz), *W = rnd_fill(p->M * Cg * ksz), *Bv = rnd_fill(p->M);
  int64_t ny = p->N * p->M * osz;
  double *Y = malloc((size_t)(ny ? ny : 1) * sizeof *Y), *S = malloc((size_t)(ny ? ny : 1) * sizeof *S);
  conv_ref(p, X, W, with_bias ? Bv : NULL, out, pb, Y, S);
  for (int64_t i = 0; act && i < ny; i++) {
    Y[i] = act_ref(act, Y[i]);
    if (act->kind == FERRY_ACT_HARDSIGMOID) S[i] = S[i] * fabs(act->a) + fabs(act->b); /* the offset rounds too */
  }
  kf_call c;
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, p->nsp + 2, xd, X);
  kf_in(&c, FERRY_F32, p->nsp + 2, wd, W);
  if (with_bias) kf_in(&c, FERRY_F32, 1, (int64_t[]){p->M}, Bv);
  kf_out(&c, FERRY_F32, p->nsp + 2, yd);
  int64_t pads[6], st[3], di[3];
  for (int i = 0; i < p->nsp; i++) pads[i] = p->pb[i], pads[i + p->nsp] = p->pe[i], st[i] = p->s[i], di[i] = p->d[i];
  kf_attr_ints(&c, "strides", p->nsp, st);
  kf_attr_ints(&c, "dilations", p->nsp, di);
  if (p->auto_pad) kf_attr_string(&c, "auto_pad", p->auto_pad);
  else kf_attr_ints(&c, "pads", 2 * p->nsp, pads);
  kf_attr_int(&c, "group", p->G);
  float params[2] = {act ? act->a : 0, act ? act->b : 0}; /* kfake keeps the pointer */
  if (act_name) {
    kf_attr_string(&c, "activation", act_name);
    if (act->kind >= FERRY_ACT_LEAKYRELU) kf_attr_floats(&c, "activation_params", act->kind == FERRY_ACT_LEAKYRELU ? 1 : 2, params);
  }
  int rc = kf_run(&c, act_name ? ferry_kernel_FusedConv : ferry_kernel_Conv);
  ck_assert_msg(rc == FERRY_OK, "conv: %s", c.k.err);
  char what[160];
  snprintf(what, sizeof what, "conv nsp%d N%lld C%lld M%lld G%lld k%lld s%lld d%lld %s", p->nsp, (long long)p->N,
           (long long)p->C, (long long)p->M, (long long)p->G, (long long)p->k[0], (long long)p->s[0],
           (long long)p->d[0], act_name ? act_name : "");
  check_close(c.out[0].data, Y, S, ny, Cg * ksz, what);
  kf_free(&c);
  free(X), free(W), free(Bv), free(Y), free(S);
}

static void random_cspec(cspec *p, int nsp) {
  static const char *pads[] = {NULL, NULL, "SAME_UPPER", "SAME_LOWER", "VALID"};
  memset(p, 0, sizeof *p);
  p->nsp = nsp;
  p->N = rnd_in(1, 2);
  p->G = rnd_in(1, 3);
  int depthwise = rnd() % 4 == 0;
  p->C = depthwise ? p->G * 1 : p->G * rnd_in(1, 5);
  p->M = p->G * rnd_in(1, 4);
  p->auto_pad = pads[rnd() % 5];
  for (int i = 0; i < nsp; i++) {
    p->k[i] = rnd_in(1, nsp == 3 ? 3 : 5);
    p->s[i] = rnd_in(1, 3);
    p->d[i] = rnd_in(1, 2);
    p->pb[i] = rnd_in(0, 2), p->pe[i] = rnd_in(0, 2);
    int64_t ek = (p->k[i] - 1) * p->d[i] + 1;
    p->in[i] = ek + rnd_in(0, nsp == 3 ? 6 : nsp == 2 ? 20 : 60);
  }
}

START_TEST(test_conv_random) {
  rng = 31337;
  for (int it = 0; it < 120; it++) {
    cspec p;
    random_cspec(&p, 1 + it % 3);
    conv_case(&p, (int)(rnd() & 1), NULL, NULL);
  }
}
END_TEST

START_TEST(test_conv_shapes) {
  /* pointwise (no im2col), depthwise, a big one across k-blocks, 1x1 stride 2 */
  cspec a = {2, 1, 16, 24, 1, {13, 11}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, NULL};
  conv_case(&a, 1, NULL, NULL);
  cspec b = {2, 2, 12, 24, 12, {17, 15}, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 1}, NULL};
  conv_case(&b, 1, NULL, NULL);
  cspec c = {2, 1, 40, 33, 1, {20, 19}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, NULL};
  conv_case(&c, 1, NULL, NULL);
  cspec d = {2, 1, 8, 8, 1, {9, 9}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, NULL};
  conv_case(&d, 0, NULL, NULL);
  cspec e = {2, 1, 6, 6, 6, {70, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, NULL}; /* depthwise, wide rows */
  conv_case(&e, 1, NULL, NULL);
  /* depthwise 3x3 on short rows (the flat path) over more channels than it
   * has slots, so each slot pipelines several: bias, then Tanh after the rows */
  static const ferry_act tanh_act = {FERRY_ACT_TANH, 0, 0};
  cspec f = {2, 1, 100, 100, 100, {14, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, NULL};
  conv_case(&f, 1, NULL, NULL);
  conv_case(&f, 1, "Tanh", &tanh_act);
  cspec h = {2, 2, 70, 70, 70, {10, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, NULL};
  conv_case(&h, 0, "Relu", &(const ferry_act){FERRY_ACT_RELU, 0, 0});
}
END_TEST

/* Depthwise convolutions (one input channel per group): channel counts
 * around the kernels' channel blocks (4 and 8 lanes), planes from 1x1 up,
 * kernels 1..5, strides 1..3, dilations, pads, 1-D and 2-D, channel
 * multipliers, with and without bias and fused activations (Relu, Clip and
 * HardSigmoid in registers; Tanh after each row). */
START_TEST(test_conv_depthwise) {
  static const char *names[] = {"Relu", "Clip", "HardSigmoid", "Tanh"};
  static const ferry_act acts[] = {{FERRY_ACT_RELU, 0, 0}, {FERRY_ACT_CLIP, -0.2f, 0.6f},
                                   {FERRY_ACT_HARDSIGMOID, 0.25f, 0.4f}, {FERRY_ACT_TANH, 0, 0}};
  static const int64_t channels[] = {1, 3, 4, 5, 8, 9, 12, 17};
  rng = 777;
  for (int it = 0; it < 320; it++) {
    ck_assert(ferry_gemm_use_isa(it < 160 ? "auto" : "generic")); /* AVX2's 8 lanes, then 4 */
    cspec p;
    memset(&p, 0, sizeof p);
    p.nsp = it % 5 == 4 ? 1 : 2;
    p.N = rnd_in(1, 2);
    p.G = p.C = channels[it % 8];
    p.M = p.C * (it % 7 == 6 ? 2 : 1);
    for (int i = 0; i < p.nsp; i++) {
      p.k[i] = it % 3 ? 3 : rnd_in(1, 5);
      p.s[i] = it % 4 == 1 ? 2 : rnd_in(1, 3);
      p.d[i] = it % 6 == 5 ? 2 : 1;
      p.pb[i] = rnd_in(0, 2), p.pe[i] = rnd_in(0, 2);
      p.in[i] = (p.k[i] - 1) * p.d[i] + 1 + rnd_in(0, it % 2 ? 20 : 6);
    }
    int a = (int)(rnd() % 5);
    conv_case(&p, (int)(rnd() & 1), a < 4 ? names[a] : NULL, a < 4 ? &acts[a] : NULL);
  }
  ferry_gemm_use_isa("auto");
}
END_TEST

START_TEST(test_fused_conv_activations) {
  static const char *names[] = {"", "Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid"};
  static const ferry_act acts[] = {{0, 0, 0}, {FERRY_ACT_RELU, 0, 0}, {FERRY_ACT_TANH, 0, 0}, {FERRY_ACT_SIGMOID, 0, 0},
                                   {FERRY_ACT_LEAKYRELU, 0.3f, 0}, {FERRY_ACT_CLIP, -0.2f, 0.6f},
                                   {FERRY_ACT_HARDSIGMOID, 0.25f, 0.4f}};
  rng = 8;
  for (int a = 1; a < 7; a++)
    for (int dw = 0; dw < 2; dw++) {
      cspec p = {2, 1, dw ? 4 : 5, dw ? 4 : 7, dw ? 4 : 1, {9, 8}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, NULL};
      conv_case(&p, 1, names[a], &acts[a]);
    }
}
END_TEST

/* ConvTranspose against the scatter definition. */
static void convt_case(int nsp, const int64_t *in, const int64_t *kk, const int64_t *s, const int64_t *d,
                       const int64_t *pads, const int64_t *opad, int64_t C, int64_t Mg, int64_t G, int64_t N) {
  int64_t out[3], isz = 1, ksz = 1, osz = 1;
  for (int i = 0; i < nsp; i++) {
    out[i] = s[i] * (in[i] - 1) + opad[i] + (kk[i] - 1) * d[i] + 1 - pads[i] - pads[i + nsp];
    isz *= in[i], ksz *= kk[i], osz *= out[i];
  }
  int64_t Cg = C / G, M = Mg * G;
  float *X = rnd_fill(N * C * isz), *W = rnd_fill(C * Mg * ksz), *Bv = rnd_fill(M);
  double *Y = calloc((size_t)(N * M * osz), sizeof *Y), *S = calloc((size_t)(N * M * osz), sizeof *S);
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = 0; m < M; m++)
      for (int64_t o = 0; o < osz; o++) Y[(n * M + m) * osz + o] = Bv[m], S[(n * M + m) * osz + o] = fabs(Bv[m]) + 1e-6;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < isz; i++)
        for (int64_t mg = 0; mg < Mg; mg++)
          for (int64_t kx = 0; kx < ksz; kx++) {
            int64_t ic[3], kc[3], r = i, rk = kx, off = 0, ok = 1;
            for (int q = nsp - 1; q >= 0; q--) ic[q] = r % in[q], r /= in[q], kc[q] = rk % kk[q], rk /= kk[q];
            for (int q = 0; q < nsp; q++) {
              int64_t pos = ic[q] * s[q] - pads[q] + kc[q] * d[q];
              ok &= pos >= 0 && pos < out[q];
              off = off * out[q] + pos;
            }
            if (!ok) continue;
            int64_t m = (c / Cg) * Mg + mg;
            double v = X[(n * C + c) * isz + i] * W[(c * Mg + mg) * ksz + kx];
            Y[(n * M + m) * osz + off] += v, S[(n * M + m) * osz + off] += fabs(v);
          }
  int64_t xd[5] = {N, C}, wd[5] = {C, Mg}, yd[5] = {N, M};
  for (int i = 0; i < nsp; i++) xd[i + 2] = in[i], wd[i + 2] = kk[i], yd[i + 2] = out[i];
  kf_call c;
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, nsp + 2, xd, X);
  kf_in(&c, FERRY_F32, nsp + 2, wd, W);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){M}, Bv);
  kf_out(&c, FERRY_F32, nsp + 2, yd);
  kf_attr_ints(&c, "strides", nsp, s);
  kf_attr_ints(&c, "dilations", nsp, d);
  kf_attr_ints(&c, "pads", 2 * nsp, pads);
  kf_attr_ints(&c, "output_padding", nsp, opad);
  kf_attr_int(&c, "group", G);
  ck_assert_msg(kf_run(&c, ferry_kernel_ConvTranspose) == FERRY_OK, "%s", c.k.err);
  check_close(c.out[0].data, Y, S, N * M * osz, Cg * ksz, "convtranspose");
  kf_free(&c);
  free(X), free(W), free(Bv), free(Y), free(S);
}

START_TEST(test_convtranspose_random) {
  rng = 2024;
  for (int it = 0; it < 60; it++) {
    int nsp = 1 + it % 3;
    int64_t in[3], kk[3], s[3], d[3], pads[6], opad[3];
    for (int i = 0; i < nsp; i++) {
      in[i] = rnd_in(1, nsp == 3 ? 4 : 9), kk[i] = rnd_in(1, 4), s[i] = rnd_in(1, 3), d[i] = rnd_in(1, 2);
      pads[i] = rnd_in(0, 1), pads[i + nsp] = rnd_in(0, 1), opad[i] = rnd_in(0, s[i] - 1);
    }
    int64_t G = rnd_in(1, 2);
    convt_case(nsp, in, kk, s, d, pads, opad, G * rnd_in(1, 3), rnd_in(1, 3), G, rnd_in(1, 2));
  }
}
END_TEST

/* Kernel == stride, no padding: the output is tiled (conv.c's one-pass
 * col2im), vectors for kernel width 2, with tails, groups and batches. */
START_TEST(test_convtranspose_tiles) {
  rng = 4242;
  static const int64_t zero[6] = {0}, one[3] = {1, 1, 1};
  static const struct {
    int nsp;
    int64_t in[2], k[2];
    int64_t C, Mg, G, N;
  } cases[] = {{2, {9, 13}, {2, 2}, 4, 3, 1, 2}, {2, {8, 8}, {2, 2}, 6, 2, 2, 1}, {2, {5, 3}, {3, 3}, 2, 2, 1, 1},
               {2, {4, 7}, {2, 3}, 3, 1, 1, 1}, {1, {11, 0}, {2, 0}, 2, 4, 1, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    convt_case(cases[i].nsp, cases[i].in, cases[i].k, cases[i].k, one, zero, zero, cases[i].C, cases[i].Mg,
               cases[i].G, cases[i].N);
}
END_TEST

/* ---- quantized ---- */

START_TEST(test_matmulinteger_zero_points) {
  rng = 17;
  int64_t M = 7, K = 33, N = 10;
  uint8_t *A = malloc((size_t)(M * K)), za[7];
  int8_t *B = malloc((size_t)(K * N)), zb[10];
  for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < K * N; i++) B[i] = (int8_t)rnd();
  for (int i = 0; i < 7; i++) za[i] = (uint8_t)rnd();
  for (int i = 0; i < 10; i++) zb[i] = (int8_t)rnd();
  kf_call c;
  init_call(&c, 10);
  kf_in(&c, FERRY_U8, 2, (int64_t[]){M, K}, A);
  kf_in(&c, FERRY_I8, 2, (int64_t[]){K, N}, B);
  kf_in(&c, FERRY_U8, 1, (int64_t[]){M}, za);
  kf_in(&c, FERRY_I8, 1, (int64_t[]){N}, zb);
  kf_out(&c, FERRY_I32, 2, (int64_t[]){M, N});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMulInteger), FERRY_OK);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      int32_t s = 0;
      for (int64_t p = 0; p < K; p++) s += (A[i * K + p] - za[i]) * (B[p * N + j] - zb[j]);
      ck_assert_int_eq(((int32_t *)c.out[0].data)[i * N + j], s);
    }
  kf_free(&c);
  /* QLinearMatMul with per-column b scales, int8 output */
  float as = 0.02f, bs[10], ys = 0.5f;
  int8_t yz = 3;
  for (int j = 0; j < 10; j++) bs[j] = 0.01f * (float)(j + 1);
  init_call(&c, 10);
  kf_in(&c, FERRY_U8, 2, (int64_t[]){M, K}, A);
  kf_in(&c, FERRY_F32, 0, NULL, &as);
  kf_in(&c, FERRY_U8, 1, (int64_t[]){M}, za);
  kf_in(&c, FERRY_I8, 2, (int64_t[]){K, N}, B);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){N}, bs);
  kf_in(&c, FERRY_I8, 1, (int64_t[]){N}, zb);
  kf_in(&c, FERRY_F32, 0, NULL, &ys);
  kf_in(&c, FERRY_I8, 0, NULL, &yz);
  kf_out(&c, FERRY_I8, 2, (int64_t[]){M, N});
  ck_assert_msg(kf_run(&c, ferry_kernel_QLinearMatMul) == FERRY_OK, "%s", c.k.err);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      int32_t s = 0;
      for (int64_t p = 0; p < K; p++) s += (A[i * K + p] - za[i]) * (B[p * N + j] - zb[j]);
      double v = nearbyint(s * (double)(as * bs[j] / ys)) + yz;
      v = v < -128 ? -128 : v > 127 ? 127 : v;
      ck_assert_int_eq(((int8_t *)c.out[0].data)[i * N + j], (int)v);
    }
  kf_free(&c);
  free(A), free(B);
}
END_TEST

START_TEST(test_convinteger_vs_float) {
  /* ConvInteger equals the float Conv of the zero-point-shifted values */
  rng = 23;
  int64_t xd[4] = {1, 4, 9, 8}, wd[4] = {6, 2, 3, 3}, yd[4] = {1, 6, 9, 8};
  uint8_t X[288], xz = 100, W[108], wz[6];
  float Xf[288], Wf[108];
  for (int i = 0; i < 288; i++) X[i] = (uint8_t)rnd(), Xf[i] = (float)(X[i] - xz);
  for (int i = 0; i < 6; i++) wz[i] = (uint8_t)(rnd() % 50);
  for (int i = 0; i < 108; i++) W[i] = (uint8_t)rnd(), Wf[i] = (float)(W[i] - wz[i / 18]);
  int64_t pads[4] = {1, 1, 1, 1};
  kf_call c, f;
  init_call(&c, 10);
  kf_in(&c, FERRY_U8, 4, xd, X);
  kf_in(&c, FERRY_U8, 4, wd, W);
  kf_in(&c, FERRY_U8, 0, NULL, &xz);
  kf_in(&c, FERRY_U8, 1, (int64_t[]){6}, wz);
  kf_out(&c, FERRY_I32, 4, yd);
  kf_attr_ints(&c, "pads", 4, pads);
  kf_attr_int(&c, "group", 2);
  ck_assert_msg(kf_run(&c, ferry_kernel_ConvInteger) == FERRY_OK, "%s", c.k.err);
  init_call(&f, 11);
  kf_in(&f, FERRY_F32, 4, xd, Xf);
  kf_in(&f, FERRY_F32, 4, wd, Wf);
  kf_out(&f, FERRY_F32, 4, yd);
  kf_attr_ints(&f, "pads", 4, pads);
  kf_attr_int(&f, "group", 2);
  ck_assert_int_eq(kf_run(&f, ferry_kernel_Conv), FERRY_OK);
  for (int i = 0; i < 6 * 72; i++)
    ck_assert_int_eq(((int32_t *)c.out[0].data)[i], (int32_t)((float *)f.out[0].data)[i]);
  kf_free(&c);
  kf_free(&f);
}
END_TEST

/* ---- Einsum ---- */

/* Runs `eq` on float32 (GEMM path when it applies) and float64 (general
 * loop) copies of the same inputs and compares. */
static void einsum_case(const char *eq, int n, const int *ranks, const int64_t dims[][4]) {
  kf_call c32, c64;
  init_call(&c32, 12);
  init_call(&c64, 12);
  int64_t K = 1;
  for (int i = 0; i < n; i++) {
    int64_t ne = 1;
    for (int d = 0; d < ranks[i]; d++) ne *= dims[i][d], K = dims[i][d] > K ? dims[i][d] : K;
    float *f = rnd_fill(ne);
    double *dd = malloc((size_t)(ne ? ne : 1) * sizeof *dd);
    for (int64_t j = 0; j < ne; j++) dd[j] = f[j];
    kf_in(&c32, FERRY_F32, ranks[i], dims[i], f);
    kf_in(&c64, FERRY_F64, ranks[i], dims[i], dd);
    free(f), free(dd);
  }
  kf_out_unknown(&c32);
  kf_out_unknown(&c64);
  kf_attr_string(&c32, "equation", eq);
  kf_attr_string(&c64, "equation", eq);
  ck_assert_msg(kf_run(&c32, ferry_kernel_Einsum) == FERRY_OK, "%s: %s", eq, c32.k.err);
  ck_assert_msg(kf_run(&c64, ferry_kernel_Einsum) == FERRY_OK, "%s: %s", eq, c64.k.err);
  ck_assert_int_eq(c32.out[0].rank, c64.out[0].rank);
  ck_assert_int_eq(c32.out[0].numel, c64.out[0].numel);
  for (int64_t i = 0; i < c32.out[0].numel; i++) {
    double a = ((float *)c32.out[0].data)[i], b = ((double *)c64.out[0].data)[i];
    ck_assert_msg(fabs(a - b) <= 1e-5 * (double)K * 4, "%s [%lld]: %g vs %g", eq, (long long)i, a, b);
  }
  kf_free(&c32);
  kf_free(&c64);
}

START_TEST(test_einsum) {
  rng = 3;
  einsum_case("bij,bjk->bik", 2, (int[]){3, 3}, (const int64_t[][4]){{3, 5, 7}, {3, 7, 4}});
  einsum_case("bhid,bhjd->bhij", 2, (int[]){4, 4}, (const int64_t[][4]){{2, 3, 5, 8}, {2, 3, 6, 8}});
  einsum_case("ik,kj", 2, (int[]){2, 2}, (const int64_t[][4]){{5, 6}, {6, 7}});
  einsum_case("ij,jk->ki", 2, (int[]){2, 2}, (const int64_t[][4]){{5, 6}, {6, 7}});
  einsum_case("kj,ik->ij", 2, (int[]){2, 2}, (const int64_t[][4]){{6, 7}, {5, 6}});
  einsum_case("i,i->", 2, (int[]){1, 1}, (const int64_t[][4]){{9}, {9}});
  einsum_case("i,j->ij", 2, (int[]){1, 1}, (const int64_t[][4]){{4}, {5}});
  einsum_case("...ij,...jk->...ik", 2, (int[]){3, 4}, (const int64_t[][4]){{1, 3, 4}, {2, 3, 4, 5}});
  einsum_case("ii->i", 1, (int[]){2}, (const int64_t[][4]){{5, 5}});
  einsum_case("ii", 1, (int[]){2}, (const int64_t[][4]){{5, 5}});
  einsum_case("ij->", 1, (int[]){2}, (const int64_t[][4]){{4, 5}});
  einsum_case("ijk->kji", 1, (int[]){3}, (const int64_t[][4]){{2, 3, 4}});
  einsum_case("ij,jk,kl->il", 3, (int[]){2, 2, 2}, (const int64_t[][4]){{2, 3}, {3, 4}, {4, 2}});
  einsum_case("bij,bjk->bik", 2, (int[]){3, 3}, (const int64_t[][4]){{3, 1, 7}, {1, 7, 4}}); /* broadcast */
  einsum_case("ij,kj->", 2, (int[]){2, 2}, (const int64_t[][4]){{3, 4}, {5, 4}});
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors) {
  float x[256] = {0};
  kf_call c;
  init_call(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){4, 2}, x);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_E_INPUT);
  kf_free(&c);
  /* the output the executor shaped disagrees */
  init_call(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){3, 2}, x);
  kf_out(&c, FERRY_F32, 2, (int64_t[]){2, 3});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_E_INPUT);
  kf_free(&c);
  /* channels that do not match the group */
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 3, 2, 2}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){2, 2, 1, 1}, x);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Conv), FERRY_E_INPUT);
  kf_free(&c);
  /* kernel larger than the padded input */
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 2, 2}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 5, 5}, x);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Conv), FERRY_E_INPUT);
  kf_free(&c);
  /* absurd window attributes: errors, no overflow */
  static const int64_t huge_pads[4] = {(int64_t)1 << 40, 0, 0, 0}, zero_strides[2] = {0, 1};
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 2, 2}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 1, 1}, x);
  kf_out_unknown(&c);
  kf_attr_ints(&c, "pads", 4, huge_pads);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Conv), FERRY_E_INPUT);
  kf_free(&c);
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 2, 2}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 1, 1}, x);
  kf_out_unknown(&c);
  kf_attr_ints(&c, "strides", 2, zero_strides);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_ConvTranspose), FERRY_E_INPUT);
  kf_free(&c);
  /* an unknown activation, a bad equation */
  init_call(&c, 1);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 2, 2}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){1, 1, 1, 1}, x);
  kf_out_unknown(&c);
  kf_attr_string(&c, "activation", "Swish");
  ck_assert_int_eq(kf_run(&c, ferry_kernel_FusedConv), FERRY_E_INPUT);
  kf_free(&c);
  init_call(&c, 12);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_out_unknown(&c);
  kf_attr_string(&c, "equation", "ij,jk->ik");
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Einsum), FERRY_E_INPUT);
  kf_free(&c);
  init_call(&c, 12);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_out_unknown(&c);
  kf_attr_string(&c, "equation", "ijk->i");
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Einsum), FERRY_E_INPUT);
  kf_free(&c);
  /* Gemm's C that does not broadcast */
  init_call(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){3, 4}, x);
  kf_in(&c, FERRY_F32, 1, (int64_t[]){3}, x);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Gemm), FERRY_E_INPUT);
  kf_free(&c);
  /* empty batch: an output of no elements */
  init_call(&c, 11);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){0, 2, 3, 3}, x);
  kf_in(&c, FERRY_F32, 4, (int64_t[]){4, 2, 3, 3}, x);
  kf_out_unknown(&c);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Conv), FERRY_OK);
  ck_assert_int_eq(c.out[0].numel, 0);
  kf_free(&c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("kernels_linalg");
  TCase *t = tcase_create("node");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_node_tests);
  suite_add_tcase(s, t);
  t = tcase_create("gemm");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_gemm_random_sizes);
  tcase_add_test(t, test_gemm_block_edges);
  tcase_add_test(t, test_gemm_narrow_edges);
  suite_add_tcase(s, t);
  t = tcase_create("matmul");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_matmul_broadcast);
  tcase_add_test(t, test_matmul_dtypes);
  tcase_add_test(t, test_gemm_kernel);
  suite_add_tcase(s, t);
  t = tcase_create("conv");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_conv_random);
  tcase_add_test(t, test_conv_shapes);
  tcase_add_test(t, test_conv_depthwise);
  tcase_add_test(t, test_fused_conv_activations);
  tcase_add_test(t, test_convtranspose_random);
  tcase_add_test(t, test_convtranspose_tiles);
  suite_add_tcase(s, t);
  t = tcase_create("quantized");
  tcase_add_test(t, test_matmulinteger_zero_points);
  tcase_add_test(t, test_convinteger_vs_float);
  suite_add_tcase(s, t);
  t = tcase_create("einsum");
  tcase_add_test(t, test_einsum);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_add_test(t, test_errors);
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
