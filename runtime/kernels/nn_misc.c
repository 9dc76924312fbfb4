/*
 * nn_misc.c - the remaining nn kernels: Dropout (inference), NonMaxSuppression,
 * Det, GridSample (4-D). (Col2Im is a movement kernel.)
 *
 * How the parts fit: each op is self-contained and computes in double on
 * the generic load/store helpers of nn_util.c (none of them is a hot
 * float32 path). Dropout is the identity with an all-true mask; training
 * mode with a non-zero ratio is refused (its randomness has no reference
 * to match). NonMaxSuppression follows onnxruntime: per batch and class,
 * candidates above score_threshold in descending score order (ties: lower
 * box index first), kept while their IoU with every kept box is <=
 * iou_threshold; its output shape depends on the data (set_output). Det is
 * LU with partial pivoting. GridSample follows onnxruntime's sampling
 * (GsDenormalize, reflection, bicubic with A = -0.75).
 */
#include <math.h>
#include <string.h>

#include "nn.h"
#include "util.h"

/* ---- Dropout ---- */

int ferry_kernel_Dropout(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int training = k->opset >= 12 && k->n_in > 2 && k->in[2].data && ferry_load_i64(k->in[2].data, k->in[2].dtype, 0);
  double ratio = k->opset >= 12 && k->n_in > 1 && k->in[1].data ? ferry_load_f64(k->in[1].data, k->in[1].dtype, 0) : 0.5;
  if (training && ratio != 0)
    return ferry_kernel_fail(k, "training mode with ratio %g is not supported (ferry runs inference)", ratio);
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  int mdt = k->n_out > 1 && k->out[1].dtype ? k->out[1].dtype : k->opset >= 10 ? FERRY_BOOL : x->dtype;
  if (rc || (rc = ferry_nn_out(k, 1, mdt, x->rank, x->dims))) return rc;
  if (x->numel && k->out[0].data != x->data)
    memcpy(k->out[0].data, x->data, (size_t)x->numel * (size_t)ferry_dtype_size(x->dtype));
  for (int64_t i = 0; k->n_out > 1 && k->out[1].data && i < x->numel; i++) ferry_store_i64(k->out[1].data, mdt, i, 1);
  return FERRY_OK;
}

/* ---- NonMaxSuppression ---- */

typedef struct nms_box {
  double y1, x1, y2, x2; /* corners, min first */
} nms_box;

static nms_box nms_corners(const double *b, int center) {
  nms_box r;
  if (center) {
    r.x1 = b[0] - b[2] / 2, r.x2 = b[0] + b[2] / 2, r.y1 = b[1] - b[3] / 2, r.y2 = b[1] + b[3] / 2;
  } else {
    r.y1 = fmin(b[0], b[2]), r.y2 = fmax(b[0], b[2]), r.x1 = fmin(b[1], b[3]), r.x2 = fmax(b[1], b[3]);
  }
  return r;
}

/* 1 when a and b overlap by more than `thr` (intersection over union). */
static int nms_suppress(const nms_box *a, const nms_box *b, double thr) {
  double ix1 = fmax(a->x1, b->x1), iy1 = fmax(a->y1, b->y1), ix2 = fmin(a->x2, b->x2), iy2 = fmin(a->y2, b->y2);
  if (ix2 <= ix1 || iy2 <= iy1) return 0;
  double inter = (ix2 - ix1) * (iy2 - iy1);
  double area_a = (a->x2 - a->x1) * (a->y2 - a->y1), area_b = (b->x2 - b->x1) * (b->y2 - b->y1);
  double uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return 0;
  return inter / uni > thr;
}

typedef struct nms_cand {
  double score;
  int64_t idx;
} nms_cand;

/* Sorts candidates by descending score, then ascending index (merge sort). */
static void nms_sort(nms_cand *a, nms_cand *tmp, int64_t n) {
  if (n < 2) return;
  int64_t h = n / 2, i = 0, j = h, o = 0;
  nms_sort(a, tmp, h);
  nms_sort(a + h, tmp, n - h);
  while (i < h || j < n) {
    int left = j >= n || (i < h && (a[i].score > a[j].score || (a[i].score == a[j].score && a[i].idx < a[j].idx)));
    tmp[o++] = left ? a[i++] : a[j++];
  }
  memcpy(a, tmp, (size_t)n * sizeof *a);
}

