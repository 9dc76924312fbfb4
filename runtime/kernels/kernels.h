/*
 * kernels.h - every CPU kernel, named ferry_kernel_<Op> (or a family name
 * for kernels several ops share), as runtime/ops.def references them. One
 * include per kernel file keeps the files independent.
 */
#ifndef FERRY_KERNELS_H
#define FERRY_KERNELS_H

#include "../kernel.h"

#include "elementwise.h"
#include "movement.h"
#include "nn.h"
#include "sequence.h"
#include "linalg.h"
#include "misc.h"

#endif
