/*
 * check_kernels_rnn.c - the kernels of runtime/kernels/sequence.h: the
 * recurrent ops (rnn.c), control flow (control.c) and signal ops
 * (signal.c).
 *
 *   nodetests  every ONNX node test whose single node is LSTM, GRU, RNN,
 *              DFT, STFT, a window or MelWeightMatrix, run on its kernel;
 *   recurrent  LSTM, GRU and RNN against a naive double-precision
 *              reference written here, on random sizes, both layouts, every
 *              direction, sequence_lens, initial states, peepholes, clip,
 *              input_forget, linear_before_reset, activations, float16;
 *   signal     DFT against a naive O(n^2) DFT on lengths that take both the
 *              radix-2 and the Bluestein path; windows; errors;
 *   control    If, Loop and Scan with a fake run_graph (the body is a C
 *              function here), checking how tensors move in and out.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint64_t rng_state = 88172645463325252ull;

static double urand(void) { /* [0, 1) */
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}
static int irand(int lo, int hi) { return lo + (int)(urand() * (hi - lo + 1)); }
static float frand(void) { return (float)(urand() * 2 - 1); }

static void fill(float *v, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
}

/* A string-list attribute as kernels read it: entries NUL-separated in s. */
static void kf_attr_strings(kf_call *c, const char *name, int n, const char *packed, size_t len) {
  kf_attr *a = &c->attrs[c->n_attrs++];
  a->name = name;
  memset(&a->v, 0, sizeof a->v);
  a->v.type = 8;
  a->v.n = n;
  a->v.s = packed;
  a->v.slen = (int64_t)len;
}

static void ck_close(const float *got, const double *want, int64_t n, double tol, const char *what) {
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= tol + tol * fabs(want[i]), "%s[%lld] = %.7g, want %.7g", what,
                  (long long)i, got[i], want[i]);
}

/* ---- node tests ---- */

static const char *const PREFIXES[] = {"test_lstm", "test_gru", "test_rnn", "test_simple_rnn", "test_dft",
                                       "test_stft", "test_hannwindow", "test_hammingwindow", "test_blackmanwindow",
                                       "test_melweightmatrix"};

/* Tests allowed to fail, with why. */
static const char *const EXCEPTIONS[][2] = {
    /* nodetest.c reads output_K.pb for the node's K-th output, but omitted
     * outputs ("" in the node) have no file: these nodes' only output is
     * Y_h (output 1), so the harness hands Y_h's shape to output 0 (Y).
     * The kernel is checked on the same data below (omitted Y). */
    {"test_lstm_defaults", "nodetest: omitted output Y shifts Y_h"},
    {"test_lstm_with_initial_bias", "nodetest: omitted output Y shifts Y_h"},
    {"test_lstm_with_peepholes", "nodetest: omitted output Y shifts Y_h"},
    {"test_gru_defaults", "nodetest: omitted output Y shifts Y_h"},
    {"test_gru_with_initial_bias", "nodetest: omitted output Y shifts Y_h"},
    {"test_gru_seq_length", "nodetest: omitted output Y shifts Y_h"},
    {"test_rnn_seq_length", "nodetest: omitted output Y shifts Y_h"},
    {"test_simple_rnn_defaults", "nodetest: omitted output Y shifts Y_h"},
    {"test_simple_rnn_with_initial_bias", "nodetest: omitted output Y shifts Y_h"},
};

static const char *exception(const char *name) {
  for (size_t i = 0; i < sizeof EXCEPTIONS / sizeof EXCEPTIONS[0]; i++)
    if (!strcmp(EXCEPTIONS[i][0], name)) return EXCEPTIONS[i][1];
  return NULL;
}

START_TEST(test_node_tests) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/node", tu_env("ONNX_TESTDATA"));
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  int pass = 0, fail = 0, excused = 0;
  while ((e = readdir(d))) {
    int mine = 0;
    for (size_t i = 0; i < sizeof PREFIXES / sizeof PREFIXES[0]; i++)
      mine |= !strncmp(e->d_name, PREFIXES[i], strlen(PREFIXES[i]));
    if (!mine) continue;
    char msg[512] = "";
    int rc = nodetest_run(e->d_name, msg, sizeof msg);
    const char *why = exception(e->d_name);
    if (rc == NT_PASS) {
      pass++;
    } else if (rc == NT_SKIP && strstr(e->d_name, "_expanded")) {
      /* a function body of several nodes: the executor's conformance run */
    } else if (why) {
      excused++;
      fprintf(stderr, "excused %s (%s): %s\n", e->d_name, why, msg);
    } else {
      fail++;
      fprintf(stderr, "FAIL %s: %s\n", e->d_name, msg);
    }
  }
  closedir(d);
  fprintf(stderr, "node tests: %d pass, %d excused, %d fail\n", pass, excused, fail);
  ck_assert_int_eq(fail, 0);
  ck_assert_int_ge(pass, 15);
}
END_TEST

/* ---- recurrent: the reference ---- */

enum { R_LSTM, R_GRU, R_RNN };

typedef struct rcfg {
  int op, T, B, I, H, nd, rev, layout;
  int bias, h0, c0, peep, lens, input_forget, lbr, acts;
  float clip; /* 0: none */
} rcfg;

typedef struct rdata {
  float *x, *w, *r, *b, *h0, *c0, *p; /* x, h0, c0 canonical: [T][B][I], [nd][B][H] */
  int32_t *lens;
} rdata;

static int gates_of(int op) { return op == R_LSTM ? 4 : op == R_GRU ? 3 : 1; }

