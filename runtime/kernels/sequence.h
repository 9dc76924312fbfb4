/*
 * sequence.h - kernels over sequences (see kernels.h): the recurrent ops
 * (rnn.c), control flow over subgraphs (control.c) and signal processing
 * (signal.c), and the kernels of the sequence and optional ops
 * (sequence.c: SequenceAt, Optional, ...; values of those kinds are
 * ferry_tviews with items, kernel.h).
 */
#ifndef FERRY_KERNELS_SEQUENCE_H
#define FERRY_KERNELS_SEQUENCE_H

#include "../kernel.h"

/* rnn.c */
int ferry_kernel_LSTM(ferry_kctx *k);
int ferry_kernel_GRU(ferry_kctx *k);
int ferry_kernel_RNN(ferry_kctx *k);

/* control.c */
int ferry_kernel_If(ferry_kctx *k);
int ferry_kernel_Loop(ferry_kctx *k);
int ferry_kernel_Scan(ferry_kctx *k);

/* sequence.c */
int ferry_kernel_SequenceEmpty(ferry_kctx *k);
int ferry_kernel_SequenceConstruct(ferry_kctx *k);
int ferry_kernel_SequenceInsert(ferry_kctx *k);
int ferry_kernel_SequenceAt(ferry_kctx *k);
int ferry_kernel_SequenceErase(ferry_kctx *k);
int ferry_kernel_SequenceLength(ferry_kctx *k);
int ferry_kernel_SplitToSequence(ferry_kctx *k);
int ferry_kernel_ConcatFromSequence(ferry_kctx *k);
int ferry_kernel_SequenceMap(ferry_kctx *k);
int ferry_kernel_Optional(ferry_kctx *k);
int ferry_kernel_OptionalHasElement(ferry_kctx *k);
int ferry_kernel_OptionalGetElement(ferry_kctx *k);

/* signal.c */
int ferry_kernel_DFT(ferry_kctx *k);
int ferry_kernel_STFT(ferry_kctx *k);
int ferry_kernel_HannWindow(ferry_kctx *k);
int ferry_kernel_HammingWindow(ferry_kctx *k);
int ferry_kernel_BlackmanWindow(ferry_kctx *k);
int ferry_kernel_MelWeightMatrix(ferry_kctx *k);

#endif
