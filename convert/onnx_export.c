/*
 * onnx_export.c - ferry graph IR -> ONNX ModelProto file (onnx_export.h).
 *
 * The IR is turned into protobuf-c structs that live in a private arena and
 * point at the IR's own strings and tensor bytes (ProtobufCBinaryData only
 * points), so a large model's weights are never copied in memory. The packed
 * size is checked against protobuf's 2 GiB limit before anything is written;
 * packing then streams through a buffered writer into a temporary file
 * beside the target, which is synced and renamed over it.
 *
 * What the IR does not hold is not written: local functions (inlined on
 * import), doc strings of graphs/nodes, external-data layout (weights are
 * written inline) and sparse initializers (densified on import, written
 * dense). Sparse tensor attributes are written sparse again (non-zeros).
 */
#include "onnx_export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "onnx.pb-c.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define MIN_IR_VERSION 7
#define MAX_GRAPH_DEPTH 200
#define MAX_PROTO_BYTES ((size_t)INT32_MAX)
#define BLOCK_BYTES ((size_t)64 << 10)
#define WRITE_BUF_BYTES ((size_t)1 << 20)

/* ---- arena: every struct of the message tree, freed at once ---- */

typedef struct block {
  struct block *next;
  size_t used, size;
  _Alignas(16) unsigned char mem[];
} block;

typedef struct exporter {
  const ferry_model *m;
  ferry_err *err;
  block *blocks;        /* head: the block being filled */
  ferry_opset *opsets;  /* imports to write: the model's plus missing domains */
  int n_opsets, cap_opsets;
  int failed;           /* set with err on the first failure */
} exporter;

static int nomem(exporter *x) {
  if (!x->failed) ferry_fail(x->err, FERRY_E_SYSTEM, "out of memory");
  x->failed = 1;
  return FERRY_E_SYSTEM;
}

static block *new_block(size_t size) {
  block *b = calloc(1, sizeof *b + size);
  if (b) b->size = size;
  return b;
}

/* Zeroed memory that lives until arena_free; NULL (and err set) on OOM. */
static void *xalloc(exporter *x, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (!n) n = 16;
  block *b = x->blocks;
  if (n > BLOCK_BYTES / 4) { /* big: its own block, behind the current one */
    block *big = new_block(n);
    if (!big) return nomem(x), NULL;
    big->used = n;
    if (b) {
      big->next = b->next;
      b->next = big;
    } else {
      x->blocks = big;
    }
    return big->mem;
  }
  if (!b || b->size - b->used < n) {
    b = new_block(BLOCK_BYTES);
    if (!b) return nomem(x), NULL;
    b->next = x->blocks;
    x->blocks = b;
  }
  void *p = b->mem + b->used;
  b->used += n;
  return p;
}

static void *xarray(exporter *x, size_t n, size_t size) {
  if (n && size > SIZE_MAX / n) return nomem(x), NULL;
  return xalloc(x, n * size);
}

static char *xstrndup(exporter *x, const char *s, size_t n) {
  char *d = xalloc(x, n + 1);
  if (d && n) memcpy(d, s, n);
  return d;
}

static void arena_free(exporter *x) {
  while (x->blocks) {
    block *n = x->blocks->next;
    free(x->blocks);
    x->blocks = n;
  }
  free(x->opsets);
}

/* IR strings are NUL-terminated and outlive the export: point at them. */
static char *str(const char *s) {
  return (char *)(s ? s : "");
}

/* NULL for an empty string: the optional field is then left out. */
static char *opt_str(const char *s) {
  return s && *s ? (char *)s : NULL;
}

static ProtobufCBinaryData bin(const ferry_str *s) {
  return (ProtobufCBinaryData){s->len, (uint8_t *)(s->ptr ? s->ptr : "")};
}

/* ---- tensors ---- */

