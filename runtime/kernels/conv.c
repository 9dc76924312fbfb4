/*
 * conv.c - Conv, FusedConv (com.microsoft), ConvTranspose, ConvInteger and
 * QLinearConv (declared in linalg.h).
 *
 *   - geometry: conv_geometry() / convt_geometry() read the window
 *     attributes (kernel_shape, strides, dilations, pads, auto_pad, group,
 *     output_padding, output_shape) and compute output dims exactly as the
 *     shape rules of runtime/ops/nn.c do, plus the pads the kernel needs;
 *   - float32 Conv is a GEMM per (image, group): Y[Mg, out] = W[Mg, Cg*k] *
 *     im2col(X)[Cg*k, out]. The im2col matrix is never built: its packer
 *     (pack_im2col_2d, or the N-d one) writes the GEMM's packed B panels
 *     straight from the image; 1x1 stride-1 unpadded convolutions use X as
 *     B directly. Bias and the fused activation run in the GEMM epilogue.
 *     A constant W is packed once into the node's persist buffer
 *     (prepacked_w). 3x3 stride-1 convolutions with enough channels go to
 *     Winograd F(2x2,3x3) where it pays (conv_winograd.c). Depthwise
 *     convolutions (one input channel per group) run a direct kernel
 *     instead, generic and AVX2: 3x3 ones at stride 1 or 2 along output
 *     rows read in place (conv_dw.h, dw3_setup), others over blocks of 4
 *     or 8 channels transposed into pixel vectors (conv_dwc.h,
 *     dwc_setup), or, for channel multipliers and rows too wide for a
 *     band, plane by plane (conv_dw.h) over a zero-padded copy of each
 *     channel; all with bias and Relu/Clip/HardSigmoid in registers
 *     (dw_epi). Natively, 3x3 convolutions over at most four input
 *     channels (first layers: K too short for im2col) run the rows'
 *     direct kernel summed over channels (conv_dw.h, dc_setup);
 *   - ConvTranspose is a GEMM into a column buffer (W^T * X) and a col2im
 *     scatter-add onto the bias; when the kernel equals the stride without
 *     padding (the 2x2/2 upsampling of segmentation heads) every output
 *     gets one value and col2im interleaves column rows in one pass;
 *   - float16/bfloat16/float64 go through float32;
 *   - ConvInteger / QLinearConv widen to int32 with zero points
 *     subtracted, build im2col explicitly and run ferry_igemm; QLinearConv
 *     adds its int32 bias and requantizes (round half to even, saturate).
 */
#include <math.h>
#include <string.h>

#include "conv_winograd.h"
#include "gemm.h"
#include "linalg.h"
#include "simd.h"
#include "util.h"

#define MAXSP (FERRY_MAX_RANK - 2)

typedef struct cgeo {
  int nsp;                               /* spatial dims */
  int64_t N, C, M, G, Cg, Mg;            /* images, in/out channels, groups */
  int64_t in[MAXSP], out[MAXSP], k[MAXSP], s[MAXSP], d[MAXSP], pb[MAXSP], pe[MAXSP];
  int64_t in_size, out_size, k_size;     /* products of in, out, k */
} cgeo;

enum { PAD_NOTSET, PAD_VALID, PAD_SAME_UPPER, PAD_SAME_LOWER };

/* ---- geometry ---- */

