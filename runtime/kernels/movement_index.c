/*
 * movement_index.c - kernels driven by index data: Gather, GatherElements,
 * GatherND, Scatter / ScatterElements / ScatterND (with their reduction
 * attribute), OneHot, and the data-dependent NonZero and Unique.
 *
 * Indices are data: every one is read as int64 (ferry_mv_int), wrapped
 * when negative, and checked against its axis before any element moves;
 * a bad one fails the kernel (OneHot alone maps it to all-off, as ONNX
 * says). Scatters copy the data first, then apply each update in order.
 */
#include <string.h>

#include "movement.h"
#include "util.h"

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= d[i];
  return p;
}

/* Advances the odometer idx over dims[0..n); 0 when it wrapped around. */
static int next_index(int64_t *idx, const int64_t *dims, int n) {
  for (int d = n - 1; d >= 0; d--) {
    if (++idx[d] < dims[d]) return 1;
    idx[d] = 0;
  }
  return 0;
}

/* Reads index i of t, wrapped for an axis of size d, into *v. */
static int read_index(ferry_kctx *k, const ferry_tview *t, int64_t i, int64_t d, int64_t *v) {
  *v = ferry_mv_int(t, i);
  int64_t raw = *v;
  if (ferry_mv_wrap(v, d)) return ferry_kernel_fail(k, "index %lld out of range [-%lld, %lld)", (long long)raw, (long long)d, (long long)d);
  return FERRY_OK;
}

/* ---- Gather ---- */

typedef struct gather_job {
  const char *x;
  char *o;
  const int64_t *idx;
  int64_t n, d, inner;
  int size;
} gather_job;

static void gather_rows(void *arg, int64_t begin, int64_t end) {
  const gather_job *g = arg;
  size_t row = (size_t)(g->inner * g->size);
  for (int64_t u = begin; u < end; u++) {
    int64_t a = u / g->n, j = u - a * g->n;
    memcpy(g->o + (size_t)u * row, g->x + (size_t)(a * g->d + g->idx[j]) * row, row);
  }
}

int ferry_kernel_Gather(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1];
  int size, rc, r = 0;
  int64_t d[FERRY_MAX_RANK];
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  if (x->rank - 1 + ix->rank > FERRY_MAX_RANK) return ferry_kernel_fail(k, "output rank over %d", FERRY_MAX_RANK);
  for (int i = 0; i < axis; i++) d[r++] = x->dims[i];
  for (int i = 0; i < ix->rank; i++) d[r++] = ix->dims[i];
  for (int i = axis + 1; i < x->rank; i++) d[r++] = x->dims[i];
  int64_t *idx = k->scratch(k, (size_t)(ix->numel + 1) * sizeof(int64_t));
  if (!idx) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  for (int64_t i = 0; i < ix->numel; i++)
    if ((rc = read_index(k, ix, i, x->dims[axis], &idx[i]))) return rc;
  if ((rc = ferry_mv_output(k, 0, x->dtype, r, d))) return rc;
  gather_job g = {x->data, k->out[0].data, idx, ix->numel, x->dims[axis], prod(x->dims, axis + 1, x->rank), size};
  if (k->out[0].numel == 0) return FERRY_OK;
  ferry_mv_parallel(k, prod(x->dims, 0, axis) * ix->numel, g.inner, gather_rows, &g);
  return FERRY_OK;
}

/* ---- element-wise gathers and scatters ---- */

/* Checks indices (rank of data, dims within data's except on axis). */
static int check_elements(ferry_kctx *k, const ferry_tview *x, const ferry_tview *ix, int axis) {
  if (ix->rank != x->rank) return ferry_kernel_fail(k, "indices have rank %d, data %d", ix->rank, x->rank);
  for (int a = 0; a < x->rank; a++)
    if (a != axis && ix->dims[a] > x->dims[a])
      return ferry_kernel_fail(k, "indices dim %d (%lld) exceeds the data's (%lld)", a, (long long)ix->dims[a], (long long)x->dims[a]);
  return FERRY_OK;
}

