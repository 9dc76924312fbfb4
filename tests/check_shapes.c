/*
 * check_shapes.c - shape and type inference (convert/infer.h) and the op
 * registry (runtime/ops.h), tested on ONNX's node tests and real models.
 *
 *   registry     the table is sorted, every node-test op has a row with a
 *                rule (training ops: a reason instead), docs/ops.md is the
 *                table's current rendering;
 *   conformance  every node test's inferred output shapes equal the shapes
 *                of its reference outputs; the ones that do not are listed
 *                in tests/shape-allowlist.txt, which may only shrink;
 *   algebra      symbolic division; hand-built graphs: Reshape's 0 and -1,
 *                shape arithmetic carried through Shape/Gather/Concat;
 *   real         BERT, GPT (every value in terms of batch and sequence),
 *                --fix-dim, resnet18 (all concrete), PaddleOCR, Silero.
 *
 * ONNX's node tests feed shape-like arguments (Reshape's shape, Slice's
 * starts) as graph inputs with data in test_data_set_0: the conformance
 * test binds every tensor input's data to its value, as if it were a
 * weight, so rules see what a converter sees when such inputs are known.
 * It also forgets the types the test models declare for their outputs, so
 * only the rules' results are compared.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "inspect.h"
#include "ir.h"
#include "onnx.pb-c.h"
#include "ops.h"
#include "ops_doc.h"
#include "symdims.h"
#include "testutil.h"

/* ---- helpers ---- */

static ferry_model *load_ok(const char *path) {
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(path, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  return m;
}

static ferry_model *load_inferred(const char *path, const ferry_dimbinding *fix, int n_fix) {
  ferry_model *m = load_ok(path);
  ferry_err err = {0};
  int rc = ferry_infer_shapes(m, fix, n_fix, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  return m;
}

static const ferry_value *value_named(const ferry_graph *g, const char *name) {
  int i = ferry_graph_find(g, name);
  ck_assert_msg(i >= 0, "no value %s", name);
  return &g->values[i];
}

/* "[a, b, 3]" for a type (static buffer). */
static const char *shape_str(const ferry_type *t) {
  static char buf[1024];
  size_t n = 0;
  if (t->rank < 0) return "?";
  n += snprintf(buf + n, sizeof buf - n, "[");
  for (int i = 0; i < t->rank && n < sizeof buf - 64; i++) {
    if (i) n += snprintf(buf + n, sizeof buf - n, ", ");
    n += ferry_dim_str(t->shape[i], buf + n, sizeof buf - n);
  }
  snprintf(buf + n, sizeof buf - n, "]");
  return buf;
}

#define ck_assert_shape(t, want) ck_assert_str_eq(shape_str(t), want)

/* ---- registry ---- */

START_TEST(test_registry_sorted_and_findable) {
  int n;
  const ferry_opdef *t = ferry_op_table(&n);
  ck_assert_int_gt(n, 180);
  for (int i = 1; i < n; i++) {
    int c = strcmp(t[i - 1].domain, t[i].domain);
    if (!c) c = strcmp(t[i - 1].name, t[i].name);
    ck_assert_msg(c < 0, "ops.def is not sorted at %s", t[i].name);
  }
  for (int i = 0; i < n; i++) {
    ck_assert_ptr_eq(ferry_op_find(t[i].domain, t[i].name, t[i].since), &t[i]);
    ck_assert_msg(t[i].shape || t[i].unsupported || (t[i].flags & FERRY_OPF_CONTROL),
                  "%s has no shape rule", t[i].name);
  }
  ck_assert_ptr_nonnull(ferry_op_find("ai.onnx", "Reshape", 13));
  ck_assert_ptr_null(ferry_op_find("", "Reshape", 0));      /* before its first opset */
  ck_assert_ptr_null(ferry_op_find("", "Upsample", 10));    /* deprecated at 10 */
  ck_assert_ptr_null(ferry_op_find("", "NoSuchOp", 13));
  ck_assert_ptr_nonnull(ferry_op_find("ai.onnx.preview.training", "Adam", 1)->unsupported);
}
END_TEST

START_TEST(test_docs_ops_md_current) {
  char path[4096], *out = NULL;
  size_t len = 0;
  snprintf(path, sizeof path, "%s/docs/ops.md", tu_env("FERRY_SRCDIR"));
  char *doc = tu_read(path, NULL);
  ck_assert_msg(doc != NULL, "cannot read %s", path);
  FILE *f = open_memstream(&out, &len);
  ck_assert_int_eq(ferry_ops_markdown(f), 0);
  fclose(f);
  ck_assert_msg(strcmp(doc, out) == 0, "docs/ops.md is stale: run 'tests/ops_md > docs/ops.md'");
  ck_assert_msg(strstr(doc, "| Reshape | ai.onnx | 1+ | yes | yes | carries shape content |") != NULL, "%s", doc);
  free(doc);
  free(out);
}
END_TEST

/* ---- conformance: ONNX node tests ---- */

typedef struct allow {
  char **names;
  int n;
  int *hit; /* 1 when the test was seen */
} allow;

static void allow_load(allow *a) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/shape-allowlist.txt", tu_env("FERRY_SRCDIR"));
  char *text = tu_read(path, NULL);
  ck_assert_msg(text != NULL, "cannot read %s", path);
  memset(a, 0, sizeof *a);
  a->names = calloc(4096, sizeof *a->names);
  a->hit = calloc(4096, sizeof *a->hit);
  for (char *line = strtok(text, "\n"); line && a->n < 4096; line = strtok(NULL, "\n")) {
    if (!*line || *line == '#') continue;
    size_t len = strcspn(line, " \t");
    a->names[a->n] = strndup(line, len);
    a->n++;
  }
  free(text);
}

static int allow_find(const allow *a, const char *name) {
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->names[i], name) == 0) return i;
  return -1;
}

