/*
 * data.c - input tensors made from images or random numbers (validate.h).
 *
 * Images: stb_image decodes (PNG, JPEG, BMP, ...) to 8-bit RGB or gray;
 * the preprocessing then maps each output pixel back to the decoded image
 * in one step - center crop inside the resized image, resize as bilinear
 * interpolation with half-pixel centers (what torch's interpolate with
 * align_corners=False and OpenCV's INTER_LINEAR do, no antialiasing) -
 * then scales, subtracts the mean, divides by the std and stores NCHW or
 * NHWC with a batch dim of 1.
 *
 * Random inputs: splitmix64 from the seed, so a seed gives the same
 * tensors on every machine; symbolic dims take their values from the
 * configuration or --dim.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#include "validate.h"

/* ---- images ---- */

typedef struct geometry {
  int h, w, ch;      /* decoded image */
  int rh, rw;        /* after resize */
  int top, left;     /* crop origin in the resized image */
  int oh, ow;        /* output */
} geometry;

static int plan_geometry(const ferry_vinput_cfg *c, geometry *g, ferry_err *err) {
  g->rh = g->h, g->rw = g->w;
  if (c->resize_h && c->resize_w) {
    g->rh = c->resize_h, g->rw = c->resize_w;
  } else if (c->resize_h) { /* shorter side to resize_h, aspect kept (torchvision's Resize(int)) */
    if (g->h <= g->w) g->rh = c->resize_h, g->rw = (int)((int64_t)c->resize_h * g->w / g->h);
    else g->rw = c->resize_h, g->rh = (int)((int64_t)c->resize_h * g->h / g->w);
    if (g->rh < 1) g->rh = 1;
    if (g->rw < 1) g->rw = 1;
  }
  g->oh = c->crop_h ? c->crop_h : g->rh;
  g->ow = c->crop_w ? c->crop_w : g->rw;
  if (g->oh > g->rh || g->ow > g->rw)
    return ferry_fail(err, FERRY_E_INPUT, "crop %dx%d is larger than the %simage (%dx%d)", g->oh, g->ow,
                      c->resize_h ? "resized " : "", g->rh, g->rw);
  g->top = (int)lround((g->rh - g->oh) / 2.0);
  g->left = (int)lround((g->rw - g->ow) / 2.0);
  return 0;
}

/* Channel k at resized position (ry, rx): bilinear from the decoded pixels. */
static double sample_px(const unsigned char *px, const geometry *g, int ry, int rx, int k) {
  if (g->rh == g->h && g->rw == g->w) return px[((size_t)ry * g->w + rx) * g->ch + k];
  double sy = (ry + 0.5) * g->h / g->rh - 0.5, sx = (rx + 0.5) * g->w / g->rw - 0.5;
  if (sy < 0) sy = 0;
  if (sx < 0) sx = 0;
  int y0 = (int)sy, x0 = (int)sx;
  if (y0 > g->h - 1) y0 = g->h - 1;
  if (x0 > g->w - 1) x0 = g->w - 1;
  int y1 = y0 + 1 < g->h ? y0 + 1 : y0, x1 = x0 + 1 < g->w ? x0 + 1 : x0;
  double fy = sy - y0, fx = sx - x0;
#define P(y, x) ((double)px[((size_t)(y) * g->w + (x)) * g->ch + k])
  return (P(y0, x0) * (1 - fx) + P(y0, x1) * fx) * (1 - fy) + (P(y1, x0) * (1 - fx) + P(y1, x1) * fx) * fy;
#undef P
}

int ferry_image_preprocess(const unsigned char *px, int h, int w, int ch, const ferry_vinput_cfg *c, ferry_vtensor *out,
                           ferry_err *err) {
  geometry g = {.h = h, .w = w, .ch = ch};
  memset(out, 0, sizeof *out);
  if (plan_geometry(c, &g, err)) return err->code;
  int u8 = c->dtype == FERRY_U8;
  double scale = c->scale ? c->scale : u8 ? 1 : 1.0 / 255;
  size_t n = (size_t)g.oh * g.ow * ch;
  if (!(out->buf = malloc(n * (u8 ? 1 : 4)))) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  for (int y = 0; y < g.oh; y++)
    for (int x = 0; x < g.ow; x++)
      for (int k = 0; k < ch; k++) {
        int src = c->bgr && ch == 3 ? 2 - k : k;
        double v = sample_px(px, &g, y + g.top, x + g.left, src) * scale;
        if (c->n_mean) v -= c->mean[c->n_mean == 1 ? 0 : k];
        if (c->n_std) v /= c->std[c->n_std == 1 ? 0 : k];
        size_t at = c->nhwc ? ((size_t)y * g.ow + x) * ch + k : ((size_t)k * g.oh + y) * g.ow + x;
        if (u8) ((uint8_t *)out->buf)[at] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
        else ((float *)out->buf)[at] = (float)v;
      }
  ferry_tview *t = &out->v;
  t->dtype = u8 ? FERRY_U8 : FERRY_F32;
  t->rank = 4;
  int64_t d[4] = {1, ch, g.oh, g.ow}, dl[4] = {1, g.oh, g.ow, ch};
  memcpy(t->dims, c->nhwc ? dl : d, sizeof d);
  t->numel = (int64_t)n;
  t->data = out->buf;
  return 0;
}

