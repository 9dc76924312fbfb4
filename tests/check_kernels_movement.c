/*
 * check_kernels_movement.c - the kernels of runtime/kernels/movement.h.
 *
 *   nodetests  every ONNX node test whose single node is one of the
 *              movement ops, run on its kernel (nodetest.h): zero failures
 *              but the commented exceptions;
 *   indices    out-of-range indices fail with one line, never crash;
 *              negative ones wrap; OneHot maps them to all-off;
 *   empty      empty inputs and outputs of every shape-changing op;
 *   transpose  random large transposes (every element size, ranks 2-6,
 *              random permutations) against a naive reference, and
 *              DepthToSpace / SpaceToDepth round trips;
 *   edges      Slice clamping and INT64 bounds, Pad modes, Split
 *              num_outputs, Resize antialias / tf_crop / float16 / uint8 /
 *              nearest 2x rows (doubling vectors, copied rows) /
 *              opset 10, data-dependent outputs through set_output, Col2Im
 *              overlap, generators; kernels split by a chunking parallel()
 *              agree with inline runs.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "kernels/kernels.h"
#include "kernels/util.h"
#include "kfake.h"
#include "nodetest.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return rng_state;
}
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); }

#define D(...) ((int64_t[]){__VA_ARGS__})
#define F(...) ((float[]){__VA_ARGS__})

static void ck_floats(const ferry_tview *t, const float *want, int64_t n, const char *what) {
  ck_assert_msg(t->numel == n, "%s: %lld elements, want %lld", what, (long long)t->numel, (long long)n);
  for (int64_t i = 0; i < n; i++) {
    float g = ((const float *)t->data)[i];
    ck_assert_msg(fabsf(g - want[i]) <= 1e-5f + 1e-4f * fabsf(want[i]), "%s[%lld] = %.7g, want %.7g", what,
                  (long long)i, g, want[i]);
  }
}

static void ck_ints(const ferry_tview *t, const int64_t *want, int64_t n, const char *what) {
  ck_assert_msg(t->numel == n, "%s: %lld elements, want %lld", what, (long long)t->numel, (long long)n);
  for (int64_t i = 0; i < n; i++) {
    int64_t g = ferry_load_i64(t->data, t->dtype, i);
    ck_assert_msg(g == want[i], "%s[%lld] = %lld, want %lld", what, (long long)i, (long long)g, (long long)want[i]);
  }
}

static void ck_dims(const ferry_tview *t, int rank, const int64_t *dims, const char *what) {
  ck_assert_msg(t->rank == rank, "%s: rank %d, want %d", what, t->rank, rank);
  for (int i = 0; i < rank; i++)
    ck_assert_msg(t->dims[i] == dims[i], "%s: dim %d is %lld, want %lld", what, i, (long long)t->dims[i], (long long)dims[i]);
}

/* Runs fn and expects an error with a one-line message. */
static void ck_fails(kf_call *c, ferry_kernel_fn fn, const char *what) {
  int rc = kf_run(c, fn);
  ck_assert_msg(rc == FERRY_E_INPUT, "%s: rc %d, want an input error", what, rc);
  ck_assert_msg(c->k.err[0] && !strchr(c->k.err, '\n'), "%s: message '%s'", what, c->k.err);
}

static void ck_ok(kf_call *c, ferry_kernel_fn fn, const char *what) {
  int rc = kf_run(c, fn);
  ck_assert_msg(rc == FERRY_OK, "%s: rc %d: %s", what, rc, c->k.err);
}

/* ---- node tests ---- */

static const char *const OPS[] = {
    "Identity", "Constant", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "Scatter", "ScatterElements", "ScatterND", "Expand", "Tile", "Pad",
    "Shape", "Size", "ConstantOfShape", "Range", "OneHot", "NonZero", "Compress", "Unique", "Trilu", "EyeLike",
    "ReverseSequence", "DepthToSpace", "SpaceToDepth", "CumSum", "Resize", "Upsample", "CenterCropPad", "Col2Im"};

/* Tests allowed to fail, with why. */
static const char *const EXCEPTIONS[][2] = {
    /* Identity on an optional / a sequence: nodetest.c reads every input
     * as a TensorProto (an OptionalProto parses into garbage dims and a
     * failed allocation), so they are not run here; the executor passes
     * optional and sequence values itself, not through tensor kernels. */
    {"test_identity_opt", "optional input, not a tensor"},
    {"test_identity_sequence", "sequence input, not a tensor"},
};

static const char *exception_of(const char *name) {
  for (size_t i = 0; i < sizeof EXCEPTIONS / sizeof *EXCEPTIONS; i++)
    if (!strcmp(EXCEPTIONS[i][0], name)) return EXCEPTIONS[i][1];
  return NULL;
}

/* 1 when node test `name` is a single node of one of OPS. */
static int is_movement_test(const char *root, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/node/%s/model.onnx", root, name);
  ferry_err err;
  ferry_model *m = ferry_onnx_load(path, &err);
  if (!m) return 0;
  int yes = 0;
  const ferry_graph *g = m->graph;
  if (g->n_nodes == 1 && !g->nodes[0].domain[0])
    for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++) yes |= !strcmp(g->nodes[0].op, OPS[i]);
  ferry_model_free(m);
  return yes;
}

START_TEST(test_node_tests) {
  const char *root = tu_env("ONNX_TESTDATA");
  char dir[4096], msg[512];
  snprintf(dir, sizeof dir, "%s/node", root);
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  int pass = 0, fail = 0, error = 0, skip = 0, excused = 0, unexpected = 0;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "test_", 5) || !is_movement_test(root, e->d_name)) continue;
    const char *why = exception_of(e->d_name);
    if (why) { /* not run: nodetest.c would read their non-tensor inputs as tensors */
      excused++;
      continue;
    }
    int rc = nodetest_run(e->d_name, msg, sizeof msg);
    if (rc == NT_PASS) pass++;
    else if (rc == NT_SKIP) skip++;
    else {
      unexpected++;
      fprintf(stderr, "%s %s: %s\n", rc == NT_FAIL ? "FAIL" : "ERROR", e->d_name, msg);
    }
    fail += rc == NT_FAIL, error += rc == NT_ERROR;
    if (rc == NT_SKIP) fprintf(stderr, "skip %s: %s\n", e->d_name, msg);
  }
  closedir(d);
  fprintf(stderr, "movement node tests: %d passed, %d failed, %d errors, %d skipped, %d known exceptions\n", pass, fail,
          error, skip, excused);
  ck_assert_msg(pass > 150, "only %d node tests passed: is ONNX_TESTDATA complete?", pass);
  ck_assert_msg(skip == 0, "%d node tests skipped (see stderr)", skip);
  ck_assert_msg(unexpected == 0, "%d node tests failed (see stderr)", unexpected);
}
END_TEST

