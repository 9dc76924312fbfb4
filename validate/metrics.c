/*
 * metrics.c - compares two tensors (validate.h: ferry_vcompare).
 *
 * One pass over the element pairs, in double, accumulates every metric:
 * absolute and relative error, the element rule (Polygraphy's: an element
 * fails only where |a-b| > atol and |a-b| > rtol*|b|), sums for cosine,
 * SNR and NMSE, and the ULP distance in the dtype's own bit width. A second
 * pass over rows (last axis = classes) gives top-1 and top-k agreement for
 * float outputs. Then the thresholds are checked and the first one missed
 * becomes the reason.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

void ferry_vlimits_unset(ferry_vlimits *l) {
  l->atol = l->rtol = l->min_cosine = l->min_snr_db = l->max_nmse = NAN;
  l->max_abs = l->max_mean_abs = l->max_ulp = l->min_top1 = l->min_topk = NAN;
  l->topk = 0;
  l->elementwise = -1;
}

#define INHERIT(f) \
  if (isnan(l->f)) l->f = from->f

void ferry_vlimits_inherit(ferry_vlimits *l, const ferry_vlimits *from) {
  INHERIT(atol);
  INHERIT(rtol);
  INHERIT(min_cosine);
  INHERIT(min_snr_db);
  INHERIT(max_nmse);
  INHERIT(max_abs);
  INHERIT(max_mean_abs);
  INHERIT(max_ulp);
  INHERIT(min_top1);
  INHERIT(min_topk);
  if (!l->topk) l->topk = from->topk;
  if (l->elementwise < 0) l->elementwise = from->elementwise;
}

static int has_metric_thresholds(const ferry_vlimits *l) {
  return !isnan(l->min_cosine) || !isnan(l->min_snr_db) || !isnan(l->max_nmse) || !isnan(l->max_abs) ||
         !isnan(l->max_mean_abs) || !isnan(l->max_ulp) || !isnan(l->min_top1) || !isnan(l->min_topk);
}

void ferry_vlimits_resolve(ferry_vlimits *l) {
  int tolerances_given = !isnan(l->atol) || !isnan(l->rtol);
  if (l->elementwise < 0) l->elementwise = tolerances_given || !has_metric_thresholds(l);
  if (isnan(l->atol)) l->atol = 1e-5;
  if (isnan(l->rtol)) l->rtol = 1e-5;
  if (l->topk <= 0) l->topk = 5;
}

/* ---- element access ---- */

