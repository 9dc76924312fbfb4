/*
 * check_validate.c - `ferry validate` (validate/validate.h), through the
 * library and the real `ferry` binary:
 *   - metrics against hand-computed values (errors, cosine, SNR, NMSE, ULP,
 *     top-k), the element rule, NaN/Inf, shape and dtype mismatches;
 *   - the YAML configuration: a full schema parsed, errors naming line:col;
 *   - data: .npz stored and deflated, a broken .npz, a PNG preprocessed
 *     (resize, crop, mean/std, NCHW) against numpy, a JPEG, random inputs
 *     reproducible from the seed;
 *   - the command: squeezenet1_1's test_data_set passes (0), a perturbed
 *     reference fails (1), bad config, data and usage give 2; the JSON
 *     report parsed back by python3, the JUnit XML checked by xmllint with
 *     its test cases counted; a bundle against its ONNX source;
 *   - bisect naming the node deliberately broken in a small model (a
 *     changed constant, a swapped op).
 * Data comes from tests/validate/make-data.py (python3-onnx, numpy, PIL),
 * run once into a temporary folder.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_io.h"
#include "testutil.h"
#include "validate.h"

static char data[256];

/* OUT/name for the generated data (make-data.py runs once). */
static const char *dpath(const char *name) {
  static char buf[8][4096];
  static int k;
  if (!data[0]) {
    snprintf(data, sizeof data, "%s", tu_tmpdir());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/validate/make-data.py' '%s' '%s'", tu_env("FERRY_SRCDIR"), data,
             tu_env("FERRY_TEST_MODELS"));
    ck_assert_msg(system(cmd) == 0, "make-data.py failed: %s", cmd);
  }
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", data, name);
  return buf[k];
}

/* Path under $FERRY_TEST_MODELS (rotating buffers: several per call are fine). */
static const char *mpath(const char *rel) {
  static char buf[8][4096];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s", tu_model(rel));
  return buf[k];
}

/* Runs `ferry validate ARGS`, returns the exit status; *out, *err captured (free them). */
static int validate(const char *args, char **out, char **err) {
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "validate %s", args);
  return tu_run(cmd, out, err);
}

static ferry_tview f32(float *v, int rank, const int64_t *dims) {
  ferry_tview t = {.dtype = FERRY_F32, .rank = rank, .data = v, .numel = 1};
  for (int d = 0; d < rank; d++) t.dims[d] = dims[d], t.numel *= dims[d];
  return t;
}

static ferry_vlimits limits(double atol, double rtol) {
  ferry_vlimits l;
  ferry_vlimits_unset(&l);
  l.atol = atol, l.rtol = rtol;
  ferry_vlimits_resolve(&l);
  return l;
}

/* ---- metrics ---- */

START_TEST(metrics_hand_computed) {
  float a[] = {1, 2, 3, 5}, b[] = {1, 2, 3, 4};
  int64_t d[] = {4};
  ferry_tview ta = f32(a, 1, d), tb = f32(b, 1, d);
  ferry_vlimits l = limits(0.1, 0);
  ferry_vmetrics m;
  char why[256];
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_int_eq(m.n, 4);
  ck_assert_int_eq(m.n_failed, 1);
  ck_assert_double_eq_tol(m.max_abs, 1, 1e-12);
  ck_assert_double_eq_tol(m.mean_abs, 0.25, 1e-12);
  ck_assert_double_eq_tol(m.max_rel, 0.25, 1e-12);                      /* 1 / |4| */
  ck_assert_double_eq_tol(m.cosine, 34 / sqrt(39.0 * 30.0), 1e-12);     /* a.b / |a||b| */
  ck_assert_double_eq_tol(m.snr_db, 10 * log10(30.0 / 1.0), 1e-9);      /* sum b^2 / sum (a-b)^2 */
  ck_assert_double_eq_tol(m.nmse, 1.0 / 30.0, 1e-12);
  ck_assert_int_eq(m.worst, 3);
  ck_assert_double_eq(m.worst_actual, 5);
  ck_assert_double_eq(m.worst_expected, 4);
  /* 5.0f and 4.0f are 2^21 float steps apart (one binade of 2^23 steps covers [4, 8)) */
  ck_assert_double_eq(m.max_ulp, (double)(1 << 21));
  ck_assert_msg(strstr(why, "1 of 4 elements beyond tolerance"), "%s", why);
  /* Polygraphy's rule: |a-b| = 1 passes when either atol or rtol*|b| covers it */
  l = limits(0.5, 0.25);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 1);
  l = limits(1.0, 0);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 1);
  l = limits(0.99, 0.24);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
}
END_TEST

