/*
 * fuzz_onnx.c - libFuzzer target for everything a hostile ONNX file
 * reaches in the converter: import, symbolic shape inference (every shape
 * rule), the optimizer's passes and the inspect report. Built and run by
 * scripts/fuzz.sh under ASan + UBSan.
 */
#include <stdint.h>
#include <stdio.h>

#include "infer.h"
#include "inspect.h"
#include "ir.h"
#include "passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ferry_err err;
  /* no path: external data is refused, so the fuzzer never touches files */
  ferry_model *m = ferry_onnx_load_buffer(data, size, NULL, &err);
  if (!m) return 0;
  static FILE *devnull;
  if (!devnull) devnull = fopen("/dev/null", "w");
  ferry_inspect_model(devnull, m, FERRY_INSPECT_JSON);
  if (ferry_infer_shapes(m, NULL, 0, &err) == 0) {
    ferry_inspect_model(devnull, m, FERRY_INSPECT_SHAPES);
    ferry_optimize(m, NULL, 0, NULL, &err);
  }
  ferry_model_free(m);
  return 0;
}
