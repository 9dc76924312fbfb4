/*
 * check_runtime.c - the CPU runtime through its public API (runtime/ferry.h)
 * and through `ferry run`:
 *   - the arena's offset allocator and the thread pool, alone;
 *   - real models ($FERRY_TEST_MODELS: resnet18, squeezenet, mobilenet,
 *     BERT, GPT), converted to bundles, against their test_data_set_0
 *     reference (rtol 1e-3, atol 1e-4), replayed, with 1 and 2 threads;
 *   - symbolic dims bound at run time: BERT with two sequence lengths in one
 *     session (a masked tail gives the same prefix), a GPT prefix (causal);
 *   - memory: the arena peak is below the sum of the intermediate tensors;
 *   - plans: data-dependent shapes (NonZero, a Reshape target given as an
 *     input) are shaped at run time, static graphs are not;
 *   - fused element-wise chains give exactly the unfused outputs;
 *   - profile: with a host clock every kernel call is counted and timed per
 *     node (a clock ticking 1 ms per reading makes the times exact);
 *   - refusals: wrong input count, dtype, rank, fixed dim, inconsistent
 *     symbols; unknown and unsupported ops at load, ops without kernels at
 *     the first run (all named);
 *   - `ferry run` end to end: --input-dir, --input, --output-dir, --repeat,
 *     --profile, exit codes.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "bundle_write.h"
#include "convert.h"
#include "ir.h"
#include "ops.h"
#include "rtutil.h"
#include "testutil.h"
#include "threads.h"

static char tmp[64];

static const char *tpath(const char *name) {
  static char buf[4][4096];
  static int k;
  if (!tmp[0]) snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
  return buf[k];
}

static const char *node_model(const char *test) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/node/%s/model.onnx", tu_env("ONNX_TESTDATA"), test);
  return buf;
}

/* A session on the bundle converted from `onnx` (cached per name). */
static ferry_session *open_model(const char *onnx, const char *name, int threads, ferry_host_model *hm) {
  ferry_err err = {0};
  struct stat st;
  const char *out = tpath(name);
  if (stat(out, &st)) ck_assert_msg(ferry_convert_file(onnx, out, NULL, NULL, &err) == 0, "%s", err.msg);
  ferry_session_opts o = {.threads = threads};
  ferry_session *s = ferry_host_session_open(out, &o, hm, &err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  return s;
}

typedef struct io {
  ferry_host_tensor in[8], want[8];
  ferry_tview iv[8], out[8];
  int ni, no;
} io;

static void read_io(io *x, const char *set) {
  ferry_err err;
  memset(x, 0, sizeof *x);
  x->ni = rtu_count(set, "input");
  x->no = rtu_count(set, "output");
  ck_assert_msg(x->ni > 0 && x->ni <= 8 && x->no <= 8, "%s: no test data", set);
  ck_assert_msg(rtu_read_set(set, "input", x->ni, x->in, &err) == 0, "%s", err.msg);
  ck_assert_msg(rtu_read_set(set, "output", x->no, x->want, &err) == 0, "%s", err.msg);
  for (int k = 0; k < x->ni; k++) x->iv[k] = x->in[k].v;
}

static void free_io(io *x) {
  for (int k = 0; k < x->ni; k++) ferry_host_tensor_free(&x->in[k]);
  for (int k = 0; k < x->no; k++) ferry_host_tensor_free(&x->want[k]);
}

static void run_ok(ferry_session *s, io *x, const char *what) {
  ferry_err err = {0};
  ck_assert_msg(ferry_session_run(s, x->iv, x->ni, x->out, &err) == 0, "%s: %s", what, err.msg);
}

static void check_outputs(io *x, const char *what) {
  char msg[300];
  for (int k = 0; k < x->no; k++)
    ck_assert_msg(!rtu_compare(&x->out[k], &x->want[k].v, 1e-3, 1e-4, NULL, msg, sizeof msg), "%s output %d: %s",
                  what, k, msg);
}

/* ---- the arena allocator ---- */

START_TEST(arena_best_fit) {
  ferry_arena_plan a;
  ferry_arena_plan_init(&a);
  size_t x = ferry_arena_alloc(&a, 100), y = ferry_arena_alloc(&a, 1000), z = ferry_arena_alloc(&a, 10);
  ck_assert_uint_eq(x, 0);
  ck_assert_uint_eq(y, 128);
  ck_assert_uint_eq(z, 128 + 1024);
  ck_assert_uint_eq(a.peak, 128 + 1024 + 64);
  ferry_arena_release(&a, x, 100);
  ferry_arena_release(&a, z, 10); /* at the top: the top comes down */
  ck_assert_uint_eq(a.top, 128 + 1024);
  ck_assert_uint_eq(ferry_arena_alloc(&a, 64), 0); /* best fit: the hole at 0 */
  ferry_arena_release(&a, 0, 64);
  ferry_arena_release(&a, y, 1000); /* everything free: merged, top 0 */
  ck_assert_int_eq(a.n_free, 0);
  ck_assert_uint_eq(a.top, 0);
  ck_assert_uint_eq(ferry_arena_alloc(&a, 5000), 0);
  ck_assert_uint_eq(a.peak, 5056);
  ferry_arena_plan_done(&a);
}
END_TEST

START_TEST(arena_holes) {
  ferry_arena_plan a;
  ferry_arena_plan_init(&a);
  size_t off[6];
  for (int i = 0; i < 6; i++) off[i] = ferry_arena_alloc(&a, 64u << i); /* 64 .. 2048 */
  ferry_arena_release(&a, off[1], 128);
  ferry_arena_release(&a, off[3], 512);
  ck_assert_uint_eq(ferry_arena_alloc(&a, 100), off[1]); /* the smallest hole that fits */
  ck_assert_uint_eq(ferry_arena_alloc(&a, 300), off[3]);
  ferry_arena_release(&a, off[2], 256);
  ferry_arena_release(&a, off[3], 300);
  ck_assert_uint_eq(ferry_arena_alloc(&a, 768), off[2]); /* neighbours merged */
  for (size_t i = 0; i < 6; i++) ck_assert_uint_eq(off[i] % 64, 0);
  ferry_arena_plan_done(&a);
}
END_TEST

START_TEST(scratch_marks) {
  ferry_scratch s;
  ferry_scratch_init(&s);
  char *p = ferry_scratch_get(&s, 10);
  size_t m = ferry_scratch_mark(&s);
  char *q = ferry_scratch_get(&s, 3 << 20); /* a second chunk: p stays */
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_eq((uintptr_t)q % 64, 0);
  memset(q, 1, 3 << 20);
  p[0] = 7;
  ferry_scratch_reset(&s, m);
  ck_assert_int_eq(p[0], 7);
  ferry_scratch_reset(&s, 0);
  ck_assert_ptr_nonnull(ferry_scratch_get(&s, 3 << 20)); /* one chunk for the high-water now */
  ferry_scratch_done(&s);
}
END_TEST

/* ---- the thread pool ---- */

typedef struct sum_job {
  int64_t *v;
} sum_job;

static void fill(void *arg, int64_t b, int64_t e) {
  sum_job *j = arg;
  for (int64_t i = b; i < e; i++) j->v[i] += i;
}

START_TEST(pool_covers_range) {
  ferry_pool *p = ferry_pool_new(3);
  ck_assert_int_eq(ferry_pool_threads(p), 3);
  for (int64_t n = 0; n < 200; n += 7) {
    int64_t *v = calloc((size_t)n + 1, sizeof *v);
    sum_job j = {v};
    ferry_pool_run(p, n, fill, &j);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(v[i], i); /* each index once */
    free(v);
  }
  ferry_pool_free(p);
  ck_assert_ptr_null(ferry_pool_new(1));
  int64_t v[5] = {0};
  sum_job j = {v};
  ferry_pool_run(NULL, 5, fill, &j);
  ck_assert_int_eq(v[4], 4);
}
END_TEST

/* ---- real models ---- */

static void model_vs_reference(const char *name, int threads) {
  char onnx[4096], set[4096], bundle[200];
  snprintf(onnx, sizeof onnx, "%s", tu_model(name));
  strcat(onnx, ".onnx");
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model(name));
  snprintf(bundle, sizeof bundle, "%s.ferry", name);
  ferry_host_model hm;
  ferry_session *s = open_model(onnx, bundle, threads, &hm);
  io x;
  read_io(&x, set);
  run_ok(s, &x, name);
  check_outputs(&x, name);
  run_ok(s, &x, name); /* replayed from the cached plan */
  check_outputs(&x, name);
  ferry_run_stats st;
  ferry_session_stats(s, &st);
  ck_assert_int_eq(st.plans, 1);
  ck_assert_int_eq(st.threads, threads);
  ck_assert_msg(st.peak_bytes < st.values_bytes, "%s: peak %zu not below the sum of the tensors %zu", name,
                st.peak_bytes, st.values_bytes);
  ck_assert_uint_eq(ferry_session_peak_bytes(s), st.peak_bytes);
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}

