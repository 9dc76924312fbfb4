/*
 * check_export.c - ONNX export (ferry_onnx_save), tested by round trips.
 *
 *   roundtrip  import -> save -> import gives the same graphs (ops, names,
 *              attributes, weight bytes, input/output/value types with
 *              their shape texts) for every model of ONNX's backend test
 *              data, the crafted edge cases and the real models;
 *   file       the header facts (producer, opsets, IR version), atomic
 *              writes (a missing folder is an error, no temporary left,
 *              an existing file replaced whole);
 *   ort        onnxruntime-node (tests/ort/compare.mjs) gives the same
 *              outputs for the original and ferry's re-export of real
 *              models. node and onnxruntime are required: missing is a
 *              failure, never a skip.
 *
 * Test data comes from make check's environment (testutil.h); the
 * onnxruntime install is $FERRY_TEST_MODELS/ort (tests/ort/setup.sh).
 */
#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ir.h"
#include "onnx_export.h"
#include "onnx.pb-c.h"
#include "testutil.h"

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

/* ---- helpers ---- */

static ferry_model *load_ok(const char *path) {
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(path, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  return m;
}

/* Saves `m` to DIR/NAME in a fresh folder; returns the path (malloc'd). */
static char *save_tmp(const ferry_model *m, const char *name) {
  const char *dir = tu_tmpdir();
  size_t n = strlen(dir) + strlen(name) + 2;
  char *path = malloc(n);
  snprintf(path, n, "%s/%s", dir, name);
  ferry_err err = {0};
  int rc = ferry_onnx_save(m, path, &err);
  ck_assert_msg(rc == FERRY_OK, "save: %s", err.msg);
  return path;
}

static void remove_tmp(char *path) {
  unlink(path);
  char *slash = strrchr(path, '/');
  *slash = 0;
  rmdir(path);
  free(path);
}

/* ---- structural comparison (messages name what differs) ---- */

typedef struct cmp {
  char where[512];  /* path of the thing being compared */
  char diff[1200];  /* first difference, empty when none */
} cmp;

static int differ(cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int differ(cmp *c, const char *fmt, ...) {
  if (c->diff[0]) return 1;
  char what[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(c->diff, sizeof c->diff, "%s: %s", c->where, what);
  return 1;
}

static void dim_text(ferry_dim d, char *buf, size_t n) {
  ferry_dim_str(d, buf, n);
}

static int cmp_type(cmp *c, const ferry_type *a, const ferry_type *b) {
  if (a->kind != b->kind || a->dtype != b->dtype || a->rank != b->rank)
    return differ(c, "type kind/dtype/rank %d/%d/%d vs %d/%d/%d", a->kind, a->dtype, a->rank,
                  b->kind, b->dtype, b->rank);
  for (int i = 0; i < a->rank; i++) {
    char x[256], y[256];
    dim_text(a->shape[i], x, sizeof x);
    dim_text(b->shape[i], y, sizeof y);
    if (strcmp(x, y)) return differ(c, "dim %d is '%s' vs '%s'", i, x, y);
  }
  if (!a->elem != !b->elem) return differ(c, "element type present in one only");
  return a->elem ? cmp_type(c, a->elem, b->elem) : 0;
}

static int cmp_tensor(cmp *c, const ferry_tensor *a, const ferry_tensor *b) {
  if (a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel)
    return differ(c, "tensor dtype/rank/numel %d/%d/%lld vs %d/%d/%lld", a->dtype, a->rank,
                  (long long)a->numel, b->dtype, b->rank, (long long)b->numel);
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return differ(c, "tensor dim %d differs", i);
  if (a->dtype == FERRY_STRING) {
    const ferry_str *x = a->data, *y = b->data;
    for (int64_t i = 0; i < a->numel; i++)
      if (x[i].len != y[i].len || memcmp(x[i].ptr, y[i].ptr, x[i].len))
        return differ(c, "string %lld differs", (long long)i);
    return 0;
  }
  if (a->nbytes != b->nbytes) return differ(c, "tensor has %zu vs %zu bytes", a->nbytes, b->nbytes);
  if (a->nbytes && memcmp(a->data, b->data, a->nbytes)) return differ(c, "tensor bytes differ");
  if (b->external) return differ(c, "re-exported tensor is external");
  return 0;
}

static int cmp_graph(cmp *c, const ferry_graph *a, const ferry_graph *b);

static int cmp_strs(cmp *c, const ferry_str *x, const ferry_str *y, int n) {
  for (int i = 0; i < n; i++)
    if (x[i].len != y[i].len || memcmp(x[i].ptr, y[i].ptr, x[i].len))
      return differ(c, "string %d differs", i);
  return 0;
}

static int cmp_attr_value(cmp *c, const ferry_attr *a, const ferry_attr *b) {
  switch (a->type) {
  case FERRY_A_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) ? differ(c, "%g vs %g", a->f, b->f) : 0;
  case FERRY_A_INT: return a->i != b->i ? differ(c, "%lld vs %lld", (long long)a->i, (long long)b->i) : 0;
  case FERRY_A_STRING: return cmp_strs(c, &a->s, &b->s, 1);
  case FERRY_A_TENSOR: case FERRY_A_SPARSE_TENSOR: return cmp_tensor(c, a->t, b->t);
  case FERRY_A_GRAPH: return cmp_graph(c, a->g, b->g);
  case FERRY_A_FLOATS: return a->n && memcmp(a->floats, b->floats, (size_t)a->n * 4) ? differ(c, "floats differ") : 0;
  case FERRY_A_INTS: return a->n && memcmp(a->ints, b->ints, (size_t)a->n * 8) ? differ(c, "ints differ") : 0;
  case FERRY_A_STRINGS: return cmp_strs(c, a->strings, b->strings, a->n);
  case FERRY_A_TYPE_PROTO: case FERRY_A_TYPE_PROTOS:
    for (int i = 0; i < a->n; i++)
      if (cmp_type(c, &a->types[i], &b->types[i])) return 1;
    return 0;
  }
  for (int i = 0; i < a->n; i++) { /* TENSORS, SPARSE_TENSORS, GRAPHS */
    if (a->type == FERRY_A_GRAPHS ? cmp_graph(c, a->graphs[i], b->graphs[i])
                                  : cmp_tensor(c, a->tensors[i], b->tensors[i]))
      return 1;
  }
  return 0;
}

static int cmp_attrs(cmp *c, const ferry_node *x, const ferry_node *y) {
  if (x->n_attrs != y->n_attrs) return differ(c, "%d vs %d attributes", x->n_attrs, y->n_attrs);
  size_t len = strlen(c->where);
  for (int i = 0; i < x->n_attrs; i++) {
    const ferry_attr *a = &x->attrs[i], *b = &y->attrs[i];
    snprintf(c->where + len, sizeof c->where - len, " attr '%s'", a->name);
    if (strcmp(a->name, b->name) || a->type != b->type || a->n != b->n)
      return differ(c, "name/type/count %s/%d/%d vs %s/%d/%d", a->name, a->type, a->n, b->name, b->type, b->n);
    if (cmp_attr_value(c, a, b)) return 1;
  }
  c->where[len] = 0;
  return 0;
}

static const char *vname(const ferry_graph *g, int v) {
  return v >= 0 ? g->values[v].name : "";
}

static int cmp_node(cmp *c, const ferry_graph *ga, const ferry_node *a, const ferry_graph *gb,
                    const ferry_node *b) {
  if (strcmp(a->op, b->op) || strcmp(a->domain, b->domain) || strcmp(a->name, b->name))
    return differ(c, "op %s.%s '%s' vs %s.%s '%s'", a->domain, a->op, a->name, b->domain, b->op, b->name);
  if (a->opset != b->opset) return differ(c, "opset %d vs %d", a->opset, b->opset);
  if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs)
    return differ(c, "%d/%d vs %d/%d inputs/outputs", a->n_inputs, a->n_outputs, b->n_inputs, b->n_outputs);
  for (int i = 0; i < a->n_inputs; i++)
    if (strcmp(vname(ga, a->inputs[i]), vname(gb, b->inputs[i])))
      return differ(c, "input %d is '%s' vs '%s'", i, vname(ga, a->inputs[i]), vname(gb, b->inputs[i]));
  for (int i = 0; i < a->n_outputs; i++)
    if (strcmp(vname(ga, a->outputs[i]), vname(gb, b->outputs[i])))
      return differ(c, "output %d is '%s' vs '%s'", i, vname(ga, a->outputs[i]), vname(gb, b->outputs[i]));
  return cmp_attrs(c, a, b);
}

static int cmp_io(cmp *c, const ferry_graph *a, const int *ia, int na, const ferry_graph *b,
                  const int *ib, int nb, const char *what) {
  if (na != nb) return differ(c, "%d vs %d %s", na, nb, what);
  for (int i = 0; i < na; i++) {
    const ferry_value *x = &a->values[ia[i]], *y = &b->values[ib[i]];
    if (strcmp(x->name, y->name)) return differ(c, "%s %d is '%s' vs '%s'", what, i, x->name, y->name);
    if (cmp_type(c, &x->type, &y->type)) return differ(c, "%s '%s'", what, x->name);
  }
  return 0;
}

/* Every local value of `a`: the same name in `b` with the same flags, type
 * (where `a` knows it) and data. */
static int cmp_values(cmp *c, const ferry_graph *a, const ferry_graph *b) {
  for (int i = 0; i < a->n_values; i++) {
    const ferry_value *x = &a->values[i];
    if (x->outer >= 0) continue;
    int j = ferry_graph_find(b, x->name);
    if (j < 0) return differ(c, "value '%s' is missing", x->name);
    const ferry_value *y = &b->values[j];
    if (x->flags != y->flags) return differ(c, "value '%s' flags %u vs %u", x->name, x->flags, y->flags);
    size_t len = strlen(c->where);
    snprintf(c->where + len, sizeof c->where - len, " value '%s'", x->name);
    if (x->type.kind != FERRY_V_UNKNOWN && cmp_type(c, &x->type, &y->type)) return 1;
    if (!x->data != !y->data) return differ(c, "data in one only");
    if (x->data && cmp_tensor(c, x->data, y->data)) return 1;
    c->where[len] = 0;
  }
  return 0;
}

static int cmp_graph(cmp *c, const ferry_graph *a, const ferry_graph *b) {
  if (!a || !b) return a != b ? differ(c, "graph missing") : 0;
  size_t len = strlen(c->where);
  snprintf(c->where + len, sizeof c->where - len, " graph '%s'", a->name);
  if (strcmp(a->name, b->name)) return differ(c, "graph name '%s' vs '%s'", a->name, b->name);
  if (a->n_nodes != b->n_nodes) return differ(c, "%d vs %d nodes", a->n_nodes, b->n_nodes);
  if (cmp_io(c, a, a->inputs, a->n_inputs, b, b->inputs, b->n_inputs, "input") ||
      cmp_io(c, a, a->outputs, a->n_outputs, b, b->outputs, b->n_outputs, "output") ||
      cmp_values(c, a, b))
    return 1;
  size_t len2 = strlen(c->where);
  for (int i = 0; i < a->n_nodes; i++) {
    snprintf(c->where + len2, sizeof c->where - len2, " node %d", i);
    if (cmp_node(c, a, &a->nodes[i], b, &b->nodes[i])) return 1;
  }
  c->where[len] = 0;
  return 0;
}

static int cmp_model(cmp *c, const ferry_model *a, const ferry_model *b) {
  for (int i = 0; i < a->n_opsets; i++) {
    int found = 0;
    for (int j = 0; j < b->n_opsets; j++)
      found |= strcmp(a->opsets[i].domain, b->opsets[j].domain) == 0 &&
               a->opsets[i].version == b->opsets[j].version;
    if (!found) return differ(c, "opset '%s' %lld lost", a->opsets[i].domain, (long long)a->opsets[i].version);
  }
  if (b->ir_version < 7 || (a->ir_version > 7 && b->ir_version != a->ir_version))
    return differ(c, "IR version %lld -> %lld", (long long)a->ir_version, (long long)b->ir_version);
  if (a->model_version != b->model_version) return differ(c, "model_version differs");
  return cmp_graph(c, a->graph, b->graph);
}

/* Import, save, import again, compare; returns 0 or fills `why`. */
static int round_trip(const char *path, char *why, size_t n) {
  ferry_err err = {0};
  ferry_model *a = ferry_onnx_load(path, &err);
  if (!a) return snprintf(why, n, "import: %s", err.msg), 1;
  const char *dir = tu_tmpdir();
  char out[4200];
  snprintf(out, sizeof out, "%s/model.onnx", dir);
  int rc = ferry_onnx_save(a, out, &err);
  ferry_model *b = rc ? NULL : ferry_onnx_load(out, &err);
  cmp c = {.where = "model"};
  if (rc) snprintf(why, n, "save: %s", err.msg);
  else if (!b) snprintf(why, n, "re-import: %s", err.msg);
  else if (cmp_model(&c, a, b)) snprintf(why, n, "%s", c.diff);
  ferry_model_free(a);
  ferry_model_free(b);
  unlink(out);
  rmdir(dir);
  return rc || !b || c.diff[0];
}

/* ---- round trips ---- */

START_TEST(test_roundtrip_onnx_testdata) {
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
      char path[8192], why[1300];
      struct stat st;
      snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
      if (e->d_name[0] == '.' || stat(path, &st)) continue;
      total++;
      if (round_trip(path, why, sizeof why)) {
        failed++;
        fprintf(stderr, "round trip %s: %s\n", path, why);
      }
    }
    closedir(d);
  }
  fprintf(stderr, "ONNX test data: %d models round-tripped, %d differ\n", total, failed);
  ck_assert_int_eq(total, 1072);
  ck_assert_int_eq(failed, 0);
}
END_TEST

