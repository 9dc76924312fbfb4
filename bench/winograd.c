/*
 * bench/winograd.c - milliseconds of Conv's kernel on the 3x3 stride-1
 * layers of resnet18, squeezenet1_1's expand3x3 and PaddleOCR det-like
 * planes, one thread, batch 1, W constant (packed or transformed once into
 * a persist buffer, as in a session), three ways side by side: im2col +
 * GEMM, Winograd F(2x2, 3x3) and F(4x4, 3x3) (ferry_wino_use forces each),
 * and which one Conv picks by itself (ferry_wino_tile). Each figure is the
 * best of repeated runs; on x86-64 the table is printed with the AVX2+FMA
 * GEMM and again with the generic f32x4 one (what wasm runs).
 *
 *   bench/winograd [seconds-per-figure]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchctx.h"
#include "kernel.h"
#include "kernels/conv_winograd.h"
#include "kernels/gemm.h"
#include "kernels/linalg.h"
#include "shape.h"

static float *random_floats(int64_t n) {
  float *p = malloc((size_t)n * sizeof *p);
  uint32_t s = 12345;
  for (int64_t i = 0; p && i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
  }
  if (!p) {
    fprintf(stderr, "bench/winograd: out of memory\n");
    exit(3);
  }
  return p;
}

static int conv_attr(void *node, const char *name, ferry_attrv *a) {
  static const int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {1, 1};
  (void)node;
  memset(a, 0, sizeof *a);
  if (!strcmp(name, "pads")) *a = (ferry_attrv){.type = 7, .n = 4, .ints = pads};
  else if (!strcmp(name, "strides")) *a = (ferry_attrv){.type = 7, .n = 2, .ints = strides};
  return a->type != 0;
}

/* Best milliseconds of a 3x3 pad-1 Conv C -> M on an H x W plane. */
static double bench_conv(int64_t C, int64_t M, int64_t H, int64_t W, double secs) {
  ferry_shape_ctx sc;
  memset(&sc, 0, sizeof sc);
  sc.attr = conv_attr;
  ferry_tview in[3], out[1];
  memset(in, 0, sizeof in);
  memset(out, 0, sizeof out);
  in[0] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {1, C, H, W}, .numel = C * H * W,
                        .data = random_floats(C * H * W)};
  in[1] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {M, C, 3, 3}, .numel = M * C * 9,
                        .data = random_floats(M * C * 9)};
  in[2] = (ferry_tview){.dtype = FERRY_F32, .rank = 1, .dims = {M}, .numel = M, .data = random_floats(M)};
  out[0] = (ferry_tview){.dtype = FERRY_F32, .rank = 4, .dims = {1, M, H, W}, .numel = M * H * W,
                         .data = random_floats(M * H * W)};
  bench_ctx b;
  bench_init(&b, 1); /* W and B are weights */
  b.k.sctx = &sc;
  b.k.n_in = 3, b.k.n_out = 1, b.k.in = in, b.k.out = out, b.k.opset = 11;
  double best = 1e30, start = now();
  for (int runs = 0; runs < 4 || now() - start < secs; runs++) {
    double t0 = now();
    if (ferry_kernel_Conv(&b.k)) {
      fprintf(stderr, "bench/winograd: conv failed: %s\n", b.k.err);
      exit(3);
    }
    double t = now() - t0;
    bench_release(&b);
    if (runs && t < best) best = t; /* run 0 packs or transforms W */
  }
  for (int i = 0; i < 3; i++) free(in[i].data);
  free(out[0].data), free(b.keep);
  return best * 1e3;
}

static void table(double secs) {
  static const int64_t layers[][4] = {
      {64, 64, 56, 56},   {128, 128, 28, 28}, {256, 256, 14, 14}, {512, 512, 7, 7}, /* resnet18 */
      {16, 64, 55, 55},   {32, 128, 27, 27},  {48, 192, 13, 13},  {64, 256, 13, 13}, /* squeezenet1_1 */
      {24, 24, 160, 160}, {96, 96, 40, 40},   {64, 64, 20, 20}};                     /* det-like */
  printf("Conv 3x3/1, one thread, GEMM %s (ms, best of runs)\n", ferry_gemm_config());
  printf("  C -> M    plane     im2col      F(2x2)    F(4x4)    picked\n");
  for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
    const int64_t *l = layers[i];
    double t[3];
    static const int tiles[3] = {0, 2, 4};
    for (int v = 0; v < 3; v++) {
      ferry_wino_use(tiles[v]);
      t[v] = bench_conv(l[0], l[1], l[2], l[3], secs);
    }
    ferry_wino_use(-1);
    ferry_wino g = {1, l[0], l[2], l[3], l[1], l[2], l[3], 1, 1};
    int pick = ferry_wino_tile(&g);
    printf("  %3lld -> %3lld  %3lldx%-3lld  %8.3f  %8.3f  %8.3f    %s\n", (long long)l[0], (long long)l[1],
           (long long)l[2], (long long)l[3], t[0], t[1], t[2], pick == 4 ? "F(4x4)" : pick == 2 ? "F(2x2)" : "im2col");
  }
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 0.5;
  table(secs);
  if (strstr(ferry_gemm_config(), "avx2") && ferry_gemm_use_isa("generic")) table(secs);
  ferry_gemm_use_isa("auto");
  return 0;
}