/* ---- indices ---- */

START_TEST(test_gather_indices) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  kf_call c;
  kf_init(&c, 13); /* negative indices wrap */
  kf_in(&c, FERRY_F32, 2, D(3, 2), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(-1, 0));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  ck_ok(&c, ferry_kernel_Gather, "Gather");
  ck_floats(&c.out[0], F(5, 6, 1, 2), 4, "Gather");
  kf_free(&c);
  int64_t bad[][1] = {{3}, {-4}, {INT64_MAX}, {INT64_MIN}};
  for (int i = 0; i < 4; i++) {
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 2, D(3, 2), x);
    kf_in(&c, FERRY_I64, 1, D(1), bad[i]);
    kf_out(&c, FERRY_F32, 2, D(1, 2));
    ck_fails(&c, ferry_kernel_Gather, "Gather out of range");
    kf_free(&c);
  }
  kf_init(&c, 13); /* int32 indices, axis 1 */
  kf_in(&c, FERRY_F32, 2, D(3, 2), x);
  kf_in(&c, FERRY_I32, 1, D(1), (int32_t[]){2});
  kf_out(&c, FERRY_F32, 2, D(3, 1));
  kf_attr_int(&c, "axis", 1);
  ck_fails(&c, ferry_kernel_Gather, "Gather int32 out of range");
  kf_free(&c);
}
END_TEST

START_TEST(test_element_indices) {
  float x[4] = {1, 2, 3, 4};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(2, 2), D(0, 2, 1, 0));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  kf_attr_int(&c, "axis", 1);
  ck_fails(&c, ferry_kernel_GatherElements, "GatherElements out of range");
  kf_free(&c);
  kf_init(&c, 13); /* indices larger than the data on a non-axis dim */
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(3, 1), D(0, 0, 0));
  kf_out(&c, FERRY_F32, 2, D(3, 1));
  kf_attr_int(&c, "axis", 1);
  ck_fails(&c, ferry_kernel_GatherElements, "GatherElements indices too large");
  kf_free(&c);
  kf_init(&c, 16);
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(1, 2), D(0, -3));
  kf_in(&c, FERRY_F32, 2, D(1, 2), F(9, 9));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  ck_fails(&c, ferry_kernel_ScatterElements, "ScatterElements out of range");
  kf_free(&c);
  kf_init(&c, 16); /* reduction add with duplicates */
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(1, 2), D(-1, -1));
  kf_in(&c, FERRY_F32, 2, D(1, 2), F(10, 20));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  kf_attr_int(&c, "axis", 1);
  kf_attr_string(&c, "reduction", "add");
  ck_ok(&c, ferry_kernel_ScatterElements, "ScatterElements add");
  ck_floats(&c.out[0], F(1, 32, 3, 4), 4, "ScatterElements add");
  kf_free(&c);
  kf_init(&c, 13); /* int32 reduction mul wraps without UB */
  kf_in(&c, FERRY_I32, 1, D(1), (int32_t[]){INT32_MAX});
  kf_in(&c, FERRY_I64, 1, D(2), D(0, 0));
  kf_in(&c, FERRY_I32, 1, D(2), (int32_t[]){INT32_MAX, 3});
  kf_out(&c, FERRY_I32, 1, D(1));
  kf_attr_string(&c, "reduction", "mul");
  ck_ok(&c, ferry_kernel_ScatterElements, "ScatterElements mul");
  kf_free(&c);
}
END_TEST

START_TEST(test_nd_indices) {
  float x[4] = {1, 2, 3, 4};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(2, 2), D(0, 0, 1, 2));
  kf_out(&c, FERRY_F32, 1, D(2));
  ck_fails(&c, ferry_kernel_GatherND, "GatherND out of range");
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(2, 1), D(-1, -2));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  ck_ok(&c, ferry_kernel_GatherND, "GatherND negative");
  ck_floats(&c.out[0], F(3, 4, 1, 2), 4, "GatherND negative");
  kf_free(&c);
  kf_init(&c, 16);
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(1, 1), D(5));
  kf_in(&c, FERRY_F32, 2, D(1, 2), F(9, 9));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  ck_fails(&c, ferry_kernel_ScatterND, "ScatterND out of range");
  kf_free(&c);
  kf_init(&c, 18); /* max reduction */
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 2, D(2, 1), D(1, 1));
  kf_in(&c, FERRY_F32, 2, D(2, 2), F(0, 9, 7, 1));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  kf_attr_string(&c, "reduction", "max");
  ck_ok(&c, ferry_kernel_ScatterND, "ScatterND max");
  ck_floats(&c.out[0], F(1, 2, 7, 9), 4, "ScatterND max");
  kf_free(&c);
  kf_init(&c, 11); /* OneHot: out of range -> all off, negative wraps */
  kf_in(&c, FERRY_I64, 1, D(3), D(5, -1, 1));
  kf_in(&c, FERRY_F32, 0, NULL, F(3));
  kf_in(&c, FERRY_F32, 1, D(2), F(0, 1));
  kf_out(&c, FERRY_F32, 2, D(3, 3));
  ck_ok(&c, ferry_kernel_OneHot, "OneHot");
  ck_floats(&c.out[0], F(0, 0, 0, 0, 0, 1, 0, 1, 0), 9, "OneHot");
  kf_free(&c);
  kf_init(&c, 10); /* ReverseSequence: a length over max_time */
  kf_in(&c, FERRY_F32, 2, D(2, 2), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(3, 1));
  kf_out(&c, FERRY_F32, 2, D(2, 2));
  ck_fails(&c, ferry_kernel_ReverseSequence, "ReverseSequence length");
  kf_free(&c);
}
END_TEST

/* ---- empty tensors ---- */

