/*
 * bench/gemm.c - GFLOP/s of ferry's float32 GEMM (runtime/kernels/gemm.h)
 * on one thread: 256^3, 512^3 and 1024x1024x256 (M x N x K), plus a
 * transposed-B case, then Conv's kernel on resnet/mobilenet-like layers (W constant:
 * packed or transformed once, as in a session).
 * Prints the micro-kernel the build uses (vector width and register tile)
 * and the measured SIMD peaks it is judged against: f32x4 multiply then
 * add, in a loop shaped as a micro-kernel's (independent products, chained
 * sums); on x86-64 also independent fused multiply-add chains in f32x4
 * (the instruction wasm's f32x4.relaxed_madd becomes there) and in f32x8
 * (an avx2+fma function, as the GEMM's run-time dispatch uses). Built for
 * wasm, the first is V8's code of that loop: the best a wasm micro-kernel
 * of that shape can expect from V8. On
 * x86-64 the GEMM runs twice: with the micro-kernel picked at run time and
 * with the generic one, each followed by the row epilogue
 * (ferry_gemm_epi_row) on depthwise-like rows. Each figure is the best of
 * repeated runs.
 *
 *   bench/gemm [seconds-per-size [quick]]
 *   bench/gemm SECS conv C M H k stride group [pad]   (one Conv layer;
 *                                                     pad: k / 2 unless given)
 *
 * The wasm figures: `make bench/gemm.wasm` builds this file and the
 * runtime for wasm32-wasi as a command module (crt1-command.o), and
 * `node --no-warnings bench/wasi-run.mjs bench/gemm.wasm [SECS [quick]]`
 * runs it under node's WASI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"
#include "kernels/gemm.h"
#include "kernels/linalg.h"
#include "benchctx.h"

static float *random_matrix(int64_t n) {
  float *p = malloc((size_t)n * sizeof *p);
  uint32_t s = 12345;
  for (int64_t i = 0; p && i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
  }
  return p;
}

/* Best GFLOP/s over repeated runs for about `secs` seconds. */
static double bench_one(int64_t M, int64_t N, int64_t K, int trans_b, double secs) {
  bench_ctx b;
  bench_init(&b, 0);
  float *A = random_matrix(M * K), *B = random_matrix(K * N), *C = malloc((size_t)(M * N) * sizeof *C);
  if (!A || !B || !C) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  ferry_gemm_b bm = {{B, trans_b ? 1 : N, trans_b ? K : 1}, NULL, NULL};
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  double best = 1e30, start = now();
  int runs = 0;
  while (runs < 3 || now() - start < secs) {
    double t0 = now();
    ferry_sgemm(&b.k, M, N, K, (ferry_fmat){A, K, 1}, &bm, C, N, &e);
    double t = now() - t0;
    bench_release(&b);
    if (t < best) best = t;
    runs++;
  }
  free(A), free(B), free(C);
  return 2.0 * (double)M * (double)N * (double)K / best * 1e-9;
}

/* ---- the SIMD peaks ---- */

typedef float v4 __attribute__((vector_size(16)));

#define PEAK_ITERS 2000000L /* a multiple of 64 */

/* f32x4 multiply, then add: what SIMD128 has. Chains a = a * m + c would
 * wait on both latencies in turn (12 chains of 6 cycles on Zen 4 just
 * cover two multiplies and two adds a cycle, and lose to any stall: 50
 * GFLOP/s here, 58 below), while a GEMM's products are independent and
 * only its sums chain. So this loop is shaped as a micro-kernel's: per k,
 * two B vectors and R broadcast A values from a small panel that stays in
 * L1, 2 R sums; the peak is the better of R = 4 (8 sums: what V8's 15
 * vector registers hold) and R = 6. On x86-64 it is built with AVX's
 * three-operand encoding (what V8 emits on such a CPU; SSE's two-operand
 * form adds register copies). */
#define PEAK_PANEL 64 /* k values in the panel */
static float peak_a[PEAK_PANEL * 6], peak_b[PEAK_PANEL * 8];
#if defined(__x86_64__)
#define PEAK_AVX __attribute__((target("avx")))
#else
#define PEAK_AVX
#endif
#define PEAK_ROW(r) c##r##0 += b0 * a[r], c##r##1 += b1 * a[r];
#define PEAK_MULADD(NAME, R, ROWS)                                                                       \
  PEAK_AVX __attribute__((noinline)) static float NAME(long iters) {                                    \
    v4 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0}, c40 = {0}, \
       c41 = {0}, c50 = {0}, c51 = {0};                                                                  \
    for (long o = 0; o < iters / PEAK_PANEL; o++) {                                                     \
      const float *a = peak_a, *b = peak_b;                                                             \
      for (int p = 0; p < PEAK_PANEL; p++, a += R, b += 8) {                                            \
        v4 b0, b1;                                                                                      \
        memcpy(&b0, b, sizeof b0);                                                                      \
        memcpy(&b1, b + 4, sizeof b1);                                                                  \
        ROWS                                                                                            \
      }                                                                                                 \
    }                                                                                                   \
    v4 s = c00 + c01 + c10 + c11 + c20 + c21 + c30 + c31 + c40 + c41 + c50 + c51;                       \
    return s[0] + s[1] + s[2] + s[3];                                                                   \
  }
