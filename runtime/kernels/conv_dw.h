/*
 * conv_dw.h - the depthwise convolution's vector code, written once and
 * included by conv.c once per instruction set (like gemm_ukernel.h): the
 * generic build (f32x4: SSE natively, SIMD128 in wasm) and, on x86-64,
 * again inside `target("avx2,fma")` functions with f32x8.
 *
 * conv.c defines before including:
 *   DW_V, DW_VL   the float vector type and its lanes
 *   DW_I          the int32 vector of as many lanes (compare masks)
 *   DW_ATTR       attributes of every function here (empty, or the target)
 *   DW_FN(name)   the function's name for this variant (name##_avx2...)
 * and provides dwjob, win2, dw_epi, dw_epi_for, dw_zero_border, dw_point, DW_MAX_TAPS,
 * ferry_gemm_epi_row.
 *
 *   DW_FN(dw_task)       channels [begin, end), edges point by point
 *   DW_FN(dw_slot_task)  slots of channels over zero-padded copies:
 *                        dw_fill copies a channel into the slot's
 *                        zero-bordered buffer, dw_plane sweeps it two
 *                        output rows at a time (dw_pair, sharing the
 *                        input rows both need), dw_put applies bias and
 *                        activation in registers and stores
 *   DW_FN(dw3_task)      3x3 kernels at stride 1 or 2: channel by channel,
 *                        output rows in groups of vectors over the input
 *                        rows read in place (dw3_tap1 / dw3_taps2 shift
 *                        the edge vectors' taps, split stride 2)
 *   DW_FN(dw3f_task)     3x3 at stride 1 on short rows (4 to 16): the
 *                        channel copied into a zero-padded plane whose
 *                        rows, end to end, make one long row for
 *                        dw3_group (dw3_group_u in wasm), no edges
 *   DW_FN(dc_task)       the same taps summed over a few input channels
 *                        for 8 output channels at a time: an ungrouped 3x3
 *                        convolution of a first layer (dc_row, dc_vector)
 */

#ifndef DW_UNROLL /* unroll the tap loops fully when their bounds are constants (GCC -O2
                     needs asking; clang does it unasked, and warns about the runtime ones) */
#if defined(__clang__)
#define DW_UNROLL
#else
#define DW_UNROLL _Pragma("GCC unroll 16")
#endif
#endif

/* x[p], x[p + s], ... x[p + (DW_VL-1)s], reading nothing past the last
 * (stride 2: two loads, the second from p + DW_VL - 1) */
DW_ATTR static inline __attribute__((always_inline)) DW_V DW_FN(load_strided)(const float *x, int64_t p, int64_t s) {
  DW_V r;
  if (s == 1) {
    memcpy(&r, x + p, sizeof r);
    return r;
  }
  if (s == 2) {
    DW_V lo, hi;
    memcpy(&lo, x + p, sizeof lo);
    memcpy(&hi, x + p + DW_VL - 1, sizeof hi);
#if DW_VL == 8
    return __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 9, 11, 13, 15);
#else
    return __builtin_shufflevector(lo, hi, 0, 2, 5, 7);
#endif
  }
  for (int l = 0; l < DW_VL; l++) r[l] = x[p + l * s];
  return r;
}

DW_ATTR static inline __attribute__((always_inline)) void DW_FN(vstore)(float *p, DW_V v) { memcpy(p, &v, sizeof v); }

/* Outputs [ow, hi) of row oh (every tap inside the image) with stride S
 * and KW kernel columns at dilation 1 (constants when inlined, so the tap
 * loop unrolls; 0: v->sw, and v->kw, v->dw); returns where it stopped (a
 * multiple of DW_VL outputs). */
DW_ATTR static inline __attribute__((always_inline)) int64_t DW_FN(dw_interior)(
    const win2 *v, const float *x, const DW_V *wv, int64_t ki0, int64_t ki1, int64_t oh, int64_t ow, int64_t hi,
    float *yr, const int64_t S, const int64_t KW) {
  const int64_t sw = S ? S : v->sw, s4 = DW_VL * sw, kw = KW ? KW : v->kw, dw = KW ? 1 : v->dw;
  for (; ow + 4 * DW_VL <= hi; ow += 4 * DW_VL) { /* four independent sums hide the add latency */
    DW_V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int64_t ki = ki0; ki < ki1; ki++) {
      const float *xr = x + (oh * v->sh - v->ph + ki * v->dh) * v->W;
      for (int64_t kj = 0; kj < kw; kj++) {
        DW_V wk = wv[ki * kw + kj];
        int64_t p = ow * sw - v->pw + kj * dw;
        a0 += wk * DW_FN(load_strided)(xr, p, sw);
        a1 += wk * DW_FN(load_strided)(xr, p + s4, sw);
        a2 += wk * DW_FN(load_strided)(xr, p + 2 * s4, sw);
        a3 += wk * DW_FN(load_strided)(xr, p + 3 * s4, sw);
      }
    }
    DW_FN(vstore)(yr + ow, a0);
    DW_FN(vstore)(yr + ow + DW_VL, a1);
    DW_FN(vstore)(yr + ow + 2 * DW_VL, a2);
    DW_FN(vstore)(yr + ow + 3 * DW_VL, a3);
  }
  for (; ow + DW_VL <= hi; ow += DW_VL) {
    DW_V acc = {0};
    for (int64_t ki = ki0; ki < ki1; ki++) {
      const float *xr = x + (oh * v->sh - v->ph + ki * v->dh) * v->W;
      for (int64_t kj = 0; kj < kw; kj++)
        acc += wv[ki * kw + kj] * DW_FN(load_strided)(xr, ow * sw - v->pw + kj * dw, sw);
    }
    DW_FN(vstore)(yr + ow, acc);
  }
  return ow;
}

