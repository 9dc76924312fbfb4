/*
 * rnn.c - the recurrent kernels: LSTM, GRU and RNN (contract: ../kernel.h).
 *
 * How the parts fit:
 *   - rnn_setup() reads what the three ops share: direction, layout,
 *     hidden_size, clip, activations (with activation_alpha/beta),
 *     sequence_lens, initial states, and checks every input's shape. Data
 *     that is not float32 (float16, bfloat16, double) is converted to
 *     float32 work buffers: the kernels compute in float32 and convert the
 *     outputs back at the end;
 *   - gemm_nt() is the one matrix kernel: C = A * B^T with f32x4 vectors.
 *     B's rows are rows of W or R as ONNX stores them, so nothing is
 *     transposed. A direction first projects the whole input sequence
 *     through W at once (rnn_project: X * W^T + biases, every timestep in
 *     one product), then each recurrent step is H_{t-1} * R^T (large
 *     products are split across k->parallel);
 *   - lstm_step(), gru_step() and rnn_step() apply one timestep's gate
 *     equations to every batch row still inside its sequence_lens; rows
 *     past their length keep their state and emit zeros in Y. A reverse
 *     direction walks each row's sequence from its own last valid step;
 *   - Y, Y_h and Y_c are written through y_index()/state_index(), which
 *     know both layouts (0: [seq, dirs, batch, hidden]; 1: [batch, seq,
 *     dirs, hidden]).
 * Activations follow onnxruntime: names are case-insensitive, alphas and
 * betas are consumed in order by the activations that use them, and the
 * defaults are LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1.0, else 0. The
 * `activations` attribute is a string list: attribute views hand it over as
 * its strings one after another, each ended by a NUL, in s/slen with n the
 * count.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sequence.h"
#include "simd.h"
#include "util.h"

enum { OP_LSTM, OP_GRU, OP_RNN };

enum {
  ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_AFFINE, ACT_LEAKYRELU, ACT_THRESHOLDEDRELU,
  ACT_SCALEDTANH, ACT_HARDSIGMOID, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS,
};

typedef struct act {
  int kind;
  float alpha, beta;
} act;

typedef struct rnn {
  ferry_kctx *k;
  int op, gates, n_act;       /* gates per hidden unit (4, 3, 1); activations per direction */
  int64_t T, B, I, H, nd, GH; /* GH = gates * H */
  int layout, reverse[2], input_forget, lbr, has_clip;
  float clip;
  const float *x, *w, *r, *bias, *p, *h0, *c0;
  int64_t *lens;              /* [B], every entry in [0, T] */
  int full;                   /* every length is T */
  act acts[6];                /* [direction * n_act + i] */
  float *y, *yh, *yc;         /* float32 outputs, NULL when not wanted */
  /* per-direction work */
  float *xp;                  /* [T * B, GH] input projection */
  float *g;                   /* [B, GH] gate pre-activations of a step */
  float *bsum;                /* [GH] the biases xp gets */
  float *h, *c, *tmp;         /* [B, H] state and scratch rows */
} rnn;

/* ---- small helpers ---- */

static int oom(ferry_kctx *k) {
  snprintf(k->err, sizeof k->err, "out of memory");
  return FERRY_E_SYSTEM;
}

