/*
 * wasm_api.c - the ABI of ferry.wasm: runtime/ferry.h's session API as
 * functions of numbers and pointers only, so JS never needs the layout of a
 * C struct (ferry_tview, ferry_io_info, ferry_err). Only built for wasm32
 * (`make wasm`); runtime/js/ferry-wasm.js is the JS that wraps it.
 *
 * Conventions
 *   - A handle `h` is an opaque pointer (a JS number; 0 = failure). It owns
 *     the session, the bundle bytes, the input buffers and the I/O values.
 *   - A value `v` is an opaque pointer to one input or output value or to
 *     an item of one: a tensor, a sequence or an optional (kind 0, 1, 2).
 *   - Functions returning int return 0 (FERRY_OK) or a status of
 *     ferry_base.h; on failure ferry_wasm_last_error() is the one-line
 *     message (a NUL-terminated UTF-8 string in wasm memory).
 *   - `which` selects the graph inputs (0) or outputs (1).
 *   - Dims and byte counts are doubles: exact below 2^53, no BigInt in JS.
 *   - Anything that allocates may grow wasm memory, which detaches every JS
 *     view of it: make views after the call, not before.
 *
 * Opening: buf = aligned_alloc(64, len rounded up to 64) (exported with
 * malloc and free), copy the .ferry bytes in, then h = ferry_wasm_open(buf,
 * len, flags). The handle takes ownership of buf, also on failure (freed on
 * close or there). flags bit 0: skip the DATA CRCs (opts.skip_data_crc).
 * Shards NAME.ferry.K: ferry_wasm_add_shard(h, K, buf, len), same ownership
 * rule; ferry_wasm_missing_shard(h) is the lowest one still missing (-1: none).
 *
 * Running: for each input i (ferry_wasm_count(h, 0) of them, in order)
 *   v = ferry_wasm_input(h, i)                       its value, cleared
 *   a tensor:   p = ferry_wasm_value_tensor(h, v, dtype, rank, nbytes)
 *               ferry_wasm_value_set_dim(v, d, size) for d < rank
 *               copy the data to p (after the calls: memory may have grown)
 *   a sequence or optional of n items:
 *               ferry_wasm_value_items(h, v, kind, dtype, n), then describe
 *               each ferry_wasm_value_item(v, k) the same way
 * then ferry_wasm_run(h). Input buffers live until the end of that run.
 * Output i is ferry_wasm_output(h, i), read with ferry_wasm_value_kind /
 * _dtype / _rank / _dim / _data / _nbytes / _n_items / _item: valid until
 * the next run or close.
 * Compressed bundles (convert --compress) are inflated by the runtime's own
 * decoder (runtime/inflate.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"

#define API(name) __attribute__((export_name(#name))) name

typedef struct fw {
  ferry_session *s;
  int n_in, n_out;
  ferry_tview *in, *out;    /* n_in, n_out entries */
  void **bufs;              /* bundle shards (owned) */
  int n_bufs;
  void **tmp;               /* input buffers and item arrays, freed after a run */
  int n_tmp, cap_tmp;
} fw;

static ferry_err last = {0, ""};

static int fail(int code, const char *msg) {
  last.code = code;
  strncpy(last.msg, msg, sizeof last.msg - 1);
  last.msg[sizeof last.msg - 1] = 0;
  return code;
}

const char *API(ferry_wasm_last_error)(void) { return last.msg; }

/* "float32", "int64", "bool", ... as numpy and onnxruntime-web name them; "?" if unknown */
const char *API(ferry_wasm_dtype_name)(int dtype) { return ferry_dtype_name(dtype); }
/* bytes per element: 0 for strings and 4-bit types (two per byte), -1 for no dtype */
int API(ferry_wasm_dtype_size)(int dtype) { return ferry_dtype_size(dtype); }

static int keep(fw *h, void *buf) {
  void **b = realloc(h->bufs, (size_t)(h->n_bufs + 1) * sizeof *b);
  if (!b) return 0;
  h->bufs = b;
  h->bufs[h->n_bufs++] = buf;
  return 1;
}

static void free_tmp(fw *h) {
  for (int i = 0; i < h->n_tmp; i++) free(h->tmp[i]);
  h->n_tmp = 0;
}

/* A zeroed, 64-byte aligned block freed after the next run. */
static void *tmp_alloc(fw *h, size_t n) {
  if (h->n_tmp == h->cap_tmp) {
    int cap = h->cap_tmp ? 2 * h->cap_tmp : 16;
    void **t = realloc(h->tmp, (size_t)cap * sizeof *t);
    if (!t) return NULL;
    h->tmp = t;
    h->cap_tmp = cap;
  }
  n = (n + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, n ? n : 64);
  if (!p) return NULL;
  memset(p, 0, n ? n : 64);
  return h->tmp[h->n_tmp++] = p;
}

