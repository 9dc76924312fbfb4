/*
 * check_passes.c - the optimizer passes (convert/passes.h), one by one.
 *
 *   rewrite   the editing session: replace through subgraph captures and
 *             graph outputs, prune, compaction of producers;
 *   cleanup   dead-code, identity, if-const on crafted graphs;
 *   fold      fold-constants: every evaluator on crafted constants, shape
 *             chains, and what must stay (symbolic dims, overflow, size);
 *   fuse      conv-bn and conv-affine (weights checked against the
 *             formulas in C),
 *             fuse-activation, fuse-layernorm, fuse-gelu, fuse-attention,
 *             fuse-hardswish (both forms: HardSwish, HardSigmoid + Mul),
 *             each with cases that must not fuse;
 *   driver    the table, names, the report, fixed point;
 *   real      counts on real exports (BERT, GPT, ResNet, MobileNet, ...),
 *             and every ONNX backend-test model optimizes without error;
 *   ort       onnxruntime-node (tests/ort/compare.mjs) gives the same
 *             outputs for real models before and after optimization.
 *
 * Crafted models are built here as ONNX protobuf messages (protobuf-c),
 * packed and imported, so each case shows the graph it tests in a few
 * lines. Test data comes from make check's environment (testutil.h).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infer.h"
#include "ir.h"
#include "onnx.pb-c.h"
#include "onnx_export.h"
#include "passes.h"
#include "rewrite.h"
#include "testutil.h"

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

/* ---- a small arena for the messages a test builds ---- */

typedef struct block {
  struct block *next;
  _Alignas(16) unsigned char mem[];
} block;
static block *blocks;

static void *tb_alloc(size_t n) {
  block *b = calloc(1, sizeof *b + n);
  ck_assert_ptr_nonnull(b);
  b->next = blocks;
  blocks = b;
  return b->mem;
}

static void tb_free_all(void) {
  while (blocks) {
    block *n = blocks->next;
    free(blocks);
    blocks = n;
  }
}

static char *tb_str(const char *s) {
  char *d = tb_alloc(strlen(s) + 1);
  strcpy(d, s);
  return d;
}

/* Appends p to a protobuf-c repeated field (array, count). */
#define PUSH(arr, count, p)                                          \
  do {                                                               \
    void **na = tb_alloc(((count) + 1) * sizeof(void *));            \
    if (count) memcpy(na, (arr), (count) * sizeof(void *));          \
    na[(count)++] = (p);                                             \
    (arr) = (void *)na;                                              \
  } while (0)

/* ---- model builder ---- */

static Onnx__GraphProto *tb_graph(const char *name) {
  Onnx__GraphProto *g = tb_alloc(sizeof *g);
  *g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
  g->name = tb_str(name);
  return g;
}

/* A tensor type: rank -1 leaves the shape out; a dim < 0 is the symbol "N". */
static Onnx__TypeProto *tb_type(int dtype, int rank, const int64_t *dims) {
  Onnx__TypeProto *t = tb_alloc(sizeof *t);
  Onnx__TypeProto__Tensor *tt = tb_alloc(sizeof *tt);
  *t = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
  *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
  t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  t->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = dtype;
  if (rank < 0) return t;
  tt->shape = tb_alloc(sizeof *tt->shape);
  *tt->shape = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
  for (int i = 0; i < rank; i++) {
    Onnx__TensorShapeProto__Dimension *d = tb_alloc(sizeof *d);
    *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    if (dims[i] < 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = tb_str("N");
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    }
    PUSH(tt->shape->dim, tt->shape->n_dim, d);
  }
  return t;
}

static Onnx__ValueInfoProto *tb_vi(const char *name, Onnx__TypeProto *type) {
  Onnx__ValueInfoProto *v = tb_alloc(sizeof *v);
  *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
  v->name = tb_str(name);
  v->type = type;
  return v;
}

static void tb_input(Onnx__GraphProto *g, const char *name, int dtype, int rank, const int64_t *dims) {
  PUSH(g->input, g->n_input, tb_vi(name, tb_type(dtype, rank, dims)));
}

static void tb_output(Onnx__GraphProto *g, const char *name) {
  PUSH(g->output, g->n_output, tb_vi(name, NULL));
}

/* "a,b,,c" -> names (empty: omitted). */
static void tb_names(const char *list, char ***out, size_t *n) {
  *n = 0;
  if (!list) return;
  const char *p = list;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char *s = tb_alloc(len + 1);
    memcpy(s, p, len);
    PUSH(*out, *n, s);
    if (!e) break;
    p = e + 1;
  }
}

static Onnx__NodeProto *tb_node(Onnx__GraphProto *g, const char *op, const char *ins, const char *outs) {
  Onnx__NodeProto *n = tb_alloc(sizeof *n);
  *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
  n->op_type = tb_str(op);
  char nm[64];
  snprintf(nm, sizeof nm, "%s_%zu", op, g->n_node);
  n->name = tb_str(nm);
  tb_names(ins, &n->input, &n->n_input);
  tb_names(outs, &n->output, &n->n_output);
  PUSH(g->node, g->n_node, n);
  return n;
}

static Onnx__AttributeProto *tb_attr(Onnx__NodeProto *n, const char *name, int type) {
  Onnx__AttributeProto *a = tb_alloc(sizeof *a);
  *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
  a->name = tb_str(name);
  a->has_type = 1;
  a->type = type;
  PUSH(n->attribute, n->n_attribute, a);
  return a;
}

static void tb_attr_i(Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = v;
}

static void tb_attr_f(Onnx__NodeProto *n, const char *name, float v) {
  Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  a->has_f = 1;
  a->f = v;
}

static void tb_attr_ints(Onnx__NodeProto *n, const char *name, int count, const int64_t *v) {
  Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->ints = tb_alloc((size_t)count * sizeof *v + 1);
  memcpy(a->ints, v, (size_t)count * sizeof *v);
  a->n_ints = (size_t)count;
}

static void tb_attr_g(Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g) {
  tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = g;
}

static Onnx__TensorProto *tb_tensor(const char *name, int dtype, int rank, const int64_t *dims,
                                    const void *data, size_t elem) {
  Onnx__TensorProto *t = tb_alloc(sizeof *t);
  *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
  t->name = tb_str(name);
  t->has_data_type = 1;
  t->data_type = dtype;
  size_t numel = 1;
  t->dims = tb_alloc((size_t)rank * sizeof *dims + 1);
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i], numel *= (size_t)dims[i];
  t->n_dims = (size_t)rank;
  t->has_raw_data = 1;
  t->raw_data.len = numel * elem;
  t->raw_data.data = tb_alloc(numel * elem + 1);
  memcpy(t->raw_data.data, data, numel * elem);
  return t;
}

/* An initializer. */
static void tb_init(Onnx__GraphProto *g, const char *name, int dtype, int rank, const int64_t *dims,
                    const void *data) {
  size_t elem = dtype == FERRY_F32 || dtype == FERRY_I32 ? 4 : dtype == FERRY_BOOL ? 1 : 8;
  PUSH(g->initializer, g->n_initializer, tb_tensor(name, dtype, rank, dims, data, elem));
}

/* A Constant node making `out`. */
static void tb_const(Onnx__GraphProto *g, const char *out, int dtype, int rank, const int64_t *dims,
                     const void *data) {
  size_t elem = dtype == FERRY_F32 || dtype == FERRY_I32 ? 4 : dtype == FERRY_BOOL ? 1 : 8;
  Onnx__NodeProto *n = tb_node(g, "Constant", NULL, out);
  tb_attr(n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
      tb_tensor(out, dtype, rank, dims, data, elem);
}

static void tb_const_f(Onnx__GraphProto *g, const char *out, float v) { tb_const(g, out, FERRY_F32, 0, NULL, &v); }
static void tb_const_i(Onnx__GraphProto *g, const char *out, int64_t v) { tb_const(g, out, FERRY_I64, 0, NULL, &v); }

static void tb_const_ints(Onnx__GraphProto *g, const char *out, int count, const int64_t *v) {
  int64_t d = count;
  tb_const(g, out, FERRY_I64, 1, &d, v);
}

/* When set, tb_load also writes the packed model there (for onnxruntime). */
static const char *tb_save_to;

/* Packs graph g into a model importing ONNX at `opset` and loads it. */
static ferry_model *tb_load(Onnx__GraphProto *g, int opset) {
  Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
  Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__OperatorSetIdProto *ops[1] = {&op};
  op.domain = tb_str("");
  op.has_version = 1;
  op.version = opset;
  mp.has_ir_version = 1;
  mp.ir_version = 8;
  mp.graph = g;
  mp.n_opset_import = 1;
  mp.opset_import = ops;
  size_t len = onnx__model_proto__get_packed_size(&mp);
  uint8_t *buf = malloc(len + 1);
  ck_assert_ptr_nonnull(buf);
  onnx__model_proto__pack(&mp, buf);
  if (tb_save_to) ck_assert_int_eq(tu_write(tb_save_to, buf, len), 0);
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load_buffer(buf, len, NULL, &err);
  free(buf);
  tb_free_all();
  ck_assert_msg(m != NULL, "crafted model: %s", err.msg);
  return m;
}

/* ---- running passes and looking at the result ---- */

static int run_pass(ferry_model *m, const char *name) {
  ferry_err err = {0};
  int rewrites = -1;
  int rc = ferry_run_pass(m, name, &rewrites, &err);
  ck_assert_msg(rc == 0, "%s: %s", name, err.msg);
  return rewrites;
}

static int count_op(const ferry_graph *g, const char *op) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (strcmp(g->nodes[i].op, op) == 0) c++;
    for (int a = 0; a < g->nodes[i].n_attrs; a++) {
      const ferry_attr *at = &g->nodes[i].attrs[a];
      if (at->type == FERRY_A_GRAPH) c += count_op(at->g, op);
      if (at->type == FERRY_A_GRAPHS)
        for (int k = 0; k < at->n; k++) c += count_op(at->graphs[k], op);
    }
  }
  return c;
}

static const ferry_node *find_op(const ferry_graph *g, const char *op) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].op, op) == 0) return &g->nodes[i];
  return NULL;
}

static int value(const ferry_graph *g, const char *name) {
  int v = ferry_graph_find(g, name);
  ck_assert_msg(v >= 0, "no value %s", name);
  return v;
}

/* The node writing graph output k. */
static const ferry_node *output_producer(const ferry_graph *g, int k) {
  int p = g->values[g->outputs[k]].producer;
  return p >= 0 ? &g->nodes[p] : NULL;
}

/* Checks every producer index and every node input of g (and below). */
static void check_consistent(const ferry_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0)
        ck_assert_msg(g->values[n->outputs[k]].producer == i, "%s: producer of %s is %d, not %d", n->op,
                      g->values[n->outputs[k]].name, g->values[n->outputs[k]].producer, i);
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v < 0) continue;
      const ferry_value *x = &g->values[v];
      ck_assert_msg(x->producer < i || x->producer == -1, "%s reads %s before it is made", n->op, x->name);
      ck_assert_msg(x->producer >= 0 || x->data || x->outer >= 0 || (x->flags & FERRY_VAL_INPUT),
                    "%s reads %s, which nothing defines", n->op, x->name);
    }
    for (int a = 0; a < n->n_attrs; a++)
      if (n->attrs[a].type == FERRY_A_GRAPH) {
        ck_assert_ptr_eq(n->attrs[a].g->parent, g);
        check_consistent(n->attrs[a].g);
      }
  }
  for (int k = 0; k < g->n_outputs; k++) {
    const ferry_value *x = &g->values[g->outputs[k]];
    ck_assert_msg(x->producer >= 0 || x->data || x->outer >= 0 || (x->flags & FERRY_VAL_INPUT),
                  "output %s has no source", x->name);
  }
}

static const int64_t d2[1] = {2}, d4[1] = {4};

/* ---- rewrite session ---- */