static double sig(double x) { return 1 / (1 + exp(-x)); }
static double clipd(const rcfg *c, double x) { return c->clip > 0 ? fmin(fmax(x, -c->clip), c->clip) : x; }
/* f, g, h: defaults, or (acts) HardSigmoid(0.3, 0.4) / Tanh / Relu for LSTM. */
static double act_f(const rcfg *c, double x) {
  if (c->acts) return fmin(fmax(0.3 * x + 0.4, 0), 1);
  return c->op == R_RNN ? tanh(x) : sig(x);
}
static double act_g(const rcfg *c, double x) { return (void)c, tanh(x); }
static double act_h(const rcfg *c, double x) { return c->acts ? fmax(x, 0) : tanh(x); }

/* x . W[d][row] */
static double dotw(const float *m, int row, int n, const double *v) {
  double s = 0;
  for (int i = 0; i < n; i++) s += m[(int64_t)row * n + i] * v[i];
  return s;
}

/* Y [T][nd][B][H], Yh/Yc [nd][B][H], canonical layout. */
static void reference(const rcfg *c, const rdata *in, double *Y, double *Yh, double *Yc) {
  int H = c->H, I = c->I, G = gates_of(c->op), GH = G * H;
  memset(Y, 0, sizeof(double) * (size_t)(c->T * c->nd * c->B * H));
  double h[256], cc[256], x[256], a[4 * 256], rh[256], nh[256];
  for (int d = 0; d < c->nd; d++) {
    int rev = c->nd == 2 ? d == 1 : c->rev;
    const float *W = in->w + (int64_t)d * GH * I, *R = in->r + (int64_t)d * GH * H;
    const float *Wb = in->b ? in->b + d * 2 * GH : NULL, *Rb = Wb ? Wb + GH : NULL;
    const float *P = in->p ? in->p + d * 3 * H : NULL;
    for (int b = 0; b < c->B; b++) {
      for (int j = 0; j < H; j++) {
        h[j] = in->h0 ? in->h0[(d * c->B + b) * H + j] : 0;
        cc[j] = in->c0 ? in->c0[(d * c->B + b) * H + j] : 0;
      }
      int len = in->lens ? in->lens[b] : c->T;
      for (int s = 0; s < len; s++) {
        int t = rev ? len - 1 - s : s;
        for (int i = 0; i < I; i++) x[i] = in->x[((int64_t)t * c->B + b) * I + i];
        for (int q = 0; q < GH; q++) a[q] = dotw(W, q, I, x) + (Wb ? Wb[q] : 0);
        if (c->op == R_LSTM) {
          for (int q = 0; q < GH; q++) a[q] += dotw(R, q, H, h) + (Rb ? Rb[q] : 0);
          for (int j = 0; j < H; j++) {
            double ig = act_f(c, clipd(c, a[j] + (P ? P[j] * cc[j] : 0)));
            double fg = c->input_forget ? 1 - ig : act_f(c, clipd(c, a[2 * H + j] + (P ? P[2 * H + j] * cc[j] : 0)));
            double cg = act_g(c, clipd(c, a[3 * H + j]));
            double C = fg * cc[j] + ig * cg;
            double og = act_f(c, clipd(c, a[H + j] + (P ? P[H + j] * C : 0)));
            cc[j] = C;
            nh[j] = og * act_h(c, C);
          }
        } else if (c->op == R_GRU) {
          double z[256], r[256];
          for (int j = 0; j < H; j++) {
            z[j] = act_f(c, clipd(c, a[j] + dotw(R, j, H, h) + (Rb ? Rb[j] : 0)));
            r[j] = act_f(c, clipd(c, a[H + j] + dotw(R, H + j, H, h) + (Rb ? Rb[H + j] : 0)));
          }
          for (int j = 0; j < H; j++) rh[j] = r[j] * h[j];
          for (int j = 0; j < H; j++) {
            double rbh = Rb ? Rb[2 * H + j] : 0, pre;
            if (c->lbr) pre = a[2 * H + j] + r[j] * (dotw(R, 2 * H + j, H, h) + rbh);
            else pre = a[2 * H + j] + dotw(R, 2 * H + j, H, rh) + rbh;
            double hh = act_g(c, clipd(c, pre));
            nh[j] = (1 - z[j]) * hh + z[j] * h[j];
          }
        } else {
          for (int j = 0; j < H; j++) nh[j] = act_f(c, clipd(c, a[j] + dotw(R, j, H, h) + (Rb ? Rb[j] : 0)));
        }
        memcpy(h, nh, sizeof(double) * (size_t)H);
        for (int j = 0; j < H; j++) Y[(((int64_t)t * c->nd + d) * c->B + b) * H + j] = h[j];
      }
      for (int j = 0; j < H; j++) {
        Yh[(d * c->B + b) * H + j] = len ? h[j] : 0;
        if (Yc) Yc[(d * c->B + b) * H + j] = len ? cc[j] : 0;
      }
    }
  }
}

/* Runs the kernel on cfg/data (dtype F32 or F16) and compares with the
 * reference. omit_y: Y is not asked for. */
