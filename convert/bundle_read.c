/*
 * bundle_read.c - a .ferry bundle back into the graph IR.
 *
 * The runtime reads bundles itself (runtime/bundle.h); the converter side
 * needs them as IR so that `ferry inspect` and later `convert`/`validate`
 * treat a bundle like any model. The files (shard 0 and `PATH.N`) are
 * mapped, opened by the runtime's reader (which checks every byte) with
 * zlib as its inflater, and walked: graphs in index order (a parent always
 * precedes its subgraphs), values with their types (dim programs evaluated
 * symbolically through dim.h), nodes with attributes, tensors pointing
 * into the mapped data. The model keeps the maps and the reader alive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle.h"
#include "bundle_write.h"
#include "ir.h"

typedef struct loader {
  ferry_model *m;
  ferry_bundle *b;
  ferry_err *err;
  ferry_graph **graphs;   /* bundle graph index -> IR graph */
  const ferry_tensor **tensors; /* bundle tensor index -> IR tensor (lazy) */
} loader;

#define NOMEM(L) ferry_fail((L)->err, FERRY_E_SYSTEM, "out of memory")

static int inflate_zlib(void *user, const void *src, size_t n, void *dst, size_t raw) {
  (void)user;
  uLongf out = (uLongf)raw;
  return uncompress(dst, &out, src, (uLong)n) == Z_OK && out == raw ? 0 : -1;
}

/* Maps a whole file read-only; the mapping is owned by the model. */
static int map_file(ferry_model *m, const char *path, const void **buf, size_t *len, ferry_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
    close(fd);
    return ferry_fail(err, FERRY_E_INPUT, "%s: not a regular, non-empty file", path);
  }
  void *a = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (a == MAP_FAILED) return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", path, strerror(errno));
  ferry_mapping *p = realloc(m->maps, (size_t)(m->n_maps + 1) * sizeof *p);
  if (!p) {
    munmap(a, (size_t)st.st_size);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  }
  m->maps = p;
  m->maps[m->n_maps++] = (ferry_mapping){a, (size_t)st.st_size};
  m->cap_maps = m->n_maps;
  *buf = a;
  *len = (size_t)st.st_size;
  return 0;
}

static const char *str(loader *L, ferry_bstr s) { return ferry_model_strdup(L->m, s.s); }

/* A dim program -> a symbolic dim, with a small evaluation stack. */
static ferry_dim dim_of(loader *L, const ferry_bdim *d) {
  ferry_dim st[FERRY_BUNDLE_MAX_DIM_STACK];
  int top = 0;
  ferry_dimctx *c = L->m->dims;
  for (int i = 0; i < d->n; i++) {
    const ferry_bdim_op *op = &d->ops[i];
    if (op->op == FERRY_DOP_CONST || op->op == FERRY_DOP_SYM) {
      if (top == FERRY_BUNDLE_MAX_DIM_STACK) return NULL;
      st[top++] = op->op == FERRY_DOP_CONST ? ferry_dim_const(c, op->arg)
                                            : ferry_dim_sym(c, ferry_bundle_symbol(L->b, (int)op->arg).s);
      continue;
    }
    if (top < 2) return NULL; /* the reader validated programs: cannot happen */
    ferry_dim b = st[--top], a = st[--top], r;
    switch (op->op) {
    case FERRY_DOP_ADD: r = ferry_dim_add(c, a, b); break;
    case FERRY_DOP_SUB: r = ferry_dim_sub(c, a, b); break;
    case FERRY_DOP_MUL: r = ferry_dim_mul(c, a, b); break;
    case FERRY_DOP_DIV: r = ferry_dim_div(c, a, b); break;
    case FERRY_DOP_MOD: r = ferry_dim_mod(c, a, b); break;
    case FERRY_DOP_MIN: r = ferry_dim_min(c, a, b); break;
    default: r = ferry_dim_max(c, a, b); break;
    }
    st[top++] = r;
  }
  return top == 1 ? st[0] : NULL;
}

