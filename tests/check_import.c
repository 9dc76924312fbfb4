/*
 * check_import.c - ONNX import and `ferry inspect`, tested on real models.
 *
 *   conformance  every model of ONNX's backend test data imports;
 *   crafted      hand-made edge cases (tests/make-crafted.py) give the
 *                expected result or error line and exit code;
 *   real         inspect of real exports (torchvision, BERT-like, Silero
 *                VAD, PaddleOCR) reports the right facts;
 *   corrupt      real models truncated and bit-flipped: exit 2, one line,
 *                never a crash; peak memory of an import stays near 2x.
 *
 * Test data comes from make check's environment (testutil.h).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inspect.h"
#include "ir.h"
#include "testutil.h"

/* ---- helpers ---- */

static const char *crafted(const char *rel) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/crafted/%s", tu_env("FERRY_TEST_MODELS"), rel);
  return buf;
}

static ferry_model *load_ok(const char *path) {
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(path, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  return m;
}

/* Runs `ferry inspect --json PATH` and returns its stdout. */
static char *inspect_json(const char *path) {
  char args[4200], *out = NULL, *err = NULL;
  snprintf(args, sizeof args, "inspect --json '%s'", path);
  int rc = tu_run(args, &out, &err);
  ck_assert_msg(rc == 0, "inspect %s: exit %d: %s", path, rc, err ? err : "");
  free(err);
  return out;
}

#define ck_assert_has(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) != NULL, "missing %s in:\n%s", (needle), (hay))

static int find_node(const ferry_graph *g, const char *op, int from) {
  for (int i = from; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].op, op) == 0) return i;
  return -1;
}

/* ---- conformance data ---- */

START_TEST(test_all_onnx_testdata_import) {
  const char *root = tu_env("ONNX_TESTDATA");
  const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  int total = 0, failed = 0;
  for (size_t s = 0; s < sizeof suites / sizeof *suites; s++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, suites[s]);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (install libonnx-testdata)", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
      struct stat st;
      if (stat(path, &st)) continue;
      ferry_err err = {0};
      ferry_model *m = ferry_onnx_load(path, &err);
      total++;
      if (!m) {
        failed++;
        fprintf(stderr, "import failed: %s\n", err.msg);
      }
      ferry_model_free(m);
    }
    closedir(d);
  }
  fprintf(stderr, "ONNX test data: %d models, %d failed to import\n", total, failed);
  ck_assert_int_eq(total, 1072);
  ck_assert_int_eq(failed, 0);
}
END_TEST

/* ---- crafted models ---- */

static const struct {
  const char *file;
  int code;
  const char *message; /* expected part of the error line, NULL when valid */
} crafted_cases[] = {
    {"function.onnx", 0, NULL},
    {"unsorted.onnx", 0, NULL},
    {"subgraph.onnx", 0, NULL},
    {"external/model.onnx", 0, NULL},
    {"ir3_init_input.onnx", 0, NULL},
    {"cycle.onnx", 2, "cycle"},
    {"undefined_input.onnx", 2, "reads 'ghost', which nothing defines"},
    {"missing_output.onnx", 2, "graph output 'y' is not produced"},
    {"defined_twice.onnx", 2, "value 'y' is defined twice"},
    {"unknown_dtype.onnx", 2, "unknown dtype 99"},
    {"absurd_dims.onnx", 2, "absurd dimensions"},
    {"short_raw.onnx", 2, "10 bytes of data for 4 elements"},
    {"negative_dim.onnx", 2, "negative dimension -3"},
    {"no_opset.onnx", 2, "does not import"},
    {"recursive_function.onnx", 2, "calls itself"},
    {"deep_nesting.onnx", 2, "nested deeper than"},
    {"not_onnx.onnx", 2, "not an ONNX model"},
    {"empty.onnx", 2, "empty file"},
    {"no_such_file.onnx", 2, "No such file"},
    {"external_missing/model.onnx", 2, "'nothere.bin': No such file"},
    {"external_short/model.onnx", 2, "is 40 bytes, the model wants 64"},
    {"external_escape/model.onnx", 2, "leaves the model's folder"},
    {"external_absolute/model.onnx", 2, "leaves the model's folder"},
    {"external_symlink/model.onnx", 2, "leaves the model's folder"},
    {"external_badlen/model.onnx", 2, "needs 64 bytes, its external data entry says 12"},
    {"external_badoffset/model.onnx", 2, "offset '-5' is not a byte count"},
};

/* The error contract: exit code, and exactly one stderr line
 * "ferry: PATH: what is wrong". */
