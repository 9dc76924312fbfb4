/*
 * rtutil.c - see rtutil.h. Float dtypes (float16, bfloat16, float32,
 * float64, complex as pairs) compare with the tolerance; everything else
 * exactly, as integers or bytes.
 */
#include "rtutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/util.h"

static int is_floaty(int dt) {
  return dt == FERRY_F32 || dt == FERRY_F64 || dt == FERRY_F16 || dt == FERRY_BF16 || dt == FERRY_C64 ||
         dt == FERRY_C128;
}

static double load(const void *data, int dt, int64_t i) {
  if (dt == FERRY_C64) return ((const float *)data)[i];
  if (dt == FERRY_C128) return ((const double *)data)[i];
  return ferry_load_f64(data, dt, i);
}

static int same_shape(const ferry_tview *got, const ferry_tview *want, char *msg, size_t n) {
  char a[200] = "", b[200] = "";
  if (got->dtype != want->dtype) {
    snprintf(msg, n, "dtype %s, want %s", ferry_dtype_name(got->dtype), ferry_dtype_name(want->dtype));
    return 0;
  }
  int same = got->rank == want->rank;
  for (int i = 0; same && i < got->rank; i++) same = got->dims[i] == want->dims[i];
  if (same) return 1;
  for (int i = 0, p = 0; i < got->rank && p < 180; i++) p += snprintf(a + p, sizeof a - p, "%s%lld", i ? "," : "", (long long)got->dims[i]);
  for (int i = 0, p = 0; i < want->rank && p < 180; i++) p += snprintf(b + p, sizeof b - p, "%s%lld", i ? "," : "", (long long)want->dims[i]);
  snprintf(msg, n, "shape [%s], want [%s]", a, b);
  return 0;
}

static int compare_floats(const ferry_tview *got, const ferry_tview *want, double rtol, double atol, rtu_diff *d,
                          char *msg, size_t n) {
  int64_t count = want->numel * (want->dtype == FERRY_C64 || want->dtype == FERRY_C128 ? 2 : 1), first = -1;
  for (int64_t i = 0; i < count; i++) {
    double a = load(got->data, got->dtype, i), b = load(want->data, want->dtype, i);
    if ((isnan(a) && isnan(b)) || a == b) continue;
    double e = fabs(a - b), tol = atol + rtol * fabs(b);
    if (e > d->max_abs || isnan(e)) d->max_abs = e;
    if (e / tol > d->max_ratio || isnan(e)) d->max_ratio = isnan(e) ? INFINITY : e / tol;
    if (!(e <= tol)) {
      d->bad++;
      if (first < 0) {
        first = i;
        snprintf(msg, n, "[%lld] = %.9g, want %.9g", (long long)i, a, b);
      }
    }
  }
  if (first >= 0 && d->bad > 1) {
    size_t len = strlen(msg);
    snprintf(msg + len, n - len, " (%lld of %lld elements off, max abs error %.3g)", d->bad, (long long)count, d->max_abs);
  }
  return first >= 0;
}

static int compare_exact(const ferry_tview *got, const ferry_tview *want, rtu_diff *d, char *msg, size_t n) {
  int s = ferry_dtype_size(want->dtype);
  int64_t first = -1;
  if (s <= 0 || s > 8) { /* 4-bit and other packed types: bytes */
    size_t bytes = (size_t)(want->numel + 1) / 2;
    if (memcmp(got->data, want->data, bytes)) snprintf(msg, n, "packed data differs"), first = 0, d->bad = 1;
    return first >= 0;
  }
  for (int64_t i = 0; i < want->numel; i++) {
    if (memcmp((const char *)got->data + i * s, (const char *)want->data + i * s, (size_t)s) == 0) continue;
    d->bad++;
    if (first < 0) {
      first = i;
      snprintf(msg, n, "[%lld] = %lld, want %lld", (long long)i, (long long)ferry_load_i64(got->data, got->dtype, i),
               (long long)ferry_load_i64(want->data, want->dtype, i));
    }
  }
  return first >= 0;
}

int rtu_compare(const ferry_tview *got, const ferry_tview *want, double rtol, double atol, rtu_diff *d, char *msg,
                size_t n) {
  rtu_diff local;
  if (!d) d = &local;
  memset(d, 0, sizeof *d);
  if (!same_shape(got, want, msg, n)) return d->bad = 1, 1;
  if (is_floaty(want->dtype)) return compare_floats(got, want, rtol, atol, d, msg, n);
  return compare_exact(got, want, d, msg, n);
}

int rtu_count(const char *dir, const char *prefix) {
  char p[4096];
  struct stat st;
  int n = 0;
  for (;; n++) {
    snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, n);
    if (stat(p, &st)) return n;
  }
}

int rtu_read_set(const char *dir, const char *prefix, int n, ferry_host_tensor *t, ferry_err *err) {
  char p[4096];
  memset(t, 0, (size_t)n * sizeof *t);
  for (int k = 0; k < n; k++) {
    snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
    if (ferry_tensor_read(p, &t[k], err)) return err->code;
  }
  return 0;
}

static const char *kind_name(int kind) {
  return kind == FERRY_TV_TENSOR ? "a tensor" : kind == FERRY_TV_SEQUENCE ? "a sequence" : kind == FERRY_TV_OPTIONAL ? "an optional" : "?";
}

int rtu_compare_value(const ferry_tview *got, const ferry_tview *want, double rtol, double atol, rtu_diff *d,
                      char *msg, size_t n) {
  rtu_diff local;
  char sub[300];
  if (!d) d = &local;
  memset(d, 0, sizeof *d);
  if (got->kind == FERRY_TV_TENSOR && want->kind == FERRY_TV_TENSOR) return rtu_compare(got, want, rtol, atol, d, msg, n);
  if (got->kind != want->kind) return snprintf(msg, n, "%s, want %s", kind_name(got->kind), kind_name(want->kind)), d->bad = 1, 1;
  if (got->n_items != want->n_items)
    return snprintf(msg, n, "%d items, want %d", got->n_items, want->n_items), d->bad = 1, 1;
  int bad = 0;
  for (int i = 0; i < want->n_items; i++) {
    rtu_diff di;
    if (!rtu_compare_value(&got->items[i], &want->items[i], rtol, atol, &di, sub, sizeof sub)) continue;
    if (!bad++) snprintf(msg, n, "item %d: %s", i, sub);
    d->bad += di.bad;
    if (di.max_abs > d->max_abs) d->max_abs = di.max_abs;
    if (di.max_ratio > d->max_ratio) d->max_ratio = di.max_ratio;
  }
  return bad != 0;
}

int rtu_read_values(const char *dir, const char *prefix, int n, const int *kinds, ferry_host_tensor *t, ferry_err *err) {
  char p[4096];
  memset(t, 0, (size_t)n * sizeof *t);
  for (int k = 0; k < n; k++) {
    snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
    if (ferry_value_read(p, kinds ? kinds[k] : 0, &t[k], err)) return err->code;
  }
  return 0;
}

void rtu_rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[4096];
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rtu_rm_tree(p);
    else unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}