static double half_to_double(uint16_t h) {
  int e = (h >> 10) & 31, f = h & 1023;
  double v = e == 0 ? ldexp(f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexp(f + 1024, e - 25);
  return h & 0x8000 ? -v : v;
}

static double bf16_to_double(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

double ferry_velem(const ferry_tview *t, int64_t i) {
  const void *p = t->data;
  switch (t->dtype) {
  case FERRY_F32: return ((const float *)p)[i];
  case FERRY_F64: return ((const double *)p)[i];
  case FERRY_F16: return half_to_double(((const uint16_t *)p)[i]);
  case FERRY_BF16: return bf16_to_double(((const uint16_t *)p)[i]);
  case FERRY_I8: return ((const int8_t *)p)[i];
  case FERRY_U8: return ((const uint8_t *)p)[i];
  case FERRY_BOOL: return ((const uint8_t *)p)[i] != 0;
  case FERRY_I16: return ((const int16_t *)p)[i];
  case FERRY_U16: return ((const uint16_t *)p)[i];
  case FERRY_I32: return ((const int32_t *)p)[i];
  case FERRY_U32: return ((const uint32_t *)p)[i];
  case FERRY_I64: return (double)((const int64_t *)p)[i];
  case FERRY_U64: return (double)((const uint64_t *)p)[i];
  default: return 0;
  }
}

static int comparable(int dtype) {
  switch (dtype) {
  case FERRY_F32: case FERRY_F64: case FERRY_F16: case FERRY_BF16: case FERRY_I8: case FERRY_U8:
  case FERRY_BOOL: case FERRY_I16: case FERRY_U16: case FERRY_I32: case FERRY_U32: case FERRY_I64:
  case FERRY_U64: return 1;
  default: return 0;
  }
}

static int is_float(int dtype) {
  return dtype == FERRY_F32 || dtype == FERRY_F64 || dtype == FERRY_F16 || dtype == FERRY_BF16;
}

/* The bits of a float element mapped to an integer line where adjacent
 * floats are adjacent integers (negatives mirrored below zero). */
static int64_t ordered_bits(const ferry_tview *t, int64_t i) {
  int64_t v;
  switch (t->dtype) {
  case FERRY_F32: {
    int32_t b;
    memcpy(&b, (const char *)t->data + 4 * i, 4);
    v = b < 0 ? -(int64_t)(b & 0x7fffffff) : b;
    return v;
  }
  case FERRY_F64: {
    int64_t b;
    memcpy(&b, (const char *)t->data + 8 * i, 8);
    return b < 0 ? -(b & INT64_MAX) : b;
  }
  default: { /* f16, bf16 */
    uint16_t b = ((const uint16_t *)t->data)[i];
    return b & 0x8000 ? -(int64_t)(b & 0x7fff) : b;
  }
  }
}

static double ulp_distance(const ferry_tview *a, const ferry_tview *b, int64_t i, double x, double y) {
  if (!is_float(a->dtype)) return fabs(x - y);
  if (isnan(x) || isnan(y)) return isnan(x) && isnan(y) ? 0 : INFINITY;
  int64_t d = ordered_bits(a, i) - ordered_bits(b, i);
  return (double)(d < 0 ? -(uint64_t)d : (uint64_t)d);
}

/* ---- top-k over rows ---- */

/* Indices of the k largest values of row r (ties: lower index first). */
static void row_topk(const ferry_tview *t, int64_t r, int64_t len, int k, int64_t *idx) {
  double best[64];
  int n = 0;
  for (int64_t j = 0; j < len; j++) {
    double v = ferry_velem(t, r * len + j);
    if (isnan(v)) v = -INFINITY;
    if (n == k && v <= best[n - 1]) continue;
    int at = n < k ? n++ : k - 1;
    while (at > 0 && best[at - 1] < v) {
      best[at] = best[at - 1];
      idx[at] = idx[at - 1];
      at--;
    }
    best[at] = v;
    idx[at] = j;
  }
}

static void topk_agreement(const ferry_tview *a, const ferry_tview *b, int k, ferry_vmetrics *m) {
  m->top1 = m->topk = NAN;
  if (!is_float(b->dtype) || b->rank < 1 || b->dims[b->rank - 1] < 2 || b->numel == 0) return;
  int64_t len = b->dims[b->rank - 1], rows = b->numel / len;
  if (k > 64) k = 64;
  if (k > len) k = (int)len;
  m->k = k;
  int64_t ia[64], ib[64], same1 = 0;
  double overlap = 0;
  for (int64_t r = 0; r < rows; r++) {
    row_topk(a, r, len, k, ia);
    row_topk(b, r, len, k, ib);
    same1 += ia[0] == ib[0];
    int common = 0;
    for (int x = 0; x < k; x++)
      for (int y = 0; y < k; y++) common += ia[x] == ib[y];
    overlap += (double)common / k;
  }
  m->top1 = (double)same1 / rows;
  m->topk = overlap / rows;
}

/* ---- the pass ---- */

static int shapes_differ(const ferry_tview *a, const ferry_tview *b) {
  if (a->rank != b->rank) return 1;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 1;
  return 0;
}

static void shape_str(const ferry_tview *t, char *out, size_t n) {
  size_t k = (size_t)snprintf(out, n, "[");
  for (int d = 0; d < t->rank && k < n; d++) k += (size_t)snprintf(out + k, n - k, "%s%lld", d ? "," : "", (long long)t->dims[d]);
  if (k < n) snprintf(out + k, n - k, "]");
}

/* |a-b| with NaN == NaN and equal infinities as 0; *hard is set where the
 * pair differs in a way no tolerance covers (NaN or an infinity on one
 * side only, opposite infinities), *nan where one side only is NaN. */
static double abs_diff(double x, double y, int *hard, int *nan) {
  *nan = isnan(x) != isnan(y);
  if (isnan(x) || isnan(y)) return (*hard = *nan) ? INFINITY : 0;
  if (x == y) return *hard = 0, 0; /* equal infinities too */
  *hard = isinf(x) || isinf(y);
  return fabs(x - y);
}

static void accumulate(const ferry_tview *a, const ferry_tview *b, const ferry_vlimits *l, ferry_vmetrics *m) {
  double sum_abs = 0, dot = 0, aa = 0, bb = 0, ee = 0, worst_fail = -1, worst_any = -1;
  int64_t worst_f = -1, worst_a = -1;
  for (int64_t i = 0; i < b->numel; i++) {
    double x = ferry_velem(a, i), y = ferry_velem(b, i);
    int hard, nan;
    double d = abs_diff(x, y, &hard, &nan);
    m->n_nan += nan;
    m->n_nonfinite += hard;
    double rel = d == 0 ? 0 : y == 0 || isinf(y) ? INFINITY : d / fabs(y);
    int fails = hard || (d > l->atol && d > l->rtol * fabs(y));
    m->n_failed += fails;
    if (d > m->max_abs) m->max_abs = d;
    if (rel > m->max_rel) m->max_rel = rel;
    sum_abs += d;
    if (isfinite(x) && isfinite(y)) {
      dot += x * y, aa += x * x, bb += y * y, ee += (x - y) * (x - y);
    } else if (d > 0) {
      ee = INFINITY;
    }
    double u = ulp_distance(a, b, i, x, y);
    if (u > m->max_ulp) m->max_ulp = u;
    if (fails && d > worst_fail) worst_fail = d, worst_f = i;
    if (d > worst_any) worst_any = d, worst_a = i;
  }
  m->mean_abs = b->numel ? sum_abs / (double)b->numel : 0;
  m->cosine = aa == 0 && bb == 0 ? 1 : aa == 0 || bb == 0 ? 0 : dot / (sqrt(aa) * sqrt(bb));
  m->nmse = ee == 0 ? 0 : bb == 0 ? INFINITY : ee / bb;
  m->snr_db = ee == 0 ? INFINITY : bb == 0 ? -INFINITY : 10 * log10(bb / ee);
  if (a->dtype == FERRY_BOOL) m->max_ulp = NAN;
  m->worst = worst_f >= 0 ? worst_f : worst_a;
  if (m->worst >= 0) m->worst_actual = ferry_velem(a, m->worst), m->worst_expected = ferry_velem(b, m->worst);
}

/* The first threshold `m` misses, written to reason; 0 if none. */
static int missed(const ferry_vmetrics *m, const ferry_vlimits *l, char *reason, size_t n) {
  if (!l->elementwise && m->n_nonfinite)
    return snprintf(reason, n, "%lld elements NaN or infinite where the reference is not (or the reverse)",
                    (long long)m->n_nonfinite),
           1;
  if (l->elementwise && m->n_failed)
    return snprintf(reason, n, "%lld of %lld elements beyond tolerance (atol %g, rtol %g)%s", (long long)m->n_failed,
                    (long long)m->n, l->atol, l->rtol, m->n_nan ? ", NaN where the reference has none" : ""),
           1;
#define BELOW(v, lim, what) \
  if (!isnan(lim) && !((v) >= (lim))) return snprintf(reason, n, what " %.6g < %.6g", v, lim), 1
#define ABOVE(v, lim, what) \
  if (!isnan(lim) && !((v) <= (lim))) return snprintf(reason, n, what " %.6g > %.6g", v, lim), 1
  BELOW(m->cosine, l->min_cosine, "cosine");
  BELOW(m->snr_db, l->min_snr_db, "SNR dB");
  ABOVE(m->nmse, l->max_nmse, "NMSE");
  ABOVE(m->max_abs, l->max_abs, "max abs error");
  ABOVE(m->mean_abs, l->max_mean_abs, "mean abs error");
  if (!isnan(m->max_ulp)) ABOVE(m->max_ulp, l->max_ulp, "max ULP");
  if (!isnan(l->min_top1) && isnan(m->top1))
    return snprintf(reason, n, "top-1 agreement wanted, but the output has no class axis"), 1;
  BELOW(m->top1, l->min_top1, "top-1 agreement");
  if (!isnan(l->min_topk) && isnan(m->topk))
    return snprintf(reason, n, "top-k agreement wanted, but the output has no class axis"), 1;
  BELOW(m->topk, l->min_topk, "top-k agreement");
  return 0;
}

int ferry_vcompare(const ferry_tview *a, const ferry_tview *b, const ferry_vlimits *l, ferry_vmetrics *m,
                   char *reason, size_t n) {
  memset(m, 0, sizeof *m);
  m->worst = -1;
  m->top1 = m->topk = NAN;
  reason[0] = 0;
  if (a->kind || b->kind) return snprintf(reason, n, "sequence and optional outputs are not compared"), 0;
  if (a->dtype != b->dtype)
    return snprintf(reason, n, "dtype %s, the reference has %s", ferry_dtype_name(a->dtype), ferry_dtype_name(b->dtype)),
           0;
  if (!comparable(a->dtype)) return snprintf(reason, n, "dtype %s cannot be compared", ferry_dtype_name(a->dtype)), 0;
  if (shapes_differ(a, b)) {
    char sa[128], sb[128];
    shape_str(a, sa, sizeof sa);
    shape_str(b, sb, sizeof sb);
    return snprintf(reason, n, "shape %s, the reference has %s", sa, sb), 0;
  }
  m->n = b->numel;
  accumulate(a, b, l, m);
  topk_agreement(a, b, l->topk > 0 ? l->topk : 5, m);
  return !missed(m, l, reason, n);
}
