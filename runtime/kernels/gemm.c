/*
 * gemm.c - see gemm.h: the float32 GEMM (packing, register-blocked
 * micro-kernel, cache blocking, epilogue, threads) and the int32 product of
 * the quantized ops.
 *
 * How the float GEMM fits together (the BLIS scheme):
 *   - A is packed into panels of MR rows (k-major: MR values per k), B into
 *     panels of NR columns (two vectors per k), zero-padded at the edges, so
 *     the micro-kernel never checks bounds; row-major sources are packed
 *     with 4x4 vector transposes, B a group of rows at a time;
 *   - the micro-kernel keeps an MR x NR tile of C in vector registers and
 *     streams one A and one B panel. Its source is gemm_ukernel.h, included
 *     once per instruction set: wasm SIMD128 4x8 (8 accumulators; 4x16
 *     spilled in V8); x86-64 6x16, as f32x4 in two 6x8 passes in the plain
 *     build and as f32x8 with FMA in a target("avx2,fma") copy that
 *     ukernel_pick() takes when the CPU has both (ferry_gemm_use_isa
 *     forces one for tests); the packed layouts are the same for both;
 *   - constant operands can come prepacked (ferry_sgemm_pack_a/_b,
 *     ferry_gemm_pre): the drivers then skip packing them;
 *   - blocks: KC values of k (an A panel and a B panel stay in L1/L2), NC
 *     columns of B packed at a time (L3), MC rows of A per task (fewer
 *     when k is short: row_block);
 *   - a tile of full width goes from the micro-kernel's registers to C:
 *     stored, or added for later k-blocks, and after the last k-block
 *     through the epilogue (alpha, bias, Relu/Clip) on the way; tiles cut
 *     by C's right edge and other activations go through a tile buffer
 *     and the vector row epilogue; an edge of at most NARROW_NR columns
 *     (a 7x7 image: 49 = 3 x 16 + 1) runs the narrow kernel instead, on
 *     B's columns expanded to A's packed layout (expand_b, UK_NARROW);
 *   - natively, a plain row-major B is read in place, unpacked, in
 *     products where packing does not pay (direct_b);
 *   - ferry_sgemm packs all of A once, then for each B block packs it and
 *     runs (row block x column chunk) tasks over k->parallel; the serial
 *     variant packs A per block into a small caller workspace. Products
 *     with one row or one column of C take a GEMV path without packing;
 *     batches of small products run whole, one per parallel slot.
 */
#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shape.h"
#include "simd.h"
#include "util.h"

/* ---- vectors and blocking ---- */

/* fvec: the vector the generic code (packing, epilogue, GEMV) uses. */
#if defined(__AVX__)
typedef float fvec __attribute__((vector_size(32)));
typedef int ivec __attribute__((vector_size(32)));
#define VL 8
#else
typedef f32x4 fvec;
typedef i32x4 ivec;
#define VL 4
#endif
#ifndef MR /* rows of the register tile */
#if FERRY_GEMM_NR == 16
#define MR 6
#else
#define MR 4
#endif
#endif
#define NR FERRY_GEMM_NR
#ifndef KC /* (-D for experiments; gemm.h's FERRY_GEMM_KC is the default) */
#define KC FERRY_GEMM_KC
#endif
#if KC < FERRY_GEMM_KC
#error "KC below FERRY_GEMM_KC: an A packed with K <= FERRY_GEMM_KC would not be one k-block (ferry_gemm_pre.a_rows)"
#endif
#ifndef MC
#define MC (MR * 32)
#endif
#ifndef NC
#define NC 2048
#endif
#define SUB_PANELS 16 /* B panels per task within a block */

/* x86-64 builds without -mavx2 carry a second micro-kernel compiled for
 * AVX2+FMA and pick it at run time when the CPU has both. */
#if defined(__x86_64__) && !defined(__AVX2__) && NR == 16
#define GEMM_DISPATCH 1
#else
#define GEMM_DISPATCH 0
#endif

/* ---- the micro-kernels: A panel * B panel over kc, to t or to C ---- */

enum { UK_BIAS_NONE, UK_BIAS_ROW, UK_BIAS_COL };

/* Where a full tile goes when the micro-kernel writes C itself (its
 * epilogue: see gemm_ukernel.h). */
typedef struct uk_out {
  float *c;          /* C at the tile's first element */
  int64_t ldc;
  int tiles;         /* tiles down C in this call, MR rows apart */
  int64_t as;        /* floats from one tile's A panel to the next */
  const float *pf;   /* NULL, or the next B panel to prefetch: its rows pfs floats apart */
  int64_t pfs;
  int mr;            /* rows of the last tile in C (1..MR) */
  int acc;           /* add to C (a later k-block) */
  int epi;           /* last k-block: the epilogue below */
  float alpha;
  int bias;          /* UK_BIAS_*: */
  const float *rb;   /*   ROW: beta * bias of each row (MR per tile) */
  const float *cb;   /*   COL: row r's bias vectors at cb + r * cb_rs, times beta */
  int64_t cb_rs;
  float beta;
  int act;           /* FERRY_ACT_NONE, _RELU or _CLIP */
  float lo, hi;      /* Clip's bounds; lo 0 for Relu */
} uk_out;

typedef void (*ukernel_fn)(int64_t kc, const float *a, const float *b, int64_t bs, float *t, const uk_out *o,
                           int half);
/* The narrow edge's kernel (gemm_ukernel.h's UK_NARROW): B panels of at
 * most NARROW_NR columns, expanded (expand_b); NARROW_ACC accumulators.
 * Two columns: a 1x1 convolution 960 -> 320 over 7x7 went from 0.332 to
 * 0.290 ms (0.264 over 8x6: no edge); at three columns the narrow kernel
 * measured level with the half tile, at four slower (Zen 4, AVX2); in V8
 * at one and two columns level or faster (the 7x7 case 0.88 -> 0.82). */
typedef void (*narrow_fn)(int64_t kc, const float *a, const float *bx, int nr, float *t);
#define NARROW_NR 2
#define NARROW_ACC (MR % 3 ? 4 : 6)

#define UK_NAME ukernel_generic
#define UK_ATTR
#define UK_V fvec
#define UK_I ivec
#define UK_VL VL
#include "gemm_ukernel.h"
#undef UK_NAME
#undef UK_ATTR
#undef UK_V
#undef UK_I
#undef UK_VL

#if GEMM_DISPATCH
typedef float f32x8 __attribute__((vector_size(32)));
typedef int i32x8 __attribute__((vector_size(32)));
#define UK_NAME ukernel_avx2
#define UK_ATTR __attribute__((target("avx2,fma")))
#define UK_V f32x8
#define UK_I i32x8
#define UK_VL 8
#include "gemm_ukernel.h"
#undef UK_NAME
#undef UK_ATTR
#undef UK_V
#undef UK_I
#undef UK_VL
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

enum { ISA_AUTO, ISA_GENERIC, ISA_AVX2 };
static int isa_choice = ISA_AUTO; /* ferry_gemm_use_isa(); tests and benchmarks only */

static int cpu_has_avx2_fma(void) {
#if GEMM_DISPATCH
  static int has = -1; /* the CPU's answer, asked once (every thread finds the same) */
  int h = __atomic_load_n(&has, __ATOMIC_RELAXED);
  if (h < 0) {
    __builtin_cpu_init();
    h = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    __atomic_store_n(&has, h, __ATOMIC_RELAXED);
  }
  return h;
#else
  return 0;
#endif
}

static int isa_active(void) {
  if (isa_choice != ISA_AUTO) return isa_choice;
  return cpu_has_avx2_fma() ? ISA_AVX2 : ISA_GENERIC;
}

int ferry_gemm_use_isa(const char *isa) {
  if (!strcmp(isa, "auto")) isa_choice = ISA_AUTO;
  else if (!strcmp(isa, "generic")) isa_choice = ISA_GENERIC;
  else if (!strcmp(isa, "avx2") && cpu_has_avx2_fma()) isa_choice = ISA_AVX2;
  else return 0;
  return 1;
}