static const char *models[] = {"squeezenet1_1", "resnet18", "mobilenet_v2", "squeezenet1_1_dynbatch",
                               "bert_tiny_op13", "bert_tiny_op17", "bert_mini_op13", "gpt_tiny_op13", "gpt_tiny_op17"};

START_TEST(real_models) { model_vs_reference(models[_i], 1); }
END_TEST

START_TEST(real_models_threads) { model_vs_reference(models[_i], 2); }
END_TEST

/* The first n positions along axis 1 of an int64 [b, L] tensor. */
static void truncate_seq(const ferry_tview *t, int64_t n, ferry_tview *out, int64_t *buf) {
  *out = *t;
  out->dims[1] = n;
  out->numel = t->dims[0] * n;
  for (int64_t b = 0; b < t->dims[0]; b++) memcpy(buf + b * n, (int64_t *)t->data + b * t->dims[1], (size_t)n * 8);
  out->data = buf;
}

/* out[:, :n, :] of a float [b, L, H] tensor, compared with ref [b, n, H]. */
static double max_prefix_diff(const ferry_tview *full, const ferry_tview *part) {
  int64_t b = full->dims[0], L = full->dims[1], n = part->dims[1], h = full->dims[2];
  double m = 0;
  for (int64_t i = 0; i < b; i++)
    for (int64_t j = 0; j < n * h; j++) {
      double d = fabs(((float *)full->data)[i * L * h + j] - ((float *)part->data)[i * n * h + j]);
      if (d > m || isnan(d)) m = d;
    }
  return m;
}

