/*
 * sequence.c - kernels of the sequence and optional ops (contract:
 * ../kernel.h): SequenceEmpty, SequenceConstruct, SequenceInsert,
 * SequenceAt, SequenceErase, SequenceLength, SplitToSequence,
 * ConcatFromSequence, SequenceMap, Optional, OptionalHasElement,
 * OptionalGetElement.
 *
 * How the parts fit: a sequence or optional arrives as a ferry_tview of
 * that kind whose items[] are its elements; one leaves through
 * k->set_items, which copies the items it is given. So the ops that
 * rearrange a sequence (insert, erase, construct) only build an array of
 * item views in scratch - views of their inputs' data - and let set_items
 * copy; the ops that make new tensors (SplitToSequence's parts,
 * SequenceMap's results) copy them into scratch first. A tensor taken out
 * of a sequence (SequenceAt, ConcatFromSequence, OptionalGetElement) goes
 * through put_tensor: the executor's output when the shape rule could
 * size it, set_output otherwise. Positions are data: every one is checked.
 */
#include <stdio.h>
#include <string.h>

#include "sequence.h"
#include "util.h"

static int oom(ferry_kctx *k) {
  snprintf(k->err, sizeof k->err, "out of memory");
  return FERRY_E_SYSTEM;
}

/* in[i] is given (an omitted optional input has neither dtype nor kind). */
static int has_input(const ferry_kctx *k, int i) { return i < k->n_in && (k->in[i].dtype || k->in[i].kind); }

static int want_sequence(ferry_kctx *k, int i) {
  if (i >= k->n_in || k->in[i].kind != FERRY_TV_SEQUENCE) return ferry_kernel_fail(k, "input %d must be a sequence", i);
  return FERRY_OK;
}

/* The element dtype of sequence s (0 when unknown). */
static int seq_dtype(const ferry_tview *s) { return s->dtype ? s->dtype : s->n_items ? s->items[0].dtype : 0; }

/* Bytes per element, -1 for dtypes that cannot be sliced as bytes. */
static int64_t esize(int dtype) {
  int s = ferry_dtype_size(dtype);
  return s > 0 && dtype != FERRY_STRING && dtype != FERRY_U4 && dtype != FERRY_I4 ? s : -1;
}

/* Shapes out[i] as (dtype, rank, dims) through set_output, or checks the
 * shape the executor gave it. */
static int out_shape(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  ferry_tview *o = &k->out[i];
  if (!o->data) return k->set_output(k, i, dtype, rank, dims);
  int same = o->dtype == dtype && o->rank == rank;
  for (int d = 0; same && d < rank; d++) same = o->dims[d] == dims[d];
  return same ? FERRY_OK : ferry_kernel_fail(k, "output %d: the result's shape is not the expected one", i);
}

/* out[i] = a copy of tensor v. */
static int put_tensor(ferry_kctx *k, int i, const ferry_tview *v) {
  int64_t s = ferry_dtype_size(v->dtype);
  if (v->kind || ferry_value_bytes(v) == SIZE_MAX) return ferry_kernel_fail(k, "output %d: not a valid tensor", i);
  int rc = out_shape(k, i, v->dtype, v->rank, v->dims);
  if (rc) return rc;
  int64_t n = v->dtype == FERRY_U4 || v->dtype == FERRY_I4 ? (v->numel + 1) / 2 : v->numel * s;
  if (n > 0) memcpy(k->out[i].data, v->data, (size_t)n);
  return FERRY_OK;
}

/* out[i] = a copy of any value. */
static int put_value(ferry_kctx *k, int i, const ferry_tview *v) {
  if (v->kind) return k->set_items(k, i, v->kind, v->dtype, v->n_items, v->items);
  return put_tensor(k, i, v);
}

/* A one-integer input as a position: *p in [0, n) (or [0, n] when `end`
 * positions are allowed, as for SequenceInsert); dflt when omitted. */
static int position(ferry_kctx *k, int i, int64_t n, int end, int64_t dflt, int64_t *p) {
  if (!has_input(k, i)) {
    *p = dflt;
    return FERRY_OK;
  }
  const ferry_tview *t = &k->in[i];
  if (t->kind || t->numel != 1 || (t->dtype != FERRY_I32 && t->dtype != FERRY_I64))
    return ferry_kernel_fail(k, "position must be one int32 or int64");
  int64_t v = ferry_load_i64(t->data, t->dtype, 0), lim = end ? n : n - 1;
  if (v < -n || v > lim)
    return ferry_kernel_fail(k, "position %lld is out of range for a sequence of %lld", (long long)v, (long long)n);
  *p = v < 0 ? v + n : v;
  return FERRY_OK;
}

