/*
 * check_kernels_perf.c - the speed paths of the GEMM and Conv kernels
 * (docs/kernels.md): each must give what the plain path gives.
 *
 *   isa        ferry_gemm_use_isa: the generic micro-kernel and, on an
 *              x86-64 CPU with AVX2+FMA, the run-time-picked one, each on
 *              odd sizes around the register tile (6x16 / 4x8), the
 *              k-block (256) and the column block (2048), serial and
 *              threaded, against a double reference with a normalized
 *              error bound, and against each other;
 *   prepacked  ferry_sgemm_pack_a / _pack_b + ferry_sgemm_ws_pre (A, B or
 *              both packed once) against the reference;
 *   post       the epilogue's post map runs on every element exactly once,
 *              on every path;
 *   epilogues  the micro-kernel's own store of full tiles (alpha, beta,
 *              bias per row, scalar, per column or full, Relu, Clip) and
 *              the tile path it leaves the rest to, over 1-3 k-blocks with
 *              a stale C, on each instruction set, NaN passing through;
 *   matmul     MatMul and Gemm (transB) with a constant B pack it once;
 *   conv       Conv with a constant W (kctx const_in) packs it once into
 *              the persist buffer: a first run fills it (fresh), a second
 *              run with other X reuses it, both right; im2col packing by
 *              output-row runs on widths around the 16-column panel,
 *              strides 1-3, pads, dilations; depthwise (3x3 unrolled at
 *              strides 1 and 2, the padded-copy path and the edge path,
 *              other kernels) on the generic and the AVX2 variant, and
 *              the 3x3 row path on every width from a vector to past a
 *              group, edges shifted (at stride 1, widths 8-16 take the
 *              flat path over a padded plane), with epilogues and a post
 *              map;
 *              the direct path of 3x3 convolutions over 1-4 input
 *              channels (output channels past its block of 8); the
 *              same as FusedConv with Relu, Clip, HardSigmoid (folded
 *              into the depthwise epilogue), LeakyRelu and Tanh (after);
 *              a kctx post map run by the GEMM and channel-block
 *              depthwise paths, or left to the caller, right either way;
 *              depthwise with W and bias constant: its per-block
 *              constants made once, remade when the instruction set
 *              changes;
 *   winograd   F(2x2, 3x3) and F(4x4, 3x3) with both micro-kernels
 *              against the reference (odd sizes, pads 0-2, batches, C > 256,
 *              bias + Relu/Clip; W packed once or per run) within 2x / 8x
 *              the GEMM's bound, and Conv taking exactly the tile
 *              ferry_wino_tile names (or ferry_wino_use forces), right
 *              every way;
 *   clamps     HardSigmoid, HardSwish and Clip (four lanes at a time, a
 *              scalar tail) bit for bit against their scalar formulas on
 *              lengths around the vector width, with NaN, infinities,
 *              the clamp bounds and Clip's min > max;
 *   session    resnet18 and squeezenet1_1 run twice in one session (the
 *              second run on prepacked weights): both within rtol 1e-3,
 *              atol 1e-4 of the models' reference outputs, and equal.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"
#include "kernels/conv_winograd.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/linalg.h"
#include "kfake.h"
#include "rtutil.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint32_t rng = 2468;

static uint32_t rnd(void) {
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return rng;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static float *rnd_fill(int64_t n) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = (float)(rnd() >> 8) / 16777216.0f * 2.0f - 1.0f;
  return p;
}


/* |got - want| <= eps(K) * scale, scale the sum of |terms|. */
static void check_close(const float *got, const double *want, const double *scale, int64_t n, int64_t K,
                        const char *what) {
  double eps = 1.2e-7 * (double)(K + 4);
  for (int64_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - want[i]);
    ck_assert_msg(err <= eps * scale[i] + 1e-30, "%s[%lld] = %.9g, want %.9g (scale %g)", what, (long long)i, got[i],
                  want[i], scale[i]);
  }
}

/* The ISAs this machine can run: "generic", and "avx2" where available. */
static int isas(const char **names) {
  int n = 0;
  names[n++] = "generic";
#if defined(__x86_64__)
  __builtin_cpu_init();
  int want = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  ck_assert_int_eq(ferry_gemm_use_isa("avx2"), want); /* offered exactly when the CPU has it */
  if (want) names[n++] = "avx2";
#else
  ck_assert_int_eq(ferry_gemm_use_isa("avx2"), 0);
#endif
  ck_assert_int_eq(ferry_gemm_use_isa("auto"), 1);
  return n;
}

/* ---- GEMM ---- */

typedef struct prod {
  int64_t M, N, K;
  float *A, *B, *bias;
  double *want, *scale;
} prod;

static void prod_make(prod *p, int64_t M, int64_t N, int64_t K) {
  p->M = M, p->N = N, p->K = K;
  p->A = rnd_fill(M * K), p->B = rnd_fill(K * N), p->bias = rnd_fill(M);
  p->want = malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof *p->want);
  p->scale = malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof *p->scale);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = p->bias[i], m = fabs(p->bias[i]);
      for (int64_t k = 0; k < K; k++) s += (double)p->A[i * K + k] * p->B[k * N + j], m += fabs((double)p->A[i * K + k] * p->B[k * N + j]);
      p->want[i * N + j] = s > 0 ? s : 0; /* bias + Relu epilogue */
      p->scale[i * N + j] = m + 1e-6;
    }
}

static void prod_free(prod *p) { free(p->A), free(p->B), free(p->bias), free(p->want), free(p->scale); }

/* The post map test_gemm_prepacked hands the GEMM: once is not twice, nor none. */
static float post_f(float v) { return v * -3.0f + 0.5f; }
static void post_map(const void *ctx, float *c, int64_t n) {
  (void)ctx;
  for (int64_t i = 0; i < n; i++) c[i] = post_f(c[i]);
}
static int post_on; /* prod_run passes post_map as the epilogue's post */

/* C = relu(A*B + bias) with A and/or B prepacked (pack bits 1, 2). */
static float *prod_run(const prod *p, int pack) {
  kf_call c;
  kf_init(&c, 13);
  c.k.parallel = kf_chunky_parallel;
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.bias = p->bias, e.bias_rs = 1, e.bias_cs = 0, e.act.kind = FERRY_ACT_RELU;
  if (post_on) e.post = post_map;
  float *C = malloc((size_t)(p->M * p->N > 0 ? p->M * p->N : 1) * sizeof *C);
  float *pa = malloc(ferry_sgemm_pack_a_size(p->M, p->K) * sizeof(float) + 64);
  float *pb = malloc(ferry_sgemm_pack_b_size(p->K, p->N) * sizeof(float) + 64);
  ferry_fmat A = {p->A, p->K, 1};
  ferry_gemm_b B = {{p->B, p->N, 1}, NULL, NULL};
  if (pack & 1) ferry_sgemm_pack_a(p->M, p->K, A, pa);
  if (pack & 2) ferry_sgemm_pack_b(p->K, p->N, B.m, pb);
  ferry_gemm_pre pre = {pack & 1 ? pa : NULL, pack & 2 ? pb : NULL, 0};
  float *ws = malloc(ferry_sgemm_ws_size(p->M, p->N, p->K) * sizeof(float) + 64);
  ferry_sgemm_ws_pre(&c.k, p->M, p->N, p->K, A, &B, C, p->N, &e, ws, &pre);
  free(ws), free(pa), free(pb);
  kf_free(&c);
  return C;
}

