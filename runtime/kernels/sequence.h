/*
 * sequence.h - kernels over sequences (see kernels.h): the recurrent ops
 * (rnn.c), control flow over subgraphs (control.c) and signal processing
 * (signal.c). The sequence and optional ops (SequenceAt, Optional, ...)
 * have no kernel: the runtime has no sequence values yet.
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

/* signal.c */
int ferry_kernel_DFT(ferry_kctx *k);
int ferry_kernel_STFT(ferry_kctx *k);
int ferry_kernel_HannWindow(ferry_kctx *k);
int ferry_kernel_HammingWindow(ferry_kctx *k);
int ferry_kernel_BlackmanWindow(ferry_kctx *k);
int ferry_kernel_MelWeightMatrix(ferry_kctx *k);

#endif
