/*
 * check_kernels_misc.c - the loss, text and attention kernels
 * (runtime/kernels/misc.h): NegativeLogLikelihoodLoss,
 * SoftmaxCrossEntropyLoss, TfIdfVectorizer, ferry.Attention.
 *
 *   node tests   every ONNX node test whose one node is one of the ONNX
 *                ops here passes through its registry kernel
 *                (tests/nodetest.h); the *_expanded variants are
 *                multi-node graphs and not this program's business;
 *   losses       labels out of range give an error, ignore_index may be
 *                out of range, mean over weights, float16, an unnamed
 *                log_prob output;
 *   tfidf        TF/IDF/TFIDF with weights, skips, 1-D int64 input,
 *                string pools refused;
 *   attention    against a naive double reference on random shapes:
 *                batch/head broadcasting between Q, K and V, masks of
 *                shapes [Sk], [1, 1, Sq, Sk], [B, 1, 1, Sk], -inf in
 *                masks, big scales, many row blocks and slots, float16,
 *                empty dims, bad shapes -> error; bool masks (mask_fill:
 *                causal, random, a row keeping nothing, broadcast along
 *                rows or columns, kept scores below the skip bound);
 *   bert         `ferry convert` (fuse-attention is on) of bert_tiny_op13
 *                runs like `--disable fuse-attention`'s bundle (1e-4), with a padded
 *                attention mask and several threads; gpt_tiny_op13 (its
 *                causal masked_fill, 2 fused attentions) the same at
 *                sequence 40.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "kernels/misc.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "testutil.h"

/* ---- node tests ---- */

static const char *const OPS[] = {"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "TfIdfVectorizer"};

/* Node tests allowed to fail or error, and why: none so far. */
static const char *const KNOWN[] = {NULL};

START_TEST(test_node_tests) {
  nodetest_tally t;
  nodetest_run_family("misc", OPS, (int)(sizeof OPS / sizeof *OPS), KNOWN, (int)(sizeof KNOWN / sizeof *KNOWN), &t);
  ck_assert_int_ge(t.n[NT_PASS], 59); /* 18 nllloss, 34 sce, 7 tfidfvectorizer */
  ck_assert_msg(t.unexpected == 0, "%d node tests failed (see above)", t.unexpected);
}
END_TEST

/* ---- helpers ---- */

static float *out_f(kf_call *c, int i) { return c->k.out[i].data; }

static void close_f(float got, double want, double tol, const char *what, int64_t i) {
  if (isnan(want)) {
    ck_assert_msg(isnan(got), "%s[%lld] = %g, want NaN", what, (long long)i, got);
    return;
  }
  ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "%s[%lld] = %.9g, want %.9g", what, (long long)i, got,
                want);
}

/* Deterministic pseudo-random floats in [-scale, scale). */
static void fill(float *v, int64_t n, unsigned seed, float scale) {
  unsigned s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    v[i] = ((float)(s >> 8) / 16777216.0f * 2 - 1) * scale;
  }
}

/* ---- losses ---- */

START_TEST(test_loss_labels) {
  float x[2 * 3] = {-1, -2, -3, -4, -5, -6};
  /* a label out of [0, C) is an error, unless it is ignore_index */
  for (int fn = 0; fn < 2; fn++) {
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
    kf_in(&c, FERRY_I64, 1, (int64_t[]){2}, (int64_t[]){1, 3});
    kf_attr_string(&c, "reduction", "sum");
    kf_out(&c, FERRY_F32, 0, NULL);
    ck_assert_int_ne(kf_run(&c, fn ? ferry_kernel_SoftmaxCrossEntropyLoss : ferry_kernel_NegativeLogLikelihoodLoss),
                     0);
    ck_assert_msg(strstr(c.k.err, "out of range") != NULL, "%s", c.k.err);
    kf_free(&c);
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
    kf_in(&c, FERRY_I32, 1, (int64_t[]){2}, (int32_t[]){1, -7});
    kf_attr_int(&c, "ignore_index", -7);
    kf_out(&c, FERRY_F32, 0, NULL);
    ck_assert_int_eq(kf_run(&c, fn ? ferry_kernel_SoftmaxCrossEntropyLoss : ferry_kernel_NegativeLogLikelihoodLoss),
                     0);
    /* mean over the one element left */
    double want = fn ? -(-2 - log(exp(-1) + exp(-2) + exp(-3))) : 2;
    close_f(out_f(&c, 0)[0], want, 1e-6, "ignored", 0);
    kf_free(&c);
  }
  /* bad reduction, mismatched labels */
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){2}, (int64_t[]){0, 0});
  kf_attr_string(&c, "reduction", "max");
  kf_out(&c, FERRY_F32, 0, NULL);
  ck_assert_int_ne(kf_run(&c, ferry_kernel_NegativeLogLikelihoodLoss), 0);
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, x);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){3}, (int64_t[]){0, 0, 0});
  kf_out(&c, FERRY_F32, 0, NULL);
  ck_assert_int_ne(kf_run(&c, ferry_kernel_NegativeLogLikelihoodLoss), 0);
  kf_free(&c);
}
END_TEST