static int type_of(loader *L, const ferry_btype *bt, ferry_type *t) {
  memset(t, 0, sizeof *t);
  t->kind = bt->kind;
  t->dtype = bt->dtype;
  t->rank = bt->rank;
  if (bt->rank >= 0) {
    t->shape = ferry_model_alloc(L->m, ((size_t)bt->rank + 1) * sizeof *t->shape);
    if (!t->shape) return NOMEM(L);
    for (int i = 0; i < bt->rank; i++)
      if (!(t->shape[i] = dim_of(L, &bt->dims[i]))) return NOMEM(L);
  }
  if (bt->elem) {
    ferry_type *e = ferry_model_alloc(L->m, sizeof *e);
    if (!e) return NOMEM(L);
    if (type_of(L, bt->elem, e)) return L->err->code;
    t->elem = e;
  }
  return 0;
}

/* Tensor `i` as an IR tensor (RAW encoding only, so far). */
static const ferry_tensor *tensor_of(loader *L, int i) {
  if (L->tensors[i]) return L->tensors[i];
  const ferry_btensor *bt = ferry_bundle_tensor(L->b, i);
  if (bt->encoding != FERRY_ENC_RAW) {
    ferry_fail(L->err, FERRY_E_INPUT, "tensor %d has encoding %d, which the converter cannot read yet", i,
               bt->encoding);
    return NULL;
  }
  ferry_tensor *t = ferry_model_alloc(L->m, sizeof *t);
  if (!t) return NOMEM(L), NULL;
  *t = (ferry_tensor){.dtype = bt->dtype, .rank = bt->rank, .dims = bt->dims, .numel = bt->numel,
                      .data = bt->data, .nbytes = (size_t)bt->nbytes};
  if (bt->dtype == FERRY_STRING) { /* string-table indices -> strings */
    ferry_str *s = ferry_model_alloc(L->m, ((size_t)bt->numel + 1) * sizeof *s);
    if (!s) return NOMEM(L), NULL;
    const uint8_t *p = bt->data;
    for (int64_t k = 0; k < bt->numel; k++) {
      uint32_t idx = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 | (uint32_t)p[4 * k + 2] << 16 |
                     (uint32_t)p[4 * k + 3] << 24;
      ferry_bstr bs = ferry_bundle_string(L->b, (int)idx);
      s[k] = (ferry_str){bs.s, bs.len};
    }
    t->data = s;
    t->nbytes = (size_t)bt->numel * sizeof *s;
  }
  return L->tensors[i] = t;
}

static int attr_of(loader *L, const ferry_battr *ba, ferry_attr *a) {
  *a = (ferry_attr){.name = str(L, ba->name), .type = ba->type, .n = ba->n, .f = ba->f, .i = ba->i,
                    .s = {ba->s.s, ba->s.len}, .floats = ba->floats, .ints = ba->ints};
  switch (ba->type) {
  case FERRY_A_TENSOR:
  case FERRY_A_SPARSE_TENSOR:
    return (a->t = tensor_of(L, ba->tensor)) ? 0 : L->err->code;
  case FERRY_A_GRAPH:
    a->g = L->graphs[ba->graph];
    return 0;
  case FERRY_A_STRINGS: {
    ferry_str *s = ferry_model_alloc(L->m, ((size_t)ba->n + 1) * sizeof *s);
    if (!s) return NOMEM(L);
    for (int k = 0; k < ba->n; k++) s[k] = (ferry_str){ba->strings[k].s, ba->strings[k].len};
    a->strings = s;
    return 0;
  }
  case FERRY_A_TENSORS:
  case FERRY_A_SPARSE_TENSORS: {
    const ferry_tensor **ts = ferry_model_alloc(L->m, ((size_t)ba->n + 1) * sizeof *ts);
    if (!ts) return NOMEM(L);
    for (int k = 0; k < ba->n; k++)
      if (!(ts[k] = tensor_of(L, ba->tensors[k]))) return L->err->code;
    a->tensors = ts;
    return 0;
  }
  case FERRY_A_GRAPHS: {
    ferry_graph **gs = ferry_model_alloc(L->m, ((size_t)ba->n + 1) * sizeof *gs);
    if (!gs) return NOMEM(L);
    for (int k = 0; k < ba->n; k++) gs[k] = L->graphs[ba->graphs[k]];
    a->graphs = gs;
    return 0;
  }
  case FERRY_A_TYPE_PROTO:
  case FERRY_A_TYPE_PROTOS: {
    ferry_type *ts = ferry_model_alloc(L->m, ((size_t)ba->n + 1) * sizeof *ts);
    if (!ts) return NOMEM(L);
    for (int k = 0; k < ba->n; k++)
      if (type_of(L, &ba->types[k], &ts[k])) return L->err->code;
    a->types = ts;
    return 0;
  }
  default:
    return 0;
  }
}

