/*
 * movement_slice.c - kernels that cut, join or pad along axes: Concat,
 * Split, Slice, Pad, CenterCropPad (a Pad with negative pads for crops),
 * Compress, ReverseSequence, and CumSum (a running sum along one axis).
 *
 * They all view a tensor as [outer, axis, inner] or walk its rows (all
 * axes but the last) with an odometer, and copy contiguous runs with
 * memcpy; only the element-wise tails (steps != 1, pad borders) go
 * element by element.
 */
#include <string.h>

#include "movement.h"
#include "util.h"

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= d[i];
  return p;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Advances the odometer idx over dims[0..n); 0 when it wrapped around. */
static int next_index(int64_t *idx, const int64_t *dims, int n) {
  for (int d = n - 1; d >= 0; d--) {
    if (++idx[d] < dims[d]) return 1;
    idx[d] = 0;
  }
  return 0;
}

/* ---- Concat, Split ---- */

int ferry_kernel_Concat(ferry_kctx *k) {
  const ferry_tview *first = NULL;
  int64_t d[FERRY_MAX_RANK];
  int size, rc;
  for (int i = 0; i < k->n_in && !first; i++)
    if (ferry_mv_has(k, i)) first = &k->in[i];
  if (!first) return ferry_kernel_fail(k, "no inputs");
  if ((rc = ferry_mv_esize(k, first->dtype, &size))) return rc;
  int r = first->rank, axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), r);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", r);
  memcpy(d, first->dims, sizeof d);
  d[axis] = 0;
  for (int i = 0; i < k->n_in; i++) {
    const ferry_tview *t = &k->in[i];
    if (!ferry_mv_has(k, i)) continue;
    if (t->rank != r || t->dtype != first->dtype) return ferry_kernel_fail(k, "inputs differ in rank or dtype");
    for (int a = 0; a < r; a++)
      if (a != axis && t->dims[a] != d[a]) return ferry_kernel_fail(k, "inputs differ in dim %d", a);
    d[axis] += t->dims[axis];
  }
  if ((rc = ferry_mv_output(k, 0, first->dtype, r, d))) return rc;
  int64_t outer = prod(d, 0, axis), inner = prod(d, axis + 1, r), off = 0;
  char *o = k->out[0].data;
  if (k->out[0].numel == 0) return FERRY_OK;
  for (int64_t a = 0; a < outer; a++)
    for (int i = 0; i < k->n_in; i++) {
      if (!ferry_mv_has(k, i)) continue;
      int64_t chunk = k->in[i].dims[axis] * inner;
      if (!chunk) continue;
      ferry_mv_copy(o + off * size, (const char *)k->in[i].data + a * chunk * size, size, chunk);
      off += chunk;
    }
  return FERRY_OK;
}

/* Split sizes along a dim of size dim into sz[0..n). */
static int split_sizes(ferry_kctx *k, int64_t dim, int n, int64_t *sz) {
  const int64_t *a;
  int m = -1;
  if (k->opset < 13 && ferry_attr_has(k->sctx, "split")) {
    m = ferry_attr_ints(k->sctx, "split", &a);
    if (m != n) return ferry_kernel_fail(k, "split has %d sizes for %d outputs", m, n);
    if (n) memcpy(sz, a, (size_t)n * sizeof *sz);
  } else if (k->opset >= 13 && ferry_mv_has(k, 1)) {
    if (k->in[1].numel != n) return ferry_kernel_fail(k, "split has %lld sizes for %d outputs", (long long)k->in[1].numel, n);
    for (int i = 0; i < n; i++) sz[i] = ferry_mv_int(&k->in[1], i);
  } else { /* equal parts; from opset 18 the last may be smaller */
    int64_t part = (dim + n - 1) / n;
    for (int i = 0; i < n; i++) sz[i] = i < n - 1 ? part : dim - part * (n - 1);
  }
  int64_t sum = 0;
  for (int i = 0; i < n; i++) {
    if (sz[i] < 0 || sz[i] > dim) return ferry_kernel_fail(k, "split size %lld for a dim of %lld", (long long)sz[i], (long long)dim);
    sum += sz[i];
  }
  if (sum != dim) return ferry_kernel_fail(k, "split sizes add up to %lld, not %lld", (long long)sum, (long long)dim);
  return FERRY_OK;
}