int ferry_simd_avx2(void) { return GEMM_DISPATCH && isa_active() == ISA_AVX2; }

static ukernel_fn ukernel_pick(void) {
#if GEMM_DISPATCH
  if (isa_active() == ISA_AVX2) return ukernel_avx2;
#endif
  return ukernel_generic;
}

static narrow_fn narrow_pick(void) {
#if GEMM_DISPATCH
  if (isa_active() == ISA_AVX2) return ukernel_avx2_narrow;
#endif
  return ukernel_generic_narrow;
}

const char *ferry_gemm_config(void) {
  if (isa_active() == ISA_AVX2) return "f32x8 " STR(MR) "x" STR(NR) " (avx2+fma, picked at run time)";
  return "f32x" STR(VL) " " STR(MR) "x" STR(NR);
}

FERRY_VINLINE fvec vload(const float *p) {
  fvec v;
  memcpy(&v, p, sizeof v);
  return v;
}
FERRY_VINLINE void vstore(float *p, fvec v) { memcpy(p, &v, sizeof v); }
FERRY_VINLINE fvec vsplat(float x) {
#if VL == 8
  return (fvec){x, x, x, x, x, x, x, x};
#else
  return (fvec){x, x, x, x};
#endif
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void *ferry_linalg_scratch(ferry_kctx *k, size_t bytes) {
  void *p = k->scratch(k, bytes ? bytes : 1);
  if (!p) snprintf(k->err, sizeof k->err, "out of memory (%zu bytes of scratch)", bytes);
  return p;
}

int ferry_linalg_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  ferry_tview *o = &k->out[i];
  if (!o->data) {
    int rc = k->set_output(k, i, dtype, rank, dims);
    if (rc) return rc == FERRY_E_INPUT ? rc : (snprintf(k->err, sizeof k->err, "cannot allocate output %d", i), rc);
    return FERRY_OK;
  }
  if (o->dtype != dtype || o->rank != rank) return ferry_kernel_fail(k, "output %d has the wrong dtype or rank", i);
  for (int d = 0; d < rank; d++)
    if (o->dims[d] != dims[d])
      return ferry_kernel_fail(k, "output %d: dim %d is %lld, the inputs give %lld", i, d, (long long)o->dims[d],
                               (long long)dims[d]);
  return FERRY_OK;
}

float *ferry_linalg_f32_in(ferry_kctx *k, const ferry_tview *t) {
  if (t->dtype == FERRY_F32) return t->data;
  float *p = ferry_linalg_scratch(k, (size_t)t->numel * sizeof *p);
  if (!p) return NULL;
  if (t->dtype == FERRY_F16)
    for (int64_t i = 0; i < t->numel; i++) p[i] = ferry_f16_to_f32(((const uint16_t *)t->data)[i]);
  else if (t->dtype == FERRY_BF16)
    for (int64_t i = 0; i < t->numel; i++) p[i] = ferry_bf16_to_f32(((const uint16_t *)t->data)[i]);
  else
    for (int64_t i = 0; i < t->numel; i++) p[i] = (float)ferry_load_f64(t->data, t->dtype, i);
  return p;
}

void ferry_linalg_f32_out(const float *src, ferry_tview *out) {
  if (out->dtype == FERRY_F32) {
    if (src != out->data) memmove(out->data, src, (size_t)out->numel * sizeof *src);
  } else if (out->dtype == FERRY_F16) {
    for (int64_t i = 0; i < out->numel; i++) ((uint16_t *)out->data)[i] = ferry_f32_to_f16(src[i]);
  } else if (out->dtype == FERRY_BF16) {
    for (int64_t i = 0; i < out->numel; i++) ((uint16_t *)out->data)[i] = ferry_f32_to_bf16(src[i]);
  } else {
    for (int64_t i = 0; i < out->numel; i++) ferry_store_f64(out->data, out->dtype, i, src[i]);
  }
}

/* ---- activations and the epilogue ---- */

static float act_one(const ferry_act *a, float x) {
  switch (a->kind) {
  case FERRY_ACT_RELU: return x < 0 ? 0 : x;
  case FERRY_ACT_TANH: return tanhf(x);
  case FERRY_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case FERRY_ACT_LEAKYRELU: return x < 0 ? x * a->a : x;
  case FERRY_ACT_CLIP: /* max(x, min) then min(_, max): max when min > max, as ONNX's Clip */
    x = x < a->a ? a->a : x;
    return x > a->b ? a->b : x;
  case FERRY_ACT_HARDSIGMOID: {
    float y = a->a * x + a->b;
    return y < 0 ? 0 : y > 1 ? 1 : y;
  }
  default: return x;
  }
}

/* where m: a, else b (m from a vector comparison: all ones or zeros) */
FERRY_VINLINE fvec vsel(ivec m, fvec a, fvec b) { return (fvec)((m & (ivec)a) | (~m & (ivec)b)); }

/* The activation on one vector: branch-free for the piecewise-linear
 * ones (NaN passes through as in act_one), per lane for tanh/sigmoid. */
FERRY_VINLINE fvec act_vec(const ferry_act *a, fvec x) {
  fvec zero = {0};
  switch (a->kind) {
  case FERRY_ACT_NONE: return x;
  case FERRY_ACT_RELU: return FERRY_VPMAX(x, zero); /* simd.h: one pmax in wasm */
  case FERRY_ACT_LEAKYRELU: return vsel((ivec)(x < zero), x * a->a, x);
  case FERRY_ACT_CLIP: return FERRY_VPMIN(FERRY_VPMAX(x, vsplat(a->a)), vsplat(a->b));
  case FERRY_ACT_HARDSIGMOID: return FERRY_VPMIN(FERRY_VPMAX(x * a->a + a->b, zero), vsplat(1));
  default:
    for (int l = 0; l < VL; l++) x[l] = act_one(a, x[l]);
    return x;
  }
}

void ferry_act_apply(const ferry_act *act, float *x, int64_t n) {
  if (act->kind == FERRY_ACT_NONE) return;
  int64_t i = 0;
  for (; i + VL <= n; i += VL) vstore(x + i, act_vec(act, vload(x + i)));
  for (; i < n; i++) x[i] = act_one(act, x[i]);
}

/* The float list `name` (n values at most) or NULL. */
static const float *attr_floats(ferry_kctx *k, const char *name, int *n) {
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  if (!ferry_attr_get(k->sctx, name, &a) || a.type != 6 || !a.floats) return NULL;
  *n = a.n;
  return a.floats;
}