START_TEST(test_replace_reaches_subgraph_captures) {
  /* main: a = Relu(x); b = Neg(x); If(c) then { y = Identity(a) } */
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "c", FERRY_BOOL, 0, NULL);
  tb_node(g, "Relu", "x", "a");
  tb_node(g, "Neg", "x", "b");
  tb_node(t, "Identity", "a", "ty");
  tb_output(t, "ty");
  tb_node(e, "Identity", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_output(g, "y");
  tb_output(g, "b");
  ferry_model *m = tb_load(g, 13);
  ferry_err err = {0};
  ferry_rw rw;
  ck_assert_int_eq(ferry_rw_begin(&rw, m->graph, &err), 0);
  int a = value(m->graph, "a"), b = value(m->graph, "b");
  ck_assert_int_eq(ferry_rw_uses(&rw, a), 1); /* the capture */
  bool done;
  ck_assert_int_eq(ferry_rw_replace(&rw, a, b, &done), 0);
  ck_assert(done);
  ck_assert_int_eq(ferry_rw_uses(&rw, a), 0);
  ck_assert_int_eq(ferry_rw_uses(&rw, b), 2); /* graph output + capture */
  ferry_rw_prune(&rw, m->graph->values[a].producer);
  ck_assert_int_eq(ferry_rw_end(&rw), 0);
  ck_assert_int_eq(m->graph->n_nodes, 2);
  const ferry_graph *then = find_op(m->graph, "If")->attrs[0].g;
  const ferry_node *id = &then->nodes[0];
  ck_assert_str_eq(then->values[id->inputs[0]].name, "b");
  ck_assert_int_eq(then->values[id->inputs[0]].outer, b);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_replace_graph_output_renames_or_refuses) {
  /* y = Relu(x); out = Identity(y) (graph output); z = Identity(x) (graph output) */
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_node(g, "Relu", "x", "y");
  tb_node(g, "Identity", "y", "out");
  tb_node(g, "Identity", "x", "z");
  tb_output(g, "out");
  tb_output(g, "z");
  ferry_model *m = tb_load(g, 13);
  ferry_err err = {0};
  ferry_rw rw;
  ferry_rw_begin(&rw, m->graph, &err);
  bool done;
  int out = value(m->graph, "out"), y = value(m->graph, "y"), z = value(m->graph, "z"), x = value(m->graph, "x");
  ck_assert_int_eq(ferry_rw_replace(&rw, z, x, &done), 0);
  ck_assert(!done); /* a graph input cannot take an output's name */
  ck_assert_int_eq(ferry_rw_replace(&rw, out, y, &done), 0);
  ck_assert(done);
  ck_assert_int_eq(m->graph->values[out].producer, 0); /* Relu writes "out" now */
  ferry_rw_remove(&rw, 1);
  ferry_rw_end(&rw);
  ck_assert_int_eq(m->graph->n_nodes, 2);
  ck_assert_str_eq(m->graph->values[m->graph->outputs[0]].name, "out");
  ck_assert_str_eq(output_producer(m->graph, 0)->op, "Relu");
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

/* ---- dead-code ---- */

START_TEST(test_dead_code_removes_chains_and_weights) {
  static const float w[4] = {1, 2, 3, 4};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_init(g, "w", FERRY_F32, 1, d4, w);
  tb_node(g, "Add", "x,w", "a");
  tb_node(g, "Relu", "a", "b"); /* a -> b: nothing reads b */
  tb_node(g, "Neg", "x", "y");
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "dead-code"), 2);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  ck_assert_ptr_null(m->graph->values[value(m->graph, "w")].data); /* unread weight dropped */
  ck_assert_int_eq(run_pass(m, "dead-code"), 0);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_dead_code_keeps_captured_values) {
  /* t = Relu(x) is read only inside the If's then-branch */
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "c", FERRY_BOOL, 0, NULL);
  tb_node(g, "Relu", "x", "t");
  tb_node(g, "Neg", "x", "unused");
  tb_node(t, "Identity", "t", "ty");
  tb_output(t, "ty");
  tb_node(e, "Identity", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "dead-code"), 1);
  ck_assert_int_eq(count_op(m->graph, "Relu"), 1);
  ck_assert_int_eq(count_op(m->graph, "Neg"), 0);
  ck_assert_int_eq(m->graph->n_nodes, 2);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_dead_code_drops_unused_if_and_its_branches) {
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "c", FERRY_BOOL, 0, NULL);
  tb_node(g, "Relu", "x", "t");
  tb_node(t, "Neg", "t", "ty");
  tb_output(t, "ty");
  tb_node(e, "Identity", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "unused");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_node(g, "Abs", "x", "y");
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "dead-code"), 2); /* If, then Relu only it captured */
  ck_assert_int_eq(ferry_graph_node_count(m->graph), 1);
  check_consistent(m->graph);
  ferry_model_free(m); /* ASan: the branches' arrays were freed */
}
END_TEST

/* ---- identity ---- */

START_TEST(test_identity_bypassed) {
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_node(g, "Identity", "x", "a");
  tb_node(g, "Relu", "a", "b");
  tb_node(g, "Identity", "b", "out"); /* a graph output: Relu takes its name */
  tb_output(g, "out");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "identity"), 2);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  ck_assert_str_eq(m->graph->nodes[0].op, "Relu");
  ck_assert_int_eq(m->graph->nodes[0].inputs[0], value(m->graph, "x"));
  ck_assert_str_eq(m->graph->values[m->graph->outputs[0]].name, "out");
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_identity_of_input_to_output_kept) {
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_node(g, "Identity", "x", "out");
  tb_output(g, "out");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "identity"), 0);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_identity_dropout_forms) {
  /* opset 13: no training_mode; training_mode false; training_mode true; mask used */
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "flag", FERRY_BOOL, 0, NULL);
  static const uint8_t no = 0, yes = 1;
  tb_const(g, "f", FERRY_BOOL, 0, NULL, &no);
  tb_const(g, "t", FERRY_BOOL, 0, NULL, &yes);
  tb_node(g, "Dropout", "x", "a");
  tb_node(g, "Dropout", "a,,f", "b,mask_b");
  tb_node(g, "Dropout", "b,,t", "c");
  tb_node(g, "Dropout", "c,,flag", "d");
  tb_node(g, "Dropout", "d", "e,mask_e");
  tb_node(g, "Relu", "e", "y");
  tb_output(g, "y");
  tb_output(g, "mask_e");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "identity"), 2);
  ck_assert_int_eq(count_op(m->graph, "Dropout"), 3);
  ferry_model_free(m);

  g = tb_graph("old"); /* opset 6: is_test decides */
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_attr_i(tb_node(g, "Dropout", "x", "a"), "is_test", 1);
  tb_node(g, "Dropout", "a", "b");
  tb_output(g, "b");
  m = tb_load(g, 6);
  ck_assert_int_eq(run_pass(m, "identity"), 1);
  ck_assert_int_eq(count_op(m->graph, "Dropout"), 1);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_identity_cast_to_same_type) {
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_attr_i(tb_node(g, "Cast", "x", "a"), "to", FERRY_F32);   /* same: goes */
  tb_attr_i(tb_node(g, "Cast", "a", "b"), "to", FERRY_I64);   /* another type: stays */
  tb_node(g, "Neg", "b", "c");
  tb_attr_i(tb_node(g, "Cast", "c", "d"), "to", FERRY_I64);   /* c's type unknown: stays */
  tb_output(g, "d");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "identity"), 1);
  ck_assert_int_eq(count_op(m->graph, "Cast"), 2);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

/* ---- if-const ---- */

/* main: c = Constant(cond); If(c) then { ty = Add(x, k) } else { ey = Neg(x) } -> y */
static ferry_model *if_model(uint8_t cond, bool out_is_capture) {
  static const float k[1] = {2};
  static const int64_t d1[1] = {1};
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_const(g, "c", FERRY_BOOL, 0, NULL, &cond);
  tb_init(t, "k", FERRY_F32, 1, d1, k);
  tb_node(t, "Add", "x,k", "ty");
  tb_output(t, out_is_capture ? "x" : "ty");
  tb_node(e, "Neg", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_node(g, "Relu", "y", "r");
  tb_output(g, "y");
  tb_output(g, "r");
  return tb_load(g, 13);
}

START_TEST(test_if_const_inlines_taken_branch) {
  ferry_model *m = if_model(1, false);
  ck_assert_int_eq(run_pass(m, "if-const"), 1);
  ck_assert_int_eq(count_op(m->graph, "If"), 0);
  const ferry_node *add = find_op(m->graph, "Add");
  ck_assert_ptr_nonnull(add);
  ck_assert_str_eq(m->graph->values[add->outputs[0]].name, "y"); /* writes the If's output */
  ck_assert_ptr_nonnull(m->graph->values[add->inputs[1]].data);  /* the branch weight came along */
  ck_assert_str_eq(output_producer(m->graph, 0)->op, "Add");
  check_consistent(m->graph);
  ferry_model_free(m);

  m = if_model(0, false);
  ck_assert_int_eq(run_pass(m, "if-const"), 1);
  ck_assert_str_eq(output_producer(m->graph, 0)->op, "Neg");
  ck_assert_int_eq(count_op(m->graph, "Add"), 0);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_if_const_branch_returning_outer_value) {
  /* then-branch output is x itself: y (a graph output) becomes Identity(x) */
  ferry_model *m = if_model(1, true);
  ck_assert_int_eq(run_pass(m, "if-const"), 1);
  ck_assert_int_eq(count_op(m->graph, "If"), 0);
  ck_assert_str_eq(output_producer(m->graph, 0)->op, "Identity");
  ck_assert_str_eq(m->graph->values[m->graph->outputs[0]].name, "y");
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_if_const_moves_nested_subgraphs) {
  /* then { u = Neg(x); If(c2) { v = Abs(u) } else { w = Relu(u) } -> ty } */
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  Onnx__GraphProto *t2 = tb_graph("then2"), *e2 = tb_graph("else2");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "c2", FERRY_BOOL, 0, NULL);
  static const uint8_t yes = 1;
  tb_const(g, "c", FERRY_BOOL, 0, NULL, &yes);
  tb_node(t, "Neg", "x", "u");
  tb_node(t2, "Abs", "u", "v");
  tb_output(t2, "v");
  tb_node(e2, "Relu", "u", "w");
  tb_output(e2, "w");
  Onnx__NodeProto *inner = tb_node(t, "If", "c2", "ty");
  tb_attr_g(inner, "then_branch", t2);
  tb_attr_g(inner, "else_branch", e2);
  tb_output(t, "ty");
  tb_node(e, "Identity", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "if-const"), 1);
  ck_assert_int_eq(count_op(m->graph, "If"), 1);
  const ferry_node *nested = find_op(m->graph, "If");
  const ferry_graph *b = nested->attrs[0].g;
  ck_assert_ptr_eq(b->parent, m->graph);
  int u = b->nodes[0].inputs[0];
  ck_assert_int_eq(b->values[u].outer, value(m->graph, "u"));
  ck_assert_str_eq(m->graph->values[nested->outputs[0]].name, "y");
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_if_const_renames_taken_names) {
  /* the then-branch defines "u", which the main graph has too */
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  static const uint8_t yes = 1;
  tb_const(g, "c", FERRY_BOOL, 0, NULL, &yes);
  tb_node(g, "Abs", "x", "u");
  tb_node(t, "Neg", "x", "u");
  tb_node(t, "Relu", "u", "ty");
  tb_output(t, "ty");
  tb_node(e, "Identity", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_node(g, "Add", "y,u", "z");
  tb_output(g, "z");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "if-const"), 1);
  const ferry_node *neg = find_op(m->graph, "Neg");
  ck_assert_str_eq(m->graph->values[neg->outputs[0]].name, "u_1");
  ck_assert_int_eq(find_op(m->graph, "Add")->inputs[1], value(m->graph, "u")); /* still the Abs */
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_if_non_constant_kept) {
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "x", FERRY_F32, 1, d4);
  tb_input(g, "c", FERRY_BOOL, 0, NULL);
  tb_node(t, "Neg", "x", "ty");
  tb_output(t, "ty");
  tb_node(e, "Abs", "x", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "if-const"), 0);
  ck_assert_int_eq(count_op(m->graph, "If"), 1);
  ferry_model_free(m);
}
END_TEST

