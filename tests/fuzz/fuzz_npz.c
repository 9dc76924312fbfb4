/*
 * fuzz_npz.c - libFuzzer target for the .npz reader (validate/npz.c): the
 * zip directory walk, zip64 fields, inflation and the .npy parser behind
 * it; every array read is touched end to end. Seeds are .npz files numpy
 * writes (scripts/fuzz.sh), stored and deflated.
 */
#include <stdint.h>
#include <string.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ferry_vtensor *t;
  int n;
  ferry_err err;
  if (ferry_npz_read_buffer("fuzz.npz", data, size, &t, &n, &err) == 0) {
    volatile uint8_t sink = 0;
    for (int i = 0; i < n; i++) {
      size_t bytes = (size_t)t[i].v.numel * (size_t)(ferry_dtype_size(t[i].v.dtype) > 0 ? ferry_dtype_size(t[i].v.dtype) : 0);
      if (bytes) sink += ((const uint8_t *)t[i].v.data)[bytes - 1];
      sink += (uint8_t)strlen(t[i].name);
    }
    ferry_vtensors_free(t, n);
  }
  return 0;
}