static void allow_free(allow *a) {
  for (int i = 0; i < a->n; i++) free(a->names[i]);
  free(a->names);
  free(a->hit);
}

/* Memory handed to the model as input data; freed after the test. */
typedef struct keep {
  void *p[256];
  int n;
} keep;

static void *kept(keep *k, void *p) {
  if (p && k->n < 256) k->p[k->n++] = p;
  return p;
}

static void keep_free(keep *k) {
  for (int i = 0; i < k->n; i++) free(k->p[i]);
  k->n = 0;
}

static Onnx__TensorProto *read_tensor(const char *path) {
  size_t len;
  char *buf = tu_read(path, &len);
  if (!buf) return NULL;
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  free(buf);
  return t;
}

/* The typed fields of a TensorProto as packed little-endian elements. */
static const void *typed_data(const Onnx__TensorProto *tp, int64_t numel, keep *k) {
  int size = ferry_dtype_size(tp->data_type);
  if (tp->has_raw_data) return tp->raw_data.data;
  if (tp->data_type == FERRY_STRING) {
    ferry_str *s = kept(k, calloc((size_t)numel + 1, sizeof *s));
    for (int64_t i = 0; s && i < numel && i < (int64_t)tp->n_string_data; i++)
      s[i] = (ferry_str){(const char *)tp->string_data[i].data, tp->string_data[i].len};
    return s;
  }
  if (tp->n_float_data) return tp->float_data;
  if (tp->n_int64_data) return tp->int64_data;
  if (tp->n_double_data) return tp->double_data;
  if (tp->n_uint64_data && size == 8) return tp->uint64_data;
  char *out = kept(k, calloc((size_t)(numel + 1), size > 0 ? (size_t)size : 1));
  for (int64_t i = 0; out && size > 0 && i < numel; i++) {
    int64_t v = i < (int64_t)tp->n_int32_data ? tp->int32_data[i]
                : i < (int64_t)tp->n_uint64_data ? (int64_t)tp->uint64_data[i] : 0;
    memcpy(out + i * size, &v, (size_t)size); /* little-endian: the low bytes */
  }
  return out;
}

/* Gives graph input `v` the data of input_K.pb, as if it were a weight. */
static void bind_input(ferry_value *v, Onnx__TensorProto *tp, keep *k) {
  ferry_tensor *t = kept(k, calloc(1, sizeof *t));
  int64_t *dims = kept(k, calloc(tp->n_dims + 1, sizeof *dims));
  if (!t || !dims || !ferry_dtype_valid(tp->data_type)) return;
  t->dtype = tp->data_type;
  t->rank = (int)tp->n_dims;
  t->numel = 1;
  for (size_t i = 0; i < tp->n_dims; i++) t->numel *= (dims[i] = tp->dims[i]);
  t->dims = dims;
  t->data = typed_data(tp, t->numel, k);
  v->data = t;
}

/* Compares inferred output `v` with reference tensor tp; why[] on a mismatch. */
static int same_tensor_type(const ferry_value *v, const Onnx__TensorProto *tp, char *why, size_t n) {
  const ferry_type *t = &v->type;
  if (t->kind != FERRY_V_TENSOR || t->rank != (int)tp->n_dims || t->dtype != tp->data_type) {
    snprintf(why, n, "output %s: inferred %s %s, reference %s rank %zu", v->name,
             ferry_dtype_name(t->dtype), shape_str(t), ferry_dtype_name(tp->data_type), tp->n_dims);
    return 0;
  }
  for (int i = 0; i < t->rank; i++) {
    int64_t d;
    if (!ferry_dim_is_const(t->shape[i], &d) || d != tp->dims[i]) {
      snprintf(why, n, "output %s: inferred %s, reference dim %d is %lld", v->name, shape_str(t), i,
               (long long)tp->dims[i]);
      return 0;
    }
  }
  return 1;
}

