/*
 * text.c - TfIdfVectorizer over integer tokens (int32/int64 input, the
 * pool in pool_int64s; string pools and inputs are out of scope and give
 * an error).
 *
 * The pool holds the n-grams grouped by length: ngram_counts[i] is where
 * the (i+1)-grams start in pool_int64s, and the j-th n-gram of the whole
 * pool (counting through the lengths in order) is counted in output
 * column ngram_indexes[j]. tfidf_setup() checks the attributes and sorts
 * each length's n-grams (a stable merge sort on scratch, so a repeated
 * n-gram counts where it first appears); count_row() then slides over one
 * input row as onnxruntime does: for every skip distance 1..max_skip_count
 * + 1 and every start position, the n-grams of min_gram_length ..
 * max_gram_length items taken skip distance apart, each looked up by
 * binary search; unigrams only on the first distance, since skipping does
 * not change them. weigh_row() turns the counts into TF (the counts), IDF
 * (weights[column] where the count is non-zero, 1 without weights) or
 * TFIDF (count * weights[column]). Rows are independent: k->parallel.
 */
#include <string.h>

#include "misc.h"
#include "nn.h"
#include "util.h"

enum { MODE_TF, MODE_IDF, MODE_TFIDF };

/* The n-grams of one length: n of them, ngram j at pool + j * len, counted
 * in column col[j]; sorted[] lists the j in lexicographic order. */
typedef struct group {
  int64_t len, n;
  const int64_t *pool, *col;
  int64_t *sorted;
} group;

typedef struct tfidf {
  int mode;
  int64_t min_n, max_n, max_skip;
  int n_groups;
  group *groups; /* groups[L - 1]: the L-grams */
  const float *weights;
  int64_t n_out;      /* output columns: max(ngram_indexes) + 1 */
  int64_t rows, cols; /* the input as [rows, cols] */
  const int64_t *x;   /* the input widened to int64 */
  float *y;
} tfidf;

/* -1, 0, 1 as the n-gram a (len items) compares to b. */
static int cmp_tuple(const int64_t *a, const int64_t *b, int64_t len) {
  for (int64_t i = 0; i < len; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/* -1, 0, 1 as the pool n-gram p compares to x[0], x[d], x[2d]... */
static int cmp_input(const int64_t *p, const int64_t *x, int64_t d, int64_t len) {
  for (int64_t i = 0; i < len; i++)
    if (p[i] != x[i * d]) return p[i] < x[i * d] ? -1 : 1;
  return 0;
}

/* Stable bottom-up merge sort of g->sorted (indices 0..n) by n-gram, with
 * tmp holding n entries. */
static void sort_group(group *g, int64_t *tmp) {
  int64_t n = g->n, *a = g->sorted, *b = tmp;
  for (int64_t i = 0; i < n; i++) a[i] = i;
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, o = lo;
      while (i < mid && j < hi)
        b[o++] = cmp_tuple(g->pool + a[j] * g->len, g->pool + a[i] * g->len, g->len) < 0 ? a[j++] : a[i++];
      while (i < mid) b[o++] = a[i++];
      while (j < hi) b[o++] = a[j++];
    }
    int64_t *t = a;
    a = b, b = t;
  }
  if (a != g->sorted) memcpy(g->sorted, a, (size_t)n * sizeof *a);
}

