/*
 * attention.c - ferry.Attention, what convert/pass_fuse_nlp.c's
 * fuse-attention makes of MatMul [scale] [Add mask] Softmax MatMul:
 *
 *   Y = Softmax(Q @ K * scale + mask, last axis) @ V
 *
 * Q [.., Sq, D], K [.., D, Sk] (already transposed: the first MatMul's
 * right operand), V [.., Sk, Dv], mask (optional, input 3) broadcast onto
 * the scores [.., Sq, Sk]; the batch dims of Q, K and V broadcast as
 * numpy's matmul does, and the mask must broadcast into the result's batch
 * (a mask that would enlarge it is refused, since the op's shape rule does
 * not see it). Inputs need rank >= 2.
 *
 * att_plan() checks the shapes and works out broadcast strides; the work
 * is then split into tasks of up to `rb` query rows of one batch-head (a
 * head's rows are cut into several tasks only for several threads: with
 * k->threads 1, as in wasm, rb is as large as ATT_BLOCK allows), run
 * in a fixed number of slots over k->parallel, each slot with its own
 * workspace: one block of scores plus the GEMM's packing buffers. A task
 * runs the project's GEMM (gemm.h, ferry_sgemm_serial) twice: scores =
 * Q_rows @ K with the scale and the mask applied in its epilogue (alpha and
 * a strided bias), then a numerically stable softmax of each row (the
 * vector exp of nn_util.c, as the Softmax kernel uses), then Y_rows =
 * P @ V; the softmax's division by each row's sum is done on Y's Dv values
 * of the row rather than on its Sk probabilities. The scores never exist
 * whole, unlike in the unfused graph.
 * float16/bfloat16/float64 inputs run through float32 copies.
 *
 * With attribute bshd = 1, Q, K and V come as the heads' projections are
 * made, [B, S, H, D] (K not transposed), and Y goes out as [B, Sq, H, Dv]:
 * the Transposes around attention that exporters write (Q and V perm
 * 0,2,1,3, K 0,2,3,1, Y 0,2,1,3), which the pass folds in. The GEMMs read
 * the same operands through strides (att_view); nothing is copied.
 *
 * A bool mask (attribute mask_fill: the Where form of masked_fill, GPT's
 * causal mask) replaces the scores by mask_fill where the mask does not
 * keep them (mask_keep: the mask's value that keeps a score, default 0)
 * instead of being added. When the fill is hugely negative (<= -1e30,
 * -inf included) its exp is exactly 0 next to any kept score, so a task
 * computes only the columns between its rows' first and last kept ones
 * (mask_span): about half the work under a causal mask. Where each row
 * keeps one run of columns (causal, window and padding masks), the task
 * fills nothing: each row's softmax runs over its run and leaves zeros
 * elsewhere (softmax_runs), and a mask the same for every batch-head has
 * its runs found once for all tasks (att_runs). A task with a row that
 * keeps nothing, or whose kept scores are themselves below -1e30, takes
 * whole rows, filled, as the unfused graph does.
 *
 * Under such a bool mask (a causal one: rows of 16 at most, a span each)
 * tasks take the transposed form first (att_task_t): the task's queries
 * are the columns of both products, so the scores come out a key per row,
 * already the packed B panel of the second product, and the softmax runs
 * down the columns in whole vectors. K and V^T are packed once per
 * batch-head as A operands. GPT-tiny's attention (heads of 16, 128
 * positions) took 0.5-0.75x the time natively. Without a bool mask
 * (BERT's padding masks are additive) the row form's tasks are larger
 * (up to ATT_BLOCK scores) and stay it: the transposed form with NR
 * queries a task measured 7-8% slower there.
 */
#include <string.h>

#include "gemm.h"
#include "misc.h"
#include "nn.h"
#include "simd.h"
#include "util.h"

#define ATT_SLOTS 32        /* workspaces / parallel slots */
#define ATT_BLOCK 16384     /* floats of scores per task, at most (64 KiB) */
#define ATT_MIN_ROWS 8      /* fewer rows per task than this waste the packing of K */
#define ATT_PACK_BUDGET ((size_t)8 << 20) /* floats of packed K and V for all batch-heads, at most */
#ifndef ATT_SPAN_ROWS
#define ATT_SPAN_ROWS 16    /* rows per task at most when masked columns can be left out */
#endif
#ifndef ATT_TR
#define ATT_TR 1            /* the transposed form (att_task_t); 0 for comparisons */
#endif
#define ATT_TR_SK 4096      /* keys at most for it: a slot holds [Sk, NR] scores */
#define NR FERRY_GEMM_NR

