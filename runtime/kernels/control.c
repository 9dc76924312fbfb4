/*
 * control.c - the control-flow kernels If, Loop and Scan (contract:
 * ../kernel.h). Their bodies are subgraphs the executor runs through
 * k->run_graph(); these kernels move tensors in and out of them.
 *
 * How the parts fit:
 *   - If runs then_branch or else_branch and copies the branch's outputs
 *     into its own (shaped with set_output when the executor could not
 *     know the branch's shapes);
 *   - loop-carried values (Loop's v, Scan's state variables) live in a
 *     `carry`: two scratch buffers used in turn, because the views
 *     run_graph returns are only valid until its next call and the body
 *     may hand an input straight back as an output;
 *   - Loop appends each iteration's scan outputs to a growing scratch
 *     buffer (`stack`, doubled when full) and shapes the outputs after the
 *     last iteration, [iterations, ...]; it stops at M, when the body's
 *     condition turns false, or with an error past LOOP_MAX_ITERATIONS;
 *   - Scan slices its scan inputs along scan_input_axes (reversed per
 *     scan_input_directions), and writes each iteration's scan outputs
 *     straight into place along scan_output_axes once the first iteration
 *     tells their shape. Opset 8's Scan (a leading batch axis, optional
 *     sequence_lens, outputs zero past a row's length) runs the same loop
 *     once per batch row on sub-views.
 * Tensors of every fixed-size dtype move as bytes; strings are out of
 * scope (the runtime has no string tensors). Sequences and optionals
 * (If's results, Loop's carried values) move as deep copies
 * (ferry_value_copy) and leave through set_items.
 */
#include <stdio.h>
#include <string.h>

#include "sequence.h"
#include "util.h"

/* More iterations than this is taken for a runaway loop. */
#define LOOP_MAX_ITERATIONS ((int64_t)1 << 24)

static int oom(ferry_kctx *k) {
  snprintf(k->err, sizeof k->err, "out of memory");
  return FERRY_E_SYSTEM;
}

/* run_graph's code, with a message when the executor left none. */
static int body_failed(ferry_kctx *k, int rc, const char *attr) {
  if (!k->err[0]) snprintf(k->err, sizeof k->err, "%s failed", attr);
  return rc ? rc : FERRY_E_INPUT;
}

/* Bytes of a tensor's data, -1 for a dtype that cannot be moved as bytes. */
static int64_t tbytes(int dtype, int64_t numel) {
  int s = ferry_dtype_size(dtype);
  if (dtype == FERRY_U4 || dtype == FERRY_I4) return (numel + 1) / 2;
  return s > 0 && dtype != FERRY_STRING ? numel * s : -1;
}

/* Bytes per element for slicing, -1 for strings and packed 4-bit dtypes. */
static int64_t elem_size(int dtype) {
  int s = ferry_dtype_size(dtype);
  return s > 0 && dtype != FERRY_STRING ? s : -1;
}

