/*
 * rules.h - shape rules of the neural-network, reduction, recurrent and
 * signal ops (the contract every rule follows is in ../shape.h).
 *
 * One function per ONNX op, named ferry_shape_<OpType>. Each reads the
 * node's inputs and attributes from a ferry_shape_ctx, fills the outputs'
 * dtype, rank and dims (and content, where an op is used for shape math)
 * and returns FERRY_OK, or FERRY_E_INPUT with c->err set. Where an input's
 * rank is unknown a rule sets what it can (usually the dtype) and succeeds;
 * where a size depends on data it cannot see it uses a fresh dim.
 *
 * Where they live:
 *   nn.c      convolution, pooling, normalization, resampling, padding and
 *             the other image/layout ops;
 *   reduce.c  reductions, arg/top-k, softmax family, cumulative ops and the
 *             contractions (MatMul, Gemm, Einsum, Det);
 *   rnn.c     recurrent ops (LSTM, GRU, RNN) and signal ops (DFT, STFT,
 *             window functions, MelWeightMatrix).
 */
#ifndef FERRY_OPS_RULES_H
#define FERRY_OPS_RULES_H

#include <stddef.h>

#include "../shape.h"

/* ---- helpers the three rule files share (defined in nn.c) ---- */

/* 1 when the node has input i and it is present. */
int ferry_rule_has(const ferry_shape_ctx *c, int i);
/* FERRY_OK when inputs 0..n-1 are present and there is an output;
 * otherwise fails with "expects N inputs, got M" or "input I is missing". */
int ferry_rule_need(ferry_shape_ctx *c, int n);
/* ferry_const_ints for input i, but -1 (unknown) when it has neither
 * content nor data, unless its dims say it is empty (then 0). */
int ferry_rule_const_ints(ferry_shape_ctx *c, int i, int64_t *v, int cap);
/* in[i]'s value as dim handles: its tracked content (possibly symbolic) or,
 * failing that, its constant integer data (ferry_rule_const_ints). Returns
 * the count, or -1 when the input is absent, unknown or longer than cap. */
int ferry_rule_content_dims(ferry_shape_ctx *c, int i, ferry_sdim *v, int cap);
/* 1 when a and b are both known integers and differ. */
int ferry_rule_conflict(const ferry_shape_ctx *c, ferry_sdim a, ferry_sdim b);
/* The string attribute `name` in buf (NUL-terminated; "" when absent or a
 * non-string). Returns 0, or -1 when it did not fit. */
int ferry_rule_attr_str(ferry_shape_ctx *c, const char *name, char *buf, size_t n);
/* Sets *o to x's dtype, rank and dims (no content). */
void ferry_rule_copy_shape(ferry_sval *o, const ferry_sval *x);

/* ---- nn.c: convolution (X, W[, B]; out [N, M, spatial...]) ---- */
int ferry_shape_Conv(ferry_shape_ctx *c);
int ferry_shape_ConvInteger(ferry_shape_ctx *c);   /* int32 output */
int ferry_shape_QLinearConv(ferry_shape_ctx *c);   /* W is in[3]; dtype of y_zero_point */
int ferry_shape_ConvTranspose(ferry_shape_ctx *c); /* output_shape, output_padding */

/* ---- nn.c: pooling ---- */
int ferry_shape_MaxPool(ferry_shape_ctx *c); /* optional int64 Indices output */
int ferry_shape_AveragePool(ferry_shape_ctx *c);
int ferry_shape_LpPool(ferry_shape_ctx *c);
int ferry_shape_GlobalAveragePool(ferry_shape_ctx *c); /* [N, C, 1, ...] */
int ferry_shape_GlobalMaxPool(ferry_shape_ctx *c);
int ferry_shape_GlobalLpPool(ferry_shape_ctx *c);
int ferry_shape_MaxRoiPool(ferry_shape_ctx *c); /* [num_rois, C, pooled_shape] */
int ferry_shape_RoiAlign(ferry_shape_ctx *c);   /* [num_rois, C, h, w] */
int ferry_shape_MaxUnpool(ferry_shape_ctx *c);

/* ---- nn.c: normalization (output 0 has X's shape) ---- */
int ferry_shape_BatchNormalization(ferry_shape_ctx *c); /* + running/saved stats [C] */
int ferry_shape_InstanceNormalization(ferry_shape_ctx *c);
int ferry_shape_LayerNormalization(ferry_shape_ctx *c); /* + Mean, InvStdDev */
int ferry_shape_GroupNormalization(ferry_shape_ctx *c);
int ferry_shape_LpNormalization(ferry_shape_ctx *c);
int ferry_shape_MeanVarianceNormalization(ferry_shape_ctx *c);
int ferry_shape_LRN(ferry_shape_ctx *c);