START_TEST(test_empty) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  kf_call c;
  kf_init(&c, 13); /* Concat with an empty input */
  kf_in(&c, FERRY_F32, 2, D(0, 3), NULL);
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_out(&c, FERRY_F32, 2, D(2, 3));
  ck_ok(&c, ferry_kernel_Concat, "Concat empty");
  ck_floats(&c.out[0], x, 6, "Concat empty");
  kf_free(&c);
  kf_init(&c, 13); /* Transpose of [0, 3] */
  kf_in(&c, FERRY_F32, 2, D(0, 3), NULL);
  kf_out(&c, FERRY_F32, 2, D(3, 0));
  ck_ok(&c, ferry_kernel_Transpose, "Transpose empty");
  kf_free(&c);
  kf_init(&c, 13); /* Slice to nothing */
  kf_in(&c, FERRY_F32, 1, D(6), x);
  kf_in(&c, FERRY_I64, 1, D(1), D(4));
  kf_in(&c, FERRY_I64, 1, D(1), D(2));
  kf_out(&c, FERRY_F32, 1, D(0));
  ck_ok(&c, ferry_kernel_Slice, "Slice empty");
  kf_free(&c);
  kf_init(&c, 13); /* Gather with no indices */
  kf_in(&c, FERRY_F32, 2, D(3, 2), x);
  kf_in(&c, FERRY_I64, 1, D(0), NULL);
  kf_out(&c, FERRY_F32, 2, D(0, 2));
  ck_ok(&c, ferry_kernel_Gather, "Gather empty");
  kf_free(&c);
  kf_init(&c, 13); /* Expand to a 0 dim, Tile by 0 */
  kf_in(&c, FERRY_F32, 2, D(1, 3), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(0, 3));
  kf_out(&c, FERRY_F32, 2, D(0, 3));
  ck_ok(&c, ferry_kernel_Expand, "Expand empty");
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(2, 0));
  kf_out(&c, FERRY_F32, 2, D(4, 0));
  ck_ok(&c, ferry_kernel_Tile, "Tile empty");
  kf_free(&c);
  kf_init(&c, 13); /* Pad an empty tensor with a constant */
  kf_in(&c, FERRY_F32, 2, D(0, 2), NULL);
  kf_in(&c, FERRY_I64, 1, D(4), D(1, 0, 0, 1));
  kf_in(&c, FERRY_F32, 0, NULL, F(7));
  kf_out(&c, FERRY_F32, 2, D(1, 3));
  ck_ok(&c, ferry_kernel_Pad, "Pad empty");
  ck_floats(&c.out[0], F(7, 7, 7), 3, "Pad empty");
  kf_free(&c);
  kf_init(&c, 13); /* reflect cannot pad an empty axis */
  kf_in(&c, FERRY_F32, 1, D(0), NULL);
  kf_in(&c, FERRY_I64, 1, D(2), D(1, 1));
  kf_out(&c, FERRY_F32, 1, D(2));
  kf_attr_string(&c, "mode", "reflect");
  ck_fails(&c, ferry_kernel_Pad, "Pad reflect empty");
  kf_free(&c);
  kf_init(&c, 13); /* NonZero of nothing, output shaped by the kernel */
  kf_in(&c, FERRY_F32, 2, D(0, 4), NULL);
  kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_NonZero, "NonZero empty");
  ck_dims(&c.out[0], 2, D(2, 0), "NonZero empty");
  kf_free(&c);
  kf_init(&c, 11); /* Unique of nothing */
  kf_in(&c, FERRY_F32, 1, D(0), NULL);
  for (int i = 0; i < 4; i++) kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_Unique, "Unique empty");
  ck_dims(&c.out[0], 1, D(0), "Unique empty");
  kf_free(&c);
  kf_init(&c, 13); /* Resize of an empty batch */
  kf_in(&c, FERRY_F32, 4, D(0, 1, 2, 2), NULL);
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_F32, 1, D(4), F(1, 1, 2, 2));
  kf_out(&c, FERRY_F32, 4, D(0, 1, 4, 4));
  kf_attr_string(&c, "mode", "linear");
  ck_ok(&c, ferry_kernel_Resize, "Resize empty");
  kf_free(&c);
  kf_init(&c, 13); /* Split of an empty axis */
  kf_in(&c, FERRY_F32, 1, D(0), NULL);
  kf_out(&c, FERRY_F32, 1, D(0));
  kf_out(&c, FERRY_F32, 1, D(0));
  ck_ok(&c, ferry_kernel_Split, "Split empty");
  kf_free(&c);
  kf_init(&c, 13); /* Reshape an empty tensor with -1 */
  kf_in(&c, FERRY_F32, 2, D(0, 4), NULL);
  kf_in(&c, FERRY_I64, 1, D(2), D(-1, 2));
  kf_out(&c, FERRY_F32, 2, D(0, 2));
  ck_ok(&c, ferry_kernel_Reshape, "Reshape empty");
  kf_free(&c);
}
END_TEST

/* ---- transposes ---- */

/* Naive transpose of elements of `size` bytes. */
static void naive_transpose(char *dst, const char *src, int size, int r, const int64_t *dims, const int *perm) {
  int64_t is[FERRY_MAX_RANK], od[FERRY_MAX_RANK], n = 1;
  ferry_strides(r, dims, is);
  for (int i = 0; i < r; i++) od[i] = dims[perm[i]], n *= dims[i];
  for (int64_t f = 0; f < n; f++) {
    int64_t rest = f, off = 0;
    for (int i = r - 1; i >= 0; i--) {
      off += (rest % od[i]) * is[perm[i]];
      rest /= od[i];
    }
    memcpy(dst + f * size, src + off * size, (size_t)size);
  }
}