static void check_round_trip(const char *path) {
  char why[1300];
  ck_assert_msg(round_trip(path, why, sizeof why) == 0, "%s: %s", path, why);
}

START_TEST(test_roundtrip_real_models) {
  const char *models[] = {"resnet18.onnx", "bert_tiny_op13.onnx", "gpt_tiny_op17.onnx",
                          "gpt_tiny_op13.onnx", "npm/silero_vad_v5.onnx",
                          "npm/silero_vad_legacy.onnx", "npm/ch_PP-OCRv4_det_infer.onnx"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) check_round_trip(tu_model(models[i]));
}
END_TEST

START_TEST(test_roundtrip_crafted) {
  const char *models[] = {"function.onnx", "unsorted.onnx", "subgraph.onnx",
                          "external/model.onnx", "ir3_init_input.onnx"};
  char path[4200];
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    snprintf(path, sizeof path, "%s/crafted/%s", tu_env("FERRY_TEST_MODELS"), models[i]);
    check_round_trip(path);
  }
}
END_TEST

/* ---- the file itself ---- */

static Onnx__ModelProto *read_proto(const char *path, char **buf) {
  size_t len;
  *buf = tu_read(path, &len);
  ck_assert_ptr_nonnull(*buf);
  Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, (const uint8_t *)*buf);
  ck_assert_ptr_nonnull(mp);
  return mp;
}