static void run_recurrent(const rcfg *c, const rdata *in, int dtype, int omit_y) {
  int T = c->T, B = c->B, I = c->I, H = c->H, nd = c->nd, G = gates_of(c->op), GH = G * H;
  kf_call k;
  kf_init(&k, 14);
  /* inputs in the kernel's layout and dtype */
  int64_t n_x = (int64_t)T * B * I, n_s = (int64_t)nd * B * H;
  float *x = malloc(sizeof(float) * (size_t)(n_x + 1)), *h0 = malloc(sizeof(float) * (size_t)(n_s + 1));
  float *c0 = malloc(sizeof(float) * (size_t)(n_s + 1));
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++)
      for (int i = 0; i < I; i++)
        x[(c->layout ? ((int64_t)b * T + t) : ((int64_t)t * B + b)) * I + i] = in->x[((int64_t)t * B + b) * I + i];
  for (int d = 0; d < nd; d++)
    for (int b = 0; b < B; b++)
      for (int j = 0; j < H; j++) {
        int64_t at = (c->layout ? (int64_t)b * nd + d : (int64_t)d * B + b) * H + j;
        if (in->h0) h0[at] = in->h0[((int64_t)d * B + b) * H + j];
        if (in->c0) c0[at] = in->c0[((int64_t)d * B + b) * H + j];
      }
  const float *srcs[8] = {x, in->w, in->r, in->b, NULL, in->h0 ? h0 : NULL, in->c0 ? c0 : NULL, in->p};
  int64_t dx[3] = {c->layout ? B : T, c->layout ? T : B, I}, dw[3] = {nd, GH, I}, dr[3] = {nd, GH, H};
  int64_t db[2] = {nd, 2 * GH}, dl[1] = {B}, ds[3] = {c->layout ? B : nd, c->layout ? nd : B, H}, dp[2] = {nd, 3 * H};
  const int64_t *dims[8] = {dx, dw, dr, db, dl, ds, ds, dp};
  int ranks[8] = {3, 3, 3, 2, 1, 3, 3, 2}, n_in = c->op == R_LSTM ? 8 : 6;
  for (int i = 0; i < n_in; i++) {
    if (i == 4) {
      if (in->lens) kf_in(&k, FERRY_I32, 1, dl, in->lens);
      else kf_in(&k, 0, 0, NULL, NULL);
      continue;
    }
    if (!srcs[i]) {
      kf_in(&k, 0, 0, NULL, NULL);
      continue;
    }
    int64_t n = 1;
    for (int r = 0; r < ranks[i]; r++) n *= dims[i][r];
    kf_in(&k, dtype, ranks[i], dims[i], NULL);
    for (int64_t e = 0; e < n; e++) ferry_store_f64(k.in[k.k.n_in - 1].data, dtype, e, srcs[i][e]);
  }
  int64_t dy[4] = {c->layout ? B : T, c->layout ? T : nd, c->layout ? nd : B, H};
  if (omit_y) kf_out_unknown(&k);
  else kf_out(&k, dtype, 4, dy);
  kf_out(&k, dtype, 3, ds);
  if (c->op == R_LSTM) kf_out(&k, dtype, 3, ds);
  kf_attr_int(&k, "hidden_size", H);
  kf_attr_string(&k, "direction", nd == 2 ? "bidirectional" : c->rev ? "reverse" : "forward");
  kf_attr_int(&k, "layout", c->layout);
  if (c->clip > 0) kf_attr_float(&k, "clip", c->clip);
  if (c->input_forget) kf_attr_int(&k, "input_forget", 1);
  if (c->lbr) kf_attr_int(&k, "linear_before_reset", 1);
  static const char acts[] = "HardSigmoid\0tanh\0RELU";
  static const float alpha[] = {0.3f}, beta[] = {0.4f};
  if (c->acts) {
    kf_attr_strings(&k, "activations", 3, acts, sizeof acts - 1);
    kf_attr_floats(&k, "activation_alpha", 1, alpha);
    kf_attr_floats(&k, "activation_beta", 1, beta);
  }
  int rc = kf_run(&k, c->op == R_LSTM ? ferry_kernel_LSTM : c->op == R_GRU ? ferry_kernel_GRU : ferry_kernel_RNN);
  ck_assert_msg(rc == 0, "kernel: %s", k.k.err);
  int64_t n_y = (int64_t)T * nd * B * H;
  double *Y = malloc(sizeof(double) * (size_t)(n_y + 1)), *Yh = malloc(sizeof(double) * (size_t)(n_s + 1));
  double *Yc = malloc(sizeof(double) * (size_t)(n_s + 1)), *want = malloc(sizeof(double) * (size_t)(n_y + 1));
  float *got = malloc(sizeof(float) * (size_t)(n_y + 1));
  reference(c, in, Y, Yh, c->op == R_LSTM ? Yc : NULL);
  double tol = dtype == FERRY_F16 ? 2e-2 : 1e-4;
  if (!omit_y) {
    ck_assert_ptr_nonnull(k.out[0].data);
    for (int t = 0; t < T; t++)
      for (int d = 0; d < nd; d++)
        for (int b = 0; b < B; b++)
          for (int j = 0; j < H; j++) {
            int64_t at = (c->layout ? ((int64_t)b * T + t) * nd + d : ((int64_t)t * nd + d) * B + b) * H + j;
            int64_t ci = (((int64_t)t * nd + d) * B + b) * H + j;
            got[ci] = (float)ferry_load_f64(k.out[0].data, dtype, at);
            want[ci] = Y[ci];
          }
    ck_close(got, want, n_y, tol, "Y");
  }
  for (int o = 1; o < (c->op == R_LSTM ? 3 : 2); o++) {
    for (int d = 0; d < nd; d++)
      for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
          int64_t at = (c->layout ? (int64_t)b * nd + d : (int64_t)d * B + b) * H + j, ci = ((int64_t)d * B + b) * H + j;
          got[ci] = (float)ferry_load_f64(k.out[o].data, dtype, at);
        }
    ck_close(got, o == 1 ? Yh : Yc, n_s, tol, o == 1 ? "Y_h" : "Y_c");
  }
  free(x), free(h0), free(c0), free(Y), free(Yh), free(Yc), free(want), free(got);
  kf_free(&k);
}