typedef struct att {
  int brank;                      /* rank of the broadcast batch dims */
  int64_t bdims[FERRY_MAX_RANK];  /* batch dims, then [Sq, Sk] (mask strides use them) */
  int64_t nb, Sq, Sk, D, Dv;
  /* strides in the scores' batch (0 where broadcast), then of the two
   * matrix dims: Q [Sq, D], K [D, Sk], V [Sk, Dv], mask and Y [Sq, Dv] */
  int64_t qst[FERRY_MAX_RANK], kst[FERRY_MAX_RANK], vst[FERRY_MAX_RANK], mst[FERRY_MAX_RANK], yst[FERRY_MAX_RANK];
  const float *q, *k, *v, *mask; /* mask NULL when absent */
  const uint8_t *cond;            /* the bool mask (mask_fill given), else NULL */
  float scale, fill;
  int keep;                       /* cond's value that keeps a score */
  int span;                       /* fill low enough to skip masked columns */
  float *y;
  int64_t rb, nrb, n_tasks, n_slots;
  size_t slot_floats, score_floats, inv_floats;
  float *ws;
  float *pk, *pv;                 /* K and V of every batch-head packed once (att_pack), or NULL */
  int tr;                         /* tasks take the transposed form first (att_task_t) */
  float *pkt, *pvt;               /* its K and V^T of every batch-head packed once as A operands, or NULL */
  int64_t pkt_n, pvt_n;           /* floats per batch-head in each */
  size_t work_off;                /* floats from a slot's start to its GEMM workspace */
  const int64_t *runs;            /* each query row's run of kept columns, the same for every batch-head (att_runs), or NULL */
  int64_t pk_n, pv_n;             /* floats per batch-head in each */
} att;

/* Layout bshd: how Q and V ([B, S, H, D] -> [B, H, S, D]), K ([B, S, H, D]
 * -> [B, H, D, S]) and Y are seen. */
static const int perm_qv[4] = {0, 2, 1, 3}, perm_k[4] = {0, 2, 3, 1};

/* Operand t as the kernel sees it: its dims through perm (NULL: as they
 * are) into *lv (rank and dims only), its strides likewise into st. */
static void att_view(const ferry_tview *t, const int *perm, ferry_tview *lv, int64_t *st) {
  int64_t own[FERRY_MAX_RANK];
  ferry_strides(t->rank, t->dims, own);
  lv->rank = t->rank;
  for (int i = 0; i < t->rank; i++) {
    int j = perm ? perm[i] : i;
    lv->dims[i] = t->dims[j], st[i] = own[j];
  }
}

/* Broadcasts the batch dims (all but the last two) of t into a->bdims. */
static int batch_broadcast(ferry_kctx *k, att *a, const ferry_tview *t, const char *name) {
  int r = t->rank - 2;
  if (r > a->brank) {
    memmove(a->bdims + (r - a->brank), a->bdims, (size_t)a->brank * sizeof *a->bdims);
    for (int i = 0; i < r - a->brank; i++) a->bdims[i] = 1;
    a->brank = r;
  }
  for (int i = 0; i < r; i++) {
    int64_t d = t->dims[i], *o = &a->bdims[a->brank - r + i];
    if (d == *o || d == 1) continue;
    if (*o != 1) return ferry_kernel_fail(k, "%s's batch dims do not broadcast with the others", name);
    *o = d;
  }
  return FERRY_OK;
}

/* Checks Q, K, V (as seen: q, kk, v) and the mask, and fills the geometry of *a. */
static int att_shapes(ferry_kctx *k, att *a, const ferry_tview *q, const ferry_tview *kk, const ferry_tview *v,
                      const ferry_tview *m) {
  if (q->rank < 2 || kk->rank < 2 || v->rank < 2)
    return ferry_kernel_fail(k, "Q, K and V need rank >= 2, got %d, %d and %d", q->rank, kk->rank, v->rank);
  a->Sq = q->dims[q->rank - 2], a->D = q->dims[q->rank - 1];
  a->Sk = kk->dims[kk->rank - 1], a->Dv = v->dims[v->rank - 1];
  if (kk->dims[kk->rank - 2] != a->D || v->dims[v->rank - 2] != a->Sk)
    return ferry_kernel_fail(k, "Q [.., %lld, %lld], K [.., %lld, %lld] and V [.., %lld, %lld] do not chain",
                             (long long)a->Sq, (long long)a->D, (long long)kk->dims[kk->rank - 2], (long long)a->Sk,
                             (long long)v->dims[v->rank - 2], (long long)a->Dv);
  a->brank = 0;
  int rc;
  if ((rc = batch_broadcast(k, a, q, "Q")) || (rc = batch_broadcast(k, a, kk, "K")) ||
      (rc = batch_broadcast(k, a, v, "V")))
    return rc;
  a->nb = ferry_nn_prod(a->bdims, 0, a->brank);
  a->bdims[a->brank] = a->Sq, a->bdims[a->brank + 1] = a->Sk; /* the scores' shape */
  if (!m) return FERRY_OK;
  if (m->rank > a->brank + 2) return ferry_kernel_fail(k, "the mask has a higher rank than the scores");
  for (int i = 0; i < m->rank; i++) {
    int64_t d = m->dims[i], s = a->bdims[a->brank + 2 - m->rank + i];
    if (d != s && d != 1) return ferry_kernel_fail(k, "the mask does not broadcast onto the scores");
  }
  return FERRY_OK;
}