static float *copy_floats(const ferry_tview *t) {
  float *p = malloc((size_t)t->numel * sizeof *p);
  memcpy(p, t->data, (size_t)t->numel * sizeof *p);
  return p;
}

START_TEST(bert_two_lengths) {
  char onnx[4096], set[4096];
  snprintf(onnx, sizeof onnx, "%s.onnx", tu_model("bert_tiny_op13"));
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("bert_tiny_op13"));
  ferry_host_model hm;
  ferry_session *s = open_model(onnx, "bert_tiny_op13.ferry", 1, &hm);
  const ferry_io_info *ii = ferry_session_input_info(s, 0);
  ck_assert_int_eq(ii->dims[1], -1);
  ck_assert_str_eq(ii->dim_names[1], "sequence");
  io x;
  read_io(&x, set);
  int64_t L = x.in[0].v.dims[1], n = L / 2;
  ck_assert_int_gt(n, 0);
  int64_t *mask = x.in[1].v.data, bufs[2][4096];
  for (int64_t b = 0; b < x.in[1].v.dims[0]; b++) /* the tail masked out */
    for (int64_t j = n; j < L; j++) mask[b * L + j] = 0;
  run_ok(s, &x, "masked");
  ferry_tview full = x.out[0];
  full.data = copy_floats(&x.out[0]);
  io y = x;
  truncate_seq(&x.in[0].v, n, &y.iv[0], bufs[0]);
  truncate_seq(&x.in[1].v, n, &y.iv[1], bufs[1]);
  run_ok(s, &y, "shorter");
  ck_assert_int_eq(y.out[0].dims[1], n);
  ck_assert_msg(max_prefix_diff(&full, &y.out[0]) < 1e-4, "masked positions change the prefix: %g",
                max_prefix_diff(&full, &y.out[0]));
  run_ok(s, &x, "the first length again"); /* its plan is cached */
  ck_assert_msg(max_prefix_diff(&full, &x.out[0]) == 0, "a replayed plan gives other values");
  ferry_run_stats st;
  ferry_session_stats(s, &st);
  ck_assert_int_eq(st.plans, 2);
  free(full.data);
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

START_TEST(gpt_causal_prefix) {
  char onnx[4096], set[4096];
  snprintf(onnx, sizeof onnx, "%s.onnx", tu_model("gpt_tiny_op17"));
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("gpt_tiny_op17"));
  ferry_host_model hm;
  ferry_session *s = open_model(onnx, "gpt_tiny_op17.ferry", 1, &hm);
  io x;
  read_io(&x, set);
  run_ok(s, &x, "full");
  check_outputs(&x, "full");
  int64_t buf[4096], n = x.in[0].v.dims[1] - 3;
  io y = x;
  truncate_seq(&x.in[0].v, n, &y.iv[0], buf);
  run_ok(s, &y, "prefix");
  ck_assert_msg(max_prefix_diff(&x.want[0].v, &y.out[0]) < 1e-3, "a causal prefix differs by %g",
                max_prefix_diff(&x.want[0].v, &y.out[0]));
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

/* ---- plans ---- */

static int dynamic_steps_of(const char *test) {
  char set[4096];
  snprintf(set, sizeof set, "%s/node/%s/test_data_set_0", tu_env("ONNX_TESTDATA"), test);
  ferry_host_model hm;
  char name[200];
  snprintf(name, sizeof name, "%s.ferry", test);
  ferry_session *s = open_model(node_model(test), name, 1, &hm);
  io x;
  read_io(&x, set);
  run_ok(s, &x, test);
  check_outputs(&x, test);
  ferry_run_stats st;
  ferry_session_stats(s, &st);
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
  return st.dynamic_steps;
}

START_TEST(data_dependent_shapes) {
  ck_assert_int_eq(dynamic_steps_of("test_abs"), 0);
  ck_assert_int_eq(dynamic_steps_of("test_nonzero_example"), 1);
  ck_assert_int_eq(dynamic_steps_of("test_reshape_reordered_all_dims"), 1); /* the target is an input */
}
END_TEST

START_TEST(subgraphs_run) {
  ck_assert_int_ge(dynamic_steps_of("test_loop11"), 1); /* Loop outputs are shaped by the kernel */
  dynamic_steps_of("test_scan9_sum");
  dynamic_steps_of("test_if");
}
END_TEST