PEAK_MULADD(peak_muladd4, 4, PEAK_ROW(0) PEAK_ROW(1) PEAK_ROW(2) PEAK_ROW(3))
PEAK_MULADD(peak_muladd6, 6, PEAK_ROW(0) PEAK_ROW(1) PEAK_ROW(2) PEAK_ROW(3) PEAK_ROW(4) PEAK_ROW(5))

#if defined(__x86_64__)
/* Fused multiply-adds: 12 independent chains a = a * m + c (4 cycles of
 * latency each: three a cycle could issue, two do). */
static volatile int peak_inner = 64;
#define PEAK_FMA_BODY(V)                                                            \
  V a0 = x, a1 = x + 1, a2 = x + 2, a3 = x + 3, a4 = x + 4, a5 = x + 5, a6 = x + 6, \
    a7 = x + 7, a8 = x + 8, a9 = x + 9, a10 = x + 10, a11 = x + 11;                   \
  for (long o = 0; o < iters / 64; o++) {                                          \
    int n = peak_inner; /* volatile: the compiler cannot fold the chains */        \
    for (int i = 0; i < n; i++) {                                                   \
      a0 = a0 * m + c, a1 = a1 * m + c, a2 = a2 * m + c, a3 = a3 * m + c;           \
      a4 = a4 * m + c, a5 = a5 * m + c, a6 = a6 * m + c, a7 = a7 * m + c;           \
      a8 = a8 * m + c, a9 = a9 * m + c, a10 = a10 * m + c, a11 = a11 * m + c;       \
    }                                                                               \
  }                                                                                 \
  V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                \
  float r = 0;                                                                      \
  for (unsigned l = 0; l < sizeof s / sizeof(float); l++) r += s[l];                \
  return r;

/* f32x4 with FMA: what wasm's f32x4.relaxed_madd runs as on this CPU */
__attribute__((noinline, target("fma"))) static float peak_fma4(long iters) {
  v4 x = {1, 1, 1, 1}, m = x * 0.999f, c = x * 0.001f;
  PEAK_FMA_BODY(v4)
}

typedef float v8 __attribute__((vector_size(32)));
__attribute__((noinline, target("avx2,fma"))) static float peak_fma8(long iters) {
  v8 x = {1, 1, 1, 1, 1, 1, 1, 1}, m = x * 0.999f, c = x * 0.001f;
  PEAK_FMA_BODY(v8)
}
#endif

enum { PEAK_MULADD4, PEAK_MULADD6, PEAK_FMA4, PEAK_FMA8 };

/* GFLOP/s of one peak loop (2 flops per lane per multiply-add), best of
 * 25 short runs: other load on the machine comes and goes. */
static double peak(int kind) {
  static const double flops_per_iter[] = {2 * 4 * 8, 2 * 6 * 8, 12 * 2 * 4, 12 * 2 * 8};
  for (int i = 0; i < PEAK_PANEL * 6; i++) peak_a[i] = 1e-3f;
  for (int i = 0; i < PEAK_PANEL * 8; i++) peak_b[i] = 1e-3f;
  double best = 1e30;
  volatile float sink = 0;
  for (int rep = 0; rep < 25; rep++) {
    double t0 = now();
    switch (kind) {
    case PEAK_MULADD4: sink += peak_muladd4(PEAK_ITERS); break;
    case PEAK_MULADD6: sink += peak_muladd6(PEAK_ITERS); break;
#if defined(__x86_64__)
    case PEAK_FMA4: sink += peak_fma4(PEAK_ITERS); break;
    case PEAK_FMA8: sink += peak_fma8(PEAK_ITERS); break;
#endif
    }
    double t = now() - t0;
    if (t < best) best = t;
  }
  (void)sink;
  return flops_per_iter[kind] * (double)PEAK_ITERS / best * 1e-9;
}

/* ---- convolutions: Conv's kernel on resnet-like layers ---- */

typedef struct conv_attrs {
  int64_t pads[4], strides[2], group;
} conv_attrs;