/* Strides of t's batch dims (and of its last two) in the scores' batch,
 * with the last two dims as t's own: [batch.., r, c]. */
static void att_strides(const att *a, const ferry_tview *t, int64_t r, int64_t c, int64_t *st) {
  int64_t od[FERRY_MAX_RANK];
  memcpy(od, a->bdims, (size_t)a->brank * sizeof *od);
  od[a->brank] = r, od[a->brank + 1] = c;
  ferry_broadcast_strides(t, a->brank + 2, od, st);
}

/* The same for an operand seen as lv with strides own (att_view): a batch
 * dim of 1 (or a missing one) broadcasts, stride 0. */
static void view_strides(const att *a, const ferry_tview *lv, const int64_t *own, int64_t *st) {
  int lead = a->brank + 2 - lv->rank;
  for (int i = 0; i < a->brank + 2; i++) {
    int j = i - lead;
    st[i] = j < 0 || (i < a->brank && lv->dims[j] == 1) ? 0 : own[j];
  }
}

/* Query rows per task, tasks and slots, and the workspace. */
static int att_plan(ferry_kctx *k, att *a) {
  int64_t rb = a->Sk > 0 ? ATT_BLOCK / a->Sk : a->Sq, per = k->threads == 1 ? 1 : (ATT_SLOTS + a->nb - 1) / a->nb;
  if (per > 1 && (a->Sq + per - 1) / per < rb) rb = (a->Sq + per - 1) / per; /* enough tasks for the threads */
  if (a->cond && a->span && rb > ATT_SPAN_ROWS) rb = ATT_SPAN_ROWS; /* a causal mask's span grows row by row */
  if (rb < ATT_MIN_ROWS) rb = ATT_MIN_ROWS;
  a->tr = ATT_TR && a->cond && a->span && a->D > 0 && a->D <= FERRY_GEMM_KC && a->Sk > 0 && a->Sk <= ATT_TR_SK &&
          a->Dv > 0;
  if (a->tr) rb = NR; /* a task's queries: one B panel */
  if (rb > a->Sq) rb = a->Sq;
  a->rb = rb;
  a->nrb = (a->Sq + rb - 1) / rb;
  a->n_tasks = a->nb * a->nrb;
  a->n_slots = a->n_tasks < ATT_SLOTS ? a->n_tasks : ATT_SLOTS;
  size_t w1 = ferry_sgemm_work(rb, a->Sk, a->D), w2 = ferry_sgemm_work(rb, a->Dv, a->Sk), w = w1 > w2 ? w1 : w2;
  if (a->tr) { /* its two products' workspace, and Y^T's block (Dv x NR) */
    size_t w3 = ferry_sgemm_work(a->Sk, NR, a->D), w4 = ferry_sgemm_work(a->Dv, NR, a->Sk);
    w = w3 > w ? w3 : w, w = w4 > w ? w4 : w;
  }
  int64_t rw = a->tr ? NR : rb; /* the transposed form's scores and sums are NR columns wide */
  a->score_floats = ((size_t)(rw * a->Sk) + 15) / 16 * 16; /* keeps every buffer 64-byte aligned */
  a->inv_floats = ((size_t)rw + 15) / 16 * 16;
  a->work_off = a->score_floats + a->inv_floats + (a->tr ? ((size_t)(a->Dv * NR) + 15) / 16 * 16 : 0);
  a->slot_floats = a->work_off + (w + 15) / 16 * 16;
  if ((double)a->slot_floats * (double)a->n_slots > 9.0e18) return ferry_kernel_fail(k, "attention too large");
  /* K and V packed once per batch-head when several tasks share them:
   * as B operands, or for the transposed form as A operands (V^T only
   * when its K, Sk, is one k-block) */
  if (a->tr) {
    a->pk_n = (int64_t)(ferry_sgemm_pack_a_size(a->Sk, a->D) + 15) / 16 * 16;
    a->pv_n = a->Sk <= FERRY_GEMM_KC ? (int64_t)(ferry_sgemm_pack_a_size(a->Dv, a->Sk) + 15) / 16 * 16 : 0;
  } else {
    a->pk_n = (int64_t)(ferry_sgemm_pack_b_size(a->D, a->Sk) + 15) / 16 * 16;
    a->pv_n = (int64_t)(ferry_sgemm_pack_b_size(a->Sk, a->Dv) + 15) / 16 * 16;
  }
  double packs = a->nrb > 1 && a->D > 0 && a->Sk > 0 && a->Dv > 0 ? (double)a->nb * (double)(a->pk_n + a->pv_n) : 0;
  if (packs > (double)ATT_PACK_BUDGET) packs = 0;
  a->ws = ferry_nn_scratch(k, (int64_t)a->slot_floats * a->n_slots + (int64_t)packs, sizeof(float));
  if (!a->ws) return FERRY_E_SYSTEM;
  float *pk = packs ? a->ws + a->slot_floats * (size_t)a->n_slots : NULL, *pv = pk ? pk + a->nb * a->pk_n : NULL;
  if (a->tr)
    a->pkt = pk, a->pvt = a->pv_n ? pv : NULL;
  else
    a->pk = pk, a->pv = pv;
  return FERRY_OK;
}