static int act_kind(const char *s) {
  static const char *names[] = {"", "Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

int ferry_act_read(ferry_kctx *k, ferry_act *act) {
  ferry_attrv a;
  char name[32] = "";
  memset(act, 0, sizeof *act);
  memset(&a, 0, sizeof a);
  if (ferry_attr_get(k->sctx, "activation", &a) && a.type == 3 && a.s) {
    if (a.slen < 0 || a.slen >= (int64_t)sizeof name) return ferry_kernel_fail(k, "activation name is too long");
    memcpy(name, a.s, (size_t)a.slen);
    name[a.slen] = 0;
  }
  act->kind = act_kind(name);
  if (act->kind < 0) return ferry_kernel_fail(k, "unsupported fused activation '%s'", name);
  /* defaults: ONNX's LeakyRelu and HardSigmoid, an open Clip */
  act->a = act->kind == FERRY_ACT_LEAKYRELU ? 0.01f : act->kind == FERRY_ACT_HARDSIGMOID ? 0.2f : -INFINITY;
  act->b = act->kind == FERRY_ACT_HARDSIGMOID ? 0.5f : INFINITY;
  int n = 0;
  const float *p = attr_floats(k, "activation_params", &n);
  if (p) {
    if (n > 0) act->a = p[0];
    if (n > 1) act->b = p[1];
  } else {
    act->a = ferry_attr_float(k->sctx, "activation_alpha", act->a);
    act->b = ferry_attr_float(k->sctx, "activation_beta", act->b);
    if (act->kind == FERRY_ACT_LEAKYRELU) act->a = ferry_attr_float(k->sctx, "leaky_relu_alpha", act->a);
  }
  return FERRY_OK;
}

void ferry_gemm_epi_init(ferry_gemm_epi *e) {
  memset(e, 0, sizeof *e);
  e->alpha = 1;
  e->beta = 1;
}

/* One row of the epilogue; KIND is the activation, a constant where
 * inlined (act_vec's switch folds away, as in tile_epi). Rows of a vector
 * or more: the last vector is computed first from C as it is and stored
 * last, so a ragged tail is one overlapping vector, not scalar code. */
FERRY_VINLINE void epi_row(const ferry_gemm_epi *e, int64_t i, int64_t j0, int64_t n, float *c, const int KIND) {
  const float *b = e->bias ? e->bias + i * e->bias_rs + j0 * e->bias_cs : NULL;
  float alpha = e->alpha, beta = e->beta, b0 = b && !e->bias_cs ? beta * b[0] : 0;
  ferry_act act = e->act;
  act.kind = KIND;
  int64_t j = 0;
  if ((!b || e->bias_cs <= 1) && n >= VL) { /* one loop per bias form: */
#define EPI_LOOP(X)                                              \
  {                                                              \
    j = n - VL;                                                  \
    fvec last = act_vec(&act, X);                                \
    for (j = 0; j + VL < n; j += VL) vstore(c + j, act_vec(&act, X)); \
    vstore(c + n - VL, last);                                    \
    return;                                                      \
  }
    fvec bs = vsplat(b0);
    if (!b) EPI_LOOP(vload(c + j) * alpha)
    if (!e->bias_cs) EPI_LOOP(vload(c + j) * alpha + bs)
    EPI_LOOP(vload(c + j) * alpha + vload(b + j) * beta)
#undef EPI_LOOP
  }
  for (; j < n; j++) {
    float v = c[j] * alpha;
    if (b) v += e->bias_cs ? beta * b[j * e->bias_cs] : b0;
    c[j] = act_one(&act, v);
  }
}

#if GEMM_DISPATCH
/* epi_row in f32x8 (the AVX2 copy, for depthwise and Winograd rows, edge
 * tiles and GEMVs next to the AVX2 micro-kernel), for rows of 8 columns
 * or more: the same formula and clamps as act_vec. The last 8 columns
 * are computed first from C's values as they are and stored last, so a
 * tail of 1-7 columns takes one overlapping vector instead of scalar
 * code. Returns 1, or 0 (nothing done) for a strided bias or an
 * activation it leaves to epi_row. */
typedef float epi_v8 __attribute__((vector_size(32)));
typedef int epi_i8 __attribute__((vector_size(32)));
#define EPI8_SEL(m, a, b) ((epi_v8)(((m) & (epi_i8)(a)) | (~(m) & (epi_i8)(b))))
#define EPI8_PMAX(x, lo) EPI8_SEL((epi_i8)(x < lo), lo, x)
#define EPI8_PMIN(x, hi) EPI8_SEL((epi_i8)(hi < x), hi, x)

typedef struct epi8 {
  epi_v8 zero, al, be, b0, lo, hi, one;
} epi8;

/* One vector; BIAS: 0 none, 1 a scalar (k->b0), 2 a vector at b. */
__attribute__((target("avx2,fma"), always_inline)) static inline epi_v8
epi8_one(const epi8 *k, const float *b, const float *c, const int BIAS, const int KIND) {
  epi_v8 v, w;
  memcpy(&v, c, sizeof v);
  v *= k->al;
  if (BIAS == 2) {
    memcpy(&w, b, sizeof w);
    v += w * k->be;
  } else if (BIAS == 1) {
    v += k->b0;
  }
  if (KIND == FERRY_ACT_RELU) v = EPI8_PMAX(v, k->zero);
  if (KIND == FERRY_ACT_CLIP) v = EPI8_PMIN(EPI8_PMAX(v, k->lo), k->hi);
  if (KIND == FERRY_ACT_HARDSIGMOID) {
    v = v * k->lo + k->hi; /* a: alpha, b: beta */
    v = EPI8_PMIN(EPI8_PMAX(v, k->zero), k->one);
  }
  return v;
}

__attribute__((target("avx2,fma"), always_inline)) static inline int
epi_row8(const ferry_gemm_epi *e, const float *b, int64_t n, float *c, const int KIND) {
  epi8 k;
  k.zero = (epi_v8){0};
  k.al = k.zero + e->alpha, k.be = k.zero + e->beta, k.b0 = k.zero + (b && !e->bias_cs ? e->beta * b[0] : 0);
  k.lo = k.zero + e->act.a, k.hi = k.zero + e->act.b, k.one = k.zero + 1;
  int bias = !b ? 0 : e->bias_cs ? 2 : 1;
#define EPI8_LOOP(BIAS)                                          \
  {                                                              \
    epi_v8 last = epi8_one(&k, BIAS == 2 ? b + n - 8 : b, c + n - 8, BIAS, KIND); \
    for (int64_t j = 0; j + 8 < n; j += 8) {                     \
      epi_v8 v = epi8_one(&k, BIAS == 2 ? b + j : b, c + j, BIAS, KIND); \
      memcpy(c + j, &v, sizeof v);                               \
    }                                                            \
    memcpy(c + n - 8, &last, sizeof last);                       \
    return 1;                                                    \
  }
  if (bias == 0) EPI8_LOOP(0)
  if (bias == 1) EPI8_LOOP(1)
  EPI8_LOOP(2)
#undef EPI8_LOOP
}

__attribute__((target("avx2,fma"))) static int epi_row_avx2(const ferry_gemm_epi *e, int64_t i, int64_t j0, int64_t n,
                                                             float *c) {
  const float *b = e->bias ? e->bias + i * e->bias_rs + j0 * e->bias_cs : NULL;
  if (b && e->bias_cs > 1) return 0;
  switch (e->act.kind) {
  case FERRY_ACT_NONE: return epi_row8(e, b, n, c, FERRY_ACT_NONE);
  case FERRY_ACT_RELU: return epi_row8(e, b, n, c, FERRY_ACT_RELU);
  case FERRY_ACT_CLIP: return epi_row8(e, b, n, c, FERRY_ACT_CLIP);
  case FERRY_ACT_HARDSIGMOID: return epi_row8(e, b, n, c, FERRY_ACT_HARDSIGMOID);
  default: return 0;
  }
}
#endif

void ferry_gemm_epi_row(const ferry_gemm_epi *e, int64_t i, int64_t j0, int64_t n, float *c) {
#if GEMM_DISPATCH
  if (n >= 8 && isa_active() == ISA_AVX2 && epi_row_avx2(e, i, j0, n, c)) return;
#endif
  switch (e->act.kind) {
  case FERRY_ACT_NONE: return epi_row(e, i, j0, n, c, FERRY_ACT_NONE);
  case FERRY_ACT_RELU: return epi_row(e, i, j0, n, c, FERRY_ACT_RELU);
  case FERRY_ACT_CLIP: return epi_row(e, i, j0, n, c, FERRY_ACT_CLIP);
  case FERRY_ACT_HARDSIGMOID: return epi_row(e, i, j0, n, c, FERRY_ACT_HARDSIGMOID);
  default: return epi_row(e, i, j0, n, c, e->act.kind);
  }
}

/* ---- packing ---- */

/* d[j*ds + i] = s[i*ss + j] for a 4 x 4 block (i, j < 4); the stores
 * written out (GCC keeps a loop over them and spills the rows). */
FERRY_VINLINE void transpose4(const float *s, int64_t ss, float *d, int64_t ds) {
  f32x4 r[4] = {f32x4_load(s), f32x4_load(s + ss), f32x4_load(s + 2 * ss), f32x4_load(s + 3 * ss)};
  f32x4_transpose(r);
  f32x4_store(d, r[0]), f32x4_store(d + ds, r[1]), f32x4_store(d + 2 * ds, r[2]), f32x4_store(d + 3 * ds, r[3]);
}

/* d[j*ds + i] = s[i*ss + j] for a 2 x 4 block (i < 2, j < 4): two rows
 * interleaved into four pairs. */
FERRY_VINLINE void transpose2x4(const float *s, int64_t ss, float *d, int64_t ds) {
  f32x4 a = f32x4_load(s), b = f32x4_load(s + ss);
  f32x4 lo = __builtin_shufflevector(a, b, 0, 4, 1, 5), hi = __builtin_shufflevector(a, b, 2, 6, 3, 7);
  memcpy(d, &lo, 2 * sizeof(float)), memcpy(d + ds, (const float *)&lo + 2, 2 * sizeof(float));
  memcpy(d + 2 * ds, &hi, 2 * sizeof(float)), memcpy(d + 3 * ds, (const float *)&hi + 2, 2 * sizeof(float));
}

/* dst[p*dn + i] = src[i*rs + p] for i < n rows, p < kc: rows of a
 * row-major matrix become the columns of a packed panel (4 x 4 blocks,
 * then a pair of rows: MR 6). */
static void gather_rows(const float *src, int64_t rs, int n, int64_t kc, float *dst, int dn) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) transpose4(src + i * rs + p, rs, dst + p * dn + i, dn);
    for (; p < kc; p++)
      for (int ii = i; ii < i + 4; ii++) dst[p * dn + ii] = src[ii * rs + p];
  }
  if (i + 2 <= n) {
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) transpose2x4(src + i * rs + p, rs, dst + p * dn + i, dn);
    for (; p < kc; p++) dst[p * dn + i] = src[i * rs + p], dst[p * dn + i + 1] = src[(i + 1) * rs + p];
    i += 2;
  }
  for (; i < n; i++)
    for (int64_t p = 0; p < kc; p++) dst[p * dn + i] = src[i * rs + p];
}

