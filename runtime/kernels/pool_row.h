/*
 * pool_row.h - the float32 Max/AveragePool's vector loops, written once
 * and included by nn_pool.c once per instruction set (like conv_dw.h):
 * the generic build (f32x4: SSE natively, SIMD128 in wasm) and, on x86-64,
 * again inside `target("avx2")` functions with f32x8.
 *
 * The 2-D window is separable: an output row first reduces its kernel
 * rows column by column into one row (pool_vreduce), then each output
 * reduces its kernel columns of that row (pool_hrow). A 3x3 window costs
 * 2 + 2 operations per output instead of 8, and the horizontal loads are
 * plain or two-load shuffles instead of gathers.
 *
 * nn_pool.c defines before including:
 *   PL_V, PL_I, PL_VL  the float vector, the int32 vector of as many lanes,
 *                      the lanes
 *   PL_ATTR            attributes of every function here (empty, or the target)
 *   PL_FN(name)        the function's name for this variant (name##_avx2...)
 */

PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_load)(const float *p) {
  PL_V v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* max(a, v) that takes v where it is NaN (MaxPool propagates NaN). */
PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_max)(PL_V a, PL_V v) {
  PL_I m = (PL_I)(v > a) | (PL_I)(v != v);
  return (PL_V)((m & (PL_I)v) | (~m & (PL_I)a));
}

/* p[0], p[s], ... p[(PL_VL-1)s], reading nothing past the last (stride 2:
 * two loads and a shuffle). */
PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_strided)(const float *p, int64_t s) {
  if (s == 1) return PL_FN(pl_load)(p);
  if (s == 2) {
    PL_V lo = PL_FN(pl_load)(p), hi = PL_FN(pl_load)(p + PL_VL - 1);
#if PL_VL == 8
    return __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 9, 11, 13, 15);
#else
    return __builtin_shufflevector(lo, hi, 0, 2, 5, 7);
#endif
  }
  PL_V r;
  for (int l = 0; l < PL_VL; l++) r[l] = p[l * s];
  return r;
}

/* The max (or sum) over nr rows x, x + rs, ... of the vector at column i
 * (MAX a constant when inlined, so the row loop has no test). */
PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_col)(const float *x, int64_t rs, int64_t nr,
                                                                         int64_t i, const int MAX) {
  PL_V acc = PL_FN(pl_load)(x + i);
  for (int64_t r = 1; r < nr; r++) {
    PL_V v = PL_FN(pl_load)(x + r * rs + i);
    acc = MAX ? PL_FN(pl_max)(acc, v) : acc + v;
  }
  return acc;
}

PL_ATTR static inline __attribute__((always_inline)) void PL_FN(pl_vreduce)(const float *x, int64_t rs, int64_t nr,
                                                                             int64_t n, float *d, const int MAX) {
  int64_t i = 0;
  for (; i + PL_VL <= n; i += PL_VL) {
    PL_V acc = PL_FN(pl_col)(x, rs, nr, i, MAX);
    memcpy(d + i, &acc, sizeof acc);
  }
  if (i < n && n >= PL_VL) { /* the tail: one more vector, overlapping the last */
    PL_V acc = PL_FN(pl_col)(x, rs, nr, n - PL_VL, MAX);
    memcpy(d + n - PL_VL, &acc, sizeof acc);
    return;
  }
  for (; i < n; i++) {
    float acc = x[i];
    for (int64_t r = 1; r < nr; r++) acc = MAX ? pool_max1(acc, x[r * rs + i]) : acc + x[r * rs + i];
    d[i] = acc;
  }
}

/* d[0..n) = the max (or sum) over nr rows x, x + rs, ... column by column. */
PL_ATTR static void PL_FN(pool_vreduce)(const float *x, int64_t rs, int64_t nr, int64_t n, int max, float *d) {
  if (max)
    PL_FN(pl_vreduce)(x, rs, nr, n, d, 1);
  else
    PL_FN(pl_vreduce)(x, rs, nr, n, d, 0);
}

/* y[ow..hi) (whole vectors; returns where it stopped) = the max (or sum /
 * cnt) of row t's taps ow*S - pw + tw*dw, tw < K, all inside the row; S and
 * K are constants when inlined (0: s and k). */
PL_ATTR static inline __attribute__((always_inline)) int64_t PL_FN(pool_hrow_k)(const float *t, int64_t ow, int64_t hi,
                                                                                 int64_t k, int64_t s, int64_t dw,
                                                                                 int64_t pw, int max, float cnt, float *y,
                                                                                 const int64_t S, const int64_t K) {
  const int64_t sw = S ? S : s, kw = K ? K : k;
  for (; ow + PL_VL <= hi; ow += PL_VL) {
    const float *p = t + ow * sw - pw;
    PL_V acc = PL_FN(pl_strided)(p, sw);
    for (int64_t tw = 1; tw < kw; tw++) {
      PL_V v = PL_FN(pl_strided)(p + tw * dw, sw);
      acc = max ? PL_FN(pl_max)(acc, v) : acc + v;
    }
    if (!max) acc = acc / cnt;
    memcpy(y + ow, &acc, sizeof acc);
  }
  return ow;
}

PL_ATTR static int64_t PL_FN(pool_hrow)(const float *t, int64_t ow, int64_t hi, int64_t k, int64_t s, int64_t dw,
                                        int64_t pw, int max, float cnt, float *y) {
  if (dw == 1 && s == 1 && k == 3) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 1, 3);
  if (dw == 1 && s == 2 && k == 3) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 2, 3);
  if (dw == 1 && s == 2 && k == 2) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 2, 2);
  if (s == 1) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 1, 0);
  if (s == 2) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 2, 0);
  return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, max, cnt, y, 0, 0);
}
