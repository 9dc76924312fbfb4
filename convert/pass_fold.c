/*
 * pass_fold.c - fold-constants: compute at convert time what exports
 * compute at run time from constants, mostly shape arithmetic.
 *
 * A node is folded, its outputs becoming weights and the node going, when
 *   - every output already holds data: Constant nodes, and values whose
 *     content shape inference found fully constant (it stores that content
 *     as the value's `data`; nothing else of inference is relied on); or
 *   - it is one of the small ops below and all its inputs are constants
 *     (Shape and Size need only the input dims they return to be known,
 *     and Gather(Shape(x), indices) only the gathered dims of x).
 * There is no runtime to call yet, so the ops are evaluated here by tiny
 * evaluators on `kt`, a small tensor held as int64 (integer and bool
 * dtypes) or double (float32/float64) values: Shape, Size, Gather,
 * Unsqueeze, Squeeze, Concat, Slice, Reshape, Cast, Add, Sub, Mul, Div,
 * Equal, Where, Range (integers), ConstantOfShape, Expand. Results larger
 * than FOLD_MAX elements stay computed at run time (a weight that big
 * costs more to ship than to compute), and anything an evaluator cannot
 * reproduce exactly (overflow, division by zero, float->int out of range)
 * is left alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

#define FOLD_MAX 4096        /* largest folded result, elements */
#define FOLD_IN_MAX 65536    /* largest input read, elements */
#define FOLD_RANK 8
#define FOLD_INPUTS 8

typedef struct kt {
  int dtype;
  int rank;
  int64_t dims[FOLD_RANK];
  int64_t n;
  bool fp;     /* values in f, else in i */
  int64_t *i;
  double *f;
} kt;

/* ---- small tensors ---- */

static bool int_dtype(int dt) {
  return dt == FERRY_I64 || dt == FERRY_I32 || dt == FERRY_I16 || dt == FERRY_I8 || dt == FERRY_U8 ||
         dt == FERRY_U16 || dt == FERRY_U32 || dt == FERRY_BOOL;
}

static bool fp_dtype(int dt) { return dt == FERRY_F32 || dt == FERRY_F64; }

static int64_t count(const int64_t *dims, int rank) {
  int64_t n = 1;
  for (int k = 0; k < rank; k++)
    if (dims[k] < 0 || __builtin_mul_overflow(n, dims[k], &n)) return -1;
  return n;
}

/* Shapes out as dtype with dims; false when too big or not supported. */
static bool kt_make(kt *t, int dtype, int rank, const int64_t *dims) {
  if (rank < 0 || rank > FOLD_RANK || !(int_dtype(dtype) || fp_dtype(dtype))) return false;
  int64_t n = count(dims, rank);
  if (n < 0 || n > FOLD_MAX) return false;
  t->dtype = dtype;
  t->rank = rank;
  if (rank) memmove(t->dims, dims, (size_t)rank * sizeof *dims);
  t->n = n;
  t->fp = fp_dtype(dtype);
  if (t->fp) t->f = calloc((size_t)n + 1, sizeof *t->f);
  else t->i = calloc((size_t)n + 1, sizeof *t->i);
  return t->fp ? t->f != NULL : t->i != NULL;
}

static void kt_free(kt *t) {
  free(t->i);
  free(t->f);
  t->i = NULL;
  t->f = NULL;
}

static bool kt_load(kt *t, const ferry_tensor *src) {
  if (!src || !src->data || src->numel > FOLD_IN_MAX || src->rank > FOLD_RANK ||
      !(int_dtype(src->dtype) || fp_dtype(src->dtype)))
    return false;
  t->dtype = src->dtype;
  t->rank = src->rank;
  if (src->rank) memcpy(t->dims, src->dims, (size_t)src->rank * sizeof *t->dims);
  t->n = src->numel;
  t->fp = fp_dtype(src->dtype);
  if (t->fp) t->f = calloc((size_t)t->n + 1, sizeof *t->f);
  else t->i = calloc((size_t)t->n + 1, sizeof *t->i);
  if (!(t->fp ? (void *)t->f : (void *)t->i)) return false;
  for (int64_t k = 0; k < t->n; k++) {
    if (src->dtype == FERRY_I64) t->i[k] = ((const int64_t *)src->data)[k];
    else {
      double x;
      ferry_tensor_get(src, k, &x);
      if (t->fp) t->f[k] = x;
      else t->i[k] = (int64_t)x;
    }
  }
  return true;
}