/* Output row oh of one depthwise channel: DW_VL outputs at a time where
 * every tap of the row is inside the image, point by point at the edges. */
DW_ATTR static void DW_FN(dw_row)(const win2 *v, const float *x, const float *w, const DW_V *wv, int64_t oh,
                                  float *yr) {
  int64_t lo = (v->pw + v->sw - 1) / v->sw, hi = v->W - 1 + v->pw - (v->kw - 1) * v->dw;
  hi = hi < 0 ? 0 : hi / v->sw + 1;
  if (hi > v->OW) hi = v->OW;
  if (lo > hi) lo = hi;
  int64_t ow = 0;
  for (; ow < lo; ow++) yr[ow] = dw_point(v, x, w, oh, ow);
  int64_t ki0 = 0, ki1 = v->kh; /* kernel rows inside the image */
  while (ki0 < ki1 && oh * v->sh - v->ph + ki0 * v->dh < 0) ki0++;
  while (ki1 > ki0 && oh * v->sh - v->ph + (ki1 - 1) * v->dh >= v->H) ki1--;
  int k3 = v->kw == 3 && v->dw == 1;
  if (v->sw == 1 && k3)
    ow = DW_FN(dw_interior)(v, x, wv, ki0, ki1, oh, ow, hi, yr, 1, 3);
  else if (v->sw == 2 && k3)
    ow = DW_FN(dw_interior)(v, x, wv, ki0, ki1, oh, ow, hi, yr, 2, 3);
  else if (v->sw == 1)
    ow = DW_FN(dw_interior)(v, x, wv, ki0, ki1, oh, ow, hi, yr, 1, 0);
  else if (v->sw == 2)
    ow = DW_FN(dw_interior)(v, x, wv, ki0, ki1, oh, ow, hi, yr, 2, 0);
  else
    ow = DW_FN(dw_interior)(v, x, wv, ki0, ki1, oh, ow, hi, yr, 0, 0);
  for (; ow < v->OW; ow++) yr[ow] = dw_point(v, x, w, oh, ow);
}

DW_ATTR static void DW_FN(dw_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const cgeo *g = j->g;
  const win2 *v = &j->v;
  DW_V wv[DW_MAX_TAPS];
  for (int64_t nm = begin; nm < end; nm++) {
    int64_t n = nm / g->M, m = nm - n * g->M, c = m / g->Mg;
    const float *x = j->x + (n * g->C + c) * g->in_size, *w = j->w + m * g->k_size;
    float *y = j->y + nm * g->out_size;
    int fast = g->k_size <= DW_MAX_TAPS;
    for (int64_t t = 0; fast && t < g->k_size; t++) wv[t] = (DW_V){0} + w[t];
    for (int64_t oh = 0; oh < v->OH; oh++) {
      float *yr = y + oh * v->OW;
      if (fast) {
        DW_FN(dw_row)(v, x, w, wv, oh, yr);
      } else {
        for (int64_t ow = 0; ow < v->OW; ow++) yr[ow] = dw_point(v, x, w, oh, ow);
      }
      ferry_gemm_epi_row(j->e, m, 0, v->OW, yr);
    }
  }
}