/* Sequence/optional outputs: their reference files are no TensorProto;
 * the inferred kind and element dtype must match the declared ones. */
static int same_kind(const ferry_value *v, const ferry_type *declared, char *why, size_t n) {
  const ferry_type *t = &v->type;
  int ok = t->kind == declared->kind;
  const ferry_type *a = t, *b = declared;
  while (ok && a->elem && b->elem) a = a->elem, b = b->elem;
  ok = ok && (!b->dtype || a->dtype == b->dtype);
  if (!ok) snprintf(why, n, "output %s: inferred kind %d dtype %s, declared kind %d", v->name, t->kind,
                    ferry_dtype_name(a->dtype), declared->kind);
  return ok;
}

/* Runs one node test; 1 when every output matches, else why[] says. */
static int node_test(const char *dir, char *why, size_t n) {
  char path[4200];
  keep k = {0};
  Onnx__TensorProto *ins[64] = {0};
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(path, &err);
  if (!m) return snprintf(why, n, "import: %s", err.msg), 0;
  ferry_graph *g = m->graph;
  for (int i = 0; i < g->n_inputs && i < 64; i++) {
    ferry_value *v = &g->values[g->inputs[i]];
    snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, i);
    if (v->type.kind == FERRY_V_TENSOR && (ins[i] = read_tensor(path))) bind_input(v, ins[i], &k);
  }
  ferry_type declared[64];
  for (int i = 0; i < g->n_outputs && i < 64; i++) {
    ferry_value *v = &g->values[g->outputs[i]];
    declared[i] = v->type;
    v->type = (ferry_type){.kind = FERRY_V_UNKNOWN, .rank = -1};
  }
  int ok = ferry_infer_shapes(m, NULL, 0, &err) == 0;
  if (!ok) snprintf(why, n, "%s", err.msg);
  for (int i = 0; ok && i < g->n_outputs && i < 64; i++) {
    const ferry_value *v = &g->values[g->outputs[i]];
    if (declared[i].kind != FERRY_V_TENSOR) {
      ok = same_kind(v, &declared[i], why, n);
      continue;
    }
    snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", dir, i);
    Onnx__TensorProto *ref = read_tensor(path);
    ok = ref && same_tensor_type(v, ref, why, n);
    if (!ref) snprintf(why, n, "cannot read %.900s", path);
    if (ref) onnx__tensor_proto__free_unpacked(ref, NULL);
  }
  ferry_model_free(m);
  for (int i = 0; i < 64; i++)
    if (ins[i]) onnx__tensor_proto__free_unpacked(ins[i], NULL);
  keep_free(&k);
  return ok;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_node_tests_shapes_match) {
  char dir[4096], why[1024];
  snprintf(dir, sizeof dir, "%s/node", tu_env("ONNX_TESTDATA"));
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  char **names = calloc(4096, sizeof *names);
  int n = 0, match = 0, unexpected = 0, stale = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 4096)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, by_name);
  allow al;
  allow_load(&al);
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%.2000s/%.1000s", dir, names[i]);
    int ok = node_test(path, why, sizeof why), a = allow_find(&al, names[i]);
    match += ok;
    if (a >= 0) al.hit[a] = 1;
    if (!ok && a < 0) {
      unexpected++;
      fprintf(stderr, "shape mismatch: %s: %s\n", names[i], why);
    }
    if (ok && a >= 0) {
      stale++;
      fprintf(stderr, "now matches, remove it from tests/shape-allowlist.txt: %s\n", names[i]);
    }
    free(names[i]);
  }
  for (int i = 0; i < al.n; i++)
    if (!al.hit[i]) {
      stale++;
      fprintf(stderr, "no such node test, remove it from tests/shape-allowlist.txt: %s\n", al.names[i]);
    }
  free(names);
  allow_free(&al);
  fprintf(stderr, "%d of %d node tests: shapes match\n", match, n);
  ck_assert_int_eq(n, 932);
  ck_assert_msg(unexpected == 0, "%d node tests mismatch and are not in the allow-list", unexpected);
  ck_assert_msg(stale == 0, "%d allow-listed node tests now match: shrink the list", stale);
  ck_assert_int_ge(match * 100, 95 * n);
}
END_TEST

/* ---- algebra: hand-built graphs ---- */

/* A tiny model builder over protobuf-c's structs; everything it allocates
 * is freed by gb_free(). Dims are written "batch,sequence,768". */
typedef struct gb {
  Onnx__GraphProto g;
  Onnx__NodeProto *nodes[64];
  Onnx__TensorProto *inits[32];
  Onnx__ValueInfoProto *ins[8], *outs[8], *infos[8];
  void *mem[1024];
  int n_mem;
} gb;

