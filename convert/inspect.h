/*
 * inspect.h - a report on an imported model: what `ferry inspect` prints.
 * With FERRY_INSPECT_SHAPES it also lists every value's type as the IR
 * holds it (after shape inference: convert/infer.h).
 */
#ifndef FERRY_INSPECT_H
#define FERRY_INSPECT_H

#include <stdio.h>

#include "ir.h"

enum ferry_inspect_flags {
  FERRY_INSPECT_JSON = 1,   /* one JSON object instead of the text report */
  FERRY_INSPECT_SHAPES = 2, /* add every value's dtype and shape (run
                               ferry_infer_shapes first), subgraphs too */
};

/* Writes the report on `m` to `out`. Returns 0, or FERRY_E_SYSTEM when
 * writing fails. */
int ferry_inspect_model(FILE *out, const ferry_model *m, unsigned flags);

#endif