/* Whether integer x fits dtype dt. */
static bool fits(int dt, int64_t x) {
  switch (dt) {
  case FERRY_I32: return x >= INT32_MIN && x <= INT32_MAX;
  case FERRY_I16: return x >= INT16_MIN && x <= INT16_MAX;
  case FERRY_I8: return x >= INT8_MIN && x <= INT8_MAX;
  case FERRY_U8: return x >= 0 && x <= UINT8_MAX;
  case FERRY_U16: return x >= 0 && x <= UINT16_MAX;
  case FERRY_U32: return x >= 0 && x <= UINT32_MAX;
  case FERRY_BOOL: return x == 0 || x == 1;
  default: return true;
  }
}

static void put_int(void *d, int dt, int64_t k, int64_t x) {
  switch (dt) {
  case FERRY_I64: ((int64_t *)d)[k] = x; break;
  case FERRY_I32: ((int32_t *)d)[k] = (int32_t)x; break;
  case FERRY_I16: ((int16_t *)d)[k] = (int16_t)x; break;
  case FERRY_I8: ((int8_t *)d)[k] = (int8_t)x; break;
  case FERRY_U8: case FERRY_BOOL: ((uint8_t *)d)[k] = (uint8_t)x; break;
  case FERRY_U16: ((uint16_t *)d)[k] = (uint16_t)x; break;
  case FERRY_U32: ((uint32_t *)d)[k] = (uint32_t)x; break;
  }
}

/* The model-owned tensor holding t; NULL when a value does not fit. */
static ferry_tensor *kt_store(ferry_model *m, const kt *t) {
  for (int64_t k = 0; !t->fp && k < t->n; k++)
    if (!fits(t->dtype, t->i[k])) return NULL;
  ferry_tensor *out = ferry_tensor_new(m, t->dtype, t->rank, t->dims);
  if (!out) return NULL;
  void *d = (void *)out->data;
  for (int64_t k = 0; k < t->n; k++) {
    if (t->dtype == FERRY_F32) ((float *)d)[k] = (float)t->f[k];
    else if (t->dtype == FERRY_F64) ((double *)d)[k] = t->f[k];
    else put_int(d, t->dtype, k, t->i[k]);
  }
  return out;
}

/* Integer content of a constant input (axes, shapes, indices). */
static bool ints_of(const kt *t) { return t->i && !t->fp; }

/* ---- broadcasting ---- */

static bool broadcast_dims(const kt *const *in, int n, int *rank, int64_t *dims) {
  int r = 0;
  for (int k = 0; k < n; k++)
    if (in[k]->rank > r) r = in[k]->rank;
  for (int d = 0; d < r; d++) {
    int64_t v = 1;
    for (int k = 0; k < n; k++) {
      int j = d - (r - in[k]->rank);
      int64_t x = j >= 0 ? in[k]->dims[j] : 1;
      if (x == v || x == 1) continue;
      if (v != 1) return false;
      v = x;
    }
    dims[d] = v;
  }
  *rank = r;
  return true;
}

/* Flat index into t of element `flat` of a broadcast result of `dims`. */
static int64_t bcast_at(const kt *t, const int64_t *dims, int rank, int64_t flat) {
  int64_t idx = 0, stride = 1;
  for (int d = rank - 1; d >= 0; d--) {
    int64_t c = flat % dims[d];
    flat /= dims[d];
    int j = d - (rank - t->rank);
    if (j < 0) continue;
    if (t->dims[j] != 1) idx += c * stride;
    stride *= t->dims[j];
  }
  return idx;
}