static int tensor_data(exporter *x, const ferry_tensor *t, Onnx__TensorProto *tp) {
  if (t->dtype == FERRY_STRING) {
    const ferry_str *s = t->data;
    tp->string_data = xarray(x, (size_t)t->numel, sizeof *tp->string_data);
    if (!tp->string_data) return -1;
    for (int64_t i = 0; i < t->numel; i++) tp->string_data[i] = bin(&s[i]);
    tp->n_string_data = (size_t)t->numel;
    return 0;
  }
  if (!t->data && t->nbytes) {
    x->failed = 1;
    return ferry_fail(x->err, FERRY_E_INPUT, "tensor '%s' has no data", tp->name ? tp->name : "");
  }
  tp->has_raw_data = 1;
  tp->raw_data = (ProtobufCBinaryData){t->nbytes, (uint8_t *)(t->data ? t->data : "")};
  return 0;
}

static Onnx__TensorProto *build_tensor(exporter *x, const ferry_tensor *t, const char *name) {
  Onnx__TensorProto *tp = xalloc(x, sizeof *tp);
  if (!tp) return NULL;
  onnx__tensor_proto__init(tp);
  tp->name = opt_str(name);
  tp->has_data_type = 1;
  tp->data_type = t->dtype;
  tp->n_dims = (size_t)t->rank;
  tp->dims = (int64_t *)t->dims;
  return tensor_data(x, t, tp) ? NULL : tp;
}

static int is_zero(const unsigned char *p, int size) {
  for (int i = 0; i < size; i++)
    if (p[i]) return 0;
  return 1;
}

/* A dense tensor as SparseTensorProto: its non-zero elements, flat indices. */
static Onnx__SparseTensorProto *build_sparse(exporter *x, const ferry_tensor *t) {
  int size = ferry_dtype_size(t->dtype);
  if (size <= 0) {
    x->failed = 1;
    ferry_fail(x->err, FERRY_E_INPUT, "sparse tensor of %s cannot be written", ferry_dtype_name(t->dtype));
    return NULL;
  }
  const unsigned char *d = t->data;
  int64_t nnz = 0;
  for (int64_t i = 0; i < t->numel; i++) nnz += !is_zero(d + i * size, size);
  Onnx__SparseTensorProto *sp = xalloc(x, sizeof *sp);
  int64_t *idx = xarray(x, (size_t)nnz, sizeof *idx), *nd = xalloc(x, sizeof *nd);
  unsigned char *vals = xarray(x, (size_t)nnz, (size_t)size);
  if (!sp || !idx || !nd || !vals) return NULL;
  for (int64_t i = 0, k = 0; i < t->numel; i++) {
    if (is_zero(d + i * size, size)) continue;
    memcpy(vals + k * size, d + i * size, (size_t)size);
    idx[k++] = i;
  }
  *nd = nnz;
  ferry_tensor vt = {.dtype = t->dtype, .rank = 1, .dims = nd, .numel = nnz, .data = vals,
                     .nbytes = (size_t)(nnz * size)};
  ferry_tensor it = {.dtype = FERRY_I64, .rank = 1, .dims = nd, .numel = nnz, .data = idx,
                     .nbytes = (size_t)nnz * sizeof *idx};
  onnx__sparse_tensor_proto__init(sp);
  sp->values = build_tensor(x, &vt, NULL);
  sp->indices = build_tensor(x, &it, NULL);
  sp->n_dims = (size_t)t->rank;
  sp->dims = (int64_t *)t->dims;
  return sp->values && sp->indices ? sp : NULL;
}

/* ---- types ---- */

static Onnx__TensorShapeProto__Dimension *build_dim(exporter *x, ferry_dim d) {
  Onnx__TensorShapeProto__Dimension *dp = xalloc(x, sizeof *dp);
  if (!dp) return NULL;
  onnx__tensor_shape_proto__dimension__init(dp);
  int64_t v;
  if (ferry_dim_is_const(d, &v)) {
    dp->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    dp->dim_value = v;
    return dp;
  }
  size_t n = ferry_dim_str(d, NULL, 0);
  char *s = xalloc(x, n + 1);
  if (!s) return NULL;
  ferry_dim_str(d, s, n + 1);
  dp->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
  dp->dim_param = s;
  return dp;
}