/* Packs K and V of batch-heads [begin, end) as the GEMM's B operands. */
static void att_pack(void *arg, int64_t begin, int64_t end) {
  const att *a = arg;
  const int64_t *ks = a->kst + a->brank, *vs = a->vst + a->brank;
  for (int64_t b = begin; b < end; b++) {
    int64_t ko = ferry_broadcast_offset(b, a->brank, a->bdims, a->kst);
    int64_t vo = ferry_broadcast_offset(b, a->brank, a->bdims, a->vst);
    if (a->tr) { /* K [Sk, D] and V^T [Dv, Sk] as A operands */
      ferry_sgemm_pack_a(a->Sk, a->D, (ferry_fmat){a->k + ko, ks[1], ks[0]}, a->pkt + b * a->pk_n);
      if (a->pvt) ferry_sgemm_pack_a(a->Dv, a->Sk, (ferry_fmat){a->v + vo, vs[1], vs[0]}, a->pvt + b * a->pv_n);
      continue;
    }
    ferry_sgemm_pack_b(a->D, a->Sk, (ferry_fmat){a->k + ko, a->kst[a->brank], a->kst[a->brank + 1]},
                       a->pk + b * a->pk_n);
    ferry_sgemm_pack_b(a->Sk, a->Dv, (ferry_fmat){a->v + vo, a->vst[a->brank], a->vst[a->brank + 1]},
                       a->pv + b * a->pv_n);
  }
}

#define ATT_FILL_SKIP (-1e30f) /* a fill this low has exp 0 next to any kept score */

/* 1 / a row's exp sum, for att_task to scale its output row by: P @ V
 * is taken over the unnormalized exps, and its Dv values a row are
 * scaled instead of the row's n probabilities. */
static float inv_sum(float sum) { return sum > 0 ? 1.0f / sum : 0.0f; }

/* Softmax of each of `rows` rows of n floats, in place, but for the
 * division by each row's sum: its inverse goes to inv[row]. With `guard`:
 * nothing done, and 1 returned, when a row's largest value is below
 * ATT_FILL_SKIP (columns left out would not have counted 0). */
static int softmax_rows(float *s, int64_t rows, int64_t n, int guard, float *inv) {
  float mx[ATT_SPAN_ROWS]; /* the guard's row maxima, not computed twice (guard: rows <= ATT_SPAN_ROWS) */
  int kept = guard && rows <= ATT_SPAN_ROWS;
  for (int64_t i = 0; guard && i < rows; i++) {
    float m = ferry_nn_max_f32(s + i * n, n);
    if (!(m >= ATT_FILL_SKIP)) return 1;
    if (kept) mx[i] = m;
  }
  for (int64_t i = 0; i < rows; i++) {
    float *r = s + i * n;
    float m = kept ? mx[i] : ferry_nn_max_f32(r, n);
    inv[i] = inv_sum(ferry_nn_exp_sum_f32(r, r, n, m));
  }
  return 0;
}

/* Whether one of the 8 mask bytes at c keeps its score. */
static int word_keeps(const att *a, const uint8_t *c) {
  uint64_t w;
  memcpy(&w, c, sizeof w);
  if (a->keep) return w != 0;
  return ((w - 0x0101010101010101u) & ~w & 0x8080808080808080u) != 0; /* a zero byte */
}

/* Whether all 8 mask bytes at c keep their scores. */
static int word_keeps_all(const att *a, const uint8_t *c) {
  uint64_t w;
  memcpy(&w, c, sizeof w);
  if (!a->keep) return w == 0;
  return ((w - 0x0101010101010101u) & ~w & 0x8080808080808080u) == 0; /* no zero byte */
}

/* The first and last column that mask row c (columns cs apart) keeps,
 * into *f and *l; 0 when it keeps none. */
static int row_span(const att *a, const uint8_t *c, int64_t cs, int64_t *f, int64_t *l) {
  int64_t i = 0, j = a->Sk - 1;
  while (i + 8 <= a->Sk && cs == 1 && !word_keeps(a, c + i)) i += 8;
  while (i < a->Sk && (c[i * cs] != 0) != a->keep) i++;
  if (i == a->Sk) return 0;
  while (j - 8 >= i && cs == 1 && !word_keeps(a, c + j - 7)) j -= 8;
  while ((c[j * cs] != 0) != a->keep) j--;
  *f = i, *l = j;
  return 1;
}

/* Whether contiguous mask row c keeps every column from f to l. */
static int row_keeps_run(const att *a, const uint8_t *c, int64_t f, int64_t l) {
  int64_t j = f;
  for (; j + 8 <= l + 1; j += 8)
    if (!word_keeps_all(a, c + j)) return 0;
  for (; j <= l; j++)
    if ((c[j] != 0) != a->keep) return 0;
  return 1;
}