/* A scratch array of n item views (at least one entry). */
static ferry_tview *item_array(ferry_kctx *k, int64_t n) {
  return k->scratch(k, (size_t)(n > 0 ? n : 1) * sizeof(ferry_tview));
}

/* ---- making sequences ---- */

int ferry_kernel_SequenceEmpty(ferry_kctx *k) {
  int dtype = (int)ferry_attr_int(k->sctx, "dtype", FERRY_F32);
  if (!ferry_dtype_valid(dtype) || !dtype) return ferry_kernel_fail(k, "dtype %d is not a tensor dtype", dtype);
  return k->set_items(k, 0, FERRY_TV_SEQUENCE, dtype, 0, NULL);
}

int ferry_kernel_SequenceConstruct(ferry_kctx *k) {
  if (k->n_in < 1) return ferry_kernel_fail(k, "needs at least one tensor");
  for (int i = 0; i < k->n_in; i++) {
    if (k->in[i].kind || !k->in[i].dtype) return ferry_kernel_fail(k, "input %d is not a tensor", i);
    if (k->in[i].dtype != k->in[0].dtype)
      return ferry_kernel_fail(k, "input %d is %s, input 0 %s: a sequence holds one dtype", i,
                               ferry_dtype_name(k->in[i].dtype), ferry_dtype_name(k->in[0].dtype));
  }
  return k->set_items(k, 0, FERRY_TV_SEQUENCE, k->in[0].dtype, k->n_in, k->in);
}

int ferry_kernel_SequenceInsert(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  if (rc) return rc;
  const ferry_tview *s = &k->in[0], *t = &k->in[1];
  int64_t n = s->n_items, p;
  if (k->n_in < 2 || t->kind || !t->dtype) return ferry_kernel_fail(k, "the inserted value must be a tensor");
  if (seq_dtype(s) && t->dtype != seq_dtype(s))
    return ferry_kernel_fail(k, "inserting %s into a sequence of %s", ferry_dtype_name(t->dtype),
                             ferry_dtype_name(seq_dtype(s)));
  if ((rc = position(k, 2, n, 1, n, &p))) return rc;
  ferry_tview *items = item_array(k, n + 1);
  if (!items) return oom(k);
  if (p) memcpy(items, s->items, (size_t)p * sizeof *items);
  items[p] = *t;
  if (n - p) memcpy(items + p + 1, s->items + p, (size_t)(n - p) * sizeof *items);
  return k->set_items(k, 0, FERRY_TV_SEQUENCE, t->dtype, (int)(n + 1), items);
}

int ferry_kernel_SequenceErase(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  if (rc) return rc;
  const ferry_tview *s = &k->in[0];
  int64_t n = s->n_items, p;
  if (n == 0) return ferry_kernel_fail(k, "erasing from an empty sequence");
  if ((rc = position(k, 1, n, 0, n - 1, &p))) return rc;
  ferry_tview *items = item_array(k, n - 1);
  if (!items) return oom(k);
  if (p) memcpy(items, s->items, (size_t)p * sizeof *items);
  if (n - p - 1) memcpy(items + p, s->items + p + 1, (size_t)(n - p - 1) * sizeof *items);
  return k->set_items(k, 0, FERRY_TV_SEQUENCE, seq_dtype(s), (int)(n - 1), items);
}

/* ---- reading sequences ---- */

int ferry_kernel_SequenceAt(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  int64_t p;
  if (rc) return rc;
  if (!has_input(k, 1)) return ferry_kernel_fail(k, "needs a position");
  if ((rc = position(k, 1, k->in[0].n_items, 0, -1, &p))) return rc;
  return put_value(k, 0, &k->in[0].items[p]);
}

int ferry_kernel_SequenceLength(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  if (rc) return rc;
  ferry_tview n = {.dtype = FERRY_I64, .rank = 0, .numel = 1, .data = &(int64_t){k->in[0].n_items}};
  return put_tensor(k, 0, &n);
}

/* ---- splitting and concatenating ---- */

/* Part lengths along an axis of size d: from `split` (a scalar: equal
 * parts, the last shorter; a list: the lengths, summing to d) or 1 each. */