static const int64_t SIZES[][3] = {{1, 1, 1},     {5, 15, 3},    {6, 16, 256},  {7, 17, 257},   {13, 33, 513},
                                   {12, 2049, 9}, {70, 40, 300}, {1, 300, 70},  {300, 1, 70},   {97, 131, 255},
                                   {4, 8, 1},     {193, 47, 260}, {31, 2100, 5}, {200, 200, 200}, {3, 9, 0}};
#define N_SIZES (sizeof SIZES / sizeof *SIZES)

START_TEST(test_gemm_isa_paths) {
  rng = 1357;
  const char *names[2];
  int n = isas(names);
  ck_assert_int_eq(ferry_gemm_use_isa("no-such-isa"), 0);
  for (size_t s = 0; s < N_SIZES; s++) {
    prod p;
    prod_make(&p, SIZES[s][0], SIZES[s][1], SIZES[s][2]);
    float *got[2];
    for (int i = 0; i < n; i++) {
      ck_assert(ferry_gemm_use_isa(names[i]));
      ck_assert_msg(strstr(ferry_gemm_config(), i ? "avx2" : "f32x") != NULL, "config %s", ferry_gemm_config());
      got[i] = prod_run(&p, 0);
      char what[96];
      snprintf(what, sizeof what, "%s %lldx%lldx%lld", names[i], (long long)p.M, (long long)p.N, (long long)p.K);
      check_close(got[i], p.want, p.scale, p.M * p.N, p.K, what);
    }
    for (int64_t j = 0; n == 2 && j < p.M * p.N; j++) /* the two paths agree within twice the bound */
      ck_assert_msg(fabs((double)got[0][j] - got[1][j]) <= 2 * 1.2e-7 * (double)(p.K + 4) * p.scale[j],
                    "generic vs avx2 [%lld]: %.9g vs %.9g", (long long)j, got[0][j], got[1][j]);
    for (int i = 0; i < n; i++) free(got[i]);
    prod_free(&p);
  }
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* A, B or both prepacked (and neither), against the reference; and with
 * the epilogue's post map, which must map every element of C exactly
 * once, after the bias and Relu, on every path (both micro-kernels, serial
 * and threaded drivers, edge tiles and narrow edges, k-blocks, column
 * blocks, GEMV rows and columns, K = 0): bit for bit the map of the same
 * product without it. */
START_TEST(test_gemm_prepacked) {
  rng = 8642;
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t s = 0; s < N_SIZES; s++) {
      prod p;
      prod_make(&p, SIZES[s][0], SIZES[s][1], SIZES[s][2]);
      for (int pack = 0; pack <= 3; pack++) {
        float *C = prod_run(&p, pack);
        char what[96];
        snprintf(what, sizeof what, "%s pack%d %lldx%lldx%lld", names[i], pack, (long long)p.M, (long long)p.N,
                 (long long)p.K);
        check_close(C, p.want, p.scale, p.M * p.N, p.K, what);
        post_on = 1; /* the post map: every element of C mapped once, bit for bit */
        float *mapped = prod_run(&p, pack);
        post_on = 0;
        for (int64_t j = 0; j < p.M * p.N; j++) {
          float want = post_f(C[j]);
          ck_assert_msg(!memcmp(&mapped[j], &want, sizeof want), "%s, post [%lld]: %a, want %a", what, (long long)j,
                        mapped[j], want);
        }
        free(C), free(mapped);
      }
      prod_free(&p);
    }
  }
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ---- the epilogue in the micro-kernel ---- */

/* One epilogue: alpha, beta, the bias's strides (bias_kind: 0 none, else
 * rs/cs as given) and an activation. */
typedef struct epi_case {
  float alpha, beta;
  int bias;
  int64_t rs, cs; /* in units of N for rs == -1: a full M x N bias */
  int act;
  float a, b;
} epi_case;

static double epi_act_ref(const epi_case *c, double x) {
  switch (c->act) {
  case FERRY_ACT_RELU: return x < 0 ? 0 : x;
  case FERRY_ACT_TANH: return tanh(x);
  case FERRY_ACT_SIGMOID: return 1 / (1 + exp(-x));
  case FERRY_ACT_LEAKYRELU: return x < 0 ? x * c->a : x;
  case FERRY_ACT_CLIP: /* ONNX's Clip: max when min > max */
    x = x < c->a ? c->a : x;
    return x > c->b ? c->b : x;
  case FERRY_ACT_HARDSIGMOID: {
    double y = c->a * x + c->b;
    return y < 0 ? 0 : y > 1 ? 1 : y;
  }
  default: return x;
  }
}

/* C = act(alpha * A*B + beta * bias) for M x N x K through ferry_sgemm_ws
 * (serial or threaded by size) against a double reference; A's row 1
 * holds a NaN when nan is set (its whole row must come out NaN). */
static void epi_check(const char *isa, const epi_case *c, int64_t M, int64_t N, int64_t K, int nan) {
  float *A = rnd_fill(M * K), *B = rnd_fill(K * N), *bias = rnd_fill(M * N * 2 + 1);
  if (nan && M > 1 && K > 0) A[K + K / 2] = NAN;
  int64_t rs = c->rs == -1 ? N : c->rs;
  double *want = malloc((size_t)(M * N) * sizeof *want), *scale = malloc((size_t)(M * N) * sizeof *scale);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0, m = 0, bv = c->bias ? (double)c->beta * bias[i * rs + j * c->cs] : 0;
      for (int64_t k = 0; k < K; k++) s += (double)A[i * K + k] * B[k * N + j], m += fabs((double)A[i * K + k] * B[k * N + j]);
      want[i * N + j] = epi_act_ref(c, c->alpha * s + bv);
      scale[i * N + j] = fabs(c->alpha) * m + fabs(bv) + 1e-6;
      if (c->act == FERRY_ACT_HARDSIGMOID) scale[i * N + j] = c->a * scale[i * N + j] + fabs(c->b); /* a*x + b rounds */
    }
  kf_call k;
  kf_init(&k, 13);
  k.k.parallel = kf_chunky_parallel;
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.alpha = c->alpha, e.beta = c->beta;
  if (c->bias) e.bias = bias, e.bias_rs = rs, e.bias_cs = c->cs;
  e.act = (ferry_act){c->act, c->a, c->b};
  float *C = malloc((size_t)(M * N) * sizeof *C);
  for (int64_t i = 0; i < M * N; i++) C[i] = 1e30f; /* stale C: later k-blocks must not add to it */
  float *ws = malloc(ferry_sgemm_ws_size(M, N, K) * sizeof(float) + 64);
  ferry_gemm_b b = {{B, N, 1}, NULL, NULL};
  ferry_sgemm_ws(&k.k, M, N, K, (ferry_fmat){A, K, 1}, &b, C, N, &e, ws);
  char what[160];
  snprintf(what, sizeof what, "%s %lldx%lldx%lld alpha %g beta %g bias %d (%lld, %lld) act %d (%g, %g)%s", isa,
           (long long)M, (long long)N, (long long)K, c->alpha, c->beta, c->bias, (long long)rs, (long long)c->cs,
           c->act, c->a, c->b, nan ? " NaN" : "");
  for (int64_t i = 0; i < M * N; i++) {
    if (isnan(want[i])) {
      ck_assert_msg(isnan(C[i]), "%s: [%lld] = %g, want NaN", what, (long long)i, C[i]);
      want[i] = 0, scale[i] = 1, C[i] = 0;
    }
  }
  check_close(C, want, scale, M * N, K, what);
  free(ws), free(C), kf_free(&k);
  free(A), free(B), free(bias), free(want), free(scale);
}