/* Random inputs for c (sizes up to 256). */
static void random_data(const rcfg *c, rdata *d) {
  int G = gates_of(c->op), GH = G * c->H;
  memset(d, 0, sizeof *d);
  int64_t n_x = (int64_t)c->T * c->B * c->I, n_s = (int64_t)c->nd * c->B * c->H;
  d->x = malloc(sizeof(float) * (size_t)(n_x + 1));
  d->w = malloc(sizeof(float) * (size_t)(c->nd * GH * c->I + 1));
  d->r = malloc(sizeof(float) * (size_t)(c->nd * GH * c->H + 1));
  fill(d->x, n_x, 1);
  fill(d->w, c->nd * GH * c->I, 0.5f);
  fill(d->r, c->nd * GH * c->H, 0.5f);
  if (c->bias) fill(d->b = malloc(sizeof(float) * (size_t)(c->nd * 2 * GH)), c->nd * 2 * GH, 0.5f);
  if (c->h0) fill(d->h0 = malloc(sizeof(float) * (size_t)(n_s + 1)), n_s, 1);
  if (c->c0) fill(d->c0 = malloc(sizeof(float) * (size_t)(n_s + 1)), n_s, 1);
  if (c->peep) fill(d->p = malloc(sizeof(float) * (size_t)(c->nd * 3 * c->H)), c->nd * 3 * c->H, 0.5f);
  if (c->lens) {
    d->lens = malloc(sizeof(int32_t) * (size_t)(c->B + 1));
    for (int b = 0; b < c->B; b++) d->lens[b] = irand(0, c->T);
  }
}

static void free_data(rdata *d) {
  free(d->x), free(d->w), free(d->r), free(d->b), free(d->h0), free(d->c0), free(d->p), free(d->lens);
}

static rcfg random_cfg(int op) {
  rcfg c = {op, irand(1, 7), irand(1, 5), irand(1, 19), irand(1, 21), irand(1, 2), irand(0, 1), irand(0, 1),
            irand(0, 1), irand(0, 1), irand(0, 1), 0, irand(0, 1), 0, 0, 0, 0};
  if (op == R_LSTM) c.peep = irand(0, 1), c.input_forget = irand(0, 3) == 0;
  if (op == R_GRU) c.lbr = irand(0, 1);
  if (irand(0, 3) == 0) c.clip = 0.7f;
  return c;
}

START_TEST(test_lstm_random) {
  for (int it = 0; it < 60; it++) {
    rcfg c = random_cfg(R_LSTM);
    rdata d;
    random_data(&c, &d);
    run_recurrent(&c, &d, FERRY_F32, 0);
    free_data(&d);
  }
}
END_TEST

