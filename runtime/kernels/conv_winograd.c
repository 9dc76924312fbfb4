/*
 * conv_winograd.c - see conv_winograd.h: 3x3 stride-1 convolutions by
 * Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray,
 * 2016).
 *
 * The output is cut into m x m tiles (m = 2 or 4), each computed from the
 * a x a input patch it covers (a = m + 2). With U = G g G^T (the 3x3
 * kernel g of one (out, in) channel pair, a x a), V = B^T d B (the patch d
 * of one input channel) and
 *   Y_tile = A^T [ sum_c U(o, c) .* V(c) ] A,
 * the sum over channels at each of the a*a element positions xi is one
 * GEMM: M_xi [M, tiles] = U_xi [M, C] * V_xi [C, tiles]. So:
 *   1. weights: U_xi for every xi, packed as the GEMM's A operand
 *      (ferry_sgemm_pack_a); kept in the node's persist buffer when W is a
 *      constant (kctx const_in), else built in scratch each run;
 *   2. the tiles of each image are cut into blocks of TB tiles (a multiple
 *      of the GEMM's panel width), small enough that a block's transformed
 *      input and products stay in L2; blocks run in parallel slots, each
 *      with its own buffers;
 *   3. per block: the input transform writes V_xi straight in the packed-B
 *      panel layout (gemm.h's ferry_gemm_packb_fn layout), four tiles per
 *      f32x4, from the block's input rows copied into a zero-padded strip
 *      (no edge cases in the gathers); the a*a products run on
 *      ferry_sgemm_serial_pre with both operands prepacked; the output
 *      transform reads them back and writes the m x m tiles (clipped at
 *      odd edges), the epilogue folded into them in registers (bias and
 *      Relu, Clip or HardSigmoid: wepi_for) or, for other activations,
 *      run on the block's output rows while they are in cache.
 * Multiply-adds per output and channel pair: 9 direct, 4 with F(2x2)
 * (16 per 4 outputs), 2.25 with F(4x4) (36 per 16). F(2x2)'s transforms
 * only add, subtract and halve; F(4x4)'s coefficients (up to 8 and 1/24)
 * lose a few more bits, still far inside float32 model tolerances
 * (tests/check_kernels_perf.c bounds both against a double reference).
 * ferry_wino_tile() picks the variant per geometry and instruction set
 * from measurements (bench/winograd, docs/kernels.md). The transforms
 * themselves are written once (conv_winograd_tf.h) and built for f32x4
 * and, on x86-64, for f32x8 in AVX2 functions taken with the AVX2 GEMM:
 * eight tiles a vector, no FMA, so the same results lane for lane.
 */
#include "conv_winograd.h"

#include <math.h>
#include <string.h>

#include "simd.h"

/* ---- the transforms (conv_winograd_tf.h): lane l is the l-th of four
 * tiles in f32x4, of eight in the f32x8 copy the AVX2 build adds ---- */

typedef f32x4 v4;

/* An output channel's epilogue folded into y = clamp(y * sc + sh, lo, hi)
 * (bias: add sh), where wepi_for says it folds. */
typedef struct wepi {
  float sc, sh, lo, hi;
  int bias;
} wepi;

#define WT_V v4
#define WT_ATTR
#define WT_FN(name) name
#include "conv_winograd_tf.h"
#undef WT_V
#undef WT_ATTR
#undef WT_FN

/* u[a*a] = G g G^T in double; G rows for F(2x2): [1 0 0; .5 .5 .5;
 * .5 -.5 .5; 0 0 1], for F(4x4): [1/4 0 0; -1/6 -1/6 -1/6;
 * -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]. */
