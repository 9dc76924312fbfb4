/*
 * signal.c - the signal-processing kernels: DFT, STFT, the window
 * generators (HannWindow, HammingWindow, BlackmanWindow) and
 * MelWeightMatrix (contract: ../kernel.h).
 *
 * How the parts fit:
 *   - an fft_plan transforms complex sequences of any length n in double
 *     precision: an iterative radix-2 FFT when n is a power of two, else
 *     Bluestein's algorithm (the chirp-z transform: a circular convolution
 *     of power-of-two size m >= 2n - 1 done with three radix-2 FFTs), so
 *     every length costs O(n log n). The inverse transform conjugates
 *     around the forward one; callers scale by 1/n;
 *   - DFT walks every line of the input along `axis`, gathers it as
 *     complex doubles (real input: imaginary part 0; truncated or
 *     zero-padded to dft_length), transforms it and scatters it back.
 *     onesided keeps the first n/2 + 1 bins; onesided with inverse is the
 *     inverse real FFT the shape rule describes (output real, last dim 1):
 *     the missing bins come from Hermitian symmetry;
 *   - STFT frames the signal every frame_step samples, weights each frame
 *     by the window and transforms it with the same plan;
 *   - the windows and MelWeightMatrix compute in double and store in their
 *     output_datatype; MelWeightMatrix follows ONNX's reference
 *     implementation (triangles between mel-spaced, floored FFT bins).
 * Outputs whose shape the rule could not know (a length computed at run
 * time) are shaped here with set_output (shape_output).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sequence.h"
#include "util.h"

#define PI 3.14159265358979323846

static int oom(ferry_kctx *k) {
  snprintf(k->err, sizeof k->err, "out of memory");
  return FERRY_E_SYSTEM;
}

/* n doubles of scratch. */
static double *scratch_f64(ferry_kctx *k, int64_t n) {
  if (n < 0 || (uint64_t)n > SIZE_MAX / 16) return NULL;
  return k->scratch(k, (size_t)(n > 0 ? n : 1) * sizeof(double));
}

/* Makes out[i] a tensor of dtype/rank/dims: set_output when the executor
 * left it unshaped, else checks that its shape agrees. */
static int shape_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  if (i >= k->n_out) return ferry_kernel_fail(k, "output %d is missing", i);
  ferry_tview *o = &k->out[i];
  if (!o->data) {
    int rc = k->set_output(k, i, dtype, rank, dims);
    if (rc || !o->data) return rc ? rc : oom(k);
    return FERRY_OK;
  }
  int same = o->rank == rank && o->dtype == dtype;
  for (int d = 0; same && d < rank; d++) same = o->dims[d] == dims[d];
  return same ? FERRY_OK : ferry_kernel_fail(k, "output %d does not have the computed shape", i);
}

/* A one-element integer input as *v. */
static int scalar_int(ferry_kctx *k, int i, const char *what, int64_t *v) {
  const ferry_tview *t = &k->in[i];
  if (i >= k->n_in || !t->data) return ferry_kernel_fail(k, "%s is missing", what);
  if (t->numel != 1 || ferry_dtype_is_float(t->dtype) || t->dtype == FERRY_BOOL)
    return ferry_kernel_fail(k, "%s must be one integer", what);
  *v = ferry_load_i64(t->data, t->dtype, 0);
  return FERRY_OK;
}

/* A one-element numeric input as a double. */
static int scalar_float(ferry_kctx *k, int i, const char *what, double *v) {
  const ferry_tview *t = &k->in[i];
  if (i >= k->n_in || !t->data || t->numel != 1) return ferry_kernel_fail(k, "%s must be one number", what);
  *v = ferry_load_f64(t->data, t->dtype, 0);
  return FERRY_OK;
}

/* ---- FFT of any length ---- */

typedef struct fft_plan {
  int64_t n, m;       /* length; power-of-two size of the radix-2 core */
  double *tw;         /* m/2 twiddles exp(-2 pi i j / m), interleaved re, im */
  double *chirp;      /* Bluestein: n values exp(-pi i k^2 / n) */
  double *bfft;       /* Bluestein: FFT of the conjugate chirp, m values */
  double *work;       /* Bluestein: m values */
} fft_plan;

