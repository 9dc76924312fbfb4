/*
 * elementwise_common.c - what the elementwise kernels share (see
 * elementwise.h): the broadcasting plan that turns any numpy broadcast into
 * rows with unit or zero strides, the chunked parallel driver, output
 * shaping and checking, dtype classes and saturating stores.
 */
#include <string.h>

#include "elementwise.h"
#include "util.h"

/* ---- broadcasting plan ---- */

/* 1 when `in` broadcasts (numpy, right-aligned) to rank/dims. */
static int broadcasts_to(const ferry_tview *in, int rank, const int64_t *dims) {
  if (in->rank > rank) return 0;
  for (int i = 0; i < in->rank; i++) {
    int64_t d = in->dims[i], o = dims[rank - in->rank + i];
    if (d != o && d != 1) return 0;
  }
  return 1;
}

/* Drops size-1 output dims, then merges neighbours that are contiguous in
 * every input (st[d] == st[d+1] * dims[d+1]). */
static void simplify(ferry_ew_plan *p, int rank, const int64_t *dims, int64_t st[][FERRY_MAX_RANK]) {
  int r = 0; /* kept dims, innermost first */
  int64_t kd[FERRY_MAX_RANK], ks[FERRY_EW_MAX_IN][FERRY_MAX_RANK];
  for (int d = rank - 1; d >= 0; d--) {
    if (dims[d] == 1) continue;
    int merge = r > 0;
    for (int j = 0; j < p->n_in && merge; j++) merge = st[j][d] == ks[j][r - 1] * kd[r - 1];
    if (merge) {
      kd[r - 1] *= dims[d];
      continue;
    }
    kd[r] = dims[d];
    for (int j = 0; j < p->n_in; j++) ks[j][r] = st[j][d];
    r++;
  }
  if (r == 0) { /* one element */
    kd[0] = 1;
    for (int j = 0; j < p->n_in; j++) ks[j][0] = 0;
    r = 1;
  }
  p->rank = r;
  for (int i = 0; i < r; i++) {
    p->dims[i] = kd[r - 1 - i];
    for (int j = 0; j < p->n_in; j++) p->st[j][i] = ks[j][r - 1 - i];
  }
  p->inner = p->dims[r - 1];
}

int ferry_ew_plan_init(ferry_kctx *k, ferry_ew_plan *p, const ferry_tview *out, const ferry_tview *const *in,
                       int n) {
  int64_t st[FERRY_EW_MAX_IN][FERRY_MAX_RANK];
  memset(p, 0, sizeof *p);
  if (n < 1 || n > FERRY_EW_MAX_IN) return ferry_kernel_fail(k, "%d inputs to broadcast", n);
  p->n_in = n;
  p->numel = out->numel;
  for (int j = 0; j < n; j++) {
    if (!broadcasts_to(in[j], out->rank, out->dims))
      return ferry_kernel_fail(k, "input of rank %d does not broadcast to the output (rank %d)", in[j]->rank,
                               out->rank);
    ferry_broadcast_strides(in[j], out->rank, out->dims, st[j]);
    for (int d = 0; d < out->rank; d++)
      if (out->dims[d] == 0) st[j][d] = 0;
  }
  simplify(p, out->rank, out->dims, st);
  return FERRY_OK;
}

void ferry_ew_plan_rows(const ferry_ew_plan *p, int64_t begin, int64_t end, ferry_ew_rowfn row, void *ctx) {
  if (begin >= end || p->inner <= 0) return;
  int outer = p->rank - 1, n = p->n_in;
  int64_t idx[FERRY_MAX_RANK], off[FERRY_EW_MAX_IN], ist[FERRY_EW_MAX_IN];
  int64_t r = begin / p->inner, col = begin - r * p->inner;
  for (int j = 0; j < n; j++) off[j] = 0, ist[j] = p->st[j][outer];
  for (int d = outer - 1; d >= 0; d--) { /* row r as a multi-index */
    idx[d] = r % p->dims[d];
    r /= p->dims[d];
    for (int j = 0; j < n; j++) off[j] += idx[d] * p->st[j][d];
  }
  for (int64_t e = begin; e < end;) {
    int64_t len = p->inner - col < end - e ? p->inner - col : end - e, at[FERRY_EW_MAX_IN];
    for (int j = 0; j < n; j++) at[j] = off[j] + col * ist[j];
    row(ctx, e, at, ist, len);
    e += len;
    col = 0;
    for (int d = outer - 1; d >= 0; d--) { /* next row */
      for (int j = 0; j < n; j++) off[j] += p->st[j][d];
      if (++idx[d] < p->dims[d]) break;
      for (int j = 0; j < n; j++) off[j] -= idx[d] * p->st[j][d];
      idx[d] = 0;
    }
  }
}

/* ---- parallel runs ---- */