START_TEST(test_transpose_random) {
  static const int dtypes[] = {FERRY_U8, FERRY_F16, FERRY_F32, FERRY_F64, FERRY_C128};
  for (int iter = 0; iter < 120; iter++) {
    int r = irand(2, 6), dt = dtypes[iter % 5], size = ferry_dtype_size(dt), perm[FERRY_MAX_RANK];
    int64_t dims[FERRY_MAX_RANK], od[FERRY_MAX_RANK], n = 1, p64[FERRY_MAX_RANK];
    int64_t budget = iter < 10 ? 1 << 20 : 1 << 14; /* the first ones large */
    for (int i = 0; i < r; i++) {
      dims[i] = irand(1, r == 2 ? 700 : 40);
      if (irand(0, 4) == 0) dims[i] = 1;
      while (n * dims[i] > budget && dims[i] > 1) dims[i] /= 2;
      n *= dims[i];
      perm[i] = i;
    }
    if (iter < 4) { /* 2-D and last-two swaps, big */
      r = iter < 2 ? 2 : 3;
      dims[0] = 517 + iter, dims[1] = 1031 - 3 * iter, dims[2] = 3;
      if (r == 3) dims[0] = 2, dims[1] = 389, dims[2] = 611;
      n = 1;
      for (int i = 0; i < r; i++) n *= dims[i], perm[i] = i;
      perm[r - 1] = r - 2, perm[r - 2] = r - 1;
    } else {
      for (int i = r - 1; i > 0; i--) {
        int j = irand(0, i), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
      }
    }
    for (int i = 0; i < r; i++) od[i] = dims[perm[i]], p64[i] = perm[i];
    char *src = malloc((size_t)(n * size)), *want = malloc((size_t)(n * size));
    for (int64_t i = 0; i < n * size; i++) src[i] = (char)rnd();
    naive_transpose(want, src, size, r, dims, perm);
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, dt, r, dims, src);
    kf_out(&c, dt, r, od);
    kf_attr_ints(&c, "perm", r, p64);
    ck_ok(&c, ferry_kernel_Transpose, "Transpose");
    ck_assert_msg(!memcmp(c.out[0].data, want, (size_t)(n * size)), "transpose %d (rank %d, size %d) differs", iter, r, size);
    kf_free(&c);
    free(src);
    free(want);
  }
}
END_TEST

START_TEST(test_depth_space_round_trip) {
  static const char *const modes[] = {"DCR", "CRD"};
  float x[2 * 8 * 3 * 5];
  for (int i = 0; i < 240; i++) x[i] = (float)i;
  for (int m = 0; m < 2; m++) {
    kf_call a, b;
    kf_init(&a, 13);
    kf_in(&a, FERRY_F32, 4, D(2, 8, 3, 5), x);
    kf_out(&a, FERRY_F32, 4, D(2, 2, 6, 10));
    kf_attr_int(&a, "blocksize", 2);
    kf_attr_string(&a, "mode", modes[m]);
    ck_ok(&a, ferry_kernel_DepthToSpace, "DepthToSpace");
    kf_init(&b, 13);
    kf_in(&b, FERRY_F32, 4, D(2, 2, 6, 10), a.out[0].data);
    kf_out(&b, FERRY_F32, 4, D(2, 8, 3, 5));
    kf_attr_int(&b, "blocksize", 2);
    ck_ok(&b, ferry_kernel_SpaceToDepth, "SpaceToDepth");
    if (m == 0) ck_floats(&b.out[0], x, 240, "DCR round trip");
    kf_free(&a);
    kf_free(&b);
  }
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 4, D(1, 3, 2, 2), x);
  kf_out(&c, FERRY_F32, 4, D(1, 1, 4, 4));
  kf_attr_int(&c, "blocksize", 2);
  ck_fails(&c, ferry_kernel_DepthToSpace, "DepthToSpace indivisible");
  kf_free(&c);
}
END_TEST

/* ---- edge cases ---- */

START_TEST(test_slice_bounds) {
  float x[5] = {0, 1, 2, 3, 4};
  struct {
    int64_t s, e, st, n;
    float want[5];
  } cases[] = {
      {INT64_MAX, INT64_MIN, -1, 5, {4, 3, 2, 1, 0}},
      {-1, INT64_MIN, -2, 3, {4, 2, 0}},
      {INT64_MIN, INT64_MAX, 2, 3, {0, 2, 4}},
      {1, 1000, INT64_MAX, 1, {1}},
      {3, -1000, INT64_MIN, 1, {3}},
      {10, 20, 1, 0, {0}},
      {-7, 2, 1, 2, {0, 1}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 1, D(5), x);
    kf_in(&c, FERRY_I64, 1, D(1), &cases[i].s);
    kf_in(&c, FERRY_I64, 1, D(1), &cases[i].e);
    kf_in(&c, FERRY_I64, 1, D(1), D(0));
    kf_in(&c, FERRY_I64, 1, D(1), &cases[i].st);
    kf_out(&c, FERRY_F32, 1, &cases[i].n);
    ck_ok(&c, ferry_kernel_Slice, "Slice");
    ck_floats(&c.out[0], cases[i].want, cases[i].n, "Slice");
    kf_free(&c);
  }
  kf_call c;
  kf_init(&c, 13); /* a repeated axis and a zero step fail */
  kf_in(&c, FERRY_F32, 1, D(5), x);
  kf_in(&c, FERRY_I64, 1, D(1), D(0));
  kf_in(&c, FERRY_I64, 1, D(1), D(2));
  kf_in(&c, FERRY_I64, 1, D(1), D(0));
  kf_in(&c, FERRY_I64, 1, D(1), D(0));
  kf_out(&c, FERRY_F32, 1, D(2));
  ck_fails(&c, ferry_kernel_Slice, "Slice step 0");
  kf_free(&c);
  kf_init(&c, 13); /* a preallocated output of the wrong shape is an error, not an overflow */
  kf_in(&c, FERRY_F32, 1, D(5), x);
  kf_in(&c, FERRY_I64, 1, D(1), D(0));
  kf_in(&c, FERRY_I64, 1, D(1), D(4));
  kf_out(&c, FERRY_F32, 1, D(2));
  ck_fails(&c, ferry_kernel_Slice, "Slice wrong output");
  kf_free(&c);
}
END_TEST