void API(ferry_wasm_close)(fw *h) {
  if (!h) return;
  ferry_session_close(h->s);
  free_tmp(h);
  for (int i = 0; i < h->n_bufs; i++) free(h->bufs[i]);
  free(h->in), free(h->out), free(h->bufs), free(h->tmp);
  free(h);
}

fw *API(ferry_wasm_open)(void *buf, double len, int flags) {
  fw *h = calloc(1, sizeof *h);
  if (!h || !keep(h, buf)) {
    free(h);
    free(buf);
    fail(FERRY_E_SYSTEM, "out of memory");
    return NULL;
  }
  ferry_session_opts o = {.threads = 1, .skip_data_crc = flags & 1};
  h->s = ferry_session_open(buf, (size_t)len, &o, &last);
  if (!h->s) {
    ferry_wasm_close(h);
    return NULL;
  }
  h->n_in = ferry_session_n_inputs(h->s);
  h->n_out = ferry_session_n_outputs(h->s);
  h->in = calloc((size_t)h->n_in + 1, sizeof *h->in);
  h->out = calloc((size_t)h->n_out + 1, sizeof *h->out);
  if (!h->in || !h->out) {
    ferry_wasm_close(h);
    fail(FERRY_E_SYSTEM, "out of memory");
    return NULL;
  }
  return h;
}

int API(ferry_wasm_add_shard)(fw *h, int index, void *buf, double len) {
  if (!keep(h, buf)) {
    free(buf);
    return fail(FERRY_E_SYSTEM, "out of memory");
  }
  return ferry_session_add_shard(h->s, index, buf, (size_t)len, &last);
}

int API(ferry_wasm_n_shards)(const fw *h) { return ferry_session_n_shards(h->s); }
int API(ferry_wasm_missing_shard)(const fw *h) { return ferry_session_missing_shard(h->s); }

/* ---- declared inputs and outputs ---- */

int API(ferry_wasm_count)(const fw *h, int which) { return which ? h->n_out : h->n_in; }

static const ferry_io_info *info(const fw *h, int which, int i) {
  return which ? ferry_session_output_info(h->s, i) : ferry_session_input_info(h->s, i);
}

/* NULL when i is out of range. */
const char *API(ferry_wasm_io_name)(const fw *h, int which, int i) {
  const ferry_io_info *f = info(h, which, i);
  return f ? f->name : NULL;
}
/* 0 tensor, 1 sequence, 2 optional; 3 map, 4 sparse, 5 unknown (not passable) */
int API(ferry_wasm_io_kind)(const fw *h, int which, int i) {
  const ferry_io_info *f = info(h, which, i);
  return f ? f->kind : 5;
}
/* of a sequence or optional: its innermost element's; 0 unknown */
int API(ferry_wasm_io_dtype)(const fw *h, int which, int i) {
  const ferry_io_info *f = info(h, which, i);
  return f ? f->dtype : 0;
}
/* -1: unknown rank (also for sequences and optionals) */
int API(ferry_wasm_io_rank)(const fw *h, int which, int i) {
  const ferry_io_info *f = info(h, which, i);
  return f ? f->rank : -1;
}
/* -1 for a symbolic dim, whose name (or expression) ferry_wasm_io_dim_name gives */
double API(ferry_wasm_io_dim)(const fw *h, int which, int i, int d) {
  const ferry_io_info *f = info(h, which, i);
  return f && d >= 0 && d < f->rank ? (double)f->dims[d] : -1;
}
const char *API(ferry_wasm_io_dim_name)(const fw *h, int which, int i, int d) {
  const ferry_io_info *f = info(h, which, i);
  return f && d >= 0 && d < f->rank ? f->dim_names[d] : NULL;
}

/* ---- describing inputs ---- */

/* Input i's value, cleared; NULL when i is out of range. */
ferry_tview *API(ferry_wasm_input)(fw *h, int i) {
  if (i < 0 || i >= h->n_in) return fail(FERRY_E_INPUT, "input index out of range"), NULL;
  memset(&h->in[i], 0, sizeof h->in[i]);
  return &h->in[i];
}

/* Makes v a tensor and returns its data buffer of nbytes (64-byte aligned);
 * NULL on error. */