/* Every epilogue the micro-kernel does in registers (alpha, beta, bias per
 * row / scalar / per column / a full matrix, Relu, Clip, also with min >
 * max) and those it leaves to the tile path and the row epilogue (strided
 * bias columns, other activations; 8-column AVX2 part and scalar tail on
 * edge tiles of 13 columns), on full and edge tiles over one to three
 * k-blocks, serial and threaded, and GEMVs (M or N 1), on each
 * instruction set; NaN passes through. */
START_TEST(test_gemm_epilogues) {
  rng = 3141;
  static const epi_case cases[] = {
      {1, 1, 0, 0, 0, FERRY_ACT_NONE, 0, 0},          {1, 1, 1, 1, 0, FERRY_ACT_RELU, 0, 0},
      {0.5f, 2, 1, 1, 0, FERRY_ACT_CLIP, -0.3f, 0.4f}, {1, 1, 1, 1, 0, FERRY_ACT_CLIP, 0, 6},
      {1, 1, 1, 0, 0, FERRY_ACT_NONE, 0, 0},          {-1.5f, 1, 1, 0, 1, FERRY_ACT_RELU, 0, 0},
      {1, 0.5f, 1, -1, 1, FERRY_ACT_NONE, 0, 0},      {2, 1, 1, -1, 1, FERRY_ACT_CLIP, -INFINITY, 0.2f},
      {1, 1, 1, 0, 2, FERRY_ACT_RELU, 0, 0},          {1, 1, 1, 1, 0, FERRY_ACT_CLIP, 0.5f, -0.5f},
      {1, 1, 1, 1, 0, FERRY_ACT_LEAKYRELU, 0.1f, 0},  {0.5f, 1, 1, 0, 1, FERRY_ACT_HARDSIGMOID, 0.2f, 0.5f},
      {1, 1, 0, 0, 0, FERRY_ACT_TANH, 0, 0},          {1, 1, 0, 0, 0, FERRY_ACT_CLIP, -INFINITY, INFINITY},
  };
  static const int64_t sizes[][3] = {{12, 32, 7}, {13, 35, 300}, {18, 48, 600}, {7, 2100, 5}, {25, 50, 1},
                                     {6, 16, 513}, {9, 29, 40},  {1, 300, 20},  {40, 1, 30}};
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
      for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        epi_check(names[i], &cases[c], sizes[s][0], sizes[s][1], sizes[s][2], (int)(s + c) % 3 == 0);
  }
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ---- Conv ---- */

typedef struct conv2 {
  int64_t N, C, M, G, H, W, kh, kw, s, d, p; /* square stride, dilation, symmetric pads */
} conv2;

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p) {
  int64_t span = in + 2 * p - (k - 1) * d - 1;
  return span < 0 ? 0 : span / s + 1;
}

static void conv2_ref(const conv2 *c, const float *X, const float *W, const float *B, double *Y, double *S) {
  int64_t OH = out_dim(c->H, c->kh, c->s, c->d, c->p), OW = out_dim(c->W, c->kw, c->s, c->d, c->p);
  int64_t Cg = c->C / c->G, Mg = c->M / c->G;
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t m = 0; m < c->M; m++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          double s = B[m], a = fabs(B[m]);
          for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t i = 0; i < c->kh; i++)
              for (int64_t j = 0; j < c->kw; j++) {
                int64_t ih = oh * c->s - c->p + i * c->d, iw = ow * c->s - c->p + j * c->d;
                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                double t = (double)X[((n * c->C + m / Mg * Cg + ci) * c->H + ih) * c->W + iw] *
                           W[((m * Cg + ci) * c->kh + i) * c->kw + j];
                s += t, a += fabs(t);
              }
          int64_t o = ((n * c->M + m) * OH + oh) * OW + ow;
          Y[o] = s, S[o] = a + 1e-6;
        }
}

/* A fake executor buffer for kctx persist: one per test call. */
typedef struct fake_persist {
  void *buf;
  size_t bytes;
  int calls, fresh_calls;
} fake_persist;

static fake_persist *cur_persist;

static void *persist_cb(ferry_kctx *k, size_t bytes, int *fresh) {
  (void)k;
  fake_persist *f = cur_persist;
  f->calls++;
  *fresh = 0;
  if (f->buf && f->bytes == bytes) return f->buf;
  free(f->buf);
  ck_assert(posix_memalign(&f->buf, 64, bytes ? bytes : 1) == 0);
  memset(f->buf, 0xAB, bytes); /* garbage: the kernel must fill it all */
  f->bytes = bytes, *fresh = 1, f->fresh_calls++;
  return f->buf;
}

/* The inputs conv2_run marks constant when it passes a persist buffer:
 * W (bit 1), and the bias too with 6. */
static uint64_t cur_const_in = 2;

/* conv2_run hands the kernel post_map as kctx post (else the kernel's
 * post_done of the last run). */
static int cur_post, last_post_done;

/* FusedConv's activation for conv2_run (NULL: plain Conv) and its params. */
static const char *cur_act;
static float cur_act_p[2];

/* y = the activation of the ONNX op named cur_act (double reference). */
static double act_ref(double y) {
  double a = cur_act_p[0], b = cur_act_p[1];
  if (!strcmp(cur_act, "Relu")) return y < 0 ? 0 : y;
  if (!strcmp(cur_act, "Clip")) return fmin(fmax(y, a), b); /* min > max gives max, as onnxruntime */
  if (!strcmp(cur_act, "HardSigmoid")) return fmax(0, fmin(1, a * y + b));
  if (!strcmp(cur_act, "LeakyRelu")) return y < 0 ? a * y : y;
  if (!strcmp(cur_act, "Tanh")) return tanh(y);
  ck_abort_msg("no reference for %s", cur_act);
  return 0;
}

