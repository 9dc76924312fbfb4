/*
 * conv_dwc.h - depthwise convolution over blocks of DW_VL channels, the
 * layout onnxruntime's NCHWc kernels use, made locally: included by conv.c
 * after conv_dw.h, with the same macros (DW_V, DW_VL, DW_ATTR, DW_FN), once
 * per instruction set.
 *
 * A plane-at-a-time kernel (conv_dw.h) runs its vectors along an output
 * row, so small planes (7x7: one short vector a row) and stride 2 (two
 * loads and shuffles a vector) waste most of each vector. Here a vector
 * holds one pixel of DW_VL channels instead, so every tap of every output
 * is one aligned load and one multiply-add, whatever the plane size,
 * stride or dilation:
 *
 *   DW_FN(dwc_pack)    a band of input rows of DW_VL channels, transposed
 *                      (DW_VL x DW_VL blocks in registers) into P[row][col][lane]
 *                      with a zero border, so no tap needs a bounds check;
 *   DW_FN(dwc_band)    the band's output rows, DWC_GROUP pixels at a time
 *                      (8 natively, 4 in wasm: independent multiply-add
 *                      chains; a row's last group computes spare pixels, so
 *                      there is no scalar tail), into T[col][lane]; the
 *                      sums start at the bias and the epilogue's scale is in
 *                      the weights, so Relu/Clip/HardSigmoid is a clamp;
 *   DW_FN(dwc_unpack)  each T row (a band's rows at once when narrower than a
 *                      vector) transposed back into the channel planes;
 *   DW_FN(dwc_task)    slots of (image, channel block) units, bands of output
 *                      rows sized so that P stays in cache (conv.c's dwc_setup);
 *                      a block's weights and epilogue come from conv.c's
 *                      dwc_consts, made once per node when they are constant.
 */

/* The kernel-row loop of a group: unrolled, except in wasm, where clang
 * then hoists every row's loads to the top and V8, which keeps wasm's
 * order and has 15 vector registers, spills most of them; a loop keeps one
 * row's pixels, its weights and the sums live. */
#ifndef DWC_KROWS
#if defined(__wasm__)
#define DWC_KROWS _Pragma("clang loop unroll(disable)")
#else
#define DWC_KROWS DW_UNROLL
#endif
#endif

/* r[i][l] -> r[l][i]: a DW_VL x DW_VL transpose in registers. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(transpose)(DW_V *r) {
#if DW_VL == 8
  DW_V t[8], s[8];
  DW_UNROLL for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  DW_UNROLL for (int i = 0; i < 8; i += 4)
    DW_UNROLL for (int h = 0; h < 2; h++) {
      s[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      s[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  DW_UNROLL for (int i = 0; i < 4; i++) {
    r[i] = __builtin_shufflevector(s[i], s[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[i + 4] = __builtin_shufflevector(s[i], s[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#else
  f32x4_transpose(r);
#endif
}

/* n pixels of zeros at d (vector stores: a memset of a few bytes is a
 * runtime call in wasm engines). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dwc_zero)(float *d, int64_t n) {
  for (int64_t i = 0; i < n; i++) DW_FN(vstore)(d + i * DW_VL, (DW_V){0});
}

/* Image rows [r0, r0 + rows) (zeros outside the image) of the channels at
 * src[0 .. DW_VL) (each a plane; a block's missing channels repeat its last)
 * into P: [rows][Wp][DW_VL], image column iw at iw + pw. */