/* n floats of scratch (never NULL for n == 0 unless out of memory). */
static float *scratch_f32(ferry_kctx *k, int64_t n) {
  if (n < 0 || (uint64_t)n > SIZE_MAX / 8) return NULL;
  return k->scratch(k, (size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* 1 when a * b * c fits comfortably in memory-sized arithmetic. */
static int size_ok(int64_t a, int64_t b, int64_t c) {
  const int64_t lim = (int64_t)1 << 40;
  if (a < 0 || b < 0 || c < 0) return 0;
  if (a && b > lim / a) return 0;
  if (a * b != 0 && c > lim / (a * b)) return 0;
  return 1;
}

static int is_float_dtype(int dt) {
  return dt == FERRY_F32 || dt == FERRY_F16 || dt == FERRY_BF16 || dt == FERRY_F64;
}

/* t's data as float32: the data itself, or a converted scratch copy. */
static const float *as_f32(ferry_kctx *k, const ferry_tview *t, int *rc) {
  if (!t->data) return NULL;
  if (t->dtype == FERRY_F32) return t->data;
  float *f = scratch_f32(k, t->numel);
  if (!f) {
    *rc = oom(k);
    return NULL;
  }
  const uint16_t *u = t->data;
  const double *d = t->data;
  for (int64_t i = 0; i < t->numel; i++)
    f[i] = t->dtype == FERRY_F16 ? ferry_f16_to_f32(u[i]) : t->dtype == FERRY_BF16 ? ferry_bf16_to_f32(u[i]) : (float)d[i];
  return f;
}

/* Stores n float32 values into dst of dtype dt (a float dtype). */
static void store_f32(void *dst, int dt, const float *src, int64_t n) {
  if (dt == FERRY_F32) {
    if (dst != src) memcpy(dst, src, (size_t)n * sizeof *src);
    return;
  }
  uint16_t *u = dst;
  double *d = dst;
  for (int64_t i = 0; i < n; i++) {
    if (dt == FERRY_F16) u[i] = ferry_f32_to_f16(src[i]);
    else if (dt == FERRY_BF16) u[i] = ferry_f32_to_bf16(src[i]);
    else d[i] = src[i];
  }
}

/* 1 when view v is present with rank r and these dims. */
static int dims_are(const ferry_tview *v, int r, const int64_t *d) {
  if (v->rank != r) return 0;
  for (int i = 0; i < r; i++)
    if (v->dims[i] != d[i]) return 0;
  return 1;
}

static int lower_eq(const char *s, size_t n, const char *lit) {
  size_t i = 0;
  for (; i < n && lit[i]; i++) {
    char ch = s[i];
    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
    if (ch != lit[i]) return 0;
  }
  return i == n && !lit[i];
}

/* ---- vector helpers ---- */

static float hsum(f32x4 v) { return v[0] + v[1] + v[2] + v[3]; }

/* d[i] += s[i] */
static void vadd(float *d, const float *s, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(d + i, f32x4_load(d + i) + f32x4_load(s + i));
  for (; i < n; i++) d[i] += s[i];
}

/* d[i] += a[i] * b[i] */
static void vmuladd(float *d, const float *a, const float *b, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(d + i, f32x4_load(d + i) + f32x4_load(a + i) * f32x4_load(b + i));
  for (; i < n; i++) d[i] += a[i] * b[i];
}

static void vclip(float *d, int64_t n, float c) {
  int64_t i = 0;
  f32x4 lo = f32x4_splat(-c), hi = f32x4_splat(c);
  for (; i + 4 <= n; i += 4) f32x4_store(d + i, f32x4_min(f32x4_max(f32x4_load(d + i), lo), hi));
  for (; i < n; i++) d[i] = d[i] < -c ? -c : d[i] > c ? c : d[i];
}

/* ---- the matrix kernel ---- */

/* Two rows of A against four rows of B (each K long): out[i][j] = a_i . b_j. */
static void dot_2x4(const float *a0, const float *a1, const float *b, int64_t K, float out[2][4]) {
  const float *b0 = b, *b1 = b + K, *b2 = b + 2 * K, *b3 = b + 3 * K;
  f32x4 z = f32x4_splat(0), s00 = z, s01 = z, s02 = z, s03 = z, s10 = z, s11 = z, s12 = z, s13 = z;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    f32x4 x0 = f32x4_load(a0 + k), x1 = f32x4_load(a1 + k);
    f32x4 y0 = f32x4_load(b0 + k), y1 = f32x4_load(b1 + k), y2 = f32x4_load(b2 + k), y3 = f32x4_load(b3 + k);
    s00 += x0 * y0, s01 += x0 * y1, s02 += x0 * y2, s03 += x0 * y3;
    s10 += x1 * y0, s11 += x1 * y1, s12 += x1 * y2, s13 += x1 * y3;
  }
  float r[2][4] = {{hsum(s00), hsum(s01), hsum(s02), hsum(s03)}, {hsum(s10), hsum(s11), hsum(s12), hsum(s13)}};
  for (; k < K; k++) {
    r[0][0] += a0[k] * b0[k], r[0][1] += a0[k] * b1[k], r[0][2] += a0[k] * b2[k], r[0][3] += a0[k] * b3[k];
    r[1][0] += a1[k] * b0[k], r[1][1] += a1[k] * b1[k], r[1][2] += a1[k] * b2[k], r[1][3] += a1[k] * b3[k];
  }
  memcpy(out, r, sizeof r);
}

static void dot_1x4(const float *a, const float *b, int64_t K, float out[4]) {
  const float *b0 = b, *b1 = b + K, *b2 = b + 2 * K, *b3 = b + 3 * K;
  f32x4 z = f32x4_splat(0), s0 = z, s1 = z, s2 = z, s3 = z;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    f32x4 x = f32x4_load(a + k);
    s0 += x * f32x4_load(b0 + k), s1 += x * f32x4_load(b1 + k);
    s2 += x * f32x4_load(b2 + k), s3 += x * f32x4_load(b3 + k);
  }
  float r[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
  for (; k < K; k++) r[0] += a[k] * b0[k], r[1] += a[k] * b1[k], r[2] += a[k] * b2[k], r[3] += a[k] * b3[k];
  memcpy(out, r, sizeof r);
}

static float dot_1x1(const float *a, const float *b, int64_t K) {
  f32x4 s = f32x4_splat(0);
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) s += f32x4_load(a + k) * f32x4_load(b + k);
  float r = hsum(s);
  for (; k < K; k++) r += a[k] * b[k];
  return r;
}

/* C[m * ldc + n] = sum_k A[m * lda + k] * B[n * K + k], rows [m0, m1), cols [n0, n1). */
static void gemm_nt_block(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda,
                          const float *Bm, float *C, int64_t ldc) {
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) {
    const float *a0 = A + m * lda, *a1 = a0 + lda;
    float *c0 = C + m * ldc, *c1 = c0 + ldc;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
      float r[2][4];
      dot_2x4(a0, a1, Bm + n * K, K, r);
      memcpy(c0 + n, r[0], sizeof r[0]);
      memcpy(c1 + n, r[1], sizeof r[1]);
    }
    for (; n < n1; n++) c0[n] = dot_1x1(a0, Bm + n * K, K), c1[n] = dot_1x1(a1, Bm + n * K, K);
  }
  for (; m < m1; m++) {
    const float *a = A + m * lda;
    float *c = C + m * ldc;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) dot_1x4(a, Bm + n * K, K, c + n);
    for (; n < n1; n++) c[n] = dot_1x1(a, Bm + n * K, K);
  }
}