static int read_auto_pad(ferry_kctx *k, int *mode) {
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  *mode = PAD_NOTSET;
  if (!ferry_attr_get(k->sctx, "auto_pad", &a) || a.type != 3 || !a.s) return FERRY_OK;
  static const char *names[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
  for (int i = 0; i < 4; i++)
    if ((int64_t)strlen(names[i]) == a.slen && !memcmp(a.s, names[i], (size_t)a.slen)) {
      *mode = i;
      return FERRY_OK;
    }
  if (a.slen == 0) return FERRY_OK;
  return ferry_kernel_fail(k, "unknown auto_pad '%.*s'", (int)(a.slen > 32 ? 32 : a.slen), a.s);
}

#define WIN_MAX ((int64_t)1 << 31) /* bound on window attributes: no overflow below */

/* *acc *= v for sizes (>= 0); 0 when the product would overflow (the
 * sizes are then absurd). A division, not __builtin_mul_overflow: wasm32
 * has no 128-bit multiply helper (__multi3). */
static int mul_size(int64_t *acc, int64_t v) {
  if (v && *acc > INT64_MAX / v) return 0;
  *acc *= v;
  return 1;
}

/* n ints of attribute `name` into v (dflt when absent), each >= min. */
static int read_ints(ferry_kctx *k, const char *name, int n, int64_t dflt, int64_t min, int64_t *v) {
  const int64_t *a;
  int m = ferry_attr_ints(k->sctx, name, &a);
  if (m && m != n) return ferry_kernel_fail(k, "%s has %d values, expected %d", name, m, n);
  for (int i = 0; i < n; i++) {
    v[i] = m ? a[i] : dflt;
    if (v[i] < min) return ferry_kernel_fail(k, "%s must be >= %lld", name, (long long)min);
    if (v[i] > WIN_MAX) return ferry_kernel_fail(k, "%s value %lld is too large", name, (long long)v[i]);
  }
  return FERRY_OK;
}

/* What Conv and ConvTranspose share: X [N, C, in...], W's spatial dims,
 * strides, dilations, kernel_shape (which must agree with W), group. */
static int read_window(ferry_kctx *k, cgeo *g, const ferry_tview *x, const ferry_tview *w) {
  memset(g, 0, sizeof *g);
  if (x->rank < 3) return ferry_kernel_fail(k, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
  if (w->rank != x->rank) return ferry_kernel_fail(k, "W has rank %d, X has rank %d", w->rank, x->rank);
  g->nsp = x->rank - 2;
  g->N = x->dims[0];
  g->C = x->dims[1];
  g->G = ferry_attr_int(k->sctx, "group", 1);
  if (g->G < 1) return ferry_kernel_fail(k, "group must be >= 1");
  int64_t ks[MAXSP];
  int rc;
  if ((rc = read_ints(k, "strides", g->nsp, 1, 1, g->s)) || (rc = read_ints(k, "dilations", g->nsp, 1, 1, g->d)) ||
      (rc = read_ints(k, "kernel_shape", g->nsp, 0, 0, ks)))
    return rc;
  g->in_size = g->k_size = 1;
  for (int i = 0; i < g->nsp; i++) {
    g->in[i] = x->dims[i + 2];
    g->k[i] = w->dims[i + 2];
    if (ks[i] && ks[i] != g->k[i]) return ferry_kernel_fail(k, "kernel_shape differs from W's dims");
    if (!mul_size(&g->in_size, g->in[i]) || !mul_size(&g->k_size, g->k[i]) || g->k[i] > WIN_MAX)
      return ferry_kernel_fail(k, "window sizes are too large");
  }
  return FERRY_OK;
}

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int conv_geometry(ferry_kctx *k, cgeo *g, const ferry_tview *x, const ferry_tview *w) {
  int rc = read_window(k, g, x, w), mode;
  if (rc || (rc = read_auto_pad(k, &mode))) return rc;
  int64_t p[2 * MAXSP];
  if ((rc = read_ints(k, "pads", 2 * g->nsp, 0, 0, p))) return rc;
  g->M = w->dims[0];
  g->Cg = w->dims[1];
  if (g->C != g->Cg * g->G)
    return ferry_kernel_fail(k, "X has %lld channels, W expects %lld x group %lld", (long long)g->C, (long long)g->Cg,
                             (long long)g->G);
  if (g->M % g->G) return ferry_kernel_fail(k, "%lld output channels do not split into %lld groups", (long long)g->M, (long long)g->G);
  g->Mg = g->M / g->G;
  g->out_size = 1;
  for (int i = 0; i < g->nsp; i++) {
    int64_t s = g->s[i], ek = (g->k[i] - 1) * g->d[i] + 1, in = g->in[i];
    if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
      g->out[i] = (in + s - 1) / s;
      int64_t total = (g->out[i] - 1) * s + ek - in;
      if (total < 0) total = 0;
      g->pb[i] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
      g->pe[i] = total - g->pb[i];
    } else {
      g->pb[i] = mode == PAD_VALID ? 0 : p[i];
      g->pe[i] = mode == PAD_VALID ? 0 : p[i + g->nsp];
      g->out[i] = floor_div(in + g->pb[i] + g->pe[i] - ek, s) + 1;
    }
    if (g->out[i] < 0) return ferry_kernel_fail(k, "spatial dim %d: input is smaller than the kernel", i);
    if (!mul_size(&g->out_size, g->out[i])) return ferry_kernel_fail(k, "output is too large");
  }
  return FERRY_OK;
}

static int convt_geometry(ferry_kctx *k, cgeo *g, const ferry_tview *x, const ferry_tview *w) {
  int rc = read_window(k, g, x, w), mode;
  if (rc || (rc = read_auto_pad(k, &mode))) return rc;
  int64_t p[2 * MAXSP], op[MAXSP];
  if ((rc = read_ints(k, "pads", 2 * g->nsp, 0, 0, p)) || (rc = read_ints(k, "output_padding", g->nsp, 0, 0, op)))
    return rc;
  if (w->dims[0] != g->C) return ferry_kernel_fail(k, "X's channels differ from W's first dim");
  if (g->C % g->G) return ferry_kernel_fail(k, "%lld channels do not split into %lld groups", (long long)g->C, (long long)g->G);
  g->Cg = g->C / g->G;
  g->Mg = w->dims[1];
  g->M = g->Mg * g->G;
  const int64_t *os;
  int n_os = ferry_attr_ints(k->sctx, "output_shape", &os);
  if (n_os == g->nsp + 2) os += 2, n_os -= 2;
  if (n_os && n_os != g->nsp) return ferry_kernel_fail(k, "output_shape has %d values", n_os);
  g->out_size = 1;
  for (int i = 0; i < g->nsp; i++) {
    int64_t s = g->s[i], ek = (g->k[i] - 1) * g->d[i] + 1, in = g->in[i];
    int64_t full = in > 0 ? in - 1 : 0; /* the output without padding */
    if (!mul_size(&full, s) || full > INT64_MAX / 2 || (n_os && (os[i] < 0 || os[i] > ((int64_t)1 << 40))))
      return ferry_kernel_fail(k, "output is too large");
    full += op[i] + ek - (in > 0 ? 0 : s); /* s * (in - 1) + op + ek */
    int same = mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER;
    if (n_os || same) {
      g->out[i] = n_os ? os[i] : ek + op[i] >= s ? in * s : full;
      int64_t total = full - g->out[i];
      if (total < 0) total = 0;
      g->pb[i] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
      g->pe[i] = total - g->pb[i];
    } else {
      g->pb[i] = mode == PAD_VALID ? 0 : p[i];
      g->pe[i] = mode == PAD_VALID ? 0 : p[i + g->nsp];
      g->out[i] = full - g->pb[i] - g->pe[i];
    }
    if (g->out[i] < 0) return ferry_kernel_fail(k, "spatial dim %d: negative output size", i);
    if (!mul_size(&g->out_size, g->out[i])) return ferry_kernel_fail(k, "output is too large");
  }
  return FERRY_OK;
}

static int conv_output(ferry_kctx *k, const cgeo *g, int dtype) {
  int64_t od[FERRY_MAX_RANK] = {g->N, g->M};
  for (int i = 0; i < g->nsp; i++) od[i + 2] = g->out[i];
  return ferry_linalg_output(k, 0, dtype, g->nsp + 2, od);
}

/* The 2-D view of a 1-D or 2-D window: H, W, kernel, stride, dilation, pads. */
typedef struct win2 {
  int64_t H, W, OH, OW, kh, kw, sh, sw, dh, dw, ph, pw;
} win2;

static int as_2d(const cgeo *g, win2 *v) {
  if (g->nsp > 2) return 0;
  int o = g->nsp == 2;
  *v = (win2){o ? g->in[0] : 1, g->in[o], o ? g->out[0] : 1, g->out[o], o ? g->k[0] : 1, g->k[o],
              o ? g->s[0] : 1, g->s[o], o ? g->d[0] : 1, g->d[o], o ? g->pb[0] : 0, g->pb[o]};
  return 1;
}

/* Offset in the image of group input channel c, kernel position kidx,
 * output position j (N-d, any rank); -1 in the padding. */
static int64_t window_offset(const cgeo *g, int64_t c, int64_t kidx, int64_t j) {
  int64_t off = 0, stride = 1;
  for (int i = g->nsp - 1; i >= 0; i--) {
    int64_t kq = kidx / g->k[i], kr = kidx - kq * g->k[i];
    int64_t oq = j / g->out[i], orr = j - oq * g->out[i];
    int64_t pos = orr * g->s[i] - g->pb[i] + kr * g->d[i];
    if (pos < 0 || pos >= g->in[i]) return -1;
    off += pos * stride;
    stride *= g->in[i];
    kidx = kq, j = oq;
  }
  return c * g->in_size + off;
}

/* ---- float32 Conv: implicit im2col ---- */

#define NR FERRY_GEMM_NR

typedef struct im2col {
  const cgeo *g;
  win2 v;
  const float *x; /* first input channel of the group */
} im2col;

/* A run of a panel's columns that lie in one output row. */
typedef struct cseg {
  int j, n;       /* first column in the panel, count */
  int64_t ih, iw; /* input position of the first column's window origin */
} cseg;

/* x[0], x[2], x[4], x[6] (reads x[0 .. 8)) */
static inline f32x4 even_lanes(const float *x) {
  return __builtin_shufflevector(f32x4_load(x), f32x4_load(x + 4), 0, 2, 4, 6);
}

/* One im2col row's run: d[0..n) = the input row ih + kdh from column
 * iw + kdw on (stride sw), zero in the padding. */
static void pack_run(const win2 *v, const float *xc, const cseg *sg, int64_t kdh, int64_t kdw, float *d) {
  int64_t ih = sg->ih + kdh, iw0 = sg->iw + kdw;
  int n = sg->n;
  if (ih < 0 || ih >= v->H) {
    f32_zero(d, n);
    return;
  }
  const float *row = xc + ih * v->W;
  if (v->sw == 1) {
    int lo = iw0 >= 0 ? 0 : (int)(-iw0 < n ? -iw0 : n);
    int hi = iw0 + n <= v->W ? n : (int)(v->W - iw0 > lo ? v->W - iw0 : lo);
    f32_zero(d, lo);
    int jj = lo;
    for (; jj + 4 <= hi; jj += 4) f32x4_store(d + jj, f32x4_load(row + iw0 + jj));
    for (; jj < hi; jj++) d[jj] = row[iw0 + jj];
    f32_zero(d + hi, n - hi);
    return;
  }
  int jj = 0;
  if (v->sw == 2) /* the even lanes of pairs of vectors, where both lie inside the row */
    for (; jj < n && iw0 + 2 * jj < 0; jj++) d[jj] = 0;
  for (; v->sw == 2 && jj + 4 <= n && iw0 + 2 * jj + 8 <= v->W; jj += 4)
    f32x4_store(d + jj, even_lanes(row + iw0 + 2 * jj));
  for (; jj < n; jj++) {
    int64_t iw = iw0 + jj * v->sw;
    d[jj] = iw >= 0 && iw < v->W ? row[iw] : 0;
  }
}

/* Output rows ahead that pack_cell prefetches the image for: an image
 * row is a few cache lines (224 floats: 14), too short a stream for the
 * hardware prefetchers, so a first layer reading its input from DRAM
 * waited on every row (mobilenet_v2's first Conv: 0.50 -> 0.40 ms). */
#define PF_ROWS 2
/* Rows kdh/kdw/coff[0..pn) of one packed panel: the nr columns from
 * output position (oh, ow) on, at d (row stride NR), one run per output
 * row the panel touches. */
static void pack_cell(const im2col *ic, const int64_t *coff, const int64_t *kdh, const int64_t *kdw, int64_t pn,
                      int64_t oh, int64_t ow, int nr, float *d) {
  const win2 *v = &ic->v;
  cseg sg[NR];
  int ns = 0;
  for (int jj = 0; jj < nr; ns++) {
    int n = (int)(v->OW - ow < nr - jj ? v->OW - ow : nr - jj);
    sg[ns] = (cseg){jj, n, oh * v->sh, ow * v->sw};
    jj += n, ow += n;
    if (ow == v->OW) ow = 0, oh++;
  }
  for (int64_t p = 0; p < pn; p++, d += NR) {
    const float *xc = ic->x + coff[p];
    f32_zero(d + nr, NR - nr);
    if (ns == 1 && nr == NR && v->sw <= 2) { /* the common case: one run of whole vectors inside the row */
      int64_t ih = sg[0].ih + kdh[p], iw0 = sg[0].iw + kdw[p];
      if (ih >= 0 && ih < v->H && iw0 >= 0 && iw0 + v->sw * NR <= v->W) {
        const float *src = xc + ih * v->W + iw0;
        __builtin_prefetch(src + PF_ROWS * v->sh * v->W);
        if (v->sw == 1)
          for (int u = 0; u < NR; u += 4) f32x4_store(d + u, f32x4_load(src + u));
        else
          for (int u = 0; u < NR; u += 4) f32x4_store(d + u, even_lanes(src + 2 * u));
        continue;
      }
    }
    for (int i = 0; i < ns; i++) pack_run(v, xc, &sg[i], kdh[p], kdw[p], d + sg[i].j);
  }
}

#define PACK_GROUP 8 /* im2col rows packed together: whole cache lines per panel */

/* Packs im2col rows [k0, k0+kc) x columns [j0, j0+nc): a group of rows at
 * a time across all panels, so the image is read along its rows. */
static void pack_im2col_2d(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
  const im2col *ic = ctx;
  const win2 *v = &ic->v;
  int64_t coff[PACK_GROUP], kdh[PACK_GROUP], kdw[PACK_GROUP], khw = v->kh * v->kw;
  for (int64_t p0 = 0; p0 < kc; p0 += PACK_GROUP) {
    int64_t pn = kc - p0 < PACK_GROUP ? kc - p0 : PACK_GROUP;
    for (int64_t p = 0; p < pn; p++) {
      int64_t kk = k0 + p0 + p, c = kk / khw, r = kk - c * khw, ki = r / v->kw, kj = r - ki * v->kw;
      coff[p] = c * v->H * v->W;
      kdh[p] = ki * v->dh - v->ph;
      kdw[p] = kj * v->dw - v->pw;
    }
    int64_t oh = j0 / v->OW, ow = j0 - oh * v->OW;
    for (int64_t q = 0; q * NR < nc; q++) {
      int nr = (int)(nc - q * NR < NR ? nc - q * NR : NR);
      pack_cell(ic, coff, kdh, kdw, pn, oh, ow, nr, dst + q * kc * NR + p0 * NR);
      for (ow += NR; ow >= v->OW; ow -= v->OW) oh++;
    }
  }
}

static void pack_im2col_nd(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
  const im2col *ic = ctx;
  const cgeo *g = ic->g;
  for (int64_t q = 0; q * NR < nc; q++) {
    float *d = dst + q * kc * NR;
    int nr = (int)(nc - q * NR < NR ? nc - q * NR : NR);
    for (int64_t p = 0; p < kc; p++) {
      int64_t kk = k0 + p, c = kk / g->k_size, kidx = kk - c * g->k_size;
      for (int jj = 0; jj < NR; jj++) {
        int64_t off = jj < nr ? window_offset(g, c, kidx, j0 + q * NR + jj) : -1;
        d[p * NR + jj] = off >= 0 ? ic->x[off] : 0;
      }
    }
  }
}

static int is_pointwise(const cgeo *g) {
  for (int i = 0; i < g->nsp; i++)
    if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] || g->pe[i]) return 0;
  return 1;
}