static void *gb_alloc(gb *b, size_t n) {
  void *p = calloc(1, n);
  ck_assert(p && b->n_mem < 1024);
  return b->mem[b->n_mem++] = p;
}

static char *gb_str(gb *b, const char *s, size_t n) {
  char *p = gb_alloc(b, n + 1);
  memcpy(p, s, n);
  return p;
}

/* Splits "a,,c" into names (empty ones kept); returns the count. */
static int gb_split(gb *b, const char *list, char **out) {
  int n = 0;
  if (!list || !*list) return 0;
  for (const char *p = list;; p++) {
    size_t len = strcspn(p, ",");
    out[n++] = gb_str(b, p, len);
    p += len;
    if (!*p) return n;
  }
}

static Onnx__ValueInfoProto *gb_value(gb *b, const char *name, int dtype, const char *dims) {
  Onnx__ValueInfoProto *v = gb_alloc(b, sizeof *v);
  onnx__value_info_proto__init(v);
  v->name = gb_str(b, name, strlen(name));
  if (!dtype) return v;
  Onnx__TypeProto *t = gb_alloc(b, sizeof *t);
  Onnx__TypeProto__Tensor *tt = gb_alloc(b, sizeof *tt);
  onnx__type_proto__init(t);
  onnx__type_proto__tensor__init(tt);
  t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  t->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = dtype;
  v->type = t;
  if (!dims) return v;
  char *names[16];
  int n = gb_split(b, dims, names);
  Onnx__TensorShapeProto *sp = gb_alloc(b, sizeof *sp);
  onnx__tensor_shape_proto__init(sp);
  sp->dim = gb_alloc(b, (size_t)(n + 1) * sizeof *sp->dim);
  for (int i = 0; i < n; i++) {
    Onnx__TensorShapeProto__Dimension *d = gb_alloc(b, sizeof *d);
    onnx__tensor_shape_proto__dimension__init(d);
    if (names[i][0] >= '0' && names[i][0] <= '9') {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = atoll(names[i]);
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = names[i];
    }
    sp->dim[sp->n_dim++] = d;
  }
  tt->shape = sp;
  return v;
}

static void gb_input(gb *b, const char *name, int dtype, const char *dims) {
  b->ins[b->g.n_input++] = gb_value(b, name, dtype, dims);
}

static void gb_output(gb *b, const char *name, int dtype, const char *dims) {
  b->outs[b->g.n_output++] = gb_value(b, name, dtype, dims);
}

static void gb_info(gb *b, const char *name, int dtype, const char *dims) {
  b->infos[b->g.n_value_info++] = gb_value(b, name, dtype, dims);
}

/* An int64 initializer: rank 0 when n < 0 (one value), else [n]. */
static void gb_ints(gb *b, const char *name, int n, const int64_t *v) {
  Onnx__TensorProto *t = gb_alloc(b, sizeof *t);
  onnx__tensor_proto__init(t);
  t->name = gb_str(b, name, strlen(name));
  t->has_data_type = 1;
  t->data_type = FERRY_I64;
  if (n >= 0) {
    t->n_dims = 1;
    t->dims = gb_alloc(b, sizeof *t->dims);
    t->dims[0] = n;
  }
  t->n_int64_data = n < 0 ? 1 : (size_t)n;
  t->int64_data = gb_alloc(b, (t->n_int64_data + 1) * sizeof *t->int64_data);
  memcpy(t->int64_data, v, t->n_int64_data * sizeof *v);
  b->inits[b->g.n_initializer++] = t;
}

static Onnx__NodeProto *gb_node(gb *b, const char *op, const char *ins, const char *outs) {
  Onnx__NodeProto *n = gb_alloc(b, sizeof *n);
  onnx__node_proto__init(n);
  n->op_type = gb_str(b, op, strlen(op));
  n->input = gb_alloc(b, 16 * sizeof *n->input);
  n->output = gb_alloc(b, 16 * sizeof *n->output);
  n->n_input = (size_t)gb_split(b, ins, n->input);
  n->n_output = (size_t)gb_split(b, outs, n->output);
  n->name = n->output[0];
  n->attribute = gb_alloc(b, 8 * sizeof *n->attribute);
  b->nodes[b->g.n_node++] = n;
  return n;
}

static void gb_attr_ints(gb *b, Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v) {
  Onnx__AttributeProto *a = gb_alloc(b, sizeof *a);
  onnx__attribute_proto__init(a);
  a->name = gb_str(b, name, strlen(name));
  a->has_type = 1;
  if (cnt < 0) {
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v[0];
  } else {
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)cnt;
    a->ints = gb_alloc(b, (size_t)(cnt + 1) * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)cnt * sizeof *v);
  }
  n->attribute[n->n_attribute++] = a;
}

