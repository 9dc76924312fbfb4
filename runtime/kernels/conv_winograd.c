/*
 * conv_winograd.c - see conv_winograd.h: 3x3 stride-1 convolutions by
 * Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016).
 *
 * The output is cut into 2x2 tiles, each computed from the 4x4 input patch
 * it covers. With U = G g G^T (the 3x3 kernel g of one (m, c) pair, 4x4),
 * V = B^T d B (the patch d of channel c, 4x4) and
 *   Y_tile = A^T [ sum_c U(m, c) .* V(c) ] A,
 * the sum over channels of each of the 16 element positions xi is one
 * GEMM: M_xi [M, T] = U_xi [M, C] * V_xi [C, T] over the T tiles. So:
 *   1. weights: U_xi for every xi, packed as the GEMM's A operand; kept
 *      in the node's persist buffer when W is a constant (kctx const_in);
 *   2. input transform: V [16][C][T], parallel over channels;
 *   3. 16 products on ferry_sgemm_ws_pre (the GEMM of gemm.h, its
 *      micro-kernel and threads) into M [16][M][T];
 *   4. output transform: Y tiles from M, clipped at odd edges, then the
 *      epilogue (bias, activation) per output row; parallel over channels.
 * 16 multiply-adds per 2x2 outputs and channel pair instead of 36, for
 * transforms that cost O((C + M) * T). The transforms only add, subtract
 * and halve, so the error stays a few float32 roundings of the values'
 * magnitude (tests/check_kernels_perf.c bounds it).
 */
#include "conv_winograd.h"

#include <string.h>

#include "simd.h"

/* ---- transforms ---- */

/* u[16] = G g G^T, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void weight_tile(const float *g, float *u) {
  float t[4][3];
  for (int j = 0; j < 3; j++) {
    float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
    t[0][j] = g0, t[1][j] = 0.5f * (g0 + g1 + g2), t[2][j] = 0.5f * (g0 - g1 + g2), t[3][j] = g2;
  }
  for (int i = 0; i < 4; i++) {
    u[i * 4 + 0] = t[i][0];
    u[i * 4 + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    u[i * 4 + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    u[i * 4 + 3] = t[i][2];
  }
}

/* v[16] = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void input_tile(const float d[4][4], float *v) {
  float r[4][4];
  for (int j = 0; j < 4; j++) {
    r[0][j] = d[0][j] - d[2][j], r[1][j] = d[1][j] + d[2][j];
    r[2][j] = d[2][j] - d[1][j], r[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; i++) {
    v[i * 4 + 0] = r[i][0] - r[i][2], v[i * 4 + 1] = r[i][1] + r[i][2];
    v[i * 4 + 2] = r[i][2] - r[i][1], v[i * 4 + 3] = r[i][1] - r[i][3];
  }
}

/* y[2][2] = A^T m A, A^T = [1 1 1 0; 0 1 -1 -1]. */
static void output_tile(const float *m, float y[2][2]) {
  float s[2][4];
  for (int j = 0; j < 4; j++) s[0][j] = m[j] + m[4 + j] + m[8 + j], s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
  for (int i = 0; i < 2; i++) y[i][0] = s[i][0] + s[i][1] + s[i][2], y[i][1] = s[i][1] - s[i][2] - s[i][3];
}

/* The same transforms on f32x4: four neighbouring tiles of a row at once. */
typedef struct vtile {
  f32x4 e[16];
} vtile;