/* ---- evaluators: 0 done, 1 not foldable ---- */

static bool binary_int(const char *op, int64_t a, int64_t b, int64_t *r) {
  switch (op[0]) {
  case 'A': return !__builtin_add_overflow(a, b, r);
  case 'S': return !__builtin_sub_overflow(a, b, r);
  case 'M': return !__builtin_mul_overflow(a, b, r);
  default:
    if (b == 0 || (a == INT64_MIN && b == -1)) return false;
    *r = a / b;
    return true;
  }
}

static double binary_fp(const char *op, double a, double b) {
  switch (op[0]) {
  case 'A': return a + b;
  case 'S': return a - b;
  case 'M': return a * b;
  default: return a / b;
  }
}

/* Add, Sub, Mul, Div, Equal. */
static int eval_binary(const ferry_node *n, kt *in, kt *out) {
  const kt *ab[2] = {&in[0], &in[1]};
  int64_t dims[FOLD_RANK];
  int rank;
  bool eq = strcmp(n->op, "Equal") == 0;
  if (in[0].fp != in[1].fp || in[0].dtype != in[1].dtype || !broadcast_dims(ab, 2, &rank, dims) ||
      !kt_make(out, eq ? FERRY_BOOL : in[0].dtype, rank, dims))
    return 1;
  for (int64_t k = 0; k < out->n; k++) {
    int64_t ia = bcast_at(&in[0], dims, rank, k), ib = bcast_at(&in[1], dims, rank, k);
    if (eq) out->i[k] = in[0].fp ? in[0].f[ia] == in[1].f[ib] : in[0].i[ia] == in[1].i[ib];
    else if (out->fp) out->f[k] = binary_fp(n->op, in[0].f[ia], in[1].f[ib]);
    else if (!binary_int(n->op, in[0].i[ia], in[1].i[ib], &out->i[k])) return 1;
  }
  return 0;
}

static int eval_where(kt *in, kt *out) {
  const kt *all[3] = {&in[0], &in[1], &in[2]};
  int64_t dims[FOLD_RANK];
  int rank;
  if (in[0].fp || in[1].dtype != in[2].dtype || !broadcast_dims(all, 3, &rank, dims) ||
      !kt_make(out, in[1].dtype, rank, dims))
    return 1;
  for (int64_t k = 0; k < out->n; k++) {
    const kt *src = in[0].i[bcast_at(&in[0], dims, rank, k)] ? &in[1] : &in[2];
    int64_t j = bcast_at(src, dims, rank, k);
    if (out->fp) out->f[k] = src->f[j];
    else out->i[k] = src->i[j];
  }
  return 0;
}

static int eval_cast(const ferry_node *n, kt *in, kt *out) {
  int to = (int)ferry_node_int(n, "to", 0);
  if (!kt_make(out, to, in[0].rank, in[0].dims)) return 1;
  for (int64_t k = 0; k < out->n; k++) {
    if (in[0].fp && out->fp) out->f[k] = in[0].f[k];
    else if (!in[0].fp && out->fp) {
      if (llabs(in[0].i[k]) > (1ll << 53)) return 1; /* would round twice */
      out->f[k] = (double)in[0].i[k];
    } else if (in[0].fp && to == FERRY_BOOL) out->i[k] = in[0].f[k] != 0;
    else if (in[0].fp) {
      double x = trunc(in[0].f[k]);
      if (!(x >= -9.2e18 && x <= 9.2e18) || !fits(to, (int64_t)x)) return 1;
      out->i[k] = (int64_t)x;
    } else if (to == FERRY_BOOL) out->i[k] = in[0].i[k] != 0;
    else if (!fits(to, in[0].i[k])) return 1;
    else out->i[k] = in[0].i[k];
  }
  return 0;
}