/* The columns [*lo, *hi) that hold every kept score of `rows` rows of the
 * bool mask from c (rows mst[brank] apart, columns mst[brank + 1]); 0 when
 * one of the rows keeps none. With run (room for 2 * rows values): 1 in
 * *runs when each row keeps one run of columns, a causal or a padding
 * mask's rows, run[2 i] to run[2 i + 1] (contiguous columns only). */
static int mask_span(const att *a, const uint8_t *c0, int64_t rows, int64_t *lo, int64_t *hi, int64_t *run,
                     int *runs) {
  int64_t cs = a->mst[a->brank + 1];
  *lo = a->Sk, *hi = 0, *runs = run && cs == 1;
  for (int64_t i = 0; i < rows; i++) {
    const uint8_t *c = c0 + i * a->mst[a->brank];
    int64_t f, l;
    if (!row_span(a, c, cs, &f, &l)) return 0;
    if (*runs && !row_keeps_run(a, c, f, l)) *runs = 0;
    if (*runs) run[2 * i] = f, run[2 * i + 1] = l;
    if (f < *lo) *lo = f;
    if (l + 1 > *hi) *hi = l + 1;
  }
  return 1;
}

/* Softmax of each of `rows` score rows (n floats from column j0) over its
 * run of kept columns (mask_span), zeros in the others: what the fill and
 * a softmax of the whole row give when the fill's exp is exactly 0, which
 * holds when each row's largest kept score is at least ATT_FILL_SKIP and
 * more than 100 over the fill (the exp is 0 below -88); else nothing done
 * and 1 returned. Costs no mask_fill, and no exp of a masked score. */
static int softmax_runs(const att *a, float *s, int64_t rows, int64_t n, int64_t j0, const int64_t *run,
                        float *inv) {
  float mx[ATT_SPAN_ROWS];
  if (rows > ATT_SPAN_ROWS) return 1;
  for (int64_t i = 0; i < rows; i++) {
    float m = ferry_nn_max_f32(s + i * n + run[2 * i] - j0, run[2 * i + 1] - run[2 * i] + 1);
    if (!(m >= ATT_FILL_SKIP && m - a->fill > 100.0f)) return 1;
    mx[i] = m;
  }
  for (int64_t i = 0; i < rows; i++) {
    float *r = s + i * n;
    int64_t b = run[2 * i] - j0, e = run[2 * i + 1] + 1 - j0;
    f32_zero(r, b);
    f32_zero(r + e, n - e);
    inv[i] = inv_sum(ferry_nn_exp_sum_f32(r + b, r + b, e - b, mx[i]));
  }
  return 0;
}

/* The fill into columns [lo, lo + n) of `rows` score rows (n floats apart)
 * wherever the bool mask's rows from c0 do not keep them. */
static void mask_fill(const att *a, const uint8_t *c0, int64_t rows, int64_t lo, int64_t n, float *s) {
  int64_t cs = a->mst[a->brank + 1];
  for (int64_t i = 0; i < rows; i++) {
    const uint8_t *c = c0 + i * a->mst[a->brank] + lo * cs;
    float *r = s + i * n;
    int64_t j = 0;
    if (cs == 1) { /* four at a time: the bytes widened into lane masks */
      f32x4 fill = f32x4_splat(a->fill);
      i32x4 keep = (i32x4){0} + a->keep;
      for (; j + 4 <= n; j += 4) {
        uint8_t cb[4];
        memcpy(cb, c + j, 4);
        i32x4 m = ((i32x4){cb[0], cb[1], cb[2], cb[3]} != 0) == (keep != 0); /* lanes kept */
        f32x4 v = f32x4_load(r + j);
        f32x4_store(r + j, (f32x4)((m & (i32x4)v) | (~m & (i32x4)fill)));
      }
    }
    for (; j < n; j++)
      if ((c[j * cs] != 0) != a->keep) r[j] = a->fill;
  }
}