/* Offset in x of the element the index at position p (odometer idx) names. */
static int element_offset(ferry_kctx *k, const ferry_tview *x, const ferry_tview *ix, int axis, const int64_t *xs,
                          const int64_t *pos, int64_t p, int64_t *off) {
  int64_t v, o = 0;
  int rc = read_index(k, ix, p, x->dims[axis], &v);
  if (rc) return rc;
  for (int a = 0; a < x->rank; a++) o += (a == axis ? v : pos[a]) * xs[a];
  *off = o;
  return FERRY_OK;
}

int ferry_kernel_GatherElements(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1];
  int size, rc;
  int64_t xs[FERRY_MAX_RANK], pos[FERRY_MAX_RANK] = {0}, off;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  if ((rc = check_elements(k, x, ix, axis))) return rc;
  if ((rc = ferry_mv_output(k, 0, x->dtype, ix->rank, ix->dims))) return rc;
  ferry_strides(x->rank, x->dims, xs);
  char *o = k->out[0].data;
  for (int64_t p = 0; p < ix->numel; p++, next_index(pos, ix->dims, ix->rank)) {
    if ((rc = element_offset(k, x, ix, axis, xs, pos, p, &off))) return rc;
    memcpy(o + p * size, (const char *)x->data + off * size, (size_t)size);
  }
  return FERRY_OK;
}

enum reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int reduction_of(ferry_kctx *k, int *red) {
  const char *s = ferry_attr_str(k->sctx, "reduction", "none");
  *red = !strcmp(s, "none") ? RED_NONE : !strcmp(s, "add") ? RED_ADD : !strcmp(s, "mul") ? RED_MUL
       : !strcmp(s, "max") ? RED_MAX : !strcmp(s, "min") ? RED_MIN : -1;
  if (*red < 0) return ferry_kernel_fail(k, "unknown reduction '%s'", s);
  return FERRY_OK;
}

/* o[oi] = reduce(o[oi], u[ui]) for n consecutive elements. */
static void apply_update(void *o, int64_t oi, const void *u, int64_t ui, int64_t n, int dt, int size, int red) {
  if (red == RED_NONE) {
    memcpy((char *)o + oi * size, (const char *)u + ui * size, (size_t)(n * size));
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    if (ferry_dtype_is_float(dt)) {
      double a = ferry_load_f64(o, dt, oi + i), b = ferry_load_f64(u, dt, ui + i);
      double v = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a >= b ? a : b) : (a <= b ? a : b);
      ferry_store_f64(o, dt, oi + i, v);
    } else if (dt == FERRY_U64) {
      uint64_t a = (uint64_t)ferry_load_i64(o, dt, oi + i), b = (uint64_t)ferry_load_i64(u, dt, ui + i);
      uint64_t v = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
      ferry_store_i64(o, dt, oi + i, (int64_t)v);
    } else {
      int64_t a = ferry_load_i64(o, dt, oi + i), b = ferry_load_i64(u, dt, ui + i);
      int64_t v = red == RED_ADD ? (int64_t)((uint64_t)a + (uint64_t)b) : red == RED_MUL ? (int64_t)((uint64_t)a * (uint64_t)b)
                : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
      ferry_store_i64(o, dt, oi + i, v);
    }
  }
}

/* Scatter (opset 9-10) and ScatterElements. */
static int scatter_elements(ferry_kctx *k, int red) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1], *up = &k->in[2];
  int size, rc;
  int64_t xs[FERRY_MAX_RANK], pos[FERRY_MAX_RANK] = {0}, off;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (k->n_in < 3 || up->dtype != x->dtype || up->rank != ix->rank || up->numel != ix->numel)
    return ferry_kernel_fail(k, "updates must match the indices' shape and the data's dtype");
  for (int a = 0; a < ix->rank; a++)
    if (up->dims[a] != ix->dims[a]) return ferry_kernel_fail(k, "updates must match the indices' shape");
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  if ((rc = check_elements(k, x, ix, axis))) return rc;
  for (int64_t p = 0; p < ix->numel; p++) /* check every index before writing */
    if ((rc = read_index(k, ix, p, x->dims[axis], &off))) return rc;
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, x->dims))) return rc;
  ferry_mv_copy(k->out[0].data, x->data, size, x->numel);
  ferry_strides(x->rank, x->dims, xs);
  for (int64_t p = 0; p < ix->numel; p++, next_index(pos, ix->dims, ix->rank)) {
    if ((rc = element_offset(k, x, ix, axis, xs, pos, p, &off))) return rc;
    apply_update(k->out[0].data, off, up->data, p, 1, x->dtype, size, red);
  }
  return FERRY_OK;
}

