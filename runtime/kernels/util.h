/*
 * util.h - small helpers every kernel family uses: float16/bfloat16
 * conversion, strides, broadcasting index maps, and reading/writing any
 * numeric dtype as double or int64 (for generic, non-hot paths).
 */
#ifndef FERRY_KERNEL_UTIL_H
#define FERRY_KERNEL_UTIL_H

#include <stdint.h>

#include "../kernel.h"

float ferry_f16_to_f32(uint16_t h);
uint16_t ferry_f32_to_f16(float f);   /* round to nearest even */
float ferry_bf16_to_f32(uint16_t h);
uint16_t ferry_f32_to_bf16(float f);  /* round to nearest even */

/* Row-major strides (in elements) of dims[0..rank). */
void ferry_strides(int rank, const int64_t *dims, int64_t *strides);

/* Strides of `in` as seen from an output of rank `rank` and dims `odims`
 * under numpy broadcasting: 0 where `in` has size 1 (or lacks the axis). */
void ferry_broadcast_strides(const ferry_tview *in, int rank, const int64_t *odims, int64_t *strides);

/* Offset in elements of output index `i` (row-major over odims) in a
 * tensor with broadcast strides `st`. */
int64_t ferry_broadcast_offset(int64_t i, int rank, const int64_t *odims, const int64_t *st);

/* Element `i` of `data` (dtype `dt`) as double / int64, and stores. */
double ferry_load_f64(const void *data, int dt, int64_t i);
int64_t ferry_load_i64(const void *data, int dt, int64_t i);
void ferry_store_f64(void *data, int dt, int64_t i, double v);
void ferry_store_i64(void *data, int dt, int64_t i, int64_t v);

/* 1 for float16/32/64 and bfloat16. */
int ferry_dtype_is_float(int dt);

#endif