/* Copies in[0]'s values into out (same count), for shape-only ops. */
static int reshaped(const kt *src, int rank, const int64_t *dims, kt *out) {
  if (count(dims, rank) != src->n || !kt_make(out, src->dtype, rank, dims)) return 1;
  if (out->fp) memcpy(out->f, src->f, (size_t)src->n * sizeof *out->f);
  else memcpy(out->i, src->i, (size_t)src->n * sizeof *out->i);
  return 0;
}

/* Axes from attribute `axes` (old opsets) or input 1; -1 when absent. */
static int axes_of(const ferry_node *n, int from_opset, kt *in, int n_in, int64_t *axes) {
  if (n->opset < from_opset) {
    const ferry_attr *a = ferry_node_attr(n, "axes");
    if (!a || a->type != FERRY_A_INTS || a->n > FOLD_RANK) return -1;
    memcpy(axes, a->ints, (size_t)a->n * sizeof *axes);
    return a->n;
  }
  if (n_in < 2 || !ints_of(&in[1]) || in[1].n > FOLD_RANK) return -1;
  memcpy(axes, in[1].i, (size_t)in[1].n * sizeof *axes);
  return (int)in[1].n;
}

static int eval_unsqueeze(const ferry_node *n, kt *in, int n_in, kt *out) {
  int64_t axes[FOLD_RANK], dims[FOLD_RANK];
  int na = axes_of(n, 13, in, n_in, axes), r = in[0].rank + na;
  if (na < 0 || r > FOLD_RANK) return 1;
  bool is_new[FOLD_RANK] = {0};
  for (int k = 0; k < na; k++) {
    int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
    if (a < 0 || a >= r || is_new[a]) return 1;
    is_new[a] = true;
  }
  for (int d = 0, j = 0; d < r; d++) dims[d] = is_new[d] ? 1 : in[0].dims[j++];
  return reshaped(&in[0], r, dims, out);
}

static int eval_squeeze(const ferry_node *n, kt *in, int n_in, kt *out) {
  int64_t axes[FOLD_RANK], dims[FOLD_RANK];
  int na = axes_of(n, 13, in, n_in, axes), r = in[0].rank, w = 0;
  bool drop[FOLD_RANK] = {0};
  for (int k = 0; k < na; k++) {
    int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
    if (a < 0 || a >= r || in[0].dims[a] != 1) return 1;
    drop[a] = true;
  }
  for (int d = 0; d < r; d++)
    if (!(na < 0 ? in[0].dims[d] == 1 : drop[d])) dims[w++] = in[0].dims[d];
  return reshaped(&in[0], w, dims, out);
}

static int eval_reshape(const ferry_node *n, kt *in, kt *out) {
  if (!ints_of(&in[1]) || in[1].rank != 1 || in[1].n > FOLD_RANK) return 1;
  int r = (int)in[1].n, infer = -1;
  int64_t dims[FOLD_RANK], known = 1;
  bool allowzero = ferry_node_int(n, "allowzero", 0) != 0;
  for (int d = 0; d < r; d++) {
    int64_t x = in[1].i[d];
    if (x == 0 && !allowzero) {
      if (d >= in[0].rank) return 1;
      x = in[0].dims[d];
    }
    if (x == -1) {
      if (infer >= 0) return 1;
      infer = d;
      x = 1;
    } else if (x < 0) return 1;
    dims[d] = x;
    known *= x;
  }
  if (infer >= 0) {
    if (known == 0 || in[0].n % known) return 1;
    dims[infer] = in[0].n / known;
  }
  return reshaped(&in[0], r, dims, out);
}