START_TEST(metrics_ulp_nan_inf) {
  float one = 1.0f, next = nextafterf(1.0f, 2.0f);
  float a[] = {one, 0.0f, NAN, INFINITY, -2.0f}, b[] = {next, -0.0f, NAN, INFINITY, -2.0f};
  int64_t d[] = {5};
  ferry_tview ta = f32(a, 1, d), tb = f32(b, 1, d);
  ferry_vlimits l = limits(0, 0);
  ferry_vmetrics m;
  char why[256];
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0); /* 1 vs next(1) differs */
  ck_assert_int_eq(m.n_failed, 1);
  ck_assert_double_eq(m.max_ulp, 1); /* +0 and -0 are 0 apart, NaN == NaN, inf == inf */
  ck_assert_int_eq(m.n_nan, 0);
  /* a NaN where the reference has a number fails whatever the tolerance */
  a[0] = NAN;
  l = limits(1e9, 1e9);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_int_eq(m.n_nan, 1);
  ck_assert_int_eq(m.worst, 0);
  ck_assert_msg(strstr(why, "NaN"), "%s", why);
  /* infinities of opposite sign differ */
  a[0] = one, a[3] = -INFINITY;
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_int_eq(m.worst, 3);
  /* with metric thresholds only, a NaN still fails */
  a[3] = INFINITY, a[0] = NAN;
  ferry_vlimits_unset(&l);
  l.min_cosine = 0.5;
  ferry_vlimits_resolve(&l);
  ck_assert_int_eq(l.elementwise, 0);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "1 elements NaN or infinite"), "%s", why);
}
END_TEST

START_TEST(metrics_topk_and_thresholds) {
  /* row 0: argmax 1 vs 2 (top-2 sets {1,2} both); row 1: argmax 2 both (top-2 {2,0} both) */
  float a[] = {0.1f, 0.5f, 0.4f, 0.3f, 0.2f, 0.9f}, b[] = {0.1f, 0.4f, 0.5f, 0.3f, 0.2f, 0.9f};
  int64_t d[] = {2, 3};
  ferry_tview ta = f32(a, 2, d), tb = f32(b, 2, d);
  ferry_vlimits l;
  ferry_vlimits_unset(&l);
  l.topk = 2, l.min_top1 = 0.9;
  ferry_vlimits_resolve(&l);
  ck_assert_int_eq(l.elementwise, 0); /* metric thresholds only: the element rule is off */
  ferry_vmetrics m;
  char why[256];
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_double_eq_tol(m.top1, 0.5, 1e-12);
  ck_assert_double_eq_tol(m.topk, 1.0, 1e-12);
  ck_assert_int_eq(m.k, 2);
  ck_assert_msg(strstr(why, "top-1 agreement 0.5 < 0.9"), "%s", why);
  l.min_top1 = 0.5, l.min_topk = 1, l.min_cosine = 0.99;
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 1);
  l.min_cosine = 0.999;
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "cosine"), "%s", why);
  /* tolerances given with metric thresholds: both apply */
  ferry_vlimits_unset(&l);
  l.atol = 0.01, l.min_cosine = 0.5;
  ferry_vlimits_resolve(&l);
  ck_assert_int_eq(l.elementwise, 1);
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_int_eq(m.n_failed, 2);
}
END_TEST

START_TEST(metrics_mismatch_and_ints) {
  float a[] = {1, 2, 3, 4};
  int64_t d4[] = {4}, d22[] = {2, 2};
  ferry_tview ta = f32(a, 1, d4), tb = f32(a, 2, d22);
  ferry_vlimits l = limits(0, 0);
  ferry_vmetrics m;
  char why[256];
  ck_assert_int_eq(ferry_vcompare(&ta, &tb, &l, &m, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "shape [4], the reference has [2,2]"), "%s", why);
  int64_t ia[] = {1, 5, 7}, ib[] = {1, 5, 9};
  ferry_tview xa = {.dtype = FERRY_I64, .rank = 1, .dims = {3}, .numel = 3, .data = ia};
  ferry_tview xb = xa;
  xb.data = ib;
  ck_assert_int_eq(ferry_vcompare(&xa, &ta, &l, &m, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "dtype int64, the reference has float32"), "%s", why);
  ck_assert_int_eq(ferry_vcompare(&xa, &xb, &l, &m, why, sizeof why), 0);
  ck_assert_double_eq(m.max_abs, 2);
  ck_assert_double_eq(m.max_ulp, 2); /* integers: the difference */
  ck_assert(isnan(m.top1));          /* no class axis for integer outputs */
  xb.data = ia;
  ck_assert_int_eq(ferry_vcompare(&xa, &xb, &l, &m, why, sizeof why), 1);
}
END_TEST

/* ---- configuration ---- */