DW_ATTR static void DW_FN(dwc_pack)(const dwjob *j, const float *const *src, int64_t r0, int64_t rows, float *P) {
  const win2 *v = &j->v;
  const int64_t Wp = j->Wp, right = Wp - v->pw - v->W;
  for (int64_t r = 0; r < rows; r++) {
    float *d = P + r * Wp * DW_VL;
    int64_t ih = r0 + r;
    if (ih < 0 || ih >= v->H) {
      DW_FN(dwc_zero)(d, Wp);
      continue;
    }
    DW_FN(dwc_zero)(d, v->pw);
    d += v->pw * DW_VL;
    /* whole vectors, the last of a row reading on into the next row; at
     * the plane's end, back into the row before instead (only this row's
     * pixels are stored); a plane smaller than a vector point by point */
    int64_t iw = 0, off = ih * v->W, vec_end = off + v->W + DW_VL <= j->g->in_size ? v->W : v->W - DW_VL + 1;
    for (; iw < vec_end; iw += DW_VL) {
      DW_V t[DW_VL];
      DW_UNROLL for (int c = 0; c < DW_VL; c++) memcpy(&t[c], src[c] + off + iw, sizeof t[c]);
      DW_FN(transpose)(t);
      if (iw + DW_VL <= v->W) {
        DW_UNROLL for (int c = 0; c < DW_VL; c++) DW_FN(vstore)(d + (iw + c) * DW_VL, t[c]);
      } else {
        for (int c = 0; c < v->W - iw; c++) DW_FN(vstore)(d + (iw + c) * DW_VL, t[c]);
      }
    }
    if (iw < v->W && off + v->W >= DW_VL) {
      const int64_t at = v->W - DW_VL;
      DW_V t[DW_VL];
      DW_UNROLL for (int c = 0; c < DW_VL; c++) memcpy(&t[c], src[c] + off + at, sizeof t[c]);
      DW_FN(transpose)(t);
      for (int64_t c = iw - at; c < DW_VL; c++) DW_FN(vstore)(d + (at + c) * DW_VL, t[c]);
      iw = v->W;
    }
    for (; iw < v->W; iw++)
      for (int c = 0; c < DW_VL; c++) d[iw * DW_VL + c] = src[c][off + iw];
    DW_FN(dwc_zero)(d + v->W * DW_VL, right);
  }
}

/* n pixels of T (DW_VL channels each) into the first nch channel planes
 * at y (plane stride out_size) from pixel p0 on. Whole vectors: one that
 * would pass the plane's end is taken back to end at n (storing some of
 * its pixels twice), or, when n < DW_VL, the tail goes point by point;
 * one that passes n but not the plane spills into pixels written later. */
DW_ATTR static void DW_FN(dwc_unpack)(const dwjob *j, const float *T, int64_t nch, float *y, int64_t p0, int64_t n) {
  const int64_t plane = j->g->out_size;
  y += p0;
  int64_t i = 0;
  for (; i < n; i += DW_VL) {
    int64_t at = i;
    if (p0 + i + DW_VL > plane) {
      if (n < DW_VL) break;
      at = n - DW_VL;
    }
    DW_V t[DW_VL];
    DW_UNROLL for (int c = 0; c < DW_VL; c++) memcpy(&t[c], T + (at + c) * DW_VL, sizeof t[c]);
    DW_FN(transpose)(t);
    for (int64_t c = 0; c < nch; c++) DW_FN(vstore)(y + c * plane + at, t[c]);
  }
  for (; i < n; i++)
    for (int64_t c = 0; c < nch; c++) y[c * plane + i] = T[i * DW_VL + c];
}

/* The epilogue of one pixel vector: clamp(acc, lo, hi) (the scale is in
 * the weights, the shift in the sums' start). */
DW_ATTR static inline __attribute__((always_inline)) DW_V DW_FN(dwc_epi)(const DW_V *ep, DW_V acc) {
  return FERRY_VPMIN(FERRY_VPMAX(acc, ep[1]), ep[2]); /* simd.h: pmax, pmin in wasm */
}

/* G pixels of T from the window origin at `base` on: stride S, a KH x KW
 * kernel at dilation 1, all constants, so every loop unrolls and the G
 * sums are G independent chains of multiply-adds (8 hide the latency of
 * an FMA natively; 4 in wasm, where V8 spills more). */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dwc_group)(const float *base, int64_t Wp,
                                                                            const DW_V *wv, const DW_V *ep, float *T,
                                                                            const int G, const int64_t S,
                                                                            const int64_t KH, const int64_t KW) {
  DW_V a[DWC_GROUP];
  DW_UNROLL for (int g = 0; g < G; g++) a[g] = ep[0];
  DWC_KROWS for (int64_t ki = 0; ki < KH; ki++) {
    const float *q = base + ki * Wp * DW_VL;
    DW_V xs[4 * 2 + 5 - 1]; /* stride > 1: the row's pixels loaded once for all G outputs (G = 4) */
    if (S > 1) DW_UNROLL for (int64_t p = 0; p < (G - 1) * S + KW; p++) memcpy(&xs[p], q + p * DW_VL, sizeof xs[p]);
    DW_UNROLL for (int64_t kj = 0; kj < KW; kj++) {
      DW_V wk = wv[ki * KW + kj];
      DW_UNROLL for (int g = 0; g < G; g++) {
        DW_V x;
        if (S > 1)
          x = xs[g * S + kj];
        else
          memcpy(&x, q + (g * S + kj) * DW_VL, sizeof x);
        a[g] = FERRY_VMADD(wk, x, a[g]);
      }
    }
  }
  DW_UNROLL for (int g = 0; g < G; g++) DW_FN(vstore)(T + g * DW_VL, DW_FN(dwc_epi)(ep, a[g]));
}