/* ---- float32 Conv: depthwise ---- */

typedef struct dwjob {
  const cgeo *g;
  win2 v;
  const float *x, *w;
  float *y;
  const ferry_gemm_epi *e;
  /* the padded path (dw_slot_task): per slot a zero-padded copy of one
   * channel (vp: its geometry, no pads) and an output row of OWr values
   * (OW rounded up to DW_ROUND, a multiple of every variant's vector) */
  win2 vp;
  int64_t OWr, n_slots;
  size_t slot_floats;
  float *slots;
  int e_after; /* the epilogue runs on the written rows (not folded into dw_epi) */
  /* the channel-block path (conv_dwc.h): per slot P, a band of input rows
   * [rows][Wp][lanes], a zeroed slack, then T, one output row [OW][lanes]
   * (rows narrower than the lanes: the band's rows one after another) */
  int64_t Wp, band;
  size_t band_floats, slack_floats; /* P, then zeros the last group of a row may read past it
                                       (the flat path, dw3f_setup: its plane, then its outputs) */
  const float *consts;              /* every block's dwc_consts, or NULL: each task makes its own */
} dwjob;

/* The padded path's per-channel epilogue, applied in registers. */
typedef struct dw_epi {
  float sc, sh, lo, hi;
} dw_epi;

/* Output (oh, ow) of one depthwise channel with bounds checks (edges). */
FERRY_AVX_HELPER float dw_point(const win2 *v, const float *x, const float *w, int64_t oh, int64_t ow) {
  float s = 0;
  for (int64_t ki = 0; ki < v->kh; ki++) {
    int64_t ih = oh * v->sh - v->ph + ki * v->dh;
    if (ih < 0 || ih >= v->H) continue;
    for (int64_t kj = 0; kj < v->kw; kj++) {
      int64_t iw = ow * v->sw - v->pw + kj * v->dw;
      if (iw >= 0 && iw < v->W) s += w[ki * v->kw + kj] * x[ih * v->W + iw];
    }
  }
  return s;
}

#if defined(__wasm__)
#define DWC_GROUP 4 /* output pixels a channel-block group computes at once (conv_dwc.h) */
#else
#define DWC_GROUP 8
#endif
#define DW_MAX_TAPS 64 /* kernels up to this many taps keep splatted weights on the stack */
#if defined(__x86_64__) && !defined(__AVX2__)
#define DW_ROUND 8 /* padded rows hold whole vectors of every variant */
#else
#define DW_ROUND 4
#endif

typedef void (*ferry_parallel_fn)(void *arg, int64_t begin, int64_t end);

/* ---- depthwise over a zero-padded copy: no edge cases ---- */

#define DW_SLOTS 32                          /* channel ranges with a buffer each */
#define DW_PAD_BUDGET ((size_t)32 << 20)     /* bytes of padded copies at most */

#define DW3_ZPAD 16 /* floats of the zero row before the column 0 it stands for */
#define DC_MAX_C 4  /* input channels of the direct path at most (conv_dw.h dc_task) */

/* A 3x3 kernel at stride 1 or 2 both ways and dilation 1: what the row
 * path (conv_dw.h, dw3_plane) and the direct path (dc_row) run. */
static int dw3_fits(const win2 *v) {
  return v->kh == 3 && v->kw == 3 && v->dh == 1 && v->dw == 1 && v->sh == v->sw && (v->sw == 1 || v->sw == 2);
}

/* Sets up the padded path: 0 when it does not apply (no padding and whole
 * vectors, too many taps, or buffers over budget). */