static int is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* In-place radix-2 FFT of the m complex values in x (interleaved). */
static void fft_pow2(const fft_plan *p, double *x) {
  int64_t m = p->m;
  for (int64_t i = 1, j = 0; i < m; i++) { /* bit reversal */
    int64_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double tr = x[2 * i], ti = x[2 * i + 1];
      x[2 * i] = x[2 * j], x[2 * i + 1] = x[2 * j + 1];
      x[2 * j] = tr, x[2 * j + 1] = ti;
    }
  }
  for (int64_t len = 2; len <= m; len <<= 1) {
    int64_t half = len >> 1, step = m / len;
    for (int64_t s = 0; s < m; s += len)
      for (int64_t j = 0; j < half; j++) {
        double wr = p->tw[2 * j * step], wi = p->tw[2 * j * step + 1];
        double *a = x + 2 * (s + j), *b = x + 2 * (s + j + half);
        double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
        b[0] = a[0] - br, b[1] = a[1] - bi;
        a[0] += br, a[1] += bi;
      }
  }
}

/* Forward transform of the n complex values in x, in place. */
static void fft_forward(const fft_plan *p, double *x) {
  if (p->n <= 1) return;
  if (!p->chirp) {
    fft_pow2(p, x);
    return;
  }
  double *a = p->work;
  int64_t n = p->n, m = p->m;
  memset(a, 0, (size_t)(2 * m) * sizeof *a);
  for (int64_t k = 0; k < n; k++) {
    double cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
    a[2 * k] = x[2 * k] * cr - x[2 * k + 1] * ci;
    a[2 * k + 1] = x[2 * k] * ci + x[2 * k + 1] * cr;
  }
  fft_pow2(p, a);
  for (int64_t k = 0; k < m; k++) { /* multiply, conjugate: the inverse FFT via the forward one */
    double br = p->bfft[2 * k], bi = p->bfft[2 * k + 1], ar = a[2 * k], ai = a[2 * k + 1];
    a[2 * k] = ar * br - ai * bi;
    a[2 * k + 1] = -(ar * bi + ai * br);
  }
  fft_pow2(p, a);
  for (int64_t k = 0; k < n; k++) {
    double ar = a[2 * k] / (double)m, ai = -a[2 * k + 1] / (double)m;
    double cr = p->chirp[2 * k], ci = p->chirp[2 * k + 1];
    x[2 * k] = ar * cr - ai * ci;
    x[2 * k + 1] = ar * ci + ai * cr;
  }
}

/* Unscaled inverse transform: conj(FFT(conj(x))). */
static void fft_inverse(const fft_plan *p, double *x) {
  for (int64_t k = 0; k < p->n; k++) x[2 * k + 1] = -x[2 * k + 1];
  fft_forward(p, x);
  for (int64_t k = 0; k < p->n; k++) x[2 * k + 1] = -x[2 * k + 1];
}

static int fft_init(ferry_kctx *k, fft_plan *p, int64_t n) {
  memset(p, 0, sizeof *p);
  p->n = n;
  if (n <= 1) return FERRY_OK;
  int64_t m = 1;
  if (is_pow2(n)) m = n;
  else
    while (m < 2 * n - 1) {
      if (m > ((int64_t)1 << 40)) return ferry_kernel_fail(k, "DFT length %lld is too large", (long long)n);
      m <<= 1;
    }
  p->m = m;
  p->tw = scratch_f64(k, m);
  if (!p->tw) return oom(k);
  for (int64_t j = 0; j < m / 2; j++) {
    double a = -2.0 * PI * (double)j / (double)m;
    p->tw[2 * j] = cos(a), p->tw[2 * j + 1] = sin(a);
  }
  if (m == n) return FERRY_OK;
  p->chirp = scratch_f64(k, 2 * n);
  p->bfft = scratch_f64(k, 2 * m);
  p->work = scratch_f64(k, 2 * m);
  if (!p->chirp || !p->bfft || !p->work) return oom(k);
  memset(p->bfft, 0, (size_t)(2 * m) * sizeof(double));
  for (int64_t j = 0, q = 0; j < n; j++) { /* q = j^2 mod 2n, exactly */
    double a = -PI * (double)q / (double)n;
    p->chirp[2 * j] = cos(a), p->chirp[2 * j + 1] = sin(a);
    p->bfft[2 * j] = cos(a), p->bfft[2 * j + 1] = -sin(a);
    if (j) p->bfft[2 * (m - j)] = cos(a), p->bfft[2 * (m - j) + 1] = -sin(a);
    q += 2 * j + 1;
    if (q >= 2 * n) q -= 2 * n;
  }
  fft_pow2(p, p->bfft);
  return FERRY_OK;
}

/* ---- DFT ---- */