static int eval_gather(const ferry_node *n, kt *in, kt *out) {
  int r = in[0].rank, q = in[1].rank;
  int64_t axis = ferry_node_int(n, "axis", 0);
  if (axis < 0) axis += r;
  if (!ints_of(&in[1]) || axis < 0 || axis >= r || r + q - 1 > FOLD_RANK) return 1;
  int64_t dims[FOLD_RANK], outer = 1, inner = 1, len = in[0].dims[axis];
  int w = 0;
  for (int d = 0; d < axis; d++) outer *= (dims[w++] = in[0].dims[d]);
  for (int d = 0; d < q; d++) dims[w++] = in[1].dims[d];
  for (int d = (int)axis + 1; d < r; d++) inner *= (dims[w++] = in[0].dims[d]);
  if (!kt_make(out, in[0].dtype, w, dims)) return 1;
  int64_t k = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < in[1].n; j++) {
      int64_t ix = in[1].i[j] < 0 ? in[1].i[j] + len : in[1].i[j];
      if (ix < 0 || ix >= len) return 1;
      for (int64_t e = 0; e < inner; e++, k++) {
        int64_t src = (o * len + ix) * inner + e;
        if (out->fp) out->f[k] = in[0].f[src];
        else out->i[k] = in[0].i[src];
      }
    }
  return 0;
}

static int eval_concat(const ferry_node *n, kt *in, int n_in, kt *out) {
  int r = in[0].rank;
  int64_t axis = ferry_node_int(n, "axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return 1;
  int64_t dims[FOLD_RANK], outer = 1, inner = 1;
  memcpy(dims, in[0].dims, (size_t)r * sizeof *dims);
  dims[axis] = 0;
  for (int k = 0; k < n_in; k++) {
    if (in[k].rank != r || in[k].dtype != in[0].dtype) return 1;
    for (int d = 0; d < r; d++)
      if (d != axis && in[k].dims[d] != in[0].dims[d]) return 1;
    dims[axis] += in[k].dims[axis];
  }
  for (int d = 0; d < axis; d++) outer *= dims[d];
  for (int d = (int)axis + 1; d < r; d++) inner *= dims[d];
  if (!kt_make(out, in[0].dtype, r, dims)) return 1;
  int64_t w = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int k = 0; k < n_in; k++) {
      int64_t len = in[k].dims[axis] * inner;
      for (int64_t e = 0; e < len; e++, w++) {
        if (out->fp) out->f[w] = in[k].f[o * len + e];
        else out->i[w] = in[k].i[o * len + e];
      }
    }
  return 0;
}

/* Slice parameters for one axis, clamped as ONNX says. */
static void slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *cnt) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < 0 ? 0 : end > dim ? dim : end;
    *cnt = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    *cnt = start > end ? (start - end - step - 1) / -step : 0;
  }
  *first = start;
}

/* starts, ends, axes, steps as lists (attributes before opset 10). */
static int slice_params(const ferry_node *n, kt *in, int n_in, const int64_t *p[4], int64_t np[4]) {
  static const char *names[3] = {"starts", "ends", "axes"};
  for (int k = 0; k < 4; k++) np[k] = -1;
  if (n->opset < 10) {
    for (int k = 0; k < 3; k++) {
      const ferry_attr *a = ferry_node_attr(n, names[k]);
      if (a && a->type == FERRY_A_INTS) p[k] = a->ints, np[k] = a->n;
    }
    return np[0] < 0 || np[1] < 0;
  }
  for (int k = 0; k < 4 && k + 1 < n_in; k++) {
    if (!in[k + 1].i && !in[k + 1].f) continue; /* omitted optional input */
    if (!ints_of(&in[k + 1])) return 1;
    p[k] = in[k + 1].i, np[k] = in[k + 1].n;
  }
  return np[0] < 0 || np[1] < 0;
}

