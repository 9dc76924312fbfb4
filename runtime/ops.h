/*
 * ops.h - the op registry: one row per ONNX op ferry knows.
 *
 * The rows live in runtime/ops.def (an X-macro list, sorted by domain then
 * name); ops.c expands them into one sorted array. A row gives the op's
 * domain, name, the first opset that has it and the last one (0: still
 * there; removed or deprecated ops stop), its shape rule (runtime/shape.h)
 * CPU kernel and flags; later the WGSL generator hangs on the same row, so
 * adding an op is one row plus the file with its code.
 *
 * Ops ferry knows but will not support (training ops) have rows of their
 * own with the reason, so tools can say why instead of "unknown op".
 *
 * libc only: the runtime uses the same table to check shapes at run time.
 */
#ifndef FERRY_OPS_H
#define FERRY_OPS_H

#include "kernel.h"
#include "shape.h"

enum ferry_op_flags {
  FERRY_OPF_CONTROL = 1,  /* has subgraphs: the converter's driver infers it */
  FERRY_OPF_RANDOM = 2,   /* output values are random (shapes are not) */
  FERRY_OPF_SEQUENCE = 4, /* reads or makes sequences or optionals */
  FERRY_OPF_CONTENT = 8,  /* propagates the content of small int tensors */
};

typedef struct ferry_opdef {
  const char *domain;   /* "" for ai.onnx */
  const char *name;
  int since;            /* first opset version with this op */
  int until;            /* last opset version with it, 0 when current */
  ferry_shape_fn shape; /* NULL only for FERRY_OPF_CONTROL ops */
  ferry_kernel_fn kernel; /* CPU kernel (runtime/kernels/), NULL while none */
  unsigned flags;       /* enum ferry_op_flags */
  const char *unsupported; /* NULL, or why ferry does not support the op */
} ferry_opdef;

/* The row for op `name` of `domain` ("" or "ai.onnx" for ONNX's own) valid
 * at `opset`; NULL when ferry has no such op or the opset is outside the
 * op's range. Unsupported ops are found too: check ->unsupported. */
const ferry_opdef *ferry_op_find(const char *domain, const char *name, int opset);

/* The whole table, sorted by domain then name; *n gets the row count. */
const ferry_opdef *ferry_op_table(int *n);

#endif