/* Runs Conv on X (W constant when fp != NULL) and checks it. */
static void conv2_run(const conv2 *c, const float *X, const float *W, const float *B, fake_persist *fp,
                      const char *what) {
  int64_t OH = out_dim(c->H, c->kh, c->s, c->d, c->p), OW = out_dim(c->W, c->kw, c->s, c->d, c->p);
  int64_t ny = c->N * c->M * OH * OW, Cg = c->C / c->G;
  double *Y = malloc((size_t)ny * sizeof *Y), *S = malloc((size_t)ny * sizeof *S);
  conv2_ref(c, X, W, B, Y, S);
  for (int64_t i = 0; cur_act && i < ny; i++) Y[i] = act_ref(Y[i]), S[i] += 1; /* the 1: HardSigmoid's b */
  for (int64_t i = 0; cur_post && i < ny; i++) Y[i] = Y[i] * -3.0 + 0.5, S[i] *= 3;
  kf_call k;
  kf_init(&k, 11);
  k.k.parallel = kf_chunky_parallel;
  if (fp) k.k.const_in = cur_const_in, k.k.persist = persist_cb, cur_persist = fp;
  kf_in(&k, FERRY_F32, 4, (int64_t[]){c->N, c->C, c->H, c->W}, X);
  kf_in(&k, FERRY_F32, 4, (int64_t[]){c->M, Cg, c->kh, c->kw}, W);
  kf_in(&k, FERRY_F32, 1, (int64_t[]){c->M}, B);
  kf_out(&k, FERRY_F32, 4, (int64_t[]){c->N, c->M, OH, OW});
  kf_attr_ints(&k, "strides", 2, (int64_t[]){c->s, c->s});
  kf_attr_ints(&k, "dilations", 2, (int64_t[]){c->d, c->d});
  kf_attr_ints(&k, "pads", 4, (int64_t[]){c->p, c->p, c->p, c->p});
  kf_attr_int(&k, "group", c->G);
  if (cur_act) kf_attr_string(&k, "activation", cur_act), kf_attr_floats(&k, "activation_params", 2, cur_act_p);
  if (cur_post) k.k.post = post_map;
  int rc = kf_run(&k, cur_act ? ferry_kernel_FusedConv : ferry_kernel_Conv);
  ck_assert_msg(rc == FERRY_OK, "%s: %s", what, k.k.err);
  last_post_done = k.k.post_done;
  if (cur_post && !k.k.post_done) post_map(NULL, k.out[0].data, ny); /* as the executor does */
  char msg[200];
  snprintf(msg, sizeof msg, "%s: N%lld C%lld M%lld G%lld %lldx%lld k%lldx%lld s%lld d%lld p%lld", what, (long long)c->N,
           (long long)c->C, (long long)c->M, (long long)c->G, (long long)c->H, (long long)c->W, (long long)c->kh,
           (long long)c->kw, (long long)c->s, (long long)c->d, (long long)c->p);
  check_close(k.out[0].data, Y, S, ny, Cg * c->kh * c->kw, msg);
  kf_free(&k);
  free(Y), free(S);
}

START_TEST(test_conv_prepacked_weights) {
  rng = 97531;
  static const conv2 cases[] = {
      {1, 8, 12, 1, 9, 11, 3, 3, 1, 1, 1},  {2, 6, 10, 2, 7, 20, 3, 3, 1, 1, 1}, {1, 16, 70, 1, 5, 5, 1, 1, 1, 1, 0},
      {1, 40, 300, 1, 6, 6, 3, 3, 1, 1, 1}, {1, 3, 7, 1, 17, 19, 5, 5, 2, 1, 2}, {1, 9, 9, 3, 8, 8, 3, 3, 1, 2, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const conv2 *c = &cases[i];
    float *W = rnd_fill(c->M * c->C / c->G * c->kh * c->kw), *B = rnd_fill(c->M);
    fake_persist fp = {NULL, 0, 0, 0};
    for (int run = 0; run < 3; run++) {
      float *X = rnd_fill(c->N * c->C * c->H * c->W);
      conv2_run(c, X, W, B, &fp, run ? "conv, W packed earlier" : "conv, W packed now");
      free(X);
    }
    ck_assert_int_eq(fp.calls, 3);
    ck_assert_int_eq(fp.fresh_calls, 1); /* packed once, reused twice */
    free(fp.buf), free(W), free(B);
  }
}
END_TEST

START_TEST(test_conv_row_runs) {
  rng = 11235;
  for (int64_t w = 1; w <= 76; w += (w < 20 ? 1 : 3)) /* stride 2 reaches its whole-vector path from 33 */
    for (int64_t s = 1; s <= 3; s++) {
      conv2 c = {1, 2 + (int64_t)(rnd() % 3), 5, 1, rnd_in(3, 9), w, rnd_in(1, 3), rnd_in(1, 3), s, rnd_in(1, 2),
                 rnd_in(0, 2)};
      if (out_dim(c.H, c.kh, c.s, c.d, c.p) < 1 || out_dim(c.W, c.kw, c.s, c.d, c.p) < 1) continue;
      float *X = rnd_fill(c.N * c.C * c.H * c.W), *W = rnd_fill(c.M * c.C * c.kh * c.kw), *B = rnd_fill(c.M);
      conv2_run(&c, X, W, B, NULL, "im2col runs");
      free(X), free(W), free(B);
    }
}
END_TEST

/* Depthwise on both instruction sets: 3x3 (unrolled) at strides 1 and 2,
 * padded (the padded-copy path) or not (edges point by point), widths
 * around the vector sizes; and other kernels, strides and dilations. */
START_TEST(test_depthwise) {
  rng = 424242;
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    ck_assert_int_eq(ferry_simd_avx2(), i == 1);
    char what[64];
    snprintf(what, sizeof what, "depthwise (%s)", names[i]);
    for (int64_t w = 1; w <= 41; w += 2)
      for (int64_t s = 1; s <= 3; s++)
        for (int64_t p = 0; p <= 2; p++) {
          int three = s < 3 && p < 2;
          conv2 c = {1 + (w == 5), 3, 3, 3, rnd_in(3, 12), w, three ? 3 : rnd_in(1, 5), three ? 3 : rnd_in(1, 5), s,
                     three ? 1 : rnd_in(1, 2), p};
          if (out_dim(c.H, c.kh, s, c.d, p) < 1 || out_dim(c.W, c.kw, s, c.d, p) < 1) continue;
          float *X = rnd_fill(c.N * c.C * c.H * c.W), *W = rnd_fill(c.M * c.kh * c.kw), *B = rnd_fill(c.M);
          conv2_run(&c, X, W, B, NULL, what);
          free(X), free(W), free(B);
        }
  }
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* A sweep of 3x3 convolutions on both instruction sets: widths w0 to w1
 * (step), strides 1 and 2, pads 0 and 1, the activation cycling through
 * none, folded ones (Relu, Clip, HardSigmoid) and one run after the rows
 * (LeakyRelu), a post map on every post_every-th width; each against the
 * reference, and the post map run by the kernel itself where
 * runs_post(w, s, p) says its path takes the case. */
typedef conv2 (*sweep_case)(int64_t w, int64_t s, int64_t p);
typedef int (*sweep_post)(int64_t w, int64_t s, int64_t p);
static void sweep_3x3(const char *label, int64_t w0, int64_t w1, int64_t step, int64_t post_every, sweep_case make,
                      sweep_post runs_post) {
  static const struct {
    const char *name;
    float a, b;
  } acts[] = {{NULL, 0, 0}, {"Relu", 0, 0}, {"Clip", -0.3f, 0.4f}, {"HardSigmoid", 0.7f, 0.4f}, {"LeakyRelu", 0.1f, 0}};
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (int64_t w = w0; w <= w1; w += step)
      for (int64_t s = 1; s <= 2; s++)
        for (int64_t p = 0; p <= 1; p++) {
          size_t a = (size_t)(w + s + p) % 5;
          cur_act = acts[a].name, cur_act_p[0] = acts[a].a, cur_act_p[1] = acts[a].b;
          cur_post = w % post_every == 0;
          conv2 c = make(w, s, p);
          if (out_dim(c.H, 3, s, 1, p) < 1) continue;
          char what[80];
          snprintf(what, sizeof what, "%s %s%s (%s)", label, cur_act ? cur_act : "", cur_post ? " + post" : "",
                   names[i]);
          float *X = rnd_fill(c.N * c.C * c.H * c.W), *W = rnd_fill(c.M * c.C / c.G * 9), *B = rnd_fill(c.M);
          conv2_run(&c, X, W, B, NULL, what);
          if (cur_post && runs_post(w, s, p))
            ck_assert_msg(last_post_done, "%s: w %lld s %lld left the post map", what, (long long)w, (long long)s);
          free(X), free(W), free(B);
        }
  }
  cur_act = NULL, cur_post = 0;
  ck_assert(ferry_gemm_use_isa("auto"));
}