START_TEST(test_loss_weights_f16) {
  /* x [2, 3, 2] float16, labels [2, 2], weights [3]; mean divides by the
   * weights applied; SCE's log_prob output unnamed, then shaped by the
   * kernel */
  float x[12], w[3] = {0.5f, 2.0f, 1.5f};
  uint16_t xh[12], wh[3];
  fill(x, 12, 3, 2.0f);
  for (int i = 0; i < 12; i++) xh[i] = ferry_f32_to_f16(x[i]), x[i] = ferry_f16_to_f32(xh[i]);
  for (int i = 0; i < 3; i++) wh[i] = ferry_f32_to_f16(w[i]);
  int64_t lab[4] = {2, 0, 1, 2};
  double lp[12];
  for (int n = 0; n < 2; n++)
    for (int d = 0; d < 2; d++) {
      double m = -INFINITY, s = 0;
      for (int k = 0; k < 3; k++) m = fmax(m, x[n * 6 + k * 2 + d]);
      for (int k = 0; k < 3; k++) s += exp(x[n * 6 + k * 2 + d] - m);
      for (int k = 0; k < 3; k++) lp[n * 6 + k * 2 + d] = x[n * 6 + k * 2 + d] - m - log(s);
    }
  for (int fn = 0; fn < 2; fn++) {
    double num = 0, den = 0;
    for (int n = 0; n < 2; n++)
      for (int d = 0; d < 2; d++) {
        int64_t t = lab[n * 2 + d], at = n * 6 + t * 2 + d;
        num -= (fn ? lp[at] : x[at]) * w[t];
        den += w[t];
      }
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_F16, 3, (int64_t[]){2, 3, 2}, xh);
    kf_in(&c, FERRY_I64, 2, (int64_t[]){2, 2}, lab);
    kf_in(&c, FERRY_F16, 1, (int64_t[]){3}, wh);
    kf_out(&c, FERRY_F16, 0, NULL);
    if (fn) kf_out_unknown(&c);
    ck_assert_int_eq(kf_run(&c, fn ? ferry_kernel_SoftmaxCrossEntropyLoss : ferry_kernel_NegativeLogLikelihoodLoss),
                     0);
    close_f(ferry_f16_to_f32(*(uint16_t *)c.k.out[0].data), num / den, 2e-3, "mean", fn);
    if (fn) {
      ck_assert_int_eq(c.k.out[1].rank, 3);
      for (int i = 0; i < 12; i++) close_f(ferry_f16_to_f32(((uint16_t *)c.k.out[1].data)[i]), lp[i], 2e-3, "lp", i);
    }
    kf_free(&c);
  }
}
END_TEST

/* ---- TfIdfVectorizer ---- */

/* pool: unigrams 1, 2; bigrams (1, 2), (2, 1); columns 0..3 */
static const int64_t POOL[] = {1, 2, 1, 2, 2, 1}, STARTS[] = {0, 2}, COLS[] = {0, 1, 2, 3};
static const float WEIGHTS[] = {0.5f, 2, 3, 4};

static void tfidf_run(const char *mode, int skip, int weights, const float *want) {
  kf_call c;
  kf_init(&c, 9);
  kf_in(&c, FERRY_I64, 1, (int64_t[]){5}, (int64_t[]){1, 1, 2, 1, 3});
  kf_attr_string(&c, "mode", mode);
  kf_attr_int(&c, "min_gram_length", 1);
  kf_attr_int(&c, "max_gram_length", 2);
  kf_attr_int(&c, "max_skip_count", skip);
  kf_attr_ints(&c, "pool_int64s", 6, POOL);
  kf_attr_ints(&c, "ngram_counts", 2, STARTS);
  kf_attr_ints(&c, "ngram_indexes", 4, COLS);
  if (weights) kf_attr_floats(&c, "weights", 4, WEIGHTS);
  kf_out(&c, FERRY_F32, 1, (int64_t[]){4});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_TfIdfVectorizer), 0);
  for (int i = 0; i < 4; i++) close_f(out_f(&c, 0)[i], want[i], 0, mode, i);
  kf_free(&c);
}

START_TEST(test_tfidf_modes) {
  /* input 1 1 2 1 3: unigram 1 x3, 2 x1; bigram (1,2) once, (2,1) once;
   * with one skip also (x0, x2) = (1, 2) */
  tfidf_run("TF", 0, 0, (float[]){3, 1, 1, 1});
  tfidf_run("TF", 1, 1, (float[]){3, 1, 2, 1});
  tfidf_run("IDF", 0, 0, (float[]){1, 1, 1, 1});
  tfidf_run("IDF", 0, 1, (float[]){0.5f, 2, 3, 4});
  tfidf_run("TFIDF", 1, 1, (float[]){1.5f, 2, 6, 4});
  tfidf_run("TFIDF", 0, 0, (float[]){3, 1, 1, 1});
}
END_TEST

START_TEST(test_tfidf_errors) {
  /* string pool, bad mode, inconsistent ngram_counts, float input */
  for (int t = 0; t < 4; t++) {
    kf_call c;
    kf_init(&c, 9);
    if (t == 3)
      kf_in(&c, FERRY_F32, 1, (int64_t[]){2}, (float[]){1, 2});
    else
      kf_in(&c, FERRY_I32, 2, (int64_t[]){1, 2}, (int32_t[]){1, 2});
    kf_attr_string(&c, "mode", t == 1 ? "BM25" : "TF");
    kf_attr_ints(&c, "ngram_counts", 2, t == 2 ? (int64_t[]){0, 7} : STARTS);
    kf_attr_ints(&c, "ngram_indexes", 4, COLS);
    if (t == 0) {
      kf_attr *a = &c.attrs[c.n_attrs++];
      memset(a, 0, sizeof *a);
      a->name = "pool_strings";
      a->v.type = 8, a->v.n = 2, a->v.s = "a\0b", a->v.slen = 4;
    } else {
      kf_attr_ints(&c, "pool_int64s", 6, POOL);
    }
    kf_out(&c, FERRY_F32, 2, (int64_t[]){1, 4});
    ck_assert_int_ne(kf_run(&c, ferry_kernel_TfIdfVectorizer), 0);
    kf_free(&c);
  }
}
END_TEST

/* ---- attention ---- */

typedef struct shp {
  int rank;
  int64_t d[6];
} shp;

static int64_t numel(const shp *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->d[i];
  return n;
}

/* Offset of the element of t at index idx of a rank-r space t broadcasts
 * into (right-aligned, size-1 dims read at 0). */
static int64_t bcast_off(const shp *t, const int64_t *idx, int r) {
  int64_t off = 0;
  for (int j = 0; j < t->rank; j++) off = off * t->d[j] + (t->d[j] == 1 ? 0 : idx[r - t->rank + j]);
  return off;
}