START_TEST(test_lstm_bidirectional_layout1) {
  rcfg c = {R_LSTM, 5, 3, 8, 16, 2, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  for (int layout = 0; layout < 2; layout++) {
    c.layout = layout;
    rdata d;
    random_data(&c, &d);
    run_recurrent(&c, &d, FERRY_F32, 0);
    free_data(&d);
  }
}
END_TEST

/* Silero VAD's shape: batch 1, one step, 64/128 hidden, long input. */
START_TEST(test_lstm_large) {
  rcfg c = {R_LSTM, 3, 2, 129, 64, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  rdata d;
  random_data(&c, &d);
  run_recurrent(&c, &d, FERRY_F32, 0);
  free_data(&d);
  c.T = 40, c.B = 17, c.I = 33, c.H = 40; /* big enough to split across parallel() */
  random_data(&c, &d);
  run_recurrent(&c, &d, FERRY_F32, 0);
  free_data(&d);
}
END_TEST

START_TEST(test_lstm_activations_omitted_y_f16) {
  rcfg c = {R_LSTM, 4, 2, 5, 6, 2, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0};
  rdata d;
  random_data(&c, &d);
  run_recurrent(&c, &d, FERRY_F32, 0);
  c.acts = 0;
  run_recurrent(&c, &d, FERRY_F32, 1);
  run_recurrent(&c, &d, FERRY_F16, 0);
  free_data(&d);
}
END_TEST

START_TEST(test_gru_rnn_random) {
  for (int it = 0; it < 60; it++) {
    rcfg c = random_cfg(it % 2 ? R_GRU : R_RNN);
    rdata d;
    random_data(&c, &d);
    run_recurrent(&c, &d, FERRY_F32, 0);
    free_data(&d);
  }
}
END_TEST

/* No timesteps, no batch rows: empty Y, zero states, no crash. */
START_TEST(test_recurrent_empty) {
  float w[12 * 2], r[12 * 3];
  fill(w, 24, 1), fill(r, 36, 1);
  for (int empty_t = 0; empty_t < 2; empty_t++) {
    int64_t T = empty_t ? 0 : 2, B = empty_t ? 2 : 0;
    kf_call k;
    kf_init(&k, 14);
    kf_in(&k, FERRY_F32, 3, (int64_t[]){T, B, 2}, NULL);
    kf_in(&k, FERRY_F32, 3, (int64_t[]){1, 12, 2}, w);
    kf_in(&k, FERRY_F32, 3, (int64_t[]){1, 12, 3}, r);
    kf_out(&k, FERRY_F32, 4, (int64_t[]){T, 1, B, 3});
    kf_out(&k, FERRY_F32, 3, (int64_t[]){1, B, 3});
    kf_out(&k, FERRY_F32, 3, (int64_t[]){1, B, 3});
    ck_assert_msg(kf_run(&k, ferry_kernel_LSTM) == 0, "%s", k.k.err);
    for (int64_t i = 0; i < k.out[1].numel; i++) ck_assert(((float *)k.out[1].data)[i] == 0);
    kf_free(&k);
  }
}
END_TEST

START_TEST(test_recurrent_errors) {
  float x[6] = {0}, w[24] = {0}, r[36] = {0};
  int32_t bad_lens[1] = {5};
  kf_call k;
  for (int which = 0; which < 3; which++) {
    kf_init(&k, 14);
    kf_in(&k, FERRY_F32, 3, (int64_t[]){3, 1, 2}, x);
    kf_in(&k, FERRY_F32, 3, (int64_t[]){1, 12, which == 0 ? 1 : 2}, w); /* 0: W's input size wrong */
    kf_in(&k, FERRY_F32, 3, (int64_t[]){1, 12, 3}, r);
    kf_in(&k, 0, 0, NULL, NULL);
    if (which == 1) kf_in(&k, FERRY_I32, 1, (int64_t[]){1}, bad_lens); /* 1: length past T */
    else kf_in(&k, 0, 0, NULL, NULL);
    kf_out(&k, FERRY_F32, 4, (int64_t[]){3, 1, 1, 3});
    kf_attr_string(&k, "direction", which == 2 ? "sideways" : "forward");
    ck_assert_int_eq(kf_run(&k, ferry_kernel_LSTM), FERRY_E_INPUT);
    ck_assert(k.k.err[0] != 0);
    kf_free(&k);
  }
}
END_TEST

/* ---- signal ---- */

/* Naive DFT of n complex values (sign -1 forward, +1 inverse, unscaled). */
static void naive_dft(const double *x, double *y, int n, int sign) {
  for (int q = 0; q < n; q++) {
    double re = 0, im = 0;
    for (int j = 0; j < n; j++) {
      double a = sign * 2 * M_PI * (double)((int64_t)q * j % n) / n;
      re += x[2 * j] * cos(a) - x[2 * j + 1] * sin(a);
      im += x[2 * j] * sin(a) + x[2 * j + 1] * cos(a);
    }
    y[2 * q] = re, y[2 * q + 1] = im;
  }
}

/* DFT over axis 1 of [2, n, 3, c]; checks against naive_dft. */
static void check_dft(int n, int c, int inverse, int onesided, int dft_len) {
  int A = 2, C = 3, L = dft_len ? dft_len : n;
  int irfft = inverse && onesided;
  if (irfft && !dft_len) L = 2 * (n - 1);
  int n_out = irfft ? L : onesided ? L / 2 + 1 : L, c_out = irfft ? 1 : 2;
  float *x = malloc(sizeof(float) * (size_t)(A * n * C * c));
  fill(x, A * n * C * c, 1);
  kf_call k;
  kf_init(&k, 17);
  kf_in(&k, FERRY_F32, 4, (int64_t[]){A, n, C, c}, x);
  int64_t len64 = dft_len;
  if (dft_len) kf_in(&k, FERRY_I64, 0, NULL, &len64);
  kf_out(&k, FERRY_F32, 4, (int64_t[]){A, n_out, C, c_out});
  kf_attr_int(&k, "inverse", inverse);
  kf_attr_int(&k, "onesided", onesided);
  int rc = kf_run(&k, ferry_kernel_DFT);
  ck_assert_msg(rc == 0, "n %d: %s", n, k.k.err);
  double *in = calloc((size_t)(2 * L + 2), sizeof(double)), *out = calloc((size_t)(2 * L + 2), sizeof(double));
  const float *got = k.out[0].data;
  for (int a = 0; a < A; a++)
    for (int b = 0; b < C; b++) {
      memset(in, 0, sizeof(double) * (size_t)(2 * L + 2));
      int have = irfft ? (n < L / 2 + 1 ? n : L / 2 + 1) : (n < L ? n : L);
      for (int j = 0; j < have; j++) {
        in[2 * j] = x[((a * n + j) * C + b) * c];
        in[2 * j + 1] = c == 2 ? x[((a * n + j) * C + b) * c + 1] : 0;
      }
      if (irfft) /* Hermitian extension */
        for (int q = have; q < L; q++)
          if (L - q < have) in[2 * q] = in[2 * (L - q)], in[2 * q + 1] = -in[2 * (L - q) + 1];
      naive_dft(in, out, L, inverse ? 1 : -1);
      for (int q = 0; q < n_out; q++)
        for (int e = 0; e < c_out; e++) {
          double want = out[2 * q + e] / (inverse ? L : 1), v = got[((a * n_out + q) * C + b) * c_out + e];
          ck_assert_msg(fabs(v - want) <= 1e-4 * (1 + fabs(want)), "n %d L %d inv %d one %d [%d,%d,%d,%d] = %g, want %g",
                        n, L, inverse, onesided, a, q, b, e, v, want);
        }
    }
  free(in), free(out), free(x);
  kf_free(&k);
}

START_TEST(test_dft_lengths) {
  static const int lens[] = {1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 31, 64, 100};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    for (int c = 1; c <= 2; c++) {
      check_dft(lens[i], c, 0, 0, 0);
      check_dft(lens[i], c, 0, 1, 0);
      check_dft(lens[i], 2, 1, 0, 0);
    }
  check_dft(10, 1, 0, 0, 16); /* zero-padded */
  check_dft(10, 2, 0, 1, 6);  /* truncated */
  check_dft(9, 2, 1, 1, 0);   /* inverse real FFT: 16 samples */
  check_dft(5, 2, 1, 1, 9);
}
END_TEST

START_TEST(test_dft_round_trip_and_errors) {
  kf_call k;
  float x[2 * 6 * 1];
  fill(x, 12, 1);
  kf_init(&k, 17);
  kf_in(&k, FERRY_F32, 3, (int64_t[]){2, 6, 1}, x);
  kf_out_unknown(&k); /* shaped by the kernel */
  ck_assert_int_eq(kf_run(&k, ferry_kernel_DFT), 0);
  ck_assert_int_eq(k.out[0].rank, 3);
  ck_assert_int_eq(k.out[0].dims[1], 6);
  ck_assert_int_eq(k.out[0].dims[2], 2);
  kf_call inv;
  kf_init(&inv, 17);
  kf_in(&inv, FERRY_F32, 3, k.out[0].dims, k.out[0].data);
  kf_out(&inv, FERRY_F32, 3, (int64_t[]){2, 6, 2});
  kf_attr_int(&inv, "inverse", 1);
  ck_assert_int_eq(kf_run(&inv, ferry_kernel_DFT), 0);
  const float *y = inv.out[0].data;
  for (int i = 0; i < 12; i++) {
    ck_assert(fabsf(y[2 * i] - x[i]) < 1e-5f);
    ck_assert(fabsf(y[2 * i + 1]) < 1e-5f);
  }
  kf_free(&inv);
  kf_free(&k);
  /* axis 2 of rank 3 is the complex axis: an error */
  kf_init(&k, 17);
  kf_in(&k, FERRY_F32, 3, (int64_t[]){2, 6, 1}, x);
  kf_out_unknown(&k);
  kf_attr_int(&k, "axis", 2);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_DFT), FERRY_E_INPUT);
  kf_free(&k);
  /* opset 20: axis as input 2 */
  kf_init(&k, 20);
  kf_in(&k, FERRY_F32, 3, (int64_t[]){2, 6, 1}, x);
  kf_in(&k, 0, 0, NULL, NULL);
  kf_in(&k, FERRY_I64, 0, NULL, (int64_t[]){0});
  kf_out_unknown(&k);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_DFT), 0);
  ck_assert_int_eq(k.out[0].dims[0], 2);
  kf_free(&k);
}
END_TEST