/* acc through the channel's epilogue (dw_epi: y = clamp(acc * sc + sh,
 * lo, hi)) into y[ow..), only the lanes before OW. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw_put)(const dw_epi *ep, float *y, int64_t ow,
                                                                         int64_t OW, DW_V acc) {
  DW_V v = acc * ep->sc + ep->sh, lo = (DW_V){0} + ep->lo, hi = (DW_V){0} + ep->hi;
  DW_I m = (DW_I)(v < lo);
  v = (DW_V)((m & (DW_I)lo) | (~m & (DW_I)v));
  m = (DW_I)(v > hi);
  v = (DW_V)((m & (DW_I)hi) | (~m & (DW_I)v));
  if (ow + DW_VL <= OW) {
    DW_FN(vstore)(y + ow, v);
    return;
  }
  for (int l = 0; l < DW_VL && ow + l < OW; l++) y[ow + l] = v[l];
}

/* Output rows oh and (two) oh + 1 of a zero-padded plane (dilation 1;
 * stride S and KH x KW kernel, constants when inlined, 0: from vp), NV
 * vectors of columns at a time over [0, OWr): the input rows both output
 * rows share are loaded once; sums go through dw_put. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw_pair)(const win2 *vp, const float *buf,
                                                                          const DW_V *wv, const dw_epi *ep, int64_t oh,
                                                                          const int two, int64_t OWr, int64_t OW, float *y0,
                                                                          const int64_t S, const int64_t KH,
                                                                          const int64_t KW) {
  const int64_t sw = S ? S : vp->sw, sh = S ? S : vp->sh, kh = KH ? KH : vp->kh, kw = KW ? KW : vp->kw;
  const int64_t W = vp->W, rows = two ? sh + kh : kh;
  float *y1 = y0 + OW;
  int64_t ow = 0;
  for (; ow + 2 * DW_VL <= OWr; ow += 2 * DW_VL) {
    DW_V a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
    const float *base = buf + oh * sh * W + ow * sw;
    DW_UNROLL for (int64_t r = 0; r < rows; r++)
      DW_UNROLL for (int64_t kj = 0; kj < kw; kj++) {
        DW_V x0 = DW_FN(load_strided)(base + r * W, kj, sw), x1 = DW_FN(load_strided)(base + r * W, kj + DW_VL * sw, sw);
        if (r < kh) {
          DW_V wk = wv[r * kw + kj];
          a0 += wk * x0, a1 += wk * x1;
        }
        if (two && r >= sh) {
          DW_V wk = wv[(r - sh) * kw + kj];
          b0 += wk * x0, b1 += wk * x1;
        }
      }
    DW_FN(dw_put)(ep, y0, ow, OW, a0);
    DW_FN(dw_put)(ep, y0, ow + DW_VL, OW, a1);
    if (two) {
      DW_FN(dw_put)(ep, y1, ow, OW, b0);
      DW_FN(dw_put)(ep, y1, ow + DW_VL, OW, b1);
    }
  }
  for (; ow < OWr; ow += DW_VL) {
    DW_V a0 = {0}, b0 = {0};
    const float *base = buf + oh * sh * W + ow * sw;
    DW_UNROLL for (int64_t r = 0; r < rows; r++)
      DW_UNROLL for (int64_t kj = 0; kj < kw; kj++) {
        DW_V x0 = DW_FN(load_strided)(base + r * W, kj, sw);
        if (r < kh) a0 += wv[r * kw + kj] * x0;
        if (two && r >= sh) b0 += wv[(r - sh) * kw + kj] * x0;
      }
    DW_FN(dw_put)(ep, y0, ow, OW, a0);
    if (two) DW_FN(dw_put)(ep, y1, ow, OW, b0);
  }
}

/* Output rows [oh, oh + 1 + TWO) of one channel (a constant TWO, so
 * dw_pair's row loop unrolls). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw_rows)(const dwjob *j, const float *buf, float *row,
                                                                          const DW_V *wv, const dw_epi *ep, float *y,
                                                                          int64_t oh, const int TWO) {
  const win2 *v = &j->v, *vp = &j->vp;
  int unit = v->dh == 1 && v->dw == 1, k3 = unit && v->kh == 3 && v->kw == 3, k5 = unit && v->kh == 5 && v->kw == 5;
  float *yr = y + oh * v->OW;
  if (k3 && v->sw == 1 && v->sh == 1)
    DW_FN(dw_pair)(vp, buf, wv, ep, oh, TWO, j->OWr, v->OW, yr, 1, 3, 3);
  else if (k3 && v->sw == 2 && v->sh == 2)
    DW_FN(dw_pair)(vp, buf, wv, ep, oh, TWO, j->OWr, v->OW, yr, 2, 3, 3);
  else if (k5 && v->sw == 1 && v->sh == 1)
    DW_FN(dw_pair)(vp, buf, wv, ep, oh, TWO, j->OWr, v->OW, yr, 1, 5, 5);
  else if (k5 && v->sw == 2 && v->sh == 2)
    DW_FN(dw_pair)(vp, buf, wv, ep, oh, TWO, j->OWr, v->OW, yr, 2, 5, 5);
  else if (unit && v->sw == v->sh)
    DW_FN(dw_pair)(vp, buf, wv, ep, oh, TWO, j->OWr, v->OW, yr, 0, 0, 0);
  else
    for (int64_t r = oh; r <= oh + TWO; r++) { /* dilations, unequal strides: row by row */
      float *dst = j->OWr == v->OW ? y + r * v->OW : row;
      DW_FN(dw_interior)(vp, buf, wv, 0, v->kh, r, 0, j->OWr, dst, 0, 0);
      for (int64_t c = 0; c < v->OW; c += DW_VL)
        DW_FN(dw_put)(ep, y + r * v->OW, c, v->OW, DW_FN(load_strided)(dst, c, 1));
    }
}

/* ---- 3x3 kernels at stride 1 or 2, dilation 1: rows vector by vector ---- */

/* Output vectors a group computes at once (independent multiply-add
 * chains; at most 8): at stride 1 every tap is a load, at stride 2 three
 * split vectors a group vector stay live, so fewer. */
#ifndef DW3_G1
#if defined(__wasm__) /* V8 issues a kernel row's 3 G loads first: 8 spilled (32 at 112x112 / 1: 17.6 -> 20.6 GFLOP/s) */
#define DW3_G1 4
#else
#define DW3_G1 8
#endif
#endif
#ifndef DW3_G2
#if defined(__wasm__) /* V8 keeps more of them in registers (96 at 112x112 / 2: 14.7 -> 15.8 GFLOP/s) */
#define DW3_G2 2
#else
#define DW3_G2 4
#endif
#endif

/* The kernel-row loop of a group: unrolled natively; in wasm a loop, as
 * conv_dwc.h's DWC_KROWS: V8 keeps wasm's order and clang would hoist
 * every row's loads to the top, where V8 spills them. */
#if defined(__wasm__)
#define DW3_KROWS _Pragma("clang loop unroll(disable)")
#else
#define DW3_KROWS DW_UNROLL
#endif

