/*
 * gemm_ukernel.h - the GEMM micro-kernel, written once and included by
 * gemm.c once per instruction set it is compiled for (the generic build,
 * and on x86-64 again inside `target("avx2,fma")` functions), so every
 * variant is the same vector-extension source.
 *
 * Before including, gemm.c defines:
 *   UK_NAME   the function's name
 *   UK_ATTR   its attributes (empty, or the target and fp-contract ones)
 *   UK_V      the float vector type, UK_VL its lanes; UK_I the int vector
 *             of the same size (comparison masks)
 *   MR, NR    the register tile (rows of the A panel, columns of the B panel)
 *   uk_out    the struct saying where the tile goes (gemm.c)
 *
 * UK_NAME##_narrow (at the end) does the same for an edge panel of one or
 * two columns, without the register tile.
 *
 * UK_NAME(kc, a, b, bs, t, o) computes the MR x NR tile A panel * B panel
 * over kc values of k: a holds MR values per k (gemm.c's packed layout), b
 * NR values per k, bs floats apart (NR in a packed panel, B's row stride
 * when gemm.c reads a plain B in place). With o NULL it writes the tile to t[MR][NR] (edge tiles
 * and epilogues the kernel does not do; with `half` only its first NR / 2
 * columns, for a panel that narrow); else o->tiles tiles down C, from
 * consecutive A panels (o->as floats apart: kc * MR, more in a prepacked
 * A read over part of its k), each straight from the
 * accumulators to C at o->c (row stride o->ldc; the last tile's first
 * o->mr rows: fewer than MR at the bottom edge of C): stored, or added to C
 * (o->acc, later k-blocks), and on the last k-block (o->epi) scaled by
 * alpha, plus a bias (a scalar per row, or a vector per row of
 * contiguous columns times beta), through Relu or Clip. The clamps are
 * `x < lo ? lo : x` and `hi < x ? hi : x` (FERRY_VPMAX / VPMIN: NaN passes
 * through as in the scalar epilogue; one pmax / pmin each in wasm).
 *
 * The tile is computed in passes of 2 * UK_VL columns: one pass when the
 * vectors are wide enough (f32x8 and NR 16), two with f32x4, so MR x 2
 * accumulators plus two B vectors and a broadcast A value stay within the
 * 16 vector registers of x86-64 and V8's wasm SIMD. `c += b * a` is
 * contracted to one fused multiply-add where the function targets FMA
 * (fp-contract fast), and is f32x4.relaxed_madd in the relaxed-SIMD wasm
 * build (clang -mrelaxed-simd: V8 makes it one vfmadd where the CPU has
 * FMA, and a multiply and an add where not).
 */

#define UK_CAT2(a, b) a##b
#define UK_CAT(a, b) UK_CAT2(a, b)
#define UK_TILE UK_CAT(UK_NAME, _tile)

#if MR == 3
#define UK_ROWS(X) X(0) X(1) X(2)
#elif MR == 4
#define UK_ROWS(X) X(0) X(1) X(2) X(3)
#elif MR == 5
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4)
#elif MR == 6
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#else
#error "gemm_ukernel.h: MR must be 3 to 6"
#endif

#define UK_DECL(r) UK_V c##r##0 = {0}, c##r##1 = {0};
#if defined(__wasm__) && UK_VL == 4
/* The k loop's loads in wasm carry their offsets (simd.h FERRY_VLOAD_AT):
 * V8's code for the loop drops from 28-30 instructions to about 22, and
 * ferry.wasm's GEMM runs 4-5% faster (ferry-relaxed.wasm's, bound by its
 * eight multiply-add chains rather than by the front end, level). */