typedef struct dft_job {
  int64_t outer, inner, n_in, n_out; /* lines: outer x inner; lengths along the axis */
  int64_t len;                       /* transform length */
  int c_in, c_out, inverse, onesided;
} dft_job;

/* Transforms one line already gathered in buf (len complex values). */
static void dft_line(const dft_job *j, const fft_plan *p, double *buf) {
  if (j->inverse && j->onesided) { /* Hermitian extension of the first bins */
    int64_t have = j->n_in < j->len / 2 + 1 ? j->n_in : j->len / 2 + 1;
    for (int64_t q = have; q < j->len; q++) {
      int64_t src = j->len - q;
      buf[2 * q] = src < have ? buf[2 * src] : 0;
      buf[2 * q + 1] = src < have ? -buf[2 * src + 1] : 0;
    }
  }
  if (j->inverse) {
    fft_inverse(p, buf);
    for (int64_t q = 0; q < 2 * j->len; q++) buf[q] /= (double)j->len;
  } else {
    fft_forward(p, buf);
  }
}

static int dft_run(ferry_kctx *k, const dft_job *j) {
  const ferry_tview *x = &k->in[0];
  ferry_tview *o = &k->out[0];
  fft_plan p;
  int rc = fft_init(k, &p, j->len);
  if (rc) return rc;
  int64_t most = j->len > j->n_in ? j->len : j->n_in;
  size_t nbuf = (size_t)(2 * (most > j->n_out ? most : j->n_out) + 2);
  double *buf = scratch_f64(k, (int64_t)nbuf);
  if (!buf) return oom(k);
  int64_t take = j->n_in < j->len ? j->n_in : j->len;
  for (int64_t a = 0; a < j->outer; a++)
    for (int64_t b = 0; b < j->inner; b++) {
      memset(buf, 0, nbuf * sizeof *buf);
      for (int64_t q = 0; q < take; q++) {
        int64_t at = ((a * j->n_in + q) * j->inner + b) * j->c_in;
        buf[2 * q] = ferry_load_f64(x->data, x->dtype, at);
        buf[2 * q + 1] = j->c_in == 2 ? ferry_load_f64(x->data, x->dtype, at + 1) : 0;
      }
      dft_line(j, &p, buf);
      for (int64_t q = 0; q < j->n_out; q++) {
        int64_t at = ((a * j->n_out + q) * j->inner + b) * j->c_out;
        ferry_store_f64(o->data, o->dtype, at, buf[2 * q]);
        if (j->c_out == 2) ferry_store_f64(o->data, o->dtype, at + 1, buf[2 * q + 1]);
      }
    }
  return FERRY_OK;
}

int ferry_kernel_DFT(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (k->n_in < 1 || !x->data || !ferry_dtype_is_float(x->dtype)) return ferry_kernel_fail(k, "input must be float");
  int r = x->rank;
  if (r < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", r);
  int64_t c = x->dims[r - 1], axis = 1, len;
  if (c != 1 && c != 2) return ferry_kernel_fail(k, "last dim must be 1 or 2, got %lld", (long long)c);
  int rc;
  if (k->opset >= 20) {
    axis = -2;
    if (k->n_in > 2 && k->in[2].data && (rc = scalar_int(k, 2, "axis", &axis))) return rc;
  } else {
    axis = ferry_attr_int(k->sctx, "axis", 1);
  }
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r - 2) return ferry_kernel_fail(k, "axis is out of range for rank %d", r);
  dft_job j = {1, 1, x->dims[axis], 0, x->dims[axis], (int)c, 2, 0, 0};
  j.inverse = ferry_attr_int(k->sctx, "inverse", 0) != 0;
  j.onesided = ferry_attr_int(k->sctx, "onesided", 0) != 0;
  int has_len = k->n_in > 1 && k->in[1].data;
  if (has_len) {
    if ((rc = scalar_int(k, 1, "dft_length", &len))) return rc;
    if (len < 1) return ferry_kernel_fail(k, "dft_length must be >= 1, got %lld", (long long)len);
    j.len = len;
  }
  if (j.inverse && j.onesided) {
    if (!has_len) j.len = 2 * (j.n_in - 1);
    if (j.len < 0) return ferry_kernel_fail(k, "an inverse onesided DFT needs at least one bin");
    j.n_out = j.len, j.c_out = 1;
  } else {
    j.n_out = j.onesided ? j.len / 2 + 1 : j.len;
  }
  for (int d = 0; d < axis; d++) j.outer *= x->dims[d];
  for (int d = (int)axis + 1; d < r - 1; d++) j.inner *= x->dims[d];
  int64_t od[FERRY_MAX_RANK];
  memcpy(od, x->dims, (size_t)r * sizeof od[0]);
  od[axis] = j.n_out, od[r - 1] = j.c_out;
  if ((rc = shape_output(k, 0, x->dtype, r, od))) return rc;
  return dft_run(k, &j);
}

