/* elementwise.h - kernels of runtime/kernels/elementwise*.c (see kernels.h). */
#ifndef FERRY_KERNELS_ELEMENTWISE_H
#define FERRY_KERNELS_ELEMENTWISE_H

#include "../kernel.h"

#endif