typedef struct nms_ctx {
  const double *boxes, *scores;
  int64_t B, C, S, max_out;
  double iou, score_thr;
  int has_thr, center;
  nms_cand *cand, *tmp;
  int64_t *kept, *sel, n_sel;
} nms_ctx;

/* Selects the boxes of one batch and class, appending (b, c, box) triples. */
static void nms_class(nms_ctx *m, int64_t b, int64_t c) {
  const double *sc = m->scores + (b * m->C + c) * m->S;
  int64_t n = 0, n_kept = 0;
  for (int64_t i = 0; i < m->S; i++)
    if (!m->has_thr || sc[i] > m->score_thr) m->cand[n].score = sc[i], m->cand[n++].idx = i;
  nms_sort(m->cand, m->tmp, n);
  for (int64_t i = 0; i < n && n_kept < m->max_out; i++) {
    nms_box bi = nms_corners(m->boxes + (b * m->S + m->cand[i].idx) * 4, m->center);
    int keep = 1;
    for (int64_t j = 0; j < n_kept && keep; j++) {
      nms_box bj = nms_corners(m->boxes + (b * m->S + m->kept[j]) * 4, m->center);
      keep = !nms_suppress(&bi, &bj, m->iou);
    }
    if (!keep) continue;
    m->kept[n_kept++] = m->cand[i].idx;
    int64_t *t = m->sel + 3 * m->n_sel++;
    t[0] = b, t[1] = c, t[2] = m->cand[i].idx;
  }
}

/* boxes [B, S, 4], scores [B, C, S][, max_output_boxes_per_class,
 * iou_threshold, score_threshold] -> selected_indices [n, 3]. */
int ferry_kernel_NonMaxSuppression(ferry_kctx *k) {
  const ferry_tview *bx = &k->in[0], *sc = &k->in[1];
  if (bx->rank != 3 || bx->dims[2] != 4 || sc->rank != 3 || sc->dims[0] != bx->dims[0] || sc->dims[2] != bx->dims[1])
    return ferry_kernel_fail(k, "expects boxes [B, S, 4] and scores [B, C, S]");
  nms_ctx m = {0};
  m.B = bx->dims[0], m.C = sc->dims[1], m.S = bx->dims[1];
  m.max_out = k->n_in > 2 ? ferry_nn_int_at(&k->in[2], 0, 0) : 0;
  m.iou = k->n_in > 3 && k->in[3].data && k->in[3].numel ? ferry_load_f64(k->in[3].data, k->in[3].dtype, 0) : 0;
  m.has_thr = k->n_in > 4 && k->in[4].data && k->in[4].numel;
  m.score_thr = m.has_thr ? ferry_load_f64(k->in[4].data, k->in[4].dtype, 0) : 0;
  m.center = ferry_attr_int(k->sctx, "center_point_box", 0) != 0;
  if (!(m.iou >= 0 && m.iou <= 1)) return ferry_kernel_fail(k, "iou_threshold must be in [0, 1], got %g", m.iou);
  if (m.max_out < 0) m.max_out = 0;
  if (m.max_out > m.S) m.max_out = m.S;
  int64_t cap = m.B * m.C * m.max_out;
  m.boxes = ferry_nn_load(k, bx);
  m.scores = m.boxes ? ferry_nn_load(k, sc) : NULL;
  m.cand = m.scores ? ferry_nn_scratch(k, 2 * m.S + 1, sizeof *m.cand) : NULL;
  m.kept = m.cand ? ferry_nn_scratch(k, m.S + 1, sizeof *m.kept) : NULL;
  m.sel = m.kept ? ferry_nn_scratch(k, 3 * cap + 1, sizeof *m.sel) : NULL;
  if (!m.sel) return FERRY_E_SYSTEM;
  m.tmp = m.cand + m.S;
  for (int64_t b = 0; b < m.B && m.max_out > 0; b++)
    for (int64_t c = 0; c < m.C; c++) nms_class(&m, b, c);
  int64_t od[2] = {m.n_sel, 3};
  int rc = ferry_nn_out(k, 0, FERRY_I64, 2, od);
  if (rc) return rc;
  if (m.n_sel) memcpy(k->out[0].data, m.sel, (size_t)(3 * m.n_sel) * sizeof *m.sel);
  return FERRY_OK;
}