static int eval_slice(const ferry_node *n, kt *in, int n_in, kt *out) {
  const int64_t *p[4] = {0};
  int64_t np[4], r = in[0].rank;
  if (slice_params(n, in, n_in, p, np) || np[0] != np[1] || (np[2] >= 0 && np[2] != np[0]) ||
      (np[3] >= 0 && np[3] != np[0]))
    return 1;
  int64_t first[FOLD_RANK], step[FOLD_RANK], dims[FOLD_RANK];
  for (int d = 0; d < r; d++) first[d] = 0, step[d] = 1, dims[d] = in[0].dims[d];
  for (int64_t k = 0; k < np[0]; k++) {
    int64_t a = np[2] >= 0 ? p[2][k] : k, s = np[3] >= 0 ? p[3][k] : 1;
    if (a < 0) a += r;
    if (a < 0 || a >= r || s == 0) return 1;
    step[a] = s;
    slice_axis(in[0].dims[a], p[0][k], p[1][k], s, &first[a], &dims[a]);
  }
  if (!kt_make(out, in[0].dtype, (int)r, dims)) return 1;
  for (int64_t k = 0; k < out->n; k++) {
    int64_t rem = k, src = 0, stride = 1;
    for (int d = (int)r - 1; d >= 0; d--) {
      int64_t c = rem % dims[d];
      rem /= dims[d];
      src += (first[d] + c * step[d]) * stride;
      stride *= in[0].dims[d];
    }
    if (out->fp) out->f[k] = in[0].f[src];
    else out->i[k] = in[0].i[src];
  }
  return 0;
}

static int eval_range(kt *in, kt *out) {
  if (!ints_of(&in[0]) || !ints_of(&in[1]) || !ints_of(&in[2]) || in[0].n != 1 || in[1].n != 1 ||
      in[2].n != 1 || in[2].i[0] == 0)
    return 1;
  int64_t start = in[0].i[0], limit = in[1].i[0], delta = in[2].i[0], span;
  if (__builtin_sub_overflow(limit, start, &span)) return 1;
  int64_t cnt = delta > 0 ? (span + delta - 1) / delta : (span + delta + 1) / delta;
  if (cnt < 0) cnt = 0;
  if (!kt_make(out, in[0].dtype, 1, &cnt)) return 1;
  for (int64_t k = 0; k < cnt; k++) out->i[k] = start + k * delta;
  return 0;
}

static int eval_constant_of_shape(const ferry_node *n, kt *in, kt *out) {
  const ferry_attr *a = ferry_node_attr(n, "value");
  const ferry_tensor *v = a && a->type == FERRY_A_TENSOR ? a->t : NULL;
  kt val = {0};
  if (v && (v->numel != 1 || !kt_load(&val, v))) return kt_free(&val), 1;
  bool ok = ints_of(&in[0]) && in[0].rank == 1 && in[0].n <= FOLD_RANK &&
            kt_make(out, v ? v->dtype : FERRY_F32, (int)in[0].n, in[0].i);
  for (int64_t k = 0; ok && v && k < out->n; k++) {
    if (out->fp) out->f[k] = val.f[0];
    else out->i[k] = val.i[0];
  }
  kt_free(&val);
  return !ok;
}

static int eval_expand(kt *in, kt *out) {
  if (!ints_of(&in[1]) || in[1].rank != 1 || in[1].n > FOLD_RANK) return 1;
  kt shape = {.rank = (int)in[1].n};
  memcpy(shape.dims, in[1].i, (size_t)in[1].n * sizeof *shape.dims);
  const kt *both[2] = {&in[0], &shape};
  int64_t dims[FOLD_RANK];
  int rank;
  if (!broadcast_dims(both, 2, &rank, dims) || !kt_make(out, in[0].dtype, rank, dims)) return 1;
  for (int64_t k = 0; k < out->n; k++) {
    int64_t j = bcast_at(&in[0], dims, rank, k);
    if (out->fp) out->f[k] = in[0].f[j];
    else out->i[k] = in[0].i[j];
  }
  return 0;
}

/* ---- shapes known from types ---- */

/* The dims of value v when all are known integers; its rank, -1 if not. */
static int known_dims(const ferry_graph *g, int v, int64_t *dims) {
  const ferry_value *x = &g->values[v];
  if (x->data) {
    if (x->data->rank > FOLD_RANK) return -1;
    memcpy(dims, x->data->dims, (size_t)x->data->rank * sizeof *dims);
    return x->data->rank;
  }
  if (x->type.kind != FERRY_V_TENSOR || x->type.rank < 0 || x->type.rank > FOLD_RANK) return -1;
  for (int d = 0; d < x->type.rank; d++)
    if (!ferry_dim_is_const(x->type.shape[d], &dims[d])) return -1;
  return x->type.rank;
}