/* NULL with x->failed clear: the rank is unknown, no shape. */
static Onnx__TensorShapeProto *build_shape(exporter *x, const ferry_type *t) {
  if (t->rank < 0) return NULL;
  Onnx__TensorShapeProto *sp = xalloc(x, sizeof *sp);
  if (!sp) return NULL;
  onnx__tensor_shape_proto__init(sp);
  sp->dim = xarray(x, (size_t)t->rank, sizeof *sp->dim);
  if (!sp->dim) return NULL;
  sp->n_dim = (size_t)t->rank;
  for (int i = 0; i < t->rank; i++)
    if (!(sp->dim[i] = build_dim(x, t->shape[i]))) return NULL;
  return sp;
}

static Onnx__TypeProto *build_type(exporter *x, const ferry_type *t, int depth);

static int build_tensor_type(exporter *x, const ferry_type *t, Onnx__TypeProto *tp) {
  Onnx__TensorShapeProto *shape = build_shape(x, t);
  if (x->failed) return -1;
  if (t->kind == FERRY_V_SPARSE) {
    Onnx__TypeProto__SparseTensor *st = xalloc(x, sizeof *st);
    if (!st) return -1;
    onnx__type_proto__sparse_tensor__init(st);
    st->has_elem_type = t->dtype != 0;
    st->elem_type = t->dtype;
    st->shape = shape;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE;
    tp->sparse_tensor_type = st;
    return 0;
  }
  Onnx__TypeProto__Tensor *tt = xalloc(x, sizeof *tt);
  if (!tt) return -1;
  onnx__type_proto__tensor__init(tt);
  tt->has_elem_type = t->dtype != 0;
  tt->elem_type = t->dtype;
  tt->shape = shape;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  return 0;
}

static int build_nested_type(exporter *x, const ferry_type *t, Onnx__TypeProto *tp, int depth) {
  Onnx__TypeProto *elem = t->elem ? build_type(x, t->elem, depth + 1) : NULL;
  if (x->failed) return -1;
  if (t->kind == FERRY_V_MAP) {
    Onnx__TypeProto__Map *mt = xalloc(x, sizeof *mt);
    if (!mt) return -1;
    onnx__type_proto__map__init(mt);
    mt->has_key_type = 1;
    mt->key_type = t->dtype;
    mt->value_type = elem;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
    tp->map_type = mt;
  } else if (t->kind == FERRY_V_SEQUENCE) {
    Onnx__TypeProto__Sequence *st = xalloc(x, sizeof *st);
    if (!st) return -1;
    onnx__type_proto__sequence__init(st);
    st->elem_type = elem;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp->sequence_type = st;
  } else {
    Onnx__TypeProto__Optional *ot = xalloc(x, sizeof *ot);
    if (!ot) return -1;
    onnx__type_proto__optional__init(ot);
    ot->elem_type = elem;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
    tp->optional_type = ot;
  }
  return 0;
}

/* NULL with x->failed clear when the type is unknown. */
static Onnx__TypeProto *build_type(exporter *x, const ferry_type *t, int depth) {
  if (t->kind == FERRY_V_UNKNOWN || t->kind < 0 || t->kind > FERRY_V_UNKNOWN) return NULL;
  if (depth > MAX_GRAPH_DEPTH) {
    x->failed = 1;
    ferry_fail(x->err, FERRY_E_INPUT, "type nested deeper than %d levels", MAX_GRAPH_DEPTH);
    return NULL;
  }
  Onnx__TypeProto *tp = xalloc(x, sizeof *tp);
  if (!tp) return NULL;
  onnx__type_proto__init(tp);
  int rc = t->kind == FERRY_V_TENSOR || t->kind == FERRY_V_SPARSE ? build_tensor_type(x, t, tp)
                                                                  : build_nested_type(x, t, tp, depth);
  return rc ? NULL : tp;
}

