/*
 * matmul.c - MatMul, Gemm, FusedGemm (com.microsoft), MatMulInteger and
 * QLinearMatMul (declared in linalg.h).
 *
 *   - mm_geometry() reads numpy matmul shapes (1-D operands, broadcast
 *     batch dims) the way the shape rule (runtime/ops/reduce.c) does, and
 *     gives each output batch its A and B matrix offsets;
 *   - float32 runs on ferry_sgemm (gemm.h): a batch of A over one B folds
 *     into one tall product, many small products run in parallel slots
 *     with the serial GEMM, big ones one after another with threads inside;
 *     float16/bfloat16 go through float32, the other dtypes through a plain
 *     loop (exact int64 arithmetic, wrapping like the hardware); a third
 *     input, which only the planner's MatMul + Add fusion passes
 *     (runtime/epilogue.c), is a float32 bias row added in the epilogue;
 *   - Gemm is one product with transposes, alpha and a broadcast C in the
 *     epilogue (and FusedGemm's activation);
 *   - the integer ops widen to int32 with zero points subtracted and run
 *     ferry_igemm; QLinearMatMul then requantizes (round half to even,
 *     saturate).
 */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "linalg.h"
#include "util.h"

/* ---- numpy matmul geometry ---- */

typedef struct mmgeo {
  int64_t M, N, K;
  int brank;                           /* batch rank of the output */
  int64_t bdims[FERRY_MAX_RANK];
  int64_t nbatch;                      /* product of bdims */
  int64_t ast[FERRY_MAX_RANK], bst[FERRY_MAX_RANK]; /* batch strides, in matrices */
  int64_t a_batches, b_batches;        /* matrices in A and in B */
  int orank;
  int64_t odims[FERRY_MAX_RANK];
} mmgeo;

/* Strides (in matrices) of the batch dims of t as seen from the output. */
static void batch_strides(const ferry_tview *t, const mmgeo *g, int64_t *st, int64_t *count) {
  int tb = t->rank > 2 ? t->rank - 2 : 0;
  int64_t s = 1;
  for (int i = g->brank - 1; i >= 0; i--) {
    int j = i - (g->brank - tb);
    int64_t d = j >= 0 ? t->dims[j] : 1;
    st[i] = d == 1 ? 0 : s;
    s *= d;
  }
  *count = s;
}