static const char *meta(const Onnx__ModelProto *mp, const char *key) {
  for (size_t i = 0; i < mp->n_metadata_props; i++)
    if (strcmp(mp->metadata_props[i]->key, key) == 0) return mp->metadata_props[i]->value;
  return NULL;
}

START_TEST(test_header_facts) {
  ferry_model *m = load_ok(tu_model("resnet18.onnx"));
  char *path = save_tmp(m, "r.onnx"), *buf;
  Onnx__ModelProto *mp = read_proto(path, &buf);
  ck_assert_str_eq(mp->producer_name, "ferry");
  ck_assert_str_eq(meta(mp, "source_producer"), "pytorch 1.13.0");
  ck_assert_int_eq(mp->ir_version, 7);
  ck_assert_int_eq(mp->n_opset_import, 1);
  ck_assert_int_eq(mp->opset_import[0]->version, 13);
  ck_assert_int_eq(mp->graph->n_initializer, 42); /* BatchNorm folded by the exporter */
  ck_assert_int_eq(mp->n_functions, 0);
  onnx__model_proto__free_unpacked(mp, NULL);
  free(buf);
  /* a second save over it: replaced whole, the source producer kept */
  ferry_model *again = load_ok(path);
  ferry_err err = {0};
  ck_assert_int_eq(ferry_onnx_save(again, path, &err), 0);
  mp = read_proto(path, &buf);
  ck_assert_str_eq(meta(mp, "source_producer"), "pytorch 1.13.0");
  ck_assert_int_eq(mp->n_metadata_props, 1);
  onnx__model_proto__free_unpacked(mp, NULL);
  free(buf);
  ferry_model_free(again);
  ferry_model_free(m);
  remove_tmp(path);
}
END_TEST

