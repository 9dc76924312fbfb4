/* movement.h - kernels of runtime/kernels/movement*.c (see kernels.h). */
#ifndef FERRY_KERNELS_MOVEMENT_H
#define FERRY_KERNELS_MOVEMENT_H

#include "../kernel.h"

#endif
