/*
 * shape.c - the helpers shape rules share (declared in shape.h).
 *
 * Attribute accessors read through the context's `attr` callback, so a rule
 * works the same on the converter's IR and on a bundle. ferry_broadcast is
 * numpy's multidirectional broadcast over dim handles; the content helpers
 * read and write the small integer tensors that shape math produces. All of
 * it is libc only: the runtime (wasm32 too) links this file.
 */
#include "shape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- attributes ---- */

static int get_attr(ferry_shape_ctx *c, const char *name, ferry_attrv *a) {
  memset(a, 0, sizeof *a);
  return c->attr && c->attr(c->node, name, a);
}

int64_t ferry_attr_int(ferry_shape_ctx *c, const char *name, int64_t dflt) {
  ferry_attrv a;
  return get_attr(c, name, &a) && a.type == 2 ? a.i : dflt;
}

float ferry_attr_float(ferry_shape_ctx *c, const char *name, float dflt) {
  ferry_attrv a;
  return get_attr(c, name, &a) && a.type == 1 ? a.f : dflt;
}

int ferry_attr_ints(ferry_shape_ctx *c, const char *name, const int64_t **v) {
  ferry_attrv a;
  *v = NULL;
  if (!get_attr(c, name, &a) || a.type != 7) return 0;
  *v = a.ints;
  return a.n;
}

int ferry_attr_has(ferry_shape_ctx *c, const char *name) {
  ferry_attrv a;
  return get_attr(c, name, &a) && a.type != 0;
}

const char *ferry_attr_str(ferry_shape_ctx *c, const char *name, const char *dflt) {
  ferry_attrv a;
  return get_attr(c, name, &a) && a.type == 3 && a.s ? a.s : dflt;
}

int ferry_attr_get(ferry_shape_ctx *c, const char *name, ferry_attrv *a) {
  return get_attr(c, name, a) && a->type != 0;
}

int ferry_shape_fail(ferry_shape_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
  return FERRY_E_INPUT;
}

/* ---- dims ---- */

int ferry_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return (int)(axis < 0 ? axis + rank : axis);
}

int ferry_dim_is(ferry_shape_ctx *c, ferry_sdim d, int64_t v) {
  int64_t x;
  return c->D->is_const(c->D->ctx, d, &x) && x == v;
}

ferry_sdim ferry_k(ferry_shape_ctx *c, int64_t v) { return c->D->konst(c->D->ctx, v); }

/* One output dim of a broadcast; 0 with c->err set when incompatible. */
static int broadcast_dim(ferry_shape_ctx *c, ferry_sdim a, ferry_sdim b, ferry_sdim *r) {
  int64_t x, y;
  int ka = c->D->is_const(c->D->ctx, a, &x), kb = c->D->is_const(c->D->ctx, b, &y);
  if (a == b || (kb && y == 1)) *r = a;
  else if (ka && x == 1) *r = b;
  else if (ka && kb) return ferry_shape_fail(c, "cannot broadcast %lld with %lld", (long long)x, (long long)y), 0;
  else if (ka) *r = a; /* a symbol against n > 1: it must be n (or 1) */
  else if (kb) *r = b;
  else *r = c->D->max(c->D->ctx, a, b); /* two symbols: equal, or one is 1 */
  return 1;
}

int ferry_broadcast(ferry_shape_ctx *c, const ferry_sval *a, const ferry_sval *b, ferry_sval *out) {
  if (a->rank < 0 || b->rank < 0) {
    out->rank = -1;
    return FERRY_OK;
  }
  int r = a->rank > b->rank ? a->rank : b->rank;
  ferry_sdim dims[FERRY_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    if (ia < 0) dims[i] = b->dims[ib];
    else if (ib < 0) dims[i] = a->dims[ia];
    else if (!broadcast_dim(c, a->dims[ia], b->dims[ib], &dims[i])) return FERRY_E_INPUT;
  }
  out->rank = r;
  memcpy(out->dims, dims, (size_t)r * sizeof *dims);
  return FERRY_OK;
}

ferry_sdim ferry_numel(ferry_shape_ctx *c, const ferry_sval *v, int from, int to) {
  ferry_sdim n = ferry_k(c, 1);
  for (int i = from; i < to; i++) n = c->D->mul(c->D->ctx, n, v->dims[i]);
  return n;
}

void ferry_set_shape(ferry_sval *out, int dtype, int rank, const ferry_sdim *dims) {
  out->dtype = dtype;
  out->rank = rank;
  if (rank > 0) memmove(out->dims, dims, (size_t)rank * sizeof *dims);
}

void ferry_same_shape(ferry_sval *out, const ferry_sval *in, int dtype) {
  ferry_set_shape(out, dtype, in->rank, in->dims);
}

/* ---- content ---- */

static int is_int_dtype(int dt) {
  return dt == FERRY_I64 || dt == FERRY_I32 || dt == FERRY_I16 || dt == FERRY_I8 ||
         dt == FERRY_U8 || dt == FERRY_U16 || dt == FERRY_U32 || dt == FERRY_U64 ||
         dt == FERRY_BOOL;
}

static int is_float_dtype(int dt) { return dt == FERRY_F32 || dt == FERRY_F64; }