/* Output row oh - oh0 of the band into T, DWC_GROUP pixels at a time (a
 * last group of 4 where at most 4 are left). Stride S and a KH x KW
 * kernel at dilation 1 when they are constants (the tap loops unroll); 0:
 * from v, four pixels at a time. P's rows start at image row oh0 * sh - ph. */
DW_ATTR static inline __attribute__((always_inline)) void DW_FN(dwc_row)(const dwjob *j, const float *P,
                                                                          const DW_V *wv, const DW_V *ep, int64_t r,
                                                                          float *T, const int64_t S, const int64_t KH,
                                                                          const int64_t KW) {
  const win2 *v = &j->v;
  const int64_t Wp = j->Wp, OW = v->OW;
  if (S) {
    const float *base = P + r * S * Wp * DW_VL;
    int64_t ow = 0;
    for (; DWC_GROUP > 4 && S == 1 && OW - ow > 4; ow += DWC_GROUP) /* past OW: spare pixels, read from P's next row or slack */
      DW_FN(dwc_group)(base + ow * S * DW_VL, Wp, wv, ep, T + ow * DW_VL, DWC_GROUP, S, KH, KW);
    for (; ow < OW; ow += 4) DW_FN(dwc_group)(base + ow * S * DW_VL, Wp, wv, ep, T + ow * DW_VL, 4, S, KH, KW);
    return;
  }
  const int64_t sw = v->sw, kh = v->kh, kw = v->kw, dh = v->dh, dw = v->dw, step = sw * DW_VL;
  const float *base = P + r * v->sh * Wp * DW_VL;
  for (int64_t ow = 0; ow < OW; ow += 4) {
    DW_V a0 = ep[0], a1 = ep[0], a2 = ep[0], a3 = ep[0];
    for (int64_t ki = 0; ki < kh; ki++)
      for (int64_t kj = 0; kj < kw; kj++) {
        const float *q = base + (ki * dh * Wp + ow * sw + kj * dw) * DW_VL;
        DW_V wk = wv[ki * kw + kj], x0, x1, x2, x3;
        memcpy(&x0, q, sizeof x0), memcpy(&x1, q + step, sizeof x1);
        memcpy(&x2, q + 2 * step, sizeof x2), memcpy(&x3, q + 3 * step, sizeof x3);
        a0 = FERRY_VMADD(wk, x0, a0), a1 = FERRY_VMADD(wk, x1, a1);
        a2 = FERRY_VMADD(wk, x2, a2), a3 = FERRY_VMADD(wk, x3, a3);
      }
    DW_FN(vstore)(T + ow * DW_VL, DW_FN(dwc_epi)(ep, a0));
    DW_FN(vstore)(T + (ow + 1) * DW_VL, DW_FN(dwc_epi)(ep, a1));
    DW_FN(vstore)(T + (ow + 2) * DW_VL, DW_FN(dwc_epi)(ep, a2));
    DW_FN(vstore)(T + (ow + 3) * DW_VL, DW_FN(dwc_epi)(ep, a3));
  }
}

/* Output rows [oh0, oh1) of one channel block: packed band in P, each row
 * computed into T and unpacked into the nch planes at y (channel m0 first). */
