/*
 * validate.h - `ferry validate`: the accuracy gate a CI step runs.
 *
 * A model (bundle or ONNX) runs on samples of input data; each output is
 * compared with a reference - the outputs recorded with the data, or the
 * outputs of a reference model run by ferry's runtime on the same inputs -
 * and every (sample, output) pair gets metrics and a verdict:
 *
 *   ferry_validate_opts o = {.model = "m.ferry", .reference = "m.onnx", ...};
 *   ferry_vreport rep;
 *   if (ferry_validate_run(&o, &rep, &err)) ... err.code is 2 or 3 ...
 *   ferry_vreport_print(&rep, stdout);           // the terminal table
 *   ferry_vreport_write_json(&rep, "v.json", &err);
 *   ferry_vreport_write_junit(&rep, "v.xml", &err);
 *   rc = rep.n_failed ? FERRY_E_ACCURACY : 0;
 *   ferry_vreport_free(&rep);
 *
 * The parts: metrics.c compares two tensors (ferry_vcompare: one pass, in
 * double); config.c reads the YAML configuration (libyaml); data.c and
 * npz.c turn --data paths (test_data_set folders, .npy, .npz, PNG/JPEG
 * images with preprocessing) or a seed into samples; validate.c runs the
 * models and judges; report.c writes the table, JSON and JUnit XML;
 * bisect.c finds the first node whose output diverges from the reference
 * model's. Errors are values (ferry_err); nothing here prints to stderr or
 * exits. docs/cli.md and docs/ci.md describe the command.
 */
#ifndef FERRY_VALIDATE_H
#define FERRY_VALIDATE_H

#include <stdint.h>
#include <stdio.h>

#include "ferry.h"

/* ---- metrics ---- */

/* Limits for one output. Every double is NAN where not set (then the next
 * level decides: output entry > YAML defaults > command line > built-in). */
typedef struct ferry_vlimits {
  double atol, rtol;          /* element rule: an element fails only where
                                 |a-b| > atol and |a-b| > rtol*|b| (Polygraphy's) */
  double min_cosine;          /* cosine similarity >= */
  double min_snr_db;          /* SNR in dB >= */
  double max_nmse;            /* normalized mean squared error <= */
  double max_abs, max_mean_abs;
  double max_ulp;
  double min_top1, min_topk;  /* fraction of rows (last axis = classes) agreeing */
  int topk;                   /* k of the top-k agreement, 0: not set (5) */
  int elementwise;            /* -1 not set, 0 off, 1 on; off by default only
                                 where an entry sets metric thresholds and no
                                 atol/rtol (see ferry_vlimits_resolve) */
} ferry_vlimits;

/* All NAN / unset. */
void ferry_vlimits_unset(ferry_vlimits *l);
/* Fills the unset fields of `l` from `from`. */
void ferry_vlimits_inherit(ferry_vlimits *l, const ferry_vlimits *from);
/* The final limits: unset atol/rtol become 1e-5, topk 5; the element rule
 * is on unless set off, or unless metric thresholds are set and atol and
 * rtol were not set anywhere. */
void ferry_vlimits_resolve(ferry_vlimits *l);

/* What one comparison measured; fields that do not apply are NAN
 * (top-k for non-float outputs or a last axis under 2; ULP for bool). */
typedef struct ferry_vmetrics {
  int64_t n;                  /* elements compared */
  int64_t n_failed;           /* elements breaking the element rule */
  int64_t n_nan;              /* elements where one side is NaN and the other not */
  int64_t n_nonfinite;        /* elements no tolerance covers: NaN or an infinity
                                 on one side only, opposite infinities; any such
                                 element fails the check, element rule on or off */
  double max_abs, mean_abs, max_rel;
  double cosine, snr_db, nmse; /* snr_db: INFINITY when both are equal */
  double max_ulp;
  double top1, topk;
  int k;                      /* k used for topk */
  int64_t worst;              /* flat index of the worst element (the largest
                                 |a-b| among failing ones, else overall), -1 none */
  double worst_actual, worst_expected;
} ferry_vmetrics;