static int dw_pad_setup(dwjob *j, int64_t nm) {
  const win2 *v = &j->v;
  int needed = v->ph || v->pw || v->OW % DW_ROUND || j->g->pe[0] || (j->g->nsp == 2 && j->g->pe[1]);
  if (!needed || j->g->k_size > DW_MAX_TAPS || !v->OH || !v->OW) return 0;
  j->OWr = (v->OW + DW_ROUND - 1) / DW_ROUND * DW_ROUND;
  int64_t ph = v->ph + v->H, rows = (v->OH - 1) * v->sh + (v->kh - 1) * v->dh + 1;
  int64_t pw = v->pw + v->W, cols = (j->OWr - 1) * v->sw + (v->kw - 1) * v->dw + 1;
  j->vp = *v;
  j->vp.H = ph > rows ? ph : rows, j->vp.W = pw > cols ? pw : cols, j->vp.ph = j->vp.pw = 0;
  if ((double)j->vp.H * (double)j->vp.W > 1e8) return 0;
  j->slot_floats = (size_t)((j->vp.H * j->vp.W + j->OWr + 15) / 16 * 16);
  j->n_slots = nm < DW_SLOTS ? nm : DW_SLOTS;
  while (j->n_slots > 1 && j->slot_floats * sizeof(float) * (size_t)j->n_slots > DW_PAD_BUDGET) j->n_slots /= 2;
  return j->slot_floats * sizeof(float) * (size_t)j->n_slots <= DW_PAD_BUDGET;
}

/* Zeroes buf's border: the rows above and below the image and, beside
 * each image row, the columns left and right of it (vp's geometry). */
FERRY_AVX_HELPER void dw_zero_border(const dwjob *j, float *buf) {
  const win2 *v = &j->v, *vp = &j->vp;
  memset(buf, 0, (size_t)(v->ph * vp->W) * sizeof *buf);
  for (int64_t r = 0; r < v->H; r++) {
    float *d = buf + (v->ph + r) * vp->W;
    memset(d, 0, (size_t)v->pw * sizeof *d);
    memset(d + v->pw + v->W, 0, (size_t)(vp->W - v->pw - v->W) * sizeof *d);
  }
  int64_t done = v->ph + v->H;
  memset(buf + done * vp->W, 0, (size_t)((vp->H - done) * vp->W) * sizeof *buf);
}

/* Channel m's epilogue as y = clamp(sum * sc + sh, lo, hi): alpha, the
 * bias and Relu / Clip / HardSigmoid fold into it; other activations run
 * after each row (e_after, ferry_gemm_epi_row on the plain sums). */
FERRY_AVX_HELPER void dw_epi_for(const dwjob *j, int64_t m, dw_epi *ep) {
  const ferry_gemm_epi *e = j->e;
  *ep = (dw_epi){1, 0, -INFINITY, INFINITY};
  if (j->e_after) return;
  ep->sc = e->alpha;
  ep->sh = e->bias ? e->beta * e->bias[m * e->bias_rs] : 0;
  switch (e->act.kind) {
  case FERRY_ACT_RELU: ep->lo = 0; break;
  case FERRY_ACT_CLIP: ep->lo = e->act.a, ep->hi = e->act.b; break;
  case FERRY_ACT_HARDSIGMOID:
    ep->sc *= e->act.a, ep->sh = ep->sh * e->act.a + e->act.b, ep->lo = 0, ep->hi = 1;
    break;
  default: break;
  }
}

/* Channel m's constants for the 3x3 row and flat paths (conv_dw.h
 * dw3_group): the nine weights times the epilogue's scale, then its shift,
 * lo and hi. */
FERRY_AVX_HELPER void dw3_consts(const dwjob *j, int64_t m, float *wt) {
  dw_epi ep;
  dw_epi_for(j, m, &ep);
  for (int t = 0; t < 9; t++) wt[t] = j->w[m * 9 + t] * ep.sc;
  wt[9] = ep.sh, wt[10] = ep.lo, wt[11] = ep.hi;
}

/* The constants of the channel block from m0 on, in lanes-wide vectors
 * at d: each tap's weights times the epilogue's scale, then its shift, lo
 * and hi (dw_epi); a block's missing channels repeat its last. */
FERRY_AVX_HELPER void dwc_consts(const dwjob *j, int64_t lanes, int64_t m0, float *d) {
  const int64_t M = j->g->M, taps = j->g->k_size;
  for (int64_t c = 0; c < lanes; c++) {
    int64_t m = m0 + c < M ? m0 + c : M - 1;
    dw_epi e;
    dw_epi_for(j, m, &e);
    for (int64_t t = 0; t < taps; t++) d[t * lanes + c] = j->w[m * taps + t] * e.sc;
    d[taps * lanes + c] = e.sh, d[(taps + 1) * lanes + c] = e.lo, d[(taps + 2) * lanes + c] = e.hi;
  }
}

/* Every block's constants in the node's persistent buffer, made on the
 * first run, when W and the bias are the same every run; NULL otherwise.
 * lanes more floats than the blocks take tell the 4- and 8-lane layouts
 * apart (tests switch the instruction set between runs). */
static const float *dwc_persist(ferry_kctx *k, const dwjob *j, int64_t lanes, int consts) {
  const int64_t nblk = (j->g->M + lanes - 1) / lanes, per = (j->g->k_size + 3) * lanes;
  int fresh = 0;
  if (!consts || !k->persist) return NULL;
  float *d = k->persist(k, (size_t)(nblk * per + lanes) * sizeof(float), &fresh);
  for (int64_t b = 0; d && fresh && b < nblk; b++) dwc_consts(j, lanes, b * lanes, d + b * per);
  return d;
}

/* The vector loops, once per instruction set (conv_dw.h, conv_dwc.h). */
#define DW_V f32x4
#define DW_I i32x4
#define DW_VL 4
#define DW_ATTR
#define DW_FN(name) name##_generic
#include "conv_dw.h"
#include "conv_dwc.h"
#undef DW_V
#undef DW_I
#undef DW_VL
#undef DW_ATTR
#undef DW_FN
#if defined(__x86_64__) && !defined(__AVX2__)
typedef float dw_f32x8 __attribute__((vector_size(32)));
typedef int dw_i32x8 __attribute__((vector_size(32)));
#define DW_V dw_f32x8
#define DW_I dw_i32x8
#define DW_VL 8
#define DW_ATTR __attribute__((target("avx2,fma")))
#define DW_FN(name) name##_avx2
#include "conv_dw.h"
#include "conv_dwc.h"
#undef DW_V
#undef DW_I
#undef DW_VL
#undef DW_ATTR
#undef DW_FN
#endif

/* The depthwise variant to run: AVX2 where the GEMM uses it. */
static ferry_parallel_fn dw_pick(int slots) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return slots ? dw_slot_task_avx2 : dw_task_avx2;
#endif
  return slots ? dw_slot_task_generic : dw_task_generic;
}

/* The row path (conv_dw.h, dw3_task) for a 3x3 depthwise kernel at stride
 * 1 or 2, where its vectors read inside their input row but for what
 * dw3_tap1 / dw3_taps2 shift in: stride 1 with pw 0 or 1 and at most one
 * column past the row, stride 2 with pw 1 and 2 OW <= W. It takes stride 2
 * from one vector of outputs a row, stride 1 from DW3_MIN_VECS (narrower
 * rows ran faster in channel blocks; docs/kernels.md). Per slot: a zero
 * row, then the channel's constants. */
#define DW3_MIN_VECS 3
static int dw3_geometry(const win2 *v, int64_t lanes) {
  if (!v->OH || v->W < lanes + 2) return 0;
  return v->sw == 1 ? v->pw <= 1 && v->OW - v->pw + 1 <= v->W : v->pw == 1 && 2 * v->OW <= v->W;
}

static int dw3_setup(dwjob *j, int64_t lanes) {
  const win2 *v = &j->v;
  if (j->g->Mg != 1 || !dw3_fits(v) || !dw3_geometry(v, lanes)) return 0;
  if (v->OW < (v->sw == 1 ? DW3_MIN_VECS * lanes : lanes)) return 0;
  j->Wp = DW3_ZPAD + v->W + 2 * lanes + 16; /* the zero row: reads from -2 to W + 2 lanes */
  j->slot_floats = (size_t)(j->Wp + 16);
  int64_t nm = j->g->N * j->g->M;
  j->n_slots = nm < DW_SLOTS ? nm : DW_SLOTS;
  return 1;
}