int ferry_kernel_Split(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t sz[FERRY_MAX_RANK * 16], d[FERRY_MAX_RANK];
  int size, rc, n = k->n_out;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (n < 1 || n > (int)(sizeof sz / sizeof *sz)) return ferry_kernel_fail(k, "%d outputs", n);
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  if ((rc = split_sizes(k, x->dims[axis], n, sz))) return rc;
  int64_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank), off = 0;
  memcpy(d, x->dims, sizeof d);
  for (int i = 0; i < n; i++) {
    d[axis] = sz[i];
    if ((rc = ferry_mv_output(k, i, x->dtype, x->rank, d))) return rc;
  }
  for (int i = 0; i < n; i++) {
    int64_t chunk = sz[i] * inner;
    for (int64_t a = 0; a < outer && chunk; a++)
      ferry_mv_copy((char *)k->out[i].data + a * chunk * size,
                    (const char *)x->data + (a * x->dims[axis] * inner + off) * size, size, chunk);
    off += chunk;
  }
  return FERRY_OK;
}

/* ---- Slice ---- */

/* Slice argument j (starts 1, ends 2, axes 3, steps 4): attribute before
 * opset 10, input from 10. Count, -1 when absent, -2 (k->err) when bad. */
static int slice_arg(ferry_kctx *k, const char *name, int j, int64_t *v) {
  if (k->opset < 10) {
    const int64_t *a;
    if (!ferry_attr_has(k->sctx, name)) return -1;
    int n = ferry_attr_ints(k->sctx, name, &a);
    if (n > FERRY_MAX_RANK) return ferry_kernel_fail(k, "%s has %d values", name, n), -2;
    if (n) memcpy(v, a, (size_t)n * sizeof *v);
    return n;
  }
  if (!ferry_mv_has(k, j)) return -1;
  if (k->in[j].numel > FERRY_MAX_RANK) return ferry_kernel_fail(k, "%s has too many values", name), -2;
  for (int64_t i = 0; i < k->in[j].numel; i++) v[i] = ferry_mv_int(&k->in[j], i);
  return (int)k->in[j].numel;
}

/* Clamps one axis' start/end as ONNX specifies; returns the count. */
static int64_t slice_axis(int64_t d, int64_t *s, int64_t e, int64_t step) {
  if (*s < 0) *s += d;
  if (e < 0) e += d;
  uint64_t span, by;
  if (step > 0) {
    *s = clamp64(*s, 0, d), e = clamp64(e, 0, d);
    if (e <= *s) return 0;
    span = (uint64_t)(e - *s), by = (uint64_t)step;
  } else {
    *s = clamp64(*s, 0, d - 1), e = clamp64(e, -1, d - 1);
    if (*s <= e) return 0;
    span = (uint64_t)(*s - e), by = (uint64_t)(-(step + 1)) + 1;
  }
  return (int64_t)(1 + (span - 1) / by);
}

/* Copies the strided box: out[i...] = x[start + i * step ...]. */
static void strided_copy(char *o, const char *x, int size, int rank, const int64_t *od, const int64_t *start,
                         const int64_t *step, const int64_t *xd) {
  int64_t is[FERRY_MAX_RANK], idx[FERRY_MAX_RANK] = {0}, base = 0, n;
  if (!ferry_mv_numel(rank, od, &n) || n == 0) return;
  if (rank == 0) {
    memcpy(o, x, (size_t)size);
    return;
  }
  ferry_strides(rank, xd, is);
  for (int a = 0; a < rank; a++) base += start[a] * is[a];
  int64_t last = od[rank - 1], st = step[rank - 1];
  do {
    int64_t off = base;
    for (int a = 0; a < rank - 1; a++) off += idx[a] * step[a] * is[a];
    const char *s = x + off * size;
    if (st == 1) memcpy(o, s, (size_t)(last * size));
    else
      for (int64_t j = 0; j < last; j++) memcpy(o + j * size, s + j * st * size, (size_t)size);
    o += last * size;
  } while (next_index(idx, od, rank - 1));
}

