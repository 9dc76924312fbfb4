/*
 * nodetest.h - runs one ONNX node test (a single-node model under
 * $ONNX_TESTDATA/node/NAME) through its op's registry kernel, without an
 * executor: inputs from test_data_set_N/input_K.pb, outputs shaped like
 * the reference outputs (kfake.h), compared as ONNX's runner does
 * (rtol 1e-3, atol 1e-7, NaN equals NaN, dtype and shape checked).
 * Kernel unit tests use it to check kernels against ONNX's own data.
 */
#ifndef FERRY_NODETEST_H
#define FERRY_NODETEST_H

#include <stddef.h>

enum nodetest_result {
  NT_PASS = 0,
  NT_FAIL = 1,    /* ran, outputs differ (msg says where) */
  NT_SKIP = 2,    /* not a single-node test, or the op has no kernel yet */
  NT_ERROR = 3,   /* the kernel returned an error (msg) */
};

/* Runs node test `name` ("test_softmax_axis_0"); msg gets one line. */
int nodetest_run(const char *name, char *msg, size_t n);

#endif