int ferry_content_dtype(int dtype) { return is_int_dtype(dtype) || is_float_dtype(dtype); }

int ferry_is_float(int dtype) { return is_float_dtype(dtype); }

/* Element i of constant data of an integer dtype. */
static int64_t data_int(const void *p, int dtype, int64_t i) {
  switch (dtype) {
  case FERRY_I64: { int64_t v; memcpy(&v, (const char *)p + 8 * i, 8); return v; }
  case FERRY_U64: { uint64_t v; memcpy(&v, (const char *)p + 8 * i, 8); return (int64_t)v; }
  case FERRY_I32: { int32_t v; memcpy(&v, (const char *)p + 4 * i, 4); return v; }
  case FERRY_U32: { uint32_t v; memcpy(&v, (const char *)p + 4 * i, 4); return v; }
  case FERRY_I16: { int16_t v; memcpy(&v, (const char *)p + 2 * i, 2); return v; }
  case FERRY_U16: { uint16_t v; memcpy(&v, (const char *)p + 2 * i, 2); return v; }
  case FERRY_I8: return ((const int8_t *)p)[i];
  case FERRY_U8:
  case FERRY_BOOL: return ((const uint8_t *)p)[i];
  default: return 0;
  }
}

int ferry_data_ints(int dtype, const void *data, int64_t n, int64_t *v, int cap) {
  if (!is_int_dtype(dtype) || n > cap || n < 0) return -1;
  if (!data && n) return -1;
  for (int64_t i = 0; i < n; i++) v[i] = data_int(data, dtype, i);
  return (int)n;
}

int ferry_const_ints(ferry_shape_ctx *c, int i, int64_t *v, int cap) {
  if (i >= c->n_in || !c->in[i].present) return -1;
  const ferry_sval *s = &c->in[i];
  if (s->n_content >= 0 && s->n_content <= cap) {
    for (int k = 0; k < s->n_content; k++)
      if (!c->D->is_const(c->D->ctx, s->content[k], &v[k])) return -1;
    return s->n_content;
  }
  return s->data ? ferry_data_ints(s->dtype, s->data, s->numel_data, v, cap) : -1;
}

#define FLOAT_EXACT 16777216.0 /* integers up to 2^24 are exact in float32 */

int ferry_data_content(int dtype, const void *data, int64_t n, int64_t *v, int cap) {
  if (!is_float_dtype(dtype)) return ferry_data_ints(dtype, data, n, v, cap);
  if (n > cap || n < 0 || (!data && n)) return -1;
  for (int64_t i = 0; i < n; i++) {
    double f = ferry_data_float(dtype, data, i);
    if (!(f >= -FLOAT_EXACT && f <= FLOAT_EXACT) || f != (double)(int64_t)f) return -1;
    v[i] = (int64_t)f;
  }
  return (int)n;
}

void ferry_content_from_data(ferry_shape_ctx *c, ferry_sval *v) {
  int64_t tmp[FERRY_MAX_CONTENT];
  if (v->n_content >= 0 || !v->data) return;
  int n = ferry_data_content(v->dtype, v->data, v->numel_data, tmp, FERRY_MAX_CONTENT);
  if (n < 0) return;
  for (int k = 0; k < n; k++) v->content[k] = ferry_k(c, tmp[k]);
  v->n_content = n;
}

int ferry_known_numel(ferry_shape_ctx *c, const ferry_sval *v, int64_t *n) {
  if (v->rank < 0) return 0;
  int64_t p = 1, d;
  for (int i = 0; i < v->rank; i++) {
    if (!c->D->is_const(c->D->ctx, v->dims[i], &d) || d < 0 || __builtin_mul_overflow(p, d, &p))
      return 0;
  }
  *n = p;
  return 1;
}

int ferry_shape_from_content(ferry_shape_ctx *c, const ferry_sval *s, ferry_sdim *dims) {
  if (s->n_content < 0 || s->n_content > FERRY_MAX_RANK) return -1;
  memcpy(dims, s->content, (size_t)s->n_content * sizeof *dims);
  (void)c;
  return s->n_content;
}

int ferry_const_dims(ferry_shape_ctx *c, const ferry_sval *v, int64_t *d) {
  for (int i = 0; i < v->rank; i++)
    if (!c->D->is_const(c->D->ctx, v->dims[i], &d[i])) return 0;
  return v->rank >= 0;
}

int64_t ferry_bcast_index(const int64_t *od, int R, const int64_t *d, int r, int64_t flat) {
  int64_t idx = 0, stride = 1;
  for (int i = R - 1; i >= 0; i--) {
    int64_t k = flat % od[i];
    flat /= od[i];
    int j = i - (R - r);
    if (j < 0) break;
    if (d[j] != 1) idx += k * stride;
    stride *= d[j];
  }
  return idx;
}

double ferry_data_float(int dtype, const void *data, int64_t i) {
  switch (dtype) {
  case FERRY_F32: { float f; memcpy(&f, (const char *)data + 4 * i, 4); return f; }
  case FERRY_F64: { double f; memcpy(&f, (const char *)data + 8 * i, 8); return f; }
  default: return (double)data_int(data, dtype, i);
  }
}