static int mm_geometry(ferry_kctx *k, const ferry_tview *a, const ferry_tview *b, mmgeo *g) {
  memset(g, 0, sizeof *g);
  if (a->rank < 1 || b->rank < 1) return ferry_kernel_fail(k, "operands must not be scalars");
  g->K = a->dims[a->rank - 1];
  g->M = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
  g->N = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
  int64_t kb = b->dims[b->rank >= 2 ? b->rank - 2 : 0];
  if (kb != g->K) return ferry_kernel_fail(k, "inner dims differ: %lld and %lld", (long long)g->K, (long long)kb);
  int ab = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
  g->brank = ab > bb ? ab : bb;
  g->nbatch = 1;
  for (int i = 0; i < g->brank; i++) {
    int ia = i - (g->brank - ab), ib = i - (g->brank - bb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return ferry_kernel_fail(k, "batch dims %lld and %lld do not broadcast", (long long)da, (long long)db);
    g->bdims[i] = da == 1 ? db : da;
    if (g->bdims[i] && g->nbatch > INT64_MAX / g->bdims[i]) return ferry_kernel_fail(k, "result is too large");
    g->nbatch *= g->bdims[i];
  }
  batch_strides(a, g, g->ast, &g->a_batches);
  batch_strides(b, g, g->bst, &g->b_batches);
  if (g->brank + 2 > FERRY_MAX_RANK) return ferry_kernel_fail(k, "result rank is too large");
  memcpy(g->odims, g->bdims, (size_t)g->brank * sizeof *g->odims);
  g->orank = g->brank;
  if (a->rank >= 2) g->odims[g->orank++] = g->M;
  if (b->rank >= 2) g->odims[g->orank++] = g->N;
  return FERRY_OK;
}

/* Matrix offsets of output batch `bi` in A and B. */
static void batch_offsets(const mmgeo *g, int64_t bi, int64_t *ao, int64_t *bo) {
  *ao = *bo = 0;
  for (int i = g->brank - 1; i >= 0; i--) {
    int64_t q = bi / g->bdims[i], r = bi - q * g->bdims[i];
    *ao += r * g->ast[i];
    *bo += r * g->bst[i];
    bi = q;
  }
}

/* One B for every batch and a batch of distinct A matrices: one product. */
static int mm_foldable(const mmgeo *g) { return g->b_batches == 1 && g->a_batches == g->nbatch; }

/* ---- float32 ---- */

static void mm_offsets(const void *ctx, int64_t bi, int64_t *ao, int64_t *bo, int64_t *co) {
  const mmgeo *g = ctx;
  batch_offsets(g, bi, ao, bo);
  *ao *= g->M * g->K;
  *bo *= g->K * g->N;
  *co = bi * g->M * g->N;
}

/* b_const: B is a weight (packed once when the batch folds into one
 * product); bias: NULL, or N floats added to every output row. */
static int matmul_f32(ferry_kctx *k, const mmgeo *g, const float *A, const float *B, float *C, int b_const,
                      const float *bias) {
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.bias = bias, e.bias_rs = 0, e.bias_cs = 1;
  if (g->nbatch == 0 || g->M == 0 || g->N == 0) return FERRY_OK;
  if (mm_foldable(g))
    return ferry_sgemm_const_b(k, g->nbatch * g->M, g->N, g->K, (ferry_fmat){A, g->K, 1}, (ferry_fmat){B, g->N, 1}, C,
                               g->N, &e, b_const);
  return ferry_sgemm_batch(k, g->nbatch, mm_offsets, g, g->M, g->N, g->K, (ferry_fmat){A, g->K, 1},
                           (ferry_fmat){B, g->N, 1}, C, g->N, &e);
}

/* ---- other dtypes: a plain loop ---- */

/* C = A * B for one batch; element (i, kk) of A at a[i*ars + kk*acs]. */
#define MM_LOOP(T, ACC)                                                                   \
  for (int64_t i = 0; i < M; i++)                                                         \
    for (int64_t j = 0; j < N; j++) {                                                     \
      ACC s = 0;                                                                          \
      for (int64_t kk = 0; kk < K; kk++)                                                  \
        s += (ACC)((const T *)a)[i * ars + kk * acs] * (ACC)((const T *)b)[kk * brs + j * bcs]; \
      ((T *)c)[i * N + j] = (T)s;                                                         \
    }

/* Integers wrap through uint64 (signed overflow is undefined in C). */
#define MM_LOOP_INT(T)                                                                    \
  for (int64_t i = 0; i < M; i++)                                                         \
    for (int64_t j = 0; j < N; j++) {                                                     \
      uint64_t s = 0;                                                                     \
      for (int64_t kk = 0; kk < K; kk++)                                                  \
        s += (uint64_t)(int64_t)((const T *)a)[i * ars + kk * acs] *                      \
             (uint64_t)(int64_t)((const T *)b)[kk * brs + j * bcs];                       \
      ((T *)c)[i * N + j] = (T)s;                                                         \
    }

/* One product in dtype dt without a fast path; 0 when dt is not handled. */
static int mm_plain(int dt, int64_t M, int64_t N, int64_t K, const void *a, int64_t ars, int64_t acs, const void *b,
                    int64_t brs, int64_t bcs, void *c) {
  switch (dt) {
  case FERRY_F64: MM_LOOP(double, double) return 1;
  case FERRY_I32: MM_LOOP_INT(int32_t) return 1;
  case FERRY_I64: MM_LOOP_INT(int64_t) return 1;
  case FERRY_U32: MM_LOOP_INT(uint32_t) return 1;
  case FERRY_U64: MM_LOOP_INT(uint64_t) return 1;
  case FERRY_I16: MM_LOOP_INT(int16_t) return 1;
  case FERRY_U16: MM_LOOP_INT(uint16_t) return 1;
  case FERRY_I8: MM_LOOP_INT(int8_t) return 1;
  case FERRY_U8: MM_LOOP_INT(uint8_t) return 1;
  default: return 0;
  }
}

static int is_half(int dt) { return dt == FERRY_F16 || dt == FERRY_BF16; }

int ferry_kernel_MatMul(ferry_kctx *k) {
  if (k->n_in < 2 || !k->in[0].data || !k->in[1].data) return ferry_kernel_fail(k, "MatMul needs A and B");
  const ferry_tview *a = &k->in[0], *b = &k->in[1];
  mmgeo g;
  int rc = mm_geometry(k, a, b, &g);
  if (rc) return rc;
  if (a->dtype != b->dtype) return ferry_kernel_fail(k, "A and B have different dtypes");
  if ((rc = ferry_linalg_output(k, 0, a->dtype, g.orank, g.odims))) return rc;
  ferry_tview *o = &k->out[0];
  int b_const = (int)(k->const_in >> 1 & 1);
  const float *bias = NULL; /* the planner's MatMul + bias fusion (runtime/epilogue.c) */
  if (k->n_in == 3 && k->in[2].data) {
    if (a->dtype != FERRY_F32 || k->in[2].dtype != FERRY_F32 || k->in[2].numel != g.N)
      return ferry_kernel_fail(k, "the fused bias must be %lld float32 values", (long long)g.N);
    bias = k->in[2].data;
  }
  if (a->dtype == FERRY_F32) return matmul_f32(k, &g, a->data, b->data, o->data, b_const, bias);
  if (is_half(a->dtype)) {
    float *A = ferry_linalg_f32_in(k, a), *B = A ? ferry_linalg_f32_in(k, b) : NULL;
    float *C = B ? ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float)) : NULL;
    if (!C) return FERRY_E_SYSTEM;
    if ((rc = matmul_f32(k, &g, A, B, C, b_const, NULL))) return rc;
    ferry_linalg_f32_out(C, o);
    return FERRY_OK;
  }
  int size = ferry_dtype_size(a->dtype);
  for (int64_t bi = 0; bi < g.nbatch; bi++) {
    int64_t ao, bo;
    batch_offsets(&g, bi, &ao, &bo);
    const char *pa = (const char *)a->data + ao * g.M * g.K * size, *pb = (const char *)b->data + bo * g.K * g.N * size;
    if (!mm_plain(a->dtype, g.M, g.N, g.K, pa, g.K, 1, pb, g.N, 1, (char *)o->data + bi * g.M * g.N * size))
      return ferry_kernel_fail(k, "MatMul does not support %s", ferry_dtype_name(a->dtype));
  }
  return FERRY_OK;
}