#define UK_LOAD_B(v, k) v = FERRY_VLOAD_AT(b, (k) * (int)sizeof(UK_V))
#define UK_A_VEC(r) FERRY_VSPLAT_AT(a, (r) * (int)sizeof(float)) /* a[r] in every lane */
#else
#define UK_LOAD_B(v, k) memcpy(&v, b + (k) * UK_VL, sizeof v)
#endif
#if defined(__wasm_relaxed_simd__) && UK_VL == 4
/* the relaxed-SIMD wasm build (ferry-relaxed.wasm): f32x4.relaxed_madd,
 * one fused multiply-add where the CPU has FMA, instead of two ops */
#define UK_FMA(r)                                                          \
  {                                                                        \
    UK_V s = UK_A_VEC(r);                                                  \
    c##r##0 = __builtin_wasm_relaxed_madd_f32x4(b0, s, c##r##0);           \
    if (W1) c##r##1 = __builtin_wasm_relaxed_madd_f32x4(b1, s, c##r##1); \
  }
#elif defined(__wasm__) && UK_VL == 4
/* ferry.wasm: the A values are loaded first (UK_SPLATS_FIRST), each row's
 * products then use its s##r */
#define UK_SPLATS_FIRST 1
#define UK_SPLAT(r) UK_V s##r = UK_A_VEC(r);
#define UK_FMA(r)       \
  c##r##0 += b0 * s##r; \
  if (W1) c##r##1 += b1 * s##r;
#else
#define UK_FMA(r)       \
  c##r##0 += b0 * a[r]; \
  if (W1) c##r##1 += b1 * a[r];