/* ---- fold-constants ---- */

/* The int64 data of graph output k after folding (NULL if not folded). */
static const int64_t *folded_i64(const ferry_graph *g, int k, int64_t numel) {
  const ferry_value *v = &g->values[g->outputs[k]];
  if (!v->data) return NULL;
  ck_assert_int_eq(v->data->dtype, FERRY_I64);
  ck_assert_int_eq(v->data->numel, numel);
  ck_assert_int_eq(v->producer, -1);
  return v->data->data;
}

#define CHECK_I64(g, k, ...)                                                   \
  do {                                                                         \
    static const int64_t want_[] = {__VA_ARGS__};                              \
    int64_t n_ = (int64_t)(sizeof want_ / sizeof *want_);                      \
    const int64_t *got_ = folded_i64((g), (k), n_);                           \
    ck_assert_msg(got_ != NULL, "output %d not folded", (k));                  \
    for (int64_t i_ = 0; i_ < n_; i_++)                                        \
      ck_assert_msg(got_[i_] == want_[i_], "output %d [%lld]: %lld != %lld", (k), \
                    (long long)i_, (long long)got_[i_], (long long)want_[i_]); \
  } while (0)

START_TEST(test_fold_shape_chain) {
  /* Shape(x [2,3,4]) -> Gather(1) -> Unsqueeze -> Concat([-1]) */
  static const int64_t dims[3] = {2, 3, 4}, minus1[1] = {-1}, zero[1] = {0};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 3, dims);
  tb_node(g, "Shape", "x", "s");
  tb_const_i(g, "one", 1);
  tb_attr_i(tb_node(g, "Gather", "s,one", "d1"), "axis", 0);
  tb_const_ints(g, "ax", 1, zero);
  tb_node(g, "Unsqueeze", "d1,ax", "u");
  tb_const_ints(g, "m1", 1, minus1);
  tb_attr_i(tb_node(g, "Concat", "u,m1", "shape"), "axis", 0);
  tb_node(g, "Reshape", "x,shape", "y");
  tb_output(g, "y");
  tb_output(g, "shape");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "fold-constants"), 7); /* 3 Constants, 4 ops */
  CHECK_I64(m->graph, 1, 3, -1);
  ck_assert_int_eq(m->graph->n_nodes, 1); /* Reshape, reading a weight */
  ck_assert_ptr_nonnull(m->graph->values[m->graph->nodes[0].inputs[1]].data);
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fold_symbolic_shape_kept) {
  static const int64_t dims[2] = {-1, 4};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 2, dims);
  tb_node(g, "Shape", "x", "s");
  tb_attr_i(tb_node(g, "Shape", "x", "s2"), "start", 1); /* the known part folds */
  tb_const_i(g, "i1", -1);
  tb_const_i(g, "i0", 0);
  tb_node(g, "Gather", "s,i1", "g1"); /* the known dim of a partly symbolic shape */
  tb_node(g, "Gather", "s,i0", "g0"); /* the symbolic one stays */
  tb_output(g, "s");
  tb_output(g, "s2");
  tb_output(g, "g1");
  tb_output(g, "g0");
  ferry_model *m = tb_load(g, 15);
  ck_assert_int_eq(run_pass(m, "fold-constants"), 4); /* Shape(start 1), 2 Constants, Gather */
  ck_assert_ptr_null(m->graph->values[m->graph->outputs[0]].data);
  CHECK_I64(m->graph, 1, 4);
  CHECK_I64(m->graph, 2, 4);
  ck_assert_ptr_null(m->graph->values[m->graph->outputs[3]].data);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fold_evaluators) {
  static const int64_t a[3] = {4, -6, 8}, b[1] = {2}, z[1] = {0};
  ferry_model *m;
  /* Each block: build, load, fold, compare. */
#define FOLD(op, opset, A, NA, B, NB, C, NC, attrs_stmt)                     \
  do {                                                                       \
    Onnx__NodeProto *nd;                                                     \
    Onnx__GraphProto *g = tb_graph("main");                                  \
    char ins[32] = "a";                                                      \
    tb_const_ints(g, "a", (NA), (A));                                        \
    if ((B) != NULL) tb_const_ints(g, "b", (NB), (B)), strcat(ins, ",b");    \
    if ((C) != NULL) tb_const_ints(g, "c", (NC), (C)), strcat(ins, ",c");    \
    nd = tb_node(g, (op), ins, "y");                                         \
    attrs_stmt;                                                              \
    tb_output(g, "y");                                                       \
    m = tb_load(g, (opset));                                                 \
    run_pass(m, "fold-constants");                                           \
  } while (0)
  FOLD("Add", 13, a, 3, b, 1, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 6, -4, 10);
  ferry_model_free(m);
  FOLD("Sub", 13, a, 3, b, 1, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 2, -8, 6);
  ferry_model_free(m);
  FOLD("Mul", 13, a, 3, b, 1, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 8, -12, 16);
  ferry_model_free(m);
  FOLD("Div", 13, a, 3, b, 1, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 2, -3, 4);
  ferry_model_free(m);
  FOLD("Div", 13, a, 3, z, 1, NULL, 0, (void)nd); /* division by zero: left alone */
  ck_assert_ptr_null(folded_i64(m->graph, 0, 3));
  ferry_model_free(m);
  static const int64_t idx[2] = {-1, 0};
  FOLD("Gather", 13, a, 3, idx, 2, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 8, 4);
  ferry_model_free(m);
  FOLD("Concat", 13, a, 3, b, 1, NULL, 0, tb_attr_i(nd, "axis", 0));
  CHECK_I64(m->graph, 0, 4, -6, 8, 2);
  ferry_model_free(m);
  static const int64_t st[1] = {-1}, en[1] = {-100}, ax[1] = {0}, sp[1] = {-1};
  {
    Onnx__GraphProto *g = tb_graph("main");
    tb_const_ints(g, "a", 3, a);
    tb_const_ints(g, "s", 1, st);
    tb_const_ints(g, "e", 1, en);
    tb_const_ints(g, "x", 1, ax);
    tb_const_ints(g, "p", 1, sp);
    tb_node(g, "Slice", "a,s,e,x,p", "y"); /* reversed */
    tb_output(g, "y");
    m = tb_load(g, 13);
    run_pass(m, "fold-constants");
    CHECK_I64(m->graph, 0, 8, -6, 4);
    ferry_model_free(m);
  }
  static const int64_t rs[2] = {0, -1}, six[6] = {1, 2, 3, 4, 5, 6}, r23[2] = {2, 3};
  FOLD("Reshape", 13, six, 6, r23, 2, NULL, 0, (void)nd); /* a is 1-D [6] */
  ck_assert_ptr_nonnull(folded_i64(m->graph, 0, 6));
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->rank, 2);
  ferry_model_free(m);
  FOLD("Reshape", 13, six, 6, rs, 2, NULL, 0, (void)nd); /* [6] by [0, -1] -> [6, 1] */
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->dims[1], 1);
  ferry_model_free(m);
  FOLD("Unsqueeze", 13, a, 3, z, 1, NULL, 0, (void)nd);
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->rank, 2);
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->dims[0], 1);
  ferry_model_free(m);
  FOLD("Unsqueeze", 11, b, 1, NULL, 0, NULL, 0, tb_attr_ints(nd, "axes", 1, z));
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->rank, 2);
  ferry_model_free(m);
  FOLD("Squeeze", 13, b, 1, NULL, 0, NULL, 0, (void)nd); /* [1] -> scalar */
  ck_assert_int_eq(m->graph->values[m->graph->outputs[0]].data->rank, 0);
  CHECK_I64(m->graph, 0, 2);
  ferry_model_free(m);
  static const int64_t r0[1] = {1}, r1[1] = {10}, r2[1] = {3};
  FOLD("Range", 13, r0, 1, r1, 1, r2, 1, (void)nd);
  CHECK_I64(m->graph, 0, 1, 4, 7);
  ferry_model_free(m);
  FOLD("Expand", 13, b, 1, r23, 2, NULL, 0, (void)nd);
  CHECK_I64(m->graph, 0, 2, 2, 2, 2, 2, 2);
  ferry_model_free(m);
  static const int64_t cmp[3] = {4, 0, 8};
  FOLD("Equal", 13, a, 3, cmp, 3, NULL, 0, (void)nd);
  {
    const ferry_tensor *t = m->graph->values[m->graph->outputs[0]].data;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, FERRY_BOOL);
    ck_assert_int_eq(((const uint8_t *)t->data)[0] * 4 + ((const uint8_t *)t->data)[1] * 2 +
                         ((const uint8_t *)t->data)[2], 5);
  }
  ferry_model_free(m);
  FOLD("ConstantOfShape", 13, r23, 2, NULL, 0, NULL, 0, (void)nd); /* float zeros [2, 3] */
  {
    const ferry_tensor *t = m->graph->values[m->graph->outputs[0]].data;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, FERRY_F32);
    ck_assert_int_eq(t->numel, 6);
  }
  ferry_model_free(m);
  static const int64_t big[2] = {100, 100};
  FOLD("ConstantOfShape", 13, big, 2, NULL, 0, NULL, 0, (void)nd); /* too big to ship */
  ck_assert_ptr_null(m->graph->values[m->graph->outputs[0]].data);
  ferry_model_free(m);
  FOLD("Cast", 13, a, 3, NULL, 0, NULL, 0, tb_attr_i(nd, "to", FERRY_F32));
  {
    const ferry_tensor *t = m->graph->values[m->graph->outputs[0]].data;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, FERRY_F32);
    ck_assert(((const float *)t->data)[1] == -6.0f);
  }
  ferry_model_free(m);
  static const int64_t huge[1] = {INT64_MAX};
  FOLD("Add", 13, huge, 1, b, 1, NULL, 0, (void)nd); /* overflow: left alone */
  ck_assert_ptr_null(m->graph->values[m->graph->outputs[0]].data);
  ferry_model_free(m);
  FOLD("Cast", 13, huge, 1, NULL, 0, NULL, 0, tb_attr_i(nd, "to", FERRY_I32)); /* does not fit */
  ck_assert_ptr_null(m->graph->values[m->graph->outputs[0]].data);
  ferry_model_free(m);
#undef FOLD
}
END_TEST

START_TEST(test_fold_where_and_non_constant) {
  static const uint8_t cond[2] = {1, 0};
  static const int64_t xs[2] = {1, 2}, ys[2] = {3, 4};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "in", FERRY_I64, 1, d2);
  tb_const(g, "c", FERRY_BOOL, 1, d2, cond);
  tb_const_ints(g, "x", 2, xs);
  tb_const_ints(g, "y", 2, ys);
  tb_node(g, "Where", "c,x,y", "w");
  tb_node(g, "Add", "w,in", "v"); /* reads a graph input: stays */
  tb_output(g, "w");
  tb_output(g, "v");
  ferry_model *m = tb_load(g, 13);
  run_pass(m, "fold-constants");
  CHECK_I64(m->graph, 0, 1, 4);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  ck_assert_str_eq(m->graph->nodes[0].op, "Add");
  check_consistent(m->graph);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fold_feeds_subgraph_captures) {
  /* a Constant read inside an If branch: the capture gets the weight's data */
  Onnx__GraphProto *g = tb_graph("main"), *t = tb_graph("then"), *e = tb_graph("else");
  tb_input(g, "c", FERRY_BOOL, 0, NULL);
  static const int64_t two[1] = {2};
  tb_const_ints(g, "k", 1, two);
  tb_node(g, "Add", "k,k", "k2");
  tb_node(t, "Identity", "k2", "ty");
  tb_output(t, "ty");
  tb_node(e, "Identity", "k", "ey");
  tb_output(e, "ey");
  Onnx__NodeProto *n = tb_node(g, "If", "c", "y");
  tb_attr_g(n, "then_branch", t);
  tb_attr_g(n, "else_branch", e);
  tb_output(g, "y");
  ferry_model *m = tb_load(g, 13);
  ck_assert_int_eq(run_pass(m, "fold-constants"), 2);
  const ferry_graph *then = find_op(m->graph, "If")->attrs[0].g;
  const ferry_value *cap = &then->values[then->nodes[0].inputs[0]];
  ck_assert_ptr_nonnull(cap->data);
  ck_assert_int_eq(((const int64_t *)cap->data->data)[0], 4);
  ferry_model_free(m);
}
END_TEST