START_TEST(test_windows) {
  kf_call k;
  int64_t one = 1, four = 4;
  kf_init(&k, 17);
  kf_in(&k, FERRY_I64, 0, NULL, &one);
  kf_out_unknown(&k);
  kf_attr_int(&k, "periodic", 0);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_HannWindow), 0);
  ck_assert_int_eq(k.out[0].dims[0], 1);
  ck_assert(((float *)k.out[0].data)[0] == 1.0f);
  kf_free(&k);
  kf_init(&k, 17);
  kf_in(&k, FERRY_I32, 1, (int64_t[]){1}, (int32_t[]){4});
  kf_out_unknown(&k);
  kf_attr_int(&k, "output_datatype", FERRY_F64);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_HammingWindow), 0);
  ck_assert_int_eq(k.out[0].dtype, FERRY_F64);
  const double *h = k.out[0].data, want[4] = {0.0869565217, 0.5434782609, 1.0, 0.5434782609};
  for (int i = 0; i < 4; i++) ck_assert(fabs(h[i] - want[i]) < 1e-8);
  kf_free(&k);
  kf_init(&k, 17);
  kf_in(&k, FERRY_I64, 0, NULL, (int64_t[]){-2});
  kf_out_unknown(&k);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_BlackmanWindow), FERRY_E_INPUT);
  kf_free(&k);
  (void)four;
}
END_TEST

START_TEST(test_mel_out_of_range) {
  kf_call k;
  kf_init(&k, 17);
  kf_in(&k, FERRY_I64, 0, NULL, (int64_t[]){8});
  kf_in(&k, FERRY_I64, 0, NULL, (int64_t[]){16});
  kf_in(&k, FERRY_I64, 0, NULL, (int64_t[]){8000});
  kf_in(&k, FERRY_F32, 0, NULL, (float[]){0});
  kf_in(&k, FERRY_F32, 0, NULL, (float[]){16000}); /* past Nyquist: bins past the end */
  kf_out_unknown(&k);
  ck_assert_int_eq(kf_run(&k, ferry_kernel_MelWeightMatrix), FERRY_E_INPUT);
  kf_free(&k);
}
END_TEST

/* ---- control flow with a fake run_graph ---- */

static ferry_tview tv(int dtype, int rank, const int64_t *dims, void *data) {
  ferry_tview v = {.dtype = dtype, .rank = rank, .numel = 1, .data = data};
  for (int i = 0; i < rank; i++) v.numel *= (v.dims[i] = dims[i]);
  return v;
}

static float g_then[2] = {1, 2}, g_else[3] = {7, 8, 9};
static int g_calls;

static int fake_if(ferry_kctx *k, const char *attr, const ferry_tview *in, int n_in, ferry_tview *out, int n_out) {
  (void)in;
  g_calls++;
  if (n_in != 0 || n_out != 1) return ferry_kernel_fail(k, "fake If: %d inputs %d outputs", n_in, n_out);
  if (!strcmp(attr, "then_branch")) out[0] = tv(FERRY_F32, 1, (int64_t[]){2}, g_then);
  else if (!strcmp(attr, "else_branch")) out[0] = tv(FERRY_F32, 2, (int64_t[]){1, 3}, g_else);
  else return ferry_kernel_fail(k, "no graph %s", attr);
  return 0;
}

