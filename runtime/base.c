/*
 * base.c - error values and the dtype table declared in ferry_base.h.
 */
#include "ferry_base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ferry_fail(ferry_err *e, int code, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
  }
  return code;
}

int ferry_err_prefix(ferry_err *e, const char *prefix) {
  char tmp[sizeof e->msg];
  size_t p = strlen(prefix), m = strlen(e->msg);
  if (p > sizeof tmp - 3) p = sizeof tmp - 3;
  if (m > sizeof tmp - 3 - p) m = sizeof tmp - 3 - p;
  memcpy(tmp, prefix, p);
  memcpy(tmp + p, ": ", 2);
  memcpy(tmp + p + 2, e->msg, m);
  tmp[p + 2 + m] = 0;
  memcpy(e->msg, tmp, sizeof tmp);
  return e->code;
}

static const struct {
  const char *name;
  int size;
} dtypes[FERRY_DTYPE_COUNT] = {
    [FERRY_UNDEFINED] = {"undefined", -1}, [FERRY_F32] = {"float32", 4},
    [FERRY_U8] = {"uint8", 1},             [FERRY_I8] = {"int8", 1},
    [FERRY_U16] = {"uint16", 2},           [FERRY_I16] = {"int16", 2},
    [FERRY_I32] = {"int32", 4},            [FERRY_I64] = {"int64", 8},
    [FERRY_STRING] = {"string", 0},        [FERRY_BOOL] = {"bool", 1},
    [FERRY_F16] = {"float16", 2},          [FERRY_F64] = {"float64", 8},
    [FERRY_U32] = {"uint32", 4},           [FERRY_U64] = {"uint64", 8},
    [FERRY_C64] = {"complex64", 8},        [FERRY_C128] = {"complex128", 16},
    [FERRY_BF16] = {"bfloat16", 2},        [FERRY_F8E4M3FN] = {"float8e4m3fn", 1},
    [FERRY_F8E4M3FNUZ] = {"float8e4m3fnuz", 1},
    [FERRY_F8E5M2] = {"float8e5m2", 1},    [FERRY_F8E5M2FNUZ] = {"float8e5m2fnuz", 1},
    [FERRY_U4] = {"uint4", 0},             [FERRY_I4] = {"int4", 0},
};

int ferry_dtype_valid(int dtype) {
  return dtype > FERRY_UNDEFINED && dtype < FERRY_DTYPE_COUNT;
}

int ferry_dtype_size(int dtype) {
  return ferry_dtype_valid(dtype) ? dtypes[dtype].size : -1;
}

const char *ferry_dtype_name(int dtype) {
  return ferry_dtype_valid(dtype) ? dtypes[dtype].name : "?";
}