/* Rows [i0, i0+mr) x k [k0, k0+kc) of A into one MR panel at dst. */
static void pack_a_panel(ferry_fmat A, int64_t i0, int mr, int64_t k0, int64_t kc, float *dst) {
  if (mr < MR) f32_zero(dst, kc * MR);
  if (A.cs == 1) {
    gather_rows(A.p + i0 * A.rs + k0, A.rs, mr, kc, dst, MR);
  } else if (A.rs == 1) {
    for (int64_t p = 0; p < kc; p++) {
      const float *s = A.p + (k0 + p) * A.cs + i0;
      for (int ii = 0; ii < mr; ii++) dst[p * MR + ii] = s[ii];
    }
  } else {
    for (int64_t p = 0; p < kc; p++)
      for (int ii = 0; ii < mr; ii++) dst[p * MR + ii] = A.p[(i0 + ii) * A.rs + (k0 + p) * A.cs];
  }
}

#define PACK_GROUP 8 /* B rows packed together: each panel gets whole cache lines */

/* A plain B matrix packed (the ferry_gemm_packb_fn layout). */
static void pack_b_plain(ferry_fmat B, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
  int64_t nq = (nc + NR - 1) / NR;
  if (B.cs == 1) {
    for (int64_t p0 = 0; p0 < kc; p0 += PACK_GROUP) {
      int64_t pn = kc - p0 < PACK_GROUP ? kc - p0 : PACK_GROUP;
      for (int64_t q = 0; q < nq; q++) {
        int nr = (int)min64(NR, nc - q * NR);
        float *d = dst + q * kc * NR + p0 * NR;
        const float *s = B.p + (k0 + p0) * B.rs + j0 + q * NR;
        for (int64_t p = 0; p < pn; p++, d += NR, s += B.rs) {
          if (nr == NR) {
            for (int v = 0; v < NR; v += VL) vstore(d + v, vload(s + v));
          } else {
            f32_copy(d, s, nr);
            f32_zero(d + nr, NR - nr);
          }
        }
      }
    }
    return;
  }
  for (int64_t q = 0; q < nq; q++) {
    int64_t j = j0 + q * NR;
    int nr = (int)min64(NR, nc - q * NR);
    float *d = dst + q * kc * NR;
    if (nr < NR) f32_zero(d, kc * NR);
    if (B.rs == 1) {
      gather_rows(B.p + j * B.cs + k0, B.cs, nr, kc, d, NR);
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int jj = 0; jj < nr; jj++) d[p * NR + jj] = B.p[(k0 + p) * B.rs + (j + jj) * B.cs];
    }
  }
}

static void pack_b(const ferry_gemm_b *B, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
  if (B->pack)
    B->pack(B->ctx, k0, kc, j0, nc, dst);
  else
    pack_b_plain(B->m, k0, kc, j0, nc, dst);
}

/* ---- one product, split into blocks ---- */

typedef struct gjob {
  int64_t M, N, K;
  ferry_fmat A;
  const ferry_gemm_b *B;
  float *C;
  int64_t ldc;
  const ferry_gemm_epi *e;
  float *pa;           /* packed A (all k-blocks: block at k0 * mpad) */
  int64_t mpad;        /* M rounded up to MR */
  float *pb;           /* the current B block, packed */
  int64_t j0, nc, k0, kc;
  int64_t pbq;         /* floats from one B panel of the block to the next */
  int first, last;     /* first / last k-block */
  int64_t n_sub;       /* column chunks of the block */
  ukernel_fn uk;       /* the micro-kernel (ukernel_pick) */
  int64_t bdirect;     /* B's row stride where full panels are read from B itself (direct_b), else 0 */
  int64_t mc;          /* rows of C per task of the parallel driver (row_block) */
  narrow_fn ukn;       /* the narrow edge's kernel (narrow_pick) */
  int64_t akc;         /* k extent of pa's panels: 0 for kc (a prepacked A: its a_rows) */
} gjob;

/* The last k-block of a full-width tile: C = epi(t (+ C)), in vectors;
 * KIND is the activation, a constant where inlined (so act_vec's switch
 * folds away). */
FERRY_VINLINE void tile_epi(const gjob *g, const float *t, int64_t i0, int64_t j, int mr, const int KIND) {
  const ferry_gemm_epi *e = g->e;
  ferry_act act = e->act;
  act.kind = KIND;
  for (int ii = 0; ii < mr; ii++) {
    float *c = g->C + (i0 + ii) * g->ldc + j;
    const float *s = t + ii * NR, *b = e->bias ? e->bias + (i0 + ii) * e->bias_rs + j * e->bias_cs : NULL;
    fvec b0 = vsplat(b && !e->bias_cs ? e->beta * b[0] : 0);
    for (int v = 0; v < NR; v += VL) {
      fvec x = vload(s + v);
      if (!g->first) x += vload(c + v);
      x *= e->alpha;
      x += b && e->bias_cs ? vload(b + v) * e->beta : b0;
      vstore(c + v, act_vec(&act, x));
    }
  }
}

static void store_tile_epi(const gjob *g, const float *t, int64_t i0, int64_t j, int mr) {
  switch (g->e->act.kind) {
  case FERRY_ACT_NONE: return tile_epi(g, t, i0, j, mr, FERRY_ACT_NONE);
  case FERRY_ACT_RELU: return tile_epi(g, t, i0, j, mr, FERRY_ACT_RELU);
  case FERRY_ACT_CLIP: return tile_epi(g, t, i0, j, mr, FERRY_ACT_CLIP);
  default: return tile_epi(g, t, i0, j, mr, g->e->act.kind);
  }
}

/* Stores (first k-block) or adds a tile to C; the epilogue after the last. */
static void store_tile(const gjob *g, const float *t, int64_t i0, int64_t j, int mr, int nr) {
  if (nr == NR && g->last && g->e->bias_cs <= 1) return store_tile_epi(g, t, i0, j, mr);
  for (int ii = 0; ii < mr; ii++) {
    float *c = g->C + (i0 + ii) * g->ldc + j;
    const float *s = t + ii * NR;
    if (nr == NR) {
      for (int v = 0; v < NR; v += VL) vstore(c + v, g->first ? vload(s + v) : vload(c + v) + vload(s + v));
    } else if (g->first) {
      memcpy(c, s, (size_t)nr * sizeof *c);
    } else {
      for (int jj = 0; jj < nr; jj++) c[jj] += s[jj];
    }
    if (g->last) ferry_gemm_epi_row(g->e, i0 + ii, j, nr, c);
  }
}