/* ---- Det ---- */

/* Determinant of the n x n matrix a (destroyed): LU, partial pivoting. */
static double det_lu(double *a, int64_t n) {
  double det = 1;
  for (int64_t c = 0; c < n; c++) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; r++)
      if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
    if (a[p * n + c] == 0) return 0;
    if (p != c) {
      for (int64_t j = 0; j < n; j++) {
        double t = a[c * n + j];
        a[c * n + j] = a[p * n + j], a[p * n + j] = t;
      }
      det = -det;
    }
    det *= a[c * n + c];
    for (int64_t r = c + 1; r < n; r++) {
      double f = a[r * n + c] / a[c * n + c];
      for (int64_t j = c; j < n; j++) a[r * n + j] -= f * a[c * n + j];
    }
  }
  return det;
}

int ferry_kernel_Det(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
    return ferry_kernel_fail(k, "input must be square matrices [*, M, M]");
  int64_t n = x->dims[x->rank - 1], count = ferry_nn_prod(x->dims, 0, x->rank - 2);
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank - 2, x->dims);
  if (rc || count == 0) return rc;
  double *v = ferry_nn_load(k, x), *y = ferry_nn_scratch(k, count, sizeof(double));
  if (!v || !y) return FERRY_E_SYSTEM;
  for (int64_t i = 0; i < count; i++) y[i] = det_lu(v + i * n * n, n);
  ferry_nn_store(&k->out[0], y, count);
  return FERRY_OK;
}

/* ---- GridSample ---- */

enum { GS_LINEAR, GS_NEAREST, GS_CUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

typedef struct gsamp {
  int mode, pad, align;
  int64_t H, W;
  double border[4]; /* x_min, y_min, x_max, y_max */
} gsamp;

static double gs_denorm(double n, int64_t len, int align) {
  return align ? (n + 1) / 2 * (double)(len - 1) : ((n + 1) * (double)len - 1) / 2;
}

static double gs_reflect(double x, double lo, double hi) {
  double range = hi - lo;
  if (!(range > 0)) return lo;
  if (x < lo) {
    double dx = lo - x, n = floor(dx / range), r = dx - n * range;
    return fmod(n, 2) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi, n = floor(dx / range), r = dx - n * range;
    return fmod(n, 2) == 0 ? hi - r : lo + r;
  }
  return x;
}

/* Pixel (r, c) of a plane under the padding mode. */
static double gs_pixel(const gsamp *g, const double *img, int64_t r, int64_t c) {
  if (g->pad == GS_ZEROS) return c >= 0 && c < g->W && r >= 0 && r < g->H ? img[r * g->W + c] : 0;
  if (g->pad == GS_BORDER) {
    c = c < 0 ? 0 : c >= g->W ? g->W - 1 : c;
    r = r < 0 ? 0 : r >= g->H ? g->H - 1 : r;
  } else {
    c = (int64_t)gs_reflect((double)c, g->border[0], g->border[2]);
    r = (int64_t)gs_reflect((double)r, g->border[1], g->border[3]);
    c = c < 0 ? 0 : c >= g->W ? g->W - 1 : c;
    r = r < 0 ? 0 : r >= g->H ? g->H - 1 : r;
  }
  return img[r * g->W + c];
}

static void gs_cubic_coeffs(double t, double *w) {
  const double A = -0.75;
  t = fabs(t);
  w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
  w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  w[3] = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
}

/* The value at normalized grid point (nx, ny) of one plane. */
static double gs_sample(const gsamp *g, const double *img, double nx, double ny) {
  double x = gs_denorm(nx, g->W, g->align), y = gs_denorm(ny, g->H, g->align);
  if (!(fabs(x) < 1e15 && fabs(y) < 1e15)) return nx != nx || ny != ny ? NAN : 0; /* keep int64 casts defined */
  if (g->mode == GS_NEAREST) x = nearbyint(x), y = nearbyint(y);
  if (x < g->border[0] || x > g->border[2] || y < g->border[1] || y > g->border[3]) {
    if (g->pad == GS_BORDER) {
      x = x < 0 ? 0 : x > (double)(g->W - 1) ? (double)(g->W - 1) : x;
      y = y < 0 ? 0 : y > (double)(g->H - 1) ? (double)(g->H - 1) : y;
    } else if (g->pad == GS_REFLECTION) {
      x = gs_reflect(x, g->border[0], g->border[2]);
      y = gs_reflect(y, g->border[1], g->border[3]);
    }
  }
  if (g->mode == GS_NEAREST) return gs_pixel(g, img, (int64_t)y, (int64_t)x);
  int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y);
  if (g->mode == GS_LINEAR) {
    double dx = x - (double)x0, dy = y - (double)y0;
    return (1 - dy) * ((1 - dx) * gs_pixel(g, img, y0, x0) + dx * gs_pixel(g, img, y0, x0 + 1)) +
           dy * ((1 - dx) * gs_pixel(g, img, y0 + 1, x0) + dx * gs_pixel(g, img, y0 + 1, x0 + 1));
  }
  double wx[4], wy[4], v = 0;
  gs_cubic_coeffs(x - (double)x0, wx);
  gs_cubic_coeffs(y - (double)y0, wy);
  for (int i = 0; i < 4; i++) {
    double row = 0;
    for (int j = 0; j < 4; j++) row += wx[j] * gs_pixel(g, img, y0 - 1 + i, x0 - 1 + j);
    v += wy[i] * row;
  }
  return v;
}