/* A TypeProto even for an unknown type (then an empty one), NULL on failure. */
static Onnx__TypeProto *build_type_any(exporter *x, const ferry_type *t) {
  Onnx__TypeProto *tp = build_type(x, t, 0);
  if (tp || x->failed) return tp;
  if ((tp = xalloc(x, sizeof *tp))) onnx__type_proto__init(tp);
  return tp;
}

static Onnx__ValueInfoProto *build_value_info(exporter *x, const ferry_value *v) {
  Onnx__ValueInfoProto *vi = xalloc(x, sizeof *vi);
  if (!vi) return NULL;
  onnx__value_info_proto__init(vi);
  vi->name = str(v->name);
  vi->type = build_type(x, &v->type, 0);
  return x->failed ? NULL : vi;
}

/* ---- attributes ---- */

static Onnx__GraphProto *build_graph(exporter *x, const ferry_graph *g, int depth);

static int attr_lists(exporter *x, const ferry_attr *a, Onnx__AttributeProto *ap, int depth) {
  size_t n = a->n > 0 ? (size_t)a->n : 0;
  switch (a->type) {
  case FERRY_A_FLOATS: ap->n_floats = n; ap->floats = (float *)a->floats; return 0;
  case FERRY_A_INTS: ap->n_ints = n; ap->ints = (int64_t *)a->ints; return 0;
  case FERRY_A_STRINGS:
    if (!(ap->strings = xarray(x, n, sizeof *ap->strings))) return -1;
    for (size_t i = 0; i < n; i++) ap->strings[i] = bin(&a->strings[i]);
    ap->n_strings = n;
    return 0;
  case FERRY_A_TENSORS:
    if (!(ap->tensors = xarray(x, n, sizeof *ap->tensors))) return -1;
    for (size_t i = 0; i < n; i++)
      if (!(ap->tensors[i] = build_tensor(x, a->tensors[i], NULL))) return -1;
    ap->n_tensors = n;
    return 0;
  case FERRY_A_SPARSE_TENSORS:
    if (!(ap->sparse_tensors = xarray(x, n, sizeof *ap->sparse_tensors))) return -1;
    for (size_t i = 0; i < n; i++)
      if (!(ap->sparse_tensors[i] = build_sparse(x, a->tensors[i]))) return -1;
    ap->n_sparse_tensors = n;
    return 0;
  case FERRY_A_GRAPHS:
    if (!(ap->graphs = xarray(x, n, sizeof *ap->graphs))) return -1;
    for (size_t i = 0; i < n; i++)
      if (!(ap->graphs[i] = build_graph(x, a->graphs[i], depth + 1))) return -1;
    ap->n_graphs = n;
    return 0;
  case FERRY_A_TYPE_PROTOS:
    if (!(ap->type_protos = xarray(x, n, sizeof *ap->type_protos))) return -1;
    for (size_t i = 0; i < n; i++)
      if (!(ap->type_protos[i] = build_type_any(x, &a->types[i]))) return -1;
    ap->n_type_protos = n;
    return 0;
  }
  return 0;
}

static int attr_value(exporter *x, const ferry_attr *a, Onnx__AttributeProto *ap, int depth) {
  switch (a->type) {
  case FERRY_A_FLOAT: ap->has_f = 1; ap->f = a->f; return 0;
  case FERRY_A_INT: ap->has_i = 1; ap->i = a->i; return 0;
  case FERRY_A_STRING: ap->has_s = 1; ap->s = bin(&a->s); return 0;
  case FERRY_A_TENSOR: return (ap->t = build_tensor(x, a->t, NULL)) ? 0 : -1;
  case FERRY_A_SPARSE_TENSOR: return (ap->sparse_tensor = build_sparse(x, a->t)) ? 0 : -1;
  case FERRY_A_GRAPH: return (ap->g = build_graph(x, a->g, depth + 1)) ? 0 : -1;
  case FERRY_A_TYPE_PROTO: return (ap->tp = build_type_any(x, &a->types[0])) ? 0 : -1;
  default: return attr_lists(x, a, ap, depth);
  }
}