START_TEST(test_pad_modes) {
  float x[3] = {1, 2, 3};
  static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
  float want[4][8] = {{0, 0, 1, 2, 3, 0, 0, 0},
                      {3, 2, 1, 2, 3, 2, 1, 2},
                      {1, 1, 1, 2, 3, 3, 3, 3},
                      {2, 3, 1, 2, 3, 1, 2, 3}};
  for (int m = 0; m < 4; m++) {
    kf_call c;
    kf_init(&c, 19);
    kf_in(&c, FERRY_F32, 1, D(3), x);
    kf_in(&c, FERRY_I64, 1, D(2), D(2, 3));
    kf_out(&c, FERRY_F32, 1, D(8));
    kf_attr_string(&c, "mode", modes[m]);
    ck_ok(&c, ferry_kernel_Pad, modes[m]);
    ck_floats(&c.out[0], want[m], 8, modes[m]);
    kf_free(&c);
  }
  float y[6] = {1, 2, 3, 4, 5, 6};
  kf_call c;
  kf_init(&c, 18); /* axes input, negative pads crop */
  kf_in(&c, FERRY_F32, 2, D(2, 3), y);
  kf_in(&c, FERRY_I64, 1, D(2), D(-1, 1));
  kf_in(&c, FERRY_F32, 0, NULL, F(9));
  kf_in(&c, FERRY_I64, 1, D(1), D(-1));
  kf_out(&c, FERRY_F32, 2, D(2, 3));
  ck_ok(&c, ferry_kernel_Pad, "Pad axes");
  ck_floats(&c.out[0], F(2, 3, 9, 5, 6, 9), 6, "Pad axes");
  kf_free(&c);
  kf_init(&c, 18); /* CenterCropPad: crop rows, pad columns */
  kf_in(&c, FERRY_F32, 2, D(3, 2), y);
  kf_in(&c, FERRY_I64, 1, D(2), D(1, 4));
  kf_out(&c, FERRY_F32, 2, D(1, 4));
  ck_ok(&c, ferry_kernel_CenterCropPad, "CenterCropPad");
  ck_floats(&c.out[0], F(0, 3, 4, 0), 4, "CenterCropPad");
  kf_free(&c);
}
END_TEST

START_TEST(test_split_and_shapes) {
  float x[7] = {0, 1, 2, 3, 4, 5, 6};
  kf_call c;
  kf_init(&c, 18); /* num_outputs: the last part smaller */
  kf_in(&c, FERRY_F32, 1, D(7), x);
  kf_out(&c, FERRY_F32, 1, D(3));
  kf_out(&c, FERRY_F32, 1, D(3));
  kf_out(&c, FERRY_F32, 1, D(1));
  kf_attr_int(&c, "num_outputs", 3);
  ck_ok(&c, ferry_kernel_Split, "Split");
  ck_floats(&c.out[2], F(6), 1, "Split last");
  kf_free(&c);
  kf_init(&c, 13); /* sizes that do not add up */
  kf_in(&c, FERRY_F32, 1, D(7), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(3, 3));
  kf_out(&c, FERRY_F32, 1, D(3));
  kf_out(&c, FERRY_F32, 1, D(3));
  ck_fails(&c, ferry_kernel_Split, "Split sizes");
  kf_free(&c);
  kf_init(&c, 14); /* Reshape: two -1 */
  kf_in(&c, FERRY_F32, 1, D(6), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(-1, -1));
  kf_out(&c, FERRY_F32, 2, D(2, 3));
  ck_fails(&c, ferry_kernel_Reshape, "Reshape two -1");
  kf_free(&c);
  kf_init(&c, 14); /* Reshape to the wrong count */
  kf_in(&c, FERRY_F32, 1, D(6), x);
  kf_in(&c, FERRY_I64, 1, D(2), D(4, 2));
  kf_out(&c, FERRY_F32, 2, D(4, 2));
  ck_fails(&c, ferry_kernel_Reshape, "Reshape count");
  kf_free(&c);
  kf_init(&c, 13); /* Squeeze of a non-1 axis */
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_in(&c, FERRY_I64, 1, D(1), D(1));
  kf_out(&c, FERRY_F32, 1, D(6));
  ck_fails(&c, ferry_kernel_Squeeze, "Squeeze");
  kf_free(&c);
  kf_init(&c, 14); /* Trilu with a huge k */
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_in(&c, FERRY_I64, 0, NULL, D(INT64_MIN));
  kf_out(&c, FERRY_F32, 2, D(2, 3));
  ck_ok(&c, ferry_kernel_Trilu, "Trilu");
  ck_floats(&c.out[0], x, 6, "Trilu");
  kf_free(&c);
  kf_init(&c, 11); /* Range of int64 */
  kf_in(&c, FERRY_I64, 0, NULL, D(10));
  kf_in(&c, FERRY_I64, 0, NULL, D(1));
  kf_in(&c, FERRY_I64, 0, NULL, D(-4));
  kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_Range, "Range");
  ck_ints(&c.out[0], D(10, 6, 2), 3, "Range");
  kf_free(&c);
  kf_init(&c, 14); /* CumSum int32 wraps, exclusive reverse */
  kf_in(&c, FERRY_I32, 1, D(3), (int32_t[]){INT32_MAX, 1, 1});
  kf_in(&c, FERRY_I64, 0, NULL, D(0));
  kf_out(&c, FERRY_I32, 1, D(3));
  kf_attr_int(&c, "exclusive", 1);
  kf_attr_int(&c, "reverse", 1);
  ck_ok(&c, ferry_kernel_CumSum, "CumSum");
  ck_ints(&c.out[0], D(2, 1, 0), 3, "CumSum");
  kf_free(&c);
  kf_init(&c, 14); /* CumSum int32 wraps without UB */
  kf_in(&c, FERRY_I32, 1, D(3), (int32_t[]){INT32_MAX, 1, 1});
  kf_in(&c, FERRY_I32, 0, NULL, (int32_t[]){-1});
  kf_out(&c, FERRY_I32, 1, D(3));
  ck_ok(&c, ferry_kernel_CumSum, "CumSum wrap");
  ck_ints(&c.out[0], D(INT32_MAX, INT32_MIN, INT32_MIN + 1), 3, "CumSum wrap");
  kf_free(&c);
  kf_init(&c, 14); /* CumSum float16 */
  kf_in(&c, FERRY_F16, 1, D(3), (uint16_t[]){0x3c00, 0x4000, 0x4200}); /* 1 2 3 */
  kf_in(&c, FERRY_I64, 0, NULL, D(0));
  kf_out(&c, FERRY_F16, 1, D(3));
  ck_ok(&c, ferry_kernel_CumSum, "CumSum f16");
  ck_ints(&c.out[0], D(1, 3, 6), 3, "CumSum f16");
  kf_free(&c);
}
END_TEST

