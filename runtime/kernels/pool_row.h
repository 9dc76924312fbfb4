/*
 * pool_row.h - the float32 Max/AveragePool's vector loops, written once
 * and included by nn_pool.c once per instruction set (like conv_dw.h):
 * the generic build (f32x4: SSE natively, SIMD128 in wasm) and, on x86-64,
 * again inside `target("avx2")` functions with f32x8.
 *
 * The 2-D window is separable: an output row first reduces its kernel
 * rows column by column into one row (pl_vreduce), then each output
 * reduces its kernel columns of that row (pool_hrow_k). A 3x3 window costs
 * 2 + 2 operations per output instead of 8, and the horizontal loads are
 * plain or two-load shuffles instead of gathers. PL_FN(pool_plane) runs a
 * whole plane with both inlined, Max or Average a constant: small planes
 * (squeezenet's 13x13) cost calls and tests per row otherwise.
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

/* p[0], p[2], ... p[2(PL_VL-1)], reading nothing past the last: two loads
 * and one in-lane shuffle (shufps / vshufps). With f32x8 the lanes come in
 * the order 0 1 4 5 2 3 6 7 (one vshufps instead of two lane-crossing
 * permutes and a blend), the same for every tap; pl_unperm puts a result
 * of such vectors back in order (one vpermpd; nothing with f32x4). */
PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_even)(const float *p) {
  PL_V lo = PL_FN(pl_load)(p), hi = PL_FN(pl_load)(p + PL_VL - 1);
#if PL_VL == 8
  return __builtin_shufflevector(lo, hi, 0, 2, 9, 11, 4, 6, 13, 15);
#else
  return __builtin_shufflevector(lo, hi, 0, 2, 5, 7);
#endif
}

PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_unperm)(PL_V v) {
#if PL_VL == 8
  return __builtin_shufflevector(v, v, 0, 1, 4, 5, 2, 3, 6, 7);
#else
  return v;
#endif
}

/* p[0], p[s], ... p[(PL_VL-1)s] in lane order, for strides other than 2. */
PL_ATTR static inline __attribute__((always_inline)) PL_V PL_FN(pl_strided)(const float *p, int64_t s) {
  if (s == 1) return PL_FN(pl_load)(p);
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
    PL_V acc = sw == 2 ? PL_FN(pl_even)(p) : PL_FN(pl_strided)(p, sw);
    for (int64_t tw = 1; tw < kw; tw++) {
      PL_V v = sw == 2 ? PL_FN(pl_even)(p + tw * dw) : PL_FN(pl_strided)(p + tw * dw, sw);
      acc = max ? PL_FN(pl_max)(acc, v) : acc + v;
    }
    if (!max) acc = acc / cnt;
    if (sw == 2) acc = PL_FN(pl_unperm)(acc); /* (lane-wise ops above: the order is the taps') */
    memcpy(y + ow, &acc, sizeof acc);
  }
  return ow;
}

/* pool_hrow_k with MAX a constant, S and K too for the common windows. */
PL_ATTR static inline __attribute__((always_inline)) int64_t PL_FN(pool_hrow_m)(const float *t, int64_t ow, int64_t hi,
                                                                                 int64_t k, int64_t s, int64_t dw,
                                                                                 int64_t pw, float cnt, float *y,
                                                                                 const int MAX) {
  if (dw == 1 && s == 1 && k == 3) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 1, 3);
  if (dw == 1 && s == 2 && k == 3) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 2, 3);
  if (dw == 1 && s == 2 && k == 2) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 2, 2);
  if (s == 1) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 1, 0);
  if (s == 2) return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 2, 0);
  return PL_FN(pool_hrow_k)(t, ow, hi, k, s, dw, pw, MAX, cnt, y, 0, 0);
}

/* Output row oh's window rows of x reduced column by column into one row:
 * the input row itself when the window has one row inside, else tmp
 * (-inf or 0 where it has none); *rows: the rows the average counts. */