int ferry_kernel_Slice(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t st[FERRY_MAX_RANK], en[FERRY_MAX_RANK], ax[FERRY_MAX_RANK], sp[FERRY_MAX_RANK];
  int64_t start[FERRY_MAX_RANK], step[FERRY_MAX_RANK], od[FERRY_MAX_RANK];
  int size, rc, seen[FERRY_MAX_RANK] = {0};
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  int ns = slice_arg(k, "starts", 1, st), ne = slice_arg(k, "ends", 2, en);
  int na = slice_arg(k, "axes", 3, ax), np = k->opset >= 10 ? slice_arg(k, "steps", 4, sp) : -1;
  if (ns == -2 || ne == -2 || na == -2 || np == -2) return FERRY_E_INPUT;
  if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (np >= 0 && np != ns))
    return ferry_kernel_fail(k, "%d starts, %d ends, %d axes, %d steps", ns, ne, na, np);
  for (int a = 0; a < x->rank; a++) start[a] = 0, step[a] = 1, od[a] = x->dims[a];
  for (int i = 0; i < ns; i++) {
    int a = ferry_axis(na >= 0 ? ax[i] : i, x->rank);
    if (a < 0 || seen[a]++) return ferry_kernel_fail(k, "bad or repeated axis %lld", (long long)(na >= 0 ? ax[i] : i));
    int64_t s = st[i], p = np >= 0 ? sp[i] : 1;
    if (p == 0) return ferry_kernel_fail(k, "step is 0");
    od[a] = slice_axis(x->dims[a], &s, en[i], p);
    start[a] = s, step[a] = p;
  }
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, od))) return rc;
  strided_copy(k->out[0].data, x->data, size, x->rank, od, start, step, x->dims);
  return FERRY_OK;
}

/* ---- Pad, CenterCropPad ---- */

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Source index of padded coordinate c (already minus the begin pad) on an
 * axis of size d, or -1 for the constant. */
static int64_t pad_source(int mode, int64_t c, int64_t d) {
  if (c >= 0 && c < d) return c;
  if (mode == PAD_CONSTANT) return -1;
  if (mode == PAD_EDGE) return c < 0 ? 0 : d - 1;
  if (mode == PAD_WRAP) return ((c % d) + d) % d;
  if (d == 1) return 0;
  int64_t period = 2 * (d - 1), m = ((c % period) + period) % period; /* reflect */
  return m < d ? m : period - m;
}

/* out = x padded by begin[a] / end[a] (negative: cropped) with `mode`;
 * value: the constant, one element. */
static int pad_run(ferry_kctx *k, const int64_t *begin, const int64_t *end, int mode, const void *value) {
  const ferry_tview *x = &k->in[0];
  int64_t od[FERRY_MAX_RANK], is[FERRY_MAX_RANK], n, total = 0;
  int size, rc, r = x->rank;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  for (int a = 0; a < r; a++) {
    int64_t lim = (int64_t)1 << 50;
    if (begin[a] > lim || begin[a] < -lim || end[a] > lim || end[a] < -lim || (od[a] = x->dims[a] + begin[a] + end[a]) < 0)
      return ferry_kernel_fail(k, "pads make axis %d negative or too large", a);
    if (mode != PAD_CONSTANT && x->dims[a] == 0 && od[a] > 0)
      return ferry_kernel_fail(k, "cannot pad an empty axis %d in this mode", a);
    total += od[a];
  }
  if ((rc = ferry_mv_output(k, 0, x->dtype, r, od))) return rc;
  if (!ferry_mv_numel(r, od, &n) || n == 0) return FERRY_OK;
  char *o = k->out[0].data;
  const char *s = x->data;
  if (r == 0) {
    memcpy(o, s, (size_t)size);
    return FERRY_OK;
  }
  int64_t *map = k->scratch(k, (size_t)total * sizeof(int64_t)), *m[FERRY_MAX_RANK];
  if (!map) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  int64_t at = 0;
  for (int a = 0; a < r; at += od[a], a++) {
    m[a] = map + at;
    for (int64_t j = 0; j < od[a]; j++) m[a][j] = pad_source(mode, j - begin[a], x->dims[a]);
  }
  ferry_strides(r, x->dims, is);
  int64_t idx[FERRY_MAX_RANK] = {0}, last = od[r - 1], b = begin[r - 1], d = x->dims[r - 1];
  int64_t lo = clamp64(b, 0, last), hi = clamp64(b + d, lo, last);
  do {
    int64_t off = 0;
    int constant = 0;
    for (int a = 0; a < r - 1; a++) {
      int64_t src = m[a][idx[a]];
      if (src < 0) constant = 1;
      off += src * is[a];
    }
    for (int64_t j = 0; j < last; j++) {
      if (!constant && j == lo && hi > lo) { /* the unpadded middle */
        memcpy(o + j * size, s + (off + j - b) * size, (size_t)((hi - lo) * size));
        j = hi - 1;
        continue;
      }
      int64_t src = constant ? -1 : m[r - 1][j];
      memcpy(o + j * size, src < 0 ? value : s + (off + src) * size, (size_t)size);
    }
    o += last * size;
  } while (next_index(idx, od, r - 1));
  return FERRY_OK;
}