START_TEST(test_data_dependent) {
  float x[6] = {0, 2, 0, -0.0f, 5, NAN};
  kf_call c;
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_NonZero, "NonZero");
  ck_dims(&c.out[0], 2, D(2, 3), "NonZero");
  ck_ints(&c.out[0], D(0, 1, 1, 1, 1, 2), 6, "NonZero");
  kf_free(&c);
  kf_init(&c, 13); /* a preallocated output of the wrong shape fails */
  kf_in(&c, FERRY_F32, 2, D(2, 3), x);
  kf_out(&c, FERRY_I64, 2, D(2, 2));
  ck_fails(&c, ferry_kernel_NonZero, "NonZero shape");
  kf_free(&c);
  float u[7] = {3, 1, 3, 2, 1, 1, 7};
  for (int sorted = 0; sorted < 2; sorted++) {
    kf_init(&c, 11);
    kf_in(&c, FERRY_F32, 1, D(7), u);
    for (int i = 0; i < 4; i++) kf_out_unknown(&c);
    kf_attr_int(&c, "sorted", sorted);
    ck_ok(&c, ferry_kernel_Unique, "Unique");
    ck_floats(&c.out[0], sorted ? F(1, 2, 3, 7) : F(3, 1, 2, 7), 4, "Unique Y");
    ck_ints(&c.out[1], sorted ? D(1, 3, 0, 6) : D(0, 1, 3, 6), 4, "Unique indices");
    ck_ints(&c.out[2], sorted ? D(2, 0, 2, 1, 0, 0, 3) : D(0, 1, 0, 2, 1, 1, 3), 7, "Unique inverse");
    ck_ints(&c.out[3], sorted ? D(3, 1, 2, 1) : D(2, 3, 1, 1), 4, "Unique counts");
    kf_free(&c);
  }
  kf_init(&c, 11); /* Compress without axis, condition shorter than the data */
  kf_in(&c, FERRY_F32, 1, D(7), u);
  kf_in(&c, FERRY_BOOL, 1, D(3), (uint8_t[]){0, 1, 1});
  kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_Compress, "Compress");
  ck_floats(&c.out[0], F(1, 3), 2, "Compress");
  kf_free(&c);
}
END_TEST

/* Resizes a 1-D float tensor of n values to m with the given attributes. */
static void resize_1d(kf_call *c, const float *x, int64_t n, float scale, int64_t m) {
  kf_init(c, 18);
  kf_in(c, FERRY_F32, 1, &n, x);
  kf_in(c, 0, 0, NULL, NULL);
  kf_in(c, FERRY_F32, 1, D(1), &scale);
  kf_out(c, FERRY_F32, 1, &m);
}

START_TEST(test_resize_edges) {
  float x[4] = {1, 2, 3, 4};
  kf_call c;
  resize_1d(&c, x, 4, 0.5f, 2); /* antialias: the filter widens to 4 taps */
  kf_attr_string(&c, "mode", "linear");
  kf_attr_int(&c, "antialias", 1);
  ck_ok(&c, ferry_kernel_Resize, "Resize antialias");
  ck_floats(&c.out[0], F(1.625f, 3.375f), 2, "Resize antialias");
  kf_free(&c);
  resize_1d(&c, x, 4, 0.5f, 2); /* without: plain linear */
  kf_attr_string(&c, "mode", "linear");
  ck_ok(&c, ferry_kernel_Resize, "Resize linear");
  ck_floats(&c.out[0], F(1.5f, 3.5f), 2, "Resize linear");
  kf_free(&c);
  resize_1d(&c, x, 4, 2.0f, 8); /* nearest, round_prefer_ceil, asymmetric */
  kf_attr_string(&c, "coordinate_transformation_mode", "asymmetric");
  kf_attr_string(&c, "nearest_mode", "round_prefer_ceil");
  ck_ok(&c, ferry_kernel_Resize, "Resize nearest");
  ck_floats(&c.out[0], F(1, 2, 2, 3, 3, 4, 4, 4), 8, "Resize nearest");
  kf_free(&c);
  /* tf_crop_and_resize: samples outside the roi get extrapolation_value */
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 1, D(4), x);
  kf_in(&c, FERRY_F32, 1, D(2), F(-0.5f, 1.5f));
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_I64, 1, D(1), D(5));
  kf_out(&c, FERRY_F32, 1, D(5));
  kf_attr_string(&c, "mode", "linear");
  kf_attr_string(&c, "coordinate_transformation_mode", "tf_crop_and_resize");
  kf_attr_float(&c, "extrapolation_value", -1);
  ck_ok(&c, ferry_kernel_Resize, "Resize tf_crop");
  ck_floats(&c.out[0], F(-1, 1, 2.5f, 4, -1), 5, "Resize tf_crop");
  kf_free(&c);
  /* float16 and uint8 through the float passes; uint8 rounds */
  kf_init(&c, 13);
  kf_in(&c, FERRY_F16, 1, D(2), (uint16_t[]){0x3c00, 0x4000}); /* 1 2 */
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_F32, 1, D(1), F(2));
  kf_out(&c, FERRY_F16, 1, D(4));
  kf_attr_string(&c, "mode", "linear");
  ck_ok(&c, ferry_kernel_Resize, "Resize f16");
  for (int i = 0; i < 4; i++)
    ck_assert_float_eq_tol(ferry_f16_to_f32(((uint16_t *)c.out[0].data)[i]), ((float[]){1, 1.25f, 1.75f, 2})[i], 1e-3);
  kf_free(&c);
  kf_init(&c, 13);
  kf_in(&c, FERRY_U8, 1, D(2), (uint8_t[]){0, 255});
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_F32, 1, D(1), F(2));
  kf_out(&c, FERRY_U8, 1, D(4));
  kf_attr_string(&c, "mode", "cubic");
  ck_ok(&c, ferry_kernel_Resize, "Resize u8");
  ck_ints(&c.out[0], D(0, 58, 197, 255), 4, "Resize u8 cubic clamps and rounds");
  kf_free(&c);
  kf_init(&c, 13); /* scales must be positive */
  kf_in(&c, FERRY_F32, 1, D(4), x);
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_F32, 1, D(1), F(NAN));
  kf_out(&c, FERRY_F32, 1, D(4));
  ck_fails(&c, ferry_kernel_Resize, "Resize NaN scale");
  kf_free(&c);
  /* 2-D bilinear, sizes input, against the separable formula */
  float img[6] = {1, 2, 3, 4, 5, 6}; /* 2x3 */
  kf_init(&c, 13);
  kf_in(&c, FERRY_F32, 2, D(2, 3), img);
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, 0, 0, NULL, NULL);
  kf_in(&c, FERRY_I64, 1, D(2), D(3, 2));
  kf_out(&c, FERRY_F32, 2, D(3, 2));
  kf_attr_string(&c, "mode", "linear");
  kf_attr_string(&c, "coordinate_transformation_mode", "align_corners");
  ck_ok(&c, ferry_kernel_Resize, "Resize 2-D");
  ck_floats(&c.out[0], F(1, 3, 2.5f, 4.5f, 4, 6), 6, "Resize 2-D");
  kf_free(&c);
  kf_init(&c, 9); /* Upsample nearest */
  kf_in(&c, FERRY_I64, 2, D(1, 2), D(7, 8));
  kf_in(&c, FERRY_F32, 1, D(2), F(2, 2));
  kf_out(&c, FERRY_I64, 2, D(2, 4));
  ck_ok(&c, ferry_kernel_Upsample, "Upsample");
  ck_ints(&c.out[0], D(7, 7, 8, 8, 7, 7, 8, 8), 8, "Upsample");
  kf_free(&c);
}
END_TEST