static int gs_modes(ferry_kctx *k, gsamp *g) {
  const char *m = ferry_attr_str(k->sctx, "mode", k->opset >= 20 ? "linear" : "bilinear");
  const char *p = ferry_attr_str(k->sctx, "padding_mode", "zeros");
  g->mode = !strcmp(m, "bilinear") || !strcmp(m, "linear") ? GS_LINEAR
            : !strcmp(m, "nearest")                        ? GS_NEAREST
            : !strcmp(m, "bicubic") || !strcmp(m, "cubic") ? GS_CUBIC
                                                           : -1;
  g->pad = !strcmp(p, "zeros") ? GS_ZEROS : !strcmp(p, "border") ? GS_BORDER : !strcmp(p, "reflection") ? GS_REFLECTION : -1;
  if (g->mode < 0) return ferry_kernel_fail(k, "unknown mode '%s'", m);
  if (g->pad < 0) return ferry_kernel_fail(k, "unknown padding_mode '%s'", p);
  g->align = ferry_attr_int(k->sctx, "align_corners", 0) != 0;
  return FERRY_OK;
}

/* X [N, C, H, W], grid [N, Ho, Wo, 2] -> [N, C, Ho, Wo]. */
int ferry_kernel_GridSample(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *gr = &k->in[1];
  gsamp g;
  int rc = gs_modes(k, &g);
  if (rc) return rc;
  if (x->rank != 4) return ferry_kernel_fail(k, "only 4-D inputs are supported, got rank %d", x->rank);
  if (gr->rank != 4 || gr->dims[0] != x->dims[0] || gr->dims[3] != 2) return ferry_kernel_fail(k, "grid must be [N, H_out, W_out, 2]");
  int64_t N = x->dims[0], C = x->dims[1], OH = gr->dims[1], OW = gr->dims[2], od[4] = {N, C, OH, OW};
  g.H = x->dims[2], g.W = x->dims[3];
  g.border[0] = g.align ? 0 : -0.5, g.border[1] = g.align ? 0 : -0.5;
  g.border[2] = g.align ? (double)g.W - 1 : (double)g.W - 0.5, g.border[3] = g.align ? (double)g.H - 1 : (double)g.H - 0.5;
  if ((rc = ferry_nn_out(k, 0, x->dtype, 4, od)) || k->out[0].numel == 0) return rc;
  if (g.H == 0 || g.W == 0) return ferry_kernel_fail(k, "cannot sample an empty image");
  double *xv = ferry_nn_load(k, x), *gv = ferry_nn_load(k, gr), *y = ferry_nn_scratch(k, k->out[0].numel, sizeof(double));
  if (!xv || !gv || !y) return FERRY_E_SYSTEM;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < OH * OW; i++) {
        const double *p = gv + (n * OH * OW + i) * 2;
        y[(n * C + c) * OH * OW + i] = gs_sample(&g, xv + (n * C + c) * g.H * g.W, p[0], p[1]);
      }
  ferry_nn_store(&k->out[0], y, k->out[0].numel);
  return FERRY_OK;
}