static int split_lengths(ferry_kctx *k, int64_t d, int64_t **len, int64_t *n) {
  const ferry_tview *sp = has_input(k, 1) ? &k->in[1] : NULL;
  if (sp && (sp->kind || (sp->dtype != FERRY_I32 && sp->dtype != FERRY_I64) || sp->rank > 1))
    return ferry_kernel_fail(k, "split must be an int32 or int64 scalar or list");
  int64_t chunk = 1;
  if (sp && sp->rank == 0) {
    chunk = ferry_load_i64(sp->data, sp->dtype, 0);
    if (chunk <= 0) return ferry_kernel_fail(k, "split %lld must be positive", (long long)chunk);
  }
  *n = sp && sp->rank == 1 ? sp->numel : d / chunk + (d % chunk != 0);
  if (*n > INT32_MAX / 2) return ferry_kernel_fail(k, "too many parts (%lld)", (long long)*n);
  if (!(*len = k->scratch(k, (size_t)(*n > 0 ? *n : 1) * sizeof **len))) return oom(k);
  int64_t sum = 0;
  for (int64_t i = 0; i < *n; i++) {
    int64_t l = sp && sp->rank == 1 ? ferry_load_i64(sp->data, sp->dtype, i) : i + 1 < *n ? chunk : d - i * chunk;
    if (l < 0 || l > d - sum) return ferry_kernel_fail(k, "split lengths do not fit the axis of %lld", (long long)d);
    (*len)[i] = l;
    sum += l;
  }
  if (sum != d) return ferry_kernel_fail(k, "split lengths sum to %lld, the axis has %lld", (long long)sum, (long long)d);
  return FERRY_OK;
}

int ferry_kernel_SplitToSequence(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t es = esize(x->dtype), *len = NULL, n = 0;
  if (x->kind || x->rank < 1 || es < 0) return ferry_kernel_fail(k, "input must be a tensor of rank >= 1 and a fixed-size dtype");
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), x->rank);
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", x->rank);
  int rc = split_lengths(k, x->dims[axis], &len, &n);
  if (rc) return rc;
  int squeeze = !has_input(k, 1) && !ferry_attr_int(k->sctx, "keepdims", 1);
  int64_t outer = 1, inner = es, d = x->dims[axis];
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  ferry_tview *items = item_array(k, n);
  char *buf = k->scratch(k, (size_t)(x->numel * es) + 1);
  if (!items || !buf) return oom(k);
  for (int64_t p = 0, at = 0; p < n; at += len[p++]) {
    ferry_tview *t = &items[p];
    *t = *x;
    t->dims[axis] = len[p];
    if (squeeze) memmove(t->dims + axis, t->dims + axis + 1, (size_t)(x->rank - axis - 1) * sizeof *t->dims), t->rank--;
    t->numel = outer * len[p] * (inner / es);
    t->data = buf;
    for (int64_t o = 0; o < outer; o++, buf += len[p] * inner)
      memcpy(buf, (const char *)x->data + (o * d + at) * inner, (size_t)(len[p] * inner));
  }
  return k->set_items(k, 0, FERRY_TV_SEQUENCE, x->dtype, (int)n, items);
}

/* Checks that item t fits item 0 (all dims equal but `axis`, unless
 * stacking) and returns its length along the axis. */
static int concat_fits(ferry_kctx *k, const ferry_tview *t0, const ferry_tview *t, int axis, int stack, int64_t i) {
  if (t->kind || t->dtype != t0->dtype || t->rank != t0->rank)
    return ferry_kernel_fail(k, "item %lld differs from item 0 in kind, dtype or rank", (long long)i);
  for (int d = 0; d < t->rank; d++)
    if (t->dims[d] != t0->dims[d] && (stack || d != axis))
      return ferry_kernel_fail(k, "item %lld has dim %d = %lld, item 0 %lld", (long long)i, d, (long long)t->dims[d],
                               (long long)t0->dims[d]);
  return FERRY_OK;
}

int ferry_kernel_ConcatFromSequence(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  if (rc) return rc;
  const ferry_tview *s = &k->in[0], *t0 = s->items;
  if (s->n_items < 1) return ferry_kernel_fail(k, "concatenating an empty sequence");
  int stack = ferry_attr_int(k->sctx, "new_axis", 0) != 0, r = t0->rank + stack;
  if (t0->kind || r < 1 || r > FERRY_MAX_RANK) return ferry_kernel_fail(k, "items must be tensors (of rank >= 1 to concatenate)");
  int axis = ferry_axis(ferry_attr_int(k->sctx, "axis", 0), r);
  int64_t es = esize(t0->dtype), total = 0;
  if (axis < 0) return ferry_kernel_fail(k, "axis out of range for rank %d", r);
  if (es < 0) return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(t0->dtype));
  for (int64_t i = 0; i < s->n_items; i++) {
    if ((rc = concat_fits(k, t0, &s->items[i], axis, stack, i))) return rc;
    total += stack ? 1 : s->items[i].dims[axis];
  }
  int64_t dims[FERRY_MAX_RANK], outer = 1, inner = es; /* of one item: before the axis, past it (bytes) */
  for (int d = 0, j = 0; d < r; d++) {
    dims[d] = d == axis ? total : t0->dims[j];
    j += d != axis || !stack; /* stacking adds the axis, concatenating replaces it */
  }
  for (int d = 0; d < axis; d++) outer *= dims[d];
  for (int d = axis + !stack; d < t0->rank; d++) inner *= t0->dims[d];
  if ((rc = out_shape(k, 0, t0->dtype, r, dims))) return rc;
  char *dst = k->out[0].data;
  for (int64_t b = 0; b < outer; b++)
    for (int64_t i = 0; i < s->n_items; i++) {
      const ferry_tview *t = &s->items[i];
      int64_t chunk = (stack ? 1 : t->dims[axis]) * inner;
      if (chunk) memcpy(dst, (const char *)t->data + b * chunk, (size_t)chunk);
      dst += chunk;
    }
  return FERRY_OK;
}