int ferry_kernel_Pad(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t pads[2 * FERRY_MAX_RANK], begin[FERRY_MAX_RANK] = {0}, end[FERRY_MAX_RANK] = {0};
  int axes[FERRY_MAX_RANK], n = x->rank, np, r = x->rank;
  unsigned char value[16] = {0};
  const char *ms = ferry_attr_str(k->sctx, "mode", "constant");
  int mode = !strcmp(ms, "constant") ? PAD_CONSTANT : !strcmp(ms, "reflect") ? PAD_REFLECT
           : !strcmp(ms, "edge") ? PAD_EDGE : !strcmp(ms, "wrap") ? PAD_WRAP : -1;
  if (mode < 0) return ferry_kernel_fail(k, "unknown mode '%s'", ms);
  if (ferry_dtype_size(x->dtype) > (int)sizeof value) return ferry_kernel_fail(k, "dtype is not supported");
  for (int a = 0; a < r; a++) axes[a] = a;
  if (k->opset < 11) {
    const int64_t *p;
    np = ferry_attr_ints(k->sctx, k->opset < 2 ? "paddings" : "pads", &p);
    if (np > 2 * FERRY_MAX_RANK) return ferry_kernel_fail(k, "too many pads");
    if (np > 0) memcpy(pads, p, (size_t)np * sizeof *pads);
    ferry_mv_store(value, x->dtype, 0, ferry_attr_float(k->sctx, "value", 0), 0);
  } else {
    if (!ferry_mv_has(k, 1) || k->in[1].numel > 2 * FERRY_MAX_RANK) return ferry_kernel_fail(k, "bad pads input");
    np = (int)k->in[1].numel;
    for (int i = 0; i < np; i++) pads[i] = ferry_mv_int(&k->in[1], i);
    if (ferry_mv_has(k, 2) && k->in[2].numel >= 1) {
      if (k->in[2].dtype != x->dtype) return ferry_kernel_fail(k, "constant_value has another dtype");
      memcpy(value, k->in[2].data, (size_t)ferry_dtype_size(x->dtype));
    }
    if (k->opset >= 18 && ferry_mv_has(k, 3)) {
      if (k->in[3].numel > r) return ferry_kernel_fail(k, "axes has %lld values for rank %d", (long long)k->in[3].numel, r);
      n = (int)k->in[3].numel;
      for (int i = 0; i < n; i++)
        if ((axes[i] = ferry_axis(ferry_mv_int(&k->in[3], i), r)) < 0) return ferry_kernel_fail(k, "axis out of range");
    }
  }
  if (np != 2 * n) return ferry_kernel_fail(k, "pads has %d values, expected %d", np, 2 * n);
  for (int i = 0; i < n; i++) begin[axes[i]] = pads[i], end[axes[i]] = pads[i + n];
  return pad_run(k, begin, end, mode, value);
}