/* Sets up the micro-kernel's own store of full tiles for this k-block:
 * 1, or 0 when the epilogue is one it does not do (the tile then goes
 * through t and store_tile). */
static int direct_setup(const gjob *g, uk_out *o) {
  const ferry_gemm_epi *e = g->e;
  memset(o, 0, sizeof *o);
  o->ldc = g->ldc, o->acc = !g->first, o->epi = g->last;
  o->as = MR * (g->akc ? g->akc : g->kc);
  if (!g->last) return 1;
  o->alpha = e->alpha, o->beta = e->beta, o->act = e->act.kind, o->lo = e->act.a, o->hi = e->act.b;
  if (o->act != FERRY_ACT_NONE && o->act != FERRY_ACT_RELU && o->act != FERRY_ACT_CLIP) return 0;
  if (e->bias && e->bias_cs > 1) return 0;
  if (o->act == FERRY_ACT_RELU) o->lo = 0; /* Relu's bound, for the micro-kernel */
  o->bias = !e->bias ? UK_BIAS_NONE : e->bias_cs ? UK_BIAS_COL : UK_BIAS_ROW;
  o->cb_rs = e->bias_rs;
  return 1;
}

/* Points o at the tiles of rows [i0, i1) and columns [j, j + NR); rb: beta
 * times the row biases of rows [ib, ...) (whole tiles, 0 past M). */
static void direct_tiles(const gjob *g, uk_out *o, int64_t i0, int64_t i1, int64_t j, const float *rb, int64_t ib) {
  const ferry_gemm_epi *e = g->e;
  o->c = g->C + i0 * g->ldc + j;
  o->tiles = (int)((i1 - i0 + MR - 1) / MR), o->mr = (int)(i1 - i0 - (int64_t)(o->tiles - 1) * MR);
  if (o->bias == UK_BIAS_ROW)
    o->rb = rb + (i0 - ib);
  else if (o->bias == UK_BIAS_COL)
    o->cb = e->bias + i0 * e->bias_rs + j;
}

/* Columns [0, nr) of B panel bp (rows bs apart) over the k-block, each
 * value repeated MR times into bx: column jj's value at k fills
 * bx[(jj * kc + k) * MR ...], the layout of a packed A panel. */
static void expand_b(const float *bp, int64_t bs, int64_t kc, int nr, float *bx) {
  for (int jj = 0; jj < nr; jj++)
    for (int64_t p = 0; p < kc; p++) {
      float v = bp[p * bs + jj], *d = bx + (jj * kc + p) * MR;
      for (int r = 0; r < MR; r++) d[r] = v;
    }
}

/* e->post on rows [i0, i1) of c (row stride ldc), n columns each. */
static void post_rows(const ferry_gemm_epi *e, float *c, int64_t ldc, int64_t i0, int64_t i1, int64_t n) {
  for (int64_t i = i0; n > 0 && i < i1; i++) e->post(e->post_ctx, c + i * ldc, n);
}

/* B read in place is prefetched a panel ahead (a row of it per k, in the
 * column panel's first tile), PF_AHEAD_FEW panels ahead where a panel has
 * at most PF_FEW_TILES row tiles: there the next panel's turn comes too
 * soon for its rows (K streams through B, one line each) to arrive.
 * squeezenet1_1's squeeze layers (64 -> 16 and 128 -> 16 at 55x55) 0.74-0.82x
 * the time in the model; 2 or 8 panels ahead measured about as well, 16
 * worse, and 4 ahead for products of more tiles (mobilenet_v2's 96 -> 24)
 * slower. */
#define PF_FEW_TILES 3
#define PF_AHEAD_FEW 4

/* Rows [i_begin, i_end) x B panels [q_begin, q_end) of the current block;
 * pa holds the A panels from row ia0 for this k-block. Tiles of full
 * width go straight to C from the micro-kernel where it does the epilogue. */
static void compute(const gjob *g, const float *pa, int64_t ia0, int64_t i_begin, int64_t i_end, int64_t q_begin,
                    int64_t q_end) {
  float t[MR * NR] __attribute__((aligned(64))), rb[MC + MR];
  uk_out o;
  int direct = direct_setup(g, &o);
  int64_t akc = g->akc ? g->akc : g->kc; /* pa's rows (i - ia0) * akc floats on */
  if (direct && o.bias == UK_BIAS_ROW) /* once for the rows, not per tile */
    for (int64_t i = i_begin; i < i_begin + round_up(i_end - i_begin, MR); i++)
      rb[i - i_begin] = i < g->M ? g->e->beta * g->e->bias[i * g->e->bias_rs] : 0;
  for (int64_t q = q_begin; q < q_end; q++) {
    const float *bp = g->pb + q * g->pbq;
    int64_t j = g->j0 + q * NR, bs = NR;
    int nr = (int)min64(NR, g->j0 + g->nc - j);
    if (g->bdirect && nr == NR) bp = g->B->m.p + g->k0 * g->bdirect + j, bs = g->bdirect;
    if (direct && nr == NR) { /* the whole column panel in one call */
      direct_tiles(g, &o, i_begin, min64(i_end, g->M), j, rb, i_begin);
      o.pf = NULL;
      if (q + 1 < q_end && g->bdirect && j + 2 * NR <= g->j0 + g->nc) {
        int64_t d = o.tiles <= PF_FEW_TILES ? PF_AHEAD_FEW : 1;
        while (j + (d + 1) * NR > g->j0 + g->nc) d--;
        o.pf = bp + d * NR, o.pfs = bs;
      } else if (q + 1 < q_end && !g->bdirect && !FERRY_IN_WASM) { /* wasm has no prefetch: its address only */
        o.pf = bp + g->pbq, o.pfs = NR;
      }
      g->uk(g->kc, pa + (i_begin - ia0) * akc, bp, bs, NULL, &o, 0);
      continue;
    }
    if (nr <= NARROW_NR) { /* a narrow edge (7x7 images: 49 = 3 x 16 + 1 columns) */
      float bx[NARROW_NR * KC * MR] __attribute__((aligned(64)));
      expand_b(bp, bs, g->kc, nr, bx);
      for (int64_t i0 = i_begin; i0 < i_end; i0 += MR) {
        g->ukn(g->kc, pa + (i0 - ia0) * akc, bx, nr, t);
        store_tile(g, t, i0, j, (int)min64(MR, g->M - i0), nr);
      }
      continue;
    }
    for (int64_t i0 = i_begin; i0 < i_end; i0 += MR) {
      int mr = (int)min64(MR, g->M - i0);
      g->uk(g->kc, pa + (i0 - ia0) * akc, bp, bs, t, NULL, nr <= NR / 2); /* an edge: half the work */
      store_tile(g, t, i0, j, mr, nr);
    }
  }
  if (g->last && g->e->post) post_rows(g->e, g->C + g->j0 + q_begin * NR, g->ldc, i_begin, min64(i_end, g->M),
                                       min64(g->nc, q_end * NR) - q_begin * NR);
}

/* ---- GEMV: one row or one column of C ---- */

typedef struct gemv {
  const float *x;  /* X(t, k) at x[t*ts + k*ks] */
  int64_t ts, ks;
  const float *v;  /* v[k], contiguous */
  int64_t K;
  float *y;        /* y[t * ys] */
  int64_t ys;
  int rows;        /* 1: t is a row of C (N == 1), 0: a column (M == 1) */
  const ferry_gemm_epi *e;
  int64_t T;       /* outputs */
} gemv;

#define GEMV_CHUNK 256

static float dot(const float *a, const float *b, int64_t n) {
  fvec s0 = {0}, s1 = {0};
  int64_t k = 0;
  for (; k + 2 * VL <= n; k += 2 * VL) {
    s0 += vload(a + k) * vload(b + k);
    s1 += vload(a + k + VL) * vload(b + k + VL);
  }
  s0 += s1;
  float s = 0;
  for (int l = 0; l < VL; l++) s += s0[l];
  for (; k < n; k++) s += a[k] * b[k];
  return s;
}