/* ---- SequenceMap ---- */

/* Copies body result v into scratch as item *dst (results are only valid
 * until the body runs again). */
static int keep_item(ferry_kctx *k, ferry_tview *dst, const ferry_tview *v) {
  size_t n = ferry_value_bytes(v);
  if (n == SIZE_MAX) return ferry_kernel_fail(k, "the body gives a malformed value");
  void *buf = k->scratch(k, n ? n : 1);
  if (!buf) return oom(k);
  ferry_value_copy(dst, v, buf);
  return FERRY_OK;
}

int ferry_kernel_SequenceMap(ferry_kctx *k) {
  int rc = want_sequence(k, 0);
  if (rc) return rc;
  int64_t n = k->in[0].n_items;
  for (int j = 1; j < k->n_in; j++)
    if (k->in[j].kind == FERRY_TV_SEQUENCE && k->in[j].n_items != n)
      return ferry_kernel_fail(k, "input %d has %d items, input 0 %lld", j, k->in[j].n_items, (long long)n);
  ferry_tview *ins = item_array(k, k->n_in), *res = item_array(k, k->n_out);
  ferry_tview **items = k->scratch(k, (size_t)(k->n_out + 1) * sizeof *items);
  if (!ins || !res || !items) return oom(k);
  for (int j = 0; j < k->n_out; j++)
    if (!(items[j] = item_array(k, n))) return oom(k);
  for (int64_t i = 0; i < n; i++) {
    for (int j = 0; j < k->n_in; j++) ins[j] = k->in[j].kind == FERRY_TV_SEQUENCE ? k->in[j].items[i] : k->in[j];
    memset(res, 0, (size_t)k->n_out * sizeof *res);
    if ((rc = k->run_graph(k, "body", ins, k->n_in, res, k->n_out))) {
      if (!k->err[0]) snprintf(k->err, sizeof k->err, "body failed");
      return rc;
    }
    for (int j = 0; j < k->n_out; j++)
      if ((rc = keep_item(k, &items[j][i], &res[j]))) return rc;
  }
  for (int j = 0; j < k->n_out; j++) {
    int dtype = n ? items[j][0].dtype : k->out[j].dtype;
    if ((rc = k->set_items(k, j, FERRY_TV_SEQUENCE, dtype, (int)n, items[j]))) return rc;
  }
  return FERRY_OK;
}

/* ---- optionals ---- */

int ferry_kernel_Optional(ferry_kctx *k) {
  if (has_input(k, 0)) return k->set_items(k, 0, FERRY_TV_OPTIONAL, k->in[0].dtype, 1, k->in);
  ferry_attrv a;
  int dtype = ferry_attr_get(k->sctx, "type", &a) ? a.tdtype : 0;
  return k->set_items(k, 0, FERRY_TV_OPTIONAL, ferry_dtype_valid(dtype) ? dtype : 0, 0, NULL);
}

int ferry_kernel_OptionalHasElement(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  uint8_t has = has_input(k, 0) && (x->kind != FERRY_TV_OPTIONAL || x->n_items == 1);
  ferry_tview b = {.dtype = FERRY_BOOL, .rank = 0, .numel = 1, .data = &has};
  return put_tensor(k, 0, &b);
}

int ferry_kernel_OptionalGetElement(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (!has_input(k, 0)) return ferry_kernel_fail(k, "needs an input");
  if (x->kind != FERRY_TV_OPTIONAL) return put_value(k, 0, x); /* opset 18: a tensor or sequence as it is */
  if (x->n_items != 1) return ferry_kernel_fail(k, "the optional is empty");
  return put_value(k, 0, &x->items[0]);
}
