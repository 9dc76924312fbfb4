/*
 * infer.h - symbolic shape and type inference over the IR.
 *
 * ferry_infer_shapes() walks the main graph in order and, for each node,
 * calls its op's shape rule (runtime/ops.h) through a symbolic ferry_dimops
 * built on dim.h, so inferred dims read "batch", "sequence - 1", "64*batch".
 * Results are written into the output values' types. Small integer tensors
 * computed from shapes (Shape -> Gather -> Concat) keep their content, so
 * Reshape/Expand/Slice/Range targets built from them resolve symbolically.
 * If/Loop/Scan/SequenceMap bodies are inferred recursively with the values
 * of enclosing graphs visible.
 *
 * A type the model declared (graph outputs, value_info) is kept where the
 * inferred one is less precise; a declared integer dim that contradicts an
 * inferred integer is an error naming the node. Nodes of ops without a
 * rule keep whatever was declared for their outputs and are counted.
 */
#ifndef FERRY_INFER_H
#define FERRY_INFER_H

#include "ir.h"

/* A symbol fixed to an integer (`ferry inspect --fix-dim batch=1`). */
typedef struct ferry_dimbinding {
  const char *name;
  int64_t value;
} ferry_dimbinding;

/* What an inference run saw. */
typedef struct ferry_infer_info {
  int nodes;            /* nodes visited, subgraphs included */
  int unknown;          /* nodes whose op has no shape rule */
  char unknown_ops[256];/* their op types, ", " separated (truncated) */
} ferry_infer_info;

/* Replaces every bound symbol in the types of every graph's values with
 * its value. FERRY_E_INPUT when a name is no symbol of the model. */
int ferry_bind_dims(ferry_model *m, const ferry_dimbinding *fix, int n_fix, ferry_err *err);

/* Binds `fix` (may be NULL, n_fix 0) and infers every value's type.
 * Errors read "PATH: node 'name' (Op): what is wrong". */
int ferry_infer_shapes(ferry_model *m, const ferry_dimbinding *fix, int n_fix, ferry_err *err);

/* The same, reporting what it saw in *info (may be NULL). */
int ferry_infer_shapes_info(ferry_model *m, const ferry_dimbinding *fix, int n_fix,
                            ferry_infer_info *info, ferry_err *err);

#endif