/* ---- conv-bn ---- */

/* x [1,2,5,5] -> Conv(W [3,2,3,3], B [3]) -> BN(scale, bias, mean, var) -> y */
static ferry_model *conv_bn_model(bool bn_param_input, bool second_reader, int training_mode) {
  static float w[54], b[3] = {0.5f, -1, 2}, sc[3] = {1.5f, 0.25f, -2}, bi[3] = {0.1f, 0.2f, 0.3f},
                      mean[3] = {1, -2, 0.5f}, var[3] = {4, 0.5f, 2};
  for (int i = 0; i < 54; i++) w[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
  static const int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, cd[1] = {3};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 4, xd);
  tb_init(g, "W", FERRY_F32, 4, wd, w);
  tb_init(g, "B", FERRY_F32, 1, cd, b);
  if (bn_param_input) tb_input(g, "scale", FERRY_F32, 1, cd);
  else tb_init(g, "scale", FERRY_F32, 1, cd, sc);
  tb_init(g, "bias", FERRY_F32, 1, cd, bi);
  tb_init(g, "mean", FERRY_F32, 1, cd, mean);
  tb_init(g, "var", FERRY_F32, 1, cd, var);
  static const int64_t pads[4] = {1, 1, 1, 1};
  tb_attr_ints(tb_node(g, "Conv", "x,W,B", "c"), "pads", 4, pads);
  Onnx__NodeProto *bn = tb_node(g, "BatchNormalization", "c,scale,bias,mean,var", "y");
  tb_attr_f(bn, "epsilon", 1e-3f);
  if (training_mode >= 0) tb_attr_i(bn, "training_mode", training_mode);
  if (second_reader) tb_node(g, "Relu", "c", "r"), tb_output(g, "r");
  tb_output(g, "y");
  return tb_load(g, 15);
}

START_TEST(test_conv_bn_folds_weights) {
  ferry_model *m = conv_bn_model(false, false, -1);
  const ferry_graph *g = m->graph;
  const float *w = g->values[value(g, "W")].data->data, *b = g->values[value(g, "B")].data->data;
  const float *sc = g->values[value(g, "scale")].data->data, *bi = g->values[value(g, "bias")].data->data;
  const float *mean = g->values[value(g, "mean")].data->data, *var = g->values[value(g, "var")].data->data;
  float want_w[54], want_b[3];
  for (int c = 0; c < 3; c++) {
    double s = sc[c] / sqrt((double)var[c] + 1e-3);
    for (int k = 0; k < 18; k++) want_w[c * 18 + k] = (float)(w[c * 18 + k] * s);
    want_b[c] = (float)((b[c] - mean[c]) * s + bi[c]);
  }
  ck_assert_int_eq(run_pass(m, "conv-bn"), 1);
  ck_assert_int_eq(g->n_nodes, 1);
  const ferry_node *conv = &g->nodes[0];
  ck_assert_str_eq(conv->op, "Conv");
  ck_assert_str_eq(g->values[conv->outputs[0]].name, "y");
  ck_assert_ptr_nonnull(ferry_node_attr(conv, "pads"));
  const ferry_tensor *nw = g->values[conv->inputs[1]].data, *nb = g->values[conv->inputs[2]].data;
  ck_assert_int_eq(nw->numel, 54);
  for (int i = 0; i < 54; i++)
    ck_assert_msg(fabsf(((const float *)nw->data)[i] - want_w[i]) <= 1e-6f * fmaxf(1, fabsf(want_w[i])),
                  "W'[%d] %g != %g", i, ((const float *)nw->data)[i], want_w[i]);
  for (int c = 0; c < 3; c++)
    ck_assert_msg(fabsf(((const float *)nb->data)[c] - want_b[c]) <= 1e-6f * fmaxf(1, fabsf(want_b[c])),
                  "B'[%d] %g != %g", c, ((const float *)nb->data)[c], want_b[c]);
  ck_assert_ptr_null(g->values[value(g, "mean")].data); /* BN parameters dropped */
  check_consistent(g);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_conv_bn_not_folded) {
  ferry_model *m = conv_bn_model(true, false, -1); /* scale is an input */
  ck_assert_int_eq(run_pass(m, "conv-bn"), 0);
  ferry_model_free(m);
  m = conv_bn_model(false, true, -1); /* the Conv result is read twice */
  ck_assert_int_eq(run_pass(m, "conv-bn"), 0);
  ferry_model_free(m);
  m = conv_bn_model(false, false, 1); /* training mode */
  ck_assert_int_eq(run_pass(m, "conv-bn"), 0);
  ferry_model_free(m);
}
END_TEST

/* ---- conv-affine ---- */

enum affine_form { AFF_AFTER, AFF_BEFORE, AFF_BEFORE_PADDED, AFF_WRONG_AXIS, AFF_SHARED };

static float aff_w[108], aff_b[6] = {0.5f, -1, 2, 0.25f, 1, -0.5f}, aff_s[4] = {1.5f, -0.5f, 2, 0.75f},
                            aff_d[4] = {0.1f, -0.2f, 0.3f, 1.25f};

/* AFF_AFTER: x [N,2,5,5] -> Conv(W [3,2,3,3], B, pads 1) -> Mul(s [1,3,1,1]) -> Add(0.5) -> Sub(d [3,1,1])
 *            -> Div(s [3,1,1]) -> y;
 * AFF_BEFORE(_PADDED): x [N,4,5,5] -> Mul(s [1,4,1,1]) -> Add(d [4,1,1]) -> Conv(W [6,2,3,3], B, group 2,
 *            no pads / pads 1) -> y;
 * AFF_WRONG_AXIS: AFF_AFTER's Conv, then Mul by a constant along W [1,1,1,5];
 * AFF_SHARED: AFF_AFTER's Conv and Mul, the Conv result also a graph output. */
static ferry_model *affine_model(enum affine_form f) {
  for (int i = 0; i < 108; i++) aff_w[i] = (float)((i * 29) % 13) / 9.0f - 0.7f;
  static const int64_t x2[4] = {-1, 2, 5, 5}, x4[4] = {-1, 4, 5, 5}, w3[4] = {3, 2, 3, 3}, w6[4] = {6, 2, 3, 3},
                       c3[1] = {3}, c6[1] = {6}, s13[4] = {1, 3, 1, 1}, d31[3] = {3, 1, 1}, s14[4] = {1, 4, 1, 1},
                       d41[3] = {4, 1, 1}, wax[4] = {1, 1, 1, 5}, pads[4] = {1, 1, 1, 1};
  static float wdata[5] = {2, 3, 4, 5, 6};
  Onnx__GraphProto *g = tb_graph("main");
  bool before = f == AFF_BEFORE || f == AFF_BEFORE_PADDED;
  tb_input(g, "x", FERRY_F32, 4, before ? x4 : x2);
  tb_init(g, "W", FERRY_F32, 4, before ? w6 : w3, aff_w);
  tb_init(g, "B", FERRY_F32, 1, before ? c6 : c3, aff_b);
  if (before) {
    tb_init(g, "s", FERRY_F32, 4, s14, aff_s);
    tb_init(g, "d", FERRY_F32, 3, d41, aff_d);
    tb_node(g, "Mul", "x,s", "m");
    tb_node(g, "Add", "d,m", "a");
    Onnx__NodeProto *c = tb_node(g, "Conv", "a,W,B", "y");
    tb_attr_i(c, "group", 2);
    if (f == AFF_BEFORE_PADDED) tb_attr_ints(c, "pads", 4, pads);
    tb_output(g, "y");
    return tb_load(g, 13);
  }
  tb_attr_ints(tb_node(g, "Conv", "x,W,B", "c"), "pads", 4, pads);
  if (f == AFF_WRONG_AXIS) {
    tb_init(g, "wa", FERRY_F32, 4, wax, wdata);
    tb_node(g, "Mul", "c,wa", "y");
    tb_output(g, "y");
    return tb_load(g, 13);
  }
  tb_init(g, "s", FERRY_F32, 4, s13, aff_s);
  tb_init(g, "d", FERRY_F32, 3, d31, aff_d);
  tb_init(g, "s2", FERRY_F32, 3, d31, aff_s);
  tb_const_f(g, "half", 0.5f);
  tb_node(g, "Mul", "s,c", "m");
  if (f == AFF_SHARED) {
    tb_output(g, "c");
    tb_output(g, "m");
    return tb_load(g, 13);
  }
  tb_node(g, "Add", "m,half", "a");
  tb_node(g, "Sub", "a,d", "b");
  tb_node(g, "Div", "b,s2", "y");
  tb_output(g, "y");
  return tb_load(g, 13);
}

static void check_near_f(const float *got, const double *want, int n, const char *what) {
  for (int i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= 1e-6 * fmax(1, fabs(want[i])), "%s[%d] %g != %g", what, i, got[i],
                  want[i]);
}

START_TEST(test_conv_affine_after) {
  ferry_model *m = affine_model(AFF_AFTER);
  const ferry_graph *g = m->graph;
  ck_assert_int_eq(run_pass(m, "conv-affine"), 4);
  ck_assert_int_eq(g->n_nodes - count_op(g, "Constant"), 1);
  const ferry_node *conv = &g->nodes[g->n_nodes - 1];
  ck_assert_str_eq(conv->op, "Conv");
  ck_assert_str_eq(g->values[conv->outputs[0]].name, "y");
  ck_assert_ptr_nonnull(ferry_node_attr(conv, "pads"));
  double want_w[54], want_b[3];
  for (int c = 0; c < 3; c++) { /* ((Conv * s + 0.5) - d) / s */
    for (int k = 0; k < 18; k++) want_w[c * 18 + k] = (double)(float)(aff_w[c * 18 + k] * aff_s[c]) / aff_s[c];
    want_b[c] = (((double)aff_b[c] * aff_s[c] + 0.5) - aff_d[c]) / aff_s[c];
  }
  check_near_f(g->values[conv->inputs[1]].data->data, want_w, 54, "W'");
  check_near_f(g->values[conv->inputs[2]].data->data, want_b, 3, "B'");
  check_consistent(g);
  ferry_model_free(m);
}
END_TEST

/* The model with every value's shape inferred (folds before a Conv need
 * the input's rank and channels). */
static ferry_model *inferred(ferry_model *m) {
  ferry_err err = {0};
  ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "infer: %s", err.msg);
  return m;
}

