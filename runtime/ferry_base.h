/*
 * ferry_base.h - what every part of ferry shares: error values and dtypes.
 *
 * It needs nothing beyond libc, so the runtime (which also builds to wasm32)
 * and the converter both include it.
 *
 * Errors are values: a function that can fail takes a `ferry_err *`, fills
 * it with one line "FILE: what is wrong" and returns the code. Nothing below
 * cli/ prints or exits; the CLI maps the code to the process exit status.
 *
 * Dtypes use ONNX's TensorProto.DataType numbers, so a dtype read from an
 * ONNX file or a bundle is used as is.
 */
#ifndef FERRY_BASE_H
#define FERRY_BASE_H

#include <stddef.h>
#include <stdint.h>

/* Status codes; they double as the CLI's exit codes (docs/cli.md). */
enum ferry_status {
  FERRY_OK = 0,
  FERRY_E_ACCURACY = 1, /* validate: outputs differ beyond tolerance */
  FERRY_E_INPUT = 2,    /* bad input or usage: unreadable, invalid or unsupported model */
  FERRY_E_SYSTEM = 3,   /* cannot write output, out of memory, other system failure */
};

typedef struct ferry_err {
  int code;
  char msg[512];
} ferry_err;

/* Fills `e` (which may be NULL) with a printf-style message and returns code. */
int ferry_fail(ferry_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds "prefix: " in front of the message already in `e`; returns e->code. */
int ferry_err_prefix(ferry_err *e, const char *prefix);

enum ferry_dtype {
  FERRY_UNDEFINED = 0,
  FERRY_F32 = 1,
  FERRY_U8 = 2,
  FERRY_I8 = 3,
  FERRY_U16 = 4,
  FERRY_I16 = 5,
  FERRY_I32 = 6,
  FERRY_I64 = 7,
  FERRY_STRING = 8,
  FERRY_BOOL = 9,
  FERRY_F16 = 10,
  FERRY_F64 = 11,
  FERRY_U32 = 12,
  FERRY_U64 = 13,
  FERRY_C64 = 14,
  FERRY_C128 = 15,
  FERRY_BF16 = 16,
  FERRY_F8E4M3FN = 17,
  FERRY_F8E4M3FNUZ = 18,
  FERRY_F8E5M2 = 19,
  FERRY_F8E5M2FNUZ = 20,
  FERRY_U4 = 21,
  FERRY_I4 = 22,
  FERRY_DTYPE_COUNT
};

/* Bytes per element (strings: 0, 4-bit types: 0 as they pack two per byte);
 * -1 for a number that is no dtype. */
int ferry_dtype_size(int dtype);
/* Name as numpy and onnxruntime-web spell it ("float32", "int64", "bool"), "?" if unknown. */
const char *ferry_dtype_name(int dtype);
/* 1 when `dtype` is a number ferry knows, 0 otherwise. */
int ferry_dtype_valid(int dtype);

#endif
