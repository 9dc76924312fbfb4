/*
 * conv_winograd_tf.h - the Winograd transforms of conv_winograd.c on one
 * vector type, written once and included there once per width (like
 * pool_row.h): lane l of every vector is the l-th tile of a group, so the
 * same code transforms four tiles in f32x4 (every build) and eight in f32x8
 * (the AVX2 copy of x86-64 builds). The arithmetic is the same in both,
 * so the results are the same bits.
 *
 * conv_winograd.c defines before including:
 *   WT_V        the vector type
 *   WT_ATTR     attributes of every function here (empty, or the target)
 *   WT_FN(name) the function's name for this width
 * and the type wepi (an output channel's folded epilogue).
 */

/* F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] on 4 values. */
WT_ATTR FERRY_VINLINE void WT_FN(bt4)(const WT_V *d, int s, WT_V *r, int rs) {
  WT_V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s];
  r[0] = d0 - d2, r[rs] = d1 + d2, r[2 * rs] = d2 - d1, r[3 * rs] = d1 - d3;
}

/* F(4x4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *                0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]. */
WT_ATTR FERRY_VINLINE void WT_FN(bt6)(const WT_V *d, int s, WT_V *r, int rs) {
  WT_V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  WT_V p = d4 - 4 * d2, q = d3 - 4 * d1, u = d4 - d2, w = 2 * (d3 - d1);
  r[0] = 4 * d0 - 5 * d2 + d4;
  r[rs] = p + q, r[2 * rs] = p - q;
  r[3 * rs] = u + w, r[4 * rs] = u - w;
  r[5 * rs] = 4 * d1 - 5 * d3 + d5;
}

/* F(2x2): A^T = [1 1 1 0; 0 1 -1 -1]. */
WT_ATTR FERRY_VINLINE void WT_FN(at4)(const WT_V *m, int s, WT_V *y, int ys) {
  WT_V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s];
  y[0] = m0 + m1 + m2, y[ys] = m1 - m2 - m3;
}

/* F(4x4): A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
WT_ATTR FERRY_VINLINE void WT_FN(at6)(const WT_V *m, int s, WT_V *y, int ys) {
  WT_V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
  WT_V a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  y[0] = m0 + a + c, y[ys] = b + 2 * d, y[2 * ys] = a + 4 * c, y[3 * ys] = b + 8 * d + m5;
}

/* v[a*a] = B^T d B for the a x a patches d (row-major). */
WT_ATTR FERRY_VINLINE void WT_FN(input_tiles)(int a, const WT_V *d, WT_V *v) {
  WT_V r[36];
  for (int j = 0; j < a; j++) a == 4 ? WT_FN(bt4)(d + j, 4, r + j, 4) : WT_FN(bt6)(d + j, 6, r + j, 6); /* columns */
  for (int i = 0; i < a; i++) a == 4 ? WT_FN(bt4)(r + i * 4, 1, v + i * 4, 1) : WT_FN(bt6)(r + i * 6, 1, v + i * 6, 1);
}

/* y[m*m] = A^T mm A. */
WT_ATTR FERRY_VINLINE void WT_FN(output_tiles)(int a, const WT_V *mm, WT_V *y) {
  WT_V s[24];
  int m = a - 2;
  for (int j = 0; j < a; j++) a == 4 ? WT_FN(at4)(mm + j, 4, s + j, 4) : WT_FN(at6)(mm + j, 6, s + j, 6);
  for (int i = 0; i < m; i++) a == 4 ? WT_FN(at4)(s + i * 4, 1, y + i * 2, 1) : WT_FN(at6)(s + i * 6, 1, y + i * 4, 1);
}

/* The output channel's epilogue on n vectors of finished tile values, in
 * the registers the output transform leaves them in: y = clamp(y * sc +
 * sh, lo, hi), a NaN passing the clamps (FERRY_VPMAX / FERRY_VPMIN). */
WT_ATTR FERRY_VINLINE void WT_FN(epi_tiles)(const wepi *w, WT_V *y, int n) {
  WT_V sc = (WT_V){0} + w->sc, sh = (WT_V){0} + w->sh, lo = (WT_V){0} + w->lo, hi = (WT_V){0} + w->hi;
  for (int k = 0; k < n; k++) {
    WT_V v = y[k] * sc;
    if (w->bias) v += sh;
    y[k] = FERRY_VPMIN(FERRY_VPMAX(v, lo), hi);
  }
}