/* One task: rows [r0, r0 + rows) of batch-head b. */
static void att_task(const att *a, int64_t b, int64_t r0, int64_t rows, float *ws) {
  float *s = ws, *inv = ws + a->score_floats, *work = ws + a->work_off; /* inv: rows' 1 / exp sums */
  int64_t qo = ferry_broadcast_offset(b, a->brank, a->bdims, a->qst) + r0 * a->qst[a->brank];
  int64_t ko = ferry_broadcast_offset(b, a->brank, a->bdims, a->kst);
  int64_t vo = ferry_broadcast_offset(b, a->brank, a->bdims, a->vst);
  ferry_gemm_epi e1, e2;
  ferry_gemm_epi_init(&e1);
  ferry_gemm_epi_init(&e2);
  e1.alpha = a->scale;
  if (a->mask && !a->cond) {
    int64_t rs = a->mst[a->brank];
    e1.bias = a->mask + ferry_broadcast_offset(b, a->brank, a->bdims, a->mst) + r0 * rs;
    e1.bias_rs = rs, e1.bias_cs = a->mst[a->brank + 1];
  }
  /* the columns [lo, hi) of the scores that count: all, or a bool mask's span */
  int64_t lo = 0, hi = a->Sk;
  const uint8_t *c0 = a->cond ? a->cond + ferry_broadcast_offset(b, a->brank, a->bdims, a->mst) + r0 * a->mst[a->brank]
                              : NULL;
  int64_t own[2 * ATT_SPAN_ROWS];
  const int64_t *run = a->runs ? a->runs + 2 * r0 : own;
  int runs = 0, span = 0;
  if (c0 && a->span && a->runs) { /* the rows' runs found once (att_runs): their span */
    span = runs = 1, lo = a->Sk, hi = 0;
    for (int64_t i = 0; i < rows; i++) {
      lo = run[2 * i] < lo ? run[2 * i] : lo;
      hi = run[2 * i + 1] + 1 > hi ? run[2 * i + 1] + 1 : hi;
    }
  } else if (c0 && a->span) {
    span = mask_span(a, c0, rows, &lo, &hi, rows <= ATT_SPAN_ROWS ? own : NULL, &runs);
  }
  if (!span) lo = 0, hi = a->Sk, runs = 0;
  for (;;) {
    /* packed K starts at a panel: from lo's (its columns before lo are
     * masked in every row of the task, so they add exact zeros) */
    int64_t j0 = a->pk ? lo - lo % ferry_sgemm_b_panel() : lo, n = hi - j0;
    const int64_t *ks = a->kst + a->brank, *vs = a->vst + a->brank;
    ferry_gemm_b K = {{a->k + ko + j0 * ks[1], ks[0], ks[1]}, NULL, NULL};
    ferry_gemm_b V = {{a->v + vo + j0 * vs[0], vs[0], vs[1]}, NULL, NULL};
    ferry_gemm_pre pre_k = {NULL, a->pk ? ferry_sgemm_packed_b_at(a->pk + b * a->pk_n, a->D, 0, j0) : NULL, a->D, 0};
    ferry_gemm_pre pre_v = {NULL, a->pv ? ferry_sgemm_packed_b_at(a->pv + b * a->pv_n, a->Sk, j0, 0) : NULL, a->Sk, 0};
    ferry_sgemm_serial_pre(rows, n, a->D, (ferry_fmat){a->q + qo, a->qst[a->brank], a->qst[a->brank + 1]}, &K, s, n,
                           &e1, work, &pre_k);
    if (c0 && !runs) mask_fill(a, c0, rows, j0, n, s);
    if (runs ? softmax_runs(a, s, rows, n, j0, run, inv) : softmax_rows(s, rows, n, span && n < a->Sk, inv)) {
      lo = 0, hi = a->Sk, span = runs = 0; /* a kept score below the bound: whole rows, filled */
      continue;
    }
    int64_t yo = ferry_broadcast_offset(b, a->brank, a->bdims, a->yst) + r0 * a->yst[a->brank];
    float *y = a->y + yo;
    ferry_sgemm_serial_pre(rows, a->Dv, n, (ferry_fmat){s, n, 1}, &V, y, a->yst[a->brank], &e2, work, &pre_v);
    for (int64_t i = 0; i < rows; i++) {
      float *yr = y + i * a->yst[a->brank];
      ferry_nn_affine_f32(yr, yr, a->Dv, inv[i], 0.0f);
    }
    return;
  }
}

/* The transposed form of a task (a->tr): its rows of queries (at most
 * NR) are the columns of both products, so the scores come out with a
 * key per row, [n, NR] - one packed B panel, which the second product
 * reads as it is:
 *   S^T = K_keys @ Q_rows^T   (M n keys, N rows, K D; the scale and an
 *                              additive mask in the epilogue, transposed)
 *   softmax down the columns  (ferry_nn_softmax_cols_f32: whole vectors,
 *                              no tails, no horizontal sums)
 *   Y^T = V^T @ S^T           (M Dv, N rows, K n keys)
 * and Y's rows are Y^T's columns times their 1 / exp sum. Nothing is
 * packed per task but Q's rows (D x rows): K and V^T are packed once per
 * batch-head as A operands (att_pack), the scores never. A bool mask
 * counts when its rows keep one run of columns each (causal, padding):
 * the runs bound each column's softmax, and keys before all of them are
 * left out. Returns 1, having written nothing to Y, where it does not
 * apply (a bool mask's row without a run, or kept scores below the
 * bound softmax_runs checks): att_task then does the rows. */
