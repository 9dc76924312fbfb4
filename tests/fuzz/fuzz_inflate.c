/*
 * fuzz_inflate.c - libFuzzer target for the runtime's zlib decoder
 * (runtime/inflate.c), which ferry.wasm runs on compressed bundle sections:
 * the first 4 bytes give the declared size (little-endian, below 1 MiB),
 * the rest is the stream. Seeds are zlib streams of stored, fixed and
 * dynamic blocks written by scripts/fuzz.sh. The output buffer is exactly
 * the declared size, so ASan sees any write past it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  size_t raw = ((size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24) % (1u << 20);
  uint8_t *out = malloc(raw ? raw : 1);
  if (!out) return 0;
  volatile int rc = ferry_inflate(NULL, data + 4, size - 4, out, raw);
  (void)rc;
  free(out);
  return 0;
}