/* x splatted (a plain 0 + x would keep the add: -0 + 0 is +0). */
DW_ATTR static inline __attribute__((always_inline)) DW_V DW_FN(dw3_splat)(float x) {
#if DW_VL == 8
  return (DW_V){x, x, x, x, x, x, x, x};
#else
  return (DW_V){x, x, x, x};
#endif
}

/* Stride 1: tap kj of kernel row r (an image row, or zeros) for DW_VL
 * outputs from `at` on, columns at - pw + kj loaded in place; the row's
 * first vector (left: pw = 1) and last (right: one column past the row)
 * shift the middle tap instead of reading outside. */
DW_ATTR static inline __attribute__((always_inline)) DW_V DW_FN(dw3_tap1)(const float *r, int64_t at, int64_t pw,
                                                                           int left, int right, const int kj) {
  const DW_V z = {0};
  const float *q = r + at - pw;
  DW_V x;
  if ((kj == 0 && left) || (kj == 2 && right)) {
    memcpy(&x, q + 1, sizeof x);
#if DW_VL == 8
    return kj == 0 ? __builtin_shufflevector(x, z, 8, 0, 1, 2, 3, 4, 5, 6)
                   : __builtin_shufflevector(x, z, 1, 2, 3, 4, 5, 6, 7, 8);
#else
    return kj == 0 ? __builtin_shufflevector(x, z, 4, 0, 1, 2) : __builtin_shufflevector(x, z, 1, 2, 3, 4);
#endif
  }
  memcpy(&x, q + kj, sizeof x);
  return x;
}

