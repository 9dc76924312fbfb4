/*
 * nn_quant.c - linear quantization: QuantizeLinear, DequantizeLinear
 * (per tensor or per axis; block quantization, 4-bit and float8 types are
 * refused with an error) and DynamicQuantizeLinear.
 *
 * How the parts fit: qparams() reads scale and zero point (scalars, or
 * 1-D along `axis`) and says which parameter applies to element i; the
 * arithmetic is float32, as onnxruntime does it: q = saturate(rint(x /
 * scale) + zero_point) with round-half-to-even, x = (q - zero_point) *
 * scale. NaN quantizes to the zero point (a float-to-int conversion of NaN
 * would be undefined).
 */
#include <math.h>
#include <string.h>

#include "nn.h"
#include "util.h"

typedef struct qparams {
  const ferry_tview *scale, *zp; /* zp NULL when absent */
  int64_t n, inner;              /* params count (1: per tensor); elements per param step */
} qparams;

static int quant_dtype_ok(int dt) {
  return dt == FERRY_U8 || dt == FERRY_I8 || dt == FERRY_U16 || dt == FERRY_I16 || dt == FERRY_I32;
}

static int qparams_read(ferry_kctx *k, qparams *q) {
  const ferry_tview *x = &k->in[0];
  if (k->n_in < 2 || !k->in[1].data) return ferry_kernel_fail(k, "scale is required");
  if (ferry_attr_int(k->sctx, "block_size", 0) != 0) return ferry_kernel_fail(k, "blocked quantization is not supported");
  q->scale = &k->in[1];
  q->zp = k->n_in > 2 && k->in[2].data ? &k->in[2] : NULL;
  q->n = q->scale->numel;
  q->inner = 1;
  if (q->zp && q->zp->numel != q->n) return ferry_kernel_fail(k, "zero point and scale differ in size");
  if (q->n == 1 && q->scale->rank <= 1) return FERRY_OK;
  int64_t axis = ferry_attr_int(k->sctx, "axis", 1);
  int a = ferry_axis(axis, x->rank);
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (q->scale->rank != 1 || q->n != x->dims[a])
    return ferry_kernel_fail(k, "scale must be a scalar or have %lld values along axis %d", (long long)x->dims[a], a);
  q->inner = ferry_nn_prod(x->dims, a + 1, x->rank);
  return FERRY_OK;
}

/* The parameter index of element i. */
static int64_t qidx(const qparams *q, int64_t i) { return q->n == 1 ? 0 : i / q->inner % q->n; }

static void qrange(int dt, float *lo, float *hi) {
  switch (dt) {
  case FERRY_I8: *lo = -128, *hi = 127; break;
  case FERRY_U16: *lo = 0, *hi = 65535; break;
  case FERRY_I16: *lo = -32768, *hi = 32767; break;
  case FERRY_I32: *lo = -2147483648.0f, *hi = 2147483520.0f; break; /* largest float below 2^31 */
  default: *lo = 0, *hi = 255; break;
  }
}

/* x -> dtype dt of y (out[0]). */
int ferry_kernel_QuantizeLinear(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  qparams q;
  int rc = qparams_read(k, &q);
  if (rc) return rc;
  int dt = k->out[0].data ? k->out[0].dtype
           : q.zp          ? q.zp->dtype
                           : (int)ferry_attr_int(k->sctx, "output_dtype", FERRY_U8);
  if (dt == 0) dt = FERRY_U8;
  if (!quant_dtype_ok(dt) || dt == FERRY_I32) return ferry_kernel_fail(k, "quantizing to %s is not supported", ferry_dtype_name(dt));
  if (q.zp && q.zp->dtype != dt) return ferry_kernel_fail(k, "zero point is %s, output %s", ferry_dtype_name(q.zp->dtype), ferry_dtype_name(dt));
  if ((rc = ferry_nn_out(k, 0, dt, x->rank, x->dims))) return rc;
  float lo, hi;
  qrange(dt, &lo, &hi);
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t p = qidx(&q, i);
    float s = (float)ferry_load_f64(q.scale->data, q.scale->dtype, p);
    float z = q.zp ? (float)ferry_load_i64(q.zp->data, q.zp->dtype, p) : 0.0f;
    float v = nearbyintf((float)ferry_load_f64(x->data, x->dtype, i) / s) + z;
    v = v != v ? z : v < lo ? lo : v > hi ? hi : v;
    ferry_store_i64(k->out[0].data, dt, i, (int64_t)v);
  }
  return FERRY_OK;
}

/* (x - zero_point) * scale into out[0]'s dtype (float32 before opset 19). */
int ferry_kernel_DequantizeLinear(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  qparams q;
  int rc = qparams_read(k, &q);
  if (rc) return rc;
  if (!quant_dtype_ok(x->dtype)) return ferry_kernel_fail(k, "dequantizing %s is not supported", ferry_dtype_name(x->dtype));
  if (q.zp && q.zp->dtype != x->dtype) return ferry_kernel_fail(k, "zero point and x differ in dtype");
  int dt = k->out[0].data ? k->out[0].dtype : k->opset >= 19 ? q.scale->dtype : FERRY_F32;
  if ((rc = ferry_nn_out(k, 0, dt, x->rank, x->dims))) return rc;
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t p = qidx(&q, i), z = q.zp ? ferry_load_i64(q.zp->data, q.zp->dtype, p) : 0;
    float s = (float)ferry_load_f64(q.scale->data, q.scale->dtype, p);
    float v = (float)(ferry_load_i64(x->data, x->dtype, i) - z) * s;
    ferry_store_f64(k->out[0].data, dt, i, v);
  }
  return FERRY_OK;
}

/* float32 x -> uint8 y, scale, zero point covering [min(x, 0), max(x, 0)]. */
int ferry_kernel_DynamicQuantizeLinear(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (!ferry_dtype_is_float(x->dtype)) return ferry_kernel_fail(k, "x must be a float tensor");
  int64_t scalar[1] = {1}; /* dims of the rank-0 outputs (never read) */
  int rc = ferry_nn_out(k, 0, FERRY_U8, x->rank, x->dims);
  if (rc || (rc = ferry_nn_out(k, 1, FERRY_F32, 0, scalar)) || (rc = ferry_nn_out(k, 2, FERRY_U8, 0, scalar))) return rc;
  float mn = 0, mx = 0;
  for (int64_t i = 0; i < x->numel; i++) {
    float v = (float)ferry_load_f64(x->data, x->dtype, i);
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  float scale = (mx - mn) / 255.0f, zp = 0;
  if (scale > 0 && isfinite(scale)) {
    float z0 = 0.0f - mn / scale;
    zp = nearbyintf(z0 < 0 ? 0 : z0 > 255 ? 255 : z0);
  } else {
    scale = scale > 0 ? scale : 0;
  }
  uint8_t *y = k->out[0].data;
  for (int64_t i = 0; i < x->numel; i++) {
    float v = scale > 0 ? nearbyintf((float)ferry_load_f64(x->data, x->dtype, i) / scale) + zp : zp;
    v = v != v ? zp : v < 0 ? 0 : v > 255 ? 255 : v;
    y[i] = (uint8_t)v;
  }
  if (k->n_out > 1 && k->out[1].data) *(float *)k->out[1].data = scale;
  if (k->n_out > 2 && k->out[2].data) *(uint8_t *)k->out[2].data = (uint8_t)zp;
  return FERRY_OK;
}