static void weight_tile(int a, const float *g, float *u) {
  static const double G2[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
  static const double G4[6][3] = {{1. / 4, 0, 0},           {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                  {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
  const double(*G)[3] = a == 4 ? G2 : G4;
  double t[6][3];
  for (int i = 0; i < a; i++)
    for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
  for (int i = 0; i < a; i++)
    for (int j = 0; j < a; j++) u[i * a + j] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

/* ---- the plan ---- */

typedef struct wjob {
  const ferry_wino *g;
  int a, m, nxi;         /* patch and tile size, a*a products */
  int64_t TH, TW, T;     /* tiles per column, per row, per image */
  int64_t TB, nblk;      /* tiles per block (a multiple of the panel width), blocks per image */
  int64_t vs, ps;        /* floats from V_xi to V_xi+1, from P_xi to P_xi+1 */
  int64_t n_slots;       /* parallel slots, each with its own buffers */
  const float *x, *w;
  float *y;
  float *u;              /* [nxi][M][C] raw transformed weights (scratch) */
  const float *pu;       /* nxi packed U_xi, per_u floats apart */
  size_t per_u;
  float *slots;          /* per slot: V [nxi][C][TB], P [nxi][M][TB], GEMM work, padded input rows */
  size_t v_n, p_n, work_n, pad_n, slot_n;
  const ferry_gemm_epi *e;
} wjob;

#define PANEL FERRY_GEMM_NR

/* ---- input: patches of four tiles into V's packed panels ---- */

/* Columns j = 0..5 of the 6-wide patches of four tiles 4 apart: x[j],
 * x[j + 4], x[j + 8], x[j + 12] for each j, reading x[0 .. 18). */
FERRY_VINLINE void patch_row6(const float *x, v4 *d) {
  v4 a = f32x4_load(x), b = f32x4_load(x + 4), c = f32x4_load(x + 8), e = f32x4_load(x + 12),
     f = f32x4_load(x + 14);
  v4 t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5), t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
  v4 t2 = __builtin_shufflevector(c, e, 0, 4, 1, 5), t3 = __builtin_shufflevector(c, e, 2, 6, 3, 7);
  d[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), d[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  d[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), d[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
  d[4] = __builtin_shufflevector(d[0], f, 1, 2, 3, 6), d[5] = __builtin_shufflevector(d[1], f, 1, 2, 3, 7);
}

/* Columns j = 0..3 of the 4-wide patches of four tiles 2 apart, reading
 * x[0 .. 10). */
FERRY_VINLINE void patch_row4(const float *x, v4 *d) {
  v4 a = f32x4_load(x), b = f32x4_load(x + 4), c = f32x4_load(x + 6);
  d[0] = __builtin_shufflevector(a, b, 0, 2, 4, 6);
  d[1] = __builtin_shufflevector(a, b, 1, 3, 5, 7);
  d[2] = __builtin_shufflevector(__builtin_shufflevector(a, b, 2, 4, 6, 7), c, 0, 1, 2, 6);
  d[3] = __builtin_shufflevector(__builtin_shufflevector(a, b, 3, 5, 7, 7), c, 0, 1, 2, 7);
}

/* The block's input rows of one channel plane x, zero-padded: row r of
 * pad is input row r0 + r, column c input column c - pw; rows x cols. */
FERRY_AVX_HELPER void fill_pad(const wjob *j, const float *x, int64_t r0, int64_t rows, int64_t cols, float *pad) {
  const ferry_wino *g = j->g;
  int64_t lo = g->pw, hi = cols < g->W + g->pw ? cols : g->W + g->pw; /* pad columns with input */
  for (int64_t r = 0; r < rows; r++, pad += cols) {
    int64_t ir = r0 + r;
    if (ir < 0 || ir >= g->H || hi <= lo) {
      f32_zero(pad, cols);
      continue;
    }
    f32_zero(pad, lo);
    f32_copy(pad + lo, x + ir * g->W, hi - lo);
    if (cols > hi) f32_zero(pad + hi, cols - hi);
  }
}

/* The a x a patches of tiles t .. t+3 (past T: the last tile again) from
 * the padded rows of tile row th0 on: d[i*a + jj], lane l tile t + l. */
FERRY_VINLINE void gather_patches(const wjob *j, const float *pad, int64_t cols, int64_t th0, int64_t t, v4 *d,
                                  const int a) {
  const int m = a - 2;
  int64_t th = t / j->TW, tw = t % j->TW;
  if (tw + 4 <= j->TW) { /* one tile row: m apart */
    const float *p = pad + (th - th0) * m * cols + tw * m;
    for (int i = 0; i < a; i++) a == 4 ? patch_row4(p + i * cols, d + i * 4) : patch_row6(p + i * cols, d + i * 6);
    return;
  }
  const float *p[4];
  for (int l = 0; l < 4; l++) {
    int64_t tl = t + l < j->T ? t + l : j->T - 1;
    p[l] = pad + (tl / j->TW - th0) * m * cols + tl % j->TW * m;
  }
  for (int i = 0; i < a; i++) {
    v4 lo[4], hi[4];
    for (int l = 0; l < 4; l++) lo[l] = f32x4_load(p[l] + i * cols);
    f32x4_transpose(lo);
    for (int jj = 0; jj < 4; jj++) d[i * a + jj] = lo[jj];
    if (a == 6) {
      for (int l = 0; l < 4; l++) hi[l] = f32x4_load(p[l] + i * cols + 2);
      f32x4_transpose(hi);
      d[i * a + 4] = hi[2], d[i * a + 5] = hi[3];
    }
  }
}

/* V of tiles [t0, t0 + nt) of image x into v: V_xi at v + xi * vs,
 * its panel q at q * C * PANEL, element (c, tile) at c * PANEL + tile. */
FERRY_VINLINE void input_block_a(const wjob *j, const float *x, int64_t t0, int64_t nt, float *v, float *pad,
                                 const int a) {
  const ferry_wino *g = j->g;
  const int m = a - 2;
  int64_t xs = j->vs, plane = g->H * g->W, tlast = (t0 + nt < j->T ? t0 + nt : j->T) - 1;
  int64_t th0 = t0 / j->TW, rows = (tlast / j->TW - th0) * m + a, cols = (j->TW - 1) * m + a;
  v4 d[36], vt[36];
  for (int64_t c = 0; c < g->C; c++) {
    fill_pad(j, x + c * plane, th0 * m - g->ph, rows, cols, pad);
    for (int64_t tb = 0; tb < nt; tb += 4) {
      gather_patches(j, pad, cols, th0, t0 + tb, d, a);
      input_tiles(a, d, vt);
      float *o = v + (tb / PANEL) * g->C * PANEL + c * PANEL + tb % PANEL;
      for (int xi = 0; xi < a * a; xi++) f32x4_store(o + xi * xs, vt[xi]);
    }
  }
}

/* The transforms in AVX2 on x86-64 builds without -mavx2 (f32x8, eight
 * tiles a vector; no FMA, so the results are the same bits), picked with
 * the GEMM's micro-kernel. */
#if defined(__x86_64__) && !defined(__AVX2__)
#define WINO_AVX2 1
#define AVX2_ATTR __attribute__((target("avx2")))
#else
#define WINO_AVX2 0
#endif

static void input_block_generic(const wjob *j, const float *x, int64_t t0, int64_t nt, float *v, float *pad) {
  if (j->a == 4) input_block_a(j, x, t0, nt, v, pad, 4);
  else input_block_a(j, x, t0, nt, v, pad, 6);
}

#if WINO_AVX2
/* The f32x8 copy: eight tiles a vector, each half gathered as in f32x4. */
typedef float v8 __attribute__((vector_size(32)));

#define WT_V v8
#define WT_ATTR AVX2_ATTR
#define WT_FN(name) name##8
#include "conv_winograd_tf.h"
#undef WT_V
#undef WT_ATTR
#undef WT_FN

AVX2_ATTR FERRY_VINLINE v8 v8_load(const float *p) {
  v8 r;
  memcpy(&r, p, sizeof r);
  return r;
}

AVX2_ATTR FERRY_VINLINE void v8_store(float *p, v8 v) { memcpy(p, &v, sizeof v); }

AVX2_ATTR FERRY_VINLINE v8 v8_cat(v4 lo, v4 hi) { return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7); }

AVX2_ATTR FERRY_VINLINE v4 v8_half(v8 v, const int h) {
  return h ? __builtin_shufflevector(v, v, 4, 5, 6, 7) : __builtin_shufflevector(v, v, 0, 1, 2, 3);
}

/* input_block_a, eight tiles at a time: nt is whole panels (a multiple of
 * PANEL, 16 here), so each group fills half a panel's row. */
AVX2_ATTR FERRY_VINLINE void input_block8_a(const wjob *j, const float *x, int64_t t0, int64_t nt, float *v,
                                            float *pad, const int a) {
  const ferry_wino *g = j->g;
  const int m = a - 2;
  int64_t xs = j->vs, plane = g->H * g->W, tlast = (t0 + nt < j->T ? t0 + nt : j->T) - 1;
  int64_t th0 = t0 / j->TW, rows = (tlast / j->TW - th0) * m + a, cols = (j->TW - 1) * m + a;
  v4 lo[36], hi[36];
  v8 d[36], vt[36];
  for (int64_t c = 0; c < g->C; c++) {
    fill_pad(j, x + c * plane, th0 * m - g->ph, rows, cols, pad);
    for (int64_t tb = 0; tb < nt; tb += 8) {
      gather_patches(j, pad, cols, th0, t0 + tb, lo, a);
      gather_patches(j, pad, cols, th0, t0 + tb + 4, hi, a);
      for (int k = 0; k < a * a; k++) d[k] = v8_cat(lo[k], hi[k]);
      input_tiles8(a, d, vt);
      float *o = v + (tb / PANEL) * g->C * PANEL + c * PANEL + tb % PANEL;
      for (int xi = 0; xi < a * a; xi++) v8_store(o + xi * xs, vt[xi]);
    }
  }
}

AVX2_ATTR static void input_block_avx2(const wjob *j, const float *x, int64_t t0, int64_t nt, float *v, float *pad) {
  if (j->a == 4) input_block8_a(j, x, t0, nt, v, pad, 4);
  else input_block8_a(j, x, t0, nt, v, pad, 6);
}
#endif

static void input_block(const wjob *j, const float *x, int64_t t0, int64_t nt, float *v, float *pad) {
#if WINO_AVX2
  if (ferry_simd_avx2()) return input_block_avx2(j, x, t0, nt, v, pad);
#endif
  input_block_generic(j, x, t0, nt, v, pad);
}

/* ---- output: products back to tiles, then the epilogue ---- */

/* Output channel o's epilogue as a wepi: 1 where it folds (a bias per
 * channel or none; no activation, Relu, Clip or HardSigmoid), so the
 * output transform applies it to the tiles before they are written; 0
 * where epilogue_block runs it on the written rows. */
FERRY_AVX_HELPER int wepi_for(const ferry_gemm_epi *e, int64_t o, wepi *w) {
  if (e->bias && e->bias_cs) return 0;
  *w = (wepi){e->alpha, e->bias ? e->beta * e->bias[o * e->bias_rs] : 0, -INFINITY, INFINITY, e->bias != NULL};
  switch (e->act.kind) {
  case FERRY_ACT_NONE: return 1;
  case FERRY_ACT_RELU: w->lo = 0; return 1;
  case FERRY_ACT_CLIP: w->lo = e->act.a, w->hi = e->act.b; return 1;
  case FERRY_ACT_HARDSIGMOID: /* alpha * (sc x + sh) + beta */
    w->sc *= e->act.a, w->sh = w->sh * e->act.a + e->act.b, w->lo = 0, w->hi = 1, w->bias = 1;
    return 1;
  default: return 0;
  }
}

/* Writes the m x m tiles y (lane l: tile t + l) of output plane ym. */
FERRY_VINLINE void scatter_tiles(const wjob *j, float *ym, int64_t t, v4 *y, const int m) {
  const ferry_wino *g = j->g;
  int64_t th = t / j->TW, tw = t % j->TW, r0 = th * m, c0 = tw * m;
  if (tw + 4 <= j->TW && r0 + m <= g->OH && c0 + 4 * m <= g->OW) {
    for (int i = 0; i < m; i++) {
      float *yr = ym + (r0 + i) * g->OW + c0;
      if (m == 4) {
        f32x4_transpose(y + i * 4);
        for (int l = 0; l < 4; l++) f32x4_store(yr + 4 * l, y[i * 4 + l]);
      } else {
        f32x4_store(yr, __builtin_shufflevector(y[i * 2], y[i * 2 + 1], 0, 4, 1, 5));
        f32x4_store(yr + 4, __builtin_shufflevector(y[i * 2], y[i * 2 + 1], 2, 6, 3, 7));
      }
    }
    return;
  }
  if (m == 4) /* y[i*4 + l]: row i of tile t + l */
    for (int i = 0; i < 4; i++) f32x4_transpose(y + i * 4);
  for (int l = 0; l < 4 && t + l < j->T; l++) {
    th = (t + l) / j->TW, tw = (t + l) % j->TW, r0 = th * m, c0 = tw * m;
    for (int i = 0; i < m && r0 + i < g->OH; i++) {
      float *yr = ym + (r0 + i) * g->OW + c0;
      if (m == 4 && c0 + 4 <= g->OW) f32x4_store(yr, y[i * 4 + l]);
      else
        for (int jj = 0; jj < m && c0 + jj < g->OW; jj++) yr[jj] = m == 4 ? y[i * 4 + l][jj] : y[i * 2 + jj][l];
    }
  }
}

/* The epilogue on the output rows tiles [t0, t0 + nt) cover in plane o. */
static void epilogue_block(const wjob *j, int64_t o, float *yo, int64_t t0, int64_t nt) {
  const ferry_wino *g = j->g;
  for (int64_t t = t0; t < t0 + nt;) {
    int64_t th = t / j->TW, tw = t % j->TW, n = j->TW - tw < t0 + nt - t ? j->TW - tw : t0 + nt - t;
    int64_t c0 = tw * j->m, c1 = (tw + n) * j->m < g->OW ? (tw + n) * j->m : g->OW;
    for (int64_t r = th * j->m; r < (th + 1) * j->m && r < g->OH; r++)
      ferry_gemm_epi_row(j->e, o, c0, c1 - c0, yo + r * g->OW + c0);
    t += n;
  }
}

/* Output channel o's tiles t0 + tb .. + 3 from the products p (P_xi at p
 * + xi * ps, element (o, tile) at o * TB + tile) into its plane ym, with
 * the folded epilogue w where fold. */
FERRY_VINLINE void output_group(const wjob *j, const float *p, int64_t o, int64_t t0, int64_t tb, float *ym,
                                const wepi *w, int fold, const int a) {
  v4 mm[36], yt[16];
  const float *s = p + o * j->TB + tb;
  for (int xi = 0; xi < a * a; xi++) mm[xi] = f32x4_load(s + xi * j->ps);
  output_tiles(a, mm, yt);
  if (fold) epi_tiles(w, yt, (a - 2) * (a - 2));
  scatter_tiles(j, ym, t0 + tb, yt, a - 2);
}

/* Y of tiles [t0, t0 + nt) from the products p. */
FERRY_VINLINE void output_block_a(const wjob *j, const float *p, int64_t t0, int64_t nt, float *y, const int a) {
  const ferry_wino *g = j->g;
  int64_t plane = g->OH * g->OW;
  wepi w = {0}; /* set where wepi_for folds (GCC cannot tell once it inlines) */
  for (int64_t o = 0; o < g->M; o++) {
    int fold = wepi_for(j->e, o, &w);
    for (int64_t tb = 0; tb < nt; tb += 4) output_group(j, p, o, t0, tb, y + o * plane, &w, fold, a);
    if (!fold) epilogue_block(j, o, y + o * plane, t0, nt);
  }
}

static void output_block_generic(const wjob *j, const float *p, int64_t t0, int64_t nt, float *y) {
  if (j->a == 4) output_block_a(j, p, t0, nt, y, 4);
  else output_block_a(j, p, t0, nt, y, 6);
}

#if WINO_AVX2
/* Writes the m x m tiles y of eight tiles t.. (lane l: tile t + l): where
 * all eight lie in one tile row inside the plane, each output row is four
 * (m 4) or two (m 2) whole vectors, shuffled in-lane as f32x4_transpose
 * does, then halves paired; else as two groups of four. */
AVX2_ATTR FERRY_VINLINE void scatter_tiles8(const wjob *j, float *ym, int64_t t, v8 *y, const int m) {
  const ferry_wino *g = j->g;
  int64_t th = t / j->TW, tw = t % j->TW, r0 = th * m, c0 = tw * m;
  if (tw + 8 <= j->TW && r0 + m <= g->OH && c0 + 8 * m <= g->OW) {
    for (int i = 0; i < m; i++) {
      float *yr = ym + (r0 + i) * g->OW + c0;
      if (m == 4) { /* R_l: row i of tile l (low half), of tile l + 4 (high half) */
        v8 *r = y + i * 4;
        v8 t0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
        v8 t1 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
        v8 t2 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
        v8 t3 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
        v8 r0v = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
        v8 r1v = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
        v8 r2v = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
        v8 r3v = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
        v8_store(yr, __builtin_shufflevector(r0v, r1v, 0, 1, 2, 3, 8, 9, 10, 11));
        v8_store(yr + 8, __builtin_shufflevector(r2v, r3v, 0, 1, 2, 3, 8, 9, 10, 11));
        v8_store(yr + 16, __builtin_shufflevector(r0v, r1v, 4, 5, 6, 7, 12, 13, 14, 15));
        v8_store(yr + 24, __builtin_shufflevector(r2v, r3v, 4, 5, 6, 7, 12, 13, 14, 15));
      } else { /* tiles 0, 1 | 4, 5 and 2, 3 | 6, 7, each tile's two columns together */
        v8 a = __builtin_shufflevector(y[i * 2], y[i * 2 + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        v8 b = __builtin_shufflevector(y[i * 2], y[i * 2 + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        v8_store(yr, __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11));
        v8_store(yr + 8, __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15));
      }
    }
    return;
  }
  v4 lo[16], hi[16];
  for (int k = 0; k < m * m; k++) lo[k] = v8_half(y[k], 0), hi[k] = v8_half(y[k], 1);
  scatter_tiles(j, ym, t, lo, m);
  if (t + 4 < j->T) scatter_tiles(j, ym, t + 4, hi, m);
}

/* output_block_a, eight tiles at a time, the last up to seven as there. */
AVX2_ATTR FERRY_VINLINE void output_block8_a(const wjob *j, const float *p, int64_t t0, int64_t nt, float *y,
                                             const int a) {
  const ferry_wino *g = j->g;
  int64_t xs = j->ps, plane = g->OH * g->OW;
  v8 mm[36], yt[16];
  wepi w = {0}; /* set where wepi_for folds (GCC cannot tell once it inlines) */
  for (int64_t o = 0; o < g->M; o++) {
    int fold = wepi_for(j->e, o, &w);
    int64_t tb = 0;
    for (; tb + 8 <= nt; tb += 8) {
      const float *s = p + o * j->TB + tb;
      for (int xi = 0; xi < a * a; xi++) mm[xi] = v8_load(s + xi * xs);
      output_tiles8(a, mm, yt);
      if (fold) epi_tiles8(&w, yt, (a - 2) * (a - 2));
      scatter_tiles8(j, y + o * plane, t0 + tb, yt, a - 2);
    }
    for (; tb < nt; tb += 4) output_group(j, p, o, t0, tb, y + o * plane, &w, fold, a);
    if (!fold) epilogue_block(j, o, y + o * plane, t0, nt);
  }
}

AVX2_ATTR static void output_block_avx2(const wjob *j, const float *p, int64_t t0, int64_t nt, float *y) {
  if (j->a == 4) output_block8_a(j, p, t0, nt, y, 4);
  else output_block8_a(j, p, t0, nt, y, 6);
}
#endif

static void output_block(const wjob *j, const float *p, int64_t t0, int64_t nt, float *y) {
#if WINO_AVX2
  if (ferry_simd_avx2()) return output_block_avx2(j, p, t0, nt, y);
#endif
  output_block_generic(j, p, t0, nt, y);
}

/* ---- the steps ---- */

static void weights_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  int64_t MC = j->g->M * j->g->C;
  float u[36];
  for (int64_t mc = begin; mc < end; mc++) {
    weight_tile(j->a, j->w + mc * 9, u);
    for (int xi = 0; xi < j->nxi; xi++) j->u[xi * MC + mc] = u[xi];
  }
}

static void pack_u_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  const ferry_wino *g = j->g;
  for (int64_t xi = begin; xi < end; xi++)
    ferry_sgemm_pack_a(g->M, g->C, (ferry_fmat){j->u + xi * g->M * g->C, g->C, 1},
                       (float *)(uintptr_t)j->pu + xi * j->per_u);
}

/* One block: transform in, nxi products, transform out. */
static void run_block(const wjob *j, int64_t blk, float *slot) {
  const ferry_wino *g = j->g;
  int64_t n = blk / j->nblk, t0 = blk % j->nblk * j->TB, nt = j->T - t0 < j->TB ? j->T - t0 : j->TB;
  int64_t ncols = (nt + PANEL - 1) / PANEL * PANEL; /* whole panels: tiles past T are zero */
  float *v = slot, *p = slot + j->v_n, *work = p + j->p_n, *pad = work + j->work_n;
  input_block(j, j->x + n * g->C * g->H * g->W, t0, ncols, v, pad);
  ferry_gemm_epi plain;
  ferry_gemm_epi_init(&plain);
  for (int xi = 0; xi < j->nxi; xi++) {
    /* B is only described: both operands come prepacked */
    ferry_gemm_b B = {{v + xi * j->vs, 0, 0}, NULL, NULL};
    ferry_gemm_pre pre = {j->pu + xi * j->per_u, v + xi * j->vs, 0, 0};
    ferry_sgemm_serial_pre(g->M, ncols, g->C, (ferry_fmat){NULL, 0, 0}, &B, p + xi * j->ps, j->TB, &plain,
                           work, &pre);
  }
  output_block(j, p, t0, nt, j->y + n * g->M * g->OH * g->OW);
}

static void slot_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  int64_t total = j->g->N * j->nblk;
  for (int64_t s = begin; s < end; s++)
    for (int64_t b = s * total / j->n_slots; b < (s + 1) * total / j->n_slots; b++)
      run_block(j, b, j->slots + (size_t)s * j->slot_n);
}

/* ---- the driver ---- */

int ferry_wino_fits(const ferry_wino *g) {
  return g->C >= 16 && g->M >= 16 && g->OH >= 4 && g->OW >= 4 && g->OH * g->OW >= 49 && g->ph >= 0 && g->pw >= 0 &&
         g->ph <= 2 && g->pw <= 2;
}

/* Measured per layer (bench/winograd, docs/kernels.md): F(4x4) wins on
 * planes from 8x8 with both GEMMs (resnet18's 64@56x56 2.5x faster than
 * im2col next to AVX2+FMA, 3x with the generic f32x4 one); on 7x7 planes
 * its 2x2 tiles of 6x6 patches waste too much and F(2x2) wins, next to
 * AVX2 only with 128 channels or more. The generic build (wasm's) takes
 * F(4x4) from 8x8 too and F(2x2) below: in V8 F(4x4) runs squeezenet's
 * and resnet18's layers 1.3-1.6x faster than F(2x2) (bench/winograd built
 * for wasm), whole models in 0.82-0.88x the time (bench/wasm-ab.mjs). */
static int forced = -1; /* ferry_wino_use(); tests and benchmarks only */

int ferry_wino_use(int tile) {
  if (tile != -1 && tile != 0 && tile != 2 && tile != 4) return 0;
  forced = tile;
  return 1;
}

int ferry_wino_tile(const ferry_wino *g) {
  if (!ferry_wino_fits(g)) return 0;
  if (forced >= 0) return forced;
  int big = g->OH >= 8 && g->OW >= 8;
  if (!ferry_simd_avx2()) return big ? 4 : 2;
  return big ? 4 : g->C >= 128 && g->M >= 128 ? 2 : 0;
}

int ferry_wino_applies(const ferry_wino *g) { return ferry_wino_tile(g) != 0; }

#ifndef BLOCK_BYTES
#define BLOCK_BYTES (384 * 1024) /* a block's V and P together */
#endif
#define MAX_TB 256
#define MAX_SLOTS 16

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Block size and slots: blocks fill about BLOCK_BYTES, and there are
 * enough of them to keep the threads busy. */
static void plan_blocks(wjob *j) {
  const ferry_wino *g = j->g;
  int64_t per_tile = (int64_t)j->nxi * (g->C + g->M) * (int64_t)sizeof(float);
  int64_t tb = BLOCK_BYTES / per_tile / PANEL * PANEL;
  tb = tb < PANEL ? PANEL : tb > MAX_TB ? MAX_TB : tb;
  int64_t want = (j->T + 3) / 4; /* four blocks per image where the tiles allow */
  want = (want + PANEL - 1) / PANEL * PANEL;
  if (g->N < 4 && want < tb) tb = want < PANEL ? PANEL : want;
  j->TB = tb;
  j->nblk = (j->T + tb - 1) / tb;
  j->n_slots = min64(g->N * j->nblk, MAX_SLOTS);
  j->vs = g->C * tb + 16, j->ps = g->M * tb + 16; /* a cache line more: the nxi streams in other L1 sets */
  j->v_n = (size_t)(j->nxi * j->vs);
  j->p_n = (size_t)(j->nxi * j->ps);
  j->work_n = (ferry_sgemm_work(g->M, tb, g->C) + 15) / 16 * 16;
  j->pad_n = (size_t)((((tb - 1) / j->TW + 1) * j->m + j->a) * ((j->TW - 1) * j->m + j->a) + 16) / 16 * 16;
  j->slot_n = j->v_n + j->p_n + j->work_n + j->pad_n;
}

/* The packed U_xi: from the persist buffer (transformed and packed on the
 * first run) or, for a W that changes, built in scratch now. */
static int packed_weights(ferry_kctx *k, wjob *j, int w_const) {
  const ferry_wino *g = j->g;
  size_t bytes = (size_t)j->nxi * j->per_u * sizeof(float);
  int fresh = 1;
  float *pu = w_const && k->persist ? k->persist(k, bytes, &fresh) : NULL;
  if (!pu && !(pu = ferry_linalg_scratch(k, bytes))) return FERRY_E_SYSTEM;
  j->pu = pu;
  if (!fresh) return FERRY_OK;
  if (!(j->u = ferry_linalg_scratch(k, (size_t)(j->nxi * g->M * g->C) * sizeof(float)))) return FERRY_E_SYSTEM;
  k->parallel(k, g->M * g->C, weights_task, j);
  k->parallel(k, j->nxi, pack_u_task, j);
  return FERRY_OK;
}

int ferry_conv_winograd(ferry_kctx *k, const ferry_wino *g, const float *X, const float *W, float *Y,
                        const ferry_gemm_epi *e, int w_const, int tile) {
  wjob j;
  memset(&j, 0, sizeof j);
  j.g = g, j.x = X, j.w = W, j.y = Y, j.e = e;
  j.m = tile == 4 ? 4 : 2, j.a = j.m + 2, j.nxi = j.a * j.a;
  j.TH = (g->OH + j.m - 1) / j.m, j.TW = (g->OW + j.m - 1) / j.m, j.T = j.TH * j.TW;
  j.per_u = ferry_sgemm_pack_a_size(g->M, g->C);
  plan_blocks(&j);
  int rc = packed_weights(k, &j, w_const);
  if (rc) return rc;
  if (!(j.slots = ferry_linalg_scratch(k, j.slot_n * (size_t)j.n_slots * sizeof(float)))) return FERRY_E_SYSTEM;
  k->parallel(k, j.n_slots, slot_task, &j);
  return FERRY_OK;
}