static void check_error_line(const char *path, int rc, int want, const char *err, const char *part) {
  ck_assert_msg(rc == want, "%s: exit %d, want %d (stderr: %s)", path, rc, want, err);
  if (want == 0) return;
  char prefix[4200];
  snprintf(prefix, sizeof prefix, "ferry: %s: ", path);
  ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s: stderr is '%s'", path, err);
  ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: '%s'", path, err);
  if (part) ck_assert_has(err, part);
}

START_TEST(test_crafted_table) {
  for (size_t i = 0; i < sizeof crafted_cases / sizeof *crafted_cases; i++) {
    char path[4096], args[4200], *out, *err;
    snprintf(path, sizeof path, "%s", crafted(crafted_cases[i].file));
    snprintf(args, sizeof args, "inspect '%s'", path);
    int rc = tu_run(args, &out, &err);
    check_error_line(path, rc, crafted_cases[i].code, err ? err : "", crafted_cases[i].message);
    if (crafted_cases[i].code == 0) ck_assert_has(out, "nodes");
    else ck_assert_str_eq(out, ""); /* nothing half-written on stdout */
    free(out);
    free(err);
  }
}
END_TEST

START_TEST(test_function_inlined) {
  ferry_model *m = load_ok(crafted("function.onnx"));
  const ferry_graph *g = m->graph;
  ck_assert_int_eq(g->n_nodes, 8); /* 2 calls x (Constant, Mul, Tanh, LeakyRelu) */
  int a = find_node(g, "LeakyRelu", 0), b = find_node(g, "LeakyRelu", a + 1);
  ck_assert(a >= 0 && b > a);
  const ferry_attr *alpha = ferry_node_attr(&g->nodes[a], "alpha");
  ck_assert_ptr_nonnull(alpha); /* given by the first call */
  ck_assert_int_eq(alpha->type, FERRY_A_FLOAT);
  ck_assert_float_eq_tol(alpha->f, 0.3f, 1e-7);
  ck_assert_ptr_null(ferry_node_attr(&g->nodes[b], "alpha")); /* second call: op default */
  /* the first call's output feeds the second call's body */
  ck_assert_str_eq(g->values[g->nodes[a].outputs[0]].name, "h");
  ck_assert_int_eq(g->nodes[find_node(g, "Mul", a)].inputs[0], g->nodes[a].outputs[0]);
  ck_assert_str_eq(g->nodes[a].domain, "");
  ck_assert_int_eq(g->nodes[a].opset, 13);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_unsorted_nodes_sorted) {
  ferry_model *m = load_ok(crafted("unsorted.onnx"));
  ck_assert_str_eq(m->graph->nodes[0].op, "Neg");
  ck_assert_str_eq(m->graph->nodes[1].op, "Relu");
  ck_assert_int_eq(m->graph->values[m->graph->nodes[1].inputs[0]].producer, 0);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_subgraph_reads_outer_value) {
  ferry_model *m = load_ok(crafted("subgraph.onnx"));
  const ferry_graph *g = m->graph;
  int ifn = find_node(g, "If", 0);
  ck_assert_int_eq(ifn, 1);
  const ferry_attr *then = ferry_node_attr(&g->nodes[ifn], "then_branch");
  ck_assert_ptr_nonnull(then);
  const ferry_graph *t = then->g;
  ck_assert_ptr_eq(t->parent, g);
  int h = ferry_graph_find(t, "h");
  ck_assert_int_ge(h, 0);
  ck_assert_int_eq(t->values[h].outer, ferry_graph_find(g, "h"));
  ck_assert_int_eq(t->nodes[0].inputs[0], h);
  /* the unused opset import is kept, and harmless */
  ck_assert_int_eq(m->n_opsets, 2);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_external_data_mapped) {
  ferry_model *m = load_ok(crafted("external/model.onnx"));
  const ferry_graph *g = m->graph;
  const ferry_value *w = &g->values[ferry_graph_find(g, "w")];
  const ferry_value *b = &g->values[ferry_graph_find(g, "b")];
  ck_assert(w->flags & FERRY_VAL_WEIGHT);
  ck_assert_int_eq(w->data->numel, 16);
  ck_assert_str_eq(w->data->external, "weights.bin");
  const float *wf = w->data->data, *bf = b->data->data;
  for (int i = 0; i < 16; i++) ck_assert_float_eq(wf[i], (float)i);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(bf[i], (float)i);
  ck_assert_int_eq(m->n_external_files, 1);
  ck_assert_str_eq(m->external_files[0], "weights.bin");
  ferry_model_free(m);
}
END_TEST

START_TEST(test_ir3_initializer_as_input) {
  ferry_model *m = load_ok(crafted("ir3_init_input.onnx"));
  ck_assert_int_eq(m->graph->n_inputs, 1); /* "w" is a weight, not an input */
  const ferry_value *w = &m->graph->values[ferry_graph_find(m->graph, "w")];
  ck_assert_float_eq(((const float *)w->data->data)[3], 4.0f);
  ferry_model_free(m);
}
END_TEST

