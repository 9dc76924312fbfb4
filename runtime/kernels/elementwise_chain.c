/*
 * elementwise_chain.c - see elementwise.h: a fused chain of float32
 * element-wise steps evaluated a block at a time.
 *
 * Each block of up to BLOCK elements runs the whole program: step k
 * writes its result into acc (L1-resident), reading acc, an input's
 * block or its constant; the last step writes the output. Every
 * step is the float expression of the op's own kernel (elementwise_binary.c
 * for + - * /, elementwise_unary.c for the activations, the vector math of
 * elementwise_vmath.c for Sigmoid and Tanh), so fused and unfused runs
 * give the same bits.
 */
#include <string.h>

#include "elementwise.h"

#define BLOCK 256

/* The operand's elements for this block: acc or the input's block (NULL
 * for the constant). */
static const float *operand(int src, const float *const *in, int64_t i0, const float *acc) {
  return src == FERRY_CH_ACC ? acc : src >= 0 ? in[src] + i0 : NULL;
}

FERRY_VINLINE f32x4 bop4(int code, f32x4 x, f32x4 z) {
  return code == FERRY_CH_ADD ? x + z : code == FERRY_CH_SUB ? x - z : code == FERRY_CH_MUL ? x * z : x / z;
}
FERRY_VINLINE float bop1(int code, float x, float z) {
  return code == FERRY_CH_ADD ? x + z : code == FERRY_CH_SUB ? x - z : code == FERRY_CH_MUL ? x * z : x / z;
}

/* y = a op b; a NULL operand is the constant c. CODE is a constant where
 * inlined, so the op's choice folds away. */
FERRY_VINLINE void binary_code(const int CODE, const float *a, const float *b, float c, float *y, int64_t n) {
  const f32x4 vc = f32x4_splat(c);
  int64_t i = 0;
  if (!a)
    for (; i + 4 <= n; i += 4) f32x4_store(y + i, bop4(CODE, vc, f32x4_load(b + i)));
  else if (!b)
    for (; i + 4 <= n; i += 4) f32x4_store(y + i, bop4(CODE, f32x4_load(a + i), vc));
  else
    for (; i + 4 <= n; i += 4) f32x4_store(y + i, bop4(CODE, f32x4_load(a + i), f32x4_load(b + i)));
  for (; i < n; i++) y[i] = bop1(CODE, a ? a[i] : c, b ? b[i] : c);
}

static void binary(int code, const float *a, const float *b, float c, float *y, int64_t n) {
  switch (code) {
  case FERRY_CH_ADD: return binary_code(FERRY_CH_ADD, a, b, c, y, n);
  case FERRY_CH_SUB: return binary_code(FERRY_CH_SUB, a, b, c, y, n);
  case FERRY_CH_MUL: return binary_code(FERRY_CH_MUL, a, b, c, y, n);
  default: return binary_code(FERRY_CH_DIV, a, b, c, y, n);
  }
}

/* The piecewise-linear activations, as elementwise_unary.c writes them;
 * CODE is a constant where inlined (no switch per vector). */
FERRY_VINLINE void activation_code(const int CODE, const ferry_chain_op *o, const float *x, float *y, int64_t n) {
  const f32x4 zero = f32x4_splat(0), va = f32x4_splat(o->alpha), vb = f32x4_splat(o->beta);
  const f32x4 sixth = f32x4_splat(1.0f / 6.0f), half = f32x4_splat(0.5f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    f32x4 v = f32x4_load(x + i), r;
    switch (CODE) {
    case FERRY_CH_RELU: r = FERRY_VPMAX(v, zero); break; /* v < 0 ? 0 : v */
    case FERRY_CH_LEAKYRELU: r = vsel4((i32x4)(v < zero), v * va, v); break;
    case FERRY_CH_HARDSIGMOID: r = vclamp01(v * va + vb); break;
    default: r = v * vclamp01(v * sixth + half); break; /* HardSwish */
    }
    f32x4_store(y + i, r);
  }
  for (; i < n; i++) {
    float v = x[i];
    switch (CODE) {
    case FERRY_CH_RELU: y[i] = v < 0 ? 0.0f : v; break;
    case FERRY_CH_LEAKYRELU: y[i] = v < 0 ? o->alpha * v : v; break;
    case FERRY_CH_HARDSIGMOID: y[i] = CLAMP01(o->alpha * v + o->beta); break;
    default: y[i] = v * CLAMP01(v * (1.0f / 6.0f) + 0.5f); break;
    }
  }
}

static void activation(const ferry_chain_op *o, const float *x, float *y, int64_t n) {
  switch (o->code) {
  case FERRY_CH_RELU: return activation_code(FERRY_CH_RELU, o, x, y, n);
  case FERRY_CH_LEAKYRELU: return activation_code(FERRY_CH_LEAKYRELU, o, x, y, n);
  case FERRY_CH_HARDSIGMOID: return activation_code(FERRY_CH_HARDSIGMOID, o, x, y, n);
  default: return activation_code(FERRY_CH_HARDSWISH, o, x, y, n);
  }
}