/* Output shape of the attention of q, k, v: broadcast batch + [Sq, Dv]. */
static shp att_out_shape(const shp *q, const shp *k, const shp *v) {
  shp o = {0, {0}};
  const shp *t[3] = {q, k, v};
  for (int i = 0; i < 3; i++)
    if (t[i]->rank - 2 > o.rank) o.rank = t[i]->rank - 2;
  for (int a = 0; a < o.rank; a++) {
    o.d[a] = 1;
    for (int i = 0; i < 3; i++) {
      int j = a - (o.rank - (t[i]->rank - 2));
      if (j >= 0 && t[i]->d[j] != 1) o.d[a] = t[i]->d[j];
    }
  }
  o.d[o.rank] = q->d[q->rank - 2], o.d[o.rank + 1] = v->d[v->rank - 1];
  o.rank += 2;
  return o;
}

/* A bool mask (ferry.Attention's mask_fill form): scores where c is not
 * `keep` become `fill`. */
typedef struct att_where {
  const uint8_t *c;
  float fill;
  int keep;
} att_where;

/* The naive double reference of Softmax(Q K scale + mask) V, or with w the
 * scores replaced by w->fill where the bool mask (shape ms) does not keep them. */
static void att_reference(const shp *qs, const float *q, const shp *ks, const float *k, const shp *vs, const float *v,
                          const shp *ms, const float *m, float scale, const shp *os, double *y, const att_where *w) {
  int r = os->rank, br = r - 2;
  int64_t Sq = os->d[br], Dv = os->d[br + 1], D = qs->d[qs->rank - 1], Sk = ks->d[ks->rank - 1];
  int64_t nb = numel(os) / (Sq * Dv);
  double *p = malloc((size_t)(Sk ? Sk : 1) * sizeof *p);
  for (int64_t b = 0; b < nb; b++)
    for (int64_t i = 0; i < Sq; i++) {
      int64_t idx[8], rem = b;
      for (int a = br - 1; a >= 0; a--) idx[a] = rem % os->d[a], rem /= os->d[a];
      double mx = -INFINITY, sum = 0;
      for (int64_t l = 0; l < Sk; l++) {
        double s = 0;
        for (int64_t d = 0; d < D; d++) {
          idx[br] = i, idx[br + 1] = d;
          double qv = q[bcast_off(qs, idx, r)];
          idx[br] = d, idx[br + 1] = l;
          s += qv * k[bcast_off(ks, idx, r)];
        }
        s *= scale;
        idx[br] = i, idx[br + 1] = l;
        if (m) s += m[bcast_off(ms, idx, r)];
        if (w && (w->c[bcast_off(ms, idx, r)] != 0) != w->keep) s = w->fill;
        p[l] = s;
        if (s > mx) mx = s;
      }
      for (int64_t l = 0; l < Sk; l++) sum += p[l] = exp(p[l] - mx);
      for (int64_t j = 0; j < Dv; j++) {
        double acc = 0;
        for (int64_t l = 0; l < Sk; l++) {
          idx[br] = l, idx[br + 1] = j;
          acc += p[l] / sum * v[bcast_off(vs, idx, r)];
        }
        y[(b * Sq + i) * Dv + j] = acc;
      }
    }
  free(p);
}

/* Starts a call of ferry.Attention with Q, K and V in, spread over
 * `threads` (0: left unsaid, several; 1: one thread, so one task per
 * batch-head). */
static void att_begin(kf_call *c, int threads, const shp *qs, const float *q, const shp *ks, const float *k,
                      const shp *vs, const float *v) {
  kf_init(c, 1);
  c->k.threads = threads;
  kf_in(c, FERRY_F32, qs->rank, qs->d, q);
  kf_in(c, FERRY_F32, ks->rank, ks->d, k);
  kf_in(c, FERRY_F32, vs->rank, vs->d, v);
}

/* Runs ferry.Attention on random data of these shapes (ms NULL: no mask)
 * and compares with the reference. mask_inf puts -inf in some mask
 * entries (never a whole row). */
static void att_case(shp qs, shp ks, shp vs, const shp *ms, float scale, unsigned seed, int mask_inf) {
  shp os = att_out_shape(&qs, &ks, &vs);
  int64_t nq = numel(&qs), nk = numel(&ks), nv = numel(&vs), nm = ms ? numel(ms) : 0, no = numel(&os);
  float *q = malloc((size_t)(nq + 1) * 4), *k = malloc((size_t)(nk + 1) * 4), *v = malloc((size_t)(nv + 1) * 4);
  float *m = malloc((size_t)(nm + 1) * 4);
  double *want = malloc((size_t)(no + 1) * sizeof *want);
  fill(q, nq, seed, 1.0f);
  fill(k, nk, seed + 1, 1.0f);
  fill(v, nv, seed + 2, 1.0f);
  fill(m, nm, seed + 3, 3.0f);
  if (mask_inf)
    for (int64_t i = 1; i < nm; i += 3) m[i] = -INFINITY;
  att_reference(&qs, q, &ks, k, &vs, v, ms, ms ? m : NULL, scale, &os, want, NULL);
  for (int threads = 0; threads <= 1; threads++) {
    kf_call c;
    att_begin(&c, threads, &qs, q, &ks, k, &vs, v);
    if (ms) kf_in(&c, FERRY_F32, ms->rank, ms->d, m);
    kf_attr_float(&c, "scale", scale);
    kf_attr_int(&c, "has_mask", ms != NULL);
    if (seed % 2)
      kf_out(&c, FERRY_F32, os.rank, os.d);
    else
      kf_out_unknown(&c);
    ck_assert_msg(kf_run(&c, ferry_kernel_Attention) == 0, "seed %u: %s", seed, c.k.err);
    ck_assert_int_eq(c.k.out[0].numel, no);
    for (int64_t i = 0; i < no; i++) close_f(out_f(&c, 0)[i], want[i], 1e-4, "attention", i);
    kf_free(&c);
  }
  free(q), free(k), free(v), free(m), free(want);
}