static Onnx__AttributeProto *build_attr(exporter *x, const ferry_attr *a, int depth) {
  Onnx__AttributeProto *ap = xalloc(x, sizeof *ap);
  if (!ap) return NULL;
  onnx__attribute_proto__init(ap);
  ap->name = str(a->name);
  if (a->type < FERRY_A_UNDEFINED || a->type > FERRY_A_TYPE_PROTOS) {
    x->failed = 1;
    ferry_fail(x->err, FERRY_E_INPUT, "attribute '%s' has unknown type %d", ap->name, a->type);
    return NULL;
  }
  ap->has_type = a->type != FERRY_A_UNDEFINED;
  ap->type = (Onnx__AttributeProto__AttributeType)a->type;
  if (attr_value(x, a, ap, depth)) {
    if (!x->failed) nomem(x); /* a builder that returned NULL without a reason */
    return NULL;
  }
  return ap;
}

/* ---- nodes and graphs ---- */

static const char *value_name(const ferry_graph *g, int v) {
  return v >= 0 && v < g->n_values ? str(g->values[v].name) : "";
}

static int node_attrs(exporter *x, const ferry_node *n, Onnx__NodeProto *np, int depth) {
  np->attribute = xarray(x, (size_t)n->n_attrs, sizeof *np->attribute);
  if (!np->attribute) return -1;
  np->n_attribute = (size_t)n->n_attrs;
  for (int i = 0; i < n->n_attrs; i++) {
    np->attribute[i] = build_attr(x, &n->attrs[i], depth);
    if (!np->attribute[i]) {
      char what[300];
      snprintf(what, sizeof what, "node '%.100s' (%.100s)", n->name, n->op);
      ferry_err_prefix(x->err, what);
      return -1;
    }
  }
  return 0;
}

static Onnx__NodeProto *build_node(exporter *x, const ferry_graph *g, const ferry_node *n, int depth) {
  Onnx__NodeProto *np = xalloc(x, sizeof *np);
  if (!np) return NULL;
  onnx__node_proto__init(np);
  np->name = opt_str(n->name);
  np->op_type = str(n->op);
  np->domain = opt_str(n->domain);
  np->input = xarray(x, (size_t)n->n_inputs, sizeof *np->input);
  np->output = xarray(x, (size_t)n->n_outputs, sizeof *np->output);
  if (!np->input || !np->output) return NULL;
  np->n_input = (size_t)n->n_inputs;
  np->n_output = (size_t)n->n_outputs;
  for (int i = 0; i < n->n_inputs; i++) np->input[i] = (char *)value_name(g, n->inputs[i]);
  for (int i = 0; i < n->n_outputs; i++) np->output[i] = (char *)value_name(g, n->outputs[i]);
  return node_attrs(x, n, np, depth) ? NULL : np;
}

/* An intermediate value worth a value_info entry: local, produced here,
 * not an input/output/weight, with a known type. */
static int wants_value_info(const ferry_value *v) {
  return v->outer < 0 && v->producer >= 0 && v->type.kind != FERRY_V_UNKNOWN &&
         !(v->flags & (FERRY_VAL_INPUT | FERRY_VAL_OUTPUT | FERRY_VAL_WEIGHT));
}