START_TEST(test_if) {
  for (int cond = 0; cond < 2; cond++) {
    kf_call k;
    kf_init(&k, 13);
    uint8_t cv = (uint8_t)cond;
    kf_in(&k, FERRY_BOOL, 0, NULL, &cv);
    kf_out_unknown(&k);
    k.k.run_graph = fake_if;
    ck_assert_int_eq(kf_run(&k, ferry_kernel_If), 0);
    const ferry_tview *o = &k.out[0];
    ck_assert_int_eq(o->rank, cond ? 1 : 2);
    ck_assert_int_eq(o->numel, cond ? 2 : 3);
    ck_assert(memcmp(o->data, cond ? g_then : g_else, sizeof(float) * (size_t)o->numel) == 0);
    ck_assert_ptr_ne(o->data, cond ? (void *)g_then : (void *)g_else); /* a copy */
    kf_free(&k);
  }
  /* an executor-shaped output that disagrees: an error */
  kf_call k;
  kf_init(&k, 13);
  kf_in(&k, FERRY_BOOL, 0, NULL, (uint8_t[]){1});
  kf_out(&k, FERRY_F32, 1, (int64_t[]){3});
  k.k.run_graph = fake_if;
  ck_assert_int_eq(kf_run(&k, ferry_kernel_If), FERRY_E_INPUT);
  kf_free(&k);
}
END_TEST

/* Loop body: (iter, cond, v[2]) -> (iter + 1 < g_stop, v + 1, scan = v * 10 + iter). */
static int64_t g_stop;
static float g_v[2], g_scan[2];
static uint8_t g_cond;

static int fake_loop(ferry_kctx *k, const char *attr, const ferry_tview *in, int n_in, ferry_tview *out, int n_out) {
  g_calls++;
  if (strcmp(attr, "body") || n_in != 3 || (n_out != 3 && n_out != 2)) return ferry_kernel_fail(k, "fake Loop: bad call");
  if (in[0].dtype != FERRY_I64 || in[0].rank != 0 || in[1].dtype != FERRY_BOOL || in[2].numel != 2)
    return ferry_kernel_fail(k, "fake Loop: bad inputs");
  int64_t it = *(const int64_t *)in[0].data;
  const float *v = in[2].data;
  g_cond = it + 1 < g_stop;
  for (int i = 0; i < 2; i++) g_scan[i] = v[i] * 10 + (float)it;
  for (int i = 0; i < 2; i++) g_v[i] = v[i] + 1; /* v may be read above before this write */
  out[0] = tv(FERRY_BOOL, 0, NULL, &g_cond);
  out[1] = tv(FERRY_F32, 1, (int64_t[]){2}, g_v);
  if (n_out == 3) out[2] = tv(FERRY_F32, 1, (int64_t[]){2}, g_scan);
  return 0;
}

/* Runs Loop with M (or -1: none), cond, v = {0, 100}; returns the kf_call. */
static int run_loop(kf_call *k, int64_t M, int cond, int scan) {
  kf_init(k, 13);
  float v0[2] = {0, 100};
  uint8_t c = (uint8_t)cond;
  if (M >= 0) kf_in(k, FERRY_I64, 0, NULL, &M);
  else kf_in(k, 0, 0, NULL, NULL);
  kf_in(k, FERRY_BOOL, 0, NULL, &c);
  kf_in(k, FERRY_F32, 1, (int64_t[]){2}, v0);
  kf_out_unknown(k);
  if (scan) kf_out_unknown(k);
  k->k.run_graph = fake_loop;
  return kf_run(k, ferry_kernel_Loop);
}

START_TEST(test_loop) {
  kf_call k;
  /* the body's condition stops it after 3 iterations */
  g_stop = 3;
  ck_assert_int_eq(run_loop(&k, 10, 1, 1), 0);
  const float *v = k.out[0].data, *s = k.out[1].data;
  ck_assert(v[0] == 3 && v[1] == 103);
  ck_assert_int_eq(k.out[1].rank, 2);
  ck_assert_int_eq(k.out[1].dims[0], 3);
  ck_assert_int_eq(k.out[1].dims[1], 2);
  const float want[6] = {0, 1000, 11, 1011, 22, 1022};
  for (int i = 0; i < 6; i++) ck_assert_msg(s[i] == want[i], "scan[%d] = %g", i, s[i]);
  kf_free(&k);
  /* M stops it after 2 */
  g_stop = 100;
  ck_assert_int_eq(run_loop(&k, 2, 1, 1), 0);
  ck_assert_int_eq(k.out[1].dims[0], 2);
  ck_assert(((float *)k.out[0].data)[0] == 2);
  kf_free(&k);
  /* M = 0 or cond false: no iteration, v passes through, scan output empty */
  for (int i = 0; i < 2; i++) {
    g_calls = 0;
    ck_assert_int_eq(run_loop(&k, i ? 5 : 0, !i, 1), 0);
    ck_assert_int_eq(g_calls, 0);
    ck_assert(((float *)k.out[0].data)[1] == 100);
    ck_assert_int_eq(k.out[1].numel, 0);
    kf_free(&k);
  }
  /* no M: the condition alone ends it, many iterations grow the stack */
  g_stop = 1000;
  ck_assert_int_eq(run_loop(&k, -1, 1, 1), 0);
  ck_assert_int_eq(k.out[1].dims[0], 1000);
  ck_assert(((float *)k.out[1].data)[2 * 999] == 9990 + 999);
  kf_free(&k);
}
END_TEST

START_TEST(test_loop_runaway) {
  kf_call k;
  g_stop = INT64_MAX;
  ck_assert_int_eq(run_loop(&k, -1, 1, 0), FERRY_E_INPUT);
  ck_assert_msg(strstr(k.k.err, "iterations") != NULL, "%s", k.k.err);
  kf_free(&k);
}
END_TEST

