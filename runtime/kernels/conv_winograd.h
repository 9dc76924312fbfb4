/*
 * conv_winograd.h - 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) and
 * F(4x4, 3x3) (conv_winograd.c), for conv.c: each 2x2 (4x4) block of
 * outputs costs 16 (36) multiply-adds per channel pair instead of 36
 * (144), as 16 (36) GEMMs over blocks of tiles.
 */
#ifndef FERRY_KERNELS_CONV_WINOGRAD_H
#define FERRY_KERNELS_CONV_WINOGRAD_H

#include <stdint.h>

#include "gemm.h"

/* One batch of NCHW images: X [N, C, H, W], W [M, C, 3, 3], Y [N, M, OH, OW]
 * with pads (ph, pw) at the top and left (the bottom and right ones
 * follow from OH, OW). */
typedef struct ferry_wino {
  int64_t N, C, H, W, M, OH, OW, ph, pw;
} ferry_wino;

/* Whether the geometry suits Winograd (enough channels and tiles for its
 * 16 products; pads of at most 2). */
int ferry_wino_fits(const ferry_wino *g);
/* The output tile Conv uses for g with this build's GEMM (the generic
 * f32x4 one or AVX2+FMA, ferry_simd_avx2): 4 for F(4x4), 2 for F(2x2), 0
 * where the direct im2col GEMM is faster (measured, docs/kernels.md). */
int ferry_wino_tile(const ferry_wino *g);
/* Overrides ferry_wino_tile process-wide, for tests and benchmarks: 0
 * never (Conv runs im2col + GEMM), 2 or 4 that tile wherever Winograd
 * fits, -1 the measured choice again (the default). Returns 0 (and
 * changes nothing) for other values. Not thread-safe against running
 * convolutions. */
int ferry_wino_use(int tile);
/* ferry_wino_tile(g) != 0. */
int ferry_wino_applies(const ferry_wino *g);

/* Y = epi(conv(X, W)) with output tiles of tile x tile (4 or 2; g must
 * fit), the epilogue's bias per output channel (row m); w_const: W is the
 * same every run, its transform is kept in k->persist. FERRY_OK, or
 * FERRY_E_SYSTEM when scratch runs out (k->err set). */
int ferry_conv_winograd(ferry_kctx *k, const ferry_wino *g, const float *X, const float *W, float *Y,
                        const ferry_gemm_epi *e, int w_const, int tile);

#endif