PL_ATTR static inline __attribute__((always_inline)) const float *PL_FN(pool_vrow)(const pool2d *t, const float *x,
                                                                                    int64_t oh, float *tmp,
                                                                                    int64_t *rows, const int MAX) {
  const pgeom *g = t->a->g;
  int64_t hlo = 0, hhi = 1, hp = 1;
  if (g->n == 2) tap_range(g, 0, oh, &hlo, &hhi, &hp);
  const float *r = tmp;
  if (hhi - hlo == 1)
    r = x + (oh * t->SH - t->PH + hlo * t->DH) * t->W;
  else if (hhi > hlo)
    PL_FN(pl_vreduce)(x + (oh * t->SH - t->PH + hlo * t->DH) * t->W, t->DH * t->W, hhi - hlo, t->W, tmp, MAX);
  else
    for (int64_t i = 0; i < t->W; i++) tmp[i] = MAX ? -INFINITY : 0.0f; /* no window row inside */
  *rows = t->a->include_pad ? hp : hhi - hlo;
  return r;
}

/* One plane of t (rows up to POOL_ROW_MAX wide): per output row its
 * window rows reduced into one row (pool_vrow), then the columns
 * vectorized where the windows lie inside the row (the last vector
 * overlapping the one before), one by one at the edges (nn_pool.c's
 * pool_col); MAX a constant when inlined. The rows are reduced one
 * output row ahead, into two buffers used in turn: a row's vectors read
 * back at once straddle the stores just made (the taps sit at every
 * offset), which do not forward, so each load waited for the stores to
 * reach the cache (natively squeezenet1_1's three MaxPools 1-8% faster in
 * the model on a Zen 3; level in V8). */
PL_ATTR static inline __attribute__((always_inline)) void PL_FN(pool_plane_m)(const pool2d *t, const float *x,
                                                                               float *y, const int MAX) {
  const pgeom *g = t->a->g;
  int n = g->n, incl = t->a->include_pad;
  float tmp[2][POOL_ROW_MAX];
  int64_t ow_a = (t->PW + t->SW - 1) / t->SW, ow_b = floor_div(t->W - 1 - (t->KW - 1) * t->DW + t->PW, t->SW) + 1;
  ow_b = ow_b < t->OW ? ow_b : t->OW;
  ow_a = ow_a < ow_b ? ow_a : ow_b;
  int64_t rows_next = 0;
  const float *r_next = t->OH > 0 ? PL_FN(pool_vrow)(t, x, 0, tmp[0], &rows_next, MAX) : NULL;
  for (int64_t oh = 0; oh < t->OH; oh++) {
    int64_t wlo, whi, wp, rows = rows_next, ow = 0;
    const float *r = r_next;
    if (oh + 1 < t->OH) r_next = PL_FN(pool_vrow)(t, x, oh + 1, tmp[(oh + 1) & 1], &rows_next, MAX);
    float *yr = y + oh * t->OW;
    for (; ow < ow_a; ow++) {
      tap_range(g, n - 1, ow, &wlo, &whi, &wp);
      yr[ow] = pool_col(t, r, ow, wlo, whi, MAX, rows * (incl ? wp : whi - wlo));
    }
    if (MAX || rows) { /* whole vectors; the rest as one more overlapping the last, or one by one */
      float cnt = (float)(rows * t->KW);
      ow = PL_FN(pool_hrow_m)(r, ow, ow_b, t->KW, t->SW, t->DW, t->PW, cnt, yr, MAX);
      if (ow < ow_b && ow_b - ow_a >= PL_VL)
        ow = PL_FN(pool_hrow_m)(r, ow_b - PL_VL, ow_b, t->KW, t->SW, t->DW, t->PW, cnt, yr, MAX);
    }
    for (; ow < t->OW; ow++) {
      tap_range(g, n - 1, ow, &wlo, &whi, &wp);
      yr[ow] = pool_col(t, r, ow, wlo, whi, MAX, rows * (incl ? wp : whi - wlo));
    }
  }
}

PL_ATTR static void PL_FN(pool_plane)(const pool2d *t, const float *x, float *y) {
  if (t->a->mode == POOL_MAX)
    PL_FN(pool_plane_m)(t, x, y, 1);
  else
    PL_FN(pool_plane_m)(t, x, y, 0);
}