FERRY_VINLINE void input_tile4(const f32x4 d[4][4], vtile *v) {
  f32x4 r[4][4];
  for (int j = 0; j < 4; j++) {
    r[0][j] = d[0][j] - d[2][j], r[1][j] = d[1][j] + d[2][j];
    r[2][j] = d[2][j] - d[1][j], r[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; i++) {
    v->e[i * 4 + 0] = r[i][0] - r[i][2], v->e[i * 4 + 1] = r[i][1] + r[i][2];
    v->e[i * 4 + 2] = r[i][2] - r[i][1], v->e[i * 4 + 3] = r[i][1] - r[i][3];
  }
}

FERRY_VINLINE void output_tile4(const vtile *m, f32x4 y[2][2]) {
  f32x4 s[2][4];
  for (int j = 0; j < 4; j++)
    s[0][j] = m->e[j] + m->e[4 + j] + m->e[8 + j], s[1][j] = m->e[4 + j] - m->e[8 + j] - m->e[12 + j];
  for (int i = 0; i < 2; i++) y[i][0] = s[i][0] + s[i][1] + s[i][2], y[i][1] = s[i][1] - s[i][2] - s[i][3];
}

/* Columns j = 0..3 of four patches 2 apart: x[j], x[j + 2], x[j + 4],
 * x[j + 6] for each j, reading x[0 .. 10). */
FERRY_VINLINE void patch_row4(const float *x, f32x4 d[4]) {
  f32x4 a = f32x4_load(x), b = f32x4_load(x + 4), c = f32x4_load(x + 6);
  d[0] = __builtin_shufflevector(a, b, 0, 2, 4, 6);
  d[1] = __builtin_shufflevector(a, b, 1, 3, 5, 7);
  d[2] = __builtin_shufflevector(__builtin_shufflevector(a, b, 2, 4, 6, 7), c, 0, 1, 2, 6);
  d[3] = __builtin_shufflevector(__builtin_shufflevector(a, b, 3, 5, 7, 7), c, 0, 1, 2, 7);
}

/* ---- the steps ---- */

typedef struct wjob {
  const ferry_wino *g;
  int64_t TH, TW, T;  /* tiles per column, per row, in all */
  const float *x;     /* the current image */
  const float *w;
  float *u;           /* [16][M][C] raw transformed weights */
  float *v;           /* [16][C][T] */
  float *mb;          /* [16][M][T] */
  float *y;           /* the current image's output */
  const ferry_gemm_epi *e;
} wjob;

static void weights_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  int64_t MC = j->g->M * j->g->C;
  float u[16];
  for (int64_t mc = begin; mc < end; mc++) {
    weight_tile(j->w + mc * 9, u);
    for (int xi = 0; xi < 16; xi++) j->u[xi * MC + mc] = u[xi];
  }
}

/* The 4x4 patch of channel plane x at input (r0, c0), zero outside. */
static void patch(const ferry_wino *g, const float *x, int64_t r0, int64_t c0, float d[4][4]) {
  if (r0 >= 0 && c0 >= 0 && r0 + 4 <= g->H && c0 + 4 <= g->W) {
    for (int i = 0; i < 4; i++) memcpy(d[i], x + (r0 + i) * g->W + c0, 4 * sizeof(float));
    return;
  }
  for (int i = 0; i < 4; i++)
    for (int jj = 0; jj < 4; jj++) {
      int64_t r = r0 + i, c = c0 + jj;
      d[i][jj] = r >= 0 && r < g->H && c >= 0 && c < g->W ? x[r * g->W + c] : 0;
    }
}

static void input_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  const ferry_wino *g = j->g;
  int64_t CT = g->C * j->T;
  float d[4][4], v[16];
  for (int64_t c = begin; c < end; c++) {
    const float *x = j->x + c * g->H * g->W;
    float *vc = j->v + c * j->T;
    for (int64_t th = 0, t = 0; th < j->TH; th++) {
      int64_t r0 = 2 * th - g->ph, tw = 0;
      if (r0 >= 0 && r0 + 4 <= g->H) /* four tiles at a time where their patches are inside */
        for (; tw + 4 <= j->TW && 2 * tw - g->pw >= 0 && 2 * tw - g->pw + 10 <= g->W; tw += 4, t += 4) {
          f32x4 d4[4][4];
          vtile v4;
          for (int i = 0; i < 4; i++) patch_row4(x + (r0 + i) * g->W + 2 * tw - g->pw, d4[i]);
          input_tile4((const f32x4(*)[4])d4, &v4);
          for (int xi = 0; xi < 16; xi++) f32x4_store(vc + xi * CT + t, v4.e[xi]);
        }
      for (; tw < j->TW; tw++, t++) {
        patch(g, x, r0, 2 * tw - g->pw, d);
        input_tile(d, v);
        for (int xi = 0; xi < 16; xi++) vc[xi * CT + t] = v[xi];
      }
    }
  }
}

