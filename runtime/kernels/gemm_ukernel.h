/*
 * gemm_ukernel.h - the GEMM micro-kernel, written once and included by
 * gemm.c once per instruction set it is compiled for (the generic build,
 * and on x86-64 again inside `target("avx2,fma")` functions), so every
 * variant is the same vector-extension source.
 *
 * Before including, gemm.c defines:
 *   UK_NAME   the function's name
 *   UK_ATTR   its attributes (empty, or the target and fp-contract ones)
 *   UK_V      the float vector type, UK_VL its lanes
 *   MR, NR    the register tile (rows of the A panel, columns of the B panel)
 *
 * UK_NAME(kc, a, b, t) writes t[MR][NR] = A panel * B panel over kc values
 * of k: a holds MR values per k, b NR values per k (gemm.c's packed
 * layouts). The tile is computed in passes of 2 * UK_VL columns: one pass
 * when the vectors are wide enough (f32x8 and NR 16), two with f32x4, so
 * MR x 2 accumulators plus two B vectors and a broadcast A value stay
 * within the 16 vector registers of x86-64 and V8's wasm SIMD.
 * `c += b * a` is contracted to one fused multiply-add where the function
 * targets FMA (fp-contract fast).
 */

#if MR == 4
#define UK_ROWS(X) X(0) X(1) X(2) X(3)
#elif MR == 6
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#else
#error "gemm_ukernel.h: MR must be 4 or 6"
#endif

#define UK_DECL(r) UK_V c##r##0 = {0}, c##r##1 = {0};
#define UK_FMA(r)    \
  c##r##0 += b0 * a[r]; \
  c##r##1 += b1 * a[r];
#define UK_STORE(r)                                   \
  memcpy(t + (r)*NR + h, &c##r##0, sizeof c##r##0); \
  memcpy(t + (r)*NR + h + UK_VL, &c##r##1, sizeof c##r##1);

UK_ATTR static void UK_NAME(int64_t kc, const float *a0, const float *b0p, float *t) {
  for (int h = 0; h < NR; h += 2 * UK_VL) {
    UK_ROWS(UK_DECL)
    const float *a = a0, *b = b0p + h;
    for (int64_t p = 0; p < kc; p++) {
      UK_V b0, b1;
      memcpy(&b0, b, sizeof b0);
      memcpy(&b1, b + UK_VL, sizeof b1);
      UK_ROWS(UK_FMA)
      a += MR;
      b += NR;
    }
    UK_ROWS(UK_STORE)
  }
}

#undef UK_ROWS
#undef UK_DECL
#undef UK_FMA
#undef UK_STORE
