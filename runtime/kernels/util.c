/*
 * util.c - see util.h.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

float ferry_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (man << 13); /* inf, nan */
  } else if (exp) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man) { /* subnormal: normalize */
    int e = -1;
    do {
      man <<= 1;
      e++;
    } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  } else {
    bits = sign;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t ferry_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
  int e = (int)exp - 127 + 15;
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) { /* subnormal or zero */
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000;
    int shift = 14 - e;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exp: correct */
  return (uint16_t)(sign | half);
}

float ferry_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t ferry_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

void ferry_strides(int rank, const int64_t *dims, int64_t *strides) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
}

void ferry_broadcast_strides(const ferry_tview *in, int rank, const int64_t *odims, int64_t *st) {
  int64_t own[FERRY_MAX_RANK];
  ferry_strides(in->rank, in->dims, own);
  int lead = rank - in->rank;
  for (int i = 0; i < rank; i++) {
    int j = i - lead;
    st[i] = (j < 0 || in->dims[j] == 1) && odims[i] != 0 ? 0 : (j < 0 ? 0 : own[j]);
  }
}

int64_t ferry_broadcast_offset(int64_t i, int rank, const int64_t *odims, const int64_t *st) {
  int64_t off = 0;
  for (int d = rank - 1; d >= 0; d--) {
    int64_t q = odims[d] ? i / odims[d] : 0;
    off += (i - q * odims[d]) * st[d];
    i = q;
  }
  return off;
}

#define LOAD_CASES(T)                                                    \
  case FERRY_F32: return (T)((const float *)data)[i];                    \
  case FERRY_F64: return (T)((const double *)data)[i];                   \
  case FERRY_F16: return (T)ferry_f16_to_f32(((const uint16_t *)data)[i]); \
  case FERRY_BF16: return (T)ferry_bf16_to_f32(((const uint16_t *)data)[i]); \
  case FERRY_I8: return (T)((const int8_t *)data)[i];                    \
  case FERRY_U8: case FERRY_BOOL: return (T)((const uint8_t *)data)[i];  \
  case FERRY_I16: return (T)((const int16_t *)data)[i];                  \
  case FERRY_U16: return (T)((const uint16_t *)data)[i];                 \
  case FERRY_I32: return (T)((const int32_t *)data)[i];                  \
  case FERRY_U32: return (T)((const uint32_t *)data)[i];                 \
  case FERRY_I64: return (T)((const int64_t *)data)[i];                  \
  case FERRY_U64: return (T)((const uint64_t *)data)[i];                 \
  default: return 0;

double ferry_load_f64(const void *data, int dt, int64_t i) {
  switch (dt) { LOAD_CASES(double) }
}

int64_t ferry_load_i64(const void *data, int dt, int64_t i) {
  if (ferry_dtype_is_float(dt)) { /* NaN and out-of-range values are UB in C casts */
    double v = ferry_load_f64(data, dt, i);
    return v != v ? 0 : v >= 9.2233720368547758e18 ? INT64_MAX : v <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)v;
  }
  switch (dt) { LOAD_CASES(int64_t) }
}

#define STORE_CASES(v)                                                   \
  case FERRY_F32: ((float *)data)[i] = (float)(v); break;                \
  case FERRY_F64: ((double *)data)[i] = (double)(v); break;              \
  case FERRY_F16: ((uint16_t *)data)[i] = ferry_f32_to_f16((float)(v)); break; \
  case FERRY_BF16: ((uint16_t *)data)[i] = ferry_f32_to_bf16((float)(v)); break; \
  case FERRY_I8: ((int8_t *)data)[i] = (int8_t)(v); break;               \
  case FERRY_U8: ((uint8_t *)data)[i] = (uint8_t)(v); break;             \
  case FERRY_BOOL: ((uint8_t *)data)[i] = (v) != 0; break;               \
  case FERRY_I16: ((int16_t *)data)[i] = (int16_t)(v); break;            \
  case FERRY_U16: ((uint16_t *)data)[i] = (uint16_t)(v); break;          \
  case FERRY_I32: ((int32_t *)data)[i] = (int32_t)(v); break;            \
  case FERRY_U32: ((uint32_t *)data)[i] = (uint32_t)(v); break;          \
  case FERRY_I64: ((int64_t *)data)[i] = (int64_t)(v); break;            \
  case FERRY_U64: ((uint64_t *)data)[i] = (uint64_t)(v); break;          \
  default: break;

void ferry_store_f64(void *data, int dt, int64_t i, double v) {
  switch (dt) { STORE_CASES(v) }
}

void ferry_store_i64(void *data, int dt, int64_t i, int64_t v) {
  switch (dt) { STORE_CASES(v) }
}

int ferry_dtype_is_float(int dt) {
  return dt == FERRY_F32 || dt == FERRY_F64 || dt == FERRY_F16 || dt == FERRY_BF16;
}

int ferry_kernel_fail(ferry_kctx *k, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->err, sizeof k->err, fmt, ap);
  va_end(ap);
  return FERRY_E_INPUT;
}
