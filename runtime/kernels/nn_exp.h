/*
 * nn_exp.h - softmax's row max and exp sum for nn_util.c, written once and
 * included once per instruction set (like conv_dw.h): the generic build
 * (f32x4: SSE natively, SIMD128 in wasm) and, on x86-64, again inside
 * `target("avx2,fma")` functions with f32x8 (twice the lanes, and the
 * polynomial's multiply-adds fused).
 *
 * nn_util.c defines before including:
 *   NX_V, NX_I, NX_U, NX_VL  float, int32 and uint32 vectors and their lanes
 *   NX_ATTR                  attributes of every function here
 *   NX_FN(name)              the function's name for this variant
 */

/* exp on NX_VL lanes: x = n ln2 + r, exp(r) by Cephes' polynomial, 2^n
 * from the exponent bits. Written for a short dependency chain: with ~30
 * vector operations a vector of lanes, the out-of-order window holds
 * about two vectors' worth, so the chain's latency, not the operation
 * count, sets the pace (the form with compare-selects and Horner's scheme
 * took a third longer in V8, a sixth natively):
 *   - x is clamped from below at -88 by FERRY_VPMAX (one instruction in
 *     wasm; a NaN lane passes through). At -88, n is -127 and the
 *     exponent bits 2^n are 0, so every x below about -87.7 gives exactly
 *     0 with no select after. There is no clamp above: the callers shift
 *     by the row's max, so x <= 0 (x up to 88 is exact; past 88.7 the
 *     exponent bits overflow). The clamp at 88 that it had cost 7% of the
 *     exps in V8 (one more step on the chain, one more constant);
 *   - n = round(x log2 e) (FERRY_VROUND_MUL), r = x - n ln2 with ln2 in two
 *     parts, the second product off the chain;
 *   - the polynomial by Estrin's scheme: three multiply-adds deep where
 *     Horner's is five;
 *   - 2^n: n + 1.5 * 2^23 + 127 puts n + 127 in the low bits of the
 *     float, and a shift by 23 moves them, alone, into the exponent. */
NX_ATTR static inline __attribute__((always_inline)) NX_V NX_FN(vexp)(NX_V x) {
  x = FERRY_VPMAX(x, (NX_V){0} - 88.0f);
  NX_V n = FERRY_VROUND_MUL(x, 1.44269504088896341f);
  NX_V r = FERRY_VMADD(n, (NX_V){0} - 0.693359375f, x) + n * 2.12194440e-4f;
  NX_V r2 = r * r;
  NX_V a = FERRY_VMADD(r, (NX_V){0} + 1.6666665459e-1f, (NX_V){0} + 5.0000001201e-1f);
  NX_V b = FERRY_VMADD(r, (NX_V){0} + 8.3334519073e-3f, (NX_V){0} + 4.1665795894e-2f);
  NX_V c = FERRY_VMADD(r, (NX_V){0} + 1.9875691500e-4f, (NX_V){0} + 1.3981999507e-3f);
  NX_V p = FERRY_VMADD(r2, FERRY_VMADD(r2, c, b), a);
  p = FERRY_VMADD(p, r2, r + 1.0f);
  NX_V t = n + (12582912.0f + 127.0f);
  NX_U e; /* unsigned: the shift drops the high bits, no signed overflow */
  memcpy(&e, &t, sizeof e);
  e <<= 23;
  NX_V scale;
  memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

/* Independent vectors per step: exp_sum's exps in flight, half of
 * row_max's running maxima. Four f32x4 (V8, which schedules little
 * itself: BERT-tiny 3.5% faster in ferry-relaxed.wasm than one exp at a
 * time); one f32x8 (AVX2: two or four measured level or slower). */
#define NX_CHAINS (NX_VL == 4 ? 4 : 1)

/* y[i] = exp(x[i] - shift) (y may be NULL or x); returns their sum.
 * x[i] - shift at most 88 (shift is the max of x). */
NX_ATTR static float NX_FN(exp_sum)(float *y, const float *x, int64_t n, float shift) {
  NX_V acc = {0}, s = (NX_V){0} + shift, part[NX_CHAINS];
  int64_t i = 0;
  for (int c = 0; c < NX_CHAINS; c++) part[c] = acc;
  for (; i + NX_CHAINS * NX_VL <= n; i += NX_CHAINS * NX_VL) /* NX_CHAINS exps in flight */
    FERRY_UNROLL_FULL for (int c = 0; c < NX_CHAINS; c++) {
      NX_V v;
      memcpy(&v, x + i + c * NX_VL, sizeof v);
      NX_V e = NX_FN(vexp)(v - s);
      if (y) memcpy(y + i + c * NX_VL, &e, sizeof e);
      part[c] += e;
    }
  for (int c = 0; c < NX_CHAINS; c++) acc += part[c];
  for (; i + NX_VL <= n; i += NX_VL) {
    NX_V v;
    memcpy(&v, x + i, sizeof v);
    NX_V e = NX_FN(vexp)(v - s);
    if (y) memcpy(y + i, &e, sizeof e);
    acc += e;
  }
  float sum = 0;
  for (int l = 0; l < NX_VL; l++) sum += acc[l];
  if (i < n) { /* the tail through one padded vector, so every lane agrees */
    float buf[NX_VL];
    for (int l = 0; l < NX_VL; l++) buf[l] = i + l < n ? x[i + l] : shift;
    NX_V v;
    memcpy(&v, buf, sizeof v);
    NX_V e = NX_FN(vexp)(v - s);
    for (int l = 0; l < n - i; l++) {
      if (y) y[i + l] = e[l];
      sum += e[l];
    }
  }
  return sum;
}

/* The largest of x[0..n), NaN when one is NaN, -inf when n is 0: 2 *
 * NX_CHAINS running maxima, each one FERRY_VPMAX a vector (maxps; pmax in
 * wasm), and the NaNs met or-ed into one mask on the side (a compare-select
 * keeping NaN in the maxima took four to six instructions a vector). */
NX_ATTR static float NX_FN(row_max)(const float *x, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
  if (n >= 2 * NX_CHAINS * NX_VL) {
    NX_V a[2 * NX_CHAINS], v;
    NX_I nan = {0};
    FERRY_UNROLL_FULL for (int c = 0; c < 2 * NX_CHAINS; c++) {
      memcpy(&a[c], x + c * NX_VL, sizeof a[c]);
      nan |= a[c] != a[c];
    }
    for (i = 2 * NX_CHAINS * NX_VL; i + 2 * NX_CHAINS * NX_VL <= n; i += 2 * NX_CHAINS * NX_VL)
      FERRY_UNROLL_FULL for (int c = 0; c < 2 * NX_CHAINS; c++) {
        memcpy(&v, x + i + c * NX_VL, sizeof v);
        nan |= v != v;
        a[c] = FERRY_VPMAX(a[c], v);
      }
    for (; i + NX_VL <= n; i += NX_VL) {
      memcpy(&v, x + i, sizeof v);
      nan |= v != v;
      a[0] = FERRY_VPMAX(a[0], v);
    }
    for (int c = 1; c < 2 * NX_CHAINS; c++) a[0] = FERRY_VPMAX(a[0], a[c]);
    for (int l = 0; l < NX_VL; l++) {
      if (nan[l]) return NAN;
      m = a[0][l] > m ? a[0][l] : m;
    }
  }
  for (; i < n; i++) m = x[i] > m || x[i] != x[i] ? x[i] : m;
  return m;
}