/* Shape (or its [start, end) part, opset 15): only those dims must be known. */
static int eval_shape(const ferry_rw *rw, const ferry_node *n, kt *out) {
  int r = ferry_rw_rank(rw->g, n->inputs[0]);
  if (r < 0) return 1;
  int64_t start = ferry_node_int(n, "start", 0), end = ferry_node_int(n, "end", r), cnt;
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = start < 0 ? 0 : start > r ? r : start;
  end = end < 0 ? 0 : end > r ? r : end;
  cnt = end > start ? end - start : 0;
  if (!kt_make(out, FERRY_I64, 1, &cnt)) return 1;
  for (int64_t k = 0; k < cnt; k++)
    if (!ferry_rw_dim(rw->g, n->inputs[0], (int)(start + k), &out->i[k])) return 1;
  return 0;
}

/* Gather(Shape(x), indices) when the gathered dims of x are known, even if
 * others are symbolic (Gather(Shape(x), 2) of x [batch, seq, 64] is 64). */
static int eval_gather_of_shape(const ferry_rw *rw, const ferry_node *n, kt *out) {
  const ferry_node *sh = ferry_rw_producer(rw, n->inputs[0], "Shape", NULL);
  kt idx = {0};
  int r = sh && sh->n_inputs == 1 ? ferry_rw_rank(rw->g, sh->inputs[0]) : -1;
  int64_t start = sh ? ferry_node_int(sh, "start", 0) : 0, end = sh ? ferry_node_int(sh, "end", r) : 0;
  if (r < 0 || start != 0 || end < r || ferry_node_int(n, "axis", 0) != 0 ||
      !kt_load(&idx, ferry_rw_const(rw->g, n->inputs[1])) || !ints_of(&idx) ||
      !kt_make(out, FERRY_I64, idx.rank, idx.dims)) {
    kt_free(&idx);
    return 1;
  }
  int rc = 0;
  for (int64_t k = 0; k < idx.n && !rc; k++) {
    int64_t d = idx.i[k] < 0 ? idx.i[k] + r : idx.i[k];
    rc = d < 0 || d >= r || !ferry_rw_dim(rw->g, sh->inputs[0], (int)d, &out->i[k]);
  }
  kt_free(&idx);
  return rc;
}

static int eval_size(const ferry_rw *rw, const ferry_node *n, kt *out) {
  int64_t dims[FOLD_RANK];
  int r = known_dims(rw->g, n->inputs[0], dims);
  if (r < 0 || !kt_make(out, FERRY_I64, 0, NULL)) return 1;
  out->i[0] = count(dims, r);
  return out->i[0] < 0;
}

/* ---- the pass ---- */

typedef struct evaluator {
  const char *op;
  int n_in;         /* inputs required (more are optional) */
} evaluator;

static const evaluator evaluators[] = {
    {"Add", 2}, {"Sub", 2}, {"Mul", 2}, {"Div", 2}, {"Equal", 2}, {"Where", 3}, {"Cast", 1},
    {"Gather", 2}, {"Unsqueeze", 1}, {"Squeeze", 1}, {"Concat", 1}, {"Slice", 1}, {"Reshape", 2},
    {"Range", 3}, {"ConstantOfShape", 1}, {"Expand", 2},
};

static const evaluator *find_evaluator(const ferry_node *n) {
  if (*n->domain) return NULL;
  for (size_t k = 0; k < sizeof evaluators / sizeof *evaluators; k++)
    if (strcmp(evaluators[k].op, n->op) == 0) return &evaluators[k];
  return NULL;
}