static int att_task_t(const att *a, int64_t b, int64_t r0, int64_t rows, float *ws) {
  float *st = ws, *inv = ws + a->score_floats, *yt = inv + a->inv_floats, *work = ws + a->work_off;
  const int64_t *qs = a->qst + a->brank, *ks = a->kst + a->brank, *vs = a->vst + a->brank, *ys = a->yst + a->brank;
  int64_t qo = ferry_broadcast_offset(b, a->brank, a->bdims, a->qst) + r0 * qs[0];
  int64_t ko = ferry_broadcast_offset(b, a->brank, a->bdims, a->kst);
  int64_t vo = ferry_broadcast_offset(b, a->brank, a->bdims, a->vst);
  int64_t yo = ferry_broadcast_offset(b, a->brank, a->bdims, a->yst) + r0 * ys[0];
  int64_t lo = 0, hi = a->Sk;
  int32_t clo[NR], chi[NR]; /* each column's kept keys, from the scores' first row j0 */
  const int64_t *run = NULL;
  int64_t own[2 * ATT_SPAN_ROWS];
  if (a->cond) { /* the rows' runs of kept keys (a->span holds: att_plan) */
    int runs = 1;
    run = a->runs ? a->runs + 2 * r0 : own;
    if (!a->runs && !mask_span(a, a->cond + ferry_broadcast_offset(b, a->brank, a->bdims, a->mst) + r0 * a->mst[a->brank],
                               rows, &lo, &hi, own, &runs))
      return 1;
    if (!runs) return 1;
    lo = a->Sk, hi = 0;
    for (int64_t i = 0; i < rows; i++) {
      lo = run[2 * i] < lo ? run[2 * i] : lo;
      hi = run[2 * i + 1] + 1 > hi ? run[2 * i + 1] + 1 : hi;
    }
  }
  int64_t mr = ferry_sgemm_a_panel(), j0 = a->pkt ? lo - lo % mr : lo, n = hi - j0;
  if (run)
    for (int j = 0; j < NR; j++) {
      clo[j] = j < rows ? (int32_t)(run[2 * j] - j0) : 0; /* columns past rows: any finite values, unused */
      chi[j] = j < rows ? (int32_t)(run[2 * j + 1] - j0) : (int32_t)(n - 1);
    }
  ferry_gemm_epi e1, e2;
  ferry_gemm_epi_init(&e1);
  ferry_gemm_epi_init(&e2);
  e1.alpha = a->scale;
  if (a->mask && !a->cond) { /* the mask's (query, key) is S^T's (key, query) */
    const int64_t *ms = a->mst + a->brank;
    e1.bias = a->mask + ferry_broadcast_offset(b, a->brank, a->bdims, a->mst) + r0 * ms[0] + j0 * ms[1];
    e1.bias_rs = ms[1], e1.bias_cs = ms[0];
  }
  if (rows < NR) f32_zero(st, n * NR); /* the columns past rows: finite */
  ferry_gemm_b Q = {{a->q + qo, qs[1], qs[0]}, NULL, NULL};
  ferry_gemm_pre pre1 = {a->pkt ? ferry_sgemm_packed_a_at(a->pkt + b * a->pk_n, a->D, j0, 0) : NULL, NULL, 0, 0};
  ferry_sgemm_serial_pre(n, rows, a->D, (ferry_fmat){a->k + ko + j0 * ks[1], ks[1], ks[0]}, &Q, st, NR, &e1, work,
                         &pre1);
  float mx[NR];
  ferry_nn_softmax_cols_f32(st, n, NR, run ? clo : NULL, run ? chi : NULL, mx, inv);
  for (int64_t j = 0; run && j < rows; j++)
    if (!(mx[j] >= ATT_FILL_SKIP && mx[j] - a->fill > 100.0f)) return 1; /* as softmax_runs */
  ferry_gemm_b S = {{st, NR, 1}, NULL, NULL};
  ferry_gemm_pre pre2 = {a->pvt ? ferry_sgemm_packed_a_at(a->pvt + b * a->pv_n, a->Sk, 0, j0) : NULL, st, n,
                         a->pvt ? a->Sk : 0};
  ferry_sgemm_serial_pre(a->Dv, rows, n, (ferry_fmat){a->v + vo + j0 * vs[0], vs[1], vs[0]}, &S, yt, NR, &e2, work,
                         &pre2);
  for (int64_t j = 0; j < rows; j++) {
    float *y = a->y + yo + j * ys[0], f = inv[j];
    for (int64_t d = 0; d < a->Dv; d++) y[d * ys[1]] = yt[d * NR + j] * f;
  }
  return 0;
}

/* A bool mask that is the same for every batch-head (batch strides 0,
 * contiguous columns: a causal mask) and whose every query row keeps one
 * run of columns has its runs found once here for all the tasks
 * (a->runs, 2 Sq values); otherwise each task scans its own rows. */
static int att_runs(ferry_kctx *k, att *a) {
  if (!a->cond || !a->span || a->mst[a->brank + 1] != 1) return FERRY_OK;
  for (int i = 0; i < a->brank; i++)
    if (a->mst[i]) return FERRY_OK;
  int64_t *run = ferry_nn_scratch(k, 2 * a->Sq, sizeof *run);
  if (!run) return FERRY_E_SYSTEM;
  for (int64_t i = 0; i < a->Sq; i++) {
    const uint8_t *c = a->cond + i * a->mst[a->brank];
    if (!row_span(a, c, 1, &run[2 * i], &run[2 * i + 1]) || !row_keeps_run(a, c, run[2 * i], run[2 * i + 1]))
      return FERRY_OK;
  }
  a->runs = run;
  return FERRY_OK;
}