/* Scan body: (s[2], x_t[2]) -> (s + x_t, y_t = s + x_t). */
static float g_s[2], g_y[2];

static int fake_scan(ferry_kctx *k, const char *attr, const ferry_tview *in, int n_in, ferry_tview *out, int n_out) {
  if (strcmp(attr, "body") || n_in != 2 || n_out != 2 || in[0].numel != 2 || in[1].numel != 2)
    return ferry_kernel_fail(k, "fake Scan: bad call");
  const float *s = in[0].data, *x = in[1].data;
  for (int i = 0; i < 2; i++) g_y[i] = s[i] + x[i];
  memcpy(g_s, g_y, sizeof g_s);
  out[0] = tv(FERRY_F32, 1, (int64_t[]){2}, g_s);
  out[1] = tv(FERRY_F32, 1, (int64_t[]){2}, g_y);
  return 0;
}

START_TEST(test_scan9) {
  const float x[6] = {1, 2, 3, 4, 5, 6}, xt[6] = {1, 3, 5, 2, 4, 6}; /* [3, 2] and its transpose [2, 3] */
  static const int64_t one[1] = {1}, last[1] = {-1}; /* attributes are kept by pointer */
  for (int variant = 0; variant < 3; variant++) {
    kf_call k;
    kf_init(&k, 11);
    kf_in(&k, FERRY_F32, 1, (int64_t[]){2}, (float[]){0, 0});
    if (variant == 2) kf_in(&k, FERRY_F32, 2, (int64_t[]){2, 3}, xt);
    else kf_in(&k, FERRY_F32, 2, (int64_t[]){3, 2}, x);
    kf_out_unknown(&k);
    kf_out_unknown(&k);
    kf_attr_int(&k, "num_scan_inputs", 1);
    if (variant == 1) { /* reversed input, reversed output */
      kf_attr_ints(&k, "scan_input_directions", 1, one);
      kf_attr_ints(&k, "scan_output_directions", 1, one);
    }
    if (variant == 2) { /* scan along axis 1, output stacked on axis -1 */
      kf_attr_ints(&k, "scan_input_axes", 1, one);
      kf_attr_ints(&k, "scan_output_axes", 1, last);
    }
    k.k.run_graph = fake_scan;
    ck_assert_msg(kf_run(&k, ferry_kernel_Scan) == 0, "%s", k.k.err);
    const float *s = k.out[0].data, *y = k.out[1].data;
    ck_assert(s[0] == 9 && s[1] == 12);
    static const float want[3][6] = {{1, 2, 4, 6, 9, 12}, {9, 12, 8, 10, 5, 6}, {1, 4, 9, 2, 6, 12}};
    ck_assert_int_eq(k.out[1].dims[0], variant == 2 ? 2 : 3);
    for (int i = 0; i < 6; i++) ck_assert_msg(y[i] == want[variant][i], "variant %d y[%d] = %g", variant, i, y[i]);
    kf_free(&k);
  }
}
END_TEST

START_TEST(test_scan8_batch_lengths) {
  /* batch 2: row 0 runs 3 steps, row 1 runs 2 (its output's last step stays 0) */
  const float x[12] = {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60};
  kf_call k;
  kf_init(&k, 8);
  kf_in(&k, FERRY_I64, 1, (int64_t[]){2}, (int64_t[]){3, 2});
  kf_in(&k, FERRY_F32, 2, (int64_t[]){2, 2}, (float[]){0, 0, 1, 1});
  kf_in(&k, FERRY_F32, 3, (int64_t[]){2, 3, 2}, x);
  kf_out_unknown(&k);
  kf_out_unknown(&k);
  kf_attr_int(&k, "num_scan_inputs", 1);
  k.k.run_graph = fake_scan;
  ck_assert_msg(kf_run(&k, ferry_kernel_Scan) == 0, "%s", k.k.err);
  const float *s = k.out[0].data, *y = k.out[1].data;
  const float ws[4] = {9, 12, 41, 61}, wy[12] = {1, 2, 4, 6, 9, 12, 11, 21, 41, 61, 0, 0};
  ck_assert_int_eq(k.out[1].rank, 3);
  for (int i = 0; i < 4; i++) ck_assert_msg(s[i] == ws[i], "s[%d] = %g", i, s[i]);
  for (int i = 0; i < 12; i++) ck_assert_msg(y[i] == wy[i], "y[%d] = %g", i, y[i]);
  kf_free(&k);
}
END_TEST

static Suite *rnn_suite(void) {
  Suite *s = suite_create("kernels_rnn");
  TCase *c = tcase_create("nodetests");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_node_tests);
  suite_add_tcase(s, c);
  c = tcase_create("recurrent");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_lstm_random);
  tcase_add_test(c, test_lstm_bidirectional_layout1);
  tcase_add_test(c, test_lstm_large);
  tcase_add_test(c, test_lstm_activations_omitted_y_f16);
  tcase_add_test(c, test_gru_rnn_random);
  tcase_add_test(c, test_recurrent_empty);
  tcase_add_test(c, test_recurrent_errors);
  suite_add_tcase(s, c);
  c = tcase_create("signal");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_dft_lengths);
  tcase_add_test(c, test_dft_round_trip_and_errors);
  tcase_add_test(c, test_windows);
  tcase_add_test(c, test_mel_out_of_range);
  suite_add_tcase(s, c);
  c = tcase_create("control");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_if);
  tcase_add_test(c, test_loop);
  tcase_add_test(c, test_loop_runaway);
  tcase_add_test(c, test_scan9);
  tcase_add_test(c, test_scan8_batch_lengths);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(rnn_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