void *API(ferry_wasm_value_tensor)(fw *h, ferry_tview *v, int dtype, int rank, double nbytes) {
  if (rank < 0 || rank > FERRY_MAX_RANK) return fail(FERRY_E_INPUT, "rank out of range"), NULL;
  if (!(nbytes >= 0 && nbytes < 4294967296.0)) return fail(FERRY_E_INPUT, "tensor too large"), NULL;
  void *p = tmp_alloc(h, (size_t)nbytes);
  if (!p) return fail(FERRY_E_SYSTEM, "out of memory for an input"), NULL;
  memset(v, 0, sizeof *v);
  v->dtype = dtype;
  v->rank = rank;
  v->data = p;
  return p;
}

void API(ferry_wasm_value_set_dim)(ferry_tview *v, int d, double size) {
  if (d >= 0 && d < FERRY_MAX_RANK) v->dims[d] = (int64_t)size;
}

/* Makes v a sequence (kind 1) or optional (2; n 0 none, 1 present) of n
 * items of dtype (0: from the items), each cleared. */
int API(ferry_wasm_value_items)(fw *h, ferry_tview *v, int kind, int dtype, int n) {
  if ((kind != FERRY_TV_SEQUENCE && kind != FERRY_TV_OPTIONAL) || n < 0 || (kind == FERRY_TV_OPTIONAL && n > 1))
    return fail(FERRY_E_INPUT, "bad sequence or optional");
  ferry_tview *items = tmp_alloc(h, (size_t)(n ? n : 1) * sizeof *items);
  if (!items) return fail(FERRY_E_SYSTEM, "out of memory for an input");
  memset(v, 0, sizeof *v);
  v->kind = kind;
  v->dtype = dtype;
  v->rank = -1;
  v->n_items = n;
  v->items = items;
  return 0;
}

/* ---- running ---- */

static void set_numel(ferry_tview *v) {
  if (v->kind) {
    for (int k = 0; k < v->n_items; k++) set_numel(&v->items[k]);
    return;
  }
  int64_t n = 1;
  for (int d = 0; d < v->rank; d++) n *= v->dims[d];
  v->numel = n;
}

int API(ferry_wasm_run)(fw *h) {
  for (int i = 0; i < h->n_in; i++) set_numel(&h->in[i]);
  int rc = ferry_session_run(h->s, h->in, h->n_in, h->out, &last);
  free_tmp(h);
  memset(h->in, 0, (size_t)h->n_in * sizeof *h->in);
  return rc;
}

/* Output i's value (valid until the next run or close); NULL out of range. */
const ferry_tview *API(ferry_wasm_output)(const fw *h, int i) {
  return i >= 0 && i < h->n_out ? &h->out[i] : NULL;
}

/* ---- reading values ---- */

int API(ferry_wasm_value_kind)(const ferry_tview *v) { return v->kind; }
int API(ferry_wasm_value_dtype)(const ferry_tview *v) { return v->dtype; }
int API(ferry_wasm_value_rank)(const ferry_tview *v) { return v->rank; }
double API(ferry_wasm_value_dim)(const ferry_tview *v, int d) {
  return d >= 0 && d < v->rank ? (double)v->dims[d] : -1;
}
void *API(ferry_wasm_value_data)(const ferry_tview *v) { return v->data; }
/* bytes of a tensor's data (4-bit dtypes: two per byte, rounded up) */
double API(ferry_wasm_value_nbytes)(const ferry_tview *v) {
  if (v->kind) return 0;
  int sz = ferry_dtype_size(v->dtype);
  if (sz > 0) return (double)v->numel * sz;
  return (v->dtype == FERRY_U4 || v->dtype == FERRY_I4) ? (double)((v->numel + 1) / 2) : 0;
}
int API(ferry_wasm_value_n_items)(const ferry_tview *v) { return v->kind ? v->n_items : 0; }
/* item k of a sequence or optional (also to describe an input's items) */
ferry_tview *API(ferry_wasm_value_item)(const ferry_tview *v, int k) {
  return v->kind && k >= 0 && k < v->n_items ? &v->items[k] : NULL;
}

/* Statistics of the last run (ferry_run_stats): 0 peak_bytes, 1
 * values_bytes, 2 scratch_bytes, 3 plans, 4 steps, 5 dynamic_steps,
 * 6 threads; -1 for another number. */
double API(ferry_wasm_stat)(const fw *h, int what) {
  ferry_run_stats st;
  ferry_session_stats(h->s, &st);
  switch (what) {
  case 0: return (double)st.peak_bytes;
  case 1: return (double)st.values_bytes;
  case 2: return (double)st.scratch_bytes;
  case 3: return st.plans;
  case 4: return st.steps;
  case 5: return st.dynamic_steps;
  case 6: return st.threads;
  default: return -1;
  }
}