int ferry_kernel_Scatter(ferry_kctx *k) { return scatter_elements(k, RED_NONE); }

int ferry_kernel_ScatterElements(ferry_kctx *k) {
  int red, rc = reduction_of(k, &red);
  return rc ? rc : scatter_elements(k, red);
}

/* ---- ND gathers and scatters ---- */

/* Offset in x (strides xs, from axis `from`) of index tuple t (kk values). */
static int tuple_offset(ferry_kctx *k, const ferry_tview *x, const ferry_tview *ix, int from, int64_t kk,
                        const int64_t *xs, int64_t t, int64_t *off) {
  int64_t o = 0, v;
  for (int64_t j = 0; j < kk; j++) {
    int rc = read_index(k, ix, t * kk + j, x->dims[from + j], &v);
    if (rc) return rc;
    o += v * xs[from + j];
  }
  *off = o;
  return FERRY_OK;
}

int ferry_kernel_GatherND(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1];
  int size, rc, r = 0;
  int64_t b = ferry_attr_int(k->sctx, "batch_dims", 0), d[FERRY_MAX_RANK], xs[FERRY_MAX_RANK], off;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (ix->rank < 1) return ferry_kernel_fail(k, "indices must have rank >= 1");
  int64_t kk = ix->dims[ix->rank - 1];
  if (b < 0 || b >= ix->rank || b + kk > x->rank) return ferry_kernel_fail(k, "indices reach past the data's rank");
  for (int i = 0; i < b; i++)
    if (ix->dims[i] != x->dims[i]) return ferry_kernel_fail(k, "batch dim %d differs", i);
  if (ix->rank - 1 + x->rank - b - kk > FERRY_MAX_RANK) return ferry_kernel_fail(k, "output rank over %d", FERRY_MAX_RANK);
  for (int i = 0; i < ix->rank - 1; i++) d[r++] = ix->dims[i];
  for (int64_t i = b + kk; i < x->rank; i++) d[r++] = x->dims[i];
  if ((rc = ferry_mv_output(k, 0, x->dtype, r, d))) return rc;
  ferry_strides(x->rank, x->dims, xs);
  int64_t nb = prod(x->dims, 0, (int)b), tuples = kk ? ix->numel / kk : prod(ix->dims, 0, ix->rank - 1);
  int64_t per = nb ? tuples / nb : 0, slice = prod(x->dims, (int)(b + kk), x->rank), xb = prod(x->dims, (int)b, x->rank);
  char *o = k->out[0].data;
  for (int64_t t = 0; t < tuples; t++) {
    if ((rc = tuple_offset(k, x, ix, (int)b, kk, xs, t, &off))) return rc;
    if (slice) memcpy(o + t * slice * size, (const char *)x->data + ((t / per) * xb + off) * size, (size_t)(slice * size));
  }
  return FERRY_OK;
}

int ferry_kernel_ScatterND(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1], *up = &k->in[2];
  int size, red, rc = reduction_of(k, &red);
  int64_t xs[FERRY_MAX_RANK], off;
  if (rc || (rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (k->n_in < 3 || ix->rank < 1 || up->dtype != x->dtype) return ferry_kernel_fail(k, "bad indices or updates");
  int64_t kk = ix->dims[ix->rank - 1];
  if (kk > x->rank) return ferry_kernel_fail(k, "indices reach past the data's rank");
  int ur = ix->rank - 1 + x->rank - (int)kk, ok = up->rank == ur;
  for (int i = 0; ok && i < ix->rank - 1; i++) ok = up->dims[i] == ix->dims[i];
  for (int i = (int)kk; ok && i < x->rank; i++) ok = up->dims[ix->rank - 1 + i - kk] == x->dims[i];
  if (!ok) return ferry_kernel_fail(k, "updates have the wrong shape");
  int64_t tuples = prod(ix->dims, 0, ix->rank - 1), slice = prod(x->dims, (int)kk, x->rank);
  ferry_strides(x->rank, x->dims, xs);
  for (int64_t t = 0; t < tuples; t++) /* check every index before writing */
    if ((rc = tuple_offset(k, x, ix, 0, kk, xs, t, &off))) return rc;
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, x->dims))) return rc;
  ferry_mv_copy(k->out[0].data, x->data, size, x->numel);
  for (int64_t t = 0; t < tuples && slice; t++) {
    if ((rc = tuple_offset(k, x, ix, 0, kk, xs, t, &off))) return rc;
    apply_update(k->out[0].data, off, up->data, t * slice, slice, x->dtype, size, red);
  }
  return FERRY_OK;
}