typedef struct gemm_args {
  int64_t M, N, K, lda, ldc, chunk;
  int by_rows;
  const float *A, *B;
  float *C;
} gemm_args;

static void gemm_chunk(void *arg, int64_t begin, int64_t end) {
  const gemm_args *g = arg;
  int64_t lo = begin * g->chunk, hi = end * g->chunk;
  if (g->by_rows)
    gemm_nt_block(lo, hi < g->M ? hi : g->M, 0, g->N, g->K, g->A, g->lda, g->B, g->C, g->ldc);
  else
    gemm_nt_block(0, g->M, lo, hi < g->N ? hi : g->N, g->K, g->A, g->lda, g->B, g->C, g->ldc);
}

/* C = A * B^T (M x N, K deep); large products split across threads. */
static void gemm_nt(ferry_kctx *k, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bm,
                    float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  gemm_args g = {M, N, K, lda, ldc, 0, M >= 16, A, Bm, C};
  if (M * N * (K + 1) < (1 << 18)) { /* a step of a small model: threads cost more */
    gemm_nt_block(0, M, 0, N, K, A, lda, Bm, C, ldc);
    return;
  }
  g.chunk = g.by_rows ? 8 : 16;
  int64_t n = ((g.by_rows ? M : N) + g.chunk - 1) / g.chunk;
  k->parallel(k, n, gemm_chunk, &g);
}

/* ---- activations ---- */

static float act1(const act *a, float x) {
  switch (a->kind) {
  case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case ACT_TANH: return tanhf(x);
  case ACT_RELU: return x > 0 ? x : 0;
  case ACT_AFFINE: return a->alpha * x + a->beta;
  case ACT_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
  case ACT_THRESHOLDEDRELU: return x > a->alpha ? x : 0;
  case ACT_SCALEDTANH: return a->alpha * tanhf(a->beta * x);
  case ACT_HARDSIGMOID: {
    float v = a->alpha * x + a->beta;
    return v < 0 ? 0 : v > 1 ? 1 : v;
  }
  case ACT_ELU: return x >= 0 ? x : a->alpha * (expf(x) - 1.0f);
  case ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
  default: return x > 20.0f ? x : log1pf(expf(x)); /* softplus */
  }
}