/* Types the IR learned (here set by hand, as shape inference would) are
 * written as value_info, symbolic expressions as their text; a fused
 * contrib op brings its domain's opset import. */
START_TEST(test_value_info_and_contrib_domain) {
  ferry_model *m = load_ok(tu_model("resnet18.onnx"));
  ferry_graph *g = m->graph;
  int conv = g->nodes[0].outputs[0];
  ferry_dim b = ferry_dim_sym(m->dims, "batch");
  ferry_dim *shape = ferry_model_alloc(m, 4 * sizeof *shape);
  shape[0] = ferry_dim_add(m->dims, ferry_dim_mul(m->dims, ferry_dim_const(m->dims, 2), b),
                           ferry_dim_const(m->dims, 1));
  shape[1] = ferry_dim_const(m->dims, 64);
  shape[2] = shape[3] = ferry_dim_sym(m->dims, "h");
  g->values[conv].type = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = FERRY_F32, .rank = 4, .shape = shape};
  g->nodes[1].domain = "com.microsoft";
  g->nodes[1].op = "FusedConv";
  char *path = save_tmp(m, "v.onnx");
  ferry_model *r = load_ok(path);
  int v = ferry_graph_find(r->graph, g->values[conv].name);
  ck_assert_int_ge(v, 0);
  char text[64];
  ferry_dim_str(r->graph->values[v].type.shape[0], text, sizeof text);
  ck_assert_str_eq(text, "2*batch + 1");
  ferry_dim_str(r->graph->values[v].type.shape[3], text, sizeof text);
  ck_assert_str_eq(text, "h");
  int found = 0;
  for (int i = 0; i < r->n_opsets; i++)
    found |= strcmp(r->opsets[i].domain, "com.microsoft") == 0 && r->opsets[i].version == 1;
  ck_assert_msg(found, "no com.microsoft opset import");
  ck_assert_str_eq(r->graph->nodes[1].domain, "com.microsoft");
  ferry_model_free(r);
  ferry_model_free(m);
  remove_tmp(path);
}
END_TEST