/* ---- Gemm ---- */

typedef struct gemmgeo {
  int64_t M, N, K;
  int ta, tb;
  float alpha, beta;
  const ferry_tview *c;    /* NULL when absent */
  int64_t c_rs, c_cs;      /* C's strides as broadcast to [M, N] */
} gemmgeo;

static int gemm_geometry(ferry_kctx *k, gemmgeo *g) {
  memset(g, 0, sizeof *g);
  if (k->n_in < 2 || !k->in[0].data || !k->in[1].data) return ferry_kernel_fail(k, "Gemm needs A and B");
  const ferry_tview *a = &k->in[0], *b = &k->in[1];
  if (a->rank != 2 || b->rank != 2) return ferry_kernel_fail(k, "A and B must have rank 2, got %d and %d", a->rank, b->rank);
  if (a->dtype != b->dtype) return ferry_kernel_fail(k, "A and B have different dtypes");
  g->ta = ferry_attr_int(k->sctx, "transA", 0) != 0;
  g->tb = ferry_attr_int(k->sctx, "transB", 0) != 0;
  g->alpha = ferry_attr_float(k->sctx, "alpha", 1.0f);
  g->beta = ferry_attr_float(k->sctx, "beta", 1.0f);
  g->M = a->dims[g->ta ? 1 : 0];
  g->K = a->dims[g->ta ? 0 : 1];
  g->N = b->dims[g->tb ? 0 : 1];
  if (b->dims[g->tb ? 1 : 0] != g->K) return ferry_kernel_fail(k, "inner dims differ");
  if (k->n_in > 2 && k->in[2].data) {
    const ferry_tview *c = &k->in[2];
    int64_t t[2] = {g->M, g->N};
    if (c->rank > 2) return ferry_kernel_fail(k, "C must have rank <= 2, got %d", c->rank);
    if (c->dtype != a->dtype) return ferry_kernel_fail(k, "C's dtype differs from A's");
    for (int i = 0; i < c->rank; i++) {
      int64_t d = c->dims[i], want = t[2 - c->rank + i];
      if (d != want && d != 1) return ferry_kernel_fail(k, "C does not broadcast to [%lld, %lld]", (long long)g->M, (long long)g->N);
    }
    int64_t rows = c->rank == 2 ? c->dims[0] : 1, cols = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    g->c_rs = rows == 1 ? 0 : cols;
    g->c_cs = cols == 1 ? 0 : 1;
    g->c = c;
  }
  return FERRY_OK;
}