static int graph_of(loader *L, int gi) {
  const ferry_bgraph *bg = ferry_bundle_graph(L->b, gi);
  ferry_graph *g = L->graphs[gi];
  g->name = str(L, bg->name);
  for (int i = 0; i < bg->n_values; i++) {
    const ferry_bvalue *bv = &bg->values[i];
    int v = ferry_graph_add_value(g, bv->name.s);
    if (v < 0) return NOMEM(L);
    ferry_value *val = &g->values[v];
    val->flags = bv->flags;
    val->outer = bv->outer;
    val->producer = bv->producer;
    if (type_of(L, &bv->type, &val->type)) return L->err->code;
    if (bv->tensor >= 0 && !(val->data = tensor_of(L, bv->tensor))) return L->err->code;
    if (bv->outer >= 0) val->data = g->parent->values[bv->outer].data;
  }
  for (int i = 0; i < bg->n_nodes; i++) {
    const ferry_bnode *bn = &bg->nodes[i];
    int ni = ferry_graph_add_node(g);
    if (ni < 0) return NOMEM(L);
    ferry_node *n = &g->nodes[ni];
    n->name = str(L, bn->name);
    n->domain = str(L, bn->domain);
    n->op = str(L, bn->op);
    n->opset = bn->opset;
    n->n_inputs = bn->n_inputs;
    n->n_outputs = bn->n_outputs;
    n->inputs = ferry_model_alloc(L->m, ((size_t)bn->n_inputs + 1) * sizeof(int));
    n->outputs = ferry_model_alloc(L->m, ((size_t)bn->n_outputs + 1) * sizeof(int));
    n->attrs = ferry_model_alloc(L->m, ((size_t)bn->n_attrs + 1) * sizeof *n->attrs);
    if (!n->inputs || !n->outputs || !n->attrs) return NOMEM(L);
    memcpy(n->inputs, bn->inputs, (size_t)bn->n_inputs * sizeof(int));
    memcpy(n->outputs, bn->outputs, (size_t)bn->n_outputs * sizeof(int));
    for (int a = 0; a < bn->n_attrs; a++, n->n_attrs++)
      if (attr_of(L, &bn->attrs[a], &n->attrs[a])) return L->err->code;
  }
  g->inputs = ferry_model_alloc(L->m, ((size_t)bg->n_inputs + 1) * sizeof(int));
  g->outputs = ferry_model_alloc(L->m, ((size_t)bg->n_outputs + 1) * sizeof(int));
  if (!g->inputs || !g->outputs) return NOMEM(L);
  memcpy(g->inputs, bg->inputs, (size_t)bg->n_inputs * sizeof(int));
  memcpy(g->outputs, bg->outputs, (size_t)bg->n_outputs * sizeof(int));
  g->n_inputs = bg->n_inputs;
  g->n_outputs = bg->n_outputs;
  return 0;
}