/* Asks for the cache line `ahead` bytes past p into the outer caches
 * (locality 1: L2 on x86-64; the line would leave L1 before its use). An
 * address only: it may lie past the array, and a prefetch never faults;
 * a no-op in wasm. */
FERRY_VINLINE void prefetch_ahead(const float *p, uintptr_t ahead) {
  __builtin_prefetch((const void *)((uintptr_t)p + ahead), 0, 1);
}

/* dot(a + r * as, b, n) for r < 4 into s[r]: four rows streamed at once
 * (memory-bound rows of a weight: more loads in flight), b loaded once.
 * Each line of the rows two groups on (8 rows ahead) is prefetched as the
 * same column of these is read: in a whole model the weight of a
 * classifier GEMV comes from DRAM, where the hardware prefetcher alone
 * left mobilenet_v2's 1280x1000 Gemm at 0.455 ms, 0.25 with this (Zen 4;
 * the same Gemm alone, its weight in L3, stays at 0.085). */
static void dot4(const float *a, int64_t as, const float *b, int64_t n, float *s) {
  fvec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
  const float *a1 = a + as, *a2 = a1 + as, *a3 = a2 + as;
  uintptr_t ahead = (uintptr_t)(8 * as) * sizeof(float);
  int64_t k = 0;
  for (; k + VL <= n; k += VL) {
    fvec x = vload(b + k);
    if (!(k & 15)) { /* once per 64-byte line */
      prefetch_ahead(a + k, ahead), prefetch_ahead(a1 + k, ahead);
      prefetch_ahead(a2 + k, ahead), prefetch_ahead(a3 + k, ahead);
    }
    s0 += vload(a + k) * x, s1 += vload(a1 + k) * x, s2 += vload(a2 + k) * x, s3 += vload(a3 + k) * x;
  }
  const fvec *acc[4] = {&s0, &s1, &s2, &s3};
  const float *rows[4] = {a, a1, a2, a3};
  for (int r = 0; r < 4; r++) {
    float t = 0;
    for (int l = 0; l < VL; l++) t += (*acc[r])[l];
    for (int64_t q = k; q < n; q++) t += rows[r][q] * b[q];
    s[r] = t;
  }
}

static void gemv_range(const gemv *g, int64_t t0, int64_t t1) {
  float buf[GEMV_CHUNK] __attribute__((aligned(64)));
  int64_t n = t1 - t0;
  if (g->ks == 1) {
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) dot4(g->x + (t0 + t) * g->ts, g->ts, g->v, g->K, buf + t);
    for (; t < n; t++) buf[t] = dot(g->x + (t0 + t) * g->ts, g->v, g->K);
  } else if (g->ts == 1) {
    memset(buf, 0, sizeof buf);
    for (int64_t k = 0; k < g->K; k++) {
      const float *x = g->x + k * g->ks + t0;
      fvec a = vsplat(g->v[k]);
      int64_t t = 0;
      for (; t + VL <= n; t += VL) vstore(buf + t, vload(buf + t) + a * vload(x + t));
      for (; t < n; t++) buf[t] += g->v[k] * x[t];
    }
  } else {
    for (int64_t t = 0; t < n; t++) {
      float s = 0;
      for (int64_t k = 0; k < g->K; k++) s += g->x[(t0 + t) * g->ts + k * g->ks] * g->v[k];
      buf[t] = s;
    }
  }
  if (g->rows) {
    for (int64_t t = 0; t < n; t++) {
      g->y[(t0 + t) * g->ys] = buf[t];
      ferry_gemm_epi_row(g->e, t0 + t, 0, 1, &g->y[(t0 + t) * g->ys]);
    }
    if (g->e->post) post_rows(g->e, g->y, g->ys, t0, t0 + n, 1);
  } else {
    memcpy(g->y + t0, buf, (size_t)n * sizeof *buf);
    ferry_gemm_epi_row(g->e, 0, t0, n, g->y + t0);
    if (g->e->post) g->e->post(g->e->post_ctx, g->y + t0, n);
  }
}

static void gemv_task(void *arg, int64_t begin, int64_t end) {
  const gemv *g = arg;
  for (int64_t u = begin; u < end; u++) gemv_range(g, u * GEMV_CHUNK, min64(g->T, (u + 1) * GEMV_CHUNK));
}

/* Sets up the GEMV for M == 1 or N == 1 with a plain B; v_work holds K
 * floats for a strided vector. 0 when the product is not a GEMV. */
static int gemv_setup(gemv *g, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                      int64_t ldc, const ferry_gemm_epi *e, float *v_work) {
  if (B->pack || (M != 1 && N != 1) || K == 0) return 0;
  const float *v;
  int64_t vs;
  if (M == 1) {
    *g = (gemv){B->m.p, B->m.cs, B->m.rs, NULL, K, C, 1, 0, e, N};
    v = A.p, vs = A.cs;
  } else {
    *g = (gemv){A.p, A.rs, A.cs, NULL, K, C, ldc, 1, e, M};
    v = B->m.p, vs = B->m.rs;
  }
  if (vs == 1) {
    g->v = v;
  } else {
    for (int64_t k = 0; k < K; k++) v_work[k] = v[k * vs];
    g->v = v_work;
  }
  return 1;
}

/* ---- the serial driver ---- */

static void zero_k(int64_t M, int64_t N, float *C, int64_t ldc, const ferry_gemm_epi *e) {
  for (int64_t i = 0; i < M; i++) {
    memset(C + i * ldc, 0, (size_t)N * sizeof *C);
    ferry_gemm_epi_row(e, i, 0, N, C + i * ldc);
  }
  if (e->post) post_rows(e, C, ldc, 0, M, N);
}

size_t ferry_sgemm_work(int64_t M, int64_t N, int64_t K) {
  int64_t mc = min64(round_up(M, MR), MC), kc = min64(K, KC), nc = min64(round_up(N, NR), NC);
  return (size_t)(mc * kc + kc * nc + K + 16);
}

/* B's row stride when the micro-kernel reads B's full panels in place,
 * unpacked (only a ragged last panel is packed), else 0: for a plain
 * row-major B not packed already, in products where packing does not pay
 * for itself: few row tiles of C reuse each panel (M <= DIRECT_B_M), or
 * short panels (K <= DIRECT_B_K; 1x1 convolutions with few input
 * channels). Larger panels read in place would also lose L1 to the
 * conflict misses of B's row stride (often a multiple of 1 KiB). Only
 * with 16-column panels (a cache line per row of a panel): with 8 (wasm)
 * it measured slower than packing (bench/gemm's 1x1 products in V8). */
#define DIRECT_B_M 64
#define DIRECT_B_K 32
static int64_t direct_b(const ferry_gemm_b *B, int64_t M, int64_t K, const float *pre_b) {
  if (NR < 16 || B->pack || pre_b || B->m.cs != 1 || (M > DIRECT_B_M && K > DIRECT_B_K)) return 0;
  return B->m.rs;
}

/* Packs the current B block into g->pb: all of it, or with g->bdirect
 * only a ragged last panel. */
static void pack_b_block(const gjob *g) {
  if (!g->bdirect) return pack_b(g->B, g->k0, g->kc, g->j0, g->nc, g->pb);
  int64_t q = g->nc / NR;
  if (g->nc % NR) pack_b(g->B, g->k0, g->kc, g->j0 + q * NR, g->nc - q * NR, g->pb + q * g->pbq);
}

/* Points g at the prepacked B's block (k0, j0): panels rows * NR apart
 * (rows: the K it was packed with, pre->b_rows, or the product's). */
static void use_packed_b(gjob *g, const ferry_gemm_pre *pre) {
  int64_t rows = pre->b_rows ? pre->b_rows : g->K;
  g->pb = (float *)(uintptr_t)(pre->b + (g->j0 / NR) * rows * NR + g->k0 * NR);
  g->pbq = rows * NR;
}

int64_t ferry_sgemm_b_panel(void) { return NR; }
int64_t ferry_sgemm_a_panel(void) { return MR; }

