/*
 * gemm.h - the float32 matrix product every linear-algebra kernel runs on
 * (internal to runtime/kernels/: MatMul, Gemm, Conv, ConvTranspose, Einsum).
 *
 *   C[M,N] = act(alpha * A[M,K] * B[K,N] + beta * bias)
 *
 * A is any strided matrix (so transposes are free); B is a strided matrix
 * or a packer callback that writes B's packed panels itself (Conv's
 * implicit im2col). The epilogue (alpha, a broadcast bias, an activation)
 * runs on each tile of C right after its last k-block, while it is still in
 * cache. ferry_sgemm splits the work over k->parallel and takes its
 * workspace from k->scratch; ferry_sgemm_serial runs in the caller's thread
 * with a caller-provided workspace, for kernels that parallelize over many
 * small products themselves.
 */
#ifndef FERRY_KERNELS_GEMM_H
#define FERRY_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel.h"

/* Columns of one packed B panel (the layout a packer callback writes):
 * two vectors of the widest float vector the build may use - 16 on x86-64,
 * where an AVX2 micro-kernel can be picked at run time, 8 elsewhere
 * (wasm32 SIMD128). */
#ifndef FERRY_GEMM_NR
#if defined(__AVX__) || defined(__x86_64__)
#define FERRY_GEMM_NR 16
#else
#define FERRY_GEMM_NR 8
#endif
#endif

/* Activations fused into the epilogue (com.microsoft FusedConv/FusedGemm). */
enum ferry_act_kind {
  FERRY_ACT_NONE,
  FERRY_ACT_RELU,
  FERRY_ACT_TANH,
  FERRY_ACT_SIGMOID,
  FERRY_ACT_LEAKYRELU,  /* a: alpha */
  FERRY_ACT_CLIP,       /* a: min, b: max */
  FERRY_ACT_HARDSIGMOID /* a: alpha, b: beta */
};

typedef struct ferry_act {
  int kind; /* enum ferry_act_kind */
  float a, b;
} ferry_act;

/* Reads `activation` and its parameters (activation_params, or FusedGemm's
 * activation_alpha/_beta) from the node; FERRY_OK, or an error (k->err). */
int ferry_act_read(ferry_kctx *k, ferry_act *act);
/* x[0..n) = act(x[0..n)). */
void ferry_act_apply(const ferry_act *act, float *x, int64_t n);

typedef struct ferry_gemm_epi {
  float alpha;       /* scales A*B */
  float beta;        /* scales the bias */
  const float *bias; /* NULL: none; element (i, j) at bias[i*bias_rs + j*bias_cs] */
  int64_t bias_rs, bias_cs;
  ferry_act act;
  /* NULL, or an element-wise map the products run on every finished
   * stretch of C in place, after all of the above and while it is still in
   * cache: post(post_ctx, c, n) maps c[0..n), part of one row, once per
   * element; called concurrently on disjoint stretches (ferry_kctx post:
   * the executor's chains fused onto a Conv). ferry_gemm_epi_row does not
   * call it. */
  void (*post)(const void *ctx, float *c, int64_t n);
  const void *post_ctx;
} ferry_gemm_epi;

/* alpha 1, beta 1, no bias, no activation. */
void ferry_gemm_epi_init(ferry_gemm_epi *e);
/* Applies the epilogue to c[0..n), row i of C from column j0, which holds
 * the plain sum A*B. */
void ferry_gemm_epi_row(const ferry_gemm_epi *e, int64_t i, int64_t j0, int64_t n, float *c);

/* A float matrix: element (i, j) at p[i*rs + j*cs]. */
typedef struct ferry_fmat {
  const float *p;
  int64_t rs, cs;
} ferry_fmat;

/* Writes B's rows [k0, k0+kc) x columns [j0, j0+nc) packed: panels of
 * FERRY_GEMM_NR columns, panel q at dst + q*kc*NR holding element (p, jj)
 * at [p*NR + jj], columns past nc zero. Called concurrently on disjoint
 * panels. */
typedef void (*ferry_gemm_packb_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst);

/* The B operand: a matrix, or (pack != NULL) a packer and its context. */
typedef struct ferry_gemm_b {
  ferry_fmat m;
  ferry_gemm_packb_fn pack;
  const void *ctx;
} ferry_gemm_b;

/* C (row stride ldc) = epi(A * B) over k->parallel; FERRY_OK, or
 * FERRY_E_SYSTEM with k->err set when scratch runs out. */
int ferry_sgemm(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                int64_t ldc, const ferry_gemm_epi *e);

/* The same with a workspace of ferry_sgemm_ws_size(M, N, K) floats
 * (64-byte aligned) from the caller, for loops of products. */
size_t ferry_sgemm_ws_size(int64_t M, int64_t N, int64_t K);
void ferry_sgemm_ws(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                    int64_t ldc, const ferry_gemm_epi *e, float *ws);

/* ---- constant operands packed once ----
 * A weight that is the same every run (kctx const_in) can be packed once
 * into a buffer the executor keeps (k->persist) and reused: A with
 * ferry_sgemm_pack_a (ferry_sgemm_pack_a_size(M, K) floats), B with
 * ferry_sgemm_pack_b (ferry_sgemm_pack_b_size(K, N) floats). The layouts
 * are this build's (register tile and k-blocking): never stored in
 * bundles. */
size_t ferry_sgemm_pack_a_size(int64_t M, int64_t K);
void ferry_sgemm_pack_a(int64_t M, int64_t K, ferry_fmat A, float *dst);
size_t ferry_sgemm_pack_b_size(int64_t K, int64_t N);
void ferry_sgemm_pack_b(int64_t K, int64_t N, ferry_fmat B, float *dst);