/* Nearest 2x upsampling (an FPN neck's: asymmetric, floor) on rows long
 * enough for the doubling vectors and their tail, every second output row
 * a copy of the one before; then 3x along rows and 2x down, where the
 * columns go one by one; each element against in[.][.][i / s][j / s]. */
START_TEST(test_resize_nearest_rows) {
  static const int64_t shapes[][5] = {{2, 3, 5, 13, 2}, {1, 2, 4, 8, 2}, {1, 1, 3, 1, 2}, {1, 2, 3, 7, 3}};
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
    int64_t N = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], sc = shapes[t][4];
    int64_t OH = H * 2, OW = W * sc, n = N * C * H * W;
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = (float)i * 0.5f - 7;
    kf_call c;
    kf_init(&c, 13);
    kf_in(&c, FERRY_F32, 4, D(N, C, H, W), x);
    kf_in(&c, 0, 0, NULL, NULL);
    kf_in(&c, FERRY_F32, 1, D(4), F(1, 1, 2, (float)sc));
    kf_out(&c, FERRY_F32, 4, D(N, C, OH, OW));
    kf_attr_string(&c, "mode", "nearest");
    kf_attr_string(&c, "coordinate_transformation_mode", "asymmetric");
    kf_attr_string(&c, "nearest_mode", "floor");
    ck_ok(&c, ferry_kernel_Resize, "Resize nearest rows");
    const float *y = c.out[0].data;
    for (int64_t p = 0; p < N * C; p++)
      for (int64_t i = 0; i < OH; i++)
        for (int64_t j = 0; j < OW; j++) {
          float got = y[(p * OH + i) * OW + j], want = x[(p * H + i / 2) * W + j / sc];
          ck_assert_msg(got == want, "shape %zu: [%lld][%lld][%lld] = %g, want %g", t, (long long)p, (long long)i,
                        (long long)j, got, want);
        }
    kf_free(&c);
    free(x);
  }
}
END_TEST

START_TEST(test_col2im) {
  float ones[16];
  for (int i = 0; i < 16; i++) ones[i] = 1;
  kf_call c;
  kf_init(&c, 18); /* 2x2 blocks over a 3x3 image overlap */
  kf_in(&c, FERRY_F32, 3, D(1, 4, 4), ones);
  kf_in(&c, FERRY_I64, 1, D(2), D(3, 3));
  kf_in(&c, FERRY_I64, 1, D(2), D(2, 2));
  kf_out(&c, FERRY_F32, 4, D(1, 1, 3, 3));
  ck_ok(&c, ferry_kernel_Col2Im, "Col2Im");
  ck_floats(&c.out[0], F(1, 2, 1, 2, 4, 2, 1, 2, 1), 9, "Col2Im");
  kf_free(&c);
  kf_init(&c, 18); /* L does not match */
  kf_in(&c, FERRY_F32, 3, D(1, 4, 3), ones);
  kf_in(&c, FERRY_I64, 1, D(2), D(3, 3));
  kf_in(&c, FERRY_I64, 1, D(2), D(2, 2));
  kf_out(&c, FERRY_F32, 4, D(1, 1, 3, 3));
  ck_fails(&c, ferry_kernel_Col2Im, "Col2Im L");
  kf_free(&c);
}
END_TEST

/* A parallel() that runs [0, n) in 7 uneven chunks, last first: checks
 * that kernels split their work correctly at any boundary. */
static void chunked(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)k;
  int64_t cut[8];
  for (int i = 0; i <= 7; i++) cut[i] = n * i * i / 49;
  for (int i = 6; i >= 0; i--)
    if (cut[i + 1] > cut[i]) fn(arg, cut[i], cut[i + 1]);
}

/* Runs fn on the same inputs inline and chunked; outputs must agree. */
static void ck_chunked(kf_call *a, kf_call *b, ferry_kernel_fn fn, const char *what) {
  b->k.parallel = chunked;
  ck_ok(a, fn, what);
  ck_ok(b, fn, what);
  size_t bytes = (size_t)a->out[0].numel * (size_t)ferry_dtype_size(a->out[0].dtype);
  ck_assert_msg(!memcmp(a->out[0].data, b->out[0].data, bytes), "%s: chunked run differs", what);
}