/* The flat path (conv_dw.h, dw3f_task) for a 3x3 depthwise kernel at
 * stride 1 on rows of DW3F_MIN_OW to DW3F_MAX_OW outputs, where the row
 * path's edges and short groups cost more than a padded copy and a few
 * outputs computed and dropped (docs/kernels.md; natively the channel
 * blocks stay faster on rows shorter than a vector). The padded plane's
 * row stride Wp holds the left pad and the row (pw + W), and lets the
 * last output's third tap (column OW + 1 of its padded row) fall at most
 * into the next row's left pad (OW + 2 - pw). Rows up to OH + 2 are read,
 * plus a group's loads past the last vector: OH + 3 rows and a margin.
 * Per slot: the channel's constants, two planes (band_floats each), two
 * buffers of outputs at stride Wp with a group's slack (slack_floats). */
#ifndef DW3F_MIN_OW
#define DW3F_MIN_OW DW_ROUND
#endif
#ifndef DW3F_MAX_OW
#define DW3F_MAX_OW 16
#endif
static int dw3f_setup(dwjob *j) {
  const win2 *v = &j->v;
  if (j->g->Mg != 1 || !dw3_fits(v) || v->sw != 1 || !v->OH || v->OW < DW3F_MIN_OW || v->OW > DW3F_MAX_OW)
    return 0;
  int64_t a = v->pw + v->W, b = v->OW + 2 - v->pw;
  j->Wp = a > b ? a : b;
  j->band_floats = (size_t)((v->OH + 3) * j->Wp + 64 + 15) / 16 * 16;
  j->slack_floats = (size_t)(v->OH * j->Wp + 2 * DW_ROUND + 15) / 16 * 16;
  j->slot_floats = 16 + 2 * (j->band_floats + j->slack_floats);
  int64_t nm = j->g->N * j->g->M;
  j->n_slots = nm < DW_SLOTS ? nm : DW_SLOTS;
  return 1;
}

/* The direct path (conv_dw.h, dc_task) for an ungrouped 3x3 convolution
 * over at most DC_MAX_C input channels (a network's first layer, where
 * the GEMM's K = 9 C is too short to pay for im2col) in the geometry of
 * the row path (dw3_geometry), from two vectors of outputs a row; natively
 * only (in wasm the GEMM measured faster: 3 -> 32 at 224x224 / 2, 25.1
 * against 21-24 GFLOP/s). Scratch: a zero row and the constants of every
 * block of DC_MB output channels, shared (slot_floats of them), then per
 * slot DC_MB rows for a last block past M. */
static int dc_setup(dwjob *j, int64_t lanes) {
  const win2 *v = &j->v;
  const cgeo *g = j->g;
  if (FERRY_IN_WASM || g->G != 1 || g->C > DC_MAX_C || !dw3_fits(v) || !dw3_geometry(v, lanes) || v->OW < 2 * lanes)
    return 0;
  int64_t units = g->N * v->OH, nblk = (g->M + DC_MB - 1) / DC_MB;
  j->n_slots = units < DW_SLOTS ? units : DW_SLOTS;
  j->Wp = DW3_ZPAD + v->W + 2 * lanes + 16; /* the zero row */
  j->slot_floats = (size_t)(j->Wp + nblk * (9 * g->C + 3) * DC_MB);
  return 1;
}

/* Fills the direct path's shared scratch: the zero row, then per block of
 * DC_MB output channels their weights [C][3][3][DC_MB] times each one's
 * epilogue scale, then shift, lo, hi [DC_MB] (dw_epi_for; a block's
 * channels past M repeat the last). */
static void dc_fill(dwjob *j) {
  const cgeo *g = j->g;
  const int64_t taps = 9 * g->C, per = (taps + 3) * DC_MB;
  f32_zero(j->slots, j->Wp);
  float *d = j->slots + j->Wp;
  for (int64_t m0 = 0; m0 < g->M; m0 += DC_MB, d += per)
    for (int64_t mb = 0; mb < DC_MB; mb++) {
      int64_t m = m0 + mb < g->M ? m0 + mb : g->M - 1;
      dw_epi ep;
      dw_epi_for(j, m, &ep);
      for (int64_t t = 0; t < taps; t++) d[t * DC_MB + mb] = j->w[m * taps + t] * ep.sc;
      d[taps * DC_MB + mb] = ep.sh, d[(taps + 1) * DC_MB + mb] = ep.lo, d[(taps + 2) * DC_MB + mb] = ep.hi;
    }
  j->consts = j->slots + j->Wp;
}

static ferry_parallel_fn dc_pick(void) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return dc_task_avx2;
#endif
  return dc_task_generic;
}

/* The flat path's variant: AVX2 where the GEMM uses it. */
static ferry_parallel_fn dw3f_pick(void) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return dw3f_task_avx2;
#endif
  return dw3f_task_generic;
}

/* The row path's variant: AVX2 where the GEMM uses it. */
static ferry_parallel_fn dw3_pick(void) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return dw3_task_avx2;
#endif
  return dw3_task_generic;
}

#define DWC_BAND_BYTES ((size_t)48 << 10) /* a band of packed input rows: about this much */
#define DWC_MAX_BYTES ((size_t)4 << 20)   /* per slot at most, else the plane path */

/* The channel-block path's variant and its lanes (conv_dwc.h). */
static ferry_parallel_fn dwc_pick(int64_t *lanes) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return *lanes = 8, dwc_task_avx2;
#endif
  return *lanes = 4, dwc_task_generic;
}

/* Sets up the channel-block path for lanes-wide blocks: bands of output rows
 * whose packed input rows take about DWC_BAND_BYTES; 0 when it does not apply
 * (a channel multiplier, too many taps, or a row too wide). */
static int dwc_setup(dwjob *j, int64_t lanes) {
  const win2 *v = &j->v;
  const cgeo *g = j->g;
  if (g->Mg != 1 || g->k_size > DW_MAX_TAPS || !v->OH || !v->OW) return 0;
  int64_t cols = (v->OW - 1) * v->sw + (v->kw - 1) * v->dw + 1;
  j->Wp = cols > v->pw + v->W ? cols : v->pw + v->W;
  double row_bytes = (double)j->Wp * (double)lanes * sizeof(float);
  int64_t rows = (int64_t)((double)DWC_BAND_BYTES / row_bytes), reach = (v->kh - 1) * v->dh + 1;
  j->band = rows > reach ? (rows - reach) / v->sh + 1 : 1;
  if (j->band > v->OH) j->band = v->OH;
  double band_floats = (double)((j->band - 1) * v->sh + reach) * (double)j->Wp * (double)lanes;
  int64_t whole = lanes > DWC_GROUP ? lanes : DWC_GROUP;
  int64_t t_pixels = v->OW < lanes ? j->band * v->OW + whole : v->OW; /* a row, or the band's narrow rows */
  int64_t t_floats = (t_pixels + whole - 1) / whole * whole * lanes;   /* T: whole vectors and groups */
  int64_t slack = ((DWC_GROUP - 1) * v->sw + (v->kw - 1) * v->dw + 1) * lanes; /* a group reads on */
  double slot = (band_floats + (double)slack + (double)t_floats + 16) * sizeof(float);
  if (slot > (double)DWC_MAX_BYTES) return 0;
  j->band_floats = (size_t)band_floats, j->slack_floats = (size_t)slack;
  j->slot_floats = (j->band_floats + j->slack_floats + (size_t)t_floats + 15) / 16 * 16;
  int64_t units = g->N * ((g->M + lanes - 1) / lanes);
  j->n_slots = units < DW_SLOTS ? units : DW_SLOTS;
  return 1;
}

/* W packed as the GEMM's A operand, one block per group, in the node's
 * persistent buffer (packed on the first run), when W is a constant; else
 * NULL and the GEMM packs it on every run. */
static const float *prepacked_w(ferry_kctx *k, const cgeo *g, const float *W, int w_const) {
  int64_t Kg = g->Cg * g->k_size;
  size_t per = ferry_sgemm_pack_a_size(g->Mg, Kg);
  int fresh = 0;
  if (!w_const || !k->persist || per > SIZE_MAX / sizeof(float) / (size_t)g->G) return NULL;
  float *pw = k->persist(k, per * (size_t)g->G * sizeof(float), &fresh);
  for (int64_t gi = 0; pw && fresh && gi < g->G; gi++)
    ferry_sgemm_pack_a(g->Mg, Kg, (ferry_fmat){W + gi * g->Mg * Kg, Kg, 1}, pw + (size_t)gi * per);
  return pw;
}