static int conv_attr(void *node, const char *name, ferry_attrv *a) {
  const conv_attrs *c = node;
  memset(a, 0, sizeof *a);
  if (!strcmp(name, "pads")) *a = (ferry_attrv){.type = 7, .n = 4, .ints = c->pads};
  else if (!strcmp(name, "strides")) *a = (ferry_attrv){.type = 7, .n = 2, .ints = c->strides};
  else if (!strcmp(name, "group")) *a = (ferry_attrv){.type = 2, .i = c->group};
  return a->type != 0;
}

static int64_t conv_pad = -1; /* the one-layer mode's pad; -1: k / 2 */

/* Best GFLOP/s of an NCHW Conv (batch 1) with a k x k kernel. */
static double bench_conv(int64_t C, int64_t M, int64_t H, int64_t k, int64_t s, int64_t group, double secs) {
  int64_t p = conv_pad >= 0 ? conv_pad : k / 2, OH = (H + 2 * p - k) / s + 1;
  conv_attrs at = {{p, p, p, p}, {s, s}, group};
  ferry_shape_ctx sc;
  memset(&sc, 0, sizeof sc);
  sc.attr = conv_attr;
  sc.node = &at;
  ferry_tview in[3], out[1];
  memset(in, 0, sizeof in);
  memset(out, 0, sizeof out);
  in[0] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {1, C, H, H}, .numel = C * H * H, .data = random_matrix(C * H * H)};
  in[1] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {M, C / group, k, k}, .numel = M * C / group * k * k,
                          .data = random_matrix(M * C / group * k * k)};
  in[2] = (ferry_tview){.dtype = FERRY_F32, .rank = 1, .dims = {M}, .numel = M, .data = random_matrix(M)};
  out[0] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {1, M, OH, OH}, .numel = M * OH * OH,
                           .data = malloc((size_t)(M * OH * OH) * sizeof(float))};
  bench_ctx b;
  bench_init(&b, 1); /* W and B are weights: packed or transformed once, as in a session */
  b.k.sctx = &sc;
  b.k.n_in = 3, b.k.n_out = 1, b.k.in = in, b.k.out = out, b.k.opset = 11;
  double best = 1e30, start = now();
  int runs = 0;
  while (runs < 3 || now() - start < secs) {
    double t0 = now();
    if (ferry_kernel_Conv(&b.k)) {
      fprintf(stderr, "conv failed: %s\n", b.k.err);
      exit(1);
    }
    double t = now() - t0;
    bench_release(&b);
    if (t < best) best = t;
    runs++;
  }
  for (int i = 0; i < 3; i++) free(in[i].data);
  free(out[0].data), free(b.keep);
  return 2.0 * (double)(M * OH * OH) * (double)(C / group * k * k) / best * 1e-9;
}

/* Conv layers (C, M, H, k, stride, group): resnet-like, then mobilenet_v2's
 * 1x1 products with small K (expand 16 -> 96 at 112x112 ... project 960 ->
 * 160 at 7x7), where the tile store and the packing of B weigh most, and
 * its depthwise 3x3 layers (stride 1 and 2, planes 112x112 down to 7x7). */
static const int64_t convs[][6] = {{3, 64, 224, 7, 2, 1},  {64, 64, 56, 3, 1, 1},   {128, 128, 28, 3, 1, 1},
                                   {256, 256, 14, 3, 1, 1}, {512, 512, 7, 3, 1, 1},  {64, 128, 56, 1, 2, 1},
                                   {32, 32, 112, 3, 1, 32}, {96, 24, 56, 1, 1, 1},   {16, 96, 112, 1, 1, 1},
                                   {24, 144, 56, 1, 1, 1},  {144, 24, 56, 1, 1, 1},  {32, 192, 28, 1, 1, 1},
                                   {64, 384, 14, 1, 1, 1},  {384, 64, 14, 1, 1, 1},  {160, 960, 7, 1, 1, 1},
                                   {960, 160, 7, 1, 1, 1},  {96, 96, 112, 3, 2, 96}, {144, 144, 56, 3, 1, 144},
                                   {144, 144, 56, 3, 2, 144}, {576, 576, 14, 3, 1, 576}, {960, 960, 7, 3, 1, 960}};
#define N_CONVS (sizeof convs / sizeof *convs)

static void print_conv(const int64_t *c, double secs) {
  printf("  %3lld -> %3lld, %3lldx%-3lld %lldx%lld/%lld g%-3lld %6.1f GFLOP/s\n", (long long)c[0], (long long)c[1],
         (long long)c[2], (long long)c[2], (long long)c[3], (long long)c[3], (long long)c[4], (long long)c[5],
         bench_conv(c[0], c[1], c[2], c[3], c[4], c[5], secs));
  fflush(stdout);
}