/* Stride 2 (pw = 1): the three taps of kernel row r for DW_VL outputs
 * from `at` on, columns 2j - 1, 2j, 2j + 1 as the odd, even and odd
 * columns of two pairs of loads (f32x8: shufps works within 128-bit
 * halves, so every tap holds outputs 0 1 4 5 2 3 6 7; dw3_out puts them
 * back); the row's first vector takes 2j - 1 from 2j + 1, moved one
 * output on. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3_taps2)(const float *r, int64_t at, int left,
                                                                            DW_V *x0, DW_V *x1, DW_V *x2) {
  const DW_V z = {0};
  const float *q = r + 2 * at;
  DW_V a, b;
  memcpy(&a, q, sizeof a), memcpy(&b, q + DW_VL, sizeof b);
#if DW_VL == 8
  *x1 = __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14);
  *x2 = __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
  if (left) {
    *x0 = __builtin_shufflevector(*x2, z, 8, 0, 5, 2, 1, 4, 3, 6);
    return;
  }
  memcpy(&a, q - 2, sizeof a), memcpy(&b, q - 2 + DW_VL, sizeof b);
  *x0 = __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
#else
  *x1 = __builtin_shufflevector(a, b, 0, 2, 4, 6);
  *x2 = __builtin_shufflevector(a, b, 1, 3, 5, 7);
  if (left) {
    *x0 = __builtin_shufflevector(*x2, z, 4, 0, 1, 2);
    return;
  }
  memcpy(&a, q - 2, sizeof a), memcpy(&b, q - 2 + DW_VL, sizeof b);
  *x0 = __builtin_shufflevector(a, b, 1, 3, 5, 7);
#endif
}

/* A sum through the clamp, its lanes in output order, stored at y. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3_out)(float *y, DW_V acc, DW_V lo, DW_V hi,
                                                                          const int S) {
  DW_V o = FERRY_VPMIN(FERRY_VPMAX(acc, lo), hi);
#if DW_VL == 8
  if (S == 2) o = __builtin_shufflevector(o, o, 0, 1, 4, 5, 2, 3, 6, 7);
#else
  (void)S;
#endif
  DW_FN(vstore)(y, o);
}

/* G output vectors of the row at y: at ow, ow + DW_VL, ... and the last at
 * `last` (OW - DW_VL where the row ends within a vector); left: the first
 * is the row's first (ow 0, pw 1), right: the last reads one column past
 * the row (stride 1). r: the three input rows. Kernel row by row, tap by
 * tap over the G sums; wt holds the nine weights times the epilogue's
 * scale, then its shift, lo and hi, read where used. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3_group)(const float *const *r, const float *wt,
                                                                            float *y, int64_t ow, int64_t last,
                                                                            int64_t pw, int left, int right,
                                                                            const int G, const int S) {
  DW_V acc[8];
  DW_UNROLL for (int g = 0; g < G; g++) acc[g] = DW_FN(dw3_splat)(wt[9]);
  DW3_KROWS for (int ki = 0; ki < 3; ki++) {
    if (S == 1) {
      DW_UNROLL for (int kj = 0; kj < 3; kj++) {
        DW_V wk = DW_FN(dw3_splat)(wt[3 * ki + kj]);
        DW_UNROLL for (int g = 0; g < G; g++)
          acc[g] = FERRY_VMADD(wk, DW_FN(dw3_tap1)(r[ki], g < G - 1 ? ow + g * DW_VL : last, pw, g == 0 && left,
                                                   g == G - 1 && right, kj), acc[g]);
      }
    } else {
      DW_UNROLL for (int g = 0; g < G; g++) {
        DW_V x0, x1, x2;
        DW_FN(dw3_taps2)(r[ki], g < G - 1 ? ow + g * DW_VL : last, g == 0 && left, &x0, &x1, &x2);
        acc[g] = FERRY_VMADD(DW_FN(dw3_splat)(wt[3 * ki]), x0, acc[g]);
        acc[g] = FERRY_VMADD(DW_FN(dw3_splat)(wt[3 * ki + 1]), x1, acc[g]);
        acc[g] = FERRY_VMADD(DW_FN(dw3_splat)(wt[3 * ki + 2]), x2, acc[g]);
      }
    }
  }
  DW_V lo = DW_FN(dw3_splat)(wt[10]), hi = DW_FN(dw3_splat)(wt[11]);
  DW_UNROLL for (int g = 0; g < G; g++) DW_FN(dw3_out)(g < G - 1 ? y + ow + g * DW_VL : y + last, acc[g], lo, hi, S);
}

#if defined(__wasm__) && DW_VL == 4
#ifndef DW3_GU
#define DW3_GU 4 /* vectors of a dw3_group_u (3, 5, 6 and 8 measured slower) */
#endif
_Static_assert(DW3_GU <= DW3_G1, "dw3f_task's last group takes at most DW3_G1 vectors");
/* Stride 1 in wasm: G output vectors from ow on whose taps lie inside the
 * row (the caller's `OW - ow >= (G + 1) DW_VL`), from G + 1 loads a kernel
 * row: u[g] holds columns ow - pw + 4 g on, and a vector's second and
 * third taps are u[g] and u[g + 1] shifted by one and two lanes (one
 * palignr each in V8). Three loads a vector, as dw3_group does, are 3 G
 * values V8 loads ahead of the multiply-adds (it issues a block's loads
 * first), which spilled at G = 4; here u, the sums and the weights fit
 * its 15 vector registers. left: the row's first vector, pw = 1 (column
 * -1 is a zero shifted in, not read). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3_group_u)(const float *const *r, const float *wt,
                                                                              float *y, int64_t ow, int64_t pw,
                                                                              int left, const int G) {
  const DW_V z = {0};
  DW_V acc[8];
  FERRY_UNROLL_FULL for (int g = 0; g < G; g++) acc[g] = DW_FN(dw3_splat)(wt[9]);
  DW3_KROWS for (int ki = 0; ki < 3; ki++) {
    const float *q = r[ki] + ow - pw;
    DW_V u[9];
    if (left) {
      DW_V x;
      memcpy(&x, q + 1, sizeof x);
      u[0] = __builtin_shufflevector(z, x, 3, 4, 5, 6);
    } else {
      memcpy(&u[0], q, sizeof u[0]);
    }
    FERRY_UNROLL_FULL for (int g = 1; g <= G; g++) memcpy(&u[g], q + g * DW_VL, sizeof u[g]);
    DW_V w0 = DW_FN(dw3_splat)(wt[3 * ki]), w1 = DW_FN(dw3_splat)(wt[3 * ki + 1]),
         w2 = DW_FN(dw3_splat)(wt[3 * ki + 2]);
    FERRY_UNROLL_FULL for (int g = 0; g < G; g++) {
      acc[g] = FERRY_VMADD(w0, u[g], acc[g]);
      acc[g] = FERRY_VMADD(w1, __builtin_shufflevector(u[g], u[g + 1], 1, 2, 3, 4), acc[g]);
      acc[g] = FERRY_VMADD(w2, __builtin_shufflevector(u[g], u[g + 1], 2, 3, 4, 5), acc[g]);
    }
  }
  DW_V lo = DW_FN(dw3_splat)(wt[10]), hi = DW_FN(dw3_splat)(wt[11]);
  FERRY_UNROLL_FULL for (int g = 0; g < G; g++) DW_FN(dw3_out)(y + ow + g * DW_VL, acc[g], lo, hi, 1);
}
#endif

/* All output rows of channel plane x into y (dw3_setup's geometry): input
 * rows read in place (zrow, zeros, for the rows above and below the
 * image); each output row DW3_G1 (stride 2: DW3_G2) vectors at a time while more than that
 * are left, then the rest in one group whose last vector ends at OW
 * (redoing a few outputs instead of a scalar tail). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3_plane)(const dwjob *j, const float *x,
                                                                            const float *zrow, const float *wt,
                                                                            float *y, const int S) {
  const int64_t OW = j->v.OW, OH = j->v.OH, H = j->v.H, W = j->v.W, ph = j->v.ph, pw = j->v.pw;
  const int right = S == 1 && OW - pw + 1 == W; /* the last vector's third tap reads column W */
  const int GM = S == 1 ? DW3_G1 : DW3_G2;
  for (int64_t oh = 0; oh < OH; oh++, y += OW) {
    const float *r[3];
    DW_UNROLL for (int ki = 0; ki < 3; ki++) {
      int64_t ih = oh * S - ph + ki;
      r[ki] = ih >= 0 && ih < H ? x + ih * W : zrow;
    }
    int64_t ow = 0;
#if defined(__wasm__) && DW_VL == 4
    if (S == 1)
      for (; OW - ow >= (DW3_GU + 1) * DW_VL; ow += DW3_GU * DW_VL)
        DW_FN(dw3_group_u)(r, wt, y, ow, pw, ow == 0 && pw, DW3_GU);
#endif
    for (; OW - ow > GM * DW_VL; ow += GM * DW_VL)
      DW_FN(dw3_group)(r, wt, y, ow, ow + (GM - 1) * DW_VL, pw, ow == 0 && pw, 0, GM, S);
    switch ((OW - ow + DW_VL - 1) / DW_VL) { /* the rest: G a constant in each call, so its loops unroll */
#define DW3_CASE(G) \
  case G: DW_FN(dw3_group)(r, wt, y, ow, OW - DW_VL, pw, ow == 0 && pw, right, G, S); break;
      DW3_CASE(1) DW3_CASE(2) DW3_CASE(3) DW3_CASE(4)
#if DW3_G1 > 4 || DW3_G2 > 4
      DW3_CASE(5) DW3_CASE(6) DW3_CASE(7) DW3_CASE(8)
#endif
#undef DW3_CASE
    default: break;
    }
  }
}