START_TEST(test_conv_affine_before) {
  ferry_model *m = inferred(affine_model(AFF_BEFORE));
  const ferry_graph *g = m->graph;
  int r = run_pass(m, "conv-affine");
  if (r == 1) r += run_pass(m, "conv-affine"); /* the Add first, the Mul in the next round */
  ck_assert_int_eq(r, 2);
  ck_assert_int_eq(g->n_nodes - count_op(g, "Constant"), 1);
  const ferry_node *conv = &g->nodes[g->n_nodes - 1];
  ck_assert_str_eq(conv->op, "Conv");
  ck_assert_int_eq(conv->inputs[0], value(g, "x"));
  ck_assert_int_eq(ferry_node_int(conv, "group", 1), 2);
  /* Conv(s * x + d): W'[m, ci, k] = W * s[ci], B'[m] = B[m] + sum W[m, ci, k] * d[ci], ci = 2 * (m / 3) + ci' */
  double want_w[108], want_b[6];
  for (int o = 0; o < 6; o++) {
    double b = aff_b[o];
    for (int e = 0; e < 18; e++) {
      int ci = 2 * (o / 3) + e / 9;
      want_w[o * 18 + e] = (double)aff_w[o * 18 + e] * aff_s[ci];
      b += (double)aff_w[o * 18 + e] * aff_d[ci];
    }
    want_b[o] = b;
  }
  check_near_f(g->values[conv->inputs[1]].data->data, want_w, 108, "W'");
  check_near_f(g->values[conv->inputs[2]].data->data, want_b, 6, "B'");
  check_consistent(g);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_conv_affine_refused) {
  ferry_model *m = inferred(affine_model(AFF_BEFORE_PADDED)); /* an Add before a padded Conv stays */
  ck_assert_int_eq(run_pass(m, "conv-affine"), 0);
  ck_assert_int_eq(count_op(m->graph, "Add"), 1);
  ferry_model_free(m);
  m = affine_model(AFF_WRONG_AXIS);
  ck_assert_int_eq(run_pass(m, "conv-affine"), 0);
  ferry_model_free(m);
  m = affine_model(AFF_SHARED);
  ck_assert_int_eq(run_pass(m, "conv-affine"), 0);
  ferry_model_free(m);
}
END_TEST

/* ---- fuse-activation ---- */

/* x -> Conv -> act (built by `add_act` writing "y") [-> also read by Neg] */
static ferry_model *conv_act_model(void (*add_act)(Onnx__GraphProto *), bool second_reader) {
  static float w[16];
  for (int i = 0; i < 16; i++) w[i] = (float)i / 16 - 0.4f;
  static const int64_t xd[4] = {1, 4, 3, 3}, wd[4] = {4, 4, 1, 1};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 4, xd);
  tb_init(g, "W", FERRY_F32, 4, wd, w);
  static const int64_t strides[2] = {1, 1};
  tb_attr_ints(tb_node(g, "Conv", "x,W", "c"), "strides", 2, strides);
  add_act(g);
  if (second_reader) tb_node(g, "Neg", "c", "n"), tb_output(g, "n");
  tb_output(g, "y");
  return tb_load(g, 13);
}

static void act_relu(Onnx__GraphProto *g) { tb_node(g, "Relu", "c", "y"); }
static void act_clip(Onnx__GraphProto *g) {
  tb_const_f(g, "lo", 0);
  tb_const_f(g, "hi", 6);
  tb_node(g, "Clip", "c,lo,hi", "y");
}
static void act_clip_input(Onnx__GraphProto *g) {
  tb_input(g, "lo", FERRY_F32, 0, NULL);
  tb_node(g, "Clip", "c,lo", "y");
}
static void act_leaky(Onnx__GraphProto *g) { tb_attr_f(tb_node(g, "LeakyRelu", "c", "y"), "alpha", 0.25f); }
static void act_hardsigmoid(Onnx__GraphProto *g) {
  Onnx__NodeProto *n = tb_node(g, "HardSigmoid", "c", "y");
  tb_attr_f(n, "alpha", 0.125f);
}
static void act_hardswish(Onnx__GraphProto *g) { tb_node(g, "HardSwish", "c", "y"); }
static void act_sigmoid(Onnx__GraphProto *g) { tb_node(g, "Sigmoid", "c", "y"); }
static void act_tanh(Onnx__GraphProto *g) { tb_node(g, "Tanh", "c", "y"); }

static const char *attr_s(const ferry_node *n, const char *name) {
  static char buf[64];
  const ferry_attr *a = ferry_node_attr(n, name);
  ck_assert_ptr_nonnull(a);
  snprintf(buf, sizeof buf, "%.*s", (int)a->s.len, a->s.ptr);
  return buf;
}

/* The one fused node, checked for op, activation and its parameters. */
static void check_fused_conv(ferry_model *m, const char *act, int n_params, const float *params) {
  ck_assert_int_eq(m->graph->n_nodes, 1);
  const ferry_node *f = find_op(m->graph, "FusedConv");
  ck_assert_ptr_nonnull(f);
  ck_assert_str_eq(f->domain, "com.microsoft");
  ck_assert_str_eq(attr_s(f, "activation"), act);
  ck_assert_ptr_nonnull(ferry_node_attr(f, "strides"));
  const ferry_attr *p = ferry_node_attr(f, "activation_params");
  if (!n_params) ck_assert_ptr_null(p);
  else {
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->n, n_params);
    for (int k = 0; k < n_params; k++) ck_assert(p->floats[k] == params[k]);
  }
  ck_assert_str_eq(m->graph->values[f->outputs[0]].name, "y");
  int ms = 0;
  for (int i = 0; i < m->n_opsets; i++) ms |= !strcmp(m->opsets[i].domain, "com.microsoft");
  ck_assert_msg(ms, "com.microsoft is not imported");
  check_consistent(m->graph);
}

START_TEST(test_fuse_conv_activations) {
  ferry_model *m = conv_act_model(act_relu, false);
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 1);
  check_fused_conv(m, "Relu", 0, NULL);
  ferry_model_free(m);
  m = conv_act_model(act_clip, false);
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 1);
  static const float clip[2] = {0, 6};
  check_fused_conv(m, "Clip", 2, clip);
  ck_assert_int_eq(count_op(m->graph, "Constant"), 0); /* min/max pruned with the Clip */
  ferry_model_free(m);
  m = conv_act_model(act_leaky, false);
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 1);
  static const float leaky[1] = {0.25f};
  check_fused_conv(m, "LeakyRelu", 1, leaky);
  ferry_model_free(m);
  m = conv_act_model(act_hardsigmoid, false);
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 1);
  static const float hs[2] = {0.125f, 0.5f};
  check_fused_conv(m, "HardSigmoid", 2, hs);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fuse_conv_activation_refused) {
  ferry_model *m = conv_act_model(act_relu, true); /* Conv result read twice */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 0);
  ferry_model_free(m);
  m = conv_act_model(act_clip_input, false); /* Clip min is not a constant */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 0);
  ferry_model_free(m);
  m = conv_act_model(act_hardswish, false); /* FusedConv has no HardSwish */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 0);
  ferry_model_free(m);
}
END_TEST

/* a [M,3] -> MatMul/Gemm (B [3,2]) -> Add(bias) -> act */
static ferry_model *gemm_model(const char *op, int rank_a, const int64_t *bias_dims, int bias_rank,
                               const char *act) {
  static const float bw[6] = {1, 2, 3, 4, 5, 6}, bias[4] = {0.5f, -0.5f, 1, 2};
  static const int64_t bd[2] = {3, 2}, ad3[3] = {2, -1, 3};
  int64_t ad[2] = {-1, 3};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "a", FERRY_F32, rank_a, rank_a == 2 ? ad : ad3);
  tb_init(g, "B", FERRY_F32, 2, bd, bw);
  tb_init(g, "bias", FERRY_F32, bias_rank, bias_dims, bias);
  tb_node(g, op, "a,B", "mm");
  tb_node(g, "Add", "mm,bias", act ? "s" : "y");
  if (act) tb_node(g, act, "s", "y");
  tb_output(g, "y");
  return tb_load(g, 13);
}

START_TEST(test_fuse_gemm_bias_and_activation) {
  static const int64_t n2[1] = {2}, one_n[2] = {1, 2}, m_n[2] = {2, 2};
  ferry_model *m = gemm_model("MatMul", 2, n2, 1, "Relu");
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 2);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  const ferry_node *f = &m->graph->nodes[0];
  ck_assert_str_eq(f->op, "FusedGemm");
  ck_assert_int_eq(f->n_inputs, 3);
  ck_assert_str_eq(attr_s(f, "activation"), "Relu");
  check_consistent(m->graph);
  ferry_model_free(m);

  m = gemm_model("Gemm", 2, one_n, 2, "LeakyRelu");
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 2);
  f = &m->graph->nodes[0];
  ck_assert_str_eq(f->op, "FusedGemm");
  ck_assert(ferry_node_attr(f, "activation_alpha")->f == 0.01f);
  ferry_model_free(m);

  m = gemm_model("Gemm", 2, n2, 1, "Clip"); /* FusedGemm has no Clip: only the bias fuses */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 1);
  ck_assert_int_eq(count_op(m->graph, "Gemm"), 1);
  ck_assert_int_eq(count_op(m->graph, "Clip"), 1);
  ferry_model_free(m);

  m = gemm_model("MatMul", 3, n2, 1, "Relu"); /* 3-D: no Gemm */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 0);
  ferry_model_free(m);

  m = gemm_model("MatMul", 2, m_n, 2, NULL); /* bias [2,2] but M unknown: could grow the result */
  ck_assert_int_eq(run_pass(m, "fuse-activation"), 0);
  ferry_model_free(m);
}
END_TEST

/* ---- fuse-layernorm ---- */

/* x [N,4,8] -> decomposed LayerNorm over `axis` -> y; `leak` adds a reader
 * of the centered value. */
static ferry_model *layernorm_model(int64_t axis, bool leak, bool with_beta, float pow) {
  static float gamma[8], beta[8];
  for (int i = 0; i < 8; i++) gamma[i] = 1 + i * 0.1f, beta[i] = i * 0.01f;
  static const int64_t xd[3] = {-1, 4, 8}, pd[1] = {8};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 3, xd);
  tb_init(g, "gamma", FERRY_F32, 1, pd, gamma);
  tb_init(g, "beta", FERRY_F32, 1, pd, beta);
  tb_attr_ints(tb_node(g, "ReduceMean", "x", "mean"), "axes", 1, &axis);
  tb_node(g, "Sub", "x,mean", "d");
  tb_const_f(g, "two", pow);
  tb_node(g, "Pow", "d,two", "d2");
  tb_attr_ints(tb_node(g, "ReduceMean", "d2", "var"), "axes", 1, &axis);
  tb_const_f(g, "eps", 1e-5f);
  tb_node(g, "Add", "var,eps", "ve");
  tb_node(g, "Sqrt", "ve", "sd");
  tb_node(g, "Div", "d,sd", "n");
  tb_node(g, "Mul", "n,gamma", with_beta ? "s" : "y");
  if (with_beta) tb_node(g, "Add", "beta,s", "y");
  if (leak) tb_node(g, "Neg", "d", "leak"), tb_output(g, "leak");
  tb_output(g, "y");
  return tb_load(g, 13);
}

START_TEST(test_fuse_layernorm) {
  ferry_model *m = layernorm_model(-1, false, true, 2);
  ck_assert_int_eq(run_pass(m, "fuse-layernorm"), 1);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  const ferry_node *ln = &m->graph->nodes[0];
  ck_assert_str_eq(ln->op, "LayerNormalization");
  ck_assert_str_eq(ln->domain, "");
  ck_assert_int_eq(ln->n_inputs, 3);
  ck_assert_int_eq(ferry_node_attr(ln, "axis")->i, -1);
  ck_assert(ferry_node_attr(ln, "epsilon")->f == 1e-5f);
  ck_assert_int_eq(ln->inputs[0], value(m->graph, "x"));
  ck_assert_int_eq(ln->inputs[2], value(m->graph, "beta"));
  check_consistent(m->graph);
  ferry_model_free(m);

  m = layernorm_model(2, false, false, 2); /* axis 2 of a rank-3 input is the last; no beta */
  ck_assert_int_eq(run_pass(m, "fuse-layernorm"), 1);
  ck_assert_int_eq(m->graph->nodes[0].n_inputs, 2);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fuse_layernorm_refused) {
  ferry_model *m = layernorm_model(1, false, true, 2); /* not the last axis */
  ck_assert_int_eq(run_pass(m, "fuse-layernorm"), 0);
  ferry_model_free(m);
  m = layernorm_model(-1, true, true, 2); /* the centered value is read elsewhere */
  ck_assert_int_eq(run_pass(m, "fuse-layernorm"), 0);
  ferry_model_free(m);
  m = layernorm_model(-1, false, true, 3); /* not a square */
  ck_assert_int_eq(run_pass(m, "fuse-layernorm"), 0);
  ferry_model_free(m);
}
END_TEST