/* The row path of 3x3 depthwise kernels (conv_dw.h, dw3_plane): every
 * width from a vector to past a full group (first and last vectors
 * shifted at the edges, the last moved back to end at OW), even and odd
 * widths at stride 2, short planes (zero rows above and below); at stride
 * 1 the widths 8-16 run the flat path (dw3f_task: pads 0 and 1, planes of
 * 1-7 rows, so last groups of many sizes). Every depthwise path but the
 * padded copy runs the post map itself. */
static conv2 rows_case(int64_t w, int64_t s, int64_t p) {
  return (conv2){1 + (w == 41), 3, 3, 3, rnd_in(1, 7), w, 3, 3, s, 1, p};
}
static int rows_post(int64_t w, int64_t s, int64_t p) { return (void)s, p == 0 || w >= 24; }
START_TEST(test_depthwise_rows) {
  rng = 7373;
  sweep_3x3("depthwise rows", 8, 80, 1, 3, rows_case, rows_post);
}
END_TEST

/* The direct path of ungrouped 3x3 convolutions over few input channels
 * (conv_dw.h, dc_row): 1-4 input channels, output channels around its
 * block of 8 (a last block past M), widths from two vectors to past
 * several; it runs the post map in its geometry (stride 2 takes pad 1). */
static conv2 direct_case(int64_t w, int64_t s, int64_t p) {
  return (conv2){1 + (w == 40), 1 + w % 4, 1 + (w * 7 + s) % 19, 1, rnd_in(1, 6), w, 3, 3, s, 1, p};
}
static int direct_post(int64_t w, int64_t s, int64_t p) { return (s == 1 || p == 1) && out_dim(w, 3, s, 1, p) >= 16; }
START_TEST(test_conv_direct) {
  rng = 6161;
  sweep_3x3("direct conv", 16, 70, 3, 2, direct_case, direct_post);
}
END_TEST

/* Depthwise with W and the bias constant: the channel blocks' weights and
 * epilogues are made once into the persist buffer (the scale of
 * HardSigmoid folded into the weights) and reused; switching the
 * instruction set (8 lanes, then 4) remakes them. Channels around the
 * blocks, planes narrower than a vector (the band's rows unpacked at once,
 * several bands), a plane smaller than a vector, wide rows. */
START_TEST(test_depthwise_persist) {
  rng = 8080;
  static const conv2 cases[] = {
      {1, 9, 9, 9, 7, 7, 3, 3, 1, 1, 1},       {2, 17, 17, 17, 14, 6, 3, 3, 1, 1, 1},  {1, 5, 5, 5, 15, 15, 3, 3, 2, 1, 1},
      {1, 8, 8, 8, 2, 3, 3, 3, 1, 1, 1},       {1, 3, 3, 3, 900, 5, 3, 3, 1, 1, 1},    {1, 12, 12, 12, 40, 37, 5, 5, 2, 1, 2},
      {1, 16, 16, 16, 9, 9, 3, 3, 1, 2, 2},
  };
  static const struct {
    const char *name;
    float a, b;
  } acts[] = {{"Clip", 0, 6}, {"HardSigmoid", 0.7f, 0.4f}, {"Tanh", 0, 0}};
  const char *names[2];
  int n = isas(names);
  cur_const_in = 6;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const conv2 *c = &cases[i];
    const size_t a = i % 3;
    cur_act = acts[a].name, cur_act_p[0] = acts[a].a, cur_act_p[1] = acts[a].b;
    float *W = rnd_fill(c->M * c->kh * c->kw), *B = rnd_fill(c->M);
    fake_persist fp = {NULL, 0, 0, 0};
    for (int isa = n - 1; isa >= 0; isa--) {
      ck_assert(ferry_gemm_use_isa(names[isa]));
      for (int run = 0; run < 2; run++) {
        float *X = rnd_fill(c->N * c->C * c->H * c->W);
        char what[80];
        snprintf(what, sizeof what, "depthwise, constants %s (%s, %s)", run ? "reused" : "made", cur_act, names[isa]);
        conv2_run(c, X, W, B, &fp, what);
        free(X);
      }
    }
    ck_assert_int_eq(fp.calls, 2 * n);
    ck_assert_int_eq(fp.fresh_calls, n); /* made once per instruction set */
    free(fp.buf), free(W), free(B);
  }
  cur_act = NULL, cur_const_in = 2;
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* Conv with a kctx post map: the GEMM paths (1x1, im2col, groups,
 * batches) and the channel-block depthwise run it on what they write and
 * say so (post_done); the others (Winograd, the padded-copy depthwise)
 * leave it to the caller; the result is right either way. */