/* Entries of `dir` whose name contains `part`. */
static int count_entries(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) n += strstr(e->d_name, part) != NULL;
  closedir(d);
  return n;
}

START_TEST(test_atomic_write_failures) {
  ferry_model *m = load_ok(tu_model("squeezenet1_1.onnx"));
  const char *dir = tu_tmpdir();
  char path[512];
  ferry_err err = {0};
  /* the folder does not exist */
  snprintf(path, sizeof path, "%s/no/such/folder/m.onnx", dir);
  ck_assert_int_eq(ferry_onnx_save(m, path, &err), FERRY_E_SYSTEM);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, "No such file"), "%s", err.msg);
  ck_assert_int_eq(count_entries(dir, "m.onnx"), 0);
  /* the target is a folder: rename fails after writing, the temp goes */
  snprintf(path, sizeof path, "%s/taken", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  ck_assert_int_eq(ferry_onnx_save(m, path, &err), FERRY_E_SYSTEM);
  ck_assert_msg(strstr(err.msg, "cannot replace"), "%s", err.msg);
  ck_assert_int_eq(count_entries(dir, ".tmp."), 0);
  rmdir(path);
  /* success leaves exactly the file */
  snprintf(path, sizeof path, "%s/ok.onnx", dir);
  ck_assert_int_eq(ferry_onnx_save(m, path, &err), 0);
  ck_assert_int_eq(count_entries(dir, "ok.onnx"), 1);
  ck_assert_int_eq(count_entries(dir, ".tmp."), 0);
  unlink(path);
  rmdir(dir);
  ferry_model_free(m);
}
END_TEST