/* ---- real models ---- */

START_TEST(test_inspect_resnet18) {
  char *j = inspect_json(tu_model("resnet18.onnx"));
  ck_assert_has(j, "\"node_count\": 49,");
  ck_assert_has(j, "\"Conv\": 20");
  ck_assert_has(j, "\"Relu\": 17");
  ck_assert_has(j, "\"Add\": 8");
  ck_assert_has(j, "\"Flatten\": 1");
  ck_assert_has(j, "\"Gemm\": 1");
  ck_assert_has(j, "\"GlobalAveragePool\": 1");
  ck_assert_has(j, "\"MaxPool\": 1");
  ck_assert_has(j, "\"parameters\": 11684712,");
  ck_assert_has(j, "\"inputs\": [{\"name\": \"input\", \"dtype\": \"float32\", \"shape\": [1, 3, 224, 224]}]");
  ck_assert_has(j, "\"opsets\": {\"ai.onnx\": 13}");
  free(j);
}
END_TEST

START_TEST(test_inspect_bert_symbolic_dims) {
  char *j = inspect_json(tu_model("bert_tiny_op13.onnx"));
  ck_assert_has(j, "{\"name\": \"input_ids\", \"dtype\": \"int64\", \"shape\": [\"batch\", \"sequence\"]}");
  ck_assert_has(j, "{\"name\": \"attention_mask\", \"dtype\": \"int64\", \"shape\": [\"batch\", \"sequence\"]}");
  ck_assert_has(j, "\"shape\": [\"batch\", \"sequence\", 64]");
  free(j);
}
END_TEST

START_TEST(test_inspect_silero_vad_subgraphs) {
  ferry_model *m = load_ok(tu_model("npm/silero_vad_v5.onnx"));
  ck_assert_int_eq(m->graph->n_inputs, 3);
  ck_assert_str_eq(m->graph->values[m->graph->inputs[2]].name, "sr");
  ck_assert_int_eq(m->graph->values[m->graph->inputs[2]].type.dtype, FERRY_I64);
  ck_assert_int_eq(m->graph->values[m->graph->inputs[2]].type.rank, 0);
  ferry_model_free(m);
  char *j = inspect_json(tu_model("npm/silero_vad_v5.onnx"));
  /* the network sits in If branches: their nodes are counted */
  ck_assert_has(j, "\"If\": ");
  ck_assert_has(j, "\"LSTM\": ");
  ck_assert_has(j, "\"Constant\": ");
  ck_assert_msg(strstr(j, "\"parameters\": 0,") == NULL, "Constant weights not counted: %s", j);
  free(j);
}
END_TEST

START_TEST(test_inspect_paddleocr_det) {
  char *j = inspect_json(tu_model("npm/ch_PP-OCRv4_det_infer.onnx"));
  ck_assert_has(j, "{\"name\": \"x\", \"dtype\": \"float32\", \"shape\": [\"p2o.DynamicDimension.0\", 3, \"p2o.DynamicDimension.1\", \"p2o.DynamicDimension.2\"]}");
  ck_assert_has(j, "\"opsets\": {\"ai.onnx\": 11}");
  ck_assert_has(j, "\"ConvTranspose\": ");
  ck_assert_has(j, "\"Resize\": ");
  free(j);
}
END_TEST

START_TEST(test_inspect_text_report) {
  char args[4200], *out, *err;
  snprintf(args, sizeof args, "inspect '%s'", tu_model("resnet18.onnx"));
  ck_assert_int_eq(tu_run(args, &out, &err), 0);
  ck_assert_has(out, "producer   pytorch");
  ck_assert_has(out, "  input                    float32  [1, 3, 224, 224]");
  ck_assert_has(out, "nodes      49\n  Conv 20\n  Relu 17\n  Add 8\n");
  ck_assert_has(out, "parameters 11684712\n  float32   11684712 (44.6 MiB)");
  free(out);
  free(err);
}
END_TEST

/* ---- corrupted real models ---- */

/* Writes `data` with `len` bytes to a temp file, runs inspect on it and
 * checks the error contract. Returns the exit code. */
static int inspect_bytes(const char *what, const void *data, size_t len, int must_fail) {
  const char *dir = tu_tmpdir();
  char path[256], args[400], *out, *err;
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  ck_assert_int_eq(tu_write(path, data, len), 0);
  snprintf(args, sizeof args, "inspect '%s'", path);
  int rc = tu_run(args, &out, &err);
  ck_assert_msg(rc == 0 || rc == 2, "%s: exit %d (crash or hang?), stderr %s", what, rc, err);
  if (must_fail || rc) check_error_line(path, rc, 2, err ? err : "", NULL);
  free(out);
  free(err);
  unlink(path);
  rmdir(dir);
  return rc;
}