/* ---- fuse-gelu ---- */

enum gelu_form { ERF_HALF_AFTER, ERF_HALF_BEFORE, ERF_MUL_RSQRT2, ERF_WRONG_HALF, ERF_WRONG_SQRT2, TANH_POW,
                 TANH_MULS, TANH_WRONG };

static ferry_model *gelu_model(enum gelu_form f) {
  static const int64_t xd[2] = {-1, 8};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 2, xd);
  tb_const_f(g, "half", f == ERF_WRONG_HALF ? 0.6f : 0.5f);
  tb_const_f(g, "one", 1.0f);
  if (f <= ERF_WRONG_SQRT2) {
    if (f == ERF_MUL_RSQRT2) tb_const_f(g, "k", 0.70710678f), tb_node(g, "Mul", "k,x", "z");
    else tb_const_f(g, "k", f == ERF_WRONG_SQRT2 ? 1.5f : 1.4142135f), tb_node(g, "Div", "x,k", "z");
    tb_node(g, "Erf", "z", "e");
    tb_node(g, "Add", "e,one", "e1");
    if (f == ERF_HALF_BEFORE) tb_node(g, "Mul", "x,half", "xh"), tb_node(g, "Mul", "xh,e1", "y");
    else tb_node(g, "Mul", "x,e1", "xe"), tb_node(g, "Mul", "xe,half", "y");
  } else {
    if (f == TANH_POW) tb_const_f(g, "three", 3), tb_node(g, "Pow", "x,three", "x3");
    else tb_node(g, "Mul", "x,x", "xx"), tb_node(g, "Mul", "x,xx", "x3");
    tb_const_f(g, "c", f == TANH_WRONG ? 0.05f : 0.044715f);
    tb_node(g, "Mul", "c,x3", "cx3");
    tb_node(g, "Add", "x,cx3", "inner");
    tb_const_f(g, "s", 0.7978845608f);
    tb_node(g, "Mul", "s,inner", "u");
    tb_node(g, "Tanh", "u", "t");
    tb_node(g, "Add", "one,t", "t1");
    tb_node(g, "Mul", "x,t1", "xt");
    tb_node(g, "Mul", "half,xt", "y");
  }
  tb_output(g, "y");
  return tb_load(g, 13);
}

START_TEST(test_fuse_gelu_forms) {
  static const struct {
    enum gelu_form f;
    const char *op; /* NULL: must not fuse */
  } cases[] = {{ERF_HALF_AFTER, "Gelu"},   {ERF_HALF_BEFORE, "Gelu"}, {ERF_MUL_RSQRT2, "Gelu"},
               {ERF_WRONG_HALF, NULL},     {ERF_WRONG_SQRT2, NULL},   {TANH_POW, "FastGelu"},
               {TANH_MULS, "FastGelu"},    {TANH_WRONG, NULL}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ferry_model *m = gelu_model(cases[i].f);
    int r = run_pass(m, "fuse-gelu");
    ck_assert_msg(r == (cases[i].op != NULL), "case %zu: %d rewrites", i, r);
    if (cases[i].op) {
      ck_assert_int_eq(m->graph->n_nodes, 1);
      ck_assert_str_eq(m->graph->nodes[0].op, cases[i].op);
      ck_assert_str_eq(m->graph->nodes[0].domain, "com.microsoft");
      ck_assert_int_eq(m->graph->nodes[0].inputs[0], value(m->graph, "x"));
      check_consistent(m->graph);
    }
    ferry_model_free(m);
  }
}
END_TEST

/* ---- fuse-hardswish ---- */

enum hswish_form { HS_DIV_AFTER, HS_MUL_SIXTH_AFTER, HS_DIV_INSIDE, HS_MUL_SIXTH_INSIDE, HS_HARDSIGMOID,
                   HS_WRONG_SHIFT, HS_WRONG_CLIP, HS_OTHER_X, HS_SHARED };

/* x * Clip(x + 3, 0, 6) / 6 in one of its forms (Clip bounds as inputs
 * from opset 11, as attributes before). */
static ferry_model *hswish_model(enum hswish_form f, int opset) {
  static const int64_t xd[2] = {-1, 8};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "x", FERRY_F32, 2, xd);
  tb_input(g, "w", FERRY_F32, 2, xd);
  if (f == HS_HARDSIGMOID) {
    Onnx__NodeProto *h = tb_node(g, "HardSigmoid", "x", "h");
    tb_attr_f(h, "alpha", 1.0f / 6.0f);
    tb_attr_f(h, "beta", 0.5f);
    tb_node(g, "Mul", "x,h", "y");
    tb_output(g, "y");
    return tb_load(g, opset);
  }
  tb_const_f(g, "three", f == HS_WRONG_SHIFT ? 2.0f : 3.0f);
  tb_const_f(g, "six", 6.0f);
  tb_const_f(g, "sixth", 1.0f / 6.0f);
  tb_node(g, "Add", "three,x", "a");
  if (opset >= 11) {
    tb_const_f(g, "zero", 0.0f);
    tb_node(g, "Clip", f == HS_WRONG_CLIP ? "a,zero,three" : "a,zero,six", "c");
  } else {
    Onnx__NodeProto *c = tb_node(g, "Clip", "a", "c");
    tb_attr_f(c, "min", 0.0f);
    tb_attr_f(c, "max", f == HS_WRONG_CLIP ? 3.0f : 6.0f);
  }
  const char *xs = f == HS_OTHER_X ? "w" : "x";
  char buf[32];
  switch (f) {
  case HS_DIV_INSIDE: tb_node(g, "Div", "c,six", "d"), tb_node(g, "Mul", "x,d", "y"); break;
  case HS_MUL_SIXTH_INSIDE: tb_node(g, "Mul", "sixth,c", "d"), tb_node(g, "Mul", "d,x", "y"); break;
  case HS_MUL_SIXTH_AFTER: tb_node(g, "Mul", "c,x", "m"), tb_node(g, "Mul", "m,sixth", "y"); break;
  default:
    snprintf(buf, sizeof buf, "%s,c", xs);
    tb_node(g, "Mul", buf, "m");
    tb_node(g, "Div", "m,six", "y");
  }
  tb_output(g, "y");
  if (f == HS_SHARED) tb_output(g, "c"); /* an intermediate read outside the pattern */
  return tb_load(g, opset);
}

START_TEST(test_fuse_hardswish_forms) {
  static const struct {
    enum hswish_form f;
    int opset;
    int fuses;
  } cases[] = {{HS_DIV_AFTER, 14, 1},      {HS_MUL_SIXTH_AFTER, 14, 1}, {HS_DIV_INSIDE, 14, 1},
               {HS_MUL_SIXTH_INSIDE, 14, 1}, {HS_HARDSIGMOID, 14, 1},   {HS_DIV_AFTER, 11, 1},
               {HS_MUL_SIXTH_INSIDE, 11, 1}, {HS_DIV_AFTER, 9, 1},      {HS_HARDSIGMOID, 11, 0},
               {HS_WRONG_SHIFT, 14, 0},    {HS_WRONG_CLIP, 14, 0},      {HS_WRONG_CLIP, 9, 0},
               {HS_OTHER_X, 14, 0},        {HS_SHARED, 14, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ferry_model *m = hswish_model(cases[i].f, cases[i].opset);
    int r = run_pass(m, "fuse-hardswish");
    ck_assert_msg(r == cases[i].fuses, "case %zu: %d rewrites", i, r);
    check_consistent(m->graph);
    int x = value(m->graph, "x"), y = value(m->graph, "y");
    const ferry_node *last = &m->graph->nodes[m->graph->n_nodes - 1];
    if (cases[i].fuses) /* the unused scalar constants of the form may stay */
      ck_assert_int_eq(m->graph->n_nodes - count_op(m->graph, "Constant"), cases[i].opset >= 14 ? 1 : 2);
    if (cases[i].fuses && cases[i].opset >= 14) {
      ck_assert_str_eq(last->op, "HardSwish");
      ck_assert_int_eq(last->inputs[0], x);
      ck_assert_int_eq(last->outputs[0], y);
    } else if (cases[i].fuses) { /* HardSigmoid(x; 1/6, 1/2), then Mul(x, that) */
      const ferry_node *h = last - 1;
      ck_assert_str_eq(h->op, "HardSigmoid");
      ck_assert_int_eq(h->inputs[0], x);
      ck_assert(fabsf(ferry_node_attr(h, "alpha")->f - 1.0f / 6.0f) < 1e-7f);
      ck_assert(ferry_node_attr(h, "beta")->f == 0.5f);
      ck_assert_str_eq(last->op, "Mul");
      ck_assert_int_eq(last->inputs[0], x);
      ck_assert_int_eq(last->inputs[1], h->outputs[0]);
      ck_assert_int_eq(last->outputs[0], y);
    } else {
      ck_assert_int_eq(count_op(m->graph, "HardSwish") + count_op(m->graph, "HardSigmoid"),
                       cases[i].f == HS_HARDSIGMOID);
    }
    ferry_model_free(m);
  }
}
END_TEST

/* ---- fuse-attention ---- */

/* A graph with inputs q [1, 2, 5, 4], kt [1, 2, 4, 5] (K transposed), v. */
static Onnx__GraphProto *attention_graph(void) {
  static const int64_t qd[4] = {1, 2, 5, 4}, kd[4] = {1, 2, 4, 5};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "q", FERRY_F32, 4, qd);
  tb_input(g, "kt", FERRY_F32, 4, kd);
  tb_input(g, "v", FERRY_F32, 4, qd);
  return g;
}

static ferry_model *attention_model(int64_t softmax_axis, bool mask) {
  static const int64_t md[4] = {1, 1, 1, 5};
  Onnx__GraphProto *g = attention_graph();
  if (mask) tb_input(g, "mask", FERRY_F32, 4, md);
  tb_node(g, "MatMul", "q,kt", "s");
  tb_const_f(g, "scale", 2.0f);
  tb_node(g, "Div", "s,scale", "ss");
  if (mask) tb_node(g, "Add", "ss,mask", "sm");
  tb_attr_i(tb_node(g, "Softmax", mask ? "sm" : "ss", "p"), "axis", softmax_axis);
  tb_node(g, "MatMul", "p,v", "y");
  tb_output(g, "y");
  return tb_load(g, 13);
}

/* GPT's masked_fill: Where(bool mask, fill, scores) (fill_first) or
 * Where(mask, scores, fill) before the Softmax; fill a scalar constant
 * (scalar_fill) or a tensor input; not_mask: Where reads Not(mask). */
static ferry_model *attention_where_model(bool fill_first, bool scalar_fill, bool not_mask) {
  static const int64_t md[4] = {1, 1, 5, 5};
  Onnx__GraphProto *g = attention_graph();
  tb_input(g, "mask", FERRY_BOOL, 4, md);
  if (scalar_fill)
    tb_const_f(g, "fill", -3.4028234663852886e38f);
  else
    tb_input(g, "fill", FERRY_F32, 4, md);
  tb_node(g, "MatMul", "q,kt", "s");
  tb_const_f(g, "scale", 0.5f);
  tb_node(g, "Mul", "s,scale", "ss");
  if (not_mask) tb_node(g, "Not", "mask", "keep");
  const char *where[2][2] = {{"mask,ss,fill", "keep,ss,fill"}, {"mask,fill,ss", "keep,fill,ss"}};
  tb_node(g, "Where", where[fill_first][not_mask], "sm");
  tb_attr_i(tb_node(g, "Softmax", "sm", "p"), "axis", -1);
  tb_node(g, "MatMul", "p,v", "y");
  tb_output(g, "y");
  return tb_load(g, 13);
}