#endif
#define UK_STORE_T(r)                                 \
  memcpy(t + (r)*NR + h, &c##r##0, sizeof c##r##0); \
  if (W1) memcpy(t + (r)*NR + h + UK_VL, &c##r##1, sizeof c##r##1);
/* the two vectors of row r in C: load, store, through a function F */
#define UK_ADD_C(r)                                   \
  if ((r) < mr) {                                     \
    UK_V x0, x1;                                      \
    memcpy(&x0, c + (r)*ldc, sizeof x0);              \
    memcpy(&x1, c + (r)*ldc + UK_VL, sizeof x1);      \
    c##r##0 += x0, c##r##1 += x1;                     \
  }
#define UK_SCALE(r) c##r##0 *= al, c##r##1 *= al;
#define UK_ROW_BIAS(r) c##r##0 += rb[r], c##r##1 += rb[r];
#define UK_COL_BIAS(r)                                    \
  if ((r) < mr) {                                         \
    UK_V x0, x1;                                          \
    memcpy(&x0, cb + (r)*o->cb_rs + h, sizeof x0);        \
    memcpy(&x1, cb + (r)*o->cb_rs + h + UK_VL, sizeof x1); \
    c##r##0 += x0 * beta, c##r##1 += x1 * beta;           \
  }
#define UK_PMAX(x, lo) x = FERRY_VPMAX(x, lo) /* lo where x < lo: NaN stays */
#define UK_PMIN(x, hi) x = FERRY_VPMIN(x, hi)
#define UK_RELU(r) UK_PMAX(c##r##0, zero), UK_PMAX(c##r##1, zero);
#define UK_CLIP(r) UK_PMAX(c##r##0, lo), UK_PMAX(c##r##1, lo), UK_PMIN(c##r##0, hi), UK_PMIN(c##r##1, hi);
#define UK_STORE_C(r)                                    \
  if ((r) < mr) {                                        \
    memcpy(c + (r)*ldc, &c##r##0, sizeof c##r##0);       \
    memcpy(c + (r)*ldc + UK_VL, &c##r##1, sizeof c##r##1); \
  }

/* One MR x NR tile (the body of UK_NAME); HALF (only with t): its first
 * NR / 2 columns. */
UK_ATTR static inline __attribute__((always_inline)) void UK_TILE(int64_t kc, const float *a0, const float *b0p,
                                                                  int64_t bs, float *t, const uk_out *o, float *c0,
                                                                  int mr, const float *rb, const float *cb,
                                                                  const float *pf, int64_t pfs, const int PF,
                                                                  const int HALF) {
  const int W1 = !(HALF && 2 * UK_VL > NR / 2); /* the pass's second vector is needed */
  for (int h = 0; h < (HALF ? NR / 2 : NR); h += 2 * UK_VL) {
    UK_ROWS(UK_DECL)
    const float *a = a0, *b = b0p + h;
    for (int64_t p = 0; p < kc; p++) {
      if (PF) __builtin_prefetch(pf + p * pfs); /* the next B panel, a row of it per k */
      UK_V b0, b1 = {0};
#ifdef UK_SPLATS_FIRST
      /* V8 puts an iteration's loads first in the wasm's order, then its
       * arithmetic from the first row: with the B vectors loaded last,
       * ferry.wasm's products run 2-3% faster (bench/gemm.wasm 256^3 43.9
       * -> 45.1 GFLOP/s, mobilenet_v2 1.7%); ferry-relaxed.wasm's got 1%
       * slower on mobilenet_v2, so it loads each A value by its row */
      UK_ROWS(UK_SPLAT)
#endif
      UK_LOAD_B(b0, 0);
      if (W1) UK_LOAD_B(b1, 1);
      UK_ROWS(UK_FMA)
      a += MR;
      b += NR < 16 ? NR : bs; /* 8-column panels are always packed (gemm.c's direct_b) */
    }
    if (!o) {
      UK_ROWS(UK_STORE_T)
      continue;
    }
    float *c = c0 + h;
    int64_t ldc = o->ldc;
    if (o->acc) {
      UK_ROWS(UK_ADD_C)
    }
    if (o->epi) {
      if (o->alpha != 1) {
        UK_V al = (UK_V){0} + o->alpha;
        UK_ROWS(UK_SCALE)
      }
      if (o->bias == UK_BIAS_ROW) {
        UK_ROWS(UK_ROW_BIAS)
      } else if (o->bias == UK_BIAS_COL) {
        float beta = o->beta;
        UK_ROWS(UK_COL_BIAS)
      }
      if (o->act == FERRY_ACT_RELU) {
        UK_V zero = (UK_V){0} + o->lo; /* 0 for Relu (direct_setup) */
        UK_ROWS(UK_RELU)
      } else if (o->act == FERRY_ACT_CLIP) {
        UK_V lo = (UK_V){0} + o->lo, hi = (UK_V){0} + o->hi;
        UK_ROWS(UK_CLIP)
      }
    }
    UK_ROWS(UK_STORE_C)
  }
}

UK_ATTR static void UK_NAME(int64_t kc, const float *a, const float *b, int64_t bs, float *t, const uk_out *o,
                            int half) {
  if (!o) { /* edge tiles: half, when the panel has at most NR / 2 columns */
    if (half)
      UK_TILE(kc, a, b, bs, t, NULL, NULL, MR, NULL, NULL, NULL, 0, 0, 1);
    else
      UK_TILE(kc, a, b, bs, t, NULL, NULL, MR, NULL, NULL, NULL, 0, 0, 0);
    return;
  }
  /* o->tiles tiles down the rows of C (one call for a column panel: the
   * call's overhead counts when kc is small), the last of o->mr rows; the
   * first tile also prefetches the next B panel (o->pf: rows o->pfs apart) */
  float *c = o->c;
  const float *rb = o->rb, *cb = o->cb;
  for (int i = 0; i < o->tiles; i++) {
    if (i == 0 && o->pf)
      UK_TILE(kc, a, b, bs, NULL, o, c, i + 1 < o->tiles ? MR : o->mr, rb, cb, o->pf, o->pfs, 1, 0);
    else
      UK_TILE(kc, a, b, bs, NULL, o, c, i + 1 < o->tiles ? MR : o->mr, rb, cb, NULL, 0, 0, 0);
    a += o->as, c += MR * o->ldc;
    if (rb) rb += MR;
    if (cb) cb += MR * o->cb_rs;
  }
}

/* UK_NARROW(kc, a, bx, nr, t): the tile A panel * B for a B panel of
 * nr <= NARROW_NR columns, into t[MR][NR] (its first nr columns). A tile
 * that narrow in the kernel above keeps MR accumulators, one per row, each
 * waiting on its last multiply-add every k (latency-bound: a one-column
 * edge cost three quarters of a full panel). Here bx holds each column
 * expanded to A's packed layout (column jj's value at k repeated MR times
 * from bx[(jj * kc + k) * MR], gemm.c's expand_b), so a column is a flat
 * product of two kc * MR arrays in vectors: NARROW_ACC independent
 * accumulators, each lane always on the same row (NARROW_ACC * UK_VL is a
 * multiple of MR), summed per row at the end. */
#define UK_NARROW UK_CAT(UK_NAME, _narrow)
#if defined(__wasm_relaxed_simd__) && UK_VL == 4
#define UK_MADD(x, y, acc) __builtin_wasm_relaxed_madd_f32x4(x, y, acc)
#else
#define UK_MADD(x, y, acc) ((acc) + (x) * (y))
#endif
/* accumulators until the lanes' rows repeat: MR / gcd(MR, UK_VL), for UK_VL a multiple of 4 */
#define NARROW_PERIOD (MR % 4 == 0 ? MR / 4 : MR % 2 == 0 ? MR / 2 : MR)
_Static_assert(NARROW_PERIOD * UK_VL % MR == 0 && NARROW_ACC % NARROW_PERIOD == 0,
               "every lane of an accumulator must stay on one row");
UK_ATTR static void UK_NARROW(int64_t kc, const float *a, const float *bx, int nr, float *t) {
  const int64_t n = kc * MR, step = NARROW_ACC * UK_VL;
  for (int jj = 0; jj < nr; jj++) {
    const float *b = bx + jj * n;
    UK_V acc[NARROW_ACC];
    FERRY_UNROLL_FULL for (int g = 0; g < NARROW_ACC; g++) acc[g] = (UK_V){0};
    int64_t i = 0;
    for (; i + step <= n; i += step)
      FERRY_UNROLL_FULL for (int g = 0; g < NARROW_ACC; g++) {
        UK_V x, y;
        memcpy(&x, a + i + g * UK_VL, sizeof x);
        memcpy(&y, b + i + g * UK_VL, sizeof y);
        acc[g] = UK_MADD(x, y, acc[g]);
      }
    /* accumulators NARROW_PERIOD apart share their lanes' rows: add them
     * as vectors, then the lanes of the first NARROW_PERIOD by row */
    for (int g = NARROW_PERIOD; g < NARROW_ACC; g++) acc[g % NARROW_PERIOD] += acc[g];
    float lanes[NARROW_PERIOD * UK_VL], row[MR] = {0};
    memcpy(lanes, acc, sizeof lanes);
    for (int f = 0; f < NARROW_PERIOD * UK_VL; f += MR)
      for (int r = 0; r < MR; r++) row[r] += lanes[f + r];
    for (; i < n; i++) row[i % MR] += a[i] * b[i]; /* i starts at a multiple of MR */
    for (int r = 0; r < MR; r++) t[r * NR + jj] = row[r];
  }
}

#undef UK_NARROW
#undef UK_MADD
#undef NARROW_PERIOD
#undef UK_ROWS
#undef UK_SPLAT
#undef UK_SPLATS_FIRST
#undef UK_TILE
#undef UK_CAT
#undef UK_CAT2
#undef UK_DECL
#undef UK_FMA
#undef UK_STORE_T
#undef UK_ADD_C
#undef UK_SCALE
#undef UK_ROW_BIAS
#undef UK_COL_BIAS
#undef UK_PMAX
#undef UK_PMIN
#undef UK_RELU
#undef UK_CLIP
#undef UK_STORE_C