int ferry_kernel_CenterCropPad(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t begin[FERRY_MAX_RANK] = {0}, end[FERRY_MAX_RANK] = {0};
  const int64_t *a = NULL;
  int r = x->rank, n = ferry_attr_ints(k->sctx, "axes", &a), axes[FERRY_MAX_RANK];
  unsigned char zero[16] = {0};
  if (n > r) return ferry_kernel_fail(k, "axes has %d values for rank %d", n, r);
  for (int i = 0; i < n; i++)
    if ((axes[i] = ferry_axis(a[i], r)) < 0) return ferry_kernel_fail(k, "axis %lld out of range", (long long)a[i]);
  if (!n)
    for (n = 0; n < r; n++) axes[n] = n;
  if (!ferry_mv_has(k, 1) || k->in[1].numel != n) return ferry_kernel_fail(k, "shape must have %d values", n);
  for (int i = 0; i < n; i++) {
    int64_t t = ferry_mv_int(&k->in[1], i), d = x->dims[axes[i]];
    if (t < 0 || t > ((int64_t)1 << 50)) return ferry_kernel_fail(k, "bad target dim %lld", (long long)t);
    int64_t diff = t > d ? t - d : d - t, sign = t > d ? 1 : -1;
    begin[axes[i]] = sign * (diff / 2), end[axes[i]] = sign * (diff - diff / 2);
  }
  return pad_run(k, begin, end, PAD_CONSTANT, zero);
}

/* ---- Compress ---- */

int ferry_kernel_Compress(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *c = &k->in[1];
  int size, rc, has_axis = ferry_attr_has(k->sctx, "axis");
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (!ferry_mv_has(k, 1) || c->rank > 1) return ferry_kernel_fail(k, "condition must be 1-D");
  int axis = has_axis ? ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank) : 0;
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range");
  int64_t outer = has_axis ? prod(x->dims, 0, axis) : 1, dim = has_axis ? x->dims[axis] : x->numel;
  int64_t inner = has_axis ? prod(x->dims, axis + 1, x->rank) : 1, lim = c->numel < dim ? c->numel : dim, cnt = 0;
  for (int64_t i = 0; i < lim; i++) cnt += ferry_load_f64(c->data, c->dtype, i) != 0;
  int64_t d[FERRY_MAX_RANK];
  memcpy(d, x->dims, sizeof d);
  d[axis] = cnt;
  if ((rc = has_axis ? ferry_mv_output(k, 0, x->dtype, x->rank, d) : ferry_mv_output(k, 0, x->dtype, 1, &cnt))) return rc;
  char *o = k->out[0].data;
  for (int64_t a = 0; a < outer && cnt; a++)
    for (int64_t i = 0; i < lim; i++)
      if (ferry_load_f64(c->data, c->dtype, i) != 0) {
        memcpy(o, (const char *)x->data + ((a * dim + i) * inner) * size, (size_t)(inner * size));
        o += inner * size;
      }
  return FERRY_OK;
}

/* ---- ReverseSequence ---- */

int ferry_kernel_ReverseSequence(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *l = &k->in[1];
  int64_t ta = ferry_attr_int(k->sctx, "time_axis", 0), ba = ferry_attr_int(k->sctx, "batch_axis", 1);
  int size, rc;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2");
  if (!((ta == 0 && ba == 1) || (ta == 1 && ba == 0))) return ferry_kernel_fail(k, "time_axis and batch_axis must be 0 and 1");
  int64_t T = x->dims[ta], B = x->dims[ba], inner = prod(x->dims, 2, x->rank);
  if (!ferry_mv_has(k, 1) || l->numel != B) return ferry_kernel_fail(k, "sequence_lens must have %lld values", (long long)B);
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, x->dims))) return rc;
  if (x->numel == 0) return FERRY_OK;
  for (int64_t b = 0; b < B; b++) {
    int64_t len = ferry_mv_int(l, b);
    if (len < 0 || len > T) return ferry_kernel_fail(k, "sequence length %lld out of range [0, %lld]", (long long)len, (long long)T);
    for (int64_t t = 0; t < T; t++) {
      int64_t src = t < len ? len - 1 - t : t;
      int64_t di = ta == 0 ? t * B + b : b * T + t, si = ta == 0 ? src * B + b : b * T + src;
      memcpy((char *)k->out[0].data + di * inner * size, (const char *)x->data + si * inner * size, (size_t)(inner * size));
    }
  }
  return FERRY_OK;
}

/* ---- CumSum ---- */

/* Running sums of rows along the axis: out row j = out row j-1 + x row j
 * (inclusive) or x row j-1 (exclusive), rows of `inner` elements. Integers
 * wrap (computed unsigned). */