static int gemm_f32(ferry_kctx *k, const gemmgeo *g, const float *A, const float *B, const float *C, float *Y,
                    const ferry_act *act, int b_const) {
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.alpha = g->alpha;
  e.beta = g->beta;
  if (C && g->beta != 0) e.bias = C, e.bias_rs = g->c_rs, e.bias_cs = g->c_cs;
  if (act) e.act = *act;
  ferry_fmat a = g->ta ? (ferry_fmat){A, 1, g->M} : (ferry_fmat){A, g->K, 1};
  ferry_fmat b = g->tb ? (ferry_fmat){B, 1, g->K} : (ferry_fmat){B, g->N, 1};
  return ferry_sgemm_const_b(k, g->M, g->N, g->K, a, b, Y, g->N, &e, b_const);
}

/* Gemm in a dtype without a fast path: the product, then alpha and C. */
static int gemm_plain(ferry_kctx *k, const gemmgeo *g) {
  const ferry_tview *a = &k->in[0], *b = &k->in[1];
  ferry_tview *o = &k->out[0];
  int dt = a->dtype;
  int64_t ars = g->ta ? 1 : g->K, acs = g->ta ? g->M : 1, brs = g->tb ? 1 : g->N, bcs = g->tb ? g->K : 1;
  if (!mm_plain(dt, g->M, g->N, g->K, a->data, ars, acs, b->data, brs, bcs, o->data))
    return ferry_kernel_fail(k, "Gemm does not support %s", ferry_dtype_name(dt));
  if (g->alpha == 1 && (!g->c || g->beta == 0)) return FERRY_OK;
  int is_float = ferry_dtype_is_float(dt);
  for (int64_t i = 0; i < g->M; i++)
    for (int64_t j = 0; j < g->N; j++) {
      int64_t at = i * g->N + j;
      double v = (double)g->alpha * (is_float ? ferry_load_f64(o->data, dt, at) : (double)ferry_load_i64(o->data, dt, at));
      if (g->c && g->beta != 0) v += (double)g->beta * ferry_load_f64(g->c->data, dt, i * g->c_rs + j * g->c_cs);
      if (is_float) {
        ferry_store_f64(o->data, dt, at, v);
      } else {
        v = v != v ? 0 : v < -9.2e18 ? -9.2e18 : v > 9.2e18 ? 9.2e18 : v; /* a defined conversion */
        ferry_store_i64(o->data, dt, at, (int64_t)v);
      }
    }
  return FERRY_OK;
}

static int gemm_common(ferry_kctx *k, int fused) {
  gemmgeo g;
  ferry_act act = {FERRY_ACT_NONE, 0, 0};
  int rc = gemm_geometry(k, &g);
  if (rc || (fused && (rc = ferry_act_read(k, &act)))) return rc;
  int dt = k->in[0].dtype;
  int64_t od[2] = {g.M, g.N};
  if ((rc = ferry_linalg_output(k, 0, dt, 2, od))) return rc;
  ferry_tview *o = &k->out[0];
  int b_const = (int)(k->const_in >> 1 & 1);
  if (dt == FERRY_F32)
    return gemm_f32(k, &g, k->in[0].data, k->in[1].data, g.c ? g.c->data : NULL, o->data, &act, b_const);
  if (is_half(dt) || fused) {
    if (!ferry_dtype_is_float(dt)) return ferry_kernel_fail(k, "FusedGemm needs a float dtype");
    float *A = ferry_linalg_f32_in(k, &k->in[0]), *B = A ? ferry_linalg_f32_in(k, &k->in[1]) : NULL;
    float *C = B && g.c ? ferry_linalg_f32_in(k, g.c) : NULL;
    float *Y = B && (C || !g.c) ? ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float)) : NULL;
    if (!Y) return FERRY_E_SYSTEM;
    if ((rc = gemm_f32(k, &g, A, B, C, Y, &act, b_const))) return rc;
    ferry_linalg_f32_out(Y, o);
    return FERRY_OK;
  }
  return gemm_plain(k, &g);
}