#define S(...) ((shp){sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}})

START_TEST(test_attention_masks) {
  shp q = S(2, 3, 5, 8), k = S(2, 3, 8, 6), v = S(2, 3, 6, 4);
  att_case(q, k, v, NULL, 0.35f, 1, 0);
  att_case(q, k, v, &S(6), 0.35f, 2, 0);
  att_case(q, k, v, &S(1, 1, 5, 6), 0.35f, 3, 0);
  att_case(q, k, v, &S(2, 1, 1, 6), 0.35f, 4, 0);
  att_case(q, k, v, &S(2, 3, 5, 6), 1.0f, 5, 0);
  att_case(q, k, v, &S(2, 1, 1, 6), 0.5f, 6, 1); /* -inf entries */
  att_case(q, k, v, &S(1), 0.5f, 7, 0);           /* a scalar-like mask */
}
END_TEST

/* ferry.Attention with a bool mask of shape ms (mask_fill, mask_keep) on
 * random data against the reference. pattern: 0 causal (row i keeps
 * columns <= i), 1 random, 2 causal with row `empty` keeping nothing, 3 a
 * window (row i keeps columns i - 5 to i), 4 padding (mask batch b keeps
 * its first cols - 1 - 7 b columns). */
static void att_where_case(shp qs, shp ks, shp vs, shp ms, float scale, unsigned seed, float fillv, int keep,
                           int pattern, int64_t empty) {
  shp os = att_out_shape(&qs, &ks, &vs);
  int64_t nq = numel(&qs), nk = numel(&ks), nv = numel(&vs), nm = numel(&ms), no = numel(&os);
  int64_t rows = ms.rank >= 2 ? ms.d[ms.rank - 2] : 1, cols = ms.d[ms.rank - 1];
  float *q = malloc((size_t)nq * 4), *k = malloc((size_t)nk * 4), *v = malloc((size_t)nv * 4);
  uint8_t *c = malloc((size_t)nm);
  double *want = malloc((size_t)no * sizeof *want);
  fill(q, nq, seed, 1.0f);
  fill(k, nk, seed + 1, 1.0f);
  fill(v, nv, seed + 2, 1.0f);
  uint32_t st = seed;
  for (int64_t t = 0; t < nm; t++) {
    int64_t i = t / cols % rows, j = t % cols;
    int kept = pattern == 1 ? ((st = st * 1664525u + 1013904223u) >> 28) < 11
               : pattern == 3 ? j <= i && j >= i - 5
               : pattern == 4 ? j < cols - 1 - t / (rows * cols) * 7
                              : j <= i;
    if (pattern == 2 && i == empty) kept = 0;
    c[t] = kept == keep ? (uint8_t)(1 + (t % 3 == 0)) : 0; /* kept: (c != 0) == keep; any nonzero byte is true */
  }
  att_where w = {c, fillv, keep};
  att_reference(&qs, q, &ks, k, &vs, v, &ms, NULL, scale, &os, want, &w);
  for (int threads = 0; threads <= 1; threads++) {
    kf_call cl;
    att_begin(&cl, threads, &qs, q, &ks, k, &vs, v);
    kf_in(&cl, FERRY_BOOL, ms.rank, ms.d, c);
    kf_attr_float(&cl, "scale", scale);
    kf_attr_int(&cl, "has_mask", 1);
    kf_attr_float(&cl, "mask_fill", fillv);
    kf_attr_int(&cl, "mask_keep", keep);
    kf_out_unknown(&cl);
    ck_assert_msg(kf_run(&cl, ferry_kernel_Attention) == 0, "seed %u: %s", seed, cl.k.err);
    char what[48];
    snprintf(what, sizeof what, "attention where, seed %u", seed);
    for (int64_t i = 0; i < no; i++) close_f(out_f(&cl, 0)[i], want[i], 1e-4, what, i);
    kf_free(&cl);
  }
  free(q), free(k), free(v), free(c), free(want);
}

START_TEST(test_attention_where) {
  const float lowest = -3.4028234663852886e38f;
  /* causal, 40 rows: three row blocks, each computing only its span */
  att_where_case(S(1, 2, 40, 8), S(1, 2, 8, 40), S(1, 2, 40, 6), S(40, 40), 0.35f, 51, lowest, 1, 0, -1);
  att_where_case(S(1, 2, 40, 8), S(1, 2, 8, 40), S(1, 2, 40, 6), S(1, 1, 40, 40), 0.35f, 52, -INFINITY, 0, 0, -1);
  /* random masks, a fill too high to leave columns out */
  att_where_case(S(2, 3, 20, 8), S(2, 3, 8, 33), S(2, 3, 33, 4), S(1, 1, 20, 33), 0.5f, 53, -3.0f, 1, 1, -1);
  att_where_case(S(2, 3, 20, 8), S(2, 3, 8, 33), S(2, 3, 33, 4), S(2, 1, 20, 33), 0.5f, 54, lowest, 0, 1, -1);
  /* a row that keeps nothing: uniform over the whole row, as unfused */
  att_where_case(S(1, 2, 40, 8), S(1, 2, 8, 40), S(1, 2, 40, 6), S(40, 40), 0.35f, 55, lowest, 1, 2, 21);
  /* masks broadcast along columns ([Sq, 1]) and rows ([1, Sk]) */
  att_where_case(S(2, 20, 8), S(2, 8, 20), S(2, 20, 4), S(20, 1), 0.5f, 56, lowest, 1, 1, -1);
  att_where_case(S(2, 20, 8), S(2, 8, 20), S(2, 20, 4), S(1, 20), 0.5f, 57, lowest, 0, 1, -1);
  /* runs of kept columns found once for every head (the same mask for
   * all, keep 1 and 0), or per task (a mask per batch) */
  att_where_case(S(1, 2, 40, 8), S(1, 2, 8, 40), S(1, 2, 40, 6), S(40, 40), 0.35f, 59, lowest, 1, 3, -1);
  att_where_case(S(1, 2, 40, 8), S(1, 2, 8, 40), S(1, 2, 40, 6), S(1, 1, 40, 40), 0.35f, 60, lowest, 0, 3, -1);
  att_where_case(S(3, 2, 20, 8), S(3, 2, 8, 33), S(3, 2, 33, 4), S(3, 1, 20, 33), 0.5f, 61, lowest, 1, 4, -1);
  /* more keys than one k-block of the GEMM (256): V^T is not packed once
   * per head there; a window's runs start past 0 */
  att_where_case(S(1, 2, 300, 20), S(1, 2, 20, 300), S(1, 2, 300, 12), S(300, 300), 0.2f, 62, lowest, 1, 0, -1);
  att_where_case(S(1, 2, 300, 20), S(1, 2, 20, 300), S(1, 2, 300, 12), S(300, 300), 0.2f, 63, lowest, 0, 3, -1);
  /* kept scores far below -1e30 (a huge scale): whole rows after all */
  att_where_case(S(1, 1, 24, 8), S(1, 1, 8, 24), S(1, 1, 24, 4), S(24, 24), 1e32f, 58, lowest, 1, 0, -1);
  /* mask_fill with a float mask is refused */
  kf_call c;
  kf_init(&c, 1);
  static float zeros[64];
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, zeros);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){3, 2}, zeros);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, zeros);
  kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 2}, zeros);
  kf_attr_int(&c, "has_mask", 1);
  kf_attr_float(&c, "mask_fill", -1e9f);
  kf_out_unknown(&c);
  ck_assert_int_ne(kf_run(&c, ferry_kernel_Attention), 0);
  ck_assert_msg(strstr(c.k.err, "bool") != NULL, "%s", c.k.err);
  kf_free(&c);
}
END_TEST