/* Slots s in [begin, end): each takes a contiguous share of the channels;
 * its scratch holds a zero row and the channel's constants (dw3_plane). */
DW_ATTR static void DW_FN(dw3_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const cgeo *g = j->g;
  const int64_t total = g->N * g->M;
  for (int64_t s = begin; s < end; s++) {
    float *zero = j->slots + (size_t)s * j->slot_floats, *wt = zero + j->Wp;
    f32_zero(zero, j->Wp);
    for (int64_t nm = s * total / j->n_slots; nm < (s + 1) * total / j->n_slots; nm++) {
      int64_t n = nm / g->M, m = nm - n * g->M;
      const float *x = j->x + (n * g->C + m) * g->in_size;
      float *y = j->y + nm * g->out_size;
      dw3_consts(j, m, wt);
      if (j->v.sw == 1)
        DW_FN(dw3_plane)(j, x, zero + DW3_ZPAD, wt, y, 1);
      else
        DW_FN(dw3_plane)(j, x, zero + DW3_ZPAD, wt, y, 2);
      for (int64_t r = 0; j->e_after && r < j->v.OH; r++) ferry_gemm_epi_row(j->e, m, 0, j->v.OW, y + r * j->v.OW);
      if (j->e->post) j->e->post(j->e->post_ctx, y, g->out_size); /* the executor's fused map, in cache */
    }
  }
}

/* ---- 3x3 at stride 1 on short rows: the padded plane swept as one long row ---- */

/* rows rows of n floats from s (row stride ss) to d (row stride ds), in
 * f32x4 (the rows this path copies are short: 4 to 16), a row's last
 * one ending at its end, over the one before it; rows under 4 floats
 * float by float. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3f_rows)(float *d, int64_t ds, const float *s,
                                                                            int64_t ss, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++, d += ds, s += ss) {
    if (n < 4) {
      for (int64_t i = 0; i < n; i++) d[i] = s[i];
      continue;
    }
    for (int64_t i = 0; i + 4 < n; i += 4) f32x4_store(d + i, f32x4_load(s + i));
    f32x4_store(d + n - 4, f32x4_load(s + n - 4));
  }
}

/* The flat path's sweep of one padded plane pp (its rows r) into o at
 * stride Wp: the row path's groups (dw3_group_u in wasm: G + 1 loads a
 * kernel row, all inside the plane) across rows, with no edges, the
 * padded columns' outputs computed and dropped; the last group (at most
 * DW3_G1 vectors) writes into o's slack past n. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3f_sweep)(const float *const *r, const float *wt,
                                                                             float *o, int64_t n) {
  int64_t p = 0;
#if defined(__wasm__) && DW_VL == 4
  for (; n - p >= DW3_GU * DW_VL; p += DW3_GU * DW_VL) DW_FN(dw3_group_u)(r, wt, o, p, 0, 0, DW3_GU);
#endif
  for (; n - p >= DW3_G1 * DW_VL; p += DW3_G1 * DW_VL)
    DW_FN(dw3_group)(r, wt, o, p, p + (DW3_G1 - 1) * DW_VL, 0, 0, 0, DW3_G1, 1);
  switch ((n - p + DW_VL - 1) / DW_VL) {
#define DW3F_CASE(G) \
  case G: DW_FN(dw3_group)(r, wt, o, p, p + (G - 1) * DW_VL, 0, 0, 0, G, 1); break;
    DW3F_CASE(1) DW3F_CASE(2) DW3F_CASE(3) DW3F_CASE(4)
#if DW3_G1 > 4
    DW3F_CASE(5) DW3F_CASE(6) DW3F_CASE(7) DW3F_CASE(8)
#endif
#undef DW3F_CASE
  default: break;
  }
}

/* Channel nm's padded outputs o (row stride Wp) to its plane of y, then
 * its epilogue where it runs after (e_after) and the executor's fused map. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3f_out)(const dwjob *j, int64_t nm, const float *o) {
  const win2 *v = &j->v;
  float *y = j->y + nm * j->g->out_size;
  DW_FN(dw3f_rows)(y, v->OW, o, j->Wp, v->OH, v->OW);
  for (int64_t q = 0; j->e_after && q < v->OH; q++) ferry_gemm_epi_row(j->e, nm % j->g->M, 0, v->OW, y + q * v->OW);
  if (j->e->post) j->e->post(j->e->post_ctx, y, j->g->out_size); /* the executor's fused map, in cache */
}