static void output_task(void *arg, int64_t begin, int64_t end) {
  const wjob *j = arg;
  const ferry_wino *g = j->g;
  int64_t MT = g->M * j->T;
  float m[16], y[2][2];
  for (int64_t mo = begin; mo < end; mo++) {
    const float *mm = j->mb + mo * j->T;
    float *ym = j->y + mo * g->OH * g->OW;
    for (int64_t th = 0, t = 0; th < j->TH; th++) {
      int64_t tw = 0;
      if (2 * th + 2 <= g->OH) /* four tiles at a time: 8 outputs of 2 rows */
        for (; tw + 4 <= j->TW && 2 * tw + 8 <= g->OW; tw += 4, t += 4) {
          vtile m4;
          f32x4 y4[2][2];
          for (int xi = 0; xi < 16; xi++) m4.e[xi] = f32x4_load(mm + xi * MT + t);
          output_tile4(&m4, y4);
          for (int i = 0; i < 2; i++) {
            float *yr = ym + (2 * th + i) * g->OW + 2 * tw;
            f32x4_store(yr, __builtin_shufflevector(y4[i][0], y4[i][1], 0, 4, 1, 5));
            f32x4_store(yr + 4, __builtin_shufflevector(y4[i][0], y4[i][1], 2, 6, 3, 7));
          }
        }
      for (; tw < j->TW; tw++, t++) {
        for (int xi = 0; xi < 16; xi++) m[xi] = mm[xi * MT + t];
        output_tile(m, y);
        for (int i = 0; i < 2 && 2 * th + i < g->OH; i++)
          for (int jj = 0; jj < 2 && 2 * tw + jj < g->OW; jj++) ym[(2 * th + i) * g->OW + 2 * tw + jj] = y[i][jj];
      }
      for (int64_t r = 2 * th; r < 2 * th + 2 && r < g->OH; r++) ferry_gemm_epi_row(j->e, mo, 0, g->OW, ym + r * g->OW);
    }
  }
}

/* ---- the driver ---- */

int ferry_wino_fits(const ferry_wino *g) {
  return g->C >= 16 && g->M >= 16 && g->OH >= 4 && g->OW >= 4 && g->OH * g->OW >= 64 && g->ph >= 0 && g->pw >= 0 &&
         g->ph <= 2 && g->pw <= 2;
}

/* Measured (bench/models.sh, resnet18): with the generic f32x4 GEMM
 * (wasm SIMD128) the 2.25x fewer multiply-adds win clearly; next to the
 * AVX2+FMA GEMM the scalar transforms and the extra passes over memory
 * cost more than they save, so x86-64 with AVX2 keeps the direct GEMM. */
int ferry_wino_applies(const ferry_wino *g) { return ferry_wino_fits(g) && !ferry_simd_avx2(); }

/* The 16 packed U_xi from the persist buffer (transformed and packed on
 * the first run), or NULL: then j->u holds them raw (per run). */
static const float *packed_weights(ferry_kctx *k, wjob *j, int w_const, size_t per) {
  int fresh = 0;
  float *pu = w_const && k->persist ? k->persist(k, 16 * per * sizeof(float), &fresh) : NULL;
  if (!pu || fresh) k->parallel(k, j->g->M * j->g->C, weights_task, j);
  for (int xi = 0; pu && fresh && xi < 16; xi++)
    ferry_sgemm_pack_a(j->g->M, j->g->C, (ferry_fmat){j->u + xi * j->g->M * j->g->C, j->g->C, 1}, pu + xi * per);
  return pu;
}

int ferry_conv_winograd(ferry_kctx *k, const ferry_wino *g, const float *X, const float *W, float *Y,
                        const ferry_gemm_epi *e, int w_const) {
  wjob j = {g, (g->OH + 1) / 2, (g->OW + 1) / 2, 0, NULL, W, NULL, NULL, NULL, NULL, e};
  j.T = j.TH * j.TW;
  size_t per = ferry_sgemm_pack_a_size(g->M, g->C);
  j.u = ferry_linalg_scratch(k, (size_t)(16 * g->M * g->C) * sizeof(float));
  j.v = j.u ? ferry_linalg_scratch(k, (size_t)(16 * g->C * j.T) * sizeof(float)) : NULL;
  j.mb = j.v ? ferry_linalg_scratch(k, (size_t)(16 * g->M * j.T) * sizeof(float)) : NULL;
  float *ws = j.mb ? ferry_linalg_scratch(k, ferry_sgemm_ws_size(g->M, j.T, g->C) * sizeof(float)) : NULL;
  if (!ws) return FERRY_E_SYSTEM;
  const float *pu = packed_weights(k, &j, w_const, per);
  ferry_gemm_epi plain;
  ferry_gemm_epi_init(&plain);
  for (int64_t n = 0; n < g->N; n++) {
    j.x = X + n * g->C * g->H * g->W;
    j.y = Y + n * g->M * g->OH * g->OW;
    k->parallel(k, g->C, input_task, &j);
    for (int xi = 0; xi < 16; xi++) {
      ferry_gemm_b B = {{j.v + xi * g->C * j.T, j.T, 1}, NULL, NULL};
      ferry_gemm_pre pre = {pu ? pu + xi * per : NULL, NULL};
      ferry_sgemm_ws_pre(k, g->M, j.T, g->C, (ferry_fmat){j.u + xi * g->M * g->C, g->C, 1}, &B,
                         j.mb + xi * g->M * j.T, j.T, &plain, ws, &pre);
    }
    k->parallel(k, g->M, output_task, &j);
  }
  return FERRY_OK;
}