/* dst = src (4-D, dims d) with its axes reordered: dst's axis i is src's perm[i]. */
static void permute4(const float *src, const int64_t *d, const int *perm, float *dst) {
  int64_t od[4], st[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1}, i[4], n = 0;
  for (int a = 0; a < 4; a++) od[a] = d[perm[a]];
  for (i[0] = 0; i[0] < od[0]; i[0]++)
    for (i[1] = 0; i[1] < od[1]; i[1]++)
      for (i[2] = 0; i[2] < od[2]; i[2]++)
        for (i[3] = 0; i[3] < od[3]; i[3]++)
          dst[n++] = src[i[0] * st[perm[0]] + i[1] * st[perm[1]] + i[2] * st[perm[2]] + i[3] * st[perm[3]]];
}

/* ferry.Attention with bshd = 1 (Q [B, Sq, H, D], K [B, Sk, H, D], V
 * [B, Sk, H, Dv] -> Y [B, Sq, H, Dv], the heads' Transposes folded in)
 * against the reference on the same data seen as [B, H, ...]: qs, ks, vs
 * are the logical shapes ([B, H, Sq, D], [B, H, D, Sk], [B, H, Sk, Dv]);
 * a bool causal mask of ms when `causal`, else an additive one (or none). */
static void att_bshd_case(shp qs, shp ks, shp vs, const shp *ms, int causal, unsigned seed) {
  static const int to_bshd[4] = {0, 2, 1, 3}, k_to_bshd[4] = {0, 3, 1, 2};
  shp os = att_out_shape(&qs, &ks, &vs);
  int64_t nq = numel(&qs), nk = numel(&ks), nv = numel(&vs), nm = ms ? numel(ms) : 0, no = numel(&os);
  float *q = malloc((size_t)nq * 4), *k = malloc((size_t)nk * 4), *v = malloc((size_t)nv * 4);
  float *qp = malloc((size_t)nq * 4), *kp = malloc((size_t)nk * 4), *vp = malloc((size_t)nv * 4);
  float *m = malloc((size_t)(nm + 1) * 4), *wantp = malloc((size_t)no * 4), *want32 = malloc((size_t)no * 4);
  uint8_t *c = malloc((size_t)(nm + 1));
  double *want = malloc((size_t)no * sizeof *want);
  fill(q, nq, seed, 1.0f), fill(k, nk, seed + 1, 1.0f), fill(v, nv, seed + 2, 1.0f), fill(m, nm, seed + 3, 3.0f);
  for (int64_t t = 0; t < nm; t++) c[t] = t % ms->d[ms->rank - 1] <= t / ms->d[ms->rank - 1] % ms->d[ms->rank - 2];
  att_where w = {c, -3.4028234663852886e38f, 1};
  att_reference(&qs, q, &ks, k, &vs, v, ms, ms && !causal ? m : NULL, 0.3f, &os, want, causal ? &w : NULL);
  for (int64_t i = 0; i < no; i++) want32[i] = (float)want[i];
  permute4(q, qs.d, to_bshd, qp), permute4(k, ks.d, k_to_bshd, kp), permute4(v, vs.d, to_bshd, vp);
  permute4(want32, os.d, to_bshd, wantp);
  shp qb = {4, {0}}, kb = {4, {0}}, vb = {4, {0}};
  for (int a = 0; a < 4; a++) qb.d[a] = qs.d[to_bshd[a]], kb.d[a] = ks.d[k_to_bshd[a]], vb.d[a] = vs.d[to_bshd[a]];
  for (int threads = 0; threads <= 1; threads++) {
    kf_call cl;
    att_begin(&cl, threads, &qb, qp, &kb, kp, &vb, vp);
    if (ms && causal) kf_in(&cl, FERRY_BOOL, ms->rank, ms->d, c);
    else if (ms) kf_in(&cl, FERRY_F32, ms->rank, ms->d, m);
    kf_attr_float(&cl, "scale", 0.3f);
    kf_attr_int(&cl, "has_mask", ms != NULL);
    kf_attr_int(&cl, "bshd", 1);
    if (causal) kf_attr_float(&cl, "mask_fill", w.fill), kf_attr_int(&cl, "mask_keep", 1);
    kf_out_unknown(&cl);
    ck_assert_msg(kf_run(&cl, ferry_kernel_Attention) == 0, "seed %u: %s", seed, cl.k.err);
    const ferry_tview *o = &cl.k.out[0];
    ck_assert_int_eq(o->rank, 4);
    for (int a = 0; a < 4; a++) ck_assert_int_eq(o->dims[a], os.d[to_bshd[a]]); /* [B, Sq, H, Dv] */
    for (int64_t i = 0; i < no; i++) close_f(out_f(&cl, 0)[i], wantp[i], 1e-4, "attention bshd", i);
    kf_free(&cl);
  }
  free(q), free(k), free(v), free(qp), free(kp), free(vp), free(m), free(wantp), free(want32), free(c), free(want);
}