/* ---- STFT ---- */

int ferry_kernel_STFT(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (k->n_in < 2 || !x->data || !ferry_dtype_is_float(x->dtype)) return ferry_kernel_fail(k, "signal must be float");
  if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
    return ferry_kernel_fail(k, "signal must be [batch, length, 1 or 2]");
  int64_t step, n, c = x->dims[2], len = x->dims[1];
  int rc = scalar_int(k, 1, "frame_step", &step);
  if (rc) return rc;
  if (step < 1) return ferry_kernel_fail(k, "frame_step must be >= 1, got %lld", (long long)step);
  const ferry_tview *w = k->n_in > 2 && k->in[2].data ? &k->in[2] : NULL;
  if (w && w->rank != 1) return ferry_kernel_fail(k, "window must have rank 1");
  if (k->n_in > 3 && k->in[3].data) {
    if ((rc = scalar_int(k, 3, "frame_length", &n))) return rc;
  } else if (w) {
    n = w->dims[0];
  } else {
    return ferry_kernel_fail(k, "needs a window or a frame_length");
  }
  if (n < 1) return ferry_kernel_fail(k, "frame_length must be >= 1, got %lld", (long long)n);
  if (len < n) return ferry_kernel_fail(k, "signal is shorter than a frame");
  int64_t wlen = w ? w->dims[0] : n, frames = (len - n) / step + 1;
  int onesided = ferry_attr_int(k->sctx, "onesided", 1) != 0;
  int64_t bins = onesided ? n / 2 + 1 : n, od[4] = {x->dims[0], frames, bins, 2};
  if ((rc = shape_output(k, 0, x->dtype, 4, od))) return rc;
  fft_plan p;
  if ((rc = fft_init(k, &p, n))) return rc;
  double *buf = scratch_f64(k, 2 * n);
  if (!buf) return oom(k);
  int64_t take = wlen < n ? wlen : n;
  ferry_tview *o = &k->out[0];
  for (int64_t b = 0; b < x->dims[0]; b++)
    for (int64_t f = 0; f < frames; f++) {
      memset(buf, 0, (size_t)(2 * n) * sizeof *buf);
      for (int64_t q = 0; q < take; q++) {
        int64_t s = f * step + q;
        if (s >= len) break;
        double wq = w ? ferry_load_f64(w->data, w->dtype, q) : 1.0;
        int64_t at = (b * len + s) * c;
        buf[2 * q] = wq * ferry_load_f64(x->data, x->dtype, at);
        buf[2 * q + 1] = c == 2 ? wq * ferry_load_f64(x->data, x->dtype, at + 1) : 0;
      }
      fft_forward(&p, buf);
      for (int64_t q = 0; q < bins; q++) {
        int64_t at = ((b * frames + f) * bins + q) * 2;
        ferry_store_f64(o->data, o->dtype, at, buf[2 * q]);
        ferry_store_f64(o->data, o->dtype, at + 1, buf[2 * q + 1]);
      }
    }
  return FERRY_OK;
}

/* ---- windows ---- */

/* sum_i a[i] cos(2 pi i n / N) over the n_terms cosine coefficients. */
static int window(ferry_kctx *k, const double *a, int n_terms) {
  int64_t size;
  int rc = scalar_int(k, 0, "size", &size);
  if (rc) return rc;
  if (size < 0) return ferry_kernel_fail(k, "size must be >= 0, got %lld", (long long)size);
  int dt = (int)ferry_attr_int(k->sctx, "output_datatype", FERRY_F32);
  if (!ferry_dtype_valid(dt) || ferry_dtype_size(dt) <= 0 || dt == FERRY_STRING)
    return ferry_kernel_fail(k, "output_datatype %d is not a numeric dtype", dt);
  if ((rc = shape_output(k, 0, dt, 1, &size))) return rc;
  int periodic = ferry_attr_int(k->sctx, "periodic", 1) != 0;
  double N = (double)(periodic ? size : size - 1);
  for (int64_t i = 0; i < size; i++) {
    double v = N > 0 ? 0 : 1; /* a symmetric window of one sample is [1], as numpy's */
    for (int t = 0; t < n_terms && N > 0; t++) v += a[t] * cos(2.0 * PI * t * (double)i / N);
    ferry_store_f64(k->out[0].data, dt, i, v);
  }
  return FERRY_OK;
}