static int meta_of(loader *L) {
  const ferry_bmeta *md = ferry_bundle_meta(L->b);
  ferry_model *m = L->m;
  m->ir_version = md->ir_version;
  m->model_version = md->model_version;
  m->producer_name = str(L, md->source_producer_name);
  m->producer_version = str(L, md->source_producer_version);
  m->domain = str(L, md->source_domain);
  m->doc = str(L, md->source_doc);
  m->opsets = ferry_model_alloc(m, ((size_t)md->n_opsets + 1) * sizeof *m->opsets);
  m->metadata = ferry_model_alloc(m, (2 * (size_t)md->n_props + 1) * sizeof *m->metadata);
  if (!m->opsets || !m->metadata) return NOMEM(L);
  for (int i = 0; i < md->n_opsets; i++)
    m->opsets[i] = (ferry_opset){str(L, md->opset_domains[i]), md->opset_versions[i]};
  m->n_opsets = md->n_opsets;
  for (int i = 0; i < 2 * md->n_props; i++) m->metadata[i] = (ferry_str){md->props[i].s, md->props[i].len};
  m->n_metadata = md->n_props;
  return 0;
}

static int build(loader *L) {
  int ng = ferry_bundle_n_graphs(L->b), nt = ferry_bundle_n_tensors(L->b);
  L->graphs = ferry_model_alloc(L->m, ((size_t)ng + 1) * sizeof *L->graphs);
  L->tensors = ferry_model_alloc(L->m, ((size_t)nt + 1) * sizeof *L->tensors);
  if (!L->graphs || !L->tensors) return NOMEM(L);
  for (int i = 0; i < ng; i++) { /* parents come first: create all, then fill */
    int p = ferry_bundle_graph(L->b, i)->parent;
    if (!(L->graphs[i] = ferry_graph_new(L->m, p >= 0 ? L->graphs[p] : NULL))) return NOMEM(L);
  }
  L->m->graph = L->graphs[0];
  if (meta_of(L)) return L->err->code;
  for (int i = 0; i < ng; i++)
    if (graph_of(L, i)) return L->err->code;
  return 0;
}

static void free_reader(void *b) { ferry_bundle_free(b); }

ferry_model *ferry_bundle_load(const char *path, ferry_err *err) {
  ferry_err local;
  if (!err) err = &local;
  ferry_model *m = ferry_model_new(path);
  if (!m) {
    ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
    return NULL;
  }
  loader L = {.m = m, .err = err};
  const void *buf;
  size_t len;
  int rc = map_file(m, path, &buf, &len, err);
  if (rc) goto fail_named;
  ferry_bundle_options opts = {.inflate = inflate_zlib};
  L.b = ferry_bundle_open_with(buf, len, &opts, err);
  if (!L.b) goto fail;
  m->owner = L.b;
  m->owner_free = free_reader;
  for (int k = 1; k < ferry_bundle_n_shards(L.b); k++) {
    char shard[4096];
    snprintf(shard, sizeof shard, "%s.%d", path, k);
    if (map_file(m, shard, &buf, &len, err)) goto fail_named;
    if (ferry_bundle_add_shard(L.b, k, buf, len, err)) {
      ferry_err_prefix(err, shard);
      goto fail_named;
    }
  }
  if (build(&L)) goto fail;
  return m;
fail:
  ferry_err_prefix(err, path);
fail_named:
  ferry_model_free(m);
  return NULL;
}

int ferry_is_bundle(const char *path) {
  char head[8];
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  return n == sizeof head && memcmp(head, FERRY_BUNDLE_MAGIC, 8) == 0;
}

ferry_model *ferry_model_load(const char *path, ferry_err *err) {
  return ferry_is_bundle(path) ? ferry_bundle_load(path, err) : ferry_onnx_load(path, err);
}
