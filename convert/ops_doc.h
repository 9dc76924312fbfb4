/*
 * ops_doc.h - docs/ops.md, rendered from the op registry (runtime/ops.h).
 */
#ifndef FERRY_OPS_DOC_H
#define FERRY_OPS_DOC_H

#include <stdio.h>

/* Writes the Markdown table of every registry row to `out`; 0, or
 * FERRY_E_SYSTEM when writing fails. tests/ops_md prints it, check_shapes
 * compares it with the committed docs/ops.md. */
int ferry_ops_markdown(FILE *out);

#endif