/* Over 2 GiB: refused before anything is written. The oversized weight is
 * fake (its bytes are never read: sizing only needs the length). */
START_TEST(test_refuses_over_2gib) {
  ferry_model *m = load_ok(tu_model("squeezenet1_1.onnx"));
  ferry_graph *g = m->graph;
  int w = -1;
  for (int i = 0; i < g->n_values && w < 0; i++)
    if (g->values[i].flags & FERRY_VAL_WEIGHT) w = i;
  ck_assert_int_ge(w, 0);
  ferry_tensor *big = ferry_model_alloc(m, sizeof *big);
  *big = *g->values[w].data;
  big->nbytes = (size_t)1 << 31;
  g->values[w].data = big;
  const char *dir = tu_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/big.onnx", dir);
  ferry_err err = {0};
  ck_assert_int_eq(ferry_onnx_save(m, path, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "2 GiB"), "%s", err.msg);
  ck_assert_int_eq(count_entries(dir, "big"), 0);
  rmdir(dir);
  ferry_model_free(m);
}
END_TEST

/* ---- onnxruntime: original and re-export give the same outputs ---- */

static const char *srcdir(void) {
  const char *s = getenv("FERRY_SRCDIR");
  return s && *s ? s : FERRY_SOURCE_DIR;
}

/* Runs compare.mjs on the model and its re-export; returns its exit code,
 * with its output in `out`. */