/* Channel nm of x into the interior of the zero-padded plane pp. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dw3f_in)(const dwjob *j, int64_t nm, float *pp) {
  const win2 *v = &j->v;
  const cgeo *g = j->g;
  DW_FN(dw3f_rows)(pp + v->ph * j->Wp + v->pw, j->Wp, j->x + (nm / g->M * g->C + nm % g->M) * g->in_size, v->W, v->H,
                   v->W);
}

/* Slots s in [begin, end), each a contiguous share of the channels. A
 * channel is copied into the interior of a zero-padded plane (row stride
 * j->Wp: conv.c dw3f_setup). Laid end to end, the padded rows make the
 * convolution a one-row one: output p = oh Wp + ow is the three taps of
 * the plane at p, p + Wp and p + 2 Wp (a tap past a row's end reads the
 * next row's left pad, which Wp leaves there), swept by dw3f_sweep; then
 * the OW outputs of each row go to y. Each slot has two planes and two
 * output buffers, used in turn: the next channel is copied in, and the one
 * before copied out, while a channel's sweep is between them, so no load
 * reads what the stores just before it left in the store buffer (vectors
 * that straddle two narrower stores do not forward: on a Zen 3 a 576 x
 * 14x14 layer ran half as fast when each sweep followed its own copy). */
DW_ATTR static void DW_FN(dw3f_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const cgeo *g = j->g;
  const int64_t total = g->N * g->M, Wp = j->Wp, n = j->v.OH * Wp;
  for (int64_t s = begin; s < end; s++) {
    float *pp[2], *o[2], *wt = j->slots + (size_t)s * j->slot_floats;
    pp[0] = wt + 16, pp[1] = pp[0] + j->band_floats;
    o[0] = pp[1] + j->band_floats, o[1] = o[0] + j->slack_floats;
    f32_zero(pp[0], 2 * (int64_t)j->band_floats); /* once per slot: channels only overwrite the interior */
    int64_t first = s * total / j->n_slots, last = (s + 1) * total / j->n_slots;
    if (first < last) DW_FN(dw3f_in)(j, first, pp[0]);
    for (int64_t nm = first; nm < last; nm++) {
      int b = (int)((nm - first) & 1);
      const float *r[3] = {pp[b], pp[b] + Wp, pp[b] + 2 * Wp};
      dw3_consts(j, nm % g->M, wt);
      DW_FN(dw3f_sweep)(r, wt, o[b], n);
      if (nm + 1 < last) DW_FN(dw3f_in)(j, nm + 1, pp[!b]);
      if (nm > first) DW_FN(dw3f_out)(j, nm - 1, o[!b]);
    }
    if (first < last) DW_FN(dw3f_out)(j, last - 1, o[(last - 1 - first) & 1]);
  }
}

/* ---- 3x3 convolutions over few input channels (a network's first layer) ---- */

#define DC_MB 8 /* output channels computed at once (8 independent sums; 4 or 6, or two vectors
                   of 4 channels, measured slower: docs/kernels.md) */

/* One output vector from column `at` (left: the row's first, pw 1; right:
 * its last, reading one column past the row, stride 1) of DC_MB output
 * channels: rows r[3c + ki] of the C input channels; cb the block's
 * constants (dc_fill: the weights [C][3][3][DC_MB] times each channel's
 * epilogue scale, then shift, lo and hi [DC_MB]); y the first channel's
 * output row, the others `plane` floats on. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dc_vector)(const float *const *r, int64_t C,
                                                                            const float *cb, float *y, int64_t plane,
                                                                            int64_t at, int64_t pw, int left,
                                                                            int right, const int S) {
  DW_V acc[DC_MB];
  const float *ce = cb + 9 * C * DC_MB;
  DW_UNROLL for (int mb = 0; mb < DC_MB; mb++) acc[mb] = DW_FN(dw3_splat)(ce[mb]);
  for (int64_t q = 0; q < 3 * C; q++, cb += 3 * DC_MB) {
    DW_V x[3];
    if (S == 1) {
      x[0] = DW_FN(dw3_tap1)(r[q], at, pw, left, 0, 0);
      x[1] = DW_FN(dw3_tap1)(r[q], at, pw, 0, 0, 1);
      x[2] = DW_FN(dw3_tap1)(r[q], at, pw, 0, right, 2);
    } else {
      DW_FN(dw3_taps2)(r[q], at, left, &x[0], &x[1], &x[2]);
    }
    DW_UNROLL for (int kj = 0; kj < 3; kj++)
      DW_UNROLL for (int mb = 0; mb < DC_MB; mb++)
        acc[mb] = FERRY_VMADD(DW_FN(dw3_splat)(cb[kj * DC_MB + mb]), x[kj], acc[mb]);
  }
  DW_UNROLL for (int mb = 0; mb < DC_MB; mb++)
    DW_FN(dw3_out)(y + mb * plane + at, acc[mb], DW_FN(dw3_splat)(ce[DC_MB + mb]),
                   DW_FN(dw3_splat)(ce[2 * DC_MB + mb]), S);
}

/* Output row oh of image n, every output channel, DC_MB at a time (a last
 * block past M writes into scratch instead): input rows read in place as
 * in dw3_plane (zrow: zeros). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dc_row)(const dwjob *j, int64_t n, int64_t oh,
                                                                         const float *zrow, float *spare,
                                                                         const int S) {
  const cgeo *g = j->g;
  const int64_t OW = j->v.OW, H = j->v.H, W = j->v.W, C = g->C, M = g->M, pw = j->v.pw;
  const int64_t per = (9 * C + 3) * DC_MB, plane = g->out_size;
  const int right = S == 1 && OW - pw + 1 == W; /* as in dw3_plane */
  const float *r[3 * DC_MAX_C];
  for (int64_t c = 0; c < C; c++)
    for (int64_t ki = 0; ki < 3; ki++) {
      int64_t ih = oh * S - j->v.ph + ki;
      r[3 * c + ki] = ih >= 0 && ih < H ? j->x + (n * C + c) * g->in_size + ih * W : zrow;
    }
  for (int64_t m0 = 0; m0 < M; m0 += DC_MB) {
    const float *cb = j->consts + m0 / DC_MB * per;
    int part = m0 + DC_MB > M; /* the block's rows go to spare, then the real ones out */
    float *y = part ? spare : j->y + (n * M + m0) * plane + oh * OW;
    int64_t ys = part ? OW : plane, ow = 0;
    for (; OW - ow > DW_VL; ow += DW_VL) DW_FN(dc_vector)(r, C, cb, y, ys, ow, pw, ow == 0 && pw, 0, S);
    DW_FN(dc_vector)(r, C, cb, y, ys, OW - DW_VL, pw, ow == 0 && pw, right, S); /* ends at OW */
    for (int64_t m = m0; m < m0 + DC_MB && m < M; m++) {
      float *ym = j->y + (n * M + m) * plane + oh * OW;
      if (part) f32_copy(ym, spare + (m - m0) * OW, OW);
      if (j->e_after) ferry_gemm_epi_row(j->e, m, 0, OW, ym);
      if (j->e->post) j->e->post(j->e->post_ctx, ym, OW); /* the executor's fused map, in cache */
    }
  }
}