int ferry_kernel_Gemm(ferry_kctx *k) { return gemm_common(k, 0); }
int ferry_kernel_FusedGemm(ferry_kctx *k) { return gemm_common(k, 1); }

/* ---- integer products ---- */

static int is_8bit(int dt) { return dt == FERRY_U8 || dt == FERRY_I8; }

/* A zero point or scale of an operand with `batches` matrices of `rows`
 * rows (or columns): one value, one per row, or one per row of each
 * batch; idx() gives the element for (batch, row). */
typedef struct qparam {
  const ferry_tview *t; /* NULL: absent (0) */
  int64_t per;          /* 0: one value, else values per batch (rows) */
  int64_t batches;      /* 1: shared by the batches */
} qparam;

static int qparam_init(ferry_kctx *k, qparam *q, const ferry_tview *t, int64_t batches, int64_t rows, const char *name) {
  memset(q, 0, sizeof *q);
  q->batches = 1;
  if (!t || !t->data) return FERRY_OK;
  q->t = t;
  if (t->numel == 1) return FERRY_OK;
  if (t->numel == rows) {
    q->per = rows;
  } else if (t->numel == rows * batches) {
    q->per = rows;
    q->batches = batches;
  } else {
    return ferry_kernel_fail(k, "%s has %lld values, expected 1 or %lld", name, (long long)t->numel, (long long)rows);
  }
  return FERRY_OK;
}

static int64_t qparam_at(const qparam *q, int64_t batch, int64_t row) {
  if (!q->per) return 0;
  return (q->batches > 1 ? batch * q->per : 0) + row;
}

static int32_t qzero(const qparam *q, int64_t batch, int64_t row) {
  return q->t ? (int32_t)ferry_load_i64(q->t->data, q->t->dtype, qparam_at(q, batch, row)) : 0;
}

static float qscale(const qparam *q, int64_t batch, int64_t row) {
  return (float)ferry_load_f64(q->t->data, q->t->dtype, qparam_at(q, batch, row));
}