/* ---- profile ---- */

/* A clock that moves 1 ms per reading: every kernel call takes exactly 1 ms. */
static double tick_clock(void *user) { return (double)++*(int64_t *)user; }

START_TEST(profile_counts_every_step) {
  char set[4096];
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("squeezenet1_1"));
  ferry_err err = {0};
  ferry_host_model hm;
  char onnx[4096];
  snprintf(onnx, sizeof onnx, "%s.onnx", tu_model("squeezenet1_1"));
  const char *path = tpath("profile.ferry");
  ck_assert_msg(ferry_convert_file(onnx, path, NULL, NULL, &err) == 0, "%s", err.msg);
  int64_t ticks = 0;
  ferry_session_opts o = {.threads = 1, .clock_ms = tick_clock, .clock_user = &ticks};
  ferry_session *s = ferry_host_session_open(path, &o, &hm, &err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  ck_assert_int_eq(ferry_session_profile(s, NULL, 0), 0); /* nothing ran yet */
  io x;
  read_io(&x, set);
  for (int r = 0; r < 3; r++) run_ok(s, &x, "squeezenet");
  check_outputs(&x, "squeezenet");
  ferry_run_stats st;
  ferry_session_stats(s, &st);
  int n = ferry_session_profile(s, NULL, 0);
  ck_assert_int_eq(n, st.steps); /* one row per node that ran */
  /* squeezenet's 1.24 M conv weights, packed once for the GEMM (padded panels: at least as many floats) */
  ck_assert_msg(st.persist_bytes >= 1235000 * sizeof(float) && st.persist_bytes < 3 * 1235000 * sizeof(float),
                "persist %zu bytes", st.persist_bytes);
  ferry_node_time t[256];
  ck_assert_int_le(n, 256);
  ck_assert_int_eq(ferry_session_profile(s, t, 256), n);
  int fused = 0;
  for (int i = 0; i < n; i++) {
    ck_assert_int_eq(t[i].calls, 3);
    ck_assert_msg(t[i].ms == 3.0, "%s: %g ms", t[i].name, t[i].ms);
    ck_assert_int_eq(t[i].graph, 0);
    ck_assert(i == 0 || t[i].node > t[i - 1].node); /* node order */
    fused += !strcmp(t[i].op, "FusedConv") && !strcmp(t[i].domain, "com.microsoft");
  }
  ck_assert_int_eq(fused, 26); /* as check_passes counts them */
  ck_assert_int_eq(ticks, 2 * 3 * n);
  ferry_session_profile_reset(s);
  run_ok(s, &x, "squeezenet");
  ck_assert_int_eq(ferry_session_profile(s, t, 256), n);
  ck_assert(t[0].calls == 1 && t[0].ms == 1.0);
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
  /* without a clock: no profile */
  o.clock_ms = NULL;
  s = ferry_host_session_open(path, &o, &hm, &err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  read_io(&x, set);
  run_ok(s, &x, "squeezenet");
  ck_assert_int_eq(ferry_session_profile(s, t, 256), 0);
  free_io(&x);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

/* ---- fused element-wise chains ---- */

/* Session of bundle `path` with fusion on or off. */
static ferry_session *open_fusion(const char *path, int no_fusion, ferry_host_model *hm) {
  ferry_err err = {0};
  ferry_session_opts o = {.threads = 2, .no_fusion = no_fusion};
  ferry_session *s = ferry_host_session_open(path, &o, hm, &err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  return s;
}

/* Fused element-wise chains, and chains and single element-wise steps
 * fused onto the Conv before them (the kernel runs them as kctx post),
 * give exactly the unfused outputs, in at least min_fused fewer steps:
 * PaddleOCR det's HardSigmoid, Mul, Mul, Add runs after its Convs (54
 * steps from the chains alone, 24 more onto Convs); resnet18's Add(Conv,
 * x) + Relu (a chain with a second input: 8 + 8); mobilenet_v2's residual
 * Add(Conv, x), a single step (10). */
START_TEST(chains_match_unfused) {
  static const struct {
    const char *onnx, *bundle;
    int64_t dims[4];
    int rank, min_fused;
  } cases[] = {{"npm/ch_PP-OCRv4_det_infer.onnx", "det.ferry", {1, 3, 96, 128}, 4, 70},
               {"resnet18.onnx", "resnet18.fusion.ferry", {1, 3, 224, 224}, 4, 16},
               {"mobilenet_v2.onnx", "mobilenet_v2.fusion.ferry", {1, 3, 224, 224}, 4, 10}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    ferry_err err = {0};
    const char *path = tpath(cases[c].bundle);
    ck_assert_msg(ferry_convert_file(tu_model(cases[c].onnx), path, NULL, NULL, &err) == 0, "%s", err.msg);
    ferry_host_model hm[2];
    ferry_session *s[2] = {open_fusion(path, 0, &hm[0]), open_fusion(path, 1, &hm[1])};
    ferry_tview in = {.dtype = FERRY_F32, .rank = cases[c].rank, .numel = 1};
    for (int d = 0; d < in.rank; d++) in.dims[d] = cases[c].dims[d], in.numel *= in.dims[d];
    float *x = malloc((size_t)in.numel * sizeof *x);
    for (int64_t i = 0; i < in.numel; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    in.data = x;
    ferry_tview out[2];
    ferry_run_stats st[2];
    for (int k = 0; k < 2; k++) {
      ck_assert_msg(ferry_session_run(s[k], &in, 1, &out[k], &err) == 0, "%s", err.msg);
      ferry_session_stats(s[k], &st[k]);
    }
    ck_assert_msg(st[1].steps - st[0].steps >= cases[c].min_fused, "%s: %d steps fused, %d unfused", cases[c].onnx,
                  st[0].steps, st[1].steps);
    ck_assert(out[0].numel == out[1].numel && out[0].numel > 0);
    ck_assert_msg(!memcmp(out[0].data, out[1].data, (size_t)out[0].numel * sizeof(float)), "%s: outputs differ",
                  cases[c].onnx);
    free(x);
    for (int k = 0; k < 2; k++) ferry_session_close(s[k]), ferry_host_model_free(&hm[k]);
  }
}
END_TEST

/* The text models (every nn.Linear a MatMul then a bias Add): with fusion
 * the planner folds the bias into the MatMul's epilogue (epilogue.c), at
 * least min_fused steps fewer, and the outputs are bit-identical to the
 * unfused ones. */
START_TEST(bias_fusion_matches_unfused) {
  static const struct {
    const char *name;
    int min_fused;
  } cases[] = {{"bert_tiny_op13", 12}, {"bert_tiny_op17", 12}, {"gpt_tiny_op13", 8}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char onnx[4096], set[4096], bundle[200];
    snprintf(onnx, sizeof onnx, "%s.onnx", tu_model(cases[c].name));
    snprintf(set, sizeof set, "%s/test_data_set_0", tu_model(cases[c].name));
    snprintf(bundle, sizeof bundle, "%s.fusion.ferry", cases[c].name);
    ferry_err err = {0};
    const char *path = tpath(bundle);
    ck_assert_msg(ferry_convert_file(onnx, path, NULL, NULL, &err) == 0, "%s", err.msg);
    ferry_host_model hm[2];
    ferry_session *s[2] = {open_fusion(path, 0, &hm[0]), open_fusion(path, 1, &hm[1])};
    io x[2];
    ferry_run_stats st[2];
    for (int k = 0; k < 2; k++) {
      read_io(&x[k], set);
      run_ok(s[k], &x[k], cases[c].name);
      check_outputs(&x[k], cases[c].name);
      ferry_session_stats(s[k], &st[k]);
    }
    ck_assert_msg(st[1].steps - st[0].steps >= cases[c].min_fused, "%s: %d steps fused, %d unfused", cases[c].name,
                  st[0].steps, st[1].steps);
    for (int o = 0; o < x[0].no; o++) {
      ck_assert(x[0].out[o].numel == x[1].out[o].numel && x[0].out[o].dtype == FERRY_F32);
      ck_assert_msg(!memcmp(x[0].out[o].data, x[1].out[o].data, (size_t)x[0].out[o].numel * sizeof(float)),
                    "%s: output %d differs with fusion", cases[c].name, o);
    }
    for (int k = 0; k < 2; k++) free_io(&x[k]), ferry_session_close(s[k]), ferry_host_model_free(&hm[k]);
  }
}
END_TEST

/* tests/make-crafted.py's concat_parts: the Concats whose inputs can be
 * written in place as parts of the output (runtime/concat.c) run no step,
 * the others (nested, one value twice, a graph input or output as a part,
 * a part read after the Concat, a dim before the axis > 1, an unaligned
 * first part) still do, and every output is bit-identical to the unfused
 * run's. squeezenet's eight fire-module Concats all go in place. */
START_TEST(concat_parts_in_place) {
  char onnx[4096];
  snprintf(onnx, sizeof onnx, "%s", tu_model("crafted/concat_parts.onnx"));
  const char *path = tpath("concat_parts.ferry");
  ferry_err err = {0};
  ck_assert_msg(ferry_convert_file(onnx, path, NULL, NULL, &err) == 0, "%s", err.msg);
  float x[64], z[15];
  for (int i = 0; i < 64; i++) x[i] = (float)((i * 37) % 29) / 7.0f - 2.0f;
  for (int i = 0; i < 15; i++) z[i] = (float)i - 7.5f;
  ferry_tview in[2] = {{.dtype = FERRY_F32, .rank = 3, .dims = {1, 16, 4}, .numel = 64, .data = x},
                       {.dtype = FERRY_F32, .rank = 3, .dims = {1, 3, 5}, .numel = 15, .data = z}};
  ferry_host_model hm[2];
  ferry_session *s[2];
  ferry_tview out[2][10];
  int64_t ticks = 0;
  for (int k = 0; k < 2; k++) {
    ferry_session_opts o = {.threads = 1, .no_fusion = k, .clock_ms = tick_clock, .clock_user = &ticks};
    s[k] = ferry_host_session_open(path, &o, &hm[k], &err);
    ck_assert_msg(s[k] != NULL, "%s", err.msg);
    ck_assert_msg(ferry_session_run(s[k], in, 2, out[k], &err) == 0, "%s", err.msg);
  }
  for (int o = 0; o < 10; o++) {
    ck_assert(out[0][o].numel == out[1][o].numel && out[0][o].numel > 0 && out[0][o].dtype == FERRY_F32);
    ck_assert_msg(!memcmp(out[0][o].data, out[1][o].data, (size_t)out[0][o].numel * sizeof(float)),
                  "output %d differs with the Concats in place", o);
  }
  const float *c10 = out[0][9].data; /* [Elu(x), Selu(x), x[:, :3]] along axis 1 */
  ck_assert(out[0][9].dims[1] == 35 && c10[32 * 4 + 5] == x[5] &&
            fabsf(c10[5] - (x[5] > 0 ? x[5] : expm1f(x[5]))) < 1e-6f);
  ferry_node_time t[64];
  int n = ferry_session_profile(s[0], t, 64);
  ck_assert_int_le(n, 64);
  char ran[256] = "";
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i].op, "Concat")) strncat(ran, t[i].name, 8), strncat(ran, " ", 2);
  ck_assert_str_eq(ran, "c3 c4 c5 c6 c7 c8 c9 ");
  ck_assert_int_eq(ferry_session_profile(s[1], NULL, 0), n + 3);
  for (int k = 0; k < 2; k++) ferry_session_close(s[k]), ferry_host_model_free(&hm[k]);

  char sq[4096];
  snprintf(sq, sizeof sq, "%s.onnx", tu_model("squeezenet1_1"));
  path = tpath("concat_squeezenet.ferry");
  ck_assert_msg(ferry_convert_file(sq, path, NULL, NULL, &err) == 0, "%s", err.msg);
  io xs[2];
  ferry_run_stats st[2];
  char set[4096];
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("squeezenet1_1"));
  for (int k = 0; k < 2; k++) {
    s[k] = open_fusion(path, k, &hm[k]);
    read_io(&xs[k], set);
    run_ok(s[k], &xs[k], "squeezenet");
    check_outputs(&xs[k], "squeezenet");
    ferry_session_stats(s[k], &st[k]);
  }
  ck_assert_int_eq(st[1].steps - st[0].steps, 8);
  ck_assert(!memcmp(xs[0].out[0].data, xs[1].out[0].data, (size_t)xs[0].out[0].numel * sizeof(float)));
  for (int k = 0; k < 2; k++) free_io(&xs[k]), ferry_session_close(s[k]), ferry_host_model_free(&hm[k]);
}
END_TEST