static int dispatch(const ferry_node *n, kt *in, int n_in, kt *out) {
  const char *op = n->op;
  if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") ||
      !strcmp(op, "Equal"))
    return eval_binary(n, in, out);
  if (!strcmp(op, "Where")) return eval_where(in, out);
  if (!strcmp(op, "Cast")) return eval_cast(n, in, out);
  if (!strcmp(op, "Gather")) return eval_gather(n, in, out);
  if (!strcmp(op, "Unsqueeze")) return eval_unsqueeze(n, in, n_in, out);
  if (!strcmp(op, "Squeeze")) return eval_squeeze(n, in, n_in, out);
  if (!strcmp(op, "Concat")) return eval_concat(n, in, n_in, out);
  if (!strcmp(op, "Slice")) return eval_slice(n, in, n_in, out);
  if (!strcmp(op, "Reshape")) return eval_reshape(n, in, out);
  if (!strcmp(op, "Range")) return eval_range(in, out);
  if (!strcmp(op, "ConstantOfShape")) return eval_constant_of_shape(n, in, out);
  return eval_expand(in, out);
}

/* Evaluates node n on constant inputs into *out; 0 when done. */
static int evaluate(const ferry_rw *rw, const ferry_node *n, kt *out) {
  if (ferry_node_is(n, "", "Shape") && n->n_inputs == 1 && n->inputs[0] >= 0) return eval_shape(rw, n, out);
  if (ferry_node_is(n, "", "Size") && n->n_inputs == 1 && n->inputs[0] >= 0) return eval_size(rw, n, out);
  if (ferry_node_is(n, "", "Gather") && n->n_inputs == 2 && !ferry_rw_const(rw->g, n->inputs[0]))
    return eval_gather_of_shape(rw, n, out);
  const evaluator *e = find_evaluator(n);
  if (!e || n->n_inputs < e->n_in || n->n_inputs > FOLD_INPUTS || n->n_outputs != 1) return 1;
  kt in[FOLD_INPUTS] = {0};
  int rc = 0;
  for (int k = 0; k < n->n_inputs && !rc; k++) {
    if (n->inputs[k] < 0) {
      if (k < e->n_in) rc = 1;
      continue;
    }
    if (!kt_load(&in[k], ferry_rw_const(rw->g, n->inputs[k]))) rc = 1;
  }
  if (!rc) rc = dispatch(n, in, n->n_inputs, out);
  for (int k = 0; k < FOLD_INPUTS; k++) kt_free(&in[k]);
  return rc;
}

/* Every output of node i holds data already: they become weights. */
static bool outputs_known(const ferry_rw *rw, const ferry_node *n) {
  if (n->n_outputs < 1) return false;
  for (int k = 0; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0 && !rw->g->values[n->outputs[k]].data) return false;
  return true;
}

static int fold_known(ferry_rw *rw, int i) {
  ferry_node *n = &rw->g->nodes[i];
  for (int k = 0; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0 && ferry_rw_make_weight(rw, n->outputs[k], rw->g->values[n->outputs[k]].data))
      return rw->status;
  ferry_rw_remove(rw, i);
  rw->rewrites++;
  return rw->status;
}

static int fold_computed(ferry_rw *rw, int i) {
  kt out = {0};
  int rc = 0;
  if (!evaluate(rw, &rw->g->nodes[i], &out)) {
    ferry_tensor *t = kt_store(rw->m, &out);
    int v = rw->g->nodes[i].outputs[0];
    if (t && v >= 0) {
      rc = ferry_rw_make_weight(rw, v, t);
      ferry_rw_remove(rw, i);
      rw->rewrites++;
    }
  }
  kt_free(&out);
  return rc;
}

int ferry_pass_fold_constants(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes && !rw->status; i++) {
    if (ferry_rw_dead(rw, i)) continue;
    const ferry_node *n = &rw->g->nodes[i];
    if (outputs_known(rw, n)) fold_known(rw, i);
    else fold_computed(rw, i);
  }
  return rw->status;
}