START_TEST(test_corrupted_table) {
  size_t len;
  char *orig = tu_read(tu_model("squeezenet1_1.onnx"), &len);
  ck_assert_ptr_nonnull(orig);
  char *buf = malloc(len);
  /* truncations at several offsets */
  size_t cuts[] = {1, 2, 7, 16, 100, 1000, 4096, len / 3, len / 2, len - 200, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    char what[64];
    snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
    inspect_bytes(what, orig, cuts[i], 1);
  }
  /* structural bytes flipped: the first tag, the graph field's length,
   * the last byte (inside the opset import) */
  size_t flips[] = {0, 1, len - 1, len - 3};
  for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
    memcpy(buf, orig, len);
    buf[flips[i]] ^= (char)0xff;
    char what[64];
    snprintf(what, sizeof what, "byte %zu flipped", flips[i]);
    inspect_bytes(what, buf, len, 1);
  }
  free(buf);
  free(orig);
}
END_TEST

/* Thousands of random mutations through the library: each either imports
 * or fails with an input error and a message; none crashes. */
START_TEST(test_random_mutations_never_crash) {
  const char *files[] = {"squeezenet1_1.onnx", "npm/silero_vad_v5.onnx"};
  unsigned seed = 12345;
  for (size_t f = 0; f < 2; f++) {
    size_t len;
    char *orig = tu_read(tu_model(files[f]), &len);
    ck_assert_ptr_nonnull(orig);
    char *buf = malloc(len);
    for (int round = 0; round < 300; round++) {
      memcpy(buf, orig, len);
      size_t n = len;
      int nflip = 1 + (int)(rand_r(&seed) % 8);
      for (int k = 0; k < nflip; k++) buf[rand_r(&seed) % len] ^= (char)(1 + rand_r(&seed) % 255);
      if (round % 3 == 0) n = rand_r(&seed) % len;
      ferry_err err = {0};
      ferry_model *m = ferry_onnx_load_buffer(buf, n, "mutant.onnx", &err);
      if (!m) {
        ck_assert_int_eq(err.code, FERRY_E_INPUT);
        ck_assert_msg(strncmp(err.msg, "mutant.onnx: ", 13) == 0, "message: %s", err.msg);
      } else {
        FILE *devnull = fopen("/dev/null", "w");
        ferry_inspect_model(devnull, m, 0);
        ferry_inspect_model(devnull, m, FERRY_INSPECT_JSON);
        fclose(devnull);
      }
      ferry_model_free(m);
    }
    free(buf);
    free(orig);
  }
}
END_TEST

/* Peak memory of `ferry inspect` stays under about twice the model size
 * (plain builds only: sanitizers multiply memory use). */
#if !defined(__SANITIZE_ADDRESS__)
START_TEST(test_import_peak_memory) {
  const char *path = tu_model("resnet18.onnx");
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "'%s' inspect '%s' >/dev/null", tu_env("FERRY"), path);
  int rc = system(cmd);
  ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double peak = ru.ru_maxrss * 1024.0, size = (double)st.st_size;
  fprintf(stderr, "inspect resnet18: peak RSS %.1f MiB for a %.1f MiB model (%.2fx)\n",
          peak / 1048576, size / 1048576, peak / size);
  ck_assert_msg(peak < 2.0 * size + 8 * 1048576.0, "peak %.0f bytes for a %.0f byte model", peak, size);
}
END_TEST
#endif

static Suite *import_suite(void) {
  Suite *s = suite_create("import");
  TCase *c = tcase_create("conformance");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_all_onnx_testdata_import);
  suite_add_tcase(s, c);
  c = tcase_create("crafted");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_crafted_table);
  tcase_add_test(c, test_function_inlined);
  tcase_add_test(c, test_unsorted_nodes_sorted);
  tcase_add_test(c, test_subgraph_reads_outer_value);
  tcase_add_test(c, test_external_data_mapped);
  tcase_add_test(c, test_ir3_initializer_as_input);
  suite_add_tcase(s, c);
  c = tcase_create("real");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_inspect_resnet18);
  tcase_add_test(c, test_inspect_bert_symbolic_dims);
  tcase_add_test(c, test_inspect_silero_vad_subgraphs);
  tcase_add_test(c, test_inspect_paddleocr_det);
  tcase_add_test(c, test_inspect_text_report);
  suite_add_tcase(s, c);
  c = tcase_create("corrupt");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_corrupted_table);
  tcase_add_test(c, test_random_mutations_never_crash);
#if !defined(__SANITIZE_ADDRESS__)
  /* sanitizers multiply memory use: the bound is checked in plain builds */
  tcase_add_test(c, test_import_peak_memory);
#endif
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(import_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