START_TEST(test_conv_post) {
  rng = 3030;
  static const struct {
    conv2 c;
    int runs_post; /* 1: the kernel must run it itself, -1: either */
  } cases[] = {
      {{1, 16, 24, 1, 9, 11, 1, 1, 1, 1, 0}, 1},   {{2, 3, 8, 1, 13, 17, 3, 3, 2, 1, 1}, 1},
      {{1, 8, 6, 2, 10, 10, 3, 3, 1, 1, 1}, 1},    {{1, 9, 9, 9, 14, 14, 3, 3, 1, 1, 1}, 1},
      {{2, 12, 12, 12, 7, 7, 5, 5, 2, 1, 2}, 1},   {{1, 64, 64, 1, 14, 14, 3, 3, 1, 1, 1}, -1},
      {{1, 4, 4, 4, 9, 8, 3, 3, 1, 2, 2}, -1},     {{1, 5, 5, 5, 1, 1, 1, 1, 1, 1, 0}, -1},
  };
  const char *names[2];
  int n = isas(names);
  cur_post = 1, cur_act = "Clip", cur_act_p[0] = -0.5f, cur_act_p[1] = 0.75f;
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
      const conv2 *c = &cases[ci].c;
      float *X = rnd_fill(c->N * c->C * c->H * c->W), *W = rnd_fill(c->M * c->C / c->G * c->kh * c->kw);
      float *B = rnd_fill(c->M);
      char what[64];
      snprintf(what, sizeof what, "conv + post (%s)", names[i]);
      conv2_run(c, X, W, B, NULL, what);
      if (cases[ci].runs_post > 0) ck_assert_msg(last_post_done, "%s: case %zu left the post map", what, ci);
      free(X), free(W), free(B);
    }
  }
  cur_post = 0, cur_act = NULL;
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* MatMul [2, M, K] x [K, N] and Gemm (transB) with B constant, run three
 * times on other A: B packed on the first run only, every result right. */
START_TEST(test_matmul_gemm_prepacked_b) {
  rng = 5555;
  static const int64_t sizes[][3] = {{7, 33, 19}, {64, 300, 257}, {3, 17, 1}, {1, 40, 30}};
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
    for (int op = 0; op < 2; op++) {
      int64_t M = sizes[si][0], N = sizes[si][1], K = sizes[si][2], nb = op ? 1 : 2;
      float *B = rnd_fill(K * N);
      fake_persist fp = {NULL, 0, 0, 0};
      for (int run = 0; run < 3; run++) {
        float *A = rnd_fill(nb * M * K);
        double *Y = malloc((size_t)(nb * M * N) * sizeof *Y), *S = malloc((size_t)(nb * M * N) * sizeof *S);
        for (int64_t i = 0; i < nb * M; i++)
          for (int64_t j = 0; j < N; j++) {
            double s = 0, a = 0;
            for (int64_t p = 0; p < K; p++) {
              double t = (double)A[i * K + p] * (op ? B[j * K + p] : B[p * N + j]); /* Gemm: B is [N, K], transB */
              s += t, a += fabs(t);
            }
            Y[i * N + j] = s, S[i * N + j] = a + 1e-6;
          }
        kf_call c;
        kf_init(&c, 13);
        c.k.parallel = kf_chunky_parallel;
        c.k.const_in = 2, c.k.persist = persist_cb, cur_persist = &fp;
        if (op) {
          kf_in(&c, FERRY_F32, 2, (int64_t[]){M, K}, A);
          kf_in(&c, FERRY_F32, 2, (int64_t[]){N, K}, B);
          kf_out(&c, FERRY_F32, 2, (int64_t[]){M, N});
          kf_attr_int(&c, "transB", 1);
          ck_assert_int_eq(kf_run(&c, ferry_kernel_Gemm), FERRY_OK);
        } else {
          kf_in(&c, FERRY_F32, 3, (int64_t[]){nb, M, K}, A);
          kf_in(&c, FERRY_F32, 2, (int64_t[]){K, N}, B);
          kf_out(&c, FERRY_F32, 3, (int64_t[]){nb, M, N});
          ck_assert_int_eq(kf_run(&c, ferry_kernel_MatMul), FERRY_OK);
        }
        char what[96];
        snprintf(what, sizeof what, "%s %lldx%lldx%lld run %d", op ? "Gemm" : "MatMul", (long long)M, (long long)N,
                 (long long)K, run);
        check_close(c.out[0].data, Y, S, nb * M * N, K, what);
        kf_free(&c);
        free(A), free(Y), free(S);
      }
      ck_assert_int_eq(fp.fresh_calls, nb * M > 1 ? 1 : 0); /* one-row products do not pack */
      free(fp.buf), free(B);
    }
}
END_TEST

/* Depthwise FusedConv on both instruction sets: Relu, Clip and
 * HardSigmoid fold into the padded path's in-register epilogue (odd
 * heights end on a single row, widths around the vectors end on a partial
 * store), LeakyRelu and Tanh run after each row; strides 1-2 with 3x3, 5x5
 * and other kernels, and dilation 2 (the row-by-row sweep). */
START_TEST(test_depthwise_fused) {
  rng = 515151;
  static const struct {
    const char *name;
    float a, b;
  } acts[] = {{"Relu", 0, 0}, {"Clip", -0.3f, 0.4f}, {"Clip", 0.5f, -0.5f}, {"HardSigmoid", 0.7f, 0.4f},
              {"LeakyRelu", 0.1f, 0}, {"Tanh", 0, 0}};
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
      cur_act = acts[a].name, cur_act_p[0] = acts[a].a, cur_act_p[1] = acts[a].b;
      char what[80];
      snprintf(what, sizeof what, "depthwise %s (%s)", cur_act, names[i]);
      for (int64_t w = 1; w <= 35; w += 3)
        for (int64_t s = 1; s <= 2; s++) {
          int64_t k = w % 2 ? 3 : w % 6 == 4 ? 5 : 0; /* 3x3 and 5x5 unrolled, others not */
          conv2 c = {1, 4, 4, 4, rnd_in(1, 9), w, k ? k : rnd_in(1, 5), k ? k : rnd_in(1, 5), s,
                     w % 7 == 0 && !k ? 2 : 1, rnd_in(1, 2)};
          if (out_dim(c.H, c.kh, s, c.d, c.p) < 1 || out_dim(c.W, c.kw, s, c.d, c.p) < 1) continue;
          float *X = rnd_fill(c.N * c.C * c.H * c.W), *W = rnd_fill(c.M * c.kh * c.kw), *B = rnd_fill(c.M);
          conv2_run(&c, X, W, B, NULL, what);
          free(X), free(W), free(B);
        }
    }
  }
  cur_act = NULL;
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* Winograd F(2x2, 3x3) called directly (W constant: transformed once and
 * reused, or not) against the double reference within twice the GEMM's
 * bound (the transforms only add, subtract and halve; a 1e-3 error in one
 * coefficient fails it). And Conv picks it exactly where
 * ferry_wino_applies says: with the generic GEMM. */

/* Winograd called directly, F(2x2) and F(4x4) with both micro-kernels
 * (W constant: transformed once and reused, or not; a bias, then no
 * activation, Relu, Clip or HardSigmoid, which the output transform
 * applies, or LeakyRelu, run on the written rows) against the double reference: F(2x2) within twice the GEMM's
 * bound (its transforms only add, subtract and halve), F(4x4) within 8
 * times (coefficients up to 8 and 1/24); a 1e-3 error in one coefficient
 * fails either. The sizes cover odd planes (tiles cut at the edges), pads
 * 0-2, channels off the panel widths, more than one k-block (C > 256),
 * several blocks of tiles and batches. And Conv picks Winograd exactly
 * where ferry_wino_tile says, with a correct result either way. */