START_TEST(test_attention_bshd) {
  att_bshd_case(S(2, 3, 5, 8), S(2, 3, 8, 6), S(2, 3, 6, 4), NULL, 0, 61);
  att_bshd_case(S(2, 3, 5, 8), S(2, 3, 8, 6), S(2, 3, 6, 4), &S(2, 1, 1, 6), 0, 62); /* BERT's padding mask */
  /* GPT's causal mask over three row blocks (span path, K and V packed per head) */
  att_bshd_case(S(1, 4, 40, 16), S(1, 4, 16, 40), S(1, 4, 40, 16), &S(40, 40), 1, 63);
  /* K and V shared by the batch (B 1): stride 0 */
  att_bshd_case(S(2, 2, 20, 8), S(1, 2, 8, 20), S(1, 2, 20, 12), &S(1, 1, 20, 20), 0, 64);
  att_bshd_case(S(1, 2, 1, 8), S(1, 2, 8, 9), S(1, 2, 9, 8), NULL, 0, 65); /* one query row: a GEMV */
  /* not rank 4: refused */
  kf_call c;
  kf_init(&c, 1);
  static float zeros[64];
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 2}, zeros);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 2}, zeros);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 2}, zeros);
  kf_attr_int(&c, "bshd", 1);
  kf_out_unknown(&c);
  ck_assert_int_ne(kf_run(&c, ferry_kernel_Attention), 0);
  ck_assert_msg(strstr(c.k.err, "rank 4") != NULL, "%s", c.k.err);
  kf_free(&c);
}
END_TEST

START_TEST(test_attention_broadcast) {
  /* K shared by the batch (rank 3), V by the heads, Q rank 2 */
  att_case(S(2, 3, 5, 8), S(3, 8, 6), S(2, 1, 6, 4), &S(2, 1, 1, 6), 0.25f, 11, 0);
  att_case(S(5, 8), S(2, 3, 8, 6), S(6, 4), &S(1, 1, 5, 6), 0.25f, 12, 0);
  att_case(S(1, 3, 5, 8), S(2, 1, 8, 6), S(2, 3, 6, 4), NULL, 0.25f, 13, 0);
  /* the mask may broadcast onto batch dims only V brings */
  att_case(S(1, 1, 5, 8), S(1, 1, 8, 6), S(2, 3, 6, 4), &S(2, 1, 1, 6), 0.25f, 14, 0);
  att_case(S(3, 7), S(7, 9), S(9, 5), &S(3, 9), 1.0f, 15, 0); /* plain matrices */
}
END_TEST

START_TEST(test_attention_sizes) {
  /* many row blocks (Sq 100, Sk 700), more tasks than slots, gemv-shaped
   * (Sq 1), Sk 1, odd D, huge scores (stability) */
  att_case(S(1, 2, 100, 13), S(1, 2, 13, 700), S(1, 2, 700, 9), &S(1, 1, 1, 700), 0.3f, 21, 0);
  att_case(S(4, 10, 9, 16), S(4, 10, 16, 9), S(4, 10, 9, 16), &S(4, 1, 1, 9), 0.25f, 22, 0);
  att_case(S(3, 1, 33), S(3, 33, 17), S(3, 17, 5), NULL, 0.2f, 23, 0);
  att_case(S(2, 6, 3), S(2, 3, 1), S(2, 1, 7), &S(1), 1.0f, 24, 0);
  att_case(S(2, 70, 40), S(2, 40, 130), S(2, 130, 24), &S(2, 70, 130), 0.125f, 25, 0);
  att_case(S(2, 6, 8), S(2, 8, 10), S(2, 10, 4), NULL, 300.0f, 26, 0);
}
END_TEST

START_TEST(test_attention_empty_and_errors) {
  /* Sk 0: zeros; D 0: softmax of the mask alone */
  att_case(S(2, 4, 3), S(2, 3, 0), S(2, 0, 5), NULL, 1.0f, 31, 0);
  att_case(S(2, 4, 0), S(2, 0, 6), S(2, 6, 5), &S(2, 4, 6), 1.0f, 33, 0);
  /* Sq 0: nothing to do */
  kf_call c;
  kf_init(&c, 1);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 0, 3}, NULL);
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 3, 4}, (float[24]){0});
  kf_in(&c, FERRY_F32, 3, (int64_t[]){2, 4, 5}, (float[40]){0});
  kf_out(&c, FERRY_F32, 3, (int64_t[]){2, 0, 5});
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Attention), 0);
  kf_free(&c);
  /* errors: inner dims, batch dims, a mask enlarging the result, rank 1,
   * has_mask without a mask, integer inputs */
  struct {
    shp q, k, v, m;
    int dt;
  } bad[] = {
      {S(2, 4, 3), S(2, 5, 6), S(2, 6, 5), {0, {0}}, FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 7, 5), {0, {0}}, FERRY_F32},
      {S(2, 4, 3), S(3, 3, 6), S(2, 6, 5), {0, {0}}, FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 6, 5), S(3, 1, 6), FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 6, 5), S(2, 2, 4, 6), FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 6, 5), S(5), FERRY_F32},
      {S(3), S(3, 6), S(6, 5), {0, {0}}, FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 6, 5), {-1, {0}}, FERRY_F32},
      {S(2, 4, 3), S(2, 3, 6), S(2, 6, 5), {0, {0}}, FERRY_I32},
  };
  static float zeros[256];
  for (size_t t = 0; t < sizeof bad / sizeof *bad; t++) {
    kf_init(&c, 1);
    kf_in(&c, bad[t].dt, bad[t].q.rank, bad[t].q.d, zeros);
    kf_in(&c, FERRY_F32, bad[t].k.rank, bad[t].k.d, zeros);
    kf_in(&c, FERRY_F32, bad[t].v.rank, bad[t].v.d, zeros);
    if (bad[t].m.rank > 0) kf_in(&c, FERRY_F32, bad[t].m.rank, bad[t].m.d, zeros);
    kf_attr_int(&c, "has_mask", bad[t].m.rank != 0);
    kf_out_unknown(&c);
    ck_assert_msg(kf_run(&c, ferry_kernel_Attention) != 0, "case %zu runs", t);
    ck_assert_msg(c.k.err[0] != 0, "case %zu: no message", t);
    kf_free(&c);
  }
}
END_TEST