/* Packs the graph into a model (opset 13) and imports it. */
static ferry_model *gb_model(gb *b, ferry_err *err) {
  Onnx__ModelProto mp;
  Onnx__OperatorSetIdProto op, *ops[1] = {&op};
  onnx__model_proto__init(&mp);
  onnx__operator_set_id_proto__init(&op);
  op.has_version = 1;
  op.version = 13;
  mp.has_ir_version = 1;
  mp.ir_version = 8;
  mp.n_opset_import = 1;
  mp.opset_import = ops;
  Onnx__GraphProto counts = b->g;
  onnx__graph_proto__init(&b->g);
  b->g.n_node = counts.n_node;
  b->g.n_initializer = counts.n_initializer;
  b->g.n_input = counts.n_input;
  b->g.n_output = counts.n_output;
  b->g.n_value_info = counts.n_value_info;
  b->g.name = "g";
  b->g.node = b->nodes;
  b->g.initializer = b->inits;
  b->g.input = b->ins;
  b->g.output = b->outs;
  b->g.value_info = b->infos;
  mp.graph = &b->g;
  size_t len = onnx__model_proto__get_packed_size(&mp);
  uint8_t *buf = gb_alloc(b, len + 1);
  onnx__model_proto__pack(&mp, buf);
  return ferry_onnx_load_buffer(buf, len, "crafted.onnx", err);
}

static void gb_free(gb *b) {
  for (int i = 0; i < b->n_mem; i++) free(b->mem[i]);
}

/* Imports and infers b's model; the caller frees both. */
static ferry_model *gb_infer(gb *b) {
  ferry_err err = {0};
  ferry_model *m = gb_model(b, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "%s", err.msg);
  return m;
}

#define V(m, name) (&value_named((m)->graph, name)->type)

START_TEST(test_symbolic_division_cancels) {
  ferry_dimctx *dc = ferry_dimctx_new();
  ferry_symdims *sd = ferry_symdims_new(dc);
  const ferry_dimops *D = ferry_symdims_ops(sd);
  void *c = D->ctx;
  ferry_sdim b = FERRY_SDIM(ferry_dim_sym(dc, "b")), s = FERRY_SDIM(ferry_dim_sym(dc, "s"));
  ferry_sdim bs = D->mul(c, b, s), num = D->mul(c, bs, D->konst(c, 768));
  ferry_sdim den = D->mul(c, D->mul(c, D->konst(c, 12), b), s); /* another order */
  char buf[64];
  int64_t v;
  ck_assert(D->is_const(c, D->div(c, num, den), &v) && v == 64);
  ck_assert(D->div(c, bs, s) == b);
  ck_assert(D->div(c, D->add(c, b, b), b) == D->konst(c, 2)); /* 2*b: a multiple of b */
  ferry_dim_str(FERRY_DIM(D->div(c, D->add(c, b, D->konst(c, 1)), b)), buf, sizeof buf);
  ck_assert_str_eq(buf, "(b + 1) / b"); /* no exact quotient: stays a division */
  ck_assert(!ferry_symdims_oom(sd));
  ferry_symdims_free(sd);
  ferry_dimctx_free(dc);
}
END_TEST

START_TEST(test_reshape_zero_and_minus_one) {
  gb b = {0};
  static const int64_t t1[] = {0, 0, 12, -1}, t2[] = {-1, 768}, twelve[] = {12}, minus1[] = {-1};
  static const int64_t zero[] = {0}, one[] = {1};
  gb_input(&b, "x", FERRY_F32, "batch,sequence,768");
  gb_ints(&b, "t1", 4, t1);
  gb_ints(&b, "t2", 2, t2);
  gb_ints(&b, "twelve", 1, twelve);
  gb_ints(&b, "minus1", 1, minus1);
  gb_ints(&b, "zero", -1, zero);
  gb_ints(&b, "one", -1, one);
  gb_ints(&b, "axes0", 1, zero);
  gb_node(&b, "Reshape", "x,t1", "heads");               /* [batch, sequence, 12, 64] */
  gb_node(&b, "Reshape", "x,t2", "rows");                /* [batch*sequence, 768] */
  gb_node(&b, "Shape", "x", "s");
  gb_node(&b, "Gather", "s,zero", "bdim");
  gb_node(&b, "Gather", "s,one", "sdim");
  gb_node(&b, "Unsqueeze", "bdim,axes0", "b1");
  gb_node(&b, "Unsqueeze", "sdim,axes0", "s1");
  gb_node(&b, "Concat", "b1,s1,twelve,minus1", "target");
  gb_attr_ints(&b, b.nodes[b.g.n_node - 1], "axis", -1, zero);
  gb_node(&b, "Reshape", "rows,target", "back");         /* -1 = 768*b*s / (12*b*s) */
  gb_node(&b, "Flatten", "back", "flat");
  gb_attr_ints(&b, b.nodes[b.g.n_node - 1], "axis", -1, (const int64_t[]){3});
  gb_output(&b, "heads", 0, NULL);
  gb_output(&b, "back", 0, NULL);
  gb_output(&b, "flat", 0, NULL);
  ferry_model *m = gb_infer(&b);
  ck_assert_shape(V(m, "heads"), "[batch, sequence, 12, 64]");
  ck_assert_shape(V(m, "rows"), "[batch*sequence, 768]");
  ck_assert_shape(V(m, "target"), "[4]");
  ck_assert_shape(V(m, "back"), "[batch, sequence, 12, 64]");
  ck_assert_shape(V(m, "flat"), "[12*batch*sequence, 64]");
  ferry_model_free(m);
  gb_free(&b);
}
END_TEST

