/*
 * symdims.h - the symbolic ferry_dimops (runtime/shape.h) over dim.h: what
 * shape rules compute with in the converter. A handle is a ferry_dim
 * pointer, so inferred dims read "batch", "sequence - 1", "64*batch".
 *
 * Products are remembered as their factors, so a division cancels factors
 * exactly: (768*batch*sequence) / (12*batch*sequence) is 64, which
 * Reshape's -1 needs; a division that does not cancel stays a floor
 * division expression. Out of memory (a NULL dim) sets a flag instead of
 * handing rules a 0 handle to test.
 */
#ifndef FERRY_SYMDIMS_H
#define FERRY_SYMDIMS_H

#include "dim.h"
#include "shape.h"

typedef struct ferry_symdims ferry_symdims;

/* A symbolic dimops over `dc` (which keeps owning the dims); NULL on OOM. */
ferry_symdims *ferry_symdims_new(ferry_dimctx *dc);
void ferry_symdims_free(ferry_symdims *s);
/* The table rules call; its ctx is `s`. */
const ferry_dimops *ferry_symdims_ops(const ferry_symdims *s);
/* 1 once a constructor ran out of memory. */
int ferry_symdims_oom(const ferry_symdims *s);

/* Handles <-> dims. */
#define FERRY_SDIM(d) ((ferry_sdim)(intptr_t)(d))
#define FERRY_DIM(h) ((ferry_dim)(intptr_t)(h))

#endif