/* Slots s in [begin, end): each takes a contiguous share of the (image,
 * output row) units. */
DW_ATTR static void DW_FN(dc_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const int64_t total = j->g->N * j->v.OH;
  const float *zrow = j->slots + DW3_ZPAD; /* read only: zeroed before the tasks */
  for (int64_t s = begin; s < end; s++) {
    float *spare = j->slots + j->slot_floats + (size_t)s * (size_t)(DC_MB * j->v.OW);
    for (int64_t u = s * total / j->n_slots; u < (s + 1) * total / j->n_slots; u++) {
      if (j->v.sw == 1)
        DW_FN(dc_row)(j, u / j->v.OH, u % j->v.OH, zrow, spare, 1);
      else
        DW_FN(dc_row)(j, u / j->v.OH, u % j->v.OH, zrow, spare, 2);
    }
  }
}

/* All output rows of one channel over its padded plane, two at a time. */
DW_ATTR static void DW_FN(dw_plane)(const dwjob *j, const float *buf, float *row, const DW_V *wv, const dw_epi *ep,
                                    float *y, int64_t m) {
  const win2 *v = &j->v;
  int64_t oh = 0;
#if DW_VL == 8 /* pairs pay where loads bind (AVX2 + FMA); with f32x4 (wasm: no FMA) single rows measured faster */
  for (; oh + 2 <= v->OH; oh += 2) DW_FN(dw_rows)(j, buf, row, wv, ep, y, oh, 1);
#endif
  for (; oh < v->OH; oh++) DW_FN(dw_rows)(j, buf, row, wv, ep, y, oh, 0);
  for (int64_t r = 0; j->e_after && r < v->OH; r++) ferry_gemm_epi_row(j->e, m, 0, v->OW, y + r * v->OW);
}

/* x's H x W into the interior of buf (its zero border stays). */
DW_ATTR static void DW_FN(dw_fill)(const win2 *v, const win2 *vp, const float *x, float *buf) {
  for (int64_t r = 0; r < v->H; r++) {
    float *d = buf + (v->ph + r) * vp->W + v->pw;
    const float *s = x + r * v->W;
    if (v->W >= 64) { /* long rows: libc's (or wasm's bulk-memory) copy; short ones inline */
      memcpy(d, s, (size_t)v->W * sizeof *d);
      continue;
    }
    int64_t c = 0;
    for (; c + DW_VL <= v->W; c += DW_VL) DW_FN(vstore)(d + c, DW_FN(load_strided)(s, c, 1));
    for (; c < v->W; c++) d[c] = s[c];
  }
}

/* Channels of slot s (a contiguous range), each copied into the interior
 * of the slot's zero-bordered buffer and swept two output rows at a time
 * with every tap inside and the epilogue in registers. */
DW_ATTR static void DW_FN(dw_slot_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const cgeo *g = j->g;
  const win2 *v = &j->v, *vp = &j->vp;
  DW_V wv[DW_MAX_TAPS];
  for (int64_t s = begin; s < end; s++) {
    float *buf = j->slots + (size_t)s * j->slot_floats, *row = buf + vp->H * vp->W;
    int64_t total = g->N * g->M;
    dw_zero_border(j, buf); /* once per slot: channels only overwrite the interior */
    for (int64_t nm = s * total / j->n_slots; nm < (s + 1) * total / j->n_slots; nm++) {
      int64_t n = nm / g->M, m = nm - n * g->M, c = m / g->Mg;
      const float *w = j->w + m * g->k_size;
      DW_FN(dw_fill)(v, vp, j->x + (n * g->C + c) * g->in_size, buf);
      for (int64_t t = 0; t < g->k_size; t++) wv[t] = (DW_V){0} + w[t];
      dw_epi ep;
      dw_epi_for(j, m, &ep);
      DW_FN(dw_plane)(j, buf, row, wv, &ep, j->y + nm * g->out_size, m);
    }
  }
}