DW_ATTR static void DW_FN(dwc_band)(const dwjob *j, const float *P, const DW_V *wv, const DW_V *ep, int64_t oh0,
                                    int64_t oh1, float *T, float *y, int64_t nch, int64_t m0) {
  const win2 *v = &j->v;
  int unit = v->dh == 1 && v->dw == 1 && v->sh == v->sw;
  int k3 = unit && v->kh == 3 && v->kw == 3, k5 = unit && v->kh == 5 && v->kw == 5;
  const int64_t OW = v->OW, flat = OW < DW_VL; /* narrow rows: the band's rows one after another in T */
  for (int64_t oh = oh0; oh < oh1; oh++) {
    int64_t r = oh - oh0;
    float *Tr = flat ? T + r * OW * DW_VL : T;
    if (k3 && v->sw == 1)
      DW_FN(dwc_row)(j, P, wv, ep, r, Tr, 1, 3, 3);
    else if (k3 && v->sw == 2)
      DW_FN(dwc_row)(j, P, wv, ep, r, Tr, 2, 3, 3);
    else if (k5 && v->sw == 1)
      DW_FN(dwc_row)(j, P, wv, ep, r, Tr, 1, 5, 5);
    else if (k5 && v->sw == 2)
      DW_FN(dwc_row)(j, P, wv, ep, r, Tr, 2, 5, 5);
    else
      DW_FN(dwc_row)(j, P, wv, ep, r, Tr, 0, 0, 0);
    if (!flat) DW_FN(dwc_unpack)(j, T, nch, y, oh * OW, OW);
  }
  if (flat) DW_FN(dwc_unpack)(j, T, nch, y, oh0 * OW, (oh1 - oh0) * OW);
  for (int64_t oh = oh0; j->e_after && oh < oh1; oh++)
    for (int64_t c = 0; c < nch; c++) ferry_gemm_epi_row(j->e, m0 + c, 0, OW, y + oh * OW + c * j->g->out_size);
  for (int64_t c = 0; j->e->post && c < nch; c++) /* the executor's fused map, while the rows are in cache */
    j->e->post(j->e->post_ctx, y + c * j->g->out_size + oh0 * OW, (oh1 - oh0) * OW);
}

/* Slots s in [begin, end): each takes its share of the (image, channel
 * block) units and runs them band by band in its own P and T buffers. */
DW_ATTR static void DW_FN(dwc_task)(void *arg, int64_t begin, int64_t end) {
  const dwjob *j = arg;
  const cgeo *g = j->g;
  const win2 *v = &j->v;
  const int64_t nblk = (g->M + DW_VL - 1) / DW_VL, total = g->N * nblk;
  const int64_t per = (g->k_size + 3) * DW_VL; /* floats of a block's constants (dwc_consts) */
  DW_V own[DW_MAX_TAPS + 3];
  for (int64_t s = begin; s < end; s++) {
    float *P = j->slots + (size_t)s * j->slot_floats, *T = P + j->band_floats + j->slack_floats;
    f32_zero(P + j->band_floats, (int64_t)j->slack_floats); /* what the last groups read past P */
    for (int64_t u = s * total / j->n_slots; u < (s + 1) * total / j->n_slots; u++) {
      int64_t n = u / nblk, b = u - n * nblk, m0 = b * DW_VL, nch = g->M - m0 < DW_VL ? g->M - m0 : DW_VL;
      const DW_V *wv = own;
      if (j->consts)
        wv = (const DW_V *)(const void *)(j->consts + b * per);
      else
        dwc_consts(j, DW_VL, m0, (float *)own);
      const DW_V *ep = wv + g->k_size;
      const float *src[DW_VL];
      for (int c = 0; c < DW_VL; c++) src[c] = j->x + (n * g->C + m0 + (c < nch ? c : nch - 1)) * g->in_size;
      float *y = j->y + (n * g->M + m0) * g->out_size;
      for (int64_t oh0 = 0; oh0 < v->OH; oh0 += j->band) {
        int64_t oh1 = oh0 + j->band < v->OH ? oh0 + j->band : v->OH;
        DW_FN(dwc_pack)(j, src, oh0 * v->sh - v->ph, (oh1 - oh0 - 1) * v->sh + (v->kh - 1) * v->dh + 1, P);
        DW_FN(dwc_band)(j, P, wv, ep, oh0, oh1, T, y, nch, m0);
      }
    }
  }
}
