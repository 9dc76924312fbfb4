/* sequence.h - kernels of runtime/kernels/sequence*.c (see kernels.h). */
#ifndef FERRY_KERNELS_SEQUENCE_H
#define FERRY_KERNELS_SEQUENCE_H

#include "../kernel.h"

#endif