START_TEST(test_shape_arithmetic) {
  gb b = {0};
  static const int64_t one[] = {1}, two[] = {2}, zero[] = {0}, big[] = {INT64_MAX}, m1[] = {-1};
  gb_input(&b, "x", FERRY_F32, "batch,sequence");
  gb_ints(&b, "one", -1, one);
  gb_ints(&b, "two", -1, two);
  gb_ints(&b, "zero", -1, zero);
  gb_ints(&b, "axes0", 1, zero);
  gb_ints(&b, "starts", 1, one);
  gb_ints(&b, "ends", 1, big);
  gb_ints(&b, "ends_m1", 1, m1);
  gb_ints(&b, "axes1", 1, one);
  gb_node(&b, "Shape", "x", "s");
  gb_node(&b, "Gather", "s,one", "seq");
  gb_node(&b, "Mul", "seq,two", "seq2");
  gb_node(&b, "Sub", "seq2,one", "len");                 /* 2*sequence - 1 */
  gb_node(&b, "Unsqueeze", "len,axes0", "len1");
  gb_node(&b, "ConstantOfShape", "len1", "filled");
  gb_node(&b, "Range", "zero,seq,one", "pos");           /* [sequence] */
  gb_node(&b, "Slice", "x,starts,ends,axes1", "tail");   /* [batch, sequence - 1] */
  gb_node(&b, "Slice", "x,starts,ends_m1,axes1", "mid"); /* [batch, sequence - 2] */
  gb_node(&b, "Expand", "one,s", "ones");                /* [batch, sequence] */
  gb_node(&b, "Equal", "s,ends_m1", "eq");               /* dims are never -1 */
  gb_node(&b, "Where", "eq,one,s", "fixed");
  gb_node(&b, "Div", "seq2,two", "half");
  gb_node(&b, "Unsqueeze", "half,axes0", "half1");
  gb_node(&b, "Concat", "half1,fixed", "three");
  gb_attr_ints(&b, b.nodes[b.g.n_node - 1], "axis", -1, zero);
  gb_node(&b, "ConstantOfShape", "three", "cube");       /* [sequence, batch, sequence] */
  gb_output(&b, "filled", 0, NULL);
  gb_output(&b, "pos", 0, NULL);
  gb_output(&b, "tail", 0, NULL);
  gb_output(&b, "mid", 0, NULL);
  gb_output(&b, "ones", 0, NULL);
  gb_output(&b, "cube", 0, NULL);
  ferry_model *m = gb_infer(&b);
  ck_assert_shape(V(m, "filled"), "[2*sequence - 1]");
  ck_assert_int_eq(V(m, "filled")->dtype, FERRY_F32);
  ck_assert_shape(V(m, "pos"), "[sequence]");
  ck_assert_int_eq(V(m, "pos")->dtype, FERRY_I64);
  ck_assert_shape(V(m, "tail"), "[batch, sequence - 1]");
  ck_assert_shape(V(m, "mid"), "[batch, sequence - 2]");
  ck_assert_shape(V(m, "ones"), "[batch, sequence]");
  ck_assert_shape(V(m, "cube"), "[sequence, batch, sequence]");
  ferry_model_free(m);
  gb_free(&b);
}
END_TEST