START_TEST(test_fuse_attention_where) {
  for (int variant = 0; variant < 4; variant++) {
    int fill_first = variant & 1, not_mask = variant >> 1;
    ferry_model *m = attention_where_model(fill_first, true, not_mask);
    ferry_err err = {0};
    ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "%s", err.msg); /* Not's output is bool */
    ck_assert_int_eq(run_pass(m, "fuse-attention"), 1);
    ck_assert_int_eq(m->graph->n_nodes, 1); /* a Not of the mask folds in too */
    const ferry_node *a = &m->graph->nodes[0];
    ck_assert_str_eq(a->op, "Attention");
    ck_assert_int_eq(a->n_inputs, 4);
    ck_assert_str_eq(m->graph->values[a->inputs[3]].name, "mask");
    ck_assert(ferry_node_attr(a, "scale")->f == 0.5f);
    ck_assert(ferry_node_attr(a, "mask_fill")->f == -3.4028234663852886e38f);
    ck_assert_int_eq(ferry_node_attr(a, "mask_keep")->i, (!fill_first) != not_mask); /* scores as X: kept where true */
    ferry_model_free(m);
  }
  ferry_model *m = attention_where_model(true, false, false); /* a fill that is not a constant */
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 0);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_fuse_attention) {
  ferry_model *m = attention_model(-1, true);
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 1);
  ck_assert_int_eq(m->graph->n_nodes, 1);
  const ferry_node *a = &m->graph->nodes[0];
  ck_assert_str_eq(a->domain, "ferry");
  ck_assert_str_eq(a->op, "Attention");
  ck_assert_int_eq(a->n_inputs, 4);
  ck_assert(ferry_node_attr(a, "scale")->f == 0.5f);
  ck_assert_int_eq(ferry_node_attr(a, "has_mask")->i, 1);
  ferry_model_free(m);
  m = attention_model(3, false); /* axis 3 is the last only if ranks are known */
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 0);
  ferry_err err = {0};
  ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 1);
  ck_assert_int_eq(ferry_node_attr(&m->graph->nodes[0], "has_mask")->i, 0);
  ferry_model_free(m);
  m = attention_model(2, true); /* not the last axis */
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 0);
  ferry_model_free(m);
}
END_TEST

/* Attention between the heads' Transposes, as exporters write it: q, k,
 * v [1, 5, 2, 4] ([B, S, H, D]) transposed to [B, H, S, D] (K to [B, H,
 * D, S]) and the result back to [B, S, H, D]. extra_use: the transposed
 * Q is also a graph output (then nothing may fold). */
static ferry_model *attention_heads_model(bool extra_use) {
  static const int64_t d[4] = {1, 5, 2, 4}, qv[4] = {0, 2, 1, 3}, kt[4] = {0, 2, 3, 1};
  Onnx__GraphProto *g = tb_graph("main");
  tb_input(g, "q", FERRY_F32, 4, d);
  tb_input(g, "k", FERRY_F32, 4, d);
  tb_input(g, "v", FERRY_F32, 4, d);
  tb_attr_ints(tb_node(g, "Transpose", "q", "qt"), "perm", 4, qv);
  tb_attr_ints(tb_node(g, "Transpose", "k", "kt"), "perm", 4, kt);
  tb_attr_ints(tb_node(g, "Transpose", "v", "vt"), "perm", 4, qv);
  tb_node(g, "MatMul", "qt,kt", "s");
  tb_attr_i(tb_node(g, "Softmax", "s", "p"), "axis", -1);
  tb_node(g, "MatMul", "p,vt", "yt");
  tb_attr_ints(tb_node(g, "Transpose", "yt", "y"), "perm", 4, qv);
  tb_output(g, "y");
  if (extra_use) tb_output(g, "qt");
  return tb_load(g, 13);
}

START_TEST(test_fuse_attention_heads) {
  ferry_model *m = attention_heads_model(false);
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 1);
  ck_assert_int_eq(m->graph->n_nodes, 1); /* the four Transposes folded in */
  const ferry_node *a = &m->graph->nodes[0];
  ck_assert_str_eq(a->op, "Attention");
  ck_assert_int_eq(ferry_node_attr(a, "bshd")->i, 1);
  static const char *names[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; i++) ck_assert_str_eq(m->graph->values[a->inputs[i]].name, names[i]);
  ck_assert_str_eq(m->graph->values[a->outputs[0]].name, "y");
  ferry_model_free(m);
  m = attention_heads_model(true); /* Q's transpose has another reader: fused, Transposes kept */
  ck_assert_int_eq(run_pass(m, "fuse-attention"), 1);
  ck_assert_int_eq(count_op(m->graph, "Transpose"), 4);
  ck_assert_int_eq(count_op(m->graph, "Attention"), 1);
  for (int i = 0; i < m->graph->n_nodes; i++)
    if (!strcmp(m->graph->nodes[i].op, "Attention")) ck_assert_ptr_null(ferry_node_attr(&m->graph->nodes[i], "bshd"));
  ferry_model_free(m);
}
END_TEST

/* ---- driver ---- */

START_TEST(test_driver_names_and_report) {
  ferry_model *m = gelu_model(ERF_HALF_AFTER);
  ferry_err err = {0};
  ferry_pass_report rep;
  const char *bad[1] = {"no-such-pass"};
  ck_assert_int_eq(ferry_optimize(m, bad, 1, &rep, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "no-such-pass") && strstr(err.msg, "fuse-gelu"), "%s", err.msg);
  const char *off[1] = {"fuse-gelu"};
  ck_assert_int_eq(ferry_optimize(m, off, 1, &rep, &err), 0);
  ck_assert_int_eq(count_op(m->graph, "Gelu"), 0);
  ferry_model_free(m);

  m = gelu_model(ERF_HALF_AFTER);
  ck_assert_int_eq(ferry_optimize(m, NULL, 0, &rep, &err), 0);
  ck_assert_int_eq(count_op(m->graph, "Gelu"), 1);
  int n;
  const ferry_pass *t = ferry_pass_table(&n);
  ck_assert_int_eq(rep.n, n);
  static const char *order[] = {"dead-code", "identity", "if-const", "fold-constants", "conv-bn",
                                "conv-affine",                "fuse-activation", "fuse-layernorm", "fuse-gelu", "fuse-attention",
                                "fuse-hardswish"};
  ck_assert_int_eq(n, (int)(sizeof order / sizeof *order));
  for (int i = 0; i < n; i++) ck_assert_str_eq(t[i].name, order[i]);
  ck_assert_int_eq(rep.nodes_before, 8);
  ck_assert_int_eq(rep.nodes_after, 1);
  ck_assert_int_eq(rep.rounds, 2); /* the second round changes nothing */
  const ferry_pass_stat *gs = &rep.pass[8], *fs = &rep.pass[3];
  ck_assert_int_eq(gs->rewrites, 1);
  ck_assert_int_eq(gs->nodes_before - gs->nodes_after, 4);
  ck_assert_int_eq(gs->nodes_before, 5); /* after fold-constants in the same round */
  ck_assert_int_eq(gs->later_removed, 0);
  ck_assert_int_eq(fs->rewrites, 3); /* the Constants became weights */
  ck_assert(rep.pass[9].on);         /* fuse-attention: on, unless the graph goes to ONNX too */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ferry_pass_report_print(&rep, f);
  fclose(f);
  ck_assert_msg(strstr(buf, "fuse-gelu") && strstr(buf, "8 -> 1 nodes") && !strstr(buf, "fuse-attention   off"),
                "%s", buf);
  free(buf);
  ferry_model_free(m);

  /* an ONNX output turns the ferry-only passes off, unless enabled */
  const char *off_list[FERRY_PASS_MAX];
  int n_off = 0;
  ferry_passes_off_for_onnx(NULL, 0, off_list, &n_off);
  ck_assert_int_eq(n_off, 1);
  ck_assert_str_eq(off_list[0], "fuse-attention");
  const char *keep[1] = {"fuse-attention"};
  n_off = 0;
  ferry_passes_off_for_onnx(keep, 1, off_list, &n_off);
  ck_assert_int_eq(n_off, 0);

  m = attention_model(-1, true);
  const char *on[1] = {"fuse-attention"};
  ck_assert_int_eq(ferry_optimize_ex(m, on, 1, NULL, 0, &rep, &err), 0);
  ck_assert_int_eq(count_op(m->graph, "Attention"), 1);
  ferry_model_free(m);
}
END_TEST

/* ---- real models ---- */

static ferry_model *load_real(const char *rel, bool infer) {
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(tu_model(rel), &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  if (infer) ck_assert_msg(ferry_infer_shapes(m, NULL, 0, &err) == 0, "%s: infer: %s", rel, err.msg);
  return m;
}

static int optimize(ferry_model *m, const char *pass, ferry_pass_report *rep) {
  ferry_err err = {0};
  const char *on[1] = {"fuse-attention"};
  ck_assert_msg(ferry_optimize_ex(m, on, 1, NULL, 0, rep, &err) == 0, "%s", err.msg);
  check_consistent(m->graph);
  for (int i = 0; i < rep->n; i++)
    if (!strcmp(rep->pass[i].name, pass)) return rep->pass[i].rewrites;
  ck_abort_msg("no pass %s", pass);
  return -1;
}

START_TEST(test_real_bert_op13) {
  for (int infer = 0; infer < 2; infer++) {
    ferry_model *m = load_real("bert_tiny_op13.onnx", infer);
    ferry_pass_report rep;
    ck_assert_int_eq(optimize(m, "fuse-layernorm", &rep), 5);
    ck_assert_int_eq(optimize(m, "fuse-gelu", &rep), 0); /* nothing left after the first run */
    ck_assert_int_eq(count_op(m->graph, "LayerNormalization"), 5);
    ck_assert_int_eq(count_op(m->graph, "Gelu"), 2);
    ck_assert_int_eq(count_op(m->graph, "Attention"), 2);
    ck_assert_int_eq(count_op(m->graph, "Erf") + count_op(m->graph, "ReduceMean"), 0);
    ferry_model_free(m);
  }
}
END_TEST

START_TEST(test_real_gpt_op13) {
  ferry_model *m = load_real("gpt_tiny_op13.onnx", false);
  ferry_pass_report rep;
  ck_assert_int_eq(optimize(m, "fuse-gelu", &rep), 2);
  ck_assert_int_eq(count_op(m->graph, "FastGelu"), 2);
  ck_assert_int_eq(count_op(m->graph, "LayerNormalization"), 5);
  ck_assert_int_eq(count_op(m->graph, "Tanh"), 0);
  ferry_model_free(m);
  m = load_real("gpt_tiny_op17.onnx", false);
  ck_assert_int_eq(optimize(m, "fuse-gelu", &rep), 2);
  ck_assert_int_eq(count_op(m->graph, "LayerNormalization"), 5);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_real_cnns) {
  static const struct {
    const char *model;
    int fused, bn;
  } cases[] = {{"resnet18.onnx", 9, 0},
               {"mobilenet_v2.onnx", 35, 0},
               {"squeezenet1_1.onnx", 26, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    for (int infer = 0; infer < 2; infer++) {
      ferry_model *m = load_real(cases[i].model, infer);
      ferry_pass_report rep;
      ck_assert_msg(optimize(m, "fuse-activation", &rep) == cases[i].fused, "%s: %d fusions", cases[i].model,
                    optimize(m, "fuse-activation", &rep));
      ck_assert_int_eq(count_op(m->graph, "FusedConv"), cases[i].fused);
      ck_assert_int_eq(rep.pass[4].rewrites, cases[i].bn);
      ferry_model_free(m);
    }
  }
}
END_TEST

START_TEST(test_real_npm_models) {
  ferry_model *m = load_real("npm/ch_PP-OCRv4_det_infer.onnx", false);
  ferry_pass_report rep;
  int fused = optimize(m, "fuse-activation", &rep);
  ck_assert_int_gt(fused, 0);
  ck_assert_int_eq(count_op(m->graph, "Constant"), 0); /* all became weights */
  ck_assert_str_eq(rep.pass[10].name, "fuse-hardswish");
  ck_assert_int_eq(rep.pass[10].rewrites, 24); /* every x * Clip(x + 3, 0, 6) / 6 (opset 11) */
  ck_assert_str_eq(rep.pass[5].name, "conv-affine");
  /* PP-LCNetV3's learnable affine blocks: a Mul and an Add after 28 Convs (without inferred shapes the
   * ones before a Conv stay: their input's rank is not known) */
  ck_assert_int_eq(rep.pass[5].rewrites, 56);
  ck_assert_int_eq(count_op(m->graph, "Clip") + count_op(m->graph, "Div"), 0);
  ck_assert_int_eq(count_op(m->graph, "HardSigmoid"), 24); /* the 10 of its own went into FusedConv */
  ferry_pass_report_print(&rep, stderr);
  ferry_model_free(m);
  m = load_real("npm/silero_vad_v5.onnx", false);
  optimize(m, "dead-code", &rep);
  ck_assert_int_gt(count_op(m->graph, "If"), 0);
  ck_assert_int_gt(count_op(m->graph, "LSTM"), 0);
  ferry_pass_report_print(&rep, stderr);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_all_onnx_testdata_optimize) {
  const char *root = tu_env("ONNX_TESTDATA");
  const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  int total = 0;
  for (size_t s = 0; s < sizeof suites / sizeof *suites; s++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, suites[s]);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
      ferry_err err = {0};
      ferry_model *m = ferry_onnx_load(path, &err);
      if (!m) continue; /* import's own tests cover these */
      const char *on[1] = {"fuse-attention"};
      int rc = ferry_optimize_ex(m, on, 1, NULL, 0, NULL, &err);
      ck_assert_msg(rc == 0, "%s: %s", path, err.msg);
      check_consistent(m->graph);
      ferry_model_free(m);
      total++;
    }
    closedir(d);
  }
  ck_assert_int_gt(total, 1000);
}
END_TEST