static int ort_compare(const char *rel, const char *args, char *out, size_t n) {
  ferry_model *m = load_ok(tu_model(rel));
  char *path = save_tmp(m, "export.onnx");
  ferry_model_free(m);
  char cmd[16384];
  snprintf(cmd, sizeof cmd,
           "FERRY_ORT='%s/ort' timeout 300 node '%s/tests/ort/compare.mjs' '%s' '%s' "
           "--rtol 1e-3 --atol 1e-4 %s 2>&1",
           tu_env("FERRY_TEST_MODELS"), srcdir(), tu_model(rel), path, args);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t got = fread(out, 1, n - 1, p);
  out[got] = 0;
  int st = pclose(p);
  remove_tmp(path);
  fprintf(stderr, "onnxruntime %s: %s", rel, out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_ort(const char *rel, const char *args) {
  char out[8192];
  int rc = ort_compare(rel, args, out, sizeof out);
  ck_assert_msg(rc == 0, "%s: compare.mjs exit %d:\n%s", rel, rc, out);
  ck_assert_msg(strstr(out, "PASS") != NULL, "%s: no output compared:\n%s", rel, out);
}

START_TEST(test_ort_installed) {
  int rc = system("node --version >/dev/null 2>&1");
  ck_assert_msg(rc == 0, "node is not installed (apt-get install nodejs)");
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/ort/node_modules/onnxruntime-node/package.json", tu_env("FERRY_TEST_MODELS"));
  struct stat st;
  ck_assert_msg(stat(dir, &st) == 0, "onnxruntime-node missing: %s (run tests/ort/setup.sh %s/ort)",
                dir, tu_env("FERRY_TEST_MODELS"));
}
END_TEST

START_TEST(test_ort_resnet18) {
  char data[4200];
  snprintf(data, sizeof data, "--data '%s'", tu_model("resnet18/test_data_set_0"));
  check_ort("resnet18.onnx", data);
}
END_TEST

START_TEST(test_ort_bert) {
  check_ort("bert_tiny_op13.onnx", "--random 7 --dims batch=2,sequence=7");
}
END_TEST

START_TEST(test_ort_gpt) {
  check_ort("gpt_tiny_op13.onnx", "--random 3 --dims batch=2,sequence=7");
}
END_TEST

START_TEST(test_ort_silero_vad) {
  check_ort("npm/silero_vad_v5.onnx",
            "--random 5 --input input=random@1x576 --input state=zeros@2x1x128 --input sr=16000");
}
END_TEST

START_TEST(test_ort_paddleocr_det) {
  check_ort("npm/ch_PP-OCRv4_det_infer.onnx", "--random 9 --input x=random@1x3x64x64");
}
END_TEST

/* The oracle itself notices a difference (exit 1) and bad usage (exit 2). */
START_TEST(test_ort_oracle_sees_differences) {
  char cmd[16384], out[8192], a[4200];
  snprintf(a, sizeof a, "%s", tu_model("squeezenet1_1.onnx")); /* tu_model's buffer is reused */
  snprintf(cmd, sizeof cmd,
           "FERRY_ORT='%s/ort' node '%s/tests/ort/compare.mjs' '%s' '%s' --random 1 2>&1",
           tu_env("FERRY_TEST_MODELS"), srcdir(), a, tu_model("mobilenet_v2.onnx"));
  FILE *p = popen(cmd, "r");
  size_t got = fread(out, 1, sizeof out - 1, p);
  out[got] = 0;
  int st = pclose(p);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "different models: %s", out);
  ck_assert_msg(strstr(out, "FAIL") != NULL, "%s", out);
  snprintf(cmd, sizeof cmd, "FERRY_ORT='%s/ort' node '%s/tests/ort/compare.mjs' '%s' '%s' 2>&1",
           tu_env("FERRY_TEST_MODELS"), srcdir(), tu_model("bert_tiny_op13.onnx"),
           tu_model("bert_tiny_op13.onnx"));
  p = popen(cmd, "r");
  got = fread(out, 1, sizeof out - 1, p);
  out[got] = 0;
  st = pclose(p);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "unbound dims: %s", out);
  ck_assert_msg(strstr(out, "'batch' is not bound") != NULL, "%s", out);
}
END_TEST

static Suite *export_suite(void) {
  Suite *s = suite_create("export");
  TCase *c = tcase_create("roundtrip");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_roundtrip_onnx_testdata);
  tcase_add_test(c, test_roundtrip_real_models);
  tcase_add_test(c, test_roundtrip_crafted);
  suite_add_tcase(s, c);
  c = tcase_create("file");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_header_facts);
  tcase_add_test(c, test_value_info_and_contrib_domain);
  tcase_add_test(c, test_atomic_write_failures);
  tcase_add_test(c, test_refuses_over_2gib);
  suite_add_tcase(s, c);
  c = tcase_create("ort");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_ort_installed);
  tcase_add_test(c, test_ort_resnet18);
  tcase_add_test(c, test_ort_bert);
  tcase_add_test(c, test_ort_gpt);
  tcase_add_test(c, test_ort_silero_vad);
  tcase_add_test(c, test_ort_paddleocr_det);
  tcase_add_test(c, test_ort_oracle_sees_differences);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(export_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