static int graph_values(exporter *x, const ferry_graph *g, Onnx__GraphProto *gp) {
  size_t n_init = 0, n_info = 0;
  for (int i = 0; i < g->n_values; i++) {
    const ferry_value *v = &g->values[i];
    n_init += v->outer < 0 && (v->flags & FERRY_VAL_WEIGHT) && v->data;
    n_info += wants_value_info(v);
  }
  gp->initializer = xarray(x, n_init, sizeof *gp->initializer);
  gp->value_info = xarray(x, n_info, sizeof *gp->value_info);
  if (!gp->initializer || !gp->value_info) return -1;
  for (int i = 0; i < g->n_values; i++) {
    const ferry_value *v = &g->values[i];
    if (v->outer < 0 && (v->flags & FERRY_VAL_WEIGHT) && v->data) {
      Onnx__TensorProto *tp = build_tensor(x, v->data, str(v->name));
      if (!tp) return -1;
      gp->initializer[gp->n_initializer++] = tp;
    } else if (wants_value_info(v)) {
      Onnx__ValueInfoProto *vi = build_value_info(x, v);
      if (!vi) return -1;
      gp->value_info[gp->n_value_info++] = vi;
    }
  }
  return 0;
}

static int graph_io(exporter *x, const ferry_graph *g, Onnx__GraphProto *gp) {
  gp->input = xarray(x, (size_t)g->n_inputs, sizeof *gp->input);
  gp->output = xarray(x, (size_t)g->n_outputs, sizeof *gp->output);
  if (!gp->input || !gp->output) return -1;
  for (int i = 0; i < g->n_inputs; i++)
    if (!(gp->input[gp->n_input++] = build_value_info(x, &g->values[g->inputs[i]]))) return -1;
  for (int i = 0; i < g->n_outputs; i++)
    if (!(gp->output[gp->n_output++] = build_value_info(x, &g->values[g->outputs[i]]))) return -1;
  return 0;
}

static Onnx__GraphProto *build_graph(exporter *x, const ferry_graph *g, int depth) {
  if (!g || depth > MAX_GRAPH_DEPTH) {
    x->failed = 1;
    if (g) ferry_fail(x->err, FERRY_E_INPUT, "subgraphs nested deeper than %d levels", MAX_GRAPH_DEPTH);
    else ferry_fail(x->err, FERRY_E_INPUT, "a graph attribute has no graph");
    return NULL;
  }
  Onnx__GraphProto *gp = xalloc(x, sizeof *gp);
  if (!gp) return NULL;
  onnx__graph_proto__init(gp);
  gp->name = str(g->name);
  gp->node = xarray(x, (size_t)g->n_nodes, sizeof *gp->node);
  if (!gp->node) return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    if (!(gp->node[gp->n_node++] = build_node(x, g, &g->nodes[i], depth))) return NULL;
  if (graph_values(x, g, gp) || graph_io(x, g, gp)) return NULL;
  return gp;
}

/* ---- opsets and model ---- */

static int find_opset(const exporter *x, const char *domain) {
  for (int i = 0; i < x->n_opsets; i++)
    if (strcmp(x->opsets[i].domain, domain) == 0) return i;
  return -1;
}

static int add_opset(exporter *x, const char *domain, int64_t version) {
  if (x->n_opsets == x->cap_opsets) {
    int cap = x->cap_opsets ? 2 * x->cap_opsets : 8;
    ferry_opset *p = realloc(x->opsets, (size_t)cap * sizeof *p);
    if (!p) return nomem(x);
    x->opsets = p;
    x->cap_opsets = cap;
  }
  x->opsets[x->n_opsets++] = (ferry_opset){domain, version};
  return 0;
}

/* Adds an import for every domain a node uses that the model lacks:
 * "com.microsoft" (ferry's fused contrib ops) at version 1, any other at
 * the node's own opset. */
static void missing_domains(ferry_graph *g, void *user) {
  exporter *x = user;
  for (int i = 0; i < g->n_nodes && !x->failed; i++) {
    const char *d = g->nodes[i].domain ? g->nodes[i].domain : "";
    if (strcmp(d, "ai.onnx") == 0) d = "";
    if (find_opset(x, d) >= 0) continue;
    int64_t v = strcmp(d, "com.microsoft") == 0 ? 1 : g->nodes[i].opset > 0 ? g->nodes[i].opset : 1;
    add_opset(x, d, v);
  }
}