/* The column of the L-gram x[0], x[d].. (L = g->len), or -1 if absent. */
static int64_t find_ngram(const group *g, const int64_t *x, int64_t d) {
  int64_t lo = 0, hi = g->n;
  while (lo < hi) { /* the first sorted n-gram >= x */
    int64_t mid = lo + (hi - lo) / 2;
    if (cmp_input(g->pool + g->sorted[mid] * g->len, x, d, g->len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < g->n && cmp_input(g->pool + g->sorted[lo] * g->len, x, d, g->len) == 0) return g->col[g->sorted[lo]];
  return -1;
}

/* Adds the n-gram counts of one row x[0..cols) into y (zeroed). */
static void count_row(const tfidf *t, const int64_t *x, float *y) {
  int64_t C = t->cols, first = t->min_n, last = t->max_n < t->n_groups ? t->max_n : t->n_groups;
  int64_t dmax = t->max_skip + 1 < C ? t->max_skip + 1 : C; /* farther apart, only unigrams fit */
  for (int64_t d = 1; d <= dmax && first <= last; d++) {
    for (int64_t s = 0; s < C && s + d * (first - 1) < C; s++)
      for (int64_t L = first; L <= last && s + d * (L - 1) < C; L++) {
        const group *g = &t->groups[L - 1];
        int64_t c = g->n ? find_ngram(g, x + s, d) : -1;
        if (c >= 0) y[c] += 1.0f;
      }
    if (first == 1) first = 2;
  }
}

static void weigh_row(const tfidf *t, float *y) {
  if (t->mode == MODE_TF) return;
  for (int64_t j = 0; j < t->n_out; j++) {
    float w = t->weights ? t->weights[j] : 1.0f;
    y[j] = t->mode == MODE_IDF ? (y[j] > 0 ? w : 0.0f) : y[j] * w;
  }
}

static void rows_task(void *arg, int64_t begin, int64_t end) {
  const tfidf *t = arg;
  for (int64_t r = begin; r < end; r++) {
    float *y = t->y + r * t->n_out;
    memset(y, 0, (size_t)t->n_out * sizeof *y);
    count_row(t, t->x + r * t->cols, y);
    weigh_row(t, y);
  }
}

static int read_mode(ferry_kctx *k, int *mode) {
  const char *m = ferry_attr_str(k->sctx, "mode", "");
  if (strcmp(m, "TF") == 0)
    *mode = MODE_TF;
  else if (strcmp(m, "IDF") == 0)
    *mode = MODE_IDF;
  else if (strcmp(m, "TFIDF") == 0)
    *mode = MODE_TFIDF;
  else
    return ferry_kernel_fail(k, "mode must be TF, IDF or TFIDF, got \"%s\"", m);
  return FERRY_OK;
}

/* The n-gram groups from pool_int64s / ngram_counts / ngram_indexes, each
 * sorted; also n_out. */
static int build_groups(ferry_kctx *k, tfidf *t) {
  const int64_t *pool, *starts, *cols;
  int64_t n_pool = ferry_attr_ints(k->sctx, "pool_int64s", &pool);
  int n_starts = ferry_attr_ints(k->sctx, "ngram_counts", &starts);
  int64_t n_cols = ferry_attr_ints(k->sctx, "ngram_indexes", &cols), ord = 0;
  t->n_out = 0;
  for (int64_t j = 0; j < n_cols; j++) {
    if (cols[j] < 0) return ferry_kernel_fail(k, "ngram_indexes[%lld] = %lld", (long long)j, (long long)cols[j]);
    if (cols[j] >= t->n_out) t->n_out = cols[j] + 1;
  }
  t->n_groups = n_starts;
  t->groups = ferry_nn_scratch(k, n_starts, sizeof *t->groups);
  int64_t *tmp = ferry_nn_scratch(k, n_pool, sizeof *tmp);
  if (!t->groups || !tmp) return FERRY_E_SYSTEM;
  for (int i = 0; i < n_starts; i++) {
    group *g = &t->groups[i];
    int64_t s = starts[i], e = i + 1 < n_starts ? starts[i + 1] : n_pool;
    g->len = i + 1;
    if (s < 0 || e < s || e > n_pool || (e - s) % g->len)
      return ferry_kernel_fail(k, "ngram_counts does not split pool_int64s into %d-grams", i + 1);
    g->n = (e - s) / g->len;
    if (ord + g->n > n_cols) return ferry_kernel_fail(k, "fewer ngram_indexes than n-grams in the pool");
    g->pool = pool + s, g->col = cols + ord;
    ord += g->n;
    if (!(g->sorted = ferry_nn_scratch(k, g->n, sizeof *g->sorted))) return FERRY_E_SYSTEM;
    sort_group(g, tmp);
  }
  return FERRY_OK;
}

/* Attributes into *t: mode, lengths, skips, weights, the pool. */
static int tfidf_setup(ferry_kctx *k, tfidf *t) {
  ferry_attrv a;
  int rc = read_mode(k, &t->mode);
  if (rc) return rc;
  if (ferry_attr_get(k->sctx, "pool_strings", &a) && a.n > 0)
    return ferry_kernel_fail(k, "string pools (pool_strings) are not supported");
  t->min_n = ferry_attr_int(k->sctx, "min_gram_length", 1);
  t->max_n = ferry_attr_int(k->sctx, "max_gram_length", 1);
  t->max_skip = ferry_attr_int(k->sctx, "max_skip_count", 0);
  if (t->min_n < 1 || t->max_n < t->min_n || t->max_skip < 0)
    return ferry_kernel_fail(k, "bad n-gram lengths [%lld, %lld] or max_skip_count %lld", (long long)t->min_n,
                             (long long)t->max_n, (long long)t->max_skip);
  if ((rc = build_groups(k, t))) return rc;
  t->weights = NULL;
  if (ferry_attr_get(k->sctx, "weights", &a) && a.type == 6 && a.n > 0 && t->mode != MODE_TF) {
    if (a.n < t->n_out)
      return ferry_kernel_fail(k, "weights has %d values for %lld columns", a.n, (long long)t->n_out);
    t->weights = a.floats;
  }
  return FERRY_OK;
}

int ferry_kernel_TfIdfVectorizer(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (k->n_in < 1 || (x->dtype != FERRY_I32 && x->dtype != FERRY_I64))
    return ferry_kernel_fail(k, "input must be int32 or int64 (string input is not supported)");
  if (x->rank < 1 || x->rank > 2) return ferry_kernel_fail(k, "input of rank %d: needs [C] or [N, C]", x->rank);
  tfidf t;
  memset(&t, 0, sizeof t);
  int rc = tfidf_setup(k, &t);
  if (rc) return rc;
  t.rows = x->rank == 2 ? x->dims[0] : 1;
  t.cols = x->dims[x->rank - 1];
  int64_t dims[2] = {t.rows, t.n_out};
  if ((rc = ferry_nn_out(k, 0, FERRY_F32, x->rank, x->rank == 2 ? dims : dims + 1))) return rc;
  if (k->out[0].dtype && k->out[0].dtype != FERRY_F32) return ferry_kernel_fail(k, "output must be float32");
  int64_t *wide = ferry_nn_scratch(k, x->numel, sizeof *wide);
  if (!wide) return FERRY_E_SYSTEM;
  for (int64_t i = 0; i < x->numel; i++) wide[i] = ferry_load_i64(x->data, x->dtype, i);
  t.x = wide, t.y = k->out[0].data;
  if (t.rows * t.n_out > 0) k->parallel(k, t.rows, rows_task, &t);
  return FERRY_OK;
}