static void wino_act_ref(const ferry_act *a, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (a->kind == FERRY_ACT_RELU) y[i] = y[i] < 0 ? 0 : y[i];
    else if (a->kind == FERRY_ACT_CLIP) y[i] = y[i] < a->a ? a->a : y[i] > a->b ? a->b : y[i];
    else if (a->kind == FERRY_ACT_HARDSIGMOID) y[i] = fmax(0, fmin(1, a->a * y[i] + a->b));
    else if (a->kind == FERRY_ACT_LEAKYRELU) y[i] = y[i] < 0 ? a->a * y[i] : y[i];
}

static void wino_case(const conv2 *c, int tile, const ferry_act *act, const char *isa) {
  int64_t OH = out_dim(c->H, 3, 1, 1, c->p), OW = out_dim(c->W, 3, 1, 1, c->p), ny = c->N * c->M * OH * OW;
  ferry_wino wg = {c->N, c->C, c->H, c->W, c->M, OH, OW, c->p, c->p};
  ck_assert(ferry_wino_fits(&wg));
  float *W = rnd_fill(c->M * c->C * 9), *B = rnd_fill(c->M);
  fake_persist fp = {NULL, 0, 0, 0};
  for (int run = 0; run < 3; run++) {
    float *X = rnd_fill(c->N * c->C * c->H * c->W), *Y = malloc((size_t)ny * sizeof *Y);
    double *want = malloc((size_t)ny * sizeof *want), *scale = malloc((size_t)ny * sizeof *scale);
    conv2_ref(c, X, W, B, want, scale);
    wino_act_ref(act, want, ny);
    kf_call k;
    kf_init(&k, 11);
    k.k.parallel = kf_chunky_parallel;
    if (run) k.k.const_in = 2, k.k.persist = persist_cb, cur_persist = &fp; /* run 0: W not constant */
    ferry_gemm_epi e;
    ferry_gemm_epi_init(&e);
    e.bias = B, e.bias_rs = 1, e.bias_cs = 0, e.act = *act;
    ck_assert_int_eq(ferry_conv_winograd(&k.k, &wg, X, W, Y, &e, run > 0, tile), FERRY_OK);
    for (int64_t i = 0; i < ny; i++) scale[i] *= tile == 4 ? 8 : 2;
    char what[128];
    snprintf(what, sizeof what, "%s F(%dx%d) N%lld C%lld M%lld %lldx%lld p%lld act %d run %d", isa, tile, tile,
             (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->H, (long long)c->W, (long long)c->p,
             act->kind, run);
    check_close(Y, want, scale, ny, c->C * 9, what);
    kf_free(&k);
    free(X), free(Y), free(want), free(scale);
  }
  ck_assert_int_eq(fp.fresh_calls, 1);
  free(fp.buf), free(W), free(B);
}

START_TEST(test_conv_winograd) {
  rng = 3141;
  static const conv2 cases[] = {{1, 16, 16, 1, 8, 8, 3, 3, 1, 1, 1},    {2, 17, 19, 1, 9, 13, 3, 3, 1, 1, 1},
                                {1, 32, 24, 1, 15, 10, 3, 3, 1, 1, 0},  {1, 20, 40, 1, 12, 12, 3, 3, 1, 1, 2},
                                {1, 64, 64, 1, 14, 14, 3, 3, 1, 1, 1},  {1, 24, 16, 1, 33, 9, 3, 3, 1, 1, 1},
                                {3, 19, 21, 1, 23, 29, 3, 3, 1, 1, 1},  {1, 300, 18, 1, 11, 7, 3, 3, 1, 1, 1},
                                {1, 16, 33, 1, 61, 58, 3, 3, 1, 1, 1}};
  /* folded into the output transform (none, Relu, Clip, HardSigmoid) or
   * run on the written rows (LeakyRelu) */
  static const ferry_act acts[] = {{FERRY_ACT_NONE, 0, 0},
                                   {FERRY_ACT_RELU, 0, 0},
                                   {FERRY_ACT_CLIP, -0.5f, 0.75f},
                                   {FERRY_ACT_HARDSIGMOID, 0.2f, 0.5f},
                                   {FERRY_ACT_LEAKYRELU, 0.1f, 0}};
  const char *names[2];
  int n = isas(names);
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
      for (int tile = 2; tile <= 4; tile += 2) wino_case(&cases[ci], tile, &acts[(ci + (size_t)tile / 2) % 5], names[i]);
  }
  /* Conv's choice, and its result either way */
  static const conv2 picks[] = {{1, 32, 32, 1, 10, 10, 3, 3, 1, 1, 1}, {1, 64, 64, 1, 28, 28, 3, 3, 1, 1, 1},
                                {1, 32, 48, 1, 7, 12, 3, 3, 1, 1, 1}, {1, 128, 144, 1, 7, 7, 3, 3, 1, 1, 1},
                                {1, 16, 64, 1, 20, 20, 3, 3, 1, 1, 1}};
  for (int i = 0; i < n; i++) {
    ck_assert(ferry_gemm_use_isa(names[i]));
    for (size_t pi = 0; pi < sizeof picks / sizeof *picks; pi++) {
      const conv2 *c = &picks[pi];
      ferry_wino wg = {1, c->C, c->H, c->W, c->M, c->H, c->W, 1, 1};
      int tile = ferry_wino_tile(&wg);
      ck_assert(tile == 0 || tile == 2 || tile == 4);
      ck_assert_int_eq(ferry_wino_applies(&wg), tile != 0);
      int big = c->H >= 8 && c->W >= 8, wide = c->C >= 128 && c->M >= 128;
      if (i == 0) ck_assert_int_eq(tile, big ? 4 : 2); /* the generic GEMM: F(2x2) only on small planes */
      else ck_assert_int_eq(tile, big ? 4 : wide ? 2 : 0); /* AVX2: 7x7 with enough channels */
      float *X = rnd_fill(c->C * c->H * c->W), *W = rnd_fill(c->M * c->C * 9), *B = rnd_fill(c->M);
      for (int force = -1; force <= 4; force++) { /* the choice, then each way forced */
        if (!ferry_wino_use(force)) continue;
        ck_assert_int_eq(ferry_wino_tile(&wg), force < 0 ? tile : force);
        fake_persist fp = {NULL, 0, 0, 0};
        conv2_run(c, X, W, B, &fp, names[i]);
        free(fp.buf);
      }
      ck_assert(ferry_wino_use(-1));
      free(X), free(W), free(B);
    }
  }
  ck_assert_int_eq(ferry_wino_use(3), 0);
  ck_assert_int_eq(ferry_wino_use(-2), 0);
  ck_assert(ferry_gemm_use_isa("auto"));
}
END_TEST

/* ---- a session run twice ---- */