/* ---- refusals ---- */

static ferry_session *resnet(ferry_host_model *hm) {
  char onnx[4096];
  snprintf(onnx, sizeof onnx, "%s.onnx", tu_model("squeezenet1_1_dynbatch"));
  return open_model(onnx, "squeezenet1_1_dynbatch.ferry", 1, hm);
}

static void expect_error(ferry_session *s, const ferry_tview *in, int n, const char *want) {
  ferry_tview out[4];
  ferry_err err = {0};
  ck_assert_int_eq(ferry_session_run(s, in, n, out, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' does not say '%s'", err.msg, want);
}

START_TEST(bad_inputs) {
  ferry_host_model hm;
  ferry_session *s = resnet(&hm);
  static float data[2 * 3 * 224 * 224];
  ferry_tview t = {.dtype = FERRY_F32, .rank = 4, .dims = {2, 3, 224, 224}, .data = data};
  ferry_tview bad = t;
  expect_error(s, &t, 0, "takes 1 input, got 0");
  bad.dtype = FERRY_I32;
  expect_error(s, &bad, 1, "input 'input' is int32, the model wants float32");
  bad = t;
  bad.rank = 3;
  expect_error(s, &bad, 1, "input 'input' has rank 3, the model wants 4");
  bad = t;
  bad.dims[1] = 4;
  expect_error(s, &bad, 1, "input 'input': dim 1 is 4, the model wants 3");
  bad = t;
  bad.data = NULL;
  expect_error(s, &bad, 1, "has no data");
  ferry_tview out[1];
  ferry_err err;
  ck_assert_msg(ferry_session_run(s, &t, 1, out, &err) == 0, "%s", err.msg); /* batch 2 is fine */
  ck_assert_int_eq(out[0].dims[0], 2);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

START_TEST(inconsistent_symbols) {
  char onnx[4096];
  snprintf(onnx, sizeof onnx, "%s.onnx", tu_model("bert_tiny_op13"));
  ferry_host_model hm;
  ferry_session *s = open_model(onnx, "bert_tiny_op13.ferry", 1, &hm);
  int64_t ids[2 * 9] = {0}, mask[2 * 9] = {0};
  ferry_tview in[2] = {{.dtype = FERRY_I64, .rank = 2, .dims = {2, 8}, .data = ids},
                       {.dtype = FERRY_I64, .rank = 2, .dims = {2, 9}, .data = mask}};
  expect_error(s, in, 2, "input 'attention_mask': dim 1 is 9, but 'sequence' is 8 (from input 'input_ids')");
  ids[0] = 1 << 20; /* a token id out of the embedding's range: the kernel's error, named */
  in[1].dims[1] = 8;
  ferry_tview out[1];
  ferry_err err = {0};
  ck_assert_int_ne(ferry_session_run(s, in, 2, out, &err), 0);
  ck_assert_msg(strstr(err.msg, "node '") && strstr(err.msg, "(Gather): "), "%s", err.msg);
  ids[0] = 1; /* and the session runs again after a failed run */
  ck_assert_msg(ferry_session_run(s, in, 2, out, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(out[0].dims[1], 8);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

/* A bundle of node test `test` with its (only) node's op renamed. */
static const char *renamed_bundle(const char *test, const char *op, const char *name) {
  ferry_err err;
  ferry_model *m = ferry_onnx_load(node_model(test), &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  m->graph->nodes[0].op = op;
  ferry_bundle_opts o = {0};
  ck_assert_msg(ferry_bundle_write(m, tpath(name), &o, &err) == 0, "%s", err.msg);
  ferry_model_free(m);
  return tpath(name);
}

static ferry_kernel_fn host_kernels(void *user, const char *domain, const char *op, int opset) {
  (void)domain, (void)opset;
  return strcmp(op, user) == 0 ? ferry_op_find("", "Identity", 13)->kernel : NULL;
}

START_TEST(unknown_ops) {
  ferry_host_model hm;
  ferry_err err = {0};
  ck_assert_ptr_null(ferry_host_session_open(renamed_bundle("test_abs", "FooBar", "foo.ferry"), NULL, &hm, &err));
  ck_assert_msg(strstr(err.msg, "ferry does not know op FooBar"), "%s", err.msg);
  ck_assert_ptr_null(ferry_host_session_open(node_model("test_adam"), NULL, &hm, &err));
  ck_assert_msg(strstr(err.msg, "(Adam): training op"), "%s", err.msg);
  /* an op with a row and no kernel yet (if any is left): reported at the first run */
  int n;
  const ferry_opdef *t = ferry_op_table(&n), *none = NULL;
  for (int i = 0; i < n && !none; i++)
    if (!t[i].kernel && t[i].shape && !t[i].unsupported && !*t[i].domain && t[i].since <= 13 &&
        (!t[i].until || t[i].until >= 13))
      none = &t[i];
  if (!none) return;
  const char *path = renamed_bundle("test_abs", none->name, "nokernel.ferry");
  ferry_session *s = ferry_host_session_open(path, NULL, &hm, &err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  float x[60] = {0};
  ferry_tview in = {.dtype = FERRY_F32, .rank = 3, .dims = {3, 4, 5}, .data = x}, out[1];
  ck_assert_int_eq(ferry_session_run(s, &in, 1, out, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "no CPU kernel yet for 1 op: ") && strstr(err.msg, none->name), "%s", err.msg);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
  ferry_session_opts o = {.kernels = host_kernels, .kernels_user = (void *)none->name};
  ck_assert_ptr_nonnull(s = ferry_host_session_open(path, &o, &hm, &err)); /* a host kernel fills the gap */
  err.msg[0] = 0;
  ferry_session_run(s, &in, 1, out, &err); /* the op's own shape rule may still refuse Abs's input */
  ck_assert_msg(!strstr(err.msg, "no CPU kernel"), "%s", err.msg);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}
END_TEST

/* ---- ferry run ---- */

START_TEST(cli_run) {
  char args[16384], set[4096], model[4096], *out = NULL, *err = NULL;
  snprintf(model, sizeof model, "%s", tu_model("squeezenet1_1.onnx"));
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("squeezenet1_1"));
  snprintf(args, sizeof args, "run '%s' --input-dir '%s' --output-dir '%s' --threads 2", model, set, tpath("out"));
  int rc = tu_run(args, &out, &err);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
  ck_assert_msg(strstr(out, "output 'output': float32 [1, 1000]") && strstr(out, "peak arena"), "%s", out);
  free(out), free(err);
  ferry_host_tensor got, want;
  ferry_err e;
  char p[4200];
  snprintf(p, sizeof p, "%s/output_0.pb", set);
  ck_assert_int_eq(ferry_tensor_read(tpath("out/output_0.pb"), &got, &e), 0);
  ck_assert_int_eq(ferry_tensor_read(p, &want, &e), 0);
  ck_assert_msg(!rtu_compare(&got.v, &want.v, 1e-3, 1e-4, NULL, p, sizeof p), "%s", p);
  ferry_host_tensor_free(&got);
  ck_assert_int_eq(ferry_tensor_read(tpath("out/output.npy"), &got, &e), 0); /* the same as .npy */
  ck_assert_msg(!rtu_compare(&got.v, &want.v, 1e-3, 1e-4, NULL, p, sizeof p), "%s", p);
  ferry_host_tensor_free(&want);
  /* the .npy written back in as an input of a model taking that shape */
  snprintf(args, sizeof args, "run '%s' --input 'x=%s'", node_model("test_softmax_axis_1"), tpath("out/output.npy"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2); /* [1, 1000] is not the [3, 4, 5] it wants */
  ck_assert_msg(strstr(err, "ferry: ") == err && strstr(err, "input 'x' has rank 2, the model wants 3"), "%s", err);
  free(out), free(err);
  ferry_host_tensor_free(&got);
}
END_TEST

START_TEST(cli_run_profile) {
  char args[16384], set[4096], *out = NULL, *err = NULL;
  snprintf(set, sizeof set, "%s/test_data_set_0", tu_model("squeezenet1_1"));
  snprintf(args, sizeof args, "run '%s' --input-dir '%s' --repeat 3 --profile", tu_model("squeezenet1_1.onnx"), set);
  int rc = tu_run(args, &out, &err);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
  ck_assert_msg(strstr(out, "3 runs: median ") && strstr(out, "kernel time per run by op (3 runs") &&
                    strstr(out, "weights repacked for the kernels "),
                "%s", out);
  /* the op table: FusedConv with its 26 nodes, one call each per run */
  const char *row = strstr(out, "com.microsoft.FusedConv");
  int nodes = 0;
  double calls = 0;
  ck_assert_msg(row && sscanf(row, "com.microsoft.FusedConv %d %lf", &nodes, &calls) == 2, "%s", out);
  ck_assert_int_eq(nodes, 26);
  ck_assert(calls == 26.0);
  ck_assert_msg(strstr(out, "slowest 15 nodes:"), "%s", out);
  free(out), free(err);
  snprintf(args, sizeof args, "run '%s' --input-dir '%s' --repeat 0", tu_model("squeezenet1_1.onnx"), set);
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "--repeat wants a number"), "%s", err);
  free(out), free(err);
}
END_TEST

START_TEST(cli_errors) {
  char args[8192], *out = NULL, *err = NULL;
  ck_assert_int_eq(tu_run("run /nonexistent.onnx", &out, &err), 2);
  ck_assert_msg(strstr(err, "ferry: /nonexistent.onnx: "), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "run '%s'", node_model("test_abs"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "input 'x' is not given (--input x=FILE)"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "run '%s' --input y=/dev/null", node_model("test_abs"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "the model has no input 'y'"), "%s", err);
  free(out), free(err);
  snprintf(args, sizeof args, "run '%s' --threads 0", node_model("test_abs"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  free(out), free(err);
  snprintf(args, sizeof args, "run '%s' --input x=/nonexistent.npy", node_model("test_abs"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "ferry: /nonexistent.npy: "), "%s", err);
  free(out), free(err);
  ck_assert_int_eq(tu_run("run --help", &out, &err), 0);
  ck_assert_msg(strstr(out, "Usage: ferry run MODEL"), "%s", out);
  free(out), free(err);
}
END_TEST

/* ---- the suite ---- */

static Suite *runtime_suite(void) {
  Suite *s = suite_create("runtime");
  TCase *tc = tcase_create("memory");
  tcase_add_test(tc, arena_best_fit);
  tcase_add_test(tc, arena_holes);
  tcase_add_test(tc, scratch_marks);
  tcase_add_test(tc, pool_covers_range);
  suite_add_tcase(s, tc);
  tc = tcase_create("models");
  tcase_set_timeout(tc, 300);
  int n = (int)(sizeof models / sizeof *models);
  tcase_add_loop_test(tc, real_models, 0, n);
  tcase_add_loop_test(tc, real_models_threads, 0, n);
  tcase_add_test(tc, bert_two_lengths);
  tcase_add_test(tc, gpt_causal_prefix);
  suite_add_tcase(s, tc);
  tc = tcase_create("plans");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, data_dependent_shapes);
  tcase_add_test(tc, profile_counts_every_step);
  tcase_add_test(tc, chains_match_unfused);
  tcase_add_test(tc, bias_fusion_matches_unfused);
  tcase_add_test(tc, concat_parts_in_place);
  tcase_add_test(tc, subgraphs_run);
  tcase_add_test(tc, bad_inputs);
  tcase_add_test(tc, inconsistent_symbols);
  tcase_add_test(tc, unknown_ops);
  suite_add_tcase(s, tc);
  tc = tcase_create("cli");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, cli_run);
  tcase_add_test(tc, cli_run_profile);
  tcase_add_test(tc, cli_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* Check's forked child may not flush at exit */
  tpath(""); /* the temporary folder, made before Check forks */
  SRunner *sr = srunner_create(runtime_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (tmp[0]) rtu_rm_tree(tmp);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