START_TEST(test_attention_f16) {
  enum { B = 2, SQ = 5, D = 8, SK = 6, DV = 4 };
  float q[B * SQ * D], k[B * D * SK], v[B * SK * DV], m[SK];
  uint16_t qh[B * SQ * D], kh[B * D * SK], vh[B * SK * DV], mh[SK];
  fill(q, B * SQ * D, 41, 1), fill(k, B * D * SK, 42, 1), fill(v, B * SK * DV, 43, 1), fill(m, SK, 44, 2);
  for (int i = 0; i < B * SQ * D; i++) qh[i] = ferry_f32_to_f16(q[i]), q[i] = ferry_f16_to_f32(qh[i]);
  for (int i = 0; i < B * D * SK; i++) kh[i] = ferry_f32_to_f16(k[i]), k[i] = ferry_f16_to_f32(kh[i]);
  for (int i = 0; i < B * SK * DV; i++) vh[i] = ferry_f32_to_f16(v[i]), v[i] = ferry_f16_to_f32(vh[i]);
  for (int i = 0; i < SK; i++) mh[i] = ferry_f32_to_f16(m[i]), m[i] = ferry_f16_to_f32(mh[i]);
  shp qs = S(B, SQ, D), ks = S(B, D, SK), vs = S(B, SK, DV), ms = S(SK), os = S(B, SQ, DV);
  double want[B * SQ * DV];
  att_reference(&qs, q, &ks, k, &vs, v, &ms, m, 0.5f, &os, want, NULL);
  kf_call c;
  kf_init(&c, 1);
  kf_in(&c, FERRY_F16, 3, qs.d, qh);
  kf_in(&c, FERRY_F16, 3, ks.d, kh);
  kf_in(&c, FERRY_F16, 3, vs.d, vh);
  kf_in(&c, FERRY_F16, 1, ms.d, mh);
  kf_attr_float(&c, "scale", 0.5f);
  kf_attr_int(&c, "has_mask", 1);
  kf_out(&c, FERRY_F16, 3, os.d);
  ck_assert_int_eq(kf_run(&c, ferry_kernel_Attention), 0);
  for (int i = 0; i < B * SQ * DV; i++)
    close_f(ferry_f16_to_f32(((uint16_t *)c.k.out[0].data)[i]), want[i], 2e-3, "att16", i);
  kf_free(&c);
}
END_TEST

/* ---- BERT: fused against unfused through `ferry run` ---- */

/* Writes an int64 .npy file of shape [rows, cols]. */
static void write_npy_i64(const char *path, int64_t rows, int64_t cols, const int64_t *v) {
  char head[128];
  int n = snprintf(head, sizeof head, "{'descr': '<i8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                   (long long)rows, (long long)cols);
  while ((10 + n + 1) % 64) head[n++] = ' ';
  head[n++] = '\n';
  size_t len = 10 + (size_t)n + (size_t)(rows * cols) * 8;
  unsigned char *buf = malloc(len);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)(n & 0xff), buf[9] = (unsigned char)(n >> 8);
  memcpy(buf + 10, head, (size_t)n);
  for (int64_t i = 0; i < rows * cols; i++) /* little-endian whatever the host */
    for (int b = 0; b < 8; b++) buf[10 + n + i * 8 + b] = (unsigned char)((uint64_t)v[i] >> (8 * b));
  ck_assert_int_eq(tu_write(path, buf, len), 0);
  free(buf);
}

/* The float32 data of a .npy file (malloc'd) and its element count. */
static float *read_npy_f32(const char *path, int64_t *n) {
  size_t len;
  unsigned char *buf = (unsigned char *)tu_read(path, &len);
  ck_assert_msg(buf && len >= 12 && memcmp(buf, "\x93NUMPY", 6) == 0, "%s is not a .npy file", path);
  size_t hl = buf[6] == 1 ? (size_t)buf[8] | (size_t)buf[9] << 8 : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16;
  size_t at = buf[6] == 1 ? 10 + hl : 12 + hl;
  ck_assert_msg(at <= len && strstr((char *)buf + 10, "'<f4'") != NULL, "%s: not little-endian float32", path);
  *n = (int64_t)((len - at) / 4);
  float *v = malloc((size_t)*n * 4 + 4);
  memcpy(v, buf + at, (size_t)*n * 4);
  free(buf);
  return v;
}