/* ns per element of ferry_gemm_epi_row with a per-row bias and
 * Clip(0, 6) (mobilenet_v2's depthwise rows) on rows of 112 .. 7 columns,
 * best of 200 passes over 64Ki floats. */
static void bench_epi_rows(void) {
  static float c[1 << 16], bias[1024];
  static const int widths[] = {112, 56, 28, 14, 7};
  for (int i = 0; i < 1 << 16; i++) c[i] = (float)(i % 17) - 8;
  for (int i = 0; i < 1024; i++) bias[i] = 0.1f * (float)(i % 7);
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.bias = bias, e.bias_rs = 1, e.bias_cs = 0;
  e.act = (ferry_act){FERRY_ACT_CLIP, 0, 6};
  printf("ferry_gemm_epi_row, Clip(0, 6), ns per element (%s):", strstr(ferry_gemm_config(), "avx2") ? "avx2" : "generic");
  for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
    int ow = widths[w], rows = (1 << 16) / ow;
    double best = 1e30;
    for (int rep = 0; rep < 200; rep++) {
      double t0 = now();
      for (int r = 0; r < rows; r++) ferry_gemm_epi_row(&e, r & 1023, 0, ow, c + r * ow);
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("  %d: %.2f", ow, best * 1e9 / (rows * ow));
  }
  printf("\n");
}

/* Prints the peaks on one line; returns the f32x4 mul+add one and sets
 * *fma8 to the f32x8 FMA one (0 off x86-64). */
static double print_peaks(double *fma8) {
  double muladd = peak(PEAK_MULADD4), m6 = peak(PEAK_MULADD6);
  if (m6 > muladd) muladd = m6;
  *fma8 = 0;
  printf("measured SIMD peak, one thread: f32x4 mul+add %.1f GFLOP/s", muladd);
#if defined(__x86_64__)
  printf(", f32x4 FMA %.1f GFLOP/s", peak(PEAK_FMA4));
  printf(", f32x8 FMA (avx2) %.1f GFLOP/s", *fma8 = peak(PEAK_FMA8));
#endif
  printf("\n");
  return muladd;
}

/* `bench/gemm SECS quick`: the peaks, no second micro-kernel; 256^3 and
 * 1024x1024x256, one 3x3 Conv and the 1x1 ones (for A/B runs of builds). */
static int quick(double secs) {
  double fma8;
  print_peaks(&fma8);
  printf("ferry sgemm, one thread, micro-kernel %s\n", ferry_gemm_config());
  printf("   256 x  256 x  256  %6.1f GFLOP/s\n", bench_one(256, 256, 256, 0, secs));
  printf("  1024 x 1024 x  256  %6.1f GFLOP/s\n", bench_one(1024, 1024, 256, 0, secs));
  for (size_t i = 0; i < N_CONVS; i++)
    if (i == 1 || convs[i][5] > 1 || (convs[i][3] == 1 && convs[i][4] == 1)) print_conv(convs[i], secs);
  bench_epi_rows();
  return 0;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  if (argc > 2 && !strcmp(argv[2], "quick")) return quick(secs);
  if ((argc == 9 || argc == 10) && !strcmp(argv[2], "conv")) { /* one layer: C M H k stride group [pad] */
    int64_t c[6];
    for (int i = 0; i < 6; i++) c[i] = atoll(argv[3 + i]);
    if (argc == 10) conv_pad = atoll(argv[9]);
    print_conv(c, secs);
    return 0;
  }
  static const int64_t sizes[][4] = {{256, 256, 256, 0}, {512, 512, 512, 0}, {1024, 1024, 256, 0}, {512, 512, 512, 1}};
  double peak8 = 0, peak4 = print_peaks(&peak8);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && (!strstr(ferry_gemm_config(), "avx2") || !ferry_gemm_use_isa("generic"))) break;
    double pk = strstr(ferry_gemm_config(), "avx2") ? peak8 : peak4;
    printf("ferry sgemm, one thread, micro-kernel %s\n", ferry_gemm_config());
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
      const int64_t *s = sizes[i];
      double gf = bench_one(s[0], s[1], s[2], (int)s[3], secs);
      printf("  %4lld x %4lld x %4lld%s  %6.1f GFLOP/s  %3.0f%% of peak\n", (long long)s[0], (long long)s[1],
             (long long)s[2], s[3] ? " (B^T)" : "      ", gf, 100 * gf / pk);
    }
    bench_epi_rows();
  }
  ferry_gemm_use_isa("auto");
  printf("ferry Conv, one thread, batch 1, W constant (C -> M, H x W, k x k / stride, group); GFLOP/s count the\n"
         "direct convolution's multiply-adds, so Winograd layers can pass the peak\n");
  for (size_t i = 0; i < N_CONVS; i++) print_conv(convs[i], secs);
  return 0;
}