#define CUMSUM(NAME, T, U)                                                                   \
  static void NAME(const void *xv, void *ov, int64_t outer, int64_t n, int64_t inner, int excl, int rev) { \
    const T *x = xv;                                                                         \
    T *o = ov;                                                                               \
    for (int64_t a = 0; a < outer; a++)                                                      \
      for (int64_t s = 0; s < n; s++) {                                                      \
        int64_t j = rev ? n - 1 - s : s, pj = rev ? j + 1 : j - 1;                           \
        T *dst = o + (a * n + j) * inner;                                                    \
        if (s == 0) {                                                                        \
          for (int64_t i = 0; i < inner; i++) dst[i] = excl ? (T)0 : x[(a * n + j) * inner + i]; \
          continue;                                                                          \
        }                                                                                    \
        const T *prev = o + (a * n + pj) * inner, *add = x + (a * n + (excl ? pj : j)) * inner; \
        for (int64_t i = 0; i < inner; i++) dst[i] = (T)((U)prev[i] + (U)add[i]);           \
      }                                                                                      \
  }
CUMSUM(cumsum_f32, float, float)
CUMSUM(cumsum_f64, double, double)
CUMSUM(cumsum_i32, int32_t, uint32_t)
CUMSUM(cumsum_u32, uint32_t, uint32_t)
CUMSUM(cumsum_i64, int64_t, uint64_t)
CUMSUM(cumsum_u64, uint64_t, uint64_t)

/* Other dtypes (float16, bfloat16, small integers): sums in double. */
static int cumsum_generic(ferry_kctx *k, int64_t outer, int64_t n, int64_t inner, int excl, int rev) {
  const ferry_tview *x = &k->in[0];
  double *acc = k->scratch(k, (size_t)(inner ? inner : 1) * sizeof(double));
  if (!acc) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  for (int64_t a = 0; a < outer; a++) {
    for (int64_t i = 0; i < inner; i++) acc[i] = 0;
    for (int64_t s = 0; s < n; s++) {
      int64_t j = rev ? n - 1 - s : s, base = (a * n + j) * inner;
      for (int64_t i = 0; i < inner; i++) {
        double v = ferry_load_f64(x->data, x->dtype, base + i);
        if (!excl) acc[i] += v;
        ferry_mv_store(k->out[0].data, x->dtype, base + i, acc[i], 0);
        if (excl) acc[i] += v;
      }
    }
  }
  return FERRY_OK;
}

int ferry_kernel_CumSum(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int rc;
  if (!ferry_mv_has(k, 1) || k->in[1].numel != 1) return ferry_kernel_fail(k, "axis must be a scalar");
  int axis = ferry_axis(ferry_mv_int(&k->in[1], 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, x->dims))) return rc;
  int excl = ferry_attr_int(k->sctx, "exclusive", 0) != 0, rev = ferry_attr_int(k->sctx, "reverse", 0) != 0;
  int64_t outer = prod(x->dims, 0, axis), n = x->dims[axis], inner = prod(x->dims, axis + 1, x->rank);
  void *o = k->out[0].data;
  if (x->numel == 0) return FERRY_OK;
  switch (x->dtype) {
  case FERRY_F32: cumsum_f32(x->data, o, outer, n, inner, excl, rev); break;
  case FERRY_F64: cumsum_f64(x->data, o, outer, n, inner, excl, rev); break;
  case FERRY_I32: cumsum_i32(x->data, o, outer, n, inner, excl, rev); break;
  case FERRY_U32: cumsum_u32(x->data, o, outer, n, inner, excl, rev); break;
  case FERRY_I64: cumsum_i64(x->data, o, outer, n, inner, excl, rev); break;
  case FERRY_U64: cumsum_u64(x->data, o, outer, n, inner, excl, rev); break;
  default:
    if (ferry_dtype_size(x->dtype) <= 0 || x->dtype == FERRY_BOOL || x->dtype > FERRY_BF16 || x->dtype == FERRY_C64 ||
        x->dtype == FERRY_C128)
      return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(x->dtype));
    return cumsum_generic(k, outer, n, inner, excl, rev);
  }
  return FERRY_OK;
}
