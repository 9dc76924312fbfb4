/* linalg.h - kernels of the linear-algebra family (see kernels.h), all on
 * the GEMM of gemm.h:
 *   matmul.c  MatMul, Gemm, FusedGemm (com.microsoft), MatMulInteger,
 *             QLinearMatMul;
 *   einsum.c  Einsum;
 *   conv.c    Conv, FusedConv (com.microsoft), ConvTranspose, ConvInteger,
 *             QLinearConv. */
#ifndef FERRY_KERNELS_LINALG_H
#define FERRY_KERNELS_LINALG_H

#include "../kernel.h"

/* matmul.c */
int ferry_kernel_MatMul(ferry_kctx *k);
int ferry_kernel_Gemm(ferry_kctx *k);
int ferry_kernel_FusedGemm(ferry_kctx *k);
int ferry_kernel_MatMulInteger(ferry_kctx *k);
int ferry_kernel_QLinearMatMul(ferry_kctx *k);

/* einsum.c */
int ferry_kernel_Einsum(ferry_kctx *k);

/* conv.c */
int ferry_kernel_Conv(ferry_kctx *k);
int ferry_kernel_FusedConv(ferry_kctx *k);
int ferry_kernel_ConvTranspose(ferry_kctx *k);
int ferry_kernel_ConvInteger(ferry_kctx *k);
int ferry_kernel_QLinearConv(ferry_kctx *k);

#endif