typedef struct chunked {
  void (*fn)(void *arg, int64_t begin, int64_t end);
  void *arg;
  int64_t n;
} chunked;

static void run_chunks(void *arg, int64_t begin, int64_t end) {
  const chunked *c = arg;
  int64_t e = end * FERRY_EW_CHUNK;
  c->fn(c->arg, begin * FERRY_EW_CHUNK, e < c->n ? e : c->n);
}

void ferry_ew_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg) {
  if (n <= 0) return;
  if (n < 2 * FERRY_EW_CHUNK || !k->parallel) {
    fn(arg, 0, n);
    return;
  }
  chunked c = {fn, arg, n};
  k->parallel(k, (n + FERRY_EW_CHUNK - 1) / FERRY_EW_CHUNK, run_chunks, &c);
}

/* ---- outputs ---- */

int ferry_ew_output(ferry_kctx *k, int dtype, const ferry_tview *const *in, int n) {
  if (k->n_out < 1) return ferry_kernel_fail(k, "no output");
  ferry_tview *o = &k->out[0];
  if (!o->data) {
    int rank = 0;
    int64_t dims[FERRY_MAX_RANK];
    for (int j = 0; j < n; j++) {
      const ferry_tview *t = in[j];
      if (t->rank > FERRY_MAX_RANK || t->rank < 0) return ferry_kernel_fail(k, "bad input rank %d", t->rank);
      for (int i = 0; i < t->rank; i++) {
        int d = FERRY_MAX_RANK - t->rank + i;
        int64_t have = i + rank >= t->rank ? dims[d] : 1;
        if (have != 1 && t->dims[i] != 1 && have != t->dims[i])
          return ferry_kernel_fail(k, "shapes do not broadcast: dim %lld vs %lld", (long long)have,
                                   (long long)t->dims[i]);
        dims[d] = have == 1 ? t->dims[i] : have;
      }
      if (t->rank > rank) rank = t->rank;
    }
    int rc = k->set_output(k, 0, dtype, rank, dims + FERRY_MAX_RANK - rank);
    if (rc) return rc;
    if (!o->data && o->numel) return ferry_kernel_fail(k, "out of memory");
  }
  if (o->dtype != dtype)
    return ferry_kernel_fail(k, "output dtype is %s, expected %s", ferry_dtype_name(o->dtype), ferry_dtype_name(dtype));
  for (int j = 0; j < n; j++)
    if (!broadcasts_to(in[j], o->rank, o->dims))
      return ferry_kernel_fail(k, "input %d (rank %d) does not broadcast to the output (rank %d)", j, in[j]->rank,
                               o->rank);
  return FERRY_OK;
}

/* ---- attributes ---- */


/* ---- dtypes ---- */

int ferry_ew_class(int dt) {
  switch (dt) {
  case FERRY_F16: case FERRY_BF16: case FERRY_F32: case FERRY_F64: return FERRY_EW_FLOAT;
  case FERRY_I8: case FERRY_I16: case FERRY_I32: case FERRY_I64: return FERRY_EW_SINT;
  case FERRY_U8: case FERRY_U16: case FERRY_U32: case FERRY_U64: return FERRY_EW_UINT;
  case FERRY_BOOL: return FERRY_EW_BOOL;
  default: return 0;
  }
}

uint64_t ferry_ew_load_u64(const void *data, int dt, int64_t i) {
  if (dt == FERRY_U64) {
    uint64_t v;
    memcpy(&v, (const uint64_t *)data + i, sizeof v);
    return v;
  }
  return (uint64_t)ferry_load_i64(data, dt, i);
}

void ferry_ew_store_sat(void *data, int dt, int64_t i, double v) {
  double lo, hi; /* hi: the first value above the range (a power of two) */
  switch (dt) {
  case FERRY_I8: lo = -128.0, hi = 128.0; break;
  case FERRY_U8: lo = 0, hi = 256.0; break;
  case FERRY_I16: lo = -32768.0, hi = 32768.0; break;
  case FERRY_U16: lo = 0, hi = 65536.0; break;
  case FERRY_I32: lo = -2147483648.0, hi = 2147483648.0; break;
  case FERRY_U32: lo = 0, hi = 4294967296.0; break;
  case FERRY_I64: lo = -9223372036854775808.0, hi = 9223372036854775808.0; break;
  case FERRY_U64:
    ((uint64_t *)data)[i] = v != v || v <= 0 ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
    return;
  case FERRY_BOOL: ((uint8_t *)data)[i] = v != 0; return;
  default: ferry_store_f64(data, dt, i, v); return;
  }
  int64_t r;
  if (v != v) r = 0;
  else if (v <= lo) r = (int64_t)lo;
  else if (v >= hi) r = dt == FERRY_I64 ? INT64_MAX : (int64_t)hi - 1;
  else r = (int64_t)v;
  ferry_store_i64(data, dt, i, r);
}
