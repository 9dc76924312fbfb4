/*
 * core.h - shape rules of ONNX's non-NN ops (the NN, reduction and RNN
 * family is in rules.h). Each rule is named for the op, or for the family
 * of ops that share it, and is referenced by their rows in runtime/ops.def.
 *
 *   elementwise.c  unary, binary and variadic ops with broadcasting,
 *                  comparisons and logic, Where, Clip, Cast; they carry
 *                  the content of small integer tensors (shape math)
 *   tensor.c       data movement: Shape, Gather, Concat, Reshape, Slice...
 *   misc.c         quantization, sequences, optionals, strings, random
 *                  number ops, losses
 */
#ifndef FERRY_OPS_CORE_H
#define FERRY_OPS_CORE_H

#include "../shape.h"

/* ---- elementwise.c ---- */
int ferry_shape_unary(ferry_shape_ctx *c);      /* same dtype and shape */
int ferry_shape_unary_bool(ferry_shape_ctx *c); /* same shape, bool: IsNaN, IsInf */
int ferry_shape_integral(ferry_shape_ctx *c);   /* Ceil, Floor, Round: content too */
int ferry_shape_Relu(ferry_shape_ctx *c);
int ferry_shape_Not(ferry_shape_ctx *c);
int ferry_shape_Neg(ferry_shape_ctx *c);
int ferry_shape_Abs(ferry_shape_ctx *c);
int ferry_shape_binary(ferry_shape_ctx *c);     /* broadcast, dtype of input 0 */
int ferry_shape_Add(ferry_shape_ctx *c);
int ferry_shape_Sub(ferry_shape_ctx *c);
int ferry_shape_Mul(ferry_shape_ctx *c);
int ferry_shape_Div(ferry_shape_ctx *c);
int ferry_shape_Mod(ferry_shape_ctx *c);
int ferry_shape_Max(ferry_shape_ctx *c);        /* variadic */
int ferry_shape_Min(ferry_shape_ctx *c);
int ferry_shape_Sum(ferry_shape_ctx *c);
int ferry_shape_variadic(ferry_shape_ctx *c);   /* Mean */
int ferry_shape_Equal(ferry_shape_ctx *c);
int ferry_shape_Less(ferry_shape_ctx *c);
int ferry_shape_LessOrEqual(ferry_shape_ctx *c);
int ferry_shape_Greater(ferry_shape_ctx *c);
int ferry_shape_GreaterOrEqual(ferry_shape_ctx *c);
int ferry_shape_And(ferry_shape_ctx *c);
int ferry_shape_Or(ferry_shape_ctx *c);
int ferry_shape_Xor(ferry_shape_ctx *c);
int ferry_shape_PRelu(ferry_shape_ctx *c);
int ferry_shape_Where(ferry_shape_ctx *c);
int ferry_shape_Clip(ferry_shape_ctx *c);
int ferry_shape_Cast(ferry_shape_ctx *c);
int ferry_shape_CastLike(ferry_shape_ctx *c);
int ferry_shape_Identity(ferry_shape_ctx *c);

/* ---- tensor.c ---- */
int ferry_shape_Constant(ferry_shape_ctx *c);
int ferry_shape_ConstantOfShape(ferry_shape_ctx *c);
int ferry_shape_Shape(ferry_shape_ctx *c);
int ferry_shape_Size(ferry_shape_ctx *c);
int ferry_shape_Gather(ferry_shape_ctx *c);
int ferry_shape_GatherElements(ferry_shape_ctx *c);
int ferry_shape_GatherND(ferry_shape_ctx *c);
int ferry_shape_scatter(ferry_shape_ctx *c); /* Scatter, ScatterElements, ScatterND */
int ferry_shape_Unsqueeze(ferry_shape_ctx *c);
int ferry_shape_Squeeze(ferry_shape_ctx *c);
int ferry_shape_Concat(ferry_shape_ctx *c);
int ferry_shape_Split(ferry_shape_ctx *c);
int ferry_shape_Reshape(ferry_shape_ctx *c);
int ferry_shape_Expand(ferry_shape_ctx *c);
int ferry_shape_Flatten(ferry_shape_ctx *c);
int ferry_shape_Transpose(ferry_shape_ctx *c);
int ferry_shape_Slice(ferry_shape_ctx *c);
int ferry_shape_Range(ferry_shape_ctx *c);
int ferry_shape_Tile(ferry_shape_ctx *c);
int ferry_shape_OneHot(ferry_shape_ctx *c);
int ferry_shape_Compress(ferry_shape_ctx *c);
int ferry_shape_NonZero(ferry_shape_ctx *c);
int ferry_shape_Unique(ferry_shape_ctx *c);
int ferry_shape_EyeLike(ferry_shape_ctx *c);

/* ---- misc.c ---- */
int ferry_shape_QuantizeLinear(ferry_shape_ctx *c);
int ferry_shape_DequantizeLinear(ferry_shape_ctx *c);
int ferry_shape_DynamicQuantizeLinear(ferry_shape_ctx *c);
int ferry_shape_SequenceEmpty(ferry_shape_ctx *c);
int ferry_shape_SequenceConstruct(ferry_shape_ctx *c);
int ferry_shape_SequenceInsert(ferry_shape_ctx *c);
int ferry_shape_SequenceErase(ferry_shape_ctx *c);
int ferry_shape_SequenceAt(ferry_shape_ctx *c);
int ferry_shape_SequenceLength(ferry_shape_ctx *c);
int ferry_shape_SplitToSequence(ferry_shape_ctx *c);
int ferry_shape_ConcatFromSequence(ferry_shape_ctx *c);
int ferry_shape_Optional(ferry_shape_ctx *c);
int ferry_shape_OptionalHasElement(ferry_shape_ctx *c);
int ferry_shape_OptionalGetElement(ferry_shape_ctx *c);
int ferry_shape_StringNormalizer(ferry_shape_ctx *c);
int ferry_shape_TfIdfVectorizer(ferry_shape_ctx *c);
int ferry_shape_random(ferry_shape_ctx *c);      /* RandomUniform, RandomNormal */
int ferry_shape_random_like(ferry_shape_ctx *c); /* *Like, Bernoulli */
int ferry_shape_Multinomial(ferry_shape_ctx *c);
int ferry_shape_NegativeLogLikelihoodLoss(ferry_shape_ctx *c);
int ferry_shape_SoftmaxCrossEntropyLoss(ferry_shape_ctx *c);

#endif