static const char good_yaml[] =
    "# limits\n"
    "atol: 1e-3\n"
    "rtol: 0.01\n"
    "seed: 42\n"
    "samples: 3\n"
    "dims: {batch: 2, sequence: 16}\n"
    "inputs:\n"
    "  pixel_values:\n"
    "    image: {resize: [256, 320], crop: 224, mean: [0.5], std: [0.25], layout: NHWC, order: BGR}\n"
    "  input_ids:\n"
    "    range: [0, 99]\n"
    "outputs:\n"
    "  logits: {cosine: 0.999, top1: 0.98, k: 3}\n"
    "  hidden: {atol: 0.5, elementwise: false}\n";

START_TEST(config_parses) {
  ferry_vconfig c;
  ferry_err err = {0};
  ck_assert_msg(ferry_vconfig_parse("v.yaml", good_yaml, strlen(good_yaml), &c, &err) == 0, "%s", err.msg);
  ck_assert_double_eq(c.defaults.atol, 1e-3);
  ck_assert_double_eq(c.defaults.rtol, 0.01);
  ck_assert(c.has_seed && c.seed == 42 && c.samples == 3);
  ck_assert_int_eq(c.n_dims, 2);
  ck_assert_str_eq(c.dims[1].name, "sequence");
  ck_assert_int_eq(c.dims[1].value, 16);
  const ferry_vinput_cfg *in = ferry_vconfig_input(&c, "pixel_values");
  ck_assert(in && in->has_image && in->resize_h == 256 && in->resize_w == 320 && in->crop_h == 224 && in->crop_w == 224);
  ck_assert(in->nhwc && in->bgr && in->n_mean == 1 && in->std[0] == 0.25);
  in = ferry_vconfig_input(&c, "input_ids");
  ck_assert(in && in->has_range && in->lo == 0 && in->hi == 99);
  ck_assert_ptr_null(ferry_vconfig_input(&c, "other"));
  ck_assert_int_eq(c.n_outputs, 2);
  ck_assert_str_eq(c.outputs[0].name, "logits");
  ck_assert_double_eq(c.outputs[0].lim.min_cosine, 0.999);
  ck_assert_int_eq(c.outputs[0].lim.topk, 3);
  ck_assert_int_eq(c.outputs[1].lim.elementwise, 0);
  ferry_vconfig_free(&c);
}
END_TEST

static void bad_config(const char *yaml, const char *want) {
  ferry_vconfig c;
  ferry_err err = {0};
  ck_assert_int_eq(ferry_vconfig_parse("v.yaml", yaml, strlen(yaml), &c, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, want), "wanted '%s' in: %s", want, err.msg);
}

START_TEST(config_errors_name_line_and_column) {
  bad_config("atol: 1e-3\nrtol: lots\n", "v.yaml:2:7: expected a number, got 'lots'");
  bad_config("atol: 1e-3\nfrobnicate: 1\n", "v.yaml:2:1: unknown setting 'frobnicate'");
  bad_config("outputs:\n  y:\n    cosine: 1.5\n", "v.yaml:3:13: cosine must be at most 1");
  bad_config("outputs:\n  y: {speed: 3}\n", "v.yaml:2:7: unknown output setting 'speed'");
  bad_config("inputs:\n  x:\n    image: {layout: CHW}\n", "v.yaml:3:21: layout is NCHW or NHWC");
  bad_config("inputs:\n  x:\n    range: [5, 1]\n", "v.yaml:3:12: range is [LOW, HIGH]");
  bad_config("atol: -1\n", "v.yaml:1:7: expected a number >= 0");
  bad_config("atol: [1\n", "v.yaml:2:1:");            /* libyaml's own error, placed */
  bad_config("- a\n- b\n", "v.yaml:1:1: expected a mapping");
  bad_config("dims: {batch: -3}\n", "v.yaml:1:15: expected an integer");
}
END_TEST

/* ---- data ---- */