/* Compares `actual` with `expected` (tensors) under the resolved limits
 * `l`. Returns 1 when they pass, 0 when not, with `reason` (n bytes) saying
 * why: a shape or dtype mismatch (metrics then zero, n 0), elements beyond
 * tolerance, or a metric threshold missed. NaN equals NaN only where both
 * are NaN; equal infinities are equal. */
int ferry_vcompare(const ferry_tview *actual, const ferry_tview *expected, const ferry_vlimits *l,
                   ferry_vmetrics *m, char *reason, size_t n);

/* Element `i` of a tensor as a double (0 for dtypes without numbers). */
double ferry_velem(const ferry_tview *t, int64_t i);

/* ---- configuration (config.c) ---- */

/* How one input is made from an image, or from random numbers. */
typedef struct ferry_vinput_cfg {
  char *name;                 /* the model input; "*" in the YAML: any */
  int has_image;              /* an `image:` section was given */
  int resize_h, resize_w;     /* both 0: no resize; resize_w 0: shorter side to resize_h */
  int crop_h, crop_w;         /* center crop, 0: none */
  double scale;               /* pixels are multiplied by it first (float: default 1/255) */
  double mean[4], std[4];     /* per channel, after scaling */
  int n_mean, n_std;
  int nhwc;                   /* layout: 0 NCHW (default), 1 NHWC */
  int dtype;                  /* FERRY_F32 (default) or FERRY_U8 */
  int channels;               /* 3 (RGB, default) or 1 (gray) */
  int bgr;                    /* channel order BGR */
  int has_range;              /* random values: uniform in [lo, hi] */
  double lo, hi;
} ferry_vinput_cfg;

typedef struct ferry_voutput_cfg {
  char *name;
  ferry_vlimits lim;
} ferry_voutput_cfg;

typedef struct ferry_vdim {
  char *name;
  int64_t value;
} ferry_vdim;

typedef struct ferry_vconfig {
  ferry_vlimits defaults;     /* top level: atol, rtol, and metric thresholds */
  ferry_voutput_cfg *outputs;
  int n_outputs;
  ferry_vinput_cfg *inputs;
  int n_inputs;
  ferry_vdim *dims;           /* symbolic dims for random inputs */
  int n_dims;
  int has_seed;
  uint64_t seed;
  int samples;                /* random samples, 0: not set */
} ferry_vconfig;

/* Reads the YAML file at `path` (docs/cli.md has the schema). Errors read
 * "PATH:LINE:COL: what is wrong" (FERRY_E_INPUT). */
int ferry_vconfig_load(const char *path, ferry_vconfig *c, ferry_err *err);
/* The same from memory; `path` names it in errors. */
int ferry_vconfig_parse(const char *path, const void *buf, size_t len, ferry_vconfig *c, ferry_err *err);
void ferry_vconfig_free(ferry_vconfig *c);
/* The input entry for `name` (or the "*" entry), NULL if none. */
const ferry_vinput_cfg *ferry_vconfig_input(const ferry_vconfig *c, const char *name);

/* ---- data (data.c, npz.c) ---- */

/* A named tensor that owns its bytes. */
typedef struct ferry_vtensor {
  char *name;
  ferry_tview v;
  void *buf;
} ferry_vtensor;

void ferry_vtensor_free(ferry_vtensor *t);

/* Reads every array of an .npz archive (a zip of .npy files, stored or
 * deflated; zip64 sizes understood). *out gets *n tensors named after the
 * members without ".npy". Errors name the file and the member. */
int ferry_npz_read(const char *path, ferry_vtensor **out, int *n, ferry_err *err);
int ferry_npz_read_buffer(const char *path, const void *buf, size_t len, ferry_vtensor **out, int *n,
                          ferry_err *err);
void ferry_vtensors_free(ferry_vtensor *t, int n);

/* The tensor an image file (PNG, JPEG, BMP... what stb_image reads) makes
 * after the preprocessing in `c`: decode, resize (bilinear, half-pixel
 * centers), center crop, scale, mean/std, layout, with a batch dim of 1. */
int ferry_image_tensor(const char *path, const ferry_vinput_cfg *c, ferry_vtensor *out, ferry_err *err);
/* The same from decoded pixels (h x w x ch bytes, row-major). */
int ferry_image_preprocess(const unsigned char *px, int h, int w, int ch, const ferry_vinput_cfg *c,
                           ferry_vtensor *out, ferry_err *err);