/* Element i of 8-bit data as an int32. */
static int32_t load8(const void *p, int dt, int64_t i) {
  return dt == FERRY_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

typedef struct qmm {
  mmgeo g;
  const ferry_tview *a, *b;
  qparam za, zb;
  int32_t *A, *B; /* one batch, zero points subtracted */
} qmm;

/* The int32 product of output batch bi into acc (M x N). */
static void qmm_batch(ferry_kctx *k, qmm *q, int64_t bi, int32_t *acc) {
  const mmgeo *g = &q->g;
  int64_t ao, bo;
  batch_offsets(g, bi, &ao, &bo);
  for (int64_t i = 0; i < g->M; i++) {
    int32_t z = qzero(&q->za, ao, i);
    for (int64_t p = 0; p < g->K; p++) q->A[i * g->K + p] = load8(q->a->data, q->a->dtype, (ao * g->M + i) * g->K + p) - z;
  }
  for (int64_t p = 0; p < g->K; p++)
    for (int64_t j = 0; j < g->N; j++)
      q->B[p * g->N + j] = load8(q->b->data, q->b->dtype, (bo * g->K + p) * g->N + j) - qzero(&q->zb, bo, j);
  ferry_igemm(k, g->M, g->N, g->K, q->A, q->B, acc);
}

/* Reads MatMulInteger/QLinearMatMul operands a = in[ai], b = in[bi] and
 * their zero points; allocates the per-batch buffers. */
static int qmm_setup(ferry_kctx *k, qmm *q, int ai, int azi, int bi, int bzi) {
  memset(q, 0, sizeof *q);
  if (k->n_in <= bi || !k->in[ai].data || !k->in[bi].data) return ferry_kernel_fail(k, "missing A or B");
  q->a = &k->in[ai], q->b = &k->in[bi];
  if (!is_8bit(q->a->dtype) || !is_8bit(q->b->dtype)) return ferry_kernel_fail(k, "A and B must be uint8 or int8");
  int rc = mm_geometry(k, q->a, q->b, &q->g);
  if (rc) return rc;
  const ferry_tview *za = azi < k->n_in ? &k->in[azi] : NULL, *zb = bzi < k->n_in ? &k->in[bzi] : NULL;
  if ((za && za->data && za->dtype != q->a->dtype) || (zb && zb->data && zb->dtype != q->b->dtype))
    return ferry_kernel_fail(k, "a zero point's dtype differs from its operand's");
  if ((rc = qparam_init(k, &q->za, za, q->g.a_batches, q->g.M, "a_zero_point")) ||
      (rc = qparam_init(k, &q->zb, zb, q->g.b_batches, q->g.N, "b_zero_point")))
    return rc;
  q->A = ferry_linalg_scratch(k, (size_t)(q->g.M * q->g.K) * sizeof(int32_t));
  q->B = q->A ? ferry_linalg_scratch(k, (size_t)(q->g.K * q->g.N) * sizeof(int32_t)) : NULL;
  return q->B ? FERRY_OK : FERRY_E_SYSTEM;
}

int ferry_kernel_MatMulInteger(ferry_kctx *k) {
  qmm q;
  int rc = qmm_setup(k, &q, 0, 2, 1, 3);
  if (rc || (rc = ferry_linalg_output(k, 0, FERRY_I32, q.g.orank, q.g.odims))) return rc;
  int32_t *y = k->out[0].data;
  for (int64_t bi = 0; bi < q.g.nbatch; bi++) qmm_batch(k, &q, bi, y + bi * q.g.M * q.g.N);
  return FERRY_OK;
}

/* round half to even, then saturate to the 8-bit dtype */
static void requantize(double v, int32_t zero, int dt, void *y, int64_t at) {
  double lo = dt == FERRY_U8 ? 0 : -128, hi = dt == FERRY_U8 ? 255 : 127;
  v = nearbyint(v) + zero;
  v = v != v ? zero : v < lo ? lo : v > hi ? hi : v;
  if (dt == FERRY_U8)
    ((uint8_t *)y)[at] = (uint8_t)v;
  else
    ((int8_t *)y)[at] = (int8_t)v;
}

/* a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point */
int ferry_kernel_QLinearMatMul(ferry_kctx *k) {
  qmm q;
  qparam as, bs, ys, yz;
  if (k->n_in < 8 || !k->in[1].data || !k->in[4].data || !k->in[6].data)
    return ferry_kernel_fail(k, "QLinearMatMul needs 8 inputs with scales");
  int rc = qmm_setup(k, &q, 0, 2, 3, 5);
  if (rc) return rc;
  const mmgeo *g = &q.g;
  if ((rc = qparam_init(k, &as, &k->in[1], g->a_batches, g->M, "a_scale")) ||
      (rc = qparam_init(k, &bs, &k->in[4], g->b_batches, g->N, "b_scale")) ||
      (rc = qparam_init(k, &ys, &k->in[6], g->a_batches, g->M, "y_scale")) ||
      (rc = qparam_init(k, &yz, k->in[7].data ? &k->in[7] : NULL, g->a_batches, g->M, "y_zero_point")))
    return rc;
  int dt = k->in[7].data ? k->in[7].dtype : q.a->dtype;
  if (!is_8bit(dt)) return ferry_kernel_fail(k, "y_zero_point must be uint8 or int8");
  if ((rc = ferry_linalg_output(k, 0, dt, g->orank, g->odims))) return rc;
  int32_t *acc = ferry_linalg_scratch(k, (size_t)(g->M * g->N) * sizeof(int32_t));
  if (!acc) return FERRY_E_SYSTEM;
  for (int64_t bi = 0; bi < g->nbatch; bi++) {
    int64_t ao, bo;
    batch_offsets(g, bi, &ao, &bo);
    qmm_batch(k, &q, bi, acc);
    for (int64_t i = 0; i < g->M; i++) {
      float sa = qscale(&as, ao, i), sy = qscale(&ys, ao, i);
      int32_t zy = qzero(&yz, ao, i);
      for (int64_t j = 0; j < g->N; j++) {
        float m = sa * qscale(&bs, bo, j) / sy;
        requantize((double)acc[i * g->N + j] * m, zy, dt, k->out[0].data, (bi * g->M + i) * g->N + j);
      }
    }
  }
  return FERRY_OK;
}
