/*
 * movement_shape.c - kernels that copy their input under a new shape
 * (Identity, Reshape, Flatten, Squeeze, Unsqueeze), describe a shape
 * (Shape, Size) or generate a tensor (Constant, ConstantOfShape, EyeLike,
 * Range), and Trilu, which copies with a triangle zeroed.
 *
 * Each computes its output shape itself from the inputs and attributes
 * (as runtime/ops/tensor.c's rules do) and hands it to ferry_mv_output,
 * which checks the executor's preallocated output or shapes it.
 */
#include <math.h>
#include <string.h>

#include "movement.h"
#include "util.h"

/* ---- copies under a new shape ---- */

/* out[0] = in[0] with dims[0..rank). */
static int copy_as(ferry_kctx *k, int rank, const int64_t *dims) {
  const ferry_tview *x = &k->in[0];
  int64_t n;
  int size, rc = ferry_mv_esize(k, x->dtype, &size);
  if (rc) return rc;
  if (!ferry_mv_numel(rank, dims, &n) || n != x->numel)
    return ferry_kernel_fail(k, "cannot reshape %lld elements to the target shape", (long long)x->numel);
  if ((rc = ferry_mv_output(k, 0, x->dtype, rank, dims))) return rc;
  ferry_mv_copy(k->out[0].data, x->data, size, n);
  return FERRY_OK;
}

int ferry_kernel_Identity(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (x->kind) return k->set_items(k, 0, x->kind, x->dtype, x->n_items, x->items); /* a sequence or optional */
  return copy_as(k, x->rank, x->dims);
}

/* Integer list from attribute `name` (opset < from) or input i; count, -1
 * when absent, -2 (k->err set) when too long. */
static int int_list(ferry_kctx *k, const char *name, int i, int from, int64_t *v, int cap) {
  if (k->opset < from) {
    const int64_t *a;
    int n = ferry_attr_ints(k->sctx, name, &a);
    if (!ferry_attr_has(k->sctx, name)) return -1;
    if (n > cap) return ferry_kernel_fail(k, "%s has %d values", name, n), -2;
    if (n) memcpy(v, a, (size_t)n * sizeof *v);
    return n;
  }
  if (!ferry_mv_has(k, i)) return -1;
  if (k->in[i].numel > cap) return ferry_kernel_fail(k, "%s has %lld values", name, (long long)k->in[i].numel), -2;
  for (int64_t j = 0; j < k->in[i].numel; j++) v[j] = ferry_mv_int(&k->in[i], j);
  return (int)k->in[i].numel;
}

int ferry_kernel_Reshape(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t t[FERRY_MAX_RANK], known = 1;
  int n = int_list(k, "shape", 1, 5, t, FERRY_MAX_RANK), infer = -1;
  if (n == -2) return FERRY_E_INPUT;
  if (n < 0) return ferry_kernel_fail(k, "no target shape");
  int allowzero = k->opset >= 14 && ferry_attr_int(k->sctx, "allowzero", 0);
  for (int i = 0; i < n; i++) {
    if (t[i] == 0 && !allowzero) {
      if (i >= x->rank) return ferry_kernel_fail(k, "target dim %d is 0 but the input has rank %d", i, x->rank);
      t[i] = x->dims[i];
    } else if (t[i] == -1) {
      if (infer >= 0) return ferry_kernel_fail(k, "two -1 in the target shape");
      infer = i;
      continue;
    } else if (t[i] < 0) {
      return ferry_kernel_fail(k, "target dim %lld", (long long)t[i]);
    }
    if (!ferry_mv_numel(1, &t[i], &t[i]) || (t[i] && known > ((int64_t)1 << 53) / t[i]))
      return ferry_kernel_fail(k, "target shape is too large");
    known *= t[i];
  }
  if (infer >= 0) {
    if (known == 0 && x->numel != 0) return ferry_kernel_fail(k, "cannot infer -1 next to a 0 dim");
    t[infer] = known ? x->numel / known : 0;
  }
  return copy_as(k, n, t);
}

int ferry_kernel_Flatten(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axis = ferry_attr_int(k->sctx, "axis", 1), d[2] = {1, 1};
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis > x->rank) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  for (int i = 0; i < x->rank; i++) d[i >= axis] *= x->dims[i];
  return copy_as(k, 2, d);
}

int ferry_kernel_Squeeze(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axes[FERRY_MAX_RANK], d[FERRY_MAX_RANK];
  int drop[FERRY_MAX_RANK] = {0}, n = int_list(k, "axes", 1, 13, axes, FERRY_MAX_RANK), r = 0;
  if (n == -2) return FERRY_E_INPUT;
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(axes[i], x->rank);
    if (a < 0) return ferry_kernel_fail(k, "axis %lld out of range", (long long)axes[i]);
    if (x->dims[a] != 1) return ferry_kernel_fail(k, "axis %d has size %lld, not 1", a, (long long)x->dims[a]);
    drop[a] = 1;
  }
  for (int i = 0; n < 0 && i < x->rank; i++) drop[i] = x->dims[i] == 1;
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) d[r++] = x->dims[i];
  return copy_as(k, r, d);
}