const float *ferry_sgemm_packed_a_at(const float *a, int64_t K, int64_t r, int64_t c) {
  return a + (r / MR) * K * MR + c * MR;
}

const float *ferry_sgemm_packed_b_at(const float *b, int64_t K, int64_t r, int64_t c) {
  return b + (c / NR) * K * NR + r * NR;
}

/* The serial product; pre (may be NULL) holds prepacked operands. */
static void sgemm_serial(int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C, int64_t ldc,
                         const ferry_gemm_epi *e, float *work, const ferry_gemm_pre *pre) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero_k(M, N, C, ldc, e);
  gemv gv;
  if (gemv_setup(&gv, M, N, K, A, B, C, ldc, e, work)) {
    gemv_task(&gv, 0, (gv.T + GEMV_CHUNK - 1) / GEMV_CHUNK);
    return;
  }
  const float *pre_a = pre ? pre->a : NULL, *pre_b = pre ? pre->b : NULL;
  int64_t mc = min64(round_up(M, MR), MC), kcmax = min64(K, KC), mpad = round_up(M, MR);
  float *pb = work + mc * kcmax;
  gjob g = {M, N, K, A, B, C, ldc, e, work, 0, pb, 0, 0, 0, 0, 0, 0, 0, 0, ukernel_pick(), direct_b(B, M, K, pre_b), MC,
            narrow_pick(), pre_a && pre->a_rows ? pre->a_rows : 0};
  for (g.j0 = 0; g.j0 < N; g.j0 += NC) {
    g.nc = min64(NC, N - g.j0);
    for (g.k0 = 0; g.k0 < K; g.k0 += KC) {
      g.kc = min64(KC, K - g.k0);
      g.first = g.k0 == 0, g.last = g.k0 + g.kc == K;
      if (pre_b) {
        use_packed_b(&g, pre);
      } else {
        g.pb = pb, g.pbq = g.kc * NR;
        pack_b_block(&g);
      }
      for (int64_t i0 = 0; i0 < M; i0 += MC) {
        int64_t i1 = min64(M, i0 + MC);
        if (pre_a) {
          compute(&g, pre_a + g.k0 * mpad, 0, i0, i1, 0, (g.nc + NR - 1) / NR);
          continue;
        }
        for (int64_t r = i0; r < i1; r += MR)
          pack_a_panel(A, r, (int)min64(MR, M - r), g.k0, g.kc, work + (r - i0) * g.kc);
        compute(&g, work, i0, i0, i1, 0, (g.nc + NR - 1) / NR);
      }
    }
  }
}

void ferry_sgemm_serial(int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C, int64_t ldc,
                        const ferry_gemm_epi *e, float *work) {
  sgemm_serial(M, N, K, A, B, C, ldc, e, work, NULL);
}

void ferry_sgemm_serial_pre(int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                            int64_t ldc, const ferry_gemm_epi *e, float *work, const ferry_gemm_pre *pre) {
  sgemm_serial(M, N, K, A, B, C, ldc, e, work, pre);
}

/* ---- the parallel driver ---- */

static void pack_a_task(void *arg, int64_t begin, int64_t end) {
  const gjob *g = arg;
  for (int64_t r = begin; r < end; r++) {
    int64_t i0 = r * MR;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
      int64_t kc = min64(KC, g->K - k0);
      pack_a_panel(g->A, i0, (int)min64(MR, g->M - i0), k0, kc, g->pa + k0 * g->mpad + i0 * kc);
    }
  }
}

#define PACK_B_PANELS 8 /* B panels per packing task */

static void pack_b_task(void *arg, int64_t begin, int64_t end) {
  const gjob *g = arg;
  int64_t q0 = begin * PACK_B_PANELS, q1 = end * PACK_B_PANELS;
  int64_t n = min64(g->nc - q0 * NR, (q1 - q0) * NR);
  pack_b(g->B, g->k0, g->kc, g->j0 + q0 * NR, n, g->pb + q0 * g->kc * NR);
}

static void compute_task(void *arg, int64_t begin, int64_t end) {
  const gjob *g = arg;
  int64_t n_panels = (g->nc + NR - 1) / NR;
  for (int64_t u = begin; u < end; u++) {
    int64_t mb = u / g->n_sub, sb = u % g->n_sub;
    int64_t i0 = mb * g->mc, i1 = min64(g->M, i0 + g->mc);
    int64_t q0 = sb * SUB_PANELS, q1 = min64(n_panels, q0 + SUB_PANELS);
    compute(g, g->pa + g->k0 * g->mpad, 0, i0, i1, q0, q1);
  }
}

size_t ferry_sgemm_pack_a_size(int64_t M, int64_t K) { return (size_t)(round_up(M, MR) * K); }

void ferry_sgemm_pack_a(int64_t M, int64_t K, ferry_fmat A, float *dst) {
  gjob g;
  memset(&g, 0, sizeof g);
  g.M = M, g.K = K, g.A = A, g.pa = dst, g.mpad = round_up(M, MR);
  pack_a_task(&g, 0, g.mpad / MR);
}

size_t ferry_sgemm_pack_b_size(int64_t K, int64_t N) { return (size_t)(round_up(N, NR) * K); }

void ferry_sgemm_pack_b(int64_t K, int64_t N, ferry_fmat B, float *dst) {
  if (K > 0 && N > 0) pack_b_plain(B, 0, K, 0, N, dst);
}

/* Rows of C per task. A product with a short k (a first convolution
 * over 3 channels, a 1x1 layer over 16) is bound by its stores to C, not
 * by its multiply-adds; a task over MC rows writes each column panel into
 * MC rows of C at once, more write streams than the store buffers and
 * prefetchers follow, so such a product takes 2 row tiles per task
 * (squeezenet1_1's first Conv, k 27: 1.96 -> 1.34 ms in the model). In
 * wasm it takes 4 (of 4 rows each): a micro-kernel call costs more there,
 * and a task makes one per column panel (mobilenet_v2 1% faster in
 * ferry.wasm; 8 tiles and MC rows made squeezenet1_1 1% and 3% slower).
 * But a product of at most three tiles' rows takes them all in one task:
 * split in two row blocks it read B twice (mobilenet_v2's 32 -> 16 at
 * 112x112, B 1.6 MB, 0.90-0.92x the time in one). */
#define SHORT_K 32
#define SHORT_K_TILES (FERRY_IN_WASM ? 4 : 2)
#define SHORT_K_ALL (3 * MR) /* up to this many rows take all of C at once */
static int64_t row_block(int64_t M, int64_t K) {
  if (K > SHORT_K) return MC;
  return M <= SHORT_K_ALL && M > SHORT_K_TILES * MR ? round_up(M, MR) : SHORT_K_TILES * MR;
}

#define SERIAL_BELOW (32768.0 * 8) /* multiply-adds below which splitting does not pay */

static int gemv_shaped(int64_t M, int64_t N, const ferry_gemm_b *B) { return !B->pack && (M == 1 || N == 1); }

size_t ferry_sgemm_ws_size(int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0) return 16;
  if ((double)M * (double)N * (double)K < SERIAL_BELOW) return ferry_sgemm_work(M, N, K);
  int64_t mpad = round_up(M, MR), ncmax = min64(round_up(N, NR), NC);
  return (size_t)(mpad * K + ncmax * min64(K, KC) + K + 32);
}

void ferry_sgemm_ws(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                    int64_t ldc, const ferry_gemm_epi *e, float *ws) {
  ferry_sgemm_ws_pre(k, M, N, K, A, B, C, ldc, e, ws, NULL);
}