/* A job of the depthwise and direct paths over X, W into Y with epilogue
 * e: e_after when the activation (or a bias per column) cannot fold into
 * dw_epi. */
static void dw_job_init(dwjob *j, const cgeo *g, const win2 *v, const float *X, const float *W, float *Y,
                        const ferry_gemm_epi *e) {
  memset(j, 0, sizeof *j);
  j->g = g, j->v = *v, j->x = X, j->w = W, j->y = Y, j->e = e;
  int ak = e->act.kind;
  j->e_after = !(ak == FERRY_ACT_NONE || ak == FERRY_ACT_RELU || ak == FERRY_ACT_CLIP || ak == FERRY_ACT_HARDSIGMOID) ||
               (e->bias && e->bias_cs);
}

/* Runs a depthwise job that one of the paths' setups took: the slots'
 * scratch, then fn over the slots with epilogue ep (whose fused map, when
 * set, the path runs on each plane in cache). */
static int dw_run(ferry_kctx *k, dwjob *j, const ferry_gemm_epi *ep, ferry_parallel_fn fn) {
  if (!(j->slots = ferry_linalg_scratch(k, j->slot_floats * sizeof(float) * (size_t)j->n_slots)))
    return FERRY_E_SYSTEM;
  j->e = ep;
  k->parallel(k, j->n_slots, fn, j);
  k->post_done = ep->post != NULL;
  return FERRY_OK;
}

/* Y = act(conv(X, W) + bias), all float32; w_const, b_const: W, the bias
 * is the same every run (what derives from it is made once). */
static int conv_f32(ferry_kctx *k, const cgeo *g, const float *X, const float *W, const float *bias, float *Y,
                    const ferry_act *act, int w_const, int b_const) {
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  e.bias = bias, e.bias_rs = 1, e.bias_cs = 0;
  if (act) e.act = *act;
  if (!g->N || !g->M || !g->out_size) return FERRY_OK;
  /* the executor's fused map (kctx post), in the paths that run it: the
   * GEMM's and the channel-block depthwise, writing straight to output 0 */
  ferry_gemm_epi ep = e;
  if (k->post && Y == (float *)k->out[0].data) ep.post = k->post, ep.post_ctx = k->post_ctx;
  win2 v;
  int two_d = as_2d(g, &v);
  if (two_d && g->nsp == 2) {
    dwjob j;
    int64_t lanes;
    dw_job_init(&j, g, &v, X, W, Y, &ep);
    dwc_pick(&lanes);
    if (dc_setup(&j, lanes)) {
      size_t spare = (size_t)(DC_MB * v.OW) * (size_t)j.n_slots;
      if (!(j.slots = ferry_linalg_scratch(k, (j.slot_floats + spare) * sizeof(float)))) return FERRY_E_SYSTEM;
      dc_fill(&j);
      k->parallel(k, j.n_slots, dc_pick(), &j);
      k->post_done = ep.post != NULL;
      return FERRY_OK;
    }
  }
  if (g->Cg == 1 && two_d) {
    dwjob j;
    dw_job_init(&j, g, &v, X, W, Y, &e);
    int64_t lanes;
    ferry_parallel_fn dwc = dwc_pick(&lanes);
    if (dw3f_setup(&j)) return dw_run(k, &j, &ep, dw3f_pick());
    if (dw3_setup(&j, lanes)) return dw_run(k, &j, &ep, dw3_pick());
    if (dwc_setup(&j, lanes)) {
      j.consts = dwc_persist(k, &j, lanes, w_const && (!bias || b_const));
      return dw_run(k, &j, &ep, dwc);
    }
    if (dw_pad_setup(&j, g->N * g->M)) return dw_run(k, &j, &e, dw_pick(1)); /* no fused map: e */
    k->parallel(k, g->N * g->M, dw_pick(0), &j);
    return FERRY_OK;
  }
  if (two_d && g->nsp == 2 && g->G == 1 && v.kh == 3 && v.kw == 3 && v.sh == 1 && v.sw == 1 && v.dh == 1 &&
      v.dw == 1) {
    ferry_wino wg = {g->N, g->C, v.H, v.W, g->M, v.OH, v.OW, v.ph, v.pw};
    int tile = ferry_wino_tile(&wg);
    if (tile) return ferry_conv_winograd(k, &wg, X, W, Y, &e, w_const, tile);
  }
  int64_t Kg = g->Cg * g->k_size;
  float *ws = ferry_linalg_scratch(k, ferry_sgemm_ws_size(g->Mg, g->out_size, Kg) * sizeof(float));
  if (!ws) return FERRY_E_SYSTEM;
  const float *pw = prepacked_w(k, g, W, w_const);
  size_t per = ferry_sgemm_pack_a_size(g->Mg, Kg);
  for (int64_t n = 0; n < g->N; n++)
    for (int64_t gi = 0; gi < g->G; gi++) {
      const float *x = X + (n * g->C + gi * g->Cg) * g->in_size;
      im2col ic = {g, v, x};
      ferry_gemm_b B = {{x, g->in_size, 1}, NULL, NULL};
      if (!is_pointwise(g)) B.pack = two_d ? pack_im2col_2d : pack_im2col_nd, B.ctx = &ic;
      ep.bias = bias ? bias + gi * g->Mg : NULL;
      ferry_gemm_pre pre = {pw ? pw + (size_t)gi * per : NULL, NULL, 0, 0};
      ferry_sgemm_ws_pre(k, g->Mg, g->out_size, Kg, (ferry_fmat){W + gi * g->Mg * Kg, Kg, 1}, &B,
                         Y + (n * g->M + gi * g->Mg) * g->out_size, g->out_size, &ep, ws, &pre);
    }
  k->post_done = ep.post != NULL;
  return FERRY_OK;
}

static int is_float_dt(int dt) { return dt == FERRY_F32 || dt == FERRY_F16 || dt == FERRY_BF16 || dt == FERRY_F64; }

static int conv_common(ferry_kctx *k, int fused) {
  if (k->n_in < 2 || !k->in[0].data || !k->in[1].data) return ferry_kernel_fail(k, "Conv needs X and W");
  const ferry_tview *x = &k->in[0], *w = &k->in[1], *b = k->n_in > 2 && k->in[2].data ? &k->in[2] : NULL;
  cgeo g;
  ferry_act act = {FERRY_ACT_NONE, 0, 0};
  int rc = conv_geometry(k, &g, x, w);
  if (rc || (fused && (rc = ferry_act_read(k, &act)))) return rc;
  if (!is_float_dt(x->dtype) || w->dtype != x->dtype || (b && b->dtype != x->dtype))
    return ferry_kernel_fail(k, "X, W and B must have the same float dtype");
  if (b && b->numel != g.M) return ferry_kernel_fail(k, "B has %lld values, expected %lld", (long long)b->numel, (long long)g.M);
  if ((rc = conv_output(k, &g, x->dtype))) return rc;
  ferry_tview *o = &k->out[0];
  int w_const = (int)(k->const_in >> 1 & 1), b_const = (int)(k->const_in >> 2 & 1);
  if (x->dtype == FERRY_F32)
    return conv_f32(k, &g, x->data, w->data, b ? b->data : NULL, o->data, &act, w_const, b_const);
  float *X = ferry_linalg_f32_in(k, x), *W = X ? ferry_linalg_f32_in(k, w) : NULL;
  float *B = W && b ? ferry_linalg_f32_in(k, b) : NULL;
  float *Y = W && (B || !b) ? ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float)) : NULL;
  if (!Y) return FERRY_E_SYSTEM;
  if ((rc = conv_f32(k, &g, X, W, B, Y, &act, w_const, b_const))) return rc;
  ferry_linalg_f32_out(Y, o);
  return FERRY_OK;
}