/* ---- nn.c: resampling, padding, layout ---- */
int ferry_shape_Resize(ferry_shape_ctx *c); /* scales (float data) or sizes */
int ferry_shape_Upsample(ferry_shape_ctx *c);
int ferry_shape_Pad(ferry_shape_ctx *c); /* pads attribute < 11, input >= 11 */
int ferry_shape_CenterCropPad(ferry_shape_ctx *c);
int ferry_shape_Col2Im(ferry_shape_ctx *c);
int ferry_shape_GridSample(ferry_shape_ctx *c);
int ferry_shape_DepthToSpace(ferry_shape_ctx *c);
int ferry_shape_SpaceToDepth(ferry_shape_ctx *c);
int ferry_shape_Dropout(ferry_shape_ctx *c);           /* optional mask output */
int ferry_shape_NonMaxSuppression(ferry_shape_ctx *c); /* [fresh, 3] int64 */

/* ---- reduce.c: reductions (axes attribute or input by opset) ---- */
int ferry_shape_ReduceSum(ferry_shape_ctx *c); /* content when reducing all */
int ferry_shape_ReduceMean(ferry_shape_ctx *c);
int ferry_shape_ReduceMax(ferry_shape_ctx *c);  /* content when reducing all */
int ferry_shape_ReduceMin(ferry_shape_ctx *c);  /* content when reducing all */
int ferry_shape_ReduceProd(ferry_shape_ctx *c); /* content when reducing all */
int ferry_shape_ReduceL1(ferry_shape_ctx *c);
int ferry_shape_ReduceL2(ferry_shape_ctx *c);
int ferry_shape_ReduceLogSum(ferry_shape_ctx *c);
int ferry_shape_ReduceLogSumExp(ferry_shape_ctx *c);
int ferry_shape_ReduceSumSquare(ferry_shape_ctx *c);
int ferry_shape_ArgMax(ferry_shape_ctx *c); /* int64 */
int ferry_shape_ArgMin(ferry_shape_ctx *c); /* int64 */
int ferry_shape_TopK(ferry_shape_ctx *c);   /* Values, int64 Indices */

/* ---- reduce.c: same-shape ops along an axis ---- */
int ferry_shape_Softmax(ferry_shape_ctx *c);
int ferry_shape_LogSoftmax(ferry_shape_ctx *c);
int ferry_shape_Hardmax(ferry_shape_ctx *c);
int ferry_shape_CumSum(ferry_shape_ctx *c);

/* ---- reduce.c: contractions ---- */
int ferry_shape_MatMul(ferry_shape_ctx *c);        /* numpy matmul, batched */
int ferry_shape_MatMulInteger(ferry_shape_ctx *c); /* int32 output */
int ferry_shape_Attention(ferry_shape_ctx *c);     /* ferry.Attention: Q@K then @V */
int ferry_shape_QLinearMatMul(ferry_shape_ctx *c); /* B is in[3]; dtype of y_zero_point */
int ferry_shape_Gemm(ferry_shape_ctx *c);          /* transA, transB */
int ferry_shape_Einsum(ferry_shape_ctx *c);        /* explicit/implicit, ellipsis */
int ferry_shape_Det(ferry_shape_ctx *c);           /* [*, M, M] -> [*] */

/* ---- rnn.c: recurrent ops (layout attribute; Y, Y_h[, Y_c]) ---- */
int ferry_shape_LSTM(ferry_shape_ctx *c);
int ferry_shape_GRU(ferry_shape_ctx *c);
int ferry_shape_RNN(ferry_shape_ctx *c);

/* ---- rnn.c: signal ops ---- */
int ferry_shape_DFT(ferry_shape_ctx *c); /* axis attribute < 20, input >= 20 */
int ferry_shape_STFT(ferry_shape_ctx *c);
int ferry_shape_BlackmanWindow(ferry_shape_ctx *c); /* [size], output_datatype */
int ferry_shape_HannWindow(ferry_shape_ctx *c);
int ferry_shape_HammingWindow(ferry_shape_ctx *c);
int ferry_shape_MelWeightMatrix(ferry_shape_ctx *c); /* [dft_length/2 + 1, num_mel_bins] */

#endif