/* ---- OneHot ---- */

int ferry_kernel_OneHot(ferry_kctx *k) {
  const ferry_tview *ix = &k->in[0], *dp = &k->in[1], *val = &k->in[2];
  int size, rc;
  if (k->n_in < 3 || !ferry_mv_has(k, 1) || !ferry_mv_has(k, 2) || dp->numel != 1 || val->numel != 2)
    return ferry_kernel_fail(k, "depth must be a scalar and values have 2 elements");
  if ((rc = ferry_mv_esize(k, val->dtype, &size))) return rc;
  int r = ix->rank + 1, axis = ferry_axis(ferry_attr_int(k->sctx, "axis", -1), r);
  if (axis < 0 || r > FERRY_MAX_RANK) return ferry_kernel_fail(k, "axis out of range");
  double df = ferry_load_f64(dp->data, dp->dtype, 0);
  if (!(df >= 0 && df < 9e15)) return ferry_kernel_fail(k, "depth %g", df);
  int64_t depth = (int64_t)df, d[FERRY_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) d[i] = i == axis ? depth : ix->dims[j++];
  if ((rc = ferry_mv_output(k, 0, val->dtype, r, d))) return rc;
  char *o = k->out[0].data;
  const char *off = val->data, *on = off + size;
  int64_t n = k->out[0].numel, outer = prod(ix->dims, 0, axis), inner = prod(ix->dims, axis, ix->rank);
  for (int64_t i = 0; i < n; i++) memcpy(o + i * size, off, (size_t)size);
  for (int64_t a = 0; a < outer; a++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t v = ferry_mv_int(ix, a * inner + i);
      if (ferry_mv_wrap(&v, depth)) continue; /* out of range: all off */
      memcpy(o + ((a * depth + v) * inner + i) * size, on, (size_t)size);
    }
  return FERRY_OK;
}

/* ---- NonZero ---- */

static int nonzero_at(const ferry_tview *x, int size, int64_t i) {
  if (ferry_dtype_is_float(x->dtype)) return ferry_load_f64(x->data, x->dtype, i) != 0;
  const unsigned char *p = (const unsigned char *)x->data + i * size;
  for (int b = 0; b < size; b++)
    if (p[b]) return 1;
  return 0;
}

int ferry_kernel_NonZero(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int size, rc;
  int64_t n = 0, d[2], pos[FERRY_MAX_RANK] = {0};
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  for (int64_t i = 0; i < x->numel; i++) n += nonzero_at(x, size, i);
  int r = x->rank ? x->rank : 1; /* a scalar gives one coordinate row, as numpy and onnxruntime do */
  d[0] = r, d[1] = n;
  if ((rc = ferry_mv_output(k, 0, FERRY_I64, 2, d))) return rc;
  int64_t *o = k->out[0].data, j = 0;
  for (int64_t i = 0; i < x->numel; i++, next_index(pos, x->dims, x->rank)) {
    if (!nonzero_at(x, size, i)) continue;
    for (int a = 0; a < r; a++) o[a * n + j] = x->rank ? pos[a] : 0;
    j++;
  }
  return FERRY_OK;
}

/* ---- Unique ---- */

typedef struct unique_ctx {
  const ferry_tview *x;
  int64_t outer, n, inner;
} unique_ctx;