static void run_twice(const char *model) {
  char onnx[4096], set[4096], dir[4096], bundle[4200], args[9000], *o = NULL, *e = NULL;
  snprintf(onnx, sizeof onnx, "%s", tu_model(model));
  snprintf(set, sizeof set, "%.*s/test_data_set_0", (int)(strlen(onnx) - 5), onnx);
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(bundle, sizeof bundle, "%s/m.ferry", dir);
  snprintf(args, sizeof args, "convert '%s' -o '%s'", onnx, bundle);
  int rc = tu_run(args, &o, &e);
  ck_assert_msg(rc == 0, "%s: ferry convert exit %d: %s", model, rc, e);
  free(o), free(e);
  size_t len;
  char *buf = tu_read(bundle, &len);
  ck_assert_msg(buf != NULL, "cannot read %s", bundle);
  ferry_err err = {0};
  ferry_session_opts opts = {.threads = 1};
  ferry_session *s = ferry_session_open(buf, len, &opts, &err);
  ck_assert_msg(s != NULL, "%s: %s", model, err.msg);
  ferry_host_tensor in[1], want[1];
  memset(in, 0, sizeof in), memset(want, 0, sizeof want);
  ck_assert_int_eq(ferry_session_n_inputs(s), 1);
  ck_assert_msg(rtu_read_set(set, "input", 1, in, &err) == 0, "%s", err.msg);
  ck_assert_msg(rtu_read_set(set, "output", 1, want, &err) == 0, "%s", err.msg);
  float *first = NULL;
  for (int run = 0; run < 2; run++) {
    ferry_tview out[1];
    memset(out, 0, sizeof out);
    ck_assert_msg(ferry_session_run(s, &in[0].v, 1, out, &err) == 0, "%s run %d: %s", model, run, err.msg);
    rtu_diff d;
    char msg[512];
    ck_assert_msg(!rtu_compare(&out[0], &want[0].v, 1e-3, 1e-4, &d, msg, sizeof msg), "%s run %d: %s", model, run, msg);
    ck_assert_int_eq(out[0].dtype, FERRY_F32);
    if (!run) {
      first = malloc((size_t)out[0].numel * sizeof *first);
      memcpy(first, out[0].data, (size_t)out[0].numel * sizeof *first);
    } else {
      ck_assert_msg(!memcmp(first, out[0].data, (size_t)out[0].numel * sizeof *first), "%s: run 2 differs from run 1",
                    model);
    }
  }
  free(first);
  ferry_host_tensor_free(&in[0]), ferry_host_tensor_free(&want[0]);
  ferry_session_close(s);
  free(buf);
  rtu_rm_tree(dir);
}

/* ---- clamps: vectorized HardSigmoid / HardSwish / Clip ---- */

static float clamp01_ref(float t) { return t < 0 ? 0 : t > 1 ? 1 : t; }
static float clip_ref(float v, float lo, float hi) { return v < lo ? (lo > hi ? hi : lo) : v > hi ? hi : v; }

/* x[i] cycles through the edge values, shifted by `shift` so each lands
 * in every lane and in the tail. */
static void clamp_input(float *x, int n, int shift) {
  static const float edge[] = {NAN, -INFINITY, INFINITY, -3.0f, 3.0f, -2.9999998f, 2.9999998f, 0.0f, -0.0f,
                               6.0f, 6.0000005f, -10.0f, 1e30f, -1e-30f, 0.5f, 1.25f, -0.7f};
  int ne = (int)(sizeof edge / sizeof *edge);
  for (int i = 0; i < n; i++) x[i] = edge[(i + shift) % ne] * (i >= ne ? 1.5f : 1.0f);
}

static void check_same_bits(const float *got, const float *want, int n, const char *what) {
  for (int i = 0; i < n; i++)
    ck_assert_msg((isnan(got[i]) && isnan(want[i])) || !memcmp(&got[i], &want[i], sizeof(float)),
                  "%s n=%d [%d]: %.9g, want %.9g", what, n, i, got[i], want[i]);
}

START_TEST(test_clamp_kernels) {
  static const int lens[] = {1, 3, 4, 5, 7, 8, 9, 16, 17, 35, 67};
  float x[67], want[67];
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
    for (int shift = 0; shift < 4; shift++) {
      int n = lens[li];
      clamp_input(x, n, shift);
      int64_t dims[1] = {n};
      for (int form = 0; form < 5; form++) {
        kf_call c;
        kf_init(&c, 14);
        kf_in(&c, FERRY_F32, 1, dims, x);
        kf_out(&c, FERRY_F32, 1, dims);
        float lo = form == 4 ? 2.0f : -1.5f, hi = form == 4 ? -1.0f : 6.0f; /* form 4: min > max */
        ferry_kernel_fn fn;
        const char *what;
        if (form == 0) {
          fn = ferry_kernel_HardSigmoid, what = "HardSigmoid";
          for (int i = 0; i < n; i++) want[i] = clamp01_ref(0.2f * x[i] + 0.5f);
        } else if (form == 1) {
          fn = ferry_kernel_HardSigmoid, what = "HardSigmoid 1/6";
          kf_attr_float(&c, "alpha", 1.0f / 6.0f);
          kf_attr_float(&c, "beta", 0.5f);
          for (int i = 0; i < n; i++) want[i] = clamp01_ref((1.0f / 6.0f) * x[i] + 0.5f);
        } else if (form == 2) {
          fn = ferry_kernel_HardSwish, what = "HardSwish";
          for (int i = 0; i < n; i++) want[i] = x[i] * clamp01_ref(x[i] * (1.0f / 6.0f) + 0.5f);
        } else {
          fn = ferry_kernel_Clip, what = "Clip";
          kf_in(&c, FERRY_F32, 0, NULL, &lo);
          kf_in(&c, FERRY_F32, 0, NULL, &hi);
          for (int i = 0; i < n; i++) want[i] = clip_ref(x[i], lo, hi);
        }
        ck_assert_msg(kf_run(&c, fn) == FERRY_OK, "%s: %s", what, c.k.err);
        check_same_bits(c.out[0].data, want, n, what);
        kf_free(&c);
      }
    }
  }
}
END_TEST

START_TEST(test_session_twice) {
  run_twice("squeezenet1_1.onnx");
  run_twice("resnet18.onnx");
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernels_perf");
  TCase *t = tcase_create("gemm");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_gemm_isa_paths);
  tcase_add_test(t, test_gemm_prepacked);
  tcase_add_test(t, test_gemm_epilogues);
  tcase_add_test(t, test_matmul_gemm_prepacked_b);
  suite_add_tcase(s, t);
  t = tcase_create("conv");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_conv_prepacked_weights);
  tcase_add_test(t, test_conv_row_runs);
  tcase_add_test(t, test_depthwise);
  tcase_add_test(t, test_depthwise_fused);
  tcase_add_test(t, test_depthwise_rows);
  tcase_add_test(t, test_conv_direct);
  tcase_add_test(t, test_depthwise_persist);
  tcase_add_test(t, test_conv_post);
  tcase_add_test(t, test_conv_winograd);
  suite_add_tcase(s, t);
  t = tcase_create("clamps");
  tcase_add_test(t, test_clamp_kernels);
  suite_add_tcase(s, t);
  t = tcase_create("session");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_session_twice);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