int ferry_kernel_Conv(ferry_kctx *k) { return conv_common(k, 0); }
int ferry_kernel_FusedConv(ferry_kctx *k) { return conv_common(k, 1); }

/* ---- ConvTranspose ---- */

typedef struct col2im {
  const cgeo *g;
  const float *col;  /* [Mg * k_size, in_size] of this image and group */
  const float *bias; /* of this group, or NULL */
  float *y;          /* first output channel of the group */
} col2im;

/* Adds column row r (kernel position kidx) onto output plane y (N-d). */
static void scatter_nd(const cgeo *g, const float *colrow, int64_t kidx, float *y) {
  int64_t kpos[MAXSP], idx[MAXSP] = {0};
  for (int i = g->nsp - 1; i >= 0; i--) kpos[i] = kidx % g->k[i], kidx /= g->k[i];
  for (int64_t j = 0; j < g->in_size; j++) {
    int64_t off = 0, ok = 1;
    for (int i = 0; i < g->nsp && ok; i++) {
      int64_t pos = idx[i] * g->s[i] - g->pb[i] + kpos[i] * g->d[i];
      ok = pos >= 0 && pos < g->out[i];
      off = off * g->out[i] + pos;
    }
    if (ok) y[off] += colrow[j];
    for (int i = g->nsp - 1; i >= 0; i--) {
      if (++idx[i] < g->in[i]) break;
      idx[i] = 0;
    }
  }
}

/* The same for a 1-D or 2-D window, a row at a time. */
static void scatter_2d(const win2 *v, const float *colrow, int64_t ki, int64_t kj, float *y) {
  /* here H, W are the input dims and OH, OW the output's */
  int64_t off = kj * v->dw - v->pw;
  int64_t lo = off >= 0 ? 0 : (-off + v->sw - 1) / v->sw;
  int64_t hi = v->OW - 1 - off < 0 ? 0 : (v->OW - 1 - off) / v->sw + 1;
  if (hi > v->W) hi = v->W;
  for (int64_t ih = 0; ih < v->H; ih++) {
    int64_t oh = ih * v->sh - v->ph + ki * v->dh;
    if (oh < 0 || oh >= v->OH) continue;
    const float *c = colrow + ih * v->W;
    float *yr = y + oh * v->OW;
    for (int64_t iw = lo; iw < hi; iw++) yr[iw * v->sw + off] += c[iw];
  }
}

/* Whether a 2-D transposed window tiles the output exactly: kernel ==
 * stride, no dilation or padding, output = input * stride (every output
 * element gets one contribution, nothing to add up). */
static int tiles_output(const win2 *v) {
  return v->kh == v->sh && v->kw == v->sw && v->dh == 1 && v->dw == 1 && v->ph == 0 && v->pw == 0 &&
         v->OH == v->H * v->sh && v->OW == v->W * v->sw;
}

/* Output channel m of a tiling window: each output row is the bias plus the
 * kw column rows of its kernel row interleaved (vectors for kw == 2). */
static void col2im_tiles(const col2im *j, const win2 *v, int64_t m, float *y) {
  int64_t in = v->H * v->W;
  float b0 = j->bias ? j->bias[m] : 0;
  f32x4 vb = f32x4_splat(b0);
  for (int64_t ih = 0; ih < v->H; ih++)
    for (int64_t ki = 0; ki < v->kh; ki++) {
      const float *c = j->col + (m * v->kh + ki) * v->kw * in + ih * v->W; /* column row (ki, kj) at c + kj * in */
      float *yr = y + (ih * v->sh + ki) * v->OW;
      int64_t iw = 0;
      if (v->kw == 2)
        for (; iw + 4 <= v->W; iw += 4) {
          f32x4 a = f32x4_load(c + iw) + vb, b = f32x4_load(c + in + iw) + vb;
          f32x4_store(yr + 2 * iw, __builtin_shufflevector(a, b, 0, 4, 1, 5));
          f32x4_store(yr + 2 * iw + 4, __builtin_shufflevector(a, b, 2, 6, 3, 7));
        }
      for (; iw < v->W; iw++)
        for (int64_t kj = 0; kj < v->kw; kj++) yr[iw * v->sw + kj] = c[kj * in + iw] + b0;
    }
}

static void col2im_task(void *arg, int64_t begin, int64_t end) {
  const col2im *j = arg;
  const cgeo *g = j->g;
  win2 v;
  memset(&v, 0, sizeof v);
  int two_d = as_2d(g, &v); /* H, W: the input; OH, OW: the output */
  if (two_d && tiles_output(&v)) {
    for (int64_t m = begin; m < end; m++) col2im_tiles(j, &v, m, j->y + m * g->out_size);
    return;
  }
  for (int64_t m = begin; m < end; m++) {
    float *y = j->y + m * g->out_size;
    float b0 = j->bias ? j->bias[m] : 0;
    for (int64_t i = 0; i < g->out_size; i++) y[i] = b0;
    for (int64_t kidx = 0; kidx < g->k_size; kidx++) {
      const float *colrow = j->col + (m * g->k_size + kidx) * g->in_size;
      if (two_d)
        scatter_2d(&v, colrow, kidx / v.kw, kidx % v.kw, y);
      else
        scatter_nd(g, colrow, kidx, y);
    }
  }
}

static int convt_f32(ferry_kctx *k, const cgeo *g, const float *X, const float *W, const float *bias, float *Y) {
  if (!g->N || !g->M || !g->out_size) return FERRY_OK;
  int64_t rows = g->Mg * g->k_size;
  float *col = ferry_linalg_scratch(k, (size_t)(rows * g->in_size) * sizeof(float));
  float *ws = col ? ferry_linalg_scratch(k, ferry_sgemm_ws_size(rows, g->in_size, g->Cg) * sizeof(float)) : NULL;
  if (!ws) return FERRY_E_SYSTEM;
  ferry_gemm_epi e;
  ferry_gemm_epi_init(&e);
  for (int64_t n = 0; n < g->N; n++)
    for (int64_t gi = 0; gi < g->G; gi++) {
      /* col[Mg*k, in] = W_g^T * X_g, W_g = [Cg, Mg*k] */
      ferry_gemm_b B = {{X + (n * g->C + gi * g->Cg) * g->in_size, g->in_size, 1}, NULL, NULL};
      ferry_sgemm_ws(k, rows, g->in_size, g->Cg, (ferry_fmat){W + gi * g->Cg * rows, 1, rows}, &B, col, g->in_size,
                     &e, ws);
      col2im j = {g, col, bias ? bias + gi * g->Mg : NULL, Y + (n * g->M + gi * g->Mg) * g->out_size};
      k->parallel(k, g->Mg, col2im_task, &j);
    }
  return FERRY_OK;
}

int ferry_kernel_ConvTranspose(ferry_kctx *k) {
  if (k->n_in < 2 || !k->in[0].data || !k->in[1].data) return ferry_kernel_fail(k, "ConvTranspose needs X and W");
  const ferry_tview *x = &k->in[0], *w = &k->in[1], *b = k->n_in > 2 && k->in[2].data ? &k->in[2] : NULL;
  cgeo g;
  int rc = convt_geometry(k, &g, x, w);
  if (rc) return rc;
  if (!is_float_dt(x->dtype) || w->dtype != x->dtype || (b && b->dtype != x->dtype))
    return ferry_kernel_fail(k, "X, W and B must have the same float dtype");
  if (b && b->numel != g.M) return ferry_kernel_fail(k, "B has %lld values, expected %lld", (long long)b->numel, (long long)g.M);
  if ((rc = conv_output(k, &g, x->dtype))) return rc;
  ferry_tview *o = &k->out[0];
  if (x->dtype == FERRY_F32) return convt_f32(k, &g, x->data, w->data, b ? b->data : NULL, o->data);
  float *X = ferry_linalg_f32_in(k, x), *W = X ? ferry_linalg_f32_in(k, w) : NULL;
  float *B = W && b ? ferry_linalg_f32_in(k, b) : NULL;
  float *Y = W && (B || !b) ? ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float)) : NULL;
  if (!Y) return FERRY_E_SYSTEM;
  if ((rc = convt_f32(k, &g, X, W, B, Y))) return rc;
  ferry_linalg_f32_out(Y, o);
  return FERRY_OK;
}