void ferry_sgemm_ws_pre(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                        int64_t ldc, const ferry_gemm_epi *e, float *ws, const ferry_gemm_pre *pre) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero_k(M, N, C, ldc, e);
  if ((double)M * (double)N * (double)K < SERIAL_BELOW) return sgemm_serial(M, N, K, A, B, C, ldc, e, ws, pre);
  gemv gv;
  if (gemv_shaped(M, N, B) && gemv_setup(&gv, M, N, K, A, B, C, ldc, e, ws)) {
    k->parallel(k, (gv.T + GEMV_CHUNK - 1) / GEMV_CHUNK, gemv_task, &gv);
    return;
  }
  int64_t mpad = round_up(M, MR);
  const float *pre_a = pre ? pre->a : NULL, *pre_b = pre ? pre->b : NULL;
  float *pb = ws + round_up(mpad * K, 16);
  gjob g = {M, N, K, A, B, C, ldc, e, ws, mpad, pb, 0, 0, 0, 0, 0, 0, 0, 0, ukernel_pick(), direct_b(B, M, K, pre_b),
             row_block(M, K), narrow_pick(), pre_a ? pre->a_rows : 0};
  if (pre_a)
    g.pa = (float *)(uintptr_t)pre_a; /* only read */
  else
    k->parallel(k, mpad / MR, pack_a_task, &g);
  for (g.j0 = 0; g.j0 < N; g.j0 += NC) {
    g.nc = min64(NC, N - g.j0);
    int64_t n_panels = (g.nc + NR - 1) / NR;
    g.n_sub = (n_panels + SUB_PANELS - 1) / SUB_PANELS;
    for (g.k0 = 0; g.k0 < K; g.k0 += KC) {
      g.kc = min64(KC, K - g.k0);
      g.first = g.k0 == 0, g.last = g.k0 + g.kc == K;
      if (pre_b) {
        use_packed_b(&g, pre);
      } else if (g.bdirect) {
        g.pb = pb, g.pbq = g.kc * NR;
        pack_b_block(&g);
      } else {
        g.pb = pb, g.pbq = g.kc * NR;
        k->parallel(k, (n_panels + PACK_B_PANELS - 1) / PACK_B_PANELS, pack_b_task, &g);
      }
      k->parallel(k, ((M + g.mc - 1) / g.mc) * g.n_sub, compute_task, &g);
    }
  }
}

int ferry_sgemm(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                int64_t ldc, const ferry_gemm_epi *e) {
  float *ws = ferry_linalg_scratch(k, ferry_sgemm_ws_size(M, N, K) * sizeof(float));
  if (!ws) return FERRY_E_SYSTEM;
  ferry_sgemm_ws(k, M, N, K, A, B, C, ldc, e, ws);
  return FERRY_OK;
}

int ferry_sgemm_const_b(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, ferry_fmat B, float *C,
                        int64_t ldc, const ferry_gemm_epi *e, int b_const) {
  ferry_gemm_b b = {B, NULL, NULL};
  ferry_gemm_pre pre = {NULL, NULL, 0, 0};
  if (b_const && k->persist && M > 1 && N > 1 && K > 0) {
    int fresh = 0;
    float *pb = k->persist(k, ferry_sgemm_pack_b_size(K, N) * sizeof(float), &fresh);
    if (pb && fresh) ferry_sgemm_pack_b(K, N, B, pb);
    pre.b = pb;
  }
  float *ws = ferry_linalg_scratch(k, ferry_sgemm_ws_size(M, N, K) * sizeof(float));
  if (!ws) return FERRY_E_SYSTEM;
  ferry_sgemm_ws_pre(k, M, N, K, A, &b, C, ldc, e, ws, &pre);
  return FERRY_OK;
}

/* ---- batches of products ---- */

typedef struct bjob {
  int64_t nbatch, n_slots, M, N, K, ldc;
  ferry_gemm_offs_fn offs;
  const void *ctx;
  ferry_fmat A, B;
  float *C;
  const ferry_gemm_epi *e;
  float *work;
  size_t work_n;
} bjob;

static void batch_slot_task(void *arg, int64_t begin, int64_t end) {
  const bjob *j = arg;
  for (int64_t slot = begin; slot < end; slot++)
    for (int64_t b = slot * j->nbatch / j->n_slots; b < (slot + 1) * j->nbatch / j->n_slots; b++) {
      int64_t ao, bo, co;
      j->offs(j->ctx, b, &ao, &bo, &co);
      ferry_fmat A = {j->A.p + ao, j->A.rs, j->A.cs};
      ferry_gemm_b B = {{j->B.p + bo, j->B.rs, j->B.cs}, NULL, NULL};
      ferry_sgemm_serial(j->M, j->N, j->K, A, &B, j->C + co, j->ldc, j->e, j->work + (size_t)slot * j->work_n);
    }
}

#define BATCH_SLOTS 32
#define BATCH_SMALL (64.0 * 64 * 64 * 4) /* multiply-adds below which a product runs in one thread */

int ferry_sgemm_batch(ferry_kctx *k, int64_t nbatch, ferry_gemm_offs_fn offs, const void *ctx, int64_t M, int64_t N,
                      int64_t K, ferry_fmat A, ferry_fmat B, float *C, int64_t ldc, const ferry_gemm_epi *e) {
  if (nbatch <= 0 || M <= 0 || N <= 0) return FERRY_OK;
  if (nbatch > 1 && (double)M * (double)N * (double)K < BATCH_SMALL) {
    bjob j = {nbatch, nbatch < BATCH_SLOTS ? nbatch : BATCH_SLOTS, M, N, K, ldc, offs, ctx, A, B, C, e, NULL, 0};
    j.work_n = (ferry_sgemm_work(M, N, K) + 15) / 16 * 16;
    if (!(j.work = ferry_linalg_scratch(k, j.work_n * (size_t)j.n_slots * sizeof(float)))) return FERRY_E_SYSTEM;
    k->parallel(k, j.n_slots, batch_slot_task, &j);
    return FERRY_OK;
  }
  float *ws = ferry_linalg_scratch(k, ferry_sgemm_ws_size(M, N, K) * sizeof(float));
  if (!ws) return FERRY_E_SYSTEM;
  for (int64_t b = 0; b < nbatch; b++) {
    int64_t ao, bo, co;
    offs(ctx, b, &ao, &bo, &co);
    ferry_gemm_b Bb = {{B.p + bo, B.rs, B.cs}, NULL, NULL};
    ferry_sgemm_ws(k, M, N, K, (ferry_fmat){A.p + ao, A.rs, A.cs}, &Bb, C + co, ldc, e, ws);
  }
  return FERRY_OK;
}

/* ---- int32 products ---- */

typedef uint32_t u32x4 __attribute__((vector_size(16)));

typedef struct ijob {
  int64_t M, N, K;
  const int32_t *A, *B;
  int32_t *C;
} ijob;

#define IKB 128
#define INB 512

/* C[i, j0:j1] += A[i, k0:k1] * B[k0:k1, j0:j1] (wrapping). */
static void irow(const ijob *g, int64_t i, int64_t k0, int64_t k1, int64_t j0, int64_t j1) {
  uint32_t *c = (uint32_t *)(g->C + i * g->N);
  for (int64_t p = k0; p < k1; p++) {
    uint32_t a = (uint32_t)g->A[i * g->K + p];
    if (!a) continue;
    const uint32_t *b = (const uint32_t *)(g->B + p * g->N);
    u32x4 av = {a, a, a, a};
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
      u32x4 cv, bv;
      memcpy(&cv, c + j, sizeof cv);
      memcpy(&bv, b + j, sizeof bv);
      cv += av * bv;
      memcpy(c + j, &cv, sizeof cv);
    }
    for (; j < j1; j++) c[j] += a * b[j];
  }
}

static void igemm_task(void *arg, int64_t begin, int64_t end) {
  const ijob *g = arg;
  for (int64_t i = begin; i < end; i++) memset(g->C + i * g->N, 0, (size_t)g->N * sizeof *g->C);
  for (int64_t j0 = 0; j0 < g->N; j0 += INB)
    for (int64_t k0 = 0; k0 < g->K; k0 += IKB)
      for (int64_t i = begin; i < end; i++) irow(g, i, k0, min64(g->K, k0 + IKB), j0, min64(g->N, j0 + INB));
}

void ferry_igemm(ferry_kctx *k, int64_t M, int64_t N, int64_t K, const int32_t *A, const int32_t *B, int32_t *C) {
  ijob g = {M, N, K, A, B, C};
  if (M > 0 && N > 0) k->parallel(k, M, igemm_task, &g);
}