static void act_apply(const act *a, float *v, int64_t n) {
  switch (a->kind) { /* the common ones get their own loops */
  case ACT_SIGMOID:
    for (int64_t i = 0; i < n; i++) v[i] = 1.0f / (1.0f + expf(-v[i]));
    return;
  case ACT_TANH:
    for (int64_t i = 0; i < n; i++) v[i] = tanhf(v[i]);
    return;
  default:
    for (int64_t i = 0; i < n; i++) v[i] = act1(a, v[i]);
  }
}

static const struct {
  const char *name;
  int kind, alpha, beta; /* uses alpha / beta */
  float da, db;          /* defaults */
} ACTS[] = {
    {"sigmoid", ACT_SIGMOID, 0, 0, 0, 0},         {"tanh", ACT_TANH, 0, 0, 0, 0},
    {"relu", ACT_RELU, 0, 0, 0, 0},               {"affine", ACT_AFFINE, 1, 1, 0, 0},
    {"leakyrelu", ACT_LEAKYRELU, 1, 0, 0.01f, 0}, {"thresholdedrelu", ACT_THRESHOLDEDRELU, 1, 0, 0, 0},
    {"scaledtanh", ACT_SCALEDTANH, 1, 1, 0, 0},   {"hardsigmoid", ACT_HARDSIGMOID, 1, 1, 0.2f, 0.5f},
    {"elu", ACT_ELU, 1, 0, 1.0f, 0},              {"softsign", ACT_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", ACT_SOFTPLUS, 0, 0, 0, 0},
};

/* Entry i of a string-list attribute (NUL-separated in s/slen); 0 when absent. */
static int attr_string_at(const ferry_attrv *a, int i, const char **s, size_t *len) {
  if (a->type == 3 && i == 0 && a->s) {
    *s = a->s, *len = (size_t)(a->slen > 0 ? a->slen : 0);
    return 1;
  }
  if (a->type != 8 || !a->s || i >= a->n) return 0;
  const char *p = a->s, *end = a->s + (a->slen > 0 ? a->slen : 0);
  for (int j = 0; j < i && p < end; j++) p += strnlen(p, (size_t)(end - p)) + 1;
  if (p > end) return 0;
  *s = p, *len = p < end ? strnlen(p, (size_t)(end - p)) : 0;
  return 1;
}

/* Fills r->acts from `activations`, activation_alpha and activation_beta,
 * or the op's defaults. */
static int read_activations(rnn *r) {
  static const int dflt[3][3] = {{ACT_SIGMOID, ACT_TANH, ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_TANH}};
  ferry_kctx *k = r->k;
  int total = r->n_act * (int)r->nd;
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  int given = ferry_attr_get(k->sctx, "activations", &a) ? a.n : 0;
  if (a.type == 3) given = 1;
  if (given == 0) {
    for (int i = 0; i < total; i++) r->acts[i] = (act){dflt[r->op][i % r->n_act], 0, 0};
    return FERRY_OK;
  }
  if (given != total && given != r->n_act)
    return ferry_kernel_fail(k, "activations has %d entries, want %d", given, total);
  const float *al = NULL, *be = NULL;
  ferry_attrv av;
  int n_al = ferry_attr_get(k->sctx, "activation_alpha", &av) && av.type == 6 ? av.n : 0;
  al = n_al ? av.floats : NULL;
  int n_be = ferry_attr_get(k->sctx, "activation_beta", &av) && av.type == 6 ? av.n : 0;
  be = n_be ? av.floats : NULL;
  int ia = 0, ib = 0;
  for (int i = 0; i < total; i++) {
    const char *s;
    size_t len;
    if (given < total && i % given == 0) ia = ib = 0; /* one list for both directions: alphas too */
    if (!attr_string_at(&a, i % given, &s, &len))
      return ferry_kernel_fail(k, "cannot read activations entry %d", i % given);
    size_t j = 0;
    while (j < sizeof ACTS / sizeof ACTS[0] && !lower_eq(s, len, ACTS[j].name)) j++;
    if (j == sizeof ACTS / sizeof ACTS[0]) return ferry_kernel_fail(k, "unknown activation '%.*s'", (int)len, s);
    act *o = &r->acts[i];
    *o = (act){ACTS[j].kind, ACTS[j].da, ACTS[j].db};
    if (ACTS[j].alpha && ia < n_al) o->alpha = al[ia++];
    if (ACTS[j].beta && ib < n_be) o->beta = be[ib++];
  }
  return FERRY_OK;
}

/* ---- setup ---- */

/* The float32 output buffer for out[i] expected as dims d (rank n), or
 * NULL when the output is not wanted. */
static float *output_f32(rnn *r, int i, int n, const int64_t *d, int *rc) {
  ferry_kctx *k = r->k;
  if (i >= k->n_out || !k->out[i].data) return NULL;
  ferry_tview *o = &k->out[i];
  if (!dims_are(o, n, d) || o->dtype != k->in[0].dtype) {
    *rc = ferry_kernel_fail(k, "output %d has the wrong shape or dtype", i);
    return NULL;
  }
  if (o->dtype == FERRY_F32) return o->data;
  float *f = scratch_f32(k, o->numel);
  if (!f) *rc = oom(k);
  return f;
}

static int read_lengths(rnn *r) {
  ferry_kctx *k = r->k;
  const ferry_tview *sl = k->n_in > 4 ? &k->in[4] : NULL;
  r->lens = k->scratch(k, (size_t)(r->B > 0 ? r->B : 1) * sizeof *r->lens);
  if (!r->lens) return oom(k);
  r->full = 1;
  for (int64_t b = 0; b < r->B; b++) r->lens[b] = r->T;
  if (!sl || !sl->data) return FERRY_OK;
  if (sl->dtype != FERRY_I32 && sl->dtype != FERRY_I64)
    return ferry_kernel_fail(k, "sequence_lens must be int32");
  if (sl->rank != 1 || sl->dims[0] != r->B)
    return ferry_kernel_fail(k, "sequence_lens must have shape [%lld]", (long long)r->B);
  for (int64_t b = 0; b < r->B; b++) {
    int64_t v = ferry_load_i64(sl->data, sl->dtype, b);
    if (v < 0 || v > r->T)
      return ferry_kernel_fail(k, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b, (long long)v,
                               (long long)r->T);
    r->lens[b] = v;
    if (v != r->T) r->full = 0;
  }
  return FERRY_OK;
}

/* Checks the optional input i (dims d, rank n) and returns it as float32. */
static const float *opt_input(rnn *r, int i, int n, const int64_t *d, const char *what, int *rc) {
  ferry_kctx *k = r->k;
  if (i >= k->n_in || !k->in[i].data || *rc) return NULL;
  const ferry_tview *v = &k->in[i];
  if (!is_float_dtype(v->dtype) || !dims_are(v, n, d)) {
    *rc = ferry_kernel_fail(k, "%s has the wrong shape or dtype", what);
    return NULL;
  }
  return as_f32(k, v, rc);
}

static int rnn_setup(rnn *r, ferry_kctx *k, int op) {
  static const int gates[3] = {4, 3, 1}, n_act[3] = {3, 2, 1};
  memset(r, 0, sizeof *r);
  r->k = k, r->op = op, r->gates = gates[op], r->n_act = n_act[op];
  if (k->n_in < 3 || !k->in[0].data || !k->in[1].data || !k->in[2].data)
    return ferry_kernel_fail(k, "needs X, W and R");
  const ferry_tview *x = &k->in[0], *w = &k->in[1], *rr = &k->in[2];
  if (!is_float_dtype(x->dtype)) return ferry_kernel_fail(k, "X must be a float tensor");
  if (x->rank != 3 || w->rank != 3 || rr->rank != 3) return ferry_kernel_fail(k, "X, W and R must have rank 3");
  ferry_attrv av;
  char dir[32] = "forward";
  if (ferry_attr_get(k->sctx, "direction", &av) && av.type == 3 && av.s) {
    size_t n = (size_t)(av.slen > 0 ? av.slen : 0);
    if (n >= sizeof dir) n = sizeof dir - 1;
    memcpy(dir, av.s, n);
    dir[n] = 0;
  }
  if (!strcmp(dir, "forward")) r->nd = 1;
  else if (!strcmp(dir, "reverse")) r->nd = 1, r->reverse[0] = 1;
  else if (!strcmp(dir, "bidirectional")) r->nd = 2, r->reverse[1] = 1;
  else return ferry_kernel_fail(k, "unknown direction '%s'", dir);
  r->layout = ferry_attr_int(k->sctx, "layout", 0) != 0;
  r->T = x->dims[r->layout], r->B = x->dims[!r->layout], r->I = x->dims[2];
  r->H = rr->dims[2];
  int64_t hs = ferry_attr_int(k->sctx, "hidden_size", r->H);
  if (hs != r->H) return ferry_kernel_fail(k, "hidden_size %lld does not match R", (long long)hs);
  r->GH = r->gates * r->H;
  int64_t wd[3] = {r->nd, r->GH, r->I}, rd[3] = {r->nd, r->GH, r->H};
  if (!is_float_dtype(w->dtype) || !dims_are(w, 3, wd))
    return ferry_kernel_fail(k, "W must have shape [%lld, %lld, %lld]", (long long)wd[0], (long long)wd[1],
                             (long long)wd[2]);
  if (!is_float_dtype(rr->dtype) || !dims_are(rr, 3, rd))
    return ferry_kernel_fail(k, "R must have shape [%lld, %lld, %lld]", (long long)rd[0], (long long)rd[1],
                             (long long)rd[2]);
  if (!size_ok(r->T, r->B, r->GH) || !size_ok(r->nd, r->GH, r->I + r->H + 2))
    return ferry_kernel_fail(k, "sizes are too large");
  r->has_clip = ferry_attr_get(k->sctx, "clip", &av) && av.type == 1;
  r->clip = r->has_clip ? fabsf(av.f) : 0;
  r->input_forget = op == OP_LSTM && ferry_attr_int(k->sctx, "input_forget", 0) != 0;
  r->lbr = op == OP_GRU && ferry_attr_int(k->sctx, "linear_before_reset", 0) != 0;
  int rc = read_activations(r);
  if (rc) return rc;
  if ((rc = read_lengths(r))) return rc;
  int64_t bd[2] = {r->nd, 2 * r->GH}, pd[2] = {r->nd, 3 * r->H};
  int64_t sd[3] = {r->nd, r->B, r->H}, sd1[3] = {r->B, r->nd, r->H};
  const int64_t *st = r->layout ? sd1 : sd;
  if (!(r->x = as_f32(k, x, &rc)) || !(r->w = as_f32(k, w, &rc)) || !(r->r = as_f32(k, rr, &rc))) return rc;
  r->bias = opt_input(r, 3, 2, bd, "B", &rc);
  r->h0 = opt_input(r, 5, 3, st, "initial_h", &rc);
  if (op == OP_LSTM) {
    r->c0 = opt_input(r, 6, 3, st, "initial_c", &rc);
    r->p = opt_input(r, 7, 2, pd, "P", &rc);
  }
  if (rc) return rc;
  int64_t yd[4] = {r->T, r->nd, r->B, r->H}, yd1[4] = {r->B, r->T, r->nd, r->H};
  r->y = output_f32(r, 0, 4, r->layout ? yd1 : yd, &rc);
  r->yh = output_f32(r, 1, 3, st, &rc);
  if (op == OP_LSTM) r->yc = output_f32(r, 2, 3, st, &rc);
  if (rc) return rc;
  r->xp = scratch_f32(k, r->T * r->B * r->GH);
  r->g = scratch_f32(k, r->B * r->GH);
  r->bsum = scratch_f32(k, r->GH);
  r->h = scratch_f32(k, r->B * r->H);
  r->c = scratch_f32(k, r->B * r->H);
  r->tmp = scratch_f32(k, r->B * r->H);
  if (!r->xp || !r->g || !r->bsum || !r->h || !r->c || !r->tmp) return oom(k);
  if (r->y) memset(r->y, 0, (size_t)(r->T * r->B * r->nd * r->H) * sizeof(float));
  return FERRY_OK;
}

/* ---- indexing ---- */

/* Row of X (and of the projection) holding timestep t of batch row b. */
static int64_t x_row(const rnn *r, int64_t t, int64_t b) { return r->layout ? b * r->T + t : t * r->B + b; }

static int64_t y_index(const rnn *r, int64_t t, int64_t d, int64_t b) {
  return (r->layout ? (b * r->T + t) * r->nd + d : (t * r->nd + d) * r->B + b) * r->H;
}

static int64_t state_index(const rnn *r, int64_t d, int64_t b) {
  return (r->layout ? b * r->nd + d : d * r->B + b) * r->H;
}

/* Timestep of batch row b at step s of direction d, or -1 when b is done. */
static int64_t step_time(const rnn *r, int d, int64_t s, int64_t b) {
  int64_t len = r->lens[b];
  if (s >= len) return -1;
  return r->reverse[d] ? len - 1 - s : s;
}

/* ---- the directions ---- */

/* xp = X * W_d^T plus the biases that sit outside any product: Wb and Rb
 * for every gate, except GRU's Rbh with linear_before_reset. */
static void rnn_project(rnn *r, int d) {
  int64_t GH = r->GH, rows = r->T * r->B;
  gemm_nt(r->k, rows, GH, r->I, r->x, r->I, r->w + d * GH * r->I, r->xp, GH);
  if (!r->bias) return;
  const float *wb = r->bias + d * 2 * GH, *rb = wb + GH;
  float *bsum = r->bsum;
  memcpy(bsum, wb, (size_t)GH * sizeof *bsum);
  vadd(bsum, rb, r->lbr ? 2 * r->H : GH);
  for (int64_t i = 0; i < rows; i++) vadd(r->xp + i * GH, bsum, GH);
}

/* Loads the initial state of direction d (or zeros). */
static void init_state(rnn *r, int d, const float *src, float *dst) {
  for (int64_t b = 0; b < r->B; b++) {
    float *o = dst + b * r->H;
    if (src) memcpy(o, src + state_index(r, d, b), (size_t)r->H * sizeof *o);
    else memset(o, 0, (size_t)r->H * sizeof *o);
  }
}

/* g (already holding xp + H_{t-1} R^T for row b) -> new h and c of row b. */
static void lstm_row(rnn *r, int d, float *g, float *h, float *c, float *tmp) {
  int64_t H = r->H;
  const act *f = &r->acts[d * 3], *ga = f + 1, *ha = f + 2;
  float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
  const float *p = r->p ? r->p + d * 3 * H : NULL;
  if (p) {
    vmuladd(gi, p, c, H);
    if (!r->input_forget) vmuladd(gf, p + 2 * H, c, H);
  }
  if (r->has_clip) vclip(gi, H, r->clip), vclip(gf, H, r->clip), vclip(gc, H, r->clip);
  act_apply(f, gi, H);
  if (r->input_forget)
    for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
  else
    act_apply(f, gf, H);
  act_apply(ga, gc, H);
  for (int64_t j = 0; j < H; j++) c[j] = gf[j] * c[j] + gi[j] * gc[j];
  if (p) vmuladd(go, p + H, c, H);
  if (r->has_clip) vclip(go, H, r->clip);
  act_apply(f, go, H);
  memcpy(tmp, c, (size_t)H * sizeof *tmp);
  act_apply(ha, tmp, H);
  for (int64_t j = 0; j < H; j++) h[j] = go[j] * tmp[j];
}

/* GRU gates z, r of row b: g's first 2H entries -> activated in place. */
static void gru_zr(rnn *r, int d, float *g) {
  if (r->has_clip) vclip(g, 2 * r->H, r->clip);
  act_apply(&r->acts[d * 2], g, 2 * r->H);
}

/* GRU row: g holds z, r (activated) and the h gate's pre-activation. */
static void gru_row(rnn *r, int d, float *g, float *h) {
  int64_t H = r->H;
  float *z = g, *gh = g + 2 * H;
  if (r->has_clip) vclip(gh, H, r->clip);
  act_apply(&r->acts[d * 2 + 1], gh, H);
  for (int64_t j = 0; j < H; j++) h[j] = (1.0f - z[j]) * gh[j] + z[j] * h[j];
}

/* One timestep s of direction d for every batch row. */
static void step(rnn *r, int d, int64_t s) {
  int64_t H = r->H, GH = r->GH, B = r->B;
  const float *R = r->r + d * GH * H;
  int gru_split = r->op == OP_GRU && !r->lbr; /* (r . H) R_h^T needs r first */
  gemm_nt(r->k, B, gru_split ? 2 * H : GH, H, r->h, H, R, r->g, GH);
  for (int64_t b = 0; b < B; b++) {
    int64_t t = step_time(r, d, s, b);
    if (t < 0) continue;
    float *g = r->g + b * GH, *h = r->h + b * H;
    const float *xp = r->xp + x_row(r, t, b) * GH;
    if (r->op == OP_LSTM) {
      vadd(g, xp, GH);
      lstm_row(r, d, g, h, r->c + b * H, r->tmp + b * H);
    } else if (r->op == OP_RNN) {
      vadd(g, xp, H);
      if (r->has_clip) vclip(g, H, r->clip);
      act_apply(&r->acts[d], g, H);
      memcpy(h, g, (size_t)H * sizeof *h);
    } else {
      vadd(g, xp, 2 * H);
      gru_zr(r, d, g);
      float *rg = g + H, *gh = g + 2 * H;
      if (gru_split) { /* tmp = r . H, multiplied by R_h below */
        for (int64_t j = 0; j < H; j++) r->tmp[b * H + j] = rg[j] * h[j];
      } else { /* gh = xp_h + r . (H R_h^T + Rbh) */
        const float *rbh = r->bias ? r->bias + d * 2 * GH + GH + 2 * H : NULL;
        for (int64_t j = 0; j < H; j++) gh[j] = xp[2 * H + j] + rg[j] * (gh[j] + (rbh ? rbh[j] : 0));
        gru_row(r, d, g, h);
      }
    }
  }
  if (gru_split) {
    gemm_nt(r->k, B, H, H, r->tmp, H, R + 2 * H * H, r->g + 2 * H, GH);
    for (int64_t b = 0; b < B; b++) {
      int64_t t = step_time(r, d, s, b);
      if (t < 0) continue;
      float *g = r->g + b * GH;
      vadd(g + 2 * H, r->xp + x_row(r, t, b) * GH + 2 * H, H);
      gru_row(r, d, g, r->h + b * H);
    }
  }
  if (r->y)
    for (int64_t b = 0; b < B; b++) {
      int64_t t = step_time(r, d, s, b);
      if (t >= 0) memcpy(r->y + y_index(r, t, d, b), r->h + b * H, (size_t)H * sizeof(float));
    }
}

static void run_direction(rnn *r, int d) {
  rnn_project(r, d);
  init_state(r, d, r->h0, r->h);
  init_state(r, d, r->c0, r->c);
  int64_t steps = 0;
  for (int64_t b = 0; b < r->B; b++) steps = r->lens[b] > steps ? r->lens[b] : steps;
  for (int64_t s = 0; s < steps; s++) step(r, d, s);
  for (int64_t b = 0; b < r->B; b++) {
    size_t n = (size_t)r->H * sizeof(float);
    int empty = r->lens[b] == 0;
    if (r->yh) {
      float *o = r->yh + state_index(r, d, b);
      if (empty) memset(o, 0, n);
      else memcpy(o, r->h + b * r->H, n);
    }
    if (r->yc) {
      float *o = r->yc + state_index(r, d, b);
      if (empty) memset(o, 0, n);
      else memcpy(o, r->c + b * r->H, n);
    }
  }
}

static int recurrent(ferry_kctx *k, int op) {
  rnn r;
  int rc = rnn_setup(&r, k, op);
  if (rc) return rc;
  for (int d = 0; d < r.nd; d++) run_direction(&r, d);
  float *outs[3] = {r.y, r.yh, r.yc};
  for (int i = 0; i < 3; i++)
    if (outs[i]) store_f32(k->out[i].data, k->out[i].dtype, outs[i], k->out[i].numel);
  return FERRY_OK;
}

int ferry_kernel_LSTM(ferry_kctx *k) { return recurrent(k, OP_LSTM); }
int ferry_kernel_GRU(ferry_kctx *k) { return recurrent(k, OP_GRU); }
int ferry_kernel_RNN(ferry_kctx *k) { return recurrent(k, OP_RNN); }