START_TEST(test_bert_fused_attention) {
  char dir[512], args[4096], *out = NULL, *err = NULL;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  const char *model = tu_model("bert_tiny_op13.onnx");
  const char *variant[2] = {"fused", "plain"};
  for (int f = 0; f < 2; f++) {
    snprintf(args, sizeof args, "convert '%s' -o '%s/%s.ferry' %s", model, dir, variant[f],
             f == 0 ? "--verbose" : "--disable fuse-attention");
    int rc = tu_run(args, &out, &err);
    ck_assert_msg(rc == 0, "convert: %s", err);
    if (f == 0) { /* "  fuse-attention  133 -> 125  nodes  2 rewrites" */
      const char *line = strstr(out, "fuse-attention"), *nodes = line ? strstr(line, "nodes") : NULL;
      ck_assert_msg(nodes && strtol(nodes + 5, NULL, 10) == 2, "expected 2 fused attentions:\n%s", out);
    }
    free(out), free(err);
  }
  int64_t ids[14], mask[2][14];
  unsigned s = 12345;
  for (int i = 0; i < 14; i++) {
    s = s * 1664525u + 1013904223u;
    ids[i] = (s >> 8) % 100;
    mask[0][i] = 1;
    mask[1][i] = i < 7 || i % 7 < 4; /* the second row padded after 4 tokens */
  }
  char p[1024];
  snprintf(p, sizeof p, "%s/ids.npy", dir);
  write_npy_i64(p, 2, 7, ids);
  for (int mk = 0; mk < 2; mk++) {
    snprintf(p, sizeof p, "%s/mask%d.npy", dir, mk);
    write_npy_i64(p, 2, 7, mask[mk]);
    float *y[2];
    int64_t n[2];
    for (int f = 0; f < 2; f++) {
      snprintf(args, sizeof args,
               "run '%s/%s.ferry' --input input_ids='%s/ids.npy' --input attention_mask='%s/mask%d.npy' "
               "--output-dir '%s/out_%s_%d' --threads %d",
               dir, variant[f], dir, dir, mk, dir, variant[f], mk, f == 0 ? 3 : 1);
      int rc = tu_run(args, &out, &err);
      ck_assert_msg(rc == 0, "run: %s", err);
      free(out), free(err);
      snprintf(p, sizeof p, "%s/out_%s_%d/last_hidden_state.npy", dir, variant[f], mk);
      y[f] = read_npy_f32(p, &n[f]);
    }
    ck_assert_int_eq(n[0], 2 * 7 * 64);
    ck_assert_int_eq(n[0], n[1]);
    for (int64_t i = 0; i < n[0]; i++)
      ck_assert_msg(fabsf(y[0][i] - y[1][i]) <= 1e-4f, "mask %d: [%lld] fused %g, unfused %g", mk, (long long)i,
                    y[0][i], y[1][i]);
    free(y[0]), free(y[1]);
  }
}
END_TEST

/* gpt_tiny_op13, fused (Where's causal mask: the span path) against
 * unfused at sequence 40 (several row blocks), 1 and 3 threads. */
START_TEST(test_gpt_fused_attention) {
  char dir[512], args[4096], *out = NULL, *err = NULL, p[1024];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  const char *model = tu_model("gpt_tiny_op13.onnx"), *variant[2] = {"fused", "plain"};
  for (int f = 0; f < 2; f++) {
    snprintf(args, sizeof args, "convert '%s' -o '%s/%s.ferry' %s", model, dir, variant[f],
             f == 0 ? "--verbose" : "--disable fuse-attention");
    ck_assert_msg(tu_run(args, &out, &err) == 0, "convert: %s", err);
    if (f == 0) {
      const char *line = strstr(out, "fuse-attention"), *nodes = line ? strstr(line, "nodes") : NULL;
      ck_assert_msg(nodes && strtol(nodes + 5, NULL, 10) == 2, "expected 2 fused attentions:\n%s", out);
    }
    free(out), free(err);
  }
  int64_t ids[40];
  for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 200;
  snprintf(p, sizeof p, "%s/ids.npy", dir);
  write_npy_i64(p, 1, 40, ids);
  for (int threads = 1; threads <= 3; threads += 2) {
    float *y[2];
    int64_t n[2];
    for (int f = 0; f < 2; f++) {
      snprintf(args, sizeof args, "run '%s/%s.ferry' --input input_ids='%s/ids.npy' --output-dir '%s/out_%s_%d' --threads %d",
               dir, variant[f], dir, dir, variant[f], threads, threads);
      ck_assert_msg(tu_run(args, &out, &err) == 0, "run: %s", err);
      free(out), free(err);
      snprintf(p, sizeof p, "%s/out_%s_%d/logits.npy", dir, variant[f], threads);
      y[f] = read_npy_f32(p, &n[f]);
    }
    ck_assert_int_eq(n[0], 40 * 256);
    ck_assert_int_eq(n[0], n[1]);
    for (int64_t i = 0; i < n[0]; i++)
      ck_assert_msg(fabsf(y[0][i] - y[1][i]) <= 1e-4f * (1 + fabsf(y[1][i])), "threads %d: [%lld] fused %g, unfused %g",
                    threads, (long long)i, y[0][i], y[1][i]);
    free(y[0]), free(y[1]);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("kernels_misc");
  TCase *t = tcase_create("node_tests");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, test_node_tests);
  suite_add_tcase(s, t);
  t = tcase_create("losses");
  tcase_add_test(t, test_loss_labels);
  tcase_add_test(t, test_loss_weights_f16);
  suite_add_tcase(s, t);
  t = tcase_create("tfidf");
  tcase_add_test(t, test_tfidf_modes);
  tcase_add_test(t, test_tfidf_errors);
  suite_add_tcase(s, t);
  t = tcase_create("attention");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, test_attention_masks);
  tcase_add_test(t, test_attention_where);
  tcase_add_test(t, test_attention_bshd);
  tcase_add_test(t, test_attention_broadcast);
  tcase_add_test(t, test_attention_sizes);
  tcase_add_test(t, test_attention_empty_and_errors);
  tcase_add_test(t, test_attention_f16);
  suite_add_tcase(s, t);
  t = tcase_create("bert");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_bert_fused_attention);
  tcase_add_test(t, test_gpt_fused_attention);
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