/* A random tensor for input `info` (symbolic dims from `dims`), values
 * uniform in the input's range (default floats [0, 1), integers and bools
 * {0, 1}), from the generator state *rng (splitmix64: the same seed gives
 * the same values everywhere). */
int ferry_random_tensor(const ferry_io_info *info, const ferry_vinput_cfg *c, const ferry_vdim *dims, int n_dims,
                        uint64_t *rng, ferry_vtensor *out, ferry_err *err);

/* ---- running ---- */

typedef struct ferry_validate_opts {
  const char *model;          /* bundle or .onnx */
  const char *reference;      /* a reference model, or NULL: recorded outputs */
  const char *config;         /* YAML file, or NULL */
  const char *const *data;    /* --data paths */
  int n_data;
  double atol, rtol;          /* NAN: not given */
  const ferry_vdim *dims;     /* --dim NAME=VALUE */
  int n_dims;
  int has_seed;
  uint64_t seed;
  int samples;                /* random samples, 0: config or 1 */
  int bisect;                 /* on a failure, find the first diverging node */
  int threads;
} ferry_validate_opts;

/* One (sample, output) check. */
typedef struct ferry_vresult {
  char *sample, *output;
  int passed;
  char reason[256];           /* why it failed, "" when it passed */
  int dtype, rank;            /* the model's output */
  int64_t dims[FERRY_MAX_RANK];
  ferry_vlimits lim;          /* resolved */
  ferry_vmetrics m;
} ferry_vresult;

/* An input of the diverging node, as bisect saw it. */
typedef struct ferry_vbisect_input {
  char *name;
  int state;                  /* 0 compared, 1 missing on one side, 2 a weight
                                 or constant compared, 3 graph input */
  int diverged;
  ferry_vmetrics m;
} ferry_vbisect_input;

typedef struct ferry_vbisect {
  int ran, found;
  int compared, skipped;      /* values compared, values only one side had */
  char *sample;               /* the sample bisect ran on */
  char *node, *op, *output;   /* the first diverging node, its op and the output */
  char *model_op;             /* the op making that output in MODEL, NULL if none */
  ferry_vmetrics m;           /* that output's error */
  char reason[256];
  ferry_vbisect_input *inputs;
  int n_inputs;
} ferry_vbisect;

typedef struct ferry_vreport {
  char *model, *reference;    /* reference: a model path or "recorded outputs" */
  int n_samples;
  ferry_vresult *r;
  int n, n_failed;
  ferry_vbisect bisect;
  double seconds;
} ferry_vreport;

/* Validates; returns 0 with `rep` filled (rep->n_failed > 0 is an accuracy
 * failure), or FERRY_E_INPUT / FERRY_E_SYSTEM with `err` naming the file
 * and the problem (rep then holds nothing to free). */
int ferry_validate_run(const ferry_validate_opts *o, ferry_vreport *rep, ferry_err *err);
void ferry_vreport_free(ferry_vreport *rep);

/* ---- reports (report.c) ---- */

/* The terminal table: per sample and output the metrics, the worst element
 * with its index and both values, the verdict; then bisect's finding. */
void ferry_vreport_print(const ferry_vreport *rep, FILE *f);
/* JSON and JUnit XML files, written to a temporary file and renamed. */
int ferry_vreport_write_json(const ferry_vreport *rep, const char *path, ferry_err *err);
int ferry_vreport_write_junit(const ferry_vreport *rep, const char *path, ferry_err *err);

/* ---- bisect (bisect.c) ---- */

/* Runs `model` and `reference` on `inputs` (by name) with every
 * intermediate value exposed, compares same-named values in the
 * reference's node order under `l` and fills `b` with the first node whose
 * output diverges. */
int ferry_vbisect_run(const char *model, const char *reference, const ferry_vtensor *inputs, int n_inputs,
                      const ferry_vlimits *l, int threads, ferry_vbisect *b, ferry_err *err);
void ferry_vbisect_free(ferry_vbisect *b);

#endif