START_TEST(test_declared_conflict_names_node) {
  gb b = {0};
  static const int64_t t[] = {0, 0, 12, -1};
  gb_input(&b, "x", FERRY_F32, "batch,sequence,768");
  gb_ints(&b, "t", 4, t);
  gb_node(&b, "Reshape", "x,t", "y");
  gb_output(&b, "y", FERRY_F32, "batch,sequence,5,64");
  ferry_err err = {0};
  ferry_model *m = gb_model(&b, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  ck_assert_int_eq(ferry_infer_shapes(m, NULL, 0, &err), FERRY_E_INPUT);
  ck_assert_str_eq(err.msg, "crafted.onnx: node 'y' (Reshape): dim 2 is declared 5, inferred 12");
  ferry_model_free(m);
  gb_free(&b);
}
END_TEST

START_TEST(test_declared_shape_kept_when_more_precise) {
  gb b = {0};
  gb_input(&b, "x", FERRY_F32, "batch,3");
  gb_input(&b, "k", FERRY_I64, "1");
  gb_node(&b, "Tile", "x,k", "y");  /* repeats unknown: y's dims unknown */
  gb_node(&b, "Unknown", "y", "z"); /* no rule: z keeps its declaration */
  gb_info(&b, "y", FERRY_F32, "batch,6");
  gb_output(&b, "z", FERRY_F32, "7");
  ferry_err err = {0};
  ferry_model *m = gb_model(&b, &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  ferry_infer_info info;
  ck_assert_msg(ferry_infer_shapes_info(m, NULL, 0, &info, &err) == 0, "%s", err.msg);
  ck_assert_shape(V(m, "y"), "[batch, 6]");
  ck_assert_shape(V(m, "z"), "[7]");
  ck_assert_int_eq(info.unknown, 1);
  ck_assert_str_eq(info.unknown_ops, "Unknown");
  ferry_model_free(m);
  gb_free(&b);
}
END_TEST

/* ---- real models ---- */

static int only_batch_sequence(void *u, const char *name, int64_t *v) {
  (void)u;
  *v = 3;
  return strcmp(name, "batch") == 0 || strcmp(name, "sequence") == 0 ? 0 : -1;
}

/* Every value of g: a tensor of known rank whose dims use only batch and
 * sequence (so no unk__ symbol is left). */
static void check_all_in_batch_sequence(const ferry_graph *g) {
  for (int i = 0; i < g->n_values; i++) {
    const ferry_value *v = &g->values[i];
    ck_assert_msg(v->type.kind == FERRY_V_TENSOR && v->type.dtype, "%s: no tensor type", v->name);
    ck_assert_msg(v->type.rank >= 0, "%s: rank unknown", v->name);
    for (int k = 0; k < v->type.rank; k++) {
      int64_t x;
      ck_assert_msg(ferry_dim_eval(v->type.shape[k], only_batch_sequence, NULL, &x) == 0,
                    "%s: %s is not in terms of batch and sequence", v->name, shape_str(&v->type));
    }
  }
}

static void check_transformer(const char *file, const char *out, const char *want) {
  ferry_model *m = load_inferred(tu_model(file), NULL, 0);
  ferry_err err = {0};
  check_all_in_batch_sequence(m->graph);
  ck_assert_shape(&value_named(m->graph, out)->type, want);
  /* inferring again finds the same types (now declared): no conflict */
  ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "%s", err.msg);
  check_all_in_batch_sequence(m->graph);
  ck_assert_shape(&value_named(m->graph, out)->type, want);
  ferry_model_free(m);
}

START_TEST(test_bert_all_symbolic) {
  check_transformer("bert_tiny_op13.onnx", "last_hidden_state", "[batch, sequence, 64]");
  check_transformer("bert_tiny_op17.onnx", "last_hidden_state", "[batch, sequence, 64]");
}
END_TEST

START_TEST(test_gpt_all_symbolic) {
  static const char *files[] = {"gpt_tiny_op13.onnx", "gpt_tiny_op17.onnx"};
  for (int f = 0; f < 2; f++) {
    check_transformer(files[f], "logits", "[batch, sequence, 256]");
    ferry_model *m = load_inferred(tu_model(files[f]), NULL, 0);
    const ferry_type *mask = &value_named(m->graph, "/blocks.0/Slice_1_output_0")->type;
    ck_assert_int_eq(mask->dtype, FERRY_BOOL);
    ck_assert_shape(mask, "[1, 1, sequence, sequence]");
    ferry_model_free(m);
  }
}
END_TEST

START_TEST(test_fix_dim_batch) {
  ferry_dimbinding fix = {"batch", 2};
  ferry_model *m = load_inferred(tu_model("bert_tiny_op13.onnx"), &fix, 1);
  ck_assert_shape(&value_named(m->graph, "last_hidden_state")->type, "[2, sequence, 64]");
  ck_assert_shape(&value_named(m->graph, "input_ids")->type, "[2, sequence]");
  ferry_model_free(m);
  m = load_inferred(tu_model("gpt_tiny_op17.onnx"), &fix, 1);
  ck_assert_shape(&value_named(m->graph, "logits")->type, "[2, sequence, 256]");
  ferry_model_free(m);

  char args[4200], *out = NULL, *err = NULL;
  snprintf(args, sizeof args, "inspect --json --shapes --fix-dim batch=2 '%s'", tu_model("bert_tiny_op13.onnx"));
  ck_assert_int_eq(tu_run(args, &out, &err), 0);
  ck_assert_msg(strstr(out, "{\"name\": \"last_hidden_state\", \"dtype\": \"float32\", \"shape\": [2, \"sequence\", 64]"),
                "%s", out);
  free(out);
  free(err);
  snprintf(args, sizeof args, "inspect --fix-dim batch=2 '%s'", tu_model("bert_tiny_op13.onnx"));
  ck_assert_int_eq(tu_run(args, &out, &err), 0); /* without --shapes: inputs bound */
  ck_assert_msg(strstr(out, "[2, sequence]") != NULL, "%s", out);
  free(out);
  free(err);
  snprintf(args, sizeof args, "inspect --fix-dim nosuch=2 '%s'", tu_model("bert_tiny_op13.onnx"));
  ck_assert_int_eq(tu_run(args, &out, &err), 2);
  ck_assert_msg(strstr(err, "no dimension is named 'nosuch'") != NULL, "%s", err);
  free(out);
  free(err);
}
END_TEST

START_TEST(test_text_report_lists_values) {
  char args[4200], *out = NULL, *err = NULL;
  snprintf(args, sizeof args, "inspect --shapes '%s'", tu_model("bert_tiny_op13.onnx"));
  ck_assert_int_eq(tu_run(args, &out, &err), 0);
  ck_assert_msg(strstr(out, "\nvalues\n") != NULL, "%s", out);
  ck_assert_msg(strstr(out, "  last_hidden_state  float32  [batch, sequence, 64]  <- Add /layers.1/out_norm/Add_1\n"),
                "%s", out);
  free(out);
  free(err);
}
END_TEST

START_TEST(test_resnet18_concrete) {
  ferry_model *m = load_inferred(tu_model("resnet18.onnx"), NULL, 0);
  const ferry_graph *g = m->graph;
  for (int i = 0; i < g->n_values; i++)
    ck_assert_msg(ferry_type_numel(&g->values[i].type) > 0, "%s: %s", g->values[i].name,
                  shape_str(&g->values[i].type));
  ck_assert_shape(&value_named(g, "output")->type, "[1, 1000]");
  ferry_model_free(m);
}
END_TEST

/* Inference succeeds and every graph output has a known rank. */
static void check_outputs_ranked(const char *file) {
  ferry_model *m = load_inferred(tu_model(file), NULL, 0);
  for (int i = 0; i < m->graph->n_outputs; i++) {
    const ferry_value *v = &m->graph->values[m->graph->outputs[i]];
    ck_assert_msg(v->type.kind == FERRY_V_TENSOR && v->type.rank >= 0, "%s: %s", file, v->name);
  }
  ferry_model_free(m);
}

START_TEST(test_paddleocr_silero) {
  check_outputs_ranked("npm/ch_PP-OCRv4_det_infer.onnx");
  check_outputs_ranked("npm/ch_PP-OCRv4_rec_infer.onnx");
  check_outputs_ranked("npm/silero_vad_v5.onnx");
  check_outputs_ranked("npm/silero_vad_legacy.onnx");
  ferry_model *m = load_inferred(tu_model("npm/ch_PP-OCRv4_rec_infer.onnx"), NULL, 0);
  const ferry_type *t = &m->graph->values[m->graph->outputs[0]].type;
  ck_assert_int_eq(t->rank, 3);
  int64_t classes;
  ck_assert(ferry_dim_is_const(t->shape[2], &classes) && classes == 6625);
  ferry_model_free(m);
}
END_TEST

static Suite *shapes_suite(void) {
  Suite *s = suite_create("shapes");
  TCase *c = tcase_create("registry");
  tcase_add_test(c, test_registry_sorted_and_findable);
  tcase_add_test(c, test_docs_ops_md_current);
  suite_add_tcase(s, c);
  c = tcase_create("conformance");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_node_tests_shapes_match);
  suite_add_tcase(s, c);
  c = tcase_create("algebra");
  tcase_add_test(c, test_symbolic_division_cancels);
  tcase_add_test(c, test_reshape_zero_and_minus_one);
  tcase_add_test(c, test_shape_arithmetic);
  tcase_add_test(c, test_declared_conflict_names_node);
  tcase_add_test(c, test_declared_shape_kept_when_more_precise);
  suite_add_tcase(s, c);
  c = tcase_create("real");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_bert_all_symbolic);
  tcase_add_test(c, test_gpt_all_symbolic);
  tcase_add_test(c, test_fix_dim_batch);
  tcase_add_test(c, test_text_report_lists_values);
  tcase_add_test(c, test_resnet18_concrete);
  tcase_add_test(c, test_paddleocr_silero);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(shapes_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