int ferry_image_tensor(const char *path, const ferry_vinput_cfg *c, ferry_vtensor *out, ferry_err *err) {
  int w, h, n, ch = c->channels ? c->channels : 3;
  memset(out, 0, sizeof *out);
  unsigned char *px = stbi_load(path, &w, &h, &n, ch);
  if (!px) return ferry_fail(err, FERRY_E_INPUT, "%s: cannot decode the image: %s", path, stbi_failure_reason());
  int rc = ferry_image_preprocess(px, h, w, ch, c, out, err);
  stbi_image_free(px);
  if (rc) return ferry_err_prefix(err, path);
  return 0;
}

/* ---- random inputs ---- */

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

static uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
  if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
  int ne = (int)e - 127 + 15;
  if (ne >= 31) return (uint16_t)(sign | 0x7c00);
  if (ne <= 0) {
    if (ne < -10) return (uint16_t)sign;
    m |= 0x800000;
    uint32_t shift = (uint32_t)(14 - ne), h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | (uint32_t)ne << 10 | m >> 13, rest = m & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)h;
}

static int random_shape(const ferry_io_info *info, const ferry_vdim *dims, int n_dims, ferry_tview *t, ferry_err *err) {
  if (info->kind != 0 || info->rank < 0)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s': random data is made for tensors of known rank only", info->name);
  t->rank = info->rank;
  t->numel = 1;
  for (int d = 0; d < info->rank; d++) {
    int64_t v = info->dims[d];
    if (v < 0) {
      const char *name = info->dim_names[d];
      int k = 0;
      while (k < n_dims && (!name || strcmp(dims[k].name, name))) k++;
      if (k == n_dims)
        return ferry_fail(err, FERRY_E_INPUT,
                          "input '%s': dim %d is symbolic ('%s'): give its value with --dim %s=N or under dims: in the "
                          "configuration",
                          info->name, d, name ? name : "?", name ? name : "NAME");
      v = dims[k].value;
    }
    t->dims[d] = v;
    if (__builtin_mul_overflow(t->numel, v, &t->numel) || t->numel > ((int64_t)1 << 31))
      return ferry_fail(err, FERRY_E_INPUT, "input '%s': the random tensor would be too large", info->name);
  }
  return 0;
}

static void fill_random(ferry_tview *t, double lo, double hi, uint64_t *rng) {
  int integral = !(t->dtype == FERRY_F32 || t->dtype == FERRY_F64 || t->dtype == FERRY_F16);
  for (int64_t i = 0; i < t->numel; i++) {
    double u = uniform(rng);
    double v = integral ? lo + floor(u * (hi - lo + 1)) : lo + u * (hi - lo);
    if (integral && v > hi) v = hi;
    switch (t->dtype) {
    case FERRY_F32: ((float *)t->data)[i] = (float)v; break;
    case FERRY_F64: ((double *)t->data)[i] = v; break;
    case FERRY_F16: ((uint16_t *)t->data)[i] = float_to_half((float)v); break;
    case FERRY_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case FERRY_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case FERRY_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case FERRY_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case FERRY_U16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case FERRY_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case FERRY_U32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case FERRY_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case FERRY_U64: ((uint64_t *)t->data)[i] = (uint64_t)v; break;
    }
  }
}

static int random_dtype_ok(int dt) {
  return dt == FERRY_F32 || dt == FERRY_F64 || dt == FERRY_F16 || dt == FERRY_BOOL || dt == FERRY_I8 || dt == FERRY_U8 ||
         dt == FERRY_I16 || dt == FERRY_U16 || dt == FERRY_I32 || dt == FERRY_U32 || dt == FERRY_I64 || dt == FERRY_U64;
}

int ferry_random_tensor(const ferry_io_info *info, const ferry_vinput_cfg *c, const ferry_vdim *dims, int n_dims,
                        uint64_t *rng, ferry_vtensor *out, ferry_err *err) {
  memset(out, 0, sizeof *out);
  ferry_tview *t = &out->v;
  if (!random_dtype_ok(info->dtype))
    return ferry_fail(err, FERRY_E_INPUT, "input '%s': cannot make random %s data", info->name, ferry_dtype_name(info->dtype));
  if (random_shape(info, dims, n_dims, t, err)) return err->code;
  t->dtype = info->dtype;
  int integral = !(t->dtype == FERRY_F32 || t->dtype == FERRY_F64 || t->dtype == FERRY_F16);
  double lo = c && c->has_range ? c->lo : 0, hi = c && c->has_range ? c->hi : 1;
  if (integral) lo = ceil(lo), hi = floor(hi);
  if (lo > hi) return ferry_fail(err, FERRY_E_INPUT, "input '%s': the range holds no integer", info->name);
  if (!(out->buf = malloc((size_t)t->numel * (size_t)ferry_dtype_size(t->dtype) + 1)) || !(out->name = strdup(info->name)))
    return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  t->data = out->buf;
  fill_random(t, lo, hi, rng);
  return 0;
}