static void slots_task(void *arg, int64_t begin, int64_t end) {
  const att *a = arg;
  for (int64_t s = begin; s < end; s++)
    for (int64_t t = s * a->n_tasks / a->n_slots; t < (s + 1) * a->n_tasks / a->n_slots; t++) {
      int64_t b = t / a->nrb, r0 = (t % a->nrb) * a->rb, rows = a->Sq - r0 < a->rb ? a->Sq - r0 : a->rb;
      float *ws = a->ws + (size_t)s * a->slot_floats;
      if (!a->tr || att_task_t(a, b, r0, rows, ws)) att_task(a, b, r0, rows, ws);
    }
}

/* The input as float32 (converted into scratch unless it is float32); an
 * empty one as a dummy pointer the GEMM never reads (offsets from NULL are
 * undefined). */
static const float *f32_input(ferry_kctx *k, const ferry_tview *t, int *rc) {
  static const float none[1];
  if (t->numel == 0 || !t->data) return none;
  if (t->dtype == FERRY_F32) return t->data;
  const float *p = ferry_linalg_f32_in(k, t);
  if (!p) *rc = FERRY_E_SYSTEM;
  return p;
}

int ferry_kernel_Attention(ferry_kctx *k) {
  if (k->n_in < 3) return ferry_kernel_fail(k, "needs Q, K and V");
  const ferry_tview *m = k->n_in > 3 && k->in[3].dtype ? &k->in[3] : NULL;
  if (ferry_attr_int(k->sctx, "has_mask", m != NULL) && !m) return ferry_kernel_fail(k, "has_mask but no mask");
  int where = ferry_attr_has(k->sctx, "mask_fill");
  if (where && (!m || m->dtype != FERRY_BOOL)) return ferry_kernel_fail(k, "mask_fill needs a bool mask");
  for (int i = 0; i < (m && !where ? 4 : 3); i++)
    if (!ferry_dtype_is_float(k->in[i].dtype)) return ferry_kernel_fail(k, "input %d is not a float tensor", i);
  att a;
  memset(&a, 0, sizeof a);
  int bshd = ferry_attr_int(k->sctx, "bshd", 0) != 0;
  if (bshd && (k->in[0].rank != 4 || k->in[1].rank != 4 || k->in[2].rank != 4))
    return ferry_kernel_fail(k, "bshd wants Q, K and V of rank 4");
  ferry_tview lq, lk, lv, ly;
  int64_t sq[FERRY_MAX_RANK], sk[FERRY_MAX_RANK], sv[FERRY_MAX_RANK], sy[FERRY_MAX_RANK];
  att_view(&k->in[0], bshd ? perm_qv : NULL, &lq, sq);
  att_view(&k->in[1], bshd ? perm_k : NULL, &lk, sk);
  att_view(&k->in[2], bshd ? perm_qv : NULL, &lv, sv);
  int rc = att_shapes(k, &a, &lq, &lk, &lv, m);
  if (rc) return rc;
  int64_t od[FERRY_MAX_RANK];
  memcpy(od, a.bdims, (size_t)a.brank * sizeof *od);
  od[a.brank] = a.Sq, od[a.brank + 1] = a.Dv;
  if (bshd) od[1] = a.Sq, od[2] = a.bdims[1]; /* [B, Sq, H, Dv] */
  if ((rc = ferry_linalg_output(k, 0, k->in[0].dtype, a.brank + 2, od))) return rc;
  ferry_tview *o = &k->out[0];
  if (o->numel == 0) return FERRY_OK;
  a.scale = ferry_attr_float(k->sctx, "scale", 1.0f);
  view_strides(&a, &lq, sq, a.qst);
  view_strides(&a, &lk, sk, a.kst);
  view_strides(&a, &lv, sv, a.vst);
  att_view(o, bshd ? perm_qv : NULL, &ly, sy);
  view_strides(&a, &ly, sy, a.yst);
  if (m) att_strides(&a, m, a.Sq, a.Sk, a.mst);
  rc = FERRY_OK;
  a.q = f32_input(k, &k->in[0], &rc);
  a.k = f32_input(k, &k->in[1], &rc);
  a.v = f32_input(k, &k->in[2], &rc);
  if (where) { /* the bool mask: a.mask only says there is one */
    static const uint8_t none[1];
    a.cond = m->numel && m->data ? m->data : none;
    a.mask = (const float *)(const void *)a.cond;
    a.fill = ferry_attr_float(k->sctx, "mask_fill", 0.0f);
    a.keep = ferry_attr_int(k->sctx, "mask_keep", 0) != 0;
    a.span = a.fill <= ATT_FILL_SKIP;
  } else {
    a.mask = m ? f32_input(k, m, &rc) : NULL;
  }
  a.y = o->dtype == FERRY_F32 ? o->data : ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float));
  if (rc || !a.y || (rc = att_plan(k, &a)) || (rc = att_runs(k, &a))) return rc ? rc : FERRY_E_SYSTEM;
  if (a.pk || a.pkt) k->parallel(k, a.nb, att_pack, &a);
  k->parallel(k, a.n_slots, slots_task, &a);
  if (o->dtype != FERRY_F32) ferry_linalg_f32_out(a.y, o);
  return FERRY_OK;
}
