/*
 * loss.c - the loss ops: NegativeLogLikelihoodLoss and
 * SoftmaxCrossEntropyLoss (opsets 12 and 13).
 *
 * Both see their input as [N, C, D] (D the product of d1..dk, 1 for
 * [N, C]) and labels as [N, D]. SoftmaxCrossEntropyLoss first takes the
 * log-softmax over C (its optional second output), then both share
 * nll_reduce(): per element -x[n, label, d] * weight[label], 0 where the
 * label is ignore_index, then "none" (the per-element losses), "sum", or
 * "mean" (the sum divided by the sum of the weights applied, i.e. by the
 * count of non-ignored elements when there are no weights). Losses are
 * not a hot path: everything runs in doubles and is stored back into the
 * input's float dtype; labels are data, checked against [0, C).
 */
#include <math.h>
#include <string.h>

#include "misc.h"
#include "nn.h"
#include "util.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

/* The problem: shapes, reduction, the optional weights and ignore_index. */
typedef struct loss {
  int64_t N, C, D;
  int red;
  int has_ii;
  int64_t ii;
  const ferry_tview *x, *labels, *w; /* w NULL when absent */
} loss;

static int read_reduction(ferry_kctx *k, int *red) {
  const char *r = ferry_attr_str(k->sctx, "reduction", "mean");
  if (strcmp(r, "none") == 0)
    *red = RED_NONE;
  else if (strcmp(r, "sum") == 0)
    *red = RED_SUM;
  else if (strcmp(r, "mean") == 0)
    *red = RED_MEAN;
  else
    return ferry_kernel_fail(k, "unknown reduction \"%s\"", r);
  return FERRY_OK;
}

/* Reads inputs x [N, C, d..], labels [N, d..], weights [C] and the
 * attributes into *L, checking shapes and dtypes. */
static int loss_setup(ferry_kctx *k, loss *L) {
  memset(L, 0, sizeof *L);
  if (k->n_in < 2 || !k->in[0].dtype || !k->in[1].dtype)
    return ferry_kernel_fail(k, "needs an input and labels");
  const ferry_tview *x = &k->in[0], *t = &k->in[1];
  if (!ferry_dtype_is_float(x->dtype)) return ferry_kernel_fail(k, "input must be a float tensor");
  if (t->dtype != FERRY_I32 && t->dtype != FERRY_I64) return ferry_kernel_fail(k, "labels must be int32 or int64");
  if (x->rank < 2) return ferry_kernel_fail(k, "input of rank %d: needs [N, C, ...]", x->rank);
  if (t->rank != x->rank - 1 || t->dims[0] != x->dims[0] ||
      memcmp(t->dims + 1, x->dims + 2, (size_t)(x->rank - 2) * sizeof *x->dims) != 0)
    return ferry_kernel_fail(k, "labels must have the input's shape without C");
  L->x = x, L->labels = t;
  L->N = x->dims[0], L->C = x->dims[1], L->D = ferry_nn_prod(x->dims, 2, x->rank);
  if (k->n_in > 2 && k->in[2].dtype) {
    L->w = &k->in[2];
    if (!ferry_dtype_is_float(L->w->dtype) || L->w->rank != 1 || L->w->dims[0] != L->C)
      return ferry_kernel_fail(k, "weights must be a float vector of C = %lld values", (long long)L->C);
  }
  ferry_attrv a;
  L->has_ii = ferry_attr_get(k->sctx, "ignore_index", &a) && a.type == 2;
  L->ii = L->has_ii ? a.i : 0;
  return read_reduction(k, &L->red);
}

/* Shapes the loss output: [N, d..] for "none", else a scalar. */
static int loss_output(ferry_kctx *k, const loss *L) {
  const ferry_tview *x = L->x;
  int64_t dims[FERRY_MAX_RANK] = {0};
  if (L->red != RED_NONE) return ferry_nn_out(k, 0, x->dtype, 0, dims);
  dims[0] = x->dims[0];
  memcpy(dims + 1, x->dims + 2, (size_t)(x->rank - 2) * sizeof *dims);
  return ferry_nn_out(k, 0, x->dtype, x->rank - 1, dims);
}

/* The negative log-likelihood of logp ([N, C, D] doubles) into out[0]. */
static int nll_reduce(ferry_kctx *k, const loss *L, const double *logp) {
  int64_t n_el = L->N * L->D;
  double *per = L->red == RED_NONE ? ferry_nn_scratch(k, n_el, sizeof(double)) : NULL;
  if (L->red == RED_NONE && !per) return FERRY_E_SYSTEM;
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < L->N; n++)
    for (int64_t d = 0; d < L->D; d++) {
      int64_t i = n * L->D + d, c = ferry_load_i64(L->labels->data, L->labels->dtype, i);
      double v = 0, w = 0;
      if (!(L->has_ii && c == L->ii)) {
        if (c < 0 || c >= L->C)
          return ferry_kernel_fail(k, "label %lld out of range [0, %lld)", (long long)c, (long long)L->C);
        w = L->w ? ferry_load_f64(L->w->data, L->w->dtype, c) : 1.0;
        v = -logp[(n * L->C + c) * L->D + d] * w;
      }
      if (per) per[i] = v;
      sum += v, wsum += w;
    }
  ferry_tview *o = &k->out[0];
  if (!o->data) return FERRY_OK; /* nothing to write (empty) */
  if (per) {
    ferry_nn_store(o, per, n_el);
  } else {
    double r = L->red == RED_SUM ? sum : sum / wsum; /* mean over nothing: 0/0 = NaN, as numpy */
    ferry_nn_store(o, &r, 1);
  }
  return FERRY_OK;
}

int ferry_kernel_NegativeLogLikelihoodLoss(ferry_kctx *k) {
  loss L;
  int rc = loss_setup(k, &L);
  if (rc || (rc = loss_output(k, &L))) return rc;
  double *x = ferry_nn_load(k, L.x);
  if (!x) return FERRY_E_SYSTEM;
  return nll_reduce(k, &L, x);
}

/* v[n, :, d] = log_softmax(v[n, :, d]) in place, for every n and d. */
static void log_softmax_axis1(double *v, int64_t N, int64_t C, int64_t D) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) {
      double *p = v + n * C * D + d, m = -INFINITY, s = 0;
      for (int64_t c = 0; c < C; c++)
        if (p[c * D] > m || p[c * D] != p[c * D]) m = p[c * D];
      for (int64_t c = 0; c < C; c++) s += exp(p[c * D] - m);
      double lse = m + log(s);
      for (int64_t c = 0; c < C; c++) p[c * D] -= lse;
    }
}

int ferry_kernel_SoftmaxCrossEntropyLoss(ferry_kctx *k) {
  loss L;
  int rc = loss_setup(k, &L);
  if (rc || (rc = loss_output(k, &L))) return rc;
  if (k->n_out > 1 && (rc = ferry_nn_out(k, 1, L.x->dtype, L.x->rank, L.x->dims))) return rc;
  double *lp = ferry_nn_load(k, L.x);
  if (!lp) return FERRY_E_SYSTEM;
  log_softmax_axis1(lp, L.N, L.C, L.D);
  if (k->n_out > 1 && k->out[1].data) ferry_nn_store(&k->out[1], lp, L.x->numel);
  return nll_reduce(k, &L, lp);
}
