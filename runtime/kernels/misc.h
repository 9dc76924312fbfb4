/*
 * misc.h - kernels of runtime/kernels/{loss,text,attention}.c (see
 * kernels.h):
 *   loss.c       NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss;
 *   text.c       TfIdfVectorizer (integer pools; string pools are out of
 *                scope and give an error);
 *   attention.c  ferry.Attention, the op convert/pass_fuse_nlp.c's
 *                fuse-attention makes: Softmax(Q @ K * scale [+ mask]) @ V.
 */
#ifndef FERRY_KERNELS_MISC_H
#define FERRY_KERNELS_MISC_H

#include "../kernel.h"

/* loss.c */
int ferry_kernel_NegativeLogLikelihoodLoss(ferry_kctx *k);
int ferry_kernel_SoftmaxCrossEntropyLoss(ferry_kctx *k);

/* text.c */
int ferry_kernel_TfIdfVectorizer(ferry_kctx *k);

/* attention.c (domain "ferry") */
int ferry_kernel_Attention(ferry_kctx *k);

#endif
