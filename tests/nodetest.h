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

/* What nodetest_run_family saw: n[] counts results by NT_PASS.. */
typedef struct nodetest_tally {
  int n[4];
  int unexpected;  /* did not pass and not in `known` */
  int stale_known; /* in `known` but passed */
} nodetest_tally;

/* Runs every node test under $ONNX_TESTDATA/node whose model is one node
 * with an op in `ops` (n_ops entries). A test that does not pass and is
 * not in `known` (n_known entries, NULL ones ignored) is printed to stderr
 * ("NAME (OP): FAIL: msg") and counted in `unexpected`; a known one that
 * passes is printed and counted in `stale_known`. Prints "FAMILY node
 * tests: P pass, F fail, E error, S skip"; fails the check test when the
 * node directory cannot be opened. The caller asserts on *t. */
void nodetest_run_family(const char *family, const char *const *ops, int n_ops, const char *const *known,
                         int n_known, nodetest_tally *t);

#endif