int ferry_kernel_Unsqueeze(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axes[FERRY_MAX_RANK], d[FERRY_MAX_RANK];
  int at[FERRY_MAX_RANK] = {0}, n = int_list(k, "axes", 1, 13, axes, FERRY_MAX_RANK);
  if (n == -2) return FERRY_E_INPUT;
  if (n < 0) return ferry_kernel_fail(k, "axes is required");
  int r = x->rank + n;
  if (r > FERRY_MAX_RANK) return ferry_kernel_fail(k, "output rank over %d", FERRY_MAX_RANK);
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(axes[i], r);
    if (a < 0 || at[a]) return ferry_kernel_fail(k, "bad or repeated axis %lld", (long long)axes[i]);
    at[a] = 1;
  }
  for (int i = 0, j = 0; i < r; i++) d[i] = at[i] ? 1 : x->dims[j++];
  return copy_as(k, r, d);
}

/* ---- shapes as tensors ---- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

int ferry_kernel_Shape(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t r = x->rank, s = ferry_attr_int(k->sctx, "start", 0), e = ferry_attr_int(k->sctx, "end", r);
  s = clamp64(s < 0 ? s + r : s, 0, r);
  e = clamp64(e < 0 ? e + r : e, 0, r);
  int64_t n = e > s ? e - s : 0;
  int rc = ferry_mv_output(k, 0, FERRY_I64, 1, &n);
  if (rc) return rc;
  if (n) memcpy(k->out[0].data, x->dims + s, (size_t)n * sizeof(int64_t));
  return FERRY_OK;
}

int ferry_kernel_Size(ferry_kctx *k) {
  int rc = ferry_mv_output(k, 0, FERRY_I64, 0, NULL);
  if (rc) return rc;
  memcpy(k->out[0].data, &k->in[0].numel, sizeof(int64_t));
  return FERRY_OK;
}

/* ---- generated tensors ---- */

/* Fills n elements of `size` bytes at dst with the element at v. */
static void fill(void *dst, const void *v, int size, int64_t n) {
  char *d = dst;
  if (n <= 0) return;
  memcpy(d, v, (size_t)size);
  for (int64_t have = 1; have < n;) { /* doubling copies */
    int64_t m = have < n - have ? have : n - have;
    memcpy(d + have * size, d, (size_t)(m * size));
    have += m;
  }
}

int ferry_kernel_Constant(ferry_kctx *k) {
  ferry_attrv a;
  int64_t d[FERRY_MAX_RANK], n;
  float f;
  static const char *const names[] = {"value", "value_int", "value_ints", "value_float", "value_floats"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    if (!ferry_attr_get(k->sctx, names[i], &a)) continue;
    int dtype, rank, size, rc;
    const void *src;
    if (i == 0) {
      if (a.trank < 0 || a.trank > FERRY_MAX_RANK) return ferry_kernel_fail(k, "value has rank %d", a.trank);
      dtype = a.tdtype, rank = a.trank, src = a.tdata;
      if (rank) memcpy(d, a.tdims, (size_t)rank * sizeof *d);
    } else {
      dtype = i < 3 ? FERRY_I64 : FERRY_F32;
      rank = (i == 2 || i == 4);
      d[0] = a.n;
      f = a.f;
      src = i == 1 ? (const void *)&a.i : i == 2 ? (const void *)a.ints : i == 3 ? (const void *)&f : (const void *)a.floats;
    }
    if ((rc = ferry_mv_esize(k, dtype, &size))) return rc;
    if (!ferry_mv_numel(rank, d, &n)) return ferry_kernel_fail(k, "value is too large");
    if ((rc = ferry_mv_output(k, 0, dtype, rank, d))) return rc;
    if (n && !src) return ferry_kernel_fail(k, "value has no data");
    ferry_mv_copy(k->out[0].data, src, size, n);
    return FERRY_OK;
  }
  if (ferry_attr_has(k->sctx, "sparse_value")) return ferry_kernel_fail(k, "sparse_value is not supported");
  if (ferry_attr_has(k->sctx, "value_string") || ferry_attr_has(k->sctx, "value_strings"))
    return ferry_kernel_fail(k, "string constants are not supported");
  return ferry_kernel_fail(k, "has no value attribute");
}