START_TEST(npz_stored_and_deflated) {
  const char *names[] = {"sq_stored.npz", "sq_deflated.npz"};
  for (int k = 0; k < 2; k++) {
    ferry_vtensor *t;
    int n;
    ferry_err err = {0};
    ck_assert_msg(ferry_npz_read(dpath(names[k]), &t, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(t[0].name, "input");
    ck_assert_int_eq(t[0].v.rank, 4);
    ck_assert_int_eq(t[0].v.dims[1], 3);
    ck_assert_str_eq(t[1].name, "output");
    ck_assert_int_eq(t[1].v.numel, 1000);
    /* the recorded output matches the test_data_set's */
    ferry_host_tensor want;
    ck_assert(ferry_tensor_read(mpath("squeezenet1_1/test_data_set_0/output_0.pb"), &want, &err) == 0);
    ck_assert(memcmp(want.v.data, t[1].v.data, 4000) == 0);
    ferry_host_tensor_free(&want);
    ferry_vtensors_free(t, n);
  }
}
END_TEST

START_TEST(npz_broken) {
  size_t len;
  char *buf = tu_read(dpath("sq_deflated.npz"), &len);
  ck_assert_ptr_nonnull(buf);
  ferry_vtensor *t;
  int n;
  ferry_err err = {0};
  /* cut short: the directory is gone */
  ck_assert_int_eq(ferry_npz_read_buffer("x.npz", buf, len / 2, &t, &n, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "x.npz: not a valid .npz file"), "%s", err.msg);
  /* a corrupted deflate stream */
  for (size_t i = 100; i < 400; i++) buf[i] ^= 0x5a;
  ck_assert_int_eq(ferry_npz_read_buffer("x.npz", buf, len, &t, &n, &err), FERRY_E_INPUT);
  free(buf);
  ck_assert_int_eq(ferry_npz_read_buffer("x.npz", "PK\5\6", 4, &t, &n, &err), FERRY_E_INPUT);
  /* through the command: exit 2, the file named */
  tu_write(dpath("junk.npz"), "not a zip at all, really not", 28);
  char *out, *e, args[8192];
  snprintf(args, sizeof args, "'%s' --data '%s'", mpath("squeezenet1_1.onnx"), dpath("junk.npz"));
  ck_assert_int_eq(validate(args, &out, &e), 2);
  ck_assert_msg(strstr(e, "junk.npz: not a valid .npz file"), "%s", e);
  free(out), free(e);
}
END_TEST

START_TEST(image_png_preprocessed_like_numpy) {
  ferry_vinput_cfg c = {.resize_h = 6, .crop_h = 4, .crop_w = 4, .n_mean = 3, .n_std = 3,
                        .mean = {0.485, 0.456, 0.406}, .std = {0.229, 0.224, 0.225}};
  ferry_vtensor t;
  ferry_err err = {0};
  ck_assert_msg(ferry_image_tensor(dpath("img.png"), &c, &t, &err) == 0, "%s", err.msg);
  ferry_host_tensor want;
  ck_assert_msg(ferry_tensor_read(dpath("img_expected.npy"), &want, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(t.v.dtype, FERRY_F32);
  ck_assert_int_eq(t.v.rank, 4);
  int64_t shape[] = {1, 3, 4, 4};
  for (int d = 0; d < 4; d++) {
    ck_assert_int_eq(t.v.dims[d], shape[d]);
    ck_assert_int_eq(want.v.dims[d], shape[d]);
  }
  for (int i = 0; i < 48; i++)
    ck_assert_msg(fabsf(((float *)t.v.data)[i] - ((float *)want.v.data)[i]) < 1e-5, "element %d: %g vs %g", i,
                  ((float *)t.v.data)[i], ((float *)want.v.data)[i]);
  ferry_host_tensor_free(&want);
  ferry_vtensor_free(&t);
  /* a crop larger than the image is refused, naming the file */
  c.crop_h = c.crop_w = 9;
  ck_assert_int_eq(ferry_image_tensor(dpath("img.png"), &c, &t, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "img.png: crop 9x9"), "%s", err.msg);
  ck_assert_int_eq(ferry_image_tensor(dpath("img_expected.npy"), &c, &t, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "cannot decode the image"), "%s", err.msg);
}
END_TEST

START_TEST(image_jpeg_layouts) {
  /* a one-colour JPEG: (200, 100, 50) within JPEG's rounding */
  ferry_vinput_cfg c = {.nhwc = 1, .dtype = FERRY_U8};
  ferry_vtensor t;
  ferry_err err = {0};
  ck_assert_msg(ferry_image_tensor(dpath("solid.jpg"), &c, &t, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(t.v.dtype, FERRY_U8);
  ck_assert(t.v.dims[0] == 1 && t.v.dims[1] == 16 && t.v.dims[2] == 16 && t.v.dims[3] == 3);
  const uint8_t *p = t.v.data;
  for (int i = 0; i < 16 * 16; i++)
    ck_assert_msg(abs(p[3 * i] - 200) <= 3 && abs(p[3 * i + 1] - 100) <= 3 && abs(p[3 * i + 2] - 50) <= 3,
                  "pixel %d: %d %d %d", i, p[3 * i], p[3 * i + 1], p[3 * i + 2]);
  ferry_vtensor_free(&t);
  /* float NCHW, BGR, resized to 8x8: planes in B, G, R order */
  ferry_vinput_cfg f = {.resize_h = 8, .resize_w = 8, .bgr = 1};
  ck_assert_msg(ferry_image_tensor(dpath("solid.jpg"), &f, &t, &err) == 0, "%s", err.msg);
  ck_assert(t.v.dims[1] == 3 && t.v.dims[2] == 8 && t.v.dims[3] == 8);
  const float *q = t.v.data;
  ck_assert_msg(fabsf(q[0] - 50 / 255.0f) < 4 / 255.0f, "%g", q[0]);
  ck_assert_msg(fabsf(q[64] - 100 / 255.0f) < 4 / 255.0f, "%g", q[64]);
  ck_assert_msg(fabsf(q[128] - 200 / 255.0f) < 4 / 255.0f, "%g", q[128]);
  ferry_vtensor_free(&t);
}
END_TEST

START_TEST(random_inputs_reproducible) {
  ferry_io_info info = {.name = "ids", .dtype = FERRY_I64, .rank = 2, .dims = {-1, 5}, .dim_names = {"batch", NULL}};
  ferry_vdim dims[] = {{"batch", 3}};
  ferry_vinput_cfg c = {.has_range = 1, .lo = 10, .hi = 20};
  ferry_vtensor a, b, d;
  ferry_err err = {0};
  uint64_t s1 = 7, s2 = 7, s3 = 8;
  ck_assert_msg(ferry_random_tensor(&info, &c, dims, 1, &s1, &a, &err) == 0, "%s", err.msg);
  ck_assert(ferry_random_tensor(&info, &c, dims, 1, &s2, &b, &err) == 0);
  ck_assert(ferry_random_tensor(&info, &c, dims, 1, &s3, &d, &err) == 0);
  ck_assert_int_eq(a.v.numel, 15);
  ck_assert_int_eq(a.v.dims[0], 3);
  ck_assert(memcmp(a.v.data, b.v.data, 15 * 8) == 0);
  ck_assert(memcmp(a.v.data, d.v.data, 15 * 8) != 0);
  int seen_lo = 0, seen_hi = 0;
  for (int i = 0; i < 15; i++) {
    int64_t v = ((int64_t *)a.v.data)[i];
    ck_assert(v >= 10 && v <= 20);
    seen_lo |= v < 15, seen_hi |= v > 15;
  }
  ck_assert(seen_lo && seen_hi);
  ferry_vtensor_free(&a), ferry_vtensor_free(&b), ferry_vtensor_free(&d);
  /* a symbolic dim without a value is named */
  ck_assert_int_eq(ferry_random_tensor(&info, &c, NULL, 0, &s1, &a, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "'batch'") && strstr(err.msg, "--dim batch=N"), "%s", err.msg);
  /* through the command: two runs with one seed report the same worst values */
  char *o1, *o2, *e, args[8192];
  snprintf(args, sizeof args, "'%s' --reference '%s' --dim batch=2 --dim sequence=5 --seed 11 --samples 2",
           mpath("bert_tiny_op13.onnx"), mpath("bert_tiny_op17.onnx"));
  ck_assert_int_eq(validate(args, &o1, &e), 0);
  free(e);
  ck_assert_int_eq(validate(args, &o2, &e), 0);
  ck_assert_msg(strstr(o1, "random_1 (seed 11)"), "%s", o1);
  char *w1 = strstr(o1, "worst"), *w2 = strstr(o2, "worst");
  ck_assert(w1 && w2 && strncmp(w1, w2, 60) == 0);
  free(o1), free(o2), free(e);
}
END_TEST

/* ---- the command ---- */

START_TEST(cli_test_data_set_passes) {
  char *out, *err, args[8192];
  snprintf(args, sizeof args, "'%s' --data '%s'", mpath("squeezenet1_1.onnx"), mpath("squeezenet1_1/test_data_set_0"));
  ck_assert_msg(validate(args, &out, &err) == 0, "%s%s", out, err);
  ck_assert_msg(strstr(out, "PASSED: 1 of 1 checks passed"), "%s", out);
  ck_assert_msg(strstr(out, "float32 [1, 1000]: worst [0, "), "%s", out);
  free(out), free(err);
  /* a folder of test_data_set_N folders: each is a sample */
  snprintf(args, sizeof args, "'%s' --data '%s'", mpath("squeezenet1_1.onnx"), mpath("squeezenet1_1"));
  ck_assert_int_eq(validate(args, &out, &err), 0);
  free(out), free(err);
}
END_TEST

START_TEST(cli_perturbed_reference_fails) {
  char *out, *err, args[8192];
  snprintf(args, sizeof args, "'%s' --data '%s' --data '%s' --json '%s' --junit '%s'", mpath("squeezenet1_1.onnx"),
           dpath("sq_perturbed"), mpath("squeezenet1_1/test_data_set_0"), dpath("r.json"), dpath("r.xml"));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  ck_assert_msg(strstr(out, "worst [0, 7]"), "%s", out);
  ck_assert_msg(strstr(out, "FAIL: 1 of 1000 elements beyond tolerance"), "%s", out);
  ck_assert_msg(strstr(out, "FAILED: 1 of 2 checks passed"), "%s", out);
  free(out), free(err);
  /* JSON, parsed by python */
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import json,sys; r=json.load(open(sys.argv[1])); "
           "assert r['passed'] is False and r['checks'] == 2 and r['failed'] == 1, r; "
           "a, b = r['results']; assert a['passed'] is False and a['worst']['index'] == [0, 7], a; "
           "assert abs(a['metrics']['max_abs'] - 0.5) < 1e-4 and a['metrics']['failed_elements'] == 1, a; "
           "assert b['passed'] is True and b['metrics']['cosine'] > 0.9999, b\" '%s'",
           dpath("r.json"));
  ck_assert_msg(system(cmd) == 0, "the JSON report does not hold what it should");
  /* JUnit, checked by xmllint; one test case per sample and output */
  snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", dpath("r.xml"));
  ck_assert_msg(system(cmd) == 0, "xmllint rejects the JUnit report");
  snprintf(cmd, sizeof cmd,
           "test \"$(xmllint --xpath 'count(//testsuite/testcase)' '%s')\" = 2 && "
           "test \"$(xmllint --xpath 'count(//testcase/failure)' '%s')\" = 1 && "
           "test \"$(xmllint --xpath 'string(/testsuites/@failures)' '%s')\" = 1",
           dpath("r.xml"), dpath("r.xml"), dpath("r.xml"));
  ck_assert_msg(system(cmd) == 0, "the JUnit report has the wrong test cases");
  /* per-output limits from the YAML: a looser atol for this output passes it; a cosine
   * threshold alone (element rule off) passes; a tighter one fails with its reason */
  const char *loose = "atol: 1e-6\noutputs:\n  output: {atol: 0.6}\n";
  tu_write(dpath("loose.yaml"), loose, strlen(loose));
  snprintf(args, sizeof args, "'%s' --data '%s' --config '%s'", mpath("squeezenet1_1.onnx"), dpath("sq_perturbed"),
           dpath("loose.yaml"));
  ck_assert_int_eq(validate(args, &out, &err), 0);
  free(out), free(err);
  const char *cos = "outputs:\n  output: {cosine: 0.999, top1: 1.0}\n";
  tu_write(dpath("cos.yaml"), cos, strlen(cos));
  snprintf(args, sizeof args, "'%s' --data '%s' --config '%s'", mpath("squeezenet1_1.onnx"), dpath("sq_perturbed"),
           dpath("cos.yaml"));
  ck_assert_int_eq(validate(args, &out, &err), 0);
  free(out), free(err);
  cos = "outputs:\n  output: {cosine: 0.9999}\n";
  tu_write(dpath("cos.yaml"), cos, strlen(cos));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  ck_assert_msg(strstr(out, "FAIL: cosine 0.99947"), "%s", out);
  free(out), free(err);
  /* names needing escapes, and a byte that is not UTF-8, still give well-formed files */
  const char *odd = dpath("odd&<b>\"\xff");
  snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", dpath("sq_perturbed"), odd);
  ck_assert(system(cmd) == 0);
  snprintf(args, sizeof args, "'%s' --data '%s' --json '%s' --junit '%s'", mpath("squeezenet1_1.onnx"), odd,
           dpath("odd.json"), dpath("odd.xml"));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  free(out), free(err);
  snprintf(cmd, sizeof cmd,
           "xmllint --noout '%s' && test \"$(xmllint --xpath 'string(//testcase/@classname)' '%s')\" = '%s' && "
           "/usr/bin/python3 -c \"import json,sys; r=json.load(open(sys.argv[1])); "
           "assert r['results'][0]['sample'].endswith('odd&<b>\\\"?'), r\" '%s'",
           dpath("odd.xml"), dpath("odd.xml"), dpath("odd&<b>\"?"), dpath("odd.json"));
  ck_assert_msg(system(cmd) == 0, "escaping: %s", cmd);
}
END_TEST

START_TEST(cli_exit_codes) {
  char *out, *err, args[8192];
  char sq[4096];
  snprintf(sq, sizeof sq, "%s", mpath("squeezenet1_1.onnx"));
  const char *bad = "atol: 1e-4\noutputs:\n  output:\n    cosine: high\n";
  tu_write(dpath("bad.yaml"), bad, strlen(bad));
  snprintf(args, sizeof args, "'%s' --data '%s' --config '%s'", sq, mpath("squeezenet1_1/test_data_set_0"), dpath("bad.yaml"));
  ck_assert_int_eq(validate(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "bad.yaml:4:13: expected a number, got 'high'"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --data '%s'", sq, dpath("no-such-folder"));
  ck_assert_int_eq(validate(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "no-such-folder: No such file"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --data '%s'", sq, mpath("bert_tiny_op13/test_data_set_0"));
  ck_assert_int_eq(validate(args, &out, &err), 2); /* data of another model */
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --bisect", sq);
  ck_assert_int_eq(validate(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "--bisect needs --reference"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --atol banana", sq);
  ck_assert_int_eq(validate(args, &out, &err), 2);
  free(out), free(err);
  ck_assert_int_eq(validate("", &out, &err), 2);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s'", sq); /* random inputs, nothing to compare with */
  ck_assert_int_eq(validate(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "give --reference"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --reference '%s'", mpath("bert_tiny_op13.onnx"), mpath("bert_tiny_op13.onnx"));
  ck_assert_int_eq(validate(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "--dim batch=N"), "%s", err);
  free(out), free(err);
  ck_assert_int_eq(validate("--help", &out, &err), 0);
  ck_assert_msg(strstr(out, "Example:"), "%s", out);
  free(out), free(err);
  /* a report that cannot be written: exit 3, nothing left behind */
  snprintf(args, sizeof args, "'%s' --data '%s' --json /nonexistent-dir/r.json", sq,
           mpath("squeezenet1_1/test_data_set_0"));
  ck_assert_int_eq(validate(args, &out, &err), 3);
  free(out), free(err);
}
END_TEST

START_TEST(cli_bundle_against_source_and_images) {
  char *out, *err, args[8192];
  const char *bundle = dpath("sq.ferry");
  snprintf(args, sizeof args, "convert '%s' -o '%s'", mpath("squeezenet1_1.onnx"), bundle);
  ck_assert_int_eq(tu_run(args, &out, &err), 0);
  free(out), free(err);
  snprintf(args, sizeof args, "'%s' --reference '%s' --data '%s' --seed 1", bundle, mpath("squeezenet1_1.onnx"),
           mpath("squeezenet1_1/test_data_set_0"));
  ck_assert_int_eq(validate(args, &out, &err), 0);
  ck_assert_msg(strstr(out, "against ") && strstr(out, "squeezenet1_1.onnx, 1 sample"), "%s", out);
  free(out), free(err);
  /* images with the YAML's preprocessing, through the command */
  const char yaml[] = "inputs:\n  image:\n    image: {resize: 6, crop: 4, mean: [0.485, 0.456, 0.406],"
                      " std: [0.229, 0.224, 0.225]}\noutputs:\n  out: {cosine: 0.9999}\n  \"*\": {snr_db: 40, cosine: 0.5}\n";
  tu_write(dpath("img.yaml"), yaml, strlen(yaml));
  snprintf(args, sizeof args, "'%s' --reference '%s' --data '%s' --data '%s' --config '%s' --json '%s'",
           dpath("identity.onnx"), dpath("identity.onnx"), dpath("img.png"), dpath("solid.jpg"), dpath("img.yaml"),
           dpath("i.json"));
  ck_assert_msg(validate(args, &out, &err) == 0, "%s%s", out, err);
  free(out), free(err);
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import json,sys; r=json.load(open(sys.argv[1])); "
           "assert [x['shape'] for x in r['results']] == [[1, 3, 4, 4]] * 2, r; "
           "l = r['results'][0]['limits']; assert l['cosine'] == 0.9999 and l['snr_db'] == 40 and l['elementwise'] is False, l\" '%s'",
           dpath("i.json"));
  ck_assert_msg(system(cmd) == 0, "image report");
}
END_TEST

/* ---- bisect ---- */

static void bisect_names(const char *broken, const char *node, const char *op_line) {
  char *out, *err, args[8192];
  snprintf(args, sizeof args, "'%s' --reference '%s' --bisect --json '%s'", dpath(broken), dpath("chain.onnx"),
           dpath("b.json"));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  char want[256];
  snprintf(want, sizeof want, "first diverging node: '%s' (%s", node, op_line);
  ck_assert_msg(strstr(out, want), "wanted \"%s\" in:\n%s", want, out);
  ck_assert_msg(strstr(out, "5 values compared, 0 only on one side"), "%s", out);
  free(out), free(err);
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import json,sys; b=json.load(open(sys.argv[1]))['bisect']; "
           "assert b['found'] and b['node'] == sys.argv[2], b\" '%s' '%s'",
           dpath("b.json"), node);
  ck_assert_msg(system(cmd) == 0, "bisect JSON");
}

START_TEST(bisect_changed_constant) {
  bisect_names("chain_const.onnx", "scale", "Mul)");
  /* the constant is reported as the diverging input, the activation as clean */
  char *out, *err, args[8192];
  snprintf(args, sizeof args, "'%s' --reference '%s' --bisect", dpath("chain_const.onnx"), dpath("chain.onnx"));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  ck_assert_msg(strstr(out, "input 'c', weight or constant: max abs 0.1") && strstr(out, "(DIVERGES)"), "%s", out);
  ck_assert_msg(strstr(out, "input 'h3': max abs 0,"), "%s", out);
  free(out), free(err);
}
END_TEST

START_TEST(cli_output_missing_in_reference) {
  char *out, *err, args[8192];
  snprintf(args, sizeof args, "'%s' --reference '%s' --json '%s'", dpath("chain.onnx"), dpath("chain_renamed.onnx"),
           dpath("m.json"));
  ck_assert_int_eq(validate(args, &out, &err), 1);
  ck_assert_msg(strstr(out, "FAIL: the reference model has no output 'y'"), "%s", out);
  ck_assert_msg(!strstr(out, "worst"), "%s", out);
  free(out), free(err);
}
END_TEST

START_TEST(bisect_swapped_op) {
  bisect_names("chain_op.onnx", "act", "Relu; Sigmoid in the model)");
}
END_TEST

START_TEST(bisect_library_and_optimized_bundle) {
  /* the library call on the same inputs; then an optimized bundle of the
   * reference: nothing diverges, every value is found or counted */
  ferry_err err = {0};
  float x[8] = {0.1f, 0.9f, 0.3f, 0.5f, 0.7f, 0.2f, 0.6f, 0.4f};
  ferry_vtensor in = {.name = "x", .v = {.dtype = FERRY_F32, .rank = 2, .dims = {2, 4}, .numel = 8, .data = x}};
  ferry_vlimits l;
  ferry_vlimits_unset(&l);
  ferry_vbisect b = {0};
  ck_assert_msg(ferry_vbisect_run(dpath("chain_op.onnx"), dpath("chain.onnx"), &in, 1, &l, 1, &b, &err) == 0, "%s", err.msg);
  ck_assert(b.ran && b.found);
  ck_assert_str_eq(b.node, "act");
  ck_assert_str_eq(b.output, "h3");
  ck_assert_int_eq(b.n_inputs, 1);
  ck_assert_int_eq(b.inputs[0].diverged, 0);
  ferry_vbisect_free(&b);
  char *out, *e, args[8192];
  snprintf(args, sizeof args, "convert '%s' -o '%s'", dpath("chain.onnx"), dpath("chain.ferry"));
  ck_assert_int_eq(tu_run(args, &out, &e), 0);
  free(out), free(e);
  ck_assert_msg(ferry_vbisect_run(dpath("chain.ferry"), dpath("chain.onnx"), &in, 1, &l, 1, &b, &err) == 0, "%s", err.msg);
  ck_assert(b.ran && !b.found);
  ck_assert_int_eq(b.compared + b.skipped, 5);
  ck_assert_int_ge(b.compared, 1);
  ferry_vbisect_free(&b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("validate");
  TCase *m = tcase_create("metrics");
  tcase_add_test(m, metrics_hand_computed);
  tcase_add_test(m, metrics_ulp_nan_inf);
  tcase_add_test(m, metrics_topk_and_thresholds);
  tcase_add_test(m, metrics_mismatch_and_ints);
  tcase_add_test(m, config_parses);
  tcase_add_test(m, config_errors_name_line_and_column);
  suite_add_tcase(s, m);
  TCase *d = tcase_create("data");
  tcase_set_timeout(d, 300);
  tcase_add_test(d, npz_stored_and_deflated);
  tcase_add_test(d, npz_broken);
  tcase_add_test(d, image_png_preprocessed_like_numpy);
  tcase_add_test(d, image_jpeg_layouts);
  tcase_add_test(d, random_inputs_reproducible);
  suite_add_tcase(s, d);
  TCase *c = tcase_create("command");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, cli_test_data_set_passes);
  tcase_add_test(c, cli_perturbed_reference_fails);
  tcase_add_test(c, cli_exit_codes);
  tcase_add_test(c, cli_bundle_against_source_and_images);
  tcase_add_test(c, cli_output_missing_in_reference);
  tcase_add_test(c, bisect_changed_constant);
  tcase_add_test(c, bisect_swapped_op);
  tcase_add_test(c, bisect_library_and_optimized_bundle);
  suite_add_tcase(s, c);
  SRunner *r = srunner_create(s);
  srunner_set_fork_status(r, CK_NOFORK);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
