/* nn.h - kernels of runtime/kernels/nn*.c (see kernels.h). */
#ifndef FERRY_KERNELS_NN_H
#define FERRY_KERNELS_NN_H

#include "../kernel.h"

#endif