START_TEST(test_threads) {
  int64_t n = 3 * 50 * 70;
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 1000) * 0.5f;
  kf_call a, b;
  for (int run = 0; run < 2; run++) { /* Transpose: rows mode and tile mode */
    kf_call *c = run ? &b : &a;
    kf_init(c, 13);
    kf_in(c, FERRY_F32, 3, D(3, 50, 70), x);
    kf_out(c, FERRY_F32, 3, D(70, 3, 50));
    kf_attr_ints(c, "perm", 3, D(2, 0, 1));
  }
  ck_chunked(&a, &b, ferry_kernel_Transpose, "Transpose chunked");
  kf_free(&a), kf_free(&b);
  for (int run = 0; run < 2; run++) {
    kf_call *c = run ? &b : &a;
    kf_init(c, 13);
    kf_in(c, FERRY_F32, 3, D(3, 50, 70), x);
    kf_out(c, FERRY_F32, 3, D(50, 3, 70));
    kf_attr_ints(c, "perm", 3, D(1, 0, 2));
  }
  ck_chunked(&a, &b, ferry_kernel_Transpose, "Transpose rows chunked");
  kf_free(&a), kf_free(&b);
  for (int run = 0; run < 2; run++) {
    kf_call *c = run ? &b : &a;
    kf_init(c, 13);
    kf_in(c, FERRY_F32, 2, D(150, 70), x);
    kf_in(c, FERRY_I64, 1, D(5), D(3, -1, 0, 149, 7));
    kf_out(c, FERRY_F32, 2, D(5, 70));
    kf_attr_int(c, "axis", 0);
  }
  ck_chunked(&a, &b, ferry_kernel_Gather, "Gather chunked");
  kf_free(&a), kf_free(&b);
  static const char *const modes[] = {"nearest", "linear", "cubic"};
  for (int m = 0; m < 3; m++) {
    for (int run = 0; run < 2; run++) {
      kf_call *c = run ? &b : &a;
      kf_init(c, 13);
      kf_in(c, FERRY_F32, 3, D(3, 50, 70), x);
      kf_in(c, 0, 0, NULL, NULL);
      kf_in(c, 0, 0, NULL, NULL);
      kf_in(c, FERRY_I64, 1, D(3), D(2, 77, 33));
      kf_out(c, FERRY_F32, 3, D(2, 77, 33));
      kf_attr_string(c, "mode", modes[m]);
    }
    ck_chunked(&a, &b, ferry_kernel_Resize, modes[m]);
    kf_free(&a), kf_free(&b);
  }
  free(x);
}
END_TEST

START_TEST(test_generators) {
  kf_call c;
  kf_init(&c, 13); /* Constant value_ints */
  kf_attr_ints(&c, "value_ints", 3, D(4, 5, 6));
  kf_out_unknown(&c);
  ck_ok(&c, ferry_kernel_Constant, "Constant");
  ck_dims(&c.out[0], 1, D(3), "Constant");
  ck_ints(&c.out[0], D(4, 5, 6), 3, "Constant");
  kf_free(&c);
  kf_init(&c, 13); /* Constant without a value fails */
  kf_out_unknown(&c);
  ck_fails(&c, ferry_kernel_Constant, "Constant without value");
  kf_free(&c);
  kf_init(&c, 9); /* ConstantOfShape: negative dims fail */
  kf_in(&c, FERRY_I64, 1, D(2), D(2, -1));
  kf_out_unknown(&c);
  ck_fails(&c, ferry_kernel_ConstantOfShape, "ConstantOfShape negative");
  kf_free(&c);
  kf_init(&c, 9); /* EyeLike off the diagonal, int32 */
  kf_in(&c, FERRY_F32, 2, D(3, 4), NULL);
  kf_out(&c, FERRY_I32, 2, D(3, 4));
  kf_attr_int(&c, "dtype", FERRY_I32);
  kf_attr_int(&c, "k", -1);
  ck_ok(&c, ferry_kernel_EyeLike, "EyeLike");
  ck_ints(&c.out[0], D(0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0), 12, "EyeLike");
  kf_free(&c);
  kf_init(&c, 15); /* Shape with start and end */
  kf_in(&c, FERRY_F32, 4, D(2, 3, 4, 5), NULL);
  kf_out_unknown(&c);
  kf_attr_int(&c, "start", -3);
  kf_attr_int(&c, "end", -1);
  ck_ok(&c, ferry_kernel_Shape, "Shape");
  ck_ints(&c.out[0], D(3, 4), 2, "Shape");
  kf_free(&c);
  kf_init(&c, 10); /* Resize-10: asymmetric, nearest downsampling rounds up */
  kf_in(&c, FERRY_F32, 1, D(5), F(0, 1, 2, 3, 4));
  kf_in(&c, FERRY_F32, 1, D(1), F(0.5f));
  kf_out(&c, FERRY_F32, 1, D(2));
  ck_ok(&c, ferry_kernel_Resize, "Resize-10");
  ck_floats(&c.out[0], F(0, 2), 2, "Resize-10");
  kf_free(&c);
  kf_init(&c, 7); /* Upsample-7: scales attribute, linear */
  kf_in(&c, FERRY_F32, 2, D(1, 2), F(1, 3));
  kf_out(&c, FERRY_F32, 2, D(1, 4));
  kf_attr_floats(&c, "scales", 2, F(1, 2));
  kf_attr_string(&c, "mode", "linear");
  ck_ok(&c, ferry_kernel_Upsample, "Upsample-7");
  ck_floats(&c.out[0], F(1, 2, 3, 3), 4, "Upsample-7");
  kf_free(&c);
  kf_init(&c, 11); /* Unique along an axis */
  kf_in(&c, FERRY_I32, 2, D(3, 2), (int32_t[]){5, 1, 2, 9, 5, 1});
  for (int i = 0; i < 4; i++) kf_out_unknown(&c);
  kf_attr_int(&c, "axis", 0);
  ck_ok(&c, ferry_kernel_Unique, "Unique axis");
  ck_dims(&c.out[0], 2, D(2, 2), "Unique axis");
  ck_ints(&c.out[0], D(2, 9, 5, 1), 4, "Unique axis");
  ck_ints(&c.out[2], D(1, 0, 1), 3, "Unique axis inverse");
  kf_free(&c);
}
END_TEST

static Suite *movement_suite(void) {
  Suite *s = suite_create("kernels_movement");
  TCase *c = tcase_create("nodetests");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_node_tests);
  suite_add_tcase(s, c);
  c = tcase_create("indices");
  tcase_add_test(c, test_gather_indices);
  tcase_add_test(c, test_element_indices);
  tcase_add_test(c, test_nd_indices);
  suite_add_tcase(s, c);
  c = tcase_create("empty");
  tcase_add_test(c, test_empty);
  suite_add_tcase(s, c);
  c = tcase_create("transpose");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_transpose_random);
  tcase_add_test(c, test_depth_space_round_trip);
  suite_add_tcase(s, c);
  c = tcase_create("edges");
  tcase_add_test(c, test_slice_bounds);
  tcase_add_test(c, test_pad_modes);
  tcase_add_test(c, test_split_and_shapes);
  tcase_add_test(c, test_data_dependent);
  tcase_add_test(c, test_resize_edges);
  tcase_add_test(c, test_resize_nearest_rows);
  tcase_add_test(c, test_col2im);
  tcase_add_test(c, test_threads);
  tcase_add_test(c, test_generators);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(movement_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
