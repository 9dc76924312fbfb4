/*
 * fuzz_onnx.c - libFuzzer target for the ONNX importer and the inspect
 * report. Built and run by scripts/fuzz.sh under ASan + UBSan.
 */
#include <stdint.h>
#include <stdio.h>

#include "inspect.h"
#include "ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ferry_err err;
  /* no path: external data is refused, so the fuzzer never touches files */
  ferry_model *m = ferry_onnx_load_buffer(data, size, NULL, &err);
  if (m) {
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    ferry_inspect_model(devnull, m, 0);
    ferry_inspect_model(devnull, m, FERRY_INSPECT_JSON);
    ferry_model_free(m);
  }
  return 0;
}
