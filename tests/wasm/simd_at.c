/*
 * simd_at.c - simd.h's FERRY_VLOAD_AT and FERRY_VSPLAT_AT, compiled for
 * wasm32 (a WASI command, `make tests/wasm/simd_at.wasm`) and run by
 * check_wasm in node: the loads written as wasm text read the bytes at
 * p + off, and a store between two of them is seen by the second (the
 * asm's "m" operand; without it clang merged the two loads across the
 * store). Prints "ok" and exits 0, else says what differs and exits 1.
 */
#include <stdio.h>

#include "kernels/simd.h"

static float buf[16] __attribute__((aligned(16)));

static int fails;

static void expect(const char *what, ferry_v128_ got, float e0, float e1, float e2, float e3) {
  if (got[0] != e0 || got[1] != e1 || got[2] != e2 || got[3] != e3) {
    printf("%s: got %g %g %g %g, expected %g %g %g %g\n", what, got[0], got[1], got[2], got[3], e0, e1, e2, e3);
    fails++;
  }
}

/* Loads at p + 16, stores to p[4], loads p + 16 again. */
__attribute__((noinline)) static void reload(float *p, ferry_v128_ *before, ferry_v128_ *after) {
  *before = FERRY_VLOAD_AT(p, 16);
  p[4] = 42.0f;
  *after = FERRY_VLOAD_AT(p, 16);
}

int main(void) {
  for (int i = 0; i < 16; i++) buf[i] = (float)i;
  float *volatile vp = buf; /* the compiler does not know the values */
  float *p = vp;
  expect("VLOAD_AT(p, 0)", FERRY_VLOAD_AT(p, 0), 0, 1, 2, 3);
  expect("VLOAD_AT(p, 4)", FERRY_VLOAD_AT(p, 4), 1, 2, 3, 4);
  expect("VLOAD_AT(p, 36)", FERRY_VLOAD_AT(p, 36), 9, 10, 11, 12);
  expect("VSPLAT_AT(p, 0)", FERRY_VSPLAT_AT(p, 0), 0, 0, 0, 0);
  expect("VSPLAT_AT(p, 12)", FERRY_VSPLAT_AT(p, 12), 3, 3, 3, 3);
  expect("VSPLAT_AT(p + 2, 20)", FERRY_VSPLAT_AT(p + 2, 20), 7, 7, 7, 7);
  ferry_v128_ before, after;
  reload(p, &before, &after);
  expect("load before the store", before, 4, 5, 6, 7);
  expect("load after the store", after, 42, 5, 6, 7);
  if (fails) return 1;
  printf("ok\n");
  return 0;
}