int ferry_kernel_ConstantOfShape(ferry_kctx *k) {
  const ferry_tview *s = &k->in[0];
  int64_t d[FERRY_MAX_RANK];
  ferry_attrv a;
  float zero = 0;
  int dtype = FERRY_F32, size, rc;
  const void *v = &zero;
  if (s->numel > FERRY_MAX_RANK) return ferry_kernel_fail(k, "shape has %lld values", (long long)s->numel);
  for (int64_t i = 0; i < s->numel; i++)
    if ((d[i] = ferry_mv_int(s, i)) < 0) return ferry_kernel_fail(k, "shape has a negative dim");
  if (ferry_attr_get(k->sctx, "value", &a) && a.tdata) {
    int64_t n = 1;
    for (int i = 0; i < a.trank; i++) n *= a.tdims[i];
    if (n != 1) return ferry_kernel_fail(k, "value must have one element");
    dtype = a.tdtype, v = a.tdata;
  }
  if ((rc = ferry_mv_esize(k, dtype, &size))) return rc;
  if ((rc = ferry_mv_output(k, 0, dtype, (int)s->numel, d))) return rc;
  fill(k->out[0].data, v, size, k->out[0].numel);
  return FERRY_OK;
}

int ferry_kernel_EyeLike(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int dtype = (int)ferry_attr_int(k->sctx, "dtype", x->dtype), size, rc;
  int64_t off = ferry_attr_int(k->sctx, "k", 0);
  unsigned char one[16];
  if (x->rank != 2) return ferry_kernel_fail(k, "input must have rank 2, got %d", x->rank);
  if ((rc = ferry_mv_esize(k, dtype, &size))) return rc;
  if (!ferry_dtype_valid(dtype) || size > 8) return ferry_kernel_fail(k, "dtype %d is not supported", dtype);
  if ((rc = ferry_mv_output(k, 0, dtype, 2, x->dims))) return rc;
  char *o = k->out[0].data;
  int64_t rows = x->dims[0], cols = x->dims[1];
  memset(o, 0, (size_t)(rows * cols * size));
  memset(one, 0, sizeof one);
  ferry_store_f64(one, dtype, 0, 1.0);
  if (off <= -rows || off >= cols) return FERRY_OK;
  for (int64_t i = off < 0 ? -off : 0; i < rows && i + off < cols; i++) memcpy(o + (i * cols + i + off) * size, one, (size_t)size);
  return FERRY_OK;
}

int ferry_kernel_Range(ferry_kctx *k) {
  int dt = k->in[0].dtype, size, rc;
  for (int i = 0; i < 3; i++)
    if (k->n_in < 3 || !k->in[i].data || k->in[i].numel != 1) return ferry_kernel_fail(k, "start, limit and delta must be scalars");
  if ((rc = ferry_mv_esize(k, dt, &size))) return rc;
  double f[3];
  for (int i = 0; i < 3; i++) f[i] = ferry_load_f64(k->in[i].data, k->in[i].dtype, 0);
  if (f[2] == 0) return ferry_kernel_fail(k, "delta is 0");
  double q = (f[1] - f[0]) / f[2];
  if (q != q || q > 9e15) return ferry_kernel_fail(k, "range of %g elements", q);
  int64_t n = q <= 0 ? 0 : (int64_t)q + ((double)(int64_t)q < q);
  if ((rc = ferry_mv_output(k, 0, dt, 1, &n))) return rc;
  void *o = k->out[0].data;
  if (ferry_dtype_is_float(dt)) {
    for (int64_t i = 0; i < n; i++) ferry_store_f64(o, dt, i, f[0] + (double)i * f[2]);
  } else {
    uint64_t s = (uint64_t)ferry_mv_int(&k->in[0], 0), d = (uint64_t)ferry_mv_int(&k->in[2], 0);
    for (int64_t i = 0; i < n; i++) ferry_store_i64(o, dt, i, (int64_t)(s + (uint64_t)i * d));
  }
  return FERRY_OK;
}

/* ---- Trilu ---- */

int ferry_kernel_Trilu(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int upper = (int)ferry_attr_int(k->sctx, "upper", 1), size, rc;
  int64_t off = ferry_mv_has(k, 1) && k->in[1].numel >= 1 ? ferry_mv_int(&k->in[1], 0) : 0;
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, x->dims))) return rc;
  int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1], mats = rows && cols ? x->numel / (rows * cols) : 0;
  const char *s = x->data;
  char *o = k->out[0].data;
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < rows; i++) {
      /* keep j - i >= off (upper) or j - i <= off (lower): a column range */
      int64_t lo = 0, hi = cols, base = (m * rows + i) * cols;
      if (upper) lo = off > cols - i ? cols : (i + off < 0 ? 0 : i + off);
      else hi = off < -i ? 0 : (off >= cols - i ? cols : i + off + 1);
      if (hi < lo) hi = lo;
      memset(o + base * size, 0, (size_t)(lo * size));
      memcpy(o + (base + lo) * size, s + (base + lo) * size, (size_t)((hi - lo) * size));
      memset(o + (base + hi) * size, 0, (size_t)((cols - hi) * size));
    }
  return FERRY_OK;
}