static int64_t numel_of(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

static int same_shape(const ferry_tview *a, int dtype, int rank, const int64_t *dims) {
  if (a->dtype != dtype || a->rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (a->dims[i] != dims[i]) return 0;
  return 1;
}

/* Shapes out[i] as (dtype, rank, dims), or checks the executor's shape. */
static int out_shape(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  ferry_tview *o = &k->out[i];
  if (o->data) {
    if (!same_shape(o, dtype, rank, dims))
      return ferry_kernel_fail(k, "output %d: the body's result does not match the expected shape", i);
    return FERRY_OK;
  }
  int rc = k->set_output(k, i, dtype, rank, dims);
  if (rc || (!o->data && numel_of(rank, dims) > 0)) return rc ? rc : oom(k);
  return FERRY_OK;
}

/* out[i] = a copy of v. */
static int emit(ferry_kctx *k, int i, const ferry_tview *v) {
  if (v->kind) return k->set_items(k, i, v->kind, v->dtype, v->n_items, v->items);
  int64_t n = tbytes(v->dtype, v->numel);
  if (n < 0) return ferry_kernel_fail(k, "output %d: dtype %d is not supported", i, v->dtype);
  int rc = out_shape(k, i, v->dtype, v->rank, v->dims);
  if (rc) return rc;
  if (n) memcpy(k->out[i].data, v->data, (size_t)n);
  return FERRY_OK;
}

/* First element of a bool (or numeric) tensor as 0/1. */
static int truth(ferry_kctx *k, const ferry_tview *v, const char *what, int *out) {
  if (!v->data || v->numel < 1 || tbytes(v->dtype, 1) < 0) return ferry_kernel_fail(k, "%s must hold one value", what);
  *out = ferry_load_f64(v->data, v->dtype, 0) != 0;
  return FERRY_OK;
}

/* ---- If ---- */

int ferry_kernel_If(ferry_kctx *k) {
  int cond, rc;
  if (k->n_in < 1) return ferry_kernel_fail(k, "needs a condition");
  if ((rc = truth(k, &k->in[0], "cond", &cond))) return rc;
  const char *branch = cond ? "then_branch" : "else_branch";
  ferry_tview *res = k->scratch(k, (size_t)(k->n_out > 0 ? k->n_out : 1) * sizeof *res);
  if (!res) return oom(k);
  memset(res, 0, (size_t)(k->n_out > 0 ? k->n_out : 1) * sizeof *res);
  if ((rc = k->run_graph(k, branch, NULL, 0, res, k->n_out))) return body_failed(k, rc, branch);
  for (int i = 0; i < k->n_out; i++)
    if ((rc = emit(k, i, &res[i]))) return rc;
  return FERRY_OK;
}

/* ---- carried values ---- */

typedef struct carry {
  ferry_tview v;     /* the current value */
  void *buf[2];
  size_t cap[2];
  int next;          /* the buffer the next value goes to */
} carry;

/* c starts at v (its buffers, zeroed once by the caller, are kept). */
static int carry_init(carry *c, const ferry_tview *v) {
  c->v = *v;
  if (v->kind) return ferry_value_bytes(v) != SIZE_MAX;
  return v->dtype && tbytes(v->dtype, v->numel) >= 0;
}

/* Room for n bytes in c's next buffer. */
static int carry_room(ferry_kctx *k, carry *c, size_t n) {
  int b = c->next;
  if (n <= c->cap[b] && c->buf[b]) return FERRY_OK;
  size_t cap = n > 2 * c->cap[b] ? n : 2 * c->cap[b];
  c->buf[b] = k->scratch(k, cap ? cap : 1);
  if (!c->buf[b]) return oom(k);
  c->cap[b] = cap;
  return FERRY_OK;
}

/* c = a copy of v (v may point into c's current buffer). */
static int carry_set(ferry_kctx *k, carry *c, const ferry_tview *v) {
  int b = c->next, rc;
  if (v->kind) { /* a sequence or optional: a deep copy */
    size_t n = ferry_value_bytes(v);
    if (n == SIZE_MAX) return ferry_kernel_fail(k, "a loop-carried sequence or optional is malformed");
    if ((rc = carry_room(k, c, n))) return rc;
    ferry_value_copy(&c->v, v, c->buf[b]);
    c->next = !b;
    return FERRY_OK;
  }
  int64_t n = tbytes(v->dtype, v->numel);
  if (n < 0) return ferry_kernel_fail(k, "a loop-carried value has unsupported dtype %d", v->dtype);
  if ((rc = carry_room(k, c, (size_t)n))) return rc;
  if (n) memcpy(c->buf[b], v->data, (size_t)n);
  c->v = *v;
  c->v.data = c->buf[b];
  c->next = !b;
  return FERRY_OK;
}

/* ---- Loop ---- */

/* Scan outputs of a Loop: iteration results stacked, shape checked. */
typedef struct stack {
  int dtype, rank;
  int64_t dims[FERRY_MAX_RANK];
  int64_t count, item;  /* iterations stacked; bytes per iteration */
  char *data;
  size_t cap;
} stack;

static int stack_push(ferry_kctx *k, stack *s, const ferry_tview *v, int j) {
  if (s->count == 0) {
    if (v->rank >= FERRY_MAX_RANK) return ferry_kernel_fail(k, "scan output %d has too high a rank", j);
    s->item = tbytes(v->dtype, v->numel);
    if (s->item < 0) return ferry_kernel_fail(k, "scan output %d has unsupported dtype %d", j, v->dtype);
    s->dtype = v->dtype, s->rank = v->rank;
    memcpy(s->dims, v->dims, (size_t)v->rank * sizeof v->dims[0]);
  } else if (!same_shape(v, s->dtype, s->rank, s->dims)) {
    return ferry_kernel_fail(k, "scan output %d changes shape at iteration %lld", j, (long long)s->count);
  }
  size_t need = (size_t)(s->count + 1) * (size_t)s->item;
  if (need > s->cap) {
    size_t cap = need > 2 * s->cap ? need : 2 * s->cap;
    char *d = k->scratch(k, cap ? cap : 1);
    if (!d) return oom(k);
    if (s->data) memcpy(d, s->data, (size_t)s->count * (size_t)s->item);
    s->data = d, s->cap = cap;
  }
  if (s->item) memcpy(s->data + (size_t)s->count * (size_t)s->item, v->data, (size_t)s->item);
  s->count++;
  return FERRY_OK;
}

/* out[i] = the stacked iterations, [count, item dims...]. */
static int stack_emit(ferry_kctx *k, int i, const stack *s) {
  int64_t dims[FERRY_MAX_RANK];
  dims[0] = s->count;
  if (s->count == 0) { /* no iteration ran: the shape is the executor's, or [0] */
    if (k->out[i].data) return FERRY_OK;
    return out_shape(k, i, k->out[i].dtype ? k->out[i].dtype : FERRY_F32, 1, dims);
  }
  memcpy(dims + 1, s->dims, (size_t)s->rank * sizeof dims[0]);
  int rc = out_shape(k, i, s->dtype, s->rank + 1, dims);
  if (rc) return rc;
  if (s->item) memcpy(k->out[i].data, s->data, (size_t)s->count * (size_t)s->item);
  return FERRY_OK;
}

typedef struct loop {
  ferry_kctx *k;
  int n_carry, n_scan;
  carry *c;
  stack *s;
  ferry_tview *ins, *outs;   /* body inputs [iter, cond, carried...], outputs [cond, carried..., scans...] */
  int64_t iter;
  uint8_t cond;
} loop;

/* One run of the body; *go says whether the loop goes on. */
static int loop_iteration(loop *L, int *go) {
  ferry_kctx *k = L->k;
  int n_out = 1 + L->n_carry + L->n_scan, rc;
  for (int i = 0; i < L->n_carry; i++) L->ins[2 + i] = L->c[i].v;
  memset(L->outs, 0, (size_t)n_out * sizeof *L->outs);
  if ((rc = k->run_graph(k, "body", L->ins, 2 + L->n_carry, L->outs, n_out))) return body_failed(k, rc, "body");
  if ((rc = truth(k, &L->outs[0], "the body's condition", go))) return rc;
  for (int i = 0; i < L->n_carry; i++)
    if ((rc = carry_set(k, &L->c[i], &L->outs[1 + i]))) return rc;
  for (int j = 0; j < L->n_scan; j++)
    if ((rc = stack_push(k, &L->s[j], &L->outs[1 + L->n_carry + j], j))) return rc;
  return FERRY_OK;
}

static int loop_setup(ferry_kctx *k, loop *L) {
  memset(L, 0, sizeof *L);
  L->k = k;
  L->n_carry = k->n_in - 2;
  L->n_scan = k->n_out - L->n_carry;
  if (L->n_carry < 0 || L->n_scan < 0) return ferry_kernel_fail(k, "has %d inputs and %d outputs", k->n_in, k->n_out);
  size_t nc = (size_t)L->n_carry + 1, ns = (size_t)L->n_scan + 1;
  L->c = k->scratch(k, nc * sizeof *L->c);
  L->s = k->scratch(k, ns * sizeof *L->s);
  L->ins = k->scratch(k, (nc + 2) * sizeof *L->ins);
  L->outs = k->scratch(k, (nc + ns) * sizeof *L->outs);
  if (!L->c || !L->s || !L->ins || !L->outs) return oom(k);
  memset(L->s, 0, ns * sizeof *L->s);
  memset(L->c, 0, nc * sizeof *L->c);
  memset(L->ins, 0, (nc + 2) * sizeof *L->ins);
  for (int i = 0; i < L->n_carry; i++)
    if (!carry_init(&L->c[i], &k->in[2 + i]))
      return ferry_kernel_fail(k, "loop-carried input %d is missing or has an unsupported dtype", i);
  L->ins[0] = (ferry_tview){.dtype = FERRY_I64, .numel = 1, .data = &L->iter};
  L->ins[1] = (ferry_tview){.dtype = FERRY_BOOL, .numel = 1, .data = &L->cond};
  return FERRY_OK;
}

int ferry_kernel_Loop(ferry_kctx *k) {
  loop L;
  int rc = loop_setup(k, &L), go = 1;
  if (rc) return rc;
  int64_t trips = INT64_MAX;
  if (k->in[0].dtype) {
    if (k->in[0].numel != 1 || ferry_dtype_is_float(k->in[0].dtype) || tbytes(k->in[0].dtype, 1) < 0)
      return ferry_kernel_fail(k, "M must be one integer");
    trips = ferry_load_i64(k->in[0].data, k->in[0].dtype, 0);
  }
  if (k->in[1].dtype && (rc = truth(k, &k->in[1], "cond", &go))) return rc;
  for (int64_t it = 0; it < trips && go; it++) {
    if (it >= LOOP_MAX_ITERATIONS)
      return ferry_kernel_fail(k, "more than %lld iterations", (long long)LOOP_MAX_ITERATIONS);
    L.iter = it;
    L.cond = 1;
    if ((rc = loop_iteration(&L, &go))) return rc;
  }
  for (int i = 0; i < L.n_carry; i++)
    if ((rc = emit(k, i, &L.c[i].v))) return rc;
  for (int j = 0; j < L.n_scan; j++)
    if ((rc = stack_emit(k, L.n_carry + j, &L.s[j]))) return rc;
  return FERRY_OK;
}

/* ---- Scan ---- */

typedef struct scan {
  ferry_kctx *k;
  int n_state, n_in, n_out;  /* state variables, scan inputs, scan outputs */
  int batched;               /* opset 8: a leading batch axis everywhere */
  int64_t B, L;              /* batch rows (1 unless batched), scan length */
  int64_t *in_axis, *in_dir, *out_axis, *out_dir;
  const ferry_tview *st0, *xs;  /* initial states, scan inputs: of this batch row */
  carry *c;
  ferry_tview *ins, *outs;   /* body inputs [states..., slices...], outputs [states..., slices...] */
  void **slice;              /* per scan input: a buffer for one slice */
  uint8_t *touched;          /* per op output: shaped (and zeroed) already */
  int zero;                  /* outputs start zeroed: some row is shorter than L */
} scan;

/* Reads an axis list attribute (default 0) of n entries into v. */
static int read_axes(ferry_kctx *k, const char *name, int n, int64_t *v) {
  const int64_t *a;
  int m = ferry_attr_ints(k->sctx, name, &a);
  if (m && m != n) return ferry_kernel_fail(k, "%s has %d entries, want %d", name, m, n);
  for (int i = 0; i < n; i++) v[i] = m ? a[i] : 0;
  return FERRY_OK;
}

/* View v without its leading (batch) axis, at batch row b. */
static ferry_tview batch_row(const ferry_tview *v, int64_t b) {
  ferry_tview r = *v;
  r.rank = v->rank - 1;
  memmove(r.dims, v->dims + 1, (size_t)r.rank * sizeof r.dims[0]);
  r.numel = v->dims[0] ? v->numel / v->dims[0] : 0;
  r.data = (char *)v->data + b * tbytes(v->dtype, r.numel);
  return r;
}

/* Slice t of scan input x along axis a into buf (or a view into x). */
static ferry_tview take_slice(const ferry_tview *x, int a, int64_t t, void *buf) {
  ferry_tview s = *x;
  int64_t outer = numel_of(a, x->dims), inner = numel_of(x->rank - a - 1, x->dims + a + 1), n = x->dims[a];
  int64_t es = elem_size(x->dtype);
  s.rank = x->rank - 1;
  memmove(s.dims + a, x->dims + a + 1, (size_t)(x->rank - a - 1) * sizeof s.dims[0]);
  s.numel = outer * inner;
  if (outer == 1) {
    s.data = (char *)x->data + t * inner * es;
  } else {
    for (int64_t o = 0; o < outer; o++)
      memcpy((char *)buf + o * inner * es, (const char *)x->data + (o * n + t) * inner * es, (size_t)(inner * es));
    s.data = buf;
  }
  return s;
}

/* Shapes op output i for batch row b and returns where the row's data
 * goes; v gives dtype and the row's shape (rank, dims). */
static int scan_out(scan *S, int i, int64_t b, int dtype, int rank, const int64_t *dims, char **at) {
  ferry_kctx *k = S->k;
  int64_t full[FERRY_MAX_RANK];
  if (rank + S->batched > FERRY_MAX_RANK) return ferry_kernel_fail(k, "output %d has too high a rank", i);
  full[0] = S->B;
  memcpy(full + S->batched, dims, (size_t)rank * sizeof dims[0]);
  int rc = out_shape(k, i, dtype, rank + S->batched, full);
  if (rc) return rc;
  int64_t row = tbytes(dtype, numel_of(rank, dims));
  if (!S->touched[i]) {
    S->touched[i] = 1;
    if (S->zero && k->out[i].data) memset(k->out[i].data, 0, (size_t)(row * S->B));
  }
  *at = (char *)k->out[i].data + b * row;
  return FERRY_OK;
}

/* Writes iteration t's scan output j (slice v) in place: output position
 * p along the output axis, the row's full length L. */
static int scan_put(scan *S, int j, int64_t b, int64_t L, int64_t t, const ferry_tview *v) {
  ferry_kctx *k = S->k;
  int r = v->rank + 1;
  int64_t a = S->out_axis[j] < 0 ? S->out_axis[j] + r : S->out_axis[j];
  if (a < 0 || a >= r || r > FERRY_MAX_RANK) return ferry_kernel_fail(k, "scan_output_axes[%d] is out of range", j);
  int64_t es = elem_size(v->dtype), dims[FERRY_MAX_RANK];
  if (es <= 0) return ferry_kernel_fail(k, "scan output %d has unsupported dtype %d", j, v->dtype);
  memcpy(dims, v->dims, (size_t)a * sizeof dims[0]);
  dims[a] = S->L;
  memcpy(dims + a + 1, v->dims + a, (size_t)(v->rank - a) * sizeof dims[0]);
  char *base;
  int rc = scan_out(S, S->n_state + j, b, v->dtype, r, dims, &base);
  if (rc) return rc;
  int64_t outer = numel_of((int)a, v->dims), inner = numel_of(v->rank - (int)a, v->dims + a);
  int64_t p = S->out_dir[j] ? L - 1 - t : t;
  for (int64_t o = 0; o < outer; o++)
    memcpy(base + (o * S->L + p) * inner * es, (const char *)v->data + o * inner * es, (size_t)(inner * es));
  return FERRY_OK;
}

/* Runs L iterations for batch row b (states st0, scan inputs xs). */
static int scan_row(scan *S, int64_t b, int64_t L) {
  ferry_kctx *k = S->k;
  int rc, n_body_out = S->n_state + S->n_out;
  for (int i = 0; i < S->n_state; i++)
    if (!carry_init(&S->c[i], &S->st0[i])) return ferry_kernel_fail(k, "state %d has unsupported dtype", i);
  for (int64_t t = 0; t < L; t++) {
    for (int i = 0; i < S->n_state; i++) S->ins[i] = S->c[i].v;
    for (int j = 0; j < S->n_in; j++) {
      int64_t idx = S->in_dir[j] ? L - 1 - t : t;
      S->ins[S->n_state + j] = take_slice(&S->xs[j], (int)S->in_axis[j], idx, S->slice[j]);
    }
    memset(S->outs, 0, (size_t)n_body_out * sizeof *S->outs);
    if ((rc = k->run_graph(k, "body", S->ins, S->n_state + S->n_in, S->outs, n_body_out)))
      return body_failed(k, rc, "body");
    for (int i = 0; i < S->n_state; i++)
      if ((rc = carry_set(k, &S->c[i], &S->outs[i]))) return rc;
    for (int j = 0; j < S->n_out; j++)
      if ((rc = scan_put(S, j, b, L, t, &S->outs[S->n_state + j]))) return rc;
  }
  for (int i = 0; i < S->n_state; i++) {
    const ferry_tview *v = &S->c[i].v;
    char *at;
    if ((rc = scan_out(S, i, b, v->dtype, v->rank, v->dims, &at))) return rc;
    int64_t n = tbytes(v->dtype, v->numel);
    if (n > 0) memmove(at, v->data, (size_t)n);
  }
  return FERRY_OK;
}

/* Checks the scan inputs (of one batch row) against the axes and sets L. */
static int scan_inputs(scan *S, const ferry_tview *xs) {
  ferry_kctx *k = S->k;
  for (int j = 0; j < S->n_in; j++) {
    const ferry_tview *x = &xs[j];
    int64_t a = S->in_axis[j] < 0 ? S->in_axis[j] + x->rank : S->in_axis[j];
    if (!x->dtype || a < 0 || a >= x->rank || elem_size(x->dtype) < 0)
      return ferry_kernel_fail(k, "scan input %d: axis out of range, missing or unsupported", j);
    S->in_axis[j] = a;
    if (j == 0) S->L = x->dims[a];
    else if (x->dims[a] != S->L)
      return ferry_kernel_fail(k, "scan inputs have different lengths (%lld, %lld)", (long long)S->L,
                               (long long)x->dims[a]);
    if (!S->slice[j]) S->slice[j] = k->scratch(k, (size_t)(tbytes(x->dtype, S->L ? x->numel / S->L : 0) + 1));
    if (!S->slice[j]) return oom(k);
  }
  return FERRY_OK;
}

static int scan_setup(ferry_kctx *k, scan *S, int first) {
  memset(S, 0, sizeof *S);
  S->k = k;
  S->batched = k->opset < 9;
  S->B = 1;
  S->n_in = (int)ferry_attr_int(k->sctx, "num_scan_inputs", -1);
  S->n_state = k->n_in - first - S->n_in;
  S->n_out = k->n_out - S->n_state;
  if (S->n_in < 1 || S->n_state < 0 || S->n_out < 0)
    return ferry_kernel_fail(k, "num_scan_inputs does not fit %d inputs and %d outputs", k->n_in, k->n_out);
  size_t ni = (size_t)S->n_in, no = (size_t)S->n_out + 1, ns = (size_t)S->n_state + 1;
  S->in_axis = k->scratch(k, ni * sizeof(int64_t));
  S->in_dir = k->scratch(k, ni * sizeof(int64_t));
  S->out_axis = k->scratch(k, no * sizeof(int64_t));
  S->out_dir = k->scratch(k, no * sizeof(int64_t));
  S->c = k->scratch(k, ns * sizeof *S->c);
  S->ins = k->scratch(k, (ns + ni) * sizeof *S->ins);
  S->outs = k->scratch(k, (ns + no) * sizeof *S->outs);
  S->slice = k->scratch(k, ni * sizeof *S->slice);
  S->touched = k->scratch(k, (size_t)k->n_out + 1);
  if (S->c) memset(S->c, 0, ns * sizeof *S->c);
  if (S->slice) memset(S->slice, 0, ni * sizeof *S->slice);
  if (!S->in_axis || !S->in_dir || !S->out_axis || !S->out_dir || !S->c || !S->ins || !S->outs || !S->slice ||
      !S->touched)
    return oom(k);
  memset(S->touched, 0, (size_t)k->n_out + 1);
  int rc;
  if (S->batched) {
    memset(S->in_axis, 0, ni * sizeof(int64_t));
    memset(S->out_axis, 0, no * sizeof(int64_t));
    memset(S->out_dir, 0, no * sizeof(int64_t));
    return read_axes(k, "directions", S->n_in, S->in_dir);
  }
  if ((rc = read_axes(k, "scan_input_axes", S->n_in, S->in_axis)) ||
      (rc = read_axes(k, "scan_input_directions", S->n_in, S->in_dir)) ||
      (rc = read_axes(k, "scan_output_axes", S->n_out, S->out_axis)))
    return rc;
  return read_axes(k, "scan_output_directions", S->n_out, S->out_dir);
}

/* Opset 9+: one pass over the whole tensors. */
static int scan9(ferry_kctx *k, scan *S) {
  S->st0 = k->in;
  S->xs = k->in + S->n_state;
  int rc = scan_inputs(S, S->xs);
  if (rc) return rc;
  return scan_row(S, 0, S->L);
}

/* Scan outputs no iteration shaped (every length 0): the executor's shape,
 * or [0]. */
static int scan_unshaped(ferry_kctx *k, scan *S) {
  for (int j = 0; j < S->n_out; j++) {
    ferry_tview *o = &k->out[S->n_state + j];
    int64_t zero = 0;
    int rc;
    if (!o->data && (rc = out_shape(k, S->n_state + j, o->dtype ? o->dtype : FERRY_F32, 1, &zero))) return rc;
  }
  return FERRY_OK;
}

/* Opset 8: [sequence_lens], states [B, ...], scan inputs [B, L, ...]. */
static int scan8(ferry_kctx *k, scan *S) {
  const ferry_tview *lens = k->in[0].data ? &k->in[0] : NULL;
  ferry_tview *rows = k->scratch(k, (size_t)(S->n_state + S->n_in) * sizeof *rows);
  if (!rows) return oom(k);
  const ferry_tview *all = k->in + 1;
  for (int i = 0; i < S->n_state + S->n_in; i++)
    if (!all[i].dtype || all[i].rank < 1 + (i >= S->n_state) || elem_size(all[i].dtype) < 0)
      return ferry_kernel_fail(k, "input %d must have a batch axis", i + 1);
  S->B = all[0].dims[0];
  for (int i = 0; i < S->n_state + S->n_in; i++)
    if (all[i].dims[0] != S->B) return ferry_kernel_fail(k, "inputs disagree on the batch size");
  if (lens && (lens->numel != S->B || ferry_dtype_is_float(lens->dtype) || elem_size(lens->dtype) < 0))
    return ferry_kernel_fail(k, "sequence_lens must hold %lld integers", (long long)S->B);
  S->L = all[S->n_state].dims[1];
  for (int64_t b = 0; lens && b < S->B; b++) {
    int64_t len = ferry_load_i64(lens->data, lens->dtype, b);
    if (len < 0 || len > S->L)
      return ferry_kernel_fail(k, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b, (long long)len,
                               (long long)S->L);
    S->zero |= len < S->L; /* outputs past a row's length stay zero */
  }
  int rc;
  for (int i = 0; i < S->n_state && S->B == 0; i++) /* no row to run: empty states */
    if (!k->out[i].data && (rc = out_shape(k, i, all[i].dtype, all[i].rank, all[i].dims))) return rc;
  for (int64_t b = 0; b < S->B; b++) {
    for (int i = 0; i < S->n_state + S->n_in; i++) rows[i] = batch_row(&all[i], b);
    S->st0 = rows, S->xs = rows + S->n_state;
    if ((rc = scan_inputs(S, S->xs))) return rc;
    /* a row walks its first len steps; a reverse one starts at step len - 1 */
    if ((rc = scan_row(S, b, lens ? ferry_load_i64(lens->data, lens->dtype, b) : S->L))) return rc;
  }
  return FERRY_OK;
}

int ferry_kernel_Scan(ferry_kctx *k) {
  scan S;
  int batched = k->opset < 9;
  int rc = scan_setup(k, &S, batched);
  if (rc) return rc;
  if ((rc = batched ? scan8(k, &S) : scan9(k, &S))) return rc;
  return scan_unshaped(k, &S);
}