/* Prepacked operands of one product: a (or NULL) replaces packing A, b
 * (or NULL) replaces packing B; A and B must still describe the
 * matrices (one-row or one-column products read them directly). b_rows:
 * the K its B was packed with when the product reads only part of it
 * (0: the product's K); see ferry_sgemm_packed_b_at. a_rows: the same for
 * A (its K at most FERRY_GEMM_KC); see ferry_sgemm_packed_a_at. */
typedef struct ferry_gemm_pre {
  const float *a, *b;
  int64_t b_rows;
  int64_t a_rows;
} ferry_gemm_pre;

/* The k-block: an A packed with K at most this is one block, its row
 * panels K * ferry_sgemm_a_panel() floats apart. */
#define FERRY_GEMM_KC 256

/* Columns per panel of a packed B: a product over part of one starts at a
 * multiple of this. */
int64_t ferry_sgemm_b_panel(void);
/* Rows per panel of a packed A (the register tile's rows). */
int64_t ferry_sgemm_a_panel(void);
/* In an A packed by ferry_sgemm_pack_a(M, K, ...) with K <= FERRY_GEMM_KC,
 * where a product over its rows [r, ...) (r a multiple of
 * ferry_sgemm_a_panel()) and columns [c, ...) starts; pass it as pre.a
 * with pre.a_rows = K. */
const float *ferry_sgemm_packed_a_at(const float *a, int64_t K, int64_t r, int64_t c);

/* In a B packed by ferry_sgemm_pack_b(K, N, ...), where a product over
 * its rows [r, ...) and columns [c, ...) starts (c a multiple of
 * ferry_sgemm_b_panel()); pass it as pre.b with pre.b_rows = K. */
const float *ferry_sgemm_packed_b_at(const float *b, int64_t K, int64_t r, int64_t c);

/* ferry_sgemm_ws with prepacked operands (pre may be NULL). */
void ferry_sgemm_ws_pre(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                        int64_t ldc, const ferry_gemm_epi *e, float *ws, const ferry_gemm_pre *pre);

/* ferry_sgemm with a plain B that, when b_const (a weight: kctx
 * const_in), is packed once into the node's persist buffer and reused on
 * later runs; products with one row or column of C do not pack. */
int ferry_sgemm_const_b(ferry_kctx *k, int64_t M, int64_t N, int64_t K, ferry_fmat A, ferry_fmat B, float *C,
                        int64_t ldc, const ferry_gemm_epi *e, int b_const);

/* nbatch products C_b = epi(A_b * B_b), all M x N x K: offs() gives the
 * offsets (in floats) of A_b, B_b and C_b from A.p, B.p and C. Small
 * products run whole in parallel slots, big ones one after another with
 * threads inside. */
typedef void (*ferry_gemm_offs_fn)(const void *ctx, int64_t b, int64_t *a_off, int64_t *b_off, int64_t *c_off);
int ferry_sgemm_batch(ferry_kctx *k, int64_t nbatch, ferry_gemm_offs_fn offs, const void *ctx, int64_t M, int64_t N,
                      int64_t K, ferry_fmat A, ferry_fmat B, float *C, int64_t ldc, const ferry_gemm_epi *e);

/* The same in the caller's thread; `work` holds ferry_sgemm_work(M, N, K)
 * floats, 64-byte aligned. */
size_t ferry_sgemm_work(int64_t M, int64_t N, int64_t K);
void ferry_sgemm_serial(int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C, int64_t ldc,
                        const ferry_gemm_epi *e, float *work);

/* ferry_sgemm_serial with prepacked operands (pre may be NULL; see
 * ferry_gemm_pre), for kernels that pack their own operands and run many
 * small products in parallel slots (Winograd). */
void ferry_sgemm_serial_pre(int64_t M, int64_t N, int64_t K, ferry_fmat A, const ferry_gemm_b *B, float *C,
                            int64_t ldc, const ferry_gemm_epi *e, float *work, const ferry_gemm_pre *pre);

/* The micro-kernel in use, e.g. "f32x4 4x8" (benchmarks print it). */
const char *ferry_gemm_config(void);

/* Which micro-kernel later products use, process-wide: "auto" (the
 * default: AVX2+FMA when the x86-64 CPU has both, else the generic
 * build), "generic", or "avx2". Returns 0 (and changes nothing) when this
 * build or CPU lacks it. For tests and benchmarks comparing the paths;
 * not thread-safe against products running meanwhile. */
int ferry_gemm_use_isa(const char *isa);
/* 1 when kernels should take their AVX2+FMA variants (x86-64 builds
 * without -mavx2, on a CPU with both, unless ferry_gemm_use_isa said
 * "generic"): the GEMM and the depthwise convolution follow it. */
int ferry_simd_avx2(void);

/* ---- helpers the linear-algebra kernels share ---- */

/* Scratch or NULL with k->err set ("out of memory"). */
void *ferry_linalg_scratch(ferry_kctx *k, size_t bytes);
/* Shapes out[i] when the executor could not (data NULL), else checks that
 * its dtype and dims are these; FERRY_OK or an error. */
int ferry_linalg_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims);
/* t's elements as float32: t's own data, or a converted copy in scratch
 * (float16, bfloat16, float64...); NULL when out of memory (k->err set). */
float *ferry_linalg_f32_in(ferry_kctx *k, const ferry_tview *t);
/* out = src (out->numel float32 values) converted to out's dtype. */
void ferry_linalg_f32_out(const float *src, ferry_tview *out);

/* Integer products for the quantized ops: C[M,N] = A[M,K] * B[K,N], all
 * int32 row-major (callers subtract zero points while widening), with
 * wrapping arithmetic; rows split over k->parallel. */
void ferry_igemm(ferry_kctx *k, int64_t M, int64_t N, int64_t K, const int32_t *A, const int32_t *B, int32_t *C);

#endif