/* ---- onnxruntime: same outputs before and after ---- */

static const char *srcdir(void) {
  const char *s = getenv("FERRY_SRCDIR");
  return s && *s ? s : FERRY_SOURCE_DIR;
}

/* The default passes but those that make ops only ferry runs, as
 * convert --emit-onnx does: the result is for onnxruntime. */
static int optimize_for_onnx(ferry_model *m, ferry_pass_report *rep, ferry_err *err) {
  const char *off[FERRY_PASS_MAX];
  int n_off = 0;
  ferry_passes_off_for_onnx(NULL, 0, off, &n_off);
  return ferry_optimize(m, off, n_off, rep, err);
}

/* Optimizes `rel` (optimize_for_onnx), saves it, and compares both in
 * onnxruntime-node; returns compare.mjs's exit code. */
static int ort_compare(const char *rel, const char *args, char *out, size_t n) {
  ferry_model *m = load_real(rel, false);
  ferry_pass_report rep;
  ferry_err err = {0};
  ck_assert_msg(optimize_for_onnx(m, &rep, &err) == 0, "%s", err.msg);
  const char *dir = tu_tmpdir();
  char path[256];
  snprintf(path, sizeof path, "%s/opt.onnx", dir);
  ck_assert_msg(ferry_onnx_save(m, path, &err) == 0, "save: %s", err.msg);
  ferry_model_free(m);
  char cmd[16384], a[4200];
  snprintf(a, sizeof a, "%s", tu_model(rel));
  snprintf(cmd, sizeof cmd,
           "FERRY_ORT='%s/ort' timeout 300 node '%s/tests/ort/compare.mjs' '%s' '%s' --rtol 1e-3 --atol 1e-4 %s 2>&1",
           tu_env("FERRY_TEST_MODELS"), srcdir(), a, path, args);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t got = fread(out, 1, n - 1, p);
  out[got] = 0;
  int st = pclose(p);
  unlink(path);
  rmdir(dir);
  fprintf(stderr, "onnxruntime %s (optimized): %s", rel, out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_ort(const char *rel, const char *args) {
  char out[8192];
  int rc = ort_compare(rel, args, out, sizeof out);
  ck_assert_msg(rc == 0 && strstr(out, "PASS"), "%s: compare.mjs exit %d:\n%s", rel, rc, out);
}

/* Compares the crafted model at `orig` with ferry's optimized m in
 * onnxruntime; at least `min_rewrites` rewrites must have happened. */
static void check_ort_crafted(const char *what, ferry_model *m, const char *orig, int min_rewrites) {
  ferry_pass_report rep;
  ferry_err err = {0};
  ck_assert_msg(optimize_for_onnx(m, &rep, &err) == 0, "%s: %s", what, err.msg);
  int r = 0;
  for (int i = 0; i < rep.n; i++) r += rep.pass[i].rewrites;
  ck_assert_msg(r >= min_rewrites, "%s: %d rewrites", what, r);
  char path[4200], cmd[16384], out[8192];
  snprintf(path, sizeof path, "%s.opt.onnx", orig);
  ck_assert_msg(ferry_onnx_save(m, path, &err) == 0, "save: %s", err.msg);
  ferry_model_free(m);
  snprintf(cmd, sizeof cmd,
           "FERRY_ORT='%s/ort' timeout 300 node '%s/tests/ort/compare.mjs' '%s' '%s' --rtol 1e-4 --atol 1e-5 "
           "--dims N=3 2>&1",
           tu_env("FERRY_TEST_MODELS"), srcdir(), orig, path);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t got = fread(out, 1, sizeof out - 1, p);
  out[got] = 0;
  int st = pclose(p);
  unlink(path);
  unlink(orig);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "PASS"), "%s:\n%s", what, out);
}

START_TEST(test_ort_crafted_fusions) {
  const char *dir = tu_tmpdir();
  char orig[256];
  snprintf(orig, sizeof orig, "%s/crafted.onnx", dir);
  tb_save_to = orig;
  static const int64_t n2[1] = {2}, one_n[2] = {1, 2};
  void (*acts[])(Onnx__GraphProto *) = {act_relu, act_clip, act_leaky, act_hardsigmoid, act_sigmoid, act_tanh};
  for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) check_ort_crafted("conv+act", conv_act_model(acts[i], false), orig, 1);
  check_ort_crafted("conv+bn", conv_bn_model(false, false, -1), orig, 1);
  check_ort_crafted("conv-affine after", affine_model(AFF_AFTER), orig, 4);
  check_ort_crafted("conv-affine before", inferred(affine_model(AFF_BEFORE)), orig, 2);
  static const char *gemm_acts[] = {"Relu", "LeakyRelu", "HardSigmoid", "Sigmoid", "Tanh"};
  for (size_t i = 0; i < sizeof gemm_acts / sizeof *gemm_acts; i++)
    check_ort_crafted(gemm_acts[i], gemm_model("MatMul", 2, n2, 1, gemm_acts[i]), orig, 2);
  check_ort_crafted("gemm bias [1,N]", gemm_model("Gemm", 2, one_n, 2, NULL), orig, 1);
  check_ort_crafted("layernorm", layernorm_model(-1, false, true, 2), orig, 1);
  check_ort_crafted("layernorm without beta", layernorm_model(2, false, false, 2), orig, 1);
  static const enum gelu_form forms[] = {ERF_HALF_AFTER, ERF_HALF_BEFORE, ERF_MUL_RSQRT2, TANH_POW, TANH_MULS};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) check_ort_crafted("gelu", gelu_model(forms[i]), orig, 1);
  check_ort_crafted("hardswish opset 14", hswish_model(HS_DIV_AFTER, 14), orig, 1);
  check_ort_crafted("hardswish opset 11", hswish_model(HS_MUL_SIXTH_INSIDE, 11), orig, 1);
  check_ort_crafted("hardswish opset 9", hswish_model(HS_DIV_AFTER, 9), orig, 1);
  check_ort_crafted("if-const then", if_model(1, false), orig, 1);
  check_ort_crafted("if-const else", if_model(0, false), orig, 1);
  /* (if_model(1, true) is no case: onnxruntime refuses a branch returning an outer value) */
  tb_save_to = NULL;
  rmdir(dir);
}
END_TEST

START_TEST(test_ort_cnns) {
  check_ort("resnet18.onnx", "");
  check_ort("mobilenet_v2.onnx", "");
  check_ort("squeezenet1_1.onnx", "");
  check_ort("npm/ch_PP-OCRv4_det_infer.onnx", "--dims p2o.DynamicDimension.N=1 --input x=random@1x3x64x64");
}
END_TEST

START_TEST(test_ort_transformers) {
  check_ort("bert_tiny_op13.onnx", "--dims batch=1,sequence=7");
  check_ort("gpt_tiny_op13.onnx", "--dims batch=1,sequence=7");
  check_ort("bert_tiny_op17.onnx", "--dims batch=1,sequence=7");
}
END_TEST

START_TEST(test_ort_silero) {
  check_ort("npm/silero_vad_v5.onnx", "--input input=random@1x576 --input state=zeros@2x1x128 --input sr=16000@");
}
END_TEST

static Suite *passes_suite(void) {
  Suite *s = suite_create("passes");
  TCase *c = tcase_create("rewrite");
  tcase_add_test(c, test_replace_reaches_subgraph_captures);
  tcase_add_test(c, test_replace_graph_output_renames_or_refuses);
  suite_add_tcase(s, c);
  c = tcase_create("cleanup");
  tcase_add_test(c, test_dead_code_removes_chains_and_weights);
  tcase_add_test(c, test_dead_code_keeps_captured_values);
  tcase_add_test(c, test_dead_code_drops_unused_if_and_its_branches);
  tcase_add_test(c, test_identity_bypassed);
  tcase_add_test(c, test_identity_of_input_to_output_kept);
  tcase_add_test(c, test_identity_dropout_forms);
  tcase_add_test(c, test_identity_cast_to_same_type);
  tcase_add_test(c, test_if_const_inlines_taken_branch);
  tcase_add_test(c, test_if_const_branch_returning_outer_value);
  tcase_add_test(c, test_if_const_moves_nested_subgraphs);
  tcase_add_test(c, test_if_const_renames_taken_names);
  tcase_add_test(c, test_if_non_constant_kept);
  suite_add_tcase(s, c);
  c = tcase_create("fold");
  tcase_add_test(c, test_fold_shape_chain);
  tcase_add_test(c, test_fold_symbolic_shape_kept);
  tcase_add_test(c, test_fold_evaluators);
  tcase_add_test(c, test_fold_where_and_non_constant);
  tcase_add_test(c, test_fold_feeds_subgraph_captures);
  suite_add_tcase(s, c);
  c = tcase_create("fuse");
  tcase_add_test(c, test_conv_bn_folds_weights);
  tcase_add_test(c, test_conv_bn_not_folded);
  tcase_add_test(c, test_fuse_conv_activations);
  tcase_add_test(c, test_fuse_conv_activation_refused);
  tcase_add_test(c, test_fuse_gemm_bias_and_activation);
  tcase_add_test(c, test_fuse_layernorm);
  tcase_add_test(c, test_fuse_layernorm_refused);
  tcase_add_test(c, test_fuse_gelu_forms);
  tcase_add_test(c, test_fuse_attention);
  tcase_add_test(c, test_fuse_attention_where);
  tcase_add_test(c, test_fuse_attention_heads);
  tcase_add_test(c, test_fuse_hardswish_forms);
  tcase_add_test(c, test_conv_affine_after);
  tcase_add_test(c, test_conv_affine_before);
  tcase_add_test(c, test_conv_affine_refused);
  suite_add_tcase(s, c);
  c = tcase_create("driver");
  tcase_add_test(c, test_driver_names_and_report);
  suite_add_tcase(s, c);
  c = tcase_create("real");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_real_bert_op13);
  tcase_add_test(c, test_real_gpt_op13);
  tcase_add_test(c, test_real_cnns);
  tcase_add_test(c, test_real_npm_models);
  tcase_add_test(c, test_all_onnx_testdata_optimize);
  suite_add_tcase(s, c);
  c = tcase_create("ort");
  tcase_set_timeout(c, 900);
  tcase_add_test(c, test_ort_crafted_fusions);
  tcase_add_test(c, test_ort_cnns);
  tcase_add_test(c, test_ort_transformers);
  tcase_add_test(c, test_ort_silero);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(passes_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