/* ---- integer convolutions ---- */

static int is_8bit(int dt) { return dt == FERRY_U8 || dt == FERRY_I8; }

static int32_t load8(const void *p, int dt, int64_t i) {
  return dt == FERRY_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

typedef struct qconv {
  cgeo g;
  const ferry_tview *x, *w, *xz, *wz; /* zero points may be NULL */
  int32_t *cols;                      /* [Cg*k, out] */
  int32_t *wi;                        /* [Mg, Cg*k] */
  int32_t *acc;                       /* [Mg, out] */
} qconv;

static int qconv_setup(ferry_kctx *k, qconv *q, int xi, int xzi, int wi, int wzi) {
  memset(q, 0, sizeof *q);
  if (k->n_in <= wi || !k->in[xi].data || !k->in[wi].data) return ferry_kernel_fail(k, "missing X or W");
  q->x = &k->in[xi], q->w = &k->in[wi];
  q->xz = xzi < k->n_in && k->in[xzi].data ? &k->in[xzi] : NULL;
  q->wz = wzi < k->n_in && k->in[wzi].data ? &k->in[wzi] : NULL;
  if (!is_8bit(q->x->dtype) || !is_8bit(q->w->dtype)) return ferry_kernel_fail(k, "X and W must be uint8 or int8");
  int rc = conv_geometry(k, &q->g, q->x, q->w);
  if (rc) return rc;
  if (q->xz && (q->xz->numel != 1 || q->xz->dtype != q->x->dtype)) return ferry_kernel_fail(k, "x_zero_point must be one value of X's dtype");
  if (q->wz && ((q->wz->numel != 1 && q->wz->numel != q->g.M) || q->wz->dtype != q->w->dtype))
    return ferry_kernel_fail(k, "w_zero_point must have 1 or %lld values of W's dtype", (long long)q->g.M);
  int64_t Kg = q->g.Cg * q->g.k_size;
  q->cols = ferry_linalg_scratch(k, (size_t)(Kg * q->g.out_size) * sizeof(int32_t));
  q->wi = q->cols ? ferry_linalg_scratch(k, (size_t)(q->g.Mg * Kg) * sizeof(int32_t)) : NULL;
  q->acc = q->wi ? ferry_linalg_scratch(k, (size_t)(q->g.Mg * q->g.out_size) * sizeof(int32_t)) : NULL;
  return q->acc ? FERRY_OK : FERRY_E_SYSTEM;
}

typedef struct qcols {
  const qconv *q;
  const void *x; /* first input channel of the group */
  int32_t xz;
} qcols;

static void qcols_task(void *arg, int64_t begin, int64_t end) {
  const qcols *c = arg;
  const cgeo *g = &c->q->g;
  for (int64_t r = begin; r < end; r++) {
    int64_t ch = r / g->k_size, kidx = r - ch * g->k_size;
    int32_t *dst = c->q->cols + r * g->out_size;
    for (int64_t j = 0; j < g->out_size; j++) {
      int64_t off = window_offset(g, ch, kidx, j);
      dst[j] = off >= 0 ? load8(c->x, c->q->x->dtype, off) - c->xz : 0;
    }
  }
}

/* The int32 accumulators of image n, group gi into q->acc. */
static void qconv_group(ferry_kctx *k, qconv *q, int64_t n, int64_t gi) {
  const cgeo *g = &q->g;
  int64_t Kg = g->Cg * g->k_size, xsz = ferry_dtype_size(q->x->dtype);
  qcols c = {q, (const char *)q->x->data + (n * g->C + gi * g->Cg) * g->in_size * xsz,
             q->xz ? load8(q->xz->data, q->xz->dtype, 0) : 0};
  k->parallel(k, Kg, qcols_task, &c);
  for (int64_t m = 0; m < g->Mg; m++) {
    int64_t mo = gi * g->Mg + m;
    int32_t z = q->wz ? load8(q->wz->data, q->wz->dtype, q->wz->numel == 1 ? 0 : mo) : 0;
    for (int64_t p = 0; p < Kg; p++) q->wi[m * Kg + p] = load8(q->w->data, q->w->dtype, mo * Kg + p) - z;
  }
  ferry_igemm(k, g->Mg, g->out_size, Kg, q->wi, q->cols, q->acc);
}

int ferry_kernel_ConvInteger(ferry_kctx *k) {
  qconv q;
  int rc = qconv_setup(k, &q, 0, 2, 1, 3);
  if (rc || (rc = conv_output(k, &q.g, FERRY_I32))) return rc;
  int32_t *y = k->out[0].data;
  for (int64_t n = 0; n < q.g.N; n++)
    for (int64_t gi = 0; gi < q.g.G; gi++) {
      qconv_group(k, &q, n, gi);
      memcpy(y + (n * q.g.M + gi * q.g.Mg) * q.g.out_size, q.acc, (size_t)(q.g.Mg * q.g.out_size) * sizeof *y);
    }
  return FERRY_OK;
}

/* x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point[, B] */
int ferry_kernel_QLinearConv(ferry_kctx *k) {
  qconv q;
  if (k->n_in < 8 || !k->in[1].data || !k->in[4].data || !k->in[6].data)
    return ferry_kernel_fail(k, "QLinearConv needs 8 inputs with scales");
  int rc = qconv_setup(k, &q, 0, 2, 3, 5);
  if (rc) return rc;
  const cgeo *g = &q.g;
  const ferry_tview *xs = &k->in[1], *ws = &k->in[4], *ys = &k->in[6];
  const ferry_tview *yz = k->in[7].data ? &k->in[7] : NULL, *b = k->n_in > 8 && k->in[8].data ? &k->in[8] : NULL;
  int dt = yz ? yz->dtype : q.x->dtype;
  if (!is_8bit(dt) || (yz && yz->numel != 1)) return ferry_kernel_fail(k, "y_zero_point must be one uint8 or int8");
  if (xs->numel != 1 || ys->numel != 1 || (ws->numel != 1 && ws->numel != g->M))
    return ferry_kernel_fail(k, "x_scale and y_scale must be one value, w_scale 1 or %lld", (long long)g->M);
  if (b && (b->dtype != FERRY_I32 || b->numel != g->M)) return ferry_kernel_fail(k, "B must be %lld int32 values", (long long)g->M);
  if ((rc = conv_output(k, g, dt))) return rc;
  float sx = (float)ferry_load_f64(xs->data, xs->dtype, 0), sy = (float)ferry_load_f64(ys->data, ys->dtype, 0);
  int32_t zy = yz ? load8(yz->data, yz->dtype, 0) : 0;
  double lo = dt == FERRY_U8 ? 0 : -128, hi = dt == FERRY_U8 ? 255 : 127;
  for (int64_t n = 0; n < g->N; n++)
    for (int64_t gi = 0; gi < g->G; gi++) {
      qconv_group(k, &q, n, gi);
      for (int64_t m = 0; m < g->Mg; m++) {
        int64_t mo = gi * g->Mg + m;
        float mult = sx * (float)ferry_load_f64(ws->data, ws->dtype, ws->numel == 1 ? 0 : mo) / sy;
        int32_t bias = b ? ((const int32_t *)b->data)[mo] : 0;
        const int32_t *a = q.acc + m * g->out_size;
        int64_t base = (n * g->M + mo) * g->out_size;
        for (int64_t j = 0; j < g->out_size; j++) {
          double v = nearbyint((double)((int64_t)a[j] + bias) * mult) + zy;
          v = v < lo ? lo : v > hi ? hi : v;
          if (dt == FERRY_U8)
            ((uint8_t *)k->out[0].data)[base + j] = (uint8_t)v;
          else
            ((int8_t *)k->out[0].data)[base + j] = (int8_t)v;
        }
      }
    }
  return FERRY_OK;
}
