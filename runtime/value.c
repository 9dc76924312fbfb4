/*
 * value.c - deep copies of values of every kind (kernel.h): tensors, and
 * sequences and optionals, whose items live apart from the view.
 *
 * A copy is one block: for a tensor its data; for a sequence or optional
 * its items array, then each item's copy in turn (a nested sequence's
 * items array, then its items...), every part 64-byte aligned.
 * ferry_value_bytes sizes the block and checks the value on the way (so
 * it is also the check of values that come from outside: session inputs,
 * subgraph inputs, kernel outputs); ferry_value_copy fills it. The
 * executor, the session's outputs, Loop's carried values and host readers
 * of .pb files all copy values this way.
 */
#include <string.h>

#include "rt.h"

#define MAX_DEPTH 8

static size_t add_size(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Elements of v's dims, -1 when invalid. */
static int64_t dims_numel(const ferry_tview *v) {
  int64_t n = 1;
  for (int i = 0; i < v->rank; i++)
    if (v->dims[i] < 0 || __builtin_mul_overflow(n, v->dims[i], &n)) return -1;
  return n;
}

static size_t tensor_bytes(const ferry_tview *v) {
  if (!ferry_dtype_valid(v->dtype) || !v->dtype || v->rank < 0 || v->rank > FERRY_MAX_RANK) return SIZE_MAX;
  int64_t n = dims_numel(v);
  size_t b = n < 0 ? SIZE_MAX : rt_bytes(v->dtype, n);
  if (b == SIZE_MAX || b > SIZE_MAX - FERRY_ALIGN || (b && !v->data)) return SIZE_MAX;
  return ferry_align_up(b);
}

static size_t value_bytes(const ferry_tview *v, int depth) {
  if (v->kind == FERRY_TV_TENSOR) return tensor_bytes(v);
  if ((v->kind != FERRY_TV_SEQUENCE && v->kind != FERRY_TV_OPTIONAL) || depth >= MAX_DEPTH) return SIZE_MAX;
  if (v->n_items < 0 || (v->n_items && !v->items) || (v->kind == FERRY_TV_OPTIONAL && v->n_items > 1))
    return SIZE_MAX;
  if (v->dtype && !ferry_dtype_valid(v->dtype)) return SIZE_MAX;
  if ((size_t)v->n_items > (SIZE_MAX - FERRY_ALIGN) / sizeof *v->items) return SIZE_MAX;
  size_t total = ferry_align_up((size_t)v->n_items * sizeof *v->items);
  int dtype = v->dtype;
  for (int i = 0; i < v->n_items && total != SIZE_MAX; i++) {
    const ferry_tview *it = &v->items[i];
    if (it->dtype && dtype && it->dtype != dtype) return SIZE_MAX; /* one element type */
    if (!dtype) dtype = it->dtype;
    total = add_size(total, value_bytes(it, depth + 1));
  }
  return total;
}

size_t ferry_value_bytes(const ferry_tview *v) { return value_bytes(v, 0); }

/* Copies v at `at`; returns the end of what it wrote. */
static char *copy_value(ferry_tview *dst, const ferry_tview *v, char *at) {
  if (v->kind == FERRY_TV_TENSOR) {
    *dst = *v;
    dst->numel = dims_numel(v);
    size_t b = rt_bytes(v->dtype, dst->numel);
    dst->data = b ? at : rt_empty_data;
    dst->n_items = 0;
    dst->items = NULL;
    if (!b) return at;
    memcpy(at, v->data, b);
    return at + ferry_align_up(b);
  }
  int n = v->n_items, dtype = v->dtype;
  for (int i = 0; i < n && !dtype; i++) dtype = v->items[i].dtype;
  memset(dst, 0, sizeof *dst);
  dst->dtype = dtype;
  dst->rank = -1;
  dst->kind = v->kind;
  dst->n_items = n;
  dst->items = n ? (ferry_tview *)at : (ferry_tview *)(void *)rt_empty_data; /* never NULL once set */
  if (n) at += ferry_align_up((size_t)n * sizeof *v->items);
  for (int i = 0; i < n; i++) at = copy_value(&dst->items[i], &v->items[i], at);
  return at;
}

void ferry_value_copy(ferry_tview *dst, const ferry_tview *v, void *buf) {
  ferry_tview src = *v; /* dst may be v */
  copy_value(dst, &src, buf);
}