static int compare_elems(const ferry_tview *x, int64_t i, int64_t j) {
  int dt = x->dtype;
  if (ferry_dtype_is_float(dt)) {
    double a = ferry_load_f64(x->data, dt, i), b = ferry_load_f64(x->data, dt, j);
    if (a != a || b != b) return (a != a) - (b != b); /* NaNs last, equal to each other */
    return a < b ? -1 : a > b;
  }
  if (dt == FERRY_U64) {
    uint64_t a = (uint64_t)ferry_load_i64(x->data, dt, i), b = (uint64_t)ferry_load_i64(x->data, dt, j);
    return a < b ? -1 : a > b;
  }
  int64_t a = ferry_mv_int(x, i), b = ferry_mv_int(x, j);
  return a < b ? -1 : a > b;
}

/* Lexicographic order of slices a and b along the middle axis. */
static int compare_slices(const void *ctx, int64_t a, int64_t b) {
  const unique_ctx *u = ctx;
  for (int64_t o = 0; o < u->outer; o++)
    for (int64_t i = 0; i < u->inner; i++) {
      int c = compare_elems(u->x, (o * u->n + a) * u->inner + i, (o * u->n + b) * u->inner + i);
      if (c) return c;
    }
  return 0;
}

static int compare_ints(const void *ctx, int64_t a, int64_t b) {
  const int64_t *v = ctx;
  return v[a] < v[b] ? -1 : v[a] > v[b];
}

int ferry_kernel_Unique(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int size, rc, has_axis = ferry_attr_has(k->sctx, "axis"), sorted = ferry_attr_int(k->sctx, "sorted", 1) != 0;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  int axis = has_axis ? ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank) : 0;
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range");
  unique_ctx u = {x, has_axis ? prod(x->dims, 0, axis) : 1, has_axis ? x->dims[axis] : x->numel,
                  has_axis ? prod(x->dims, axis + 1, x->rank) : 1};
  int64_t n = u.n, *w = k->scratch(k, (size_t)(6 * n + 1) * sizeof(int64_t));
  if (!w) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  int64_t *order = w, *tmp = w + n, *group = w + 2 * n, *first = w + 3 * n, *count = w + 4 * n, *pos = w + 5 * n, g = -1;
  for (int64_t i = 0; i < n; i++) order[i] = i;
  ferry_mv_sort(order, tmp, n, compare_slices, &u);
  for (int64_t p = 0; p < n; p++) { /* stable: each group's first entry is its first occurrence */
    if (p == 0 || compare_slices(&u, order[p - 1], order[p])) first[++g] = order[p], count[g] = 0;
    group[order[p]] = g;
    count[g]++;
  }
  int64_t nu = g + 1;
  for (int64_t i = 0; i < nu; i++) order[i] = i; /* order: output position -> group */
  if (!sorted) ferry_mv_sort(order, tmp, nu, compare_ints, first);
  for (int64_t i = 0; i < nu; i++) pos[order[i]] = i;
  int64_t d[FERRY_MAX_RANK];
  memcpy(d, x->dims, sizeof d);
  d[axis] = nu;
  if ((rc = has_axis ? ferry_mv_output(k, 0, x->dtype, x->rank, d) : ferry_mv_output(k, 0, x->dtype, 1, &nu))) return rc;
  for (int i = 1; i < k->n_out && i < 4; i++)
    if ((rc = ferry_mv_output(k, i, FERRY_I64, 1, i == 2 ? &n : &nu))) return rc;
  char *y = k->out[0].data;
  for (int64_t o = 0; o < u.outer && nu; o++)
    for (int64_t i = 0; i < nu; i++)
      memcpy(y + ((o * nu + i) * u.inner) * size, (const char *)x->data + ((o * n + first[order[i]]) * u.inner) * size,
             (size_t)(u.inner * size));
  for (int64_t i = 0; i < nu && k->n_out > 1; i++) ((int64_t *)k->out[1].data)[i] = first[order[i]];
  for (int64_t i = 0; i < n && k->n_out > 2; i++) ((int64_t *)k->out[2].data)[i] = pos[group[i]];
  for (int64_t i = 0; i < nu && k->n_out > 3; i++) ((int64_t *)k->out[3].data)[i] = count[order[i]];
  return FERRY_OK;
}
