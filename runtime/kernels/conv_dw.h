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