static int build_opsets(exporter *x, Onnx__ModelProto *mp) {
  for (int i = 0; i < x->m->n_opsets && !x->failed; i++)
    add_opset(x, x->m->opsets[i].domain ? x->m->opsets[i].domain : "", x->m->opsets[i].version);
  if (x->m->graph && !x->failed) ferry_graph_walk(x->m->graph, missing_domains, x);
  if (x->failed) return -1;
  mp->opset_import = xarray(x, (size_t)x->n_opsets, sizeof *mp->opset_import);
  if (!mp->opset_import) return -1;
  for (int i = 0; i < x->n_opsets; i++) {
    Onnx__OperatorSetIdProto *op = xalloc(x, sizeof *op);
    if (!op) return -1;
    onnx__operator_set_id_proto__init(op);
    op->domain = str(x->opsets[i].domain);
    op->has_version = 1;
    op->version = x->opsets[i].version;
    mp->opset_import[mp->n_opset_import++] = op;
  }
  return 0;
}

static int add_meta(exporter *x, Onnx__ModelProto *mp, const ferry_str *k, const ferry_str *v) {
  Onnx__StringStringEntryProto *e = xalloc(x, sizeof *e);
  if (!e) return -1;
  onnx__string_string_entry_proto__init(e);
  e->key = xstrndup(x, k->ptr ? k->ptr : "", k->len);
  e->value = xstrndup(x, v->ptr ? v->ptr : "", v->len);
  if (!e->key || !e->value) return -1;
  mp->metadata_props[mp->n_metadata_props++] = e;
  return 0;
}

/* The model's metadata, with "source_producer" set to the producer it came
 * from (kept as is when ferry wrote the source). */
static int build_metadata(exporter *x, Onnx__ModelProto *mp) {
  const ferry_model *m = x->m;
  static const ferry_str key = {"source_producer", 15};
  char src[512];
  snprintf(src, sizeof src, "%s%s%s", str(m->producer_name),
           *str(m->producer_version) ? " " : "", str(m->producer_version));
  int refresh = *src && strcmp(str(m->producer_name), "ferry") != 0;
  mp->metadata_props = xarray(x, (size_t)m->n_metadata + 1, sizeof *mp->metadata_props);
  if (!mp->metadata_props) return -1;
  for (int i = 0; i < m->n_metadata; i++) {
    const ferry_str *k = &m->metadata[2 * i];
    if (refresh && k->len == key.len && memcmp(k->ptr, key.ptr, key.len) == 0) continue;
    if (add_meta(x, mp, k, &m->metadata[2 * i + 1])) return -1;
  }
  ferry_str val = {src, strlen(src)};
  return refresh ? add_meta(x, mp, &key, &val) : 0;
}

static Onnx__ModelProto *build_model(exporter *x) {
  const ferry_model *m = x->m;
  Onnx__ModelProto *mp = xalloc(x, sizeof *mp);
  if (!mp) return NULL;
  onnx__model_proto__init(mp);
  mp->has_ir_version = 1;
  mp->ir_version = m->ir_version > MIN_IR_VERSION ? m->ir_version : MIN_IR_VERSION;
  mp->producer_name = "ferry";
  mp->producer_version = PACKAGE_VERSION;
  mp->domain = opt_str(m->domain);
  mp->has_model_version = m->model_version != 0;
  mp->model_version = m->model_version;
  mp->doc_string = opt_str(m->doc);
  if (build_opsets(x, mp) || build_metadata(x, mp)) return NULL;
  mp->graph = build_graph(x, m->graph, 0);
  return mp->graph ? mp : NULL;
}

/* ---- writing ---- */

