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

/* Softmax down the columns of s [n][w] (row stride w; w a multiple of
 * 2 * NX_VL, taken two vectors of columns at a time), in place but for each column's division by
 * its sum: column j's largest counted value goes to mx[j] and 1 / its exp
 * sum to inv[j] (0 when the sum is not positive). With lo and hi (else
 * every row counts), column j counts rows lo[j] to hi[j] only: the others
 * become 0 and are not read. Each row is a few whole vectors, one value per
 * column: the columns' maxima and sums stay in vectors, with no tails and
 * no horizontal sums, and the exps of a row's vectors are independent
 * (ferry.Attention's scores, a key per row and a query per column). */
#define NX_G 2 /* vectors of columns in registers */

/* Rows [i0, i1) of the first pass: the columns' maxima in m. MASKED: the
 * rows' values outside [lo, hi] count as -inf. NG (a constant where
 * inlined) keeps m in registers. */
NX_ATTR static inline __attribute__((always_inline)) void NX_FN(cols_max)(const float *s, int64_t rs, int64_t i0,
                                                                         int64_t i1, NX_V *m, const NX_I *lo,
                                                                         const NX_I *hi, const int NG, const int MASKED) {
  NX_V ninf = (NX_V){0} - INFINITY;
  for (int64_t i = i0; i < i1; i++) {
    const float *r = s + i * rs;
    NX_I iv = (NX_I){0} + (int)i;
    for (int g = 0; g < NG; g++) {
      NX_V v;
      memcpy(&v, r + g * NX_VL, sizeof v);
      if (MASKED) {
        NX_I keep = (lo[g] <= iv) & (iv <= hi[g]);
        v = (NX_V)(((NX_I)v & keep) | ((NX_I)ninf & ~keep));
      }
      m[g] = FERRY_VPMAX(m[g], v);
    }
  }
}

/* Rows [i0, i1) of the second pass: exps in place, summed into sum. */
NX_ATTR static inline __attribute__((always_inline)) void NX_FN(cols_exp)(float *s, int64_t rs, int64_t i0,
                                                                         int64_t i1, const NX_V *m, NX_V *sum,
                                                                         const NX_I *lo, const NX_I *hi, const int NG,
                                                                         const int MASKED) {
  for (int64_t i = i0; i < i1; i++) {
    float *r = s + i * rs;
    NX_I iv = (NX_I){0} + (int)i;
    for (int g = 0; g < NG; g++) {
      NX_V v;
      memcpy(&v, r + g * NX_VL, sizeof v);
      NX_V e = NX_FN(vexp)(v - m[g]);
      if (MASKED) e = (NX_V)((NX_I)e & ((lo[g] <= iv) & (iv <= hi[g])));
      memcpy(r + g * NX_VL, &e, sizeof e);
      sum[g] += e;
    }
  }
}

/* softmax_cols over NG vectors of columns (a constant where inlined),
 * rows rs floats apart. */
NX_ATTR static inline __attribute__((always_inline)) void NX_FN(cols_ng)(float *s, int64_t rs, int64_t n,
                                                                        const int32_t *lo, const int32_t *hi,
                                                                        float *mx, float *inv, const int NG) {
  const int w = NG * NX_VL;
  NX_V m[NX_G], sum[NX_G];
  NX_I vlo[NX_G], vhi[NX_G];
  int64_t a = 0, z = n; /* rows every column counts: no masking there */
  for (int g = 0; g < NG; g++) m[g] = (NX_V){0} - INFINITY, sum[g] = (NX_V){0}, vlo[g] = vhi[g] = (NX_I){0};
  if (lo) {
    memcpy(vlo, lo, (size_t)w * sizeof *lo);
    memcpy(vhi, hi, (size_t)w * sizeof *hi);
    for (int j = 0; j < w; j++) {
      a = lo[j] > a ? lo[j] : a;
      z = hi[j] + 1 < z ? hi[j] + 1 : z;
    }
    if (a > n) a = n;
    if (z < a) z = a;
  }
  for (int part = 0; part < 2; part++) /* the masked rows before a and from z: one copy of the code */
    NX_FN(cols_max)(s, rs, part ? z : 0, part ? n : a, m, vlo, vhi, NG, 1);
  NX_FN(cols_max)(s, rs, a, z, m, vlo, vhi, NG, 0);
  for (int part = 0; part < 2; part++)
    NX_FN(cols_exp)(s, rs, part ? z : 0, part ? n : a, m, sum, vlo, vhi, NG, 1);
  NX_FN(cols_exp)(s, rs, a, z, m, sum, vlo, vhi, NG, 0);
  for (int g = 0; g < NG; g++)
    for (int l = 0; l < NX_VL; l++) {
      float t = sum[g][l];
      mx[g * NX_VL + l] = m[g][l];
      inv[g * NX_VL + l] = t > 0 ? 1.0f / t : 0.0f;
    }
}

NX_ATTR static void NX_FN(softmax_cols)(float *s, int64_t n, int w, const int32_t *lo, const int32_t *hi, float *mx,
                                        float *inv) {
  for (int j = 0; j < w; j += 2 * NX_VL) /* two vectors of columns at a time (w a multiple of two) */
    NX_FN(cols_ng)(s + j, w, n, lo ? lo + j : NULL, hi ? hi + j : NULL, mx + j, inv + j, 2);
}
#undef NX_G