/* ---- pairs of steps in one pass ----
 * Two steps whose second only combines the first's result with a constant
 * (an affine pair: PaddleOCR det's Mul(s) then Add(b)), or a HardSigmoid
 * and the Mul of its own input by it (a gate: x * HardSigmoid(x)), run in
 * one pass over the block instead of two: the same float operations in the
 * same order, so the same bits. */

static int is_binary(int code) { return code <= FERRY_CH_DIV; }

/* A binary step of its source and its constant, the constant second
 * where the order matters (- and /). */
static int with_const(const ferry_chain_op *o) {
  if (!is_binary(o->code) || (o->a == FERRY_CH_CONST) == (o->b == FERRY_CH_CONST)) return 0;
  return o->b == FERRY_CH_CONST || o->code == FERRY_CH_ADD || o->code == FERRY_CH_MUL;
}

static int src_of(const ferry_chain_op *o) { return o->a == FERRY_CH_CONST ? o->b : o->a; }

/* 1: an affine pair, 2: a gate, 0: neither. */
static int pair_kind(const ferry_chain_op *o, const ferry_chain_op *n) {
  if (with_const(o) && with_const(n) && src_of(n) == FERRY_CH_ACC) return 1;
  if (o->code == FERRY_CH_HARDSIGMOID && o->a >= 0 && n->code == FERRY_CH_MUL && /* x an input: ACC is then HardSigmoid's */
      ((n->a == o->a && n->b == FERRY_CH_ACC) || (n->b == o->a && n->a == FERRY_CH_ACC)))
    return 2;
  return 0;
}

FERRY_VINLINE void affine_code(const int C1, const int C2, const float *x, float c1, float c2, float *y, int64_t n) {
  const f32x4 v1 = f32x4_splat(c1), v2 = f32x4_splat(c2);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(y + i, bop4(C2, bop4(C1, f32x4_load(x + i), v1), v2));
  for (; i < n; i++) y[i] = bop1(C2, bop1(C1, x[i], c1), c2);
}

#define AFFINE_C2(C1)                                                   \
  switch (n->code) {                                                    \
  case FERRY_CH_ADD: return affine_code(C1, FERRY_CH_ADD, x, o->c, n->c, y, m); \
  case FERRY_CH_SUB: return affine_code(C1, FERRY_CH_SUB, x, o->c, n->c, y, m); \
  case FERRY_CH_MUL: return affine_code(C1, FERRY_CH_MUL, x, o->c, n->c, y, m); \
  default: return affine_code(C1, FERRY_CH_DIV, x, o->c, n->c, y, m);           \
  }

static void affine(const ferry_chain_op *o, const ferry_chain_op *n, const float *x, float *y, int64_t m) {
  switch (o->code) {
  case FERRY_CH_ADD: AFFINE_C2(FERRY_CH_ADD)
  case FERRY_CH_SUB: AFFINE_C2(FERRY_CH_SUB)
  case FERRY_CH_MUL: AFFINE_C2(FERRY_CH_MUL)
  default: AFFINE_C2(FERRY_CH_DIV)
  }
}
#undef AFFINE_C2

static void gate(const ferry_chain_op *o, const float *x, float *y, int64_t n) {
  const f32x4 va = f32x4_splat(o->alpha), vb = f32x4_splat(o->beta);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    f32x4 v = f32x4_load(x + i);
    f32x4_store(y + i, v * vclamp01(v * va + vb));
  }
  for (; i < n; i++) y[i] = x[i] * CLAMP01(o->alpha * x[i] + o->beta);
}

/* One step over a block: its result to y (acc, or the output for the last). */
static void step(const ferry_chain_op *o, const float *const *in, int64_t i0, const float *acc, float *y, int64_t n) {
  const float *a = operand(o->a, in, i0, acc);
  switch (o->code) {
  case FERRY_CH_ADD:
  case FERRY_CH_SUB:
  case FERRY_CH_MUL:
  case FERRY_CH_DIV: binary(o->code, a, operand(o->b, in, i0, acc), o->c, y, n); return;
  case FERRY_CH_SIGMOID: ferry_vsigmoid_f32(a, y, n); return;
  case FERRY_CH_TANH: ferry_vtanh_f32(a, y, n); return;
  default: activation(o, a, y, n); return;
  }
}

/* The last step writes the output block itself (no copy out of acc); the
 * output may be an input (kctx post maps in place): every step reads an
 * element before it writes it. */
void ferry_chain_eval(const ferry_chain_op *ops, int n_ops, const float *const *in, int64_t i0, int64_t n,
                      float *out) {
  float acc[BLOCK] __attribute__((aligned(64)));
  for (int64_t b = 0; b < n; b += BLOCK) {
    int64_t m = n - b < BLOCK ? n - b : BLOCK;
    for (int k = 0; k < n_ops;) {
      int pk = k + 1 < n_ops ? pair_kind(&ops[k], &ops[k + 1]) : 0, next = k + 1 + (pk != 0);
      float *y = next < n_ops ? acc : out + i0 + b;
      if (pk == 1)
        affine(&ops[k], &ops[k + 1], operand(src_of(&ops[k]), in, i0 + b, acc), y, m);
      else if (pk == 2)
        gate(&ops[k], operand(ops[k].a, in, i0 + b, acc), y, m);
      else
        step(&ops[k], in, i0 + b, acc, y, m);
      k = next;
    }
  }
}