/* protobuf-c output sink: buffered writes to a file descriptor. */
typedef struct fwriter {
  ProtobufCBuffer base;
  int fd;
  int err;          /* errno of the first failed write */
  unsigned char *buf;
  size_t n;
} fwriter;

static void write_all(fwriter *w, const unsigned char *p, size_t len) {
  while (len && !w->err) {
    ssize_t k = write(w->fd, p, len);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      w->err = k < 0 ? errno : EIO;
      return;
    }
    p += k;
    len -= (size_t)k;
  }
}

static void fw_flush(fwriter *w) {
  write_all(w, w->buf, w->n);
  w->n = 0;
}

static void fw_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
  fwriter *w = (fwriter *)b;
  if (w->n + len > WRITE_BUF_BYTES) fw_flush(w);
  if (len >= WRITE_BUF_BYTES) {
    write_all(w, data, len); /* large tensor data: straight from the IR */
    return;
  }
  memcpy(w->buf + w->n, data, len);
  w->n += len;
}

static int sys_fail(ferry_err *err, const char *path, const char *what, int e) {
  return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s: %s", path, what, strerror(e));
}

/* Packs `mp` into `fd` and syncs it. */
static int write_proto(const Onnx__ModelProto *mp, int fd, size_t want, const char *path,
                       ferry_err *err) {
  fwriter w = {.base = {.append = fw_append}, .fd = fd, .buf = malloc(WRITE_BUF_BYTES)};
  if (!w.buf) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  size_t got = onnx__model_proto__pack_to_buffer(mp, &w.base);
  fw_flush(&w);
  free(w.buf);
  if (w.err) return sys_fail(err, path, "cannot write", w.err);
  if (got != want)
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: packed %zu bytes, expected %zu", path, got, want);
  if (fsync(fd)) return sys_fail(err, path, "cannot sync", errno);
  return 0;
}

static mode_t file_mode(void) {
  mode_t mask = umask(022);
  umask(mask);
  return 0666 & ~mask;
}

/* Syncs the folder holding `path` so the rename is durable (best effort). */
static void sync_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

static int write_atomic(const Onnx__ModelProto *mp, size_t size, const char *path, ferry_err *err) {
  size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
  char *tmp = malloc(n);
  if (!tmp) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  snprintf(tmp, n, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (fd < 0) {
    int rc = sys_fail(err, path, "cannot create a temporary file beside it", errno);
    free(tmp);
    return rc;
  }
  int rc = fchmod(fd, file_mode()) ? sys_fail(err, path, "cannot set permissions", errno) : 0;
  if (!rc) rc = write_proto(mp, fd, size, path, err);
  if (close(fd) && !rc) rc = sys_fail(err, path, "cannot write", errno);
  if (!rc && rename(tmp, path)) rc = sys_fail(err, path, "cannot replace", errno);
  if (rc) unlink(tmp);
  else sync_folder(path);
  free(tmp);
  return rc;
}

int ferry_onnx_save(const ferry_model *m, const char *path, ferry_err *err) {
  ferry_err local;
  if (!err) err = &local;
  if (!m || !m->graph || !path || !*path)
    return ferry_fail(err, FERRY_E_INPUT, "%s: no model or no path to save to", path ? path : "");
  exporter x = {.m = m, .err = err};
  Onnx__ModelProto *mp = build_model(&x);
  int rc = 0;
  if (!mp) {
    if (!x.failed) nomem(&x);
    rc = ferry_err_prefix(err, path);
  }
  size_t size = rc ? 0 : onnx__model_proto__get_packed_size(mp);
  if (!rc && size > MAX_PROTO_BYTES)
    rc = ferry_fail(err, FERRY_E_INPUT,
                    "%s: the model would be %zu bytes, over protobuf's 2 GiB limit "
                    "(writing weights as external data is not supported)", path, size);
  if (!rc) rc = write_atomic(mp, size, path, err);
  arena_free(&x);
  return rc;
}