int ferry_kernel_HannWindow(ferry_kctx *k) {
  static const double a[2] = {0.5, -0.5};
  return window(k, a, 2);
}

int ferry_kernel_HammingWindow(ferry_kctx *k) {
  static const double a[2] = {25.0 / 46.0, -(1.0 - 25.0 / 46.0)};
  return window(k, a, 2);
}

int ferry_kernel_BlackmanWindow(ferry_kctx *k) {
  static const double a[3] = {0.42, -0.5, 0.08};
  return window(k, a, 3);
}

/* ---- MelWeightMatrix ---- */

/* floor((dft_length + 1) * hz / sample_rate) as an integer, checked. */
static int mel_bin(ferry_kctx *k, double v, int64_t *out) {
  v = floor(v);
  if (!(v > -1e15 && v < 1e15)) return ferry_kernel_fail(k, "mel band edge is out of range");
  *out = (int64_t)v;
  return FERRY_OK;
}

int ferry_kernel_MelWeightMatrix(ferry_kctx *k) {
  int64_t n_mel, dft_len, rate;
  double lo, hi;
  int rc;
  if (k->n_in < 5) return ferry_kernel_fail(k, "needs 5 inputs");
  if ((rc = scalar_int(k, 0, "num_mel_bins", &n_mel)) || (rc = scalar_int(k, 1, "dft_length", &dft_len)) ||
      (rc = scalar_int(k, 2, "sample_rate", &rate)) || (rc = scalar_float(k, 3, "lower_edge_hertz", &lo)) ||
      (rc = scalar_float(k, 4, "upper_edge_hertz", &hi)))
    return rc;
  if (n_mel < 0 || dft_len < 0 || rate <= 0 || n_mel > ((int64_t)1 << 30))
    return ferry_kernel_fail(k, "num_mel_bins, dft_length must be >= 0 and sample_rate > 0");
  int dt = (int)ferry_attr_int(k->sctx, "output_datatype", FERRY_F32);
  if (!ferry_dtype_valid(dt) || ferry_dtype_size(dt) <= 0 || dt == FERRY_STRING)
    return ferry_kernel_fail(k, "output_datatype %d is not a numeric dtype", dt);
  int64_t n_spec = dft_len / 2 + 1, od[2] = {n_spec, n_mel};
  if ((rc = shape_output(k, 0, dt, 2, od))) return rc;
  int64_t *bin = k->scratch(k, (size_t)(n_mel + 2) * sizeof *bin);
  if (!bin) return oom(k);
  double lo_mel = 2595.0 * log10(1.0 + lo / 700.0), hi_mel = 2595.0 * log10(1.0 + hi / 700.0);
  double step = (hi_mel - lo_mel) / (double)(n_mel + 2);
  for (int64_t i = 0; i < n_mel + 2; i++) {
    double hz = 700.0 * (pow(10.0, ((double)i * step + lo_mel) / 2595.0) - 1.0);
    if ((rc = mel_bin(k, (double)(dft_len + 1) * hz / (double)rate, &bin[i]))) return rc;
  }
  void *o = k->out[0].data;
  for (int64_t i = 0; i < n_spec * n_mel; i++) ferry_store_f64(o, dt, i, 0);
  for (int64_t i = 0; i < n_mel; i++) {
    int64_t l = bin[i], c = bin[i + 1], h = bin[i + 2];
    int64_t from = INT64_MAX, to = INT64_MIN; /* the rows this band writes */
    if (l <= c) from = l, to = c;
    if (c < h) from = c < from ? c : from, to = h - 1 > to ? h - 1 : to;
    if (from <= to && (from < 0 || to >= n_spec))
      return ferry_kernel_fail(k, "mel band %lld covers FFT bins [%lld, %lld], outside [0, %lld)", (long long)i,
                               (long long)from, (long long)to, (long long)n_spec);
    if (l == c) ferry_store_f64(o, dt, c * n_mel + i, 1.0);
    else
      for (int64_t j = l; j <= c; j++) ferry_store_f64(o, dt, j * n_mel + i, (double)(j - l) / (double)(c - l));
    for (int64_t j = c; j < h; j++) ferry_store_f64(o, dt, j * n_mel + i, (double)(h - j) / (double)(h - c));
  }
  return FERRY_OK;
}
