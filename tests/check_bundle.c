/*
 * check_bundle.c - the .ferry bundle: writer (convert/bundle_write.c) and
 * reader (runtime/bundle.c) against each other and against the format.
 *
 *   - every ONNX model of the ONNX backend test data ($ONNX_TESTDATA, default
 *     /usr/share/libonnx-testdata/data, data/<kind>/<test>/model.onnx) is
 *     imported, written plainly, compressed and in small shards, read back
 *     and compared with the IR it came from, field by field;
 *   - symbolic dims with every operator and odd symbol names survive;
 *   - every single-byte change and every truncation of a small bundle is
 *     refused, mutated bundles (with fixed-up CRCs) and random bytes never
 *     crash the reader;
 *   - hand-made bundles exercise what the writer does not write yet
 *     (quantized encodings, compressed DATA) and malformed graphs;
 *   - newer major versions are refused, writes are atomic.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle_write.h"
#include "bundle.h"
#include "dim.h"
#include "ir.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void make_tmpdir(void) {
  if (tmpdir[0])
    return;
  strcpy(tmpdir, "/tmp/ferry-bundle-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    exit(1);
  }
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[4096];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static const char *tpath(const char *name) {
  static char buf[4][4096];
  static int k;
  make_tmpdir();
  char *b = buf[k++ & 3];
  snprintf(b, 4096, "%s/%s", tmpdir, name);
  return b;
}

/* Reads a file into a 64-byte aligned buffer (as mmap would give). */
static uint8_t *read_aligned(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = NULL;
  if (n < 0 || posix_memalign(&p, 64, (size_t)n + 1)) {
    fclose(f);
    return NULL;
  }
  if (fread(p, 1, (size_t)n, f) != (size_t)n) {
    free(p);
    p = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return p;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1 : (long)st.st_size;
}

static int zinflate(void *user, const void *src, size_t n, void *dst, size_t raw) {
  uLongf out = raw;
  if (user)
    (*(int *)user)++;
  return uncompress(dst, &out, src, n) != Z_OK || out != raw;
}

static int failing_inflate(void *user, const void *src, size_t n, void *dst, size_t raw) {
  (void)user, (void)src, (void)n, (void)dst, (void)raw;
  return -1;
}

/* A bundle opened from files, with its buffers. */
typedef struct opened {
  ferry_bundle *b;
  uint8_t *bufs[4096];
  int n_bufs;
  ferry_err err;
} opened;

static void close_opened(opened *o) {
  ferry_bundle_free(o->b);
  for (int i = 0; i < o->n_bufs; i++)
    free(o->bufs[i]);
  o->n_bufs = 0;
  o->b = NULL;
}

/* Opens `path` and all its shards; NULL bundle on failure (o->err says). */
static void open_files(opened *o, const char *path, const ferry_bundle_options *opts) {
  size_t len;
  memset(o, 0, sizeof *o);
  uint8_t *buf = read_aligned(path, &len);
  ck_assert_msg(buf, "%s: cannot read", path);
  o->bufs[o->n_bufs++] = buf;
  o->b = ferry_bundle_open_with(buf, len, opts, &o->err);
  if (!o->b)
    return;
  for (int k = 1; k < ferry_bundle_n_shards(o->b); k++) {
    char p[4200];
    snprintf(p, sizeof p, "%s.%d", path, k);
    ck_assert_int_lt(o->n_bufs, 4096);
    uint8_t *sb = read_aligned(p, &len);
    ck_assert_msg(sb, "%s: cannot read", p);
    o->bufs[o->n_bufs++] = sb;
    ck_assert_msg(ferry_bundle_add_shard(o->b, k, sb, len, &o->err) == 0, "%s: %s", p, o->err.msg);
  }
  ck_assert_int_eq(ferry_bundle_missing_shard(o->b), -1);
}

/* ---- comparing a bundle with the IR it came from ---- */

typedef struct glist {
  ferry_graph *g[4096];
  int n;
} glist;

static void collect_graph(ferry_graph *g, void *user) {
  glist *l = user;
  ck_assert_int_lt(l->n, 4096);
  l->g[l->n++] = g;
}

static int gindex(const glist *l, const ferry_graph *g) {
  for (int i = 0; i < l->n; i++)
    if (l->g[i] == g)
      return i;
  return -1;
}

typedef struct cmpctx {
  const ferry_model *m;
  const ferry_bundle *b;
  const char *what; /* model path, for messages */
  glist graphs;
  int64_t *binds; /* symbol values for eval checks */
} cmpctx;

static int bstr_eq(ferry_bstr b, const char *s, size_t n) {
  return b.len == n && memcmp(b.s, s, n) == 0 && b.s[n] == 0;
}
#define ck_bstr(B, STR)                                                                            \
  ck_assert_msg(bstr_eq((B), (STR) ? (STR) : "", (STR) ? strlen(STR) : 0), "%s: '%s' != '%s'",     \
                c->what, (B).s, (STR))

static int lookup_bound(void *user, const char *name, int64_t *v) {
  cmpctx *c = user;
  int i = ferry_bundle_find_symbol(c->b, name);
  if (i < 0)
    return -1;
  *v = c->binds[i];
  return 0;
}

/* A dim program rebuilt with dim.h's constructors, in context `ctx`. */
static ferry_dim program_dim(const ferry_bundle *b, ferry_dimctx *ctx, const ferry_bdim *d) {
  ferry_dim st[64];
  int sp = 0;
  for (int i = 0; i < d->n; i++) {
    const ferry_bdim_op *o = &d->ops[i];
    if (o->op == FERRY_DOP_CONST) {
      st[sp++] = ferry_dim_const(ctx, o->arg);
      continue;
    }
    if (o->op == FERRY_DOP_SYM) {
      st[sp++] = ferry_dim_sym(ctx, ferry_bundle_symbol(b, (int)o->arg).s);
      continue;
    }
    ferry_dim y = st[--sp], x = st[sp - 1];
    switch (o->op) {
    case FERRY_DOP_ADD: x = ferry_dim_add(ctx, x, y); break;
    case FERRY_DOP_SUB: x = ferry_dim_sub(ctx, x, y); break;
    case FERRY_DOP_MUL: x = ferry_dim_mul(ctx, x, y); break;
    case FERRY_DOP_DIV: x = ferry_dim_div(ctx, x, y); break;
    case FERRY_DOP_MOD: x = ferry_dim_mod(ctx, x, y); break;
    case FERRY_DOP_MIN: x = ferry_dim_min(ctx, x, y); break;
    case FERRY_DOP_MAX: x = ferry_dim_max(ctx, x, y); break;
    }
    st[sp - 1] = x;
  }
  return sp == 1 ? st[0] : NULL;
}

static void cmp_dim(cmpctx *c, ferry_dim d, const ferry_bdim *bd) {
  char want[512], got[512];
  ferry_dim back = program_dim(c->b, c->m->dims, bd);
  ferry_dim_str(d, want, sizeof want);
  ferry_dim_str(back, got, sizeof got);
  ck_assert_msg(back == d, "%s: dim '%s' came back as '%s'", c->what, want, got);
  /* and the runtime's evaluation agrees with the algebra's */
  int64_t v1 = 0, v2 = 0;
  int r1 = ferry_dim_eval(d, lookup_bound, c, &v1);
  int r2 = ferry_bundle_eval_dim(c->b, bd, c->binds, ferry_bundle_n_symbols(c->b), &v2);
  ck_assert_msg(r1 == r2 && (r1 || v1 == v2), "%s: dim '%s' evaluates to %lld (%d) / %lld (%d)",
                c->what, want, (long long)v1, r1, (long long)v2, r2);
}

static void cmp_type(cmpctx *c, const ferry_type *t, const ferry_btype *bt) {
  ck_assert_int_eq(bt->kind, t->kind);
  ck_assert_int_eq(bt->dtype, t->dtype);
  ck_assert_int_eq(bt->rank, t->rank);
  for (int i = 0; i < t->rank; i++)
    cmp_dim(c, t->shape[i], &bt->dims[i]);
  ck_assert_int_eq(!!bt->elem, !!t->elem);
  if (t->elem)
    cmp_type(c, t->elem, bt->elem);
}

static void cmp_tensor(cmpctx *c, const ferry_tensor *t, int ti) {
  const ferry_btensor *bt = ferry_bundle_tensor(c->b, ti);
  ck_assert_msg(bt, "%s: tensor %d missing", c->what, ti);
  ck_assert_int_eq(bt->dtype, t->dtype);
  ck_assert_int_eq(bt->encoding, FERRY_ENC_RAW);
  ck_assert_int_eq(bt->rank, t->rank);
  for (int i = 0; i < t->rank; i++)
    ck_assert_int_eq(bt->dims[i], t->dims[i]);
  ck_assert_int_eq(bt->numel, t->numel);
  ck_assert_ptr_nonnull(bt->data);
  ck_assert_uint_eq(bt->offset % 64, 0);
  ck_assert_msg((uintptr_t)bt->data % 64 == 0, "%s: tensor %d not aligned", c->what, ti);
  if (t->dtype == FERRY_STRING) {
    ck_assert_uint_eq(bt->nbytes, 4 * (uint64_t)t->numel);
    const ferry_str *s = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
      uint32_t idx;
      memcpy(&idx, (const uint8_t *)bt->data + 4 * i, 4);
      ferry_bstr got = ferry_bundle_string(c->b, (int)idx);
      ck_assert(got.len == s[i].len && memcmp(got.s, s[i].ptr, s[i].len) == 0);
    }
  } else {
    ck_assert_uint_eq(bt->nbytes, t->nbytes);
    ck_assert_msg(t->nbytes == 0 || memcmp(bt->data, t->data, t->nbytes) == 0,
                  "%s: tensor %d bytes differ", c->what, ti);
  }
}

static void cmp_attr(cmpctx *c, const ferry_attr *a, const ferry_battr *ba) {
  ck_bstr(ba->name, a->name);
  ck_assert_int_eq(ba->type, a->type);
  switch (a->type) {
  case FERRY_A_FLOAT: ck_assert(memcmp(&ba->f, &a->f, 4) == 0); break;
  case FERRY_A_INT: ck_assert_int_eq(ba->i, a->i); break;
  case FERRY_A_STRING:
    ck_assert(ba->s.len == a->s.len && memcmp(ba->s.s, a->s.ptr, a->s.len) == 0);
    break;
  case FERRY_A_TENSOR:
  case FERRY_A_SPARSE_TENSOR: cmp_tensor(c, a->t, ba->tensor); break;
  case FERRY_A_GRAPH: ck_assert_int_eq(ba->graph, gindex(&c->graphs, a->g)); break;
  case FERRY_A_FLOATS:
    ck_assert_int_eq(ba->n, a->n);
    ck_assert(a->n == 0 || memcmp(ba->floats, a->floats, 4 * (size_t)a->n) == 0);
    break;
  case FERRY_A_INTS:
    ck_assert_int_eq(ba->n, a->n);
    for (int k = 0; k < a->n; k++)
      ck_assert_int_eq(ba->ints[k], a->ints[k]);
    break;
  case FERRY_A_STRINGS:
    ck_assert_int_eq(ba->n, a->n);
    for (int k = 0; k < a->n; k++)
      ck_assert(ba->strings[k].len == a->strings[k].len &&
                memcmp(ba->strings[k].s, a->strings[k].ptr, a->strings[k].len) == 0);
    break;
  case FERRY_A_TENSORS:
  case FERRY_A_SPARSE_TENSORS:
    ck_assert_int_eq(ba->n, a->n);
    for (int k = 0; k < a->n; k++)
      cmp_tensor(c, a->tensors[k], ba->tensors[k]);
    break;
  case FERRY_A_GRAPHS:
    ck_assert_int_eq(ba->n, a->n);
    for (int k = 0; k < a->n; k++)
      ck_assert_int_eq(ba->graphs[k], gindex(&c->graphs, a->graphs[k]));
    break;
  case FERRY_A_TYPE_PROTO:
    ck_assert_int_eq(ba->n, 1);
    cmp_type(c, &a->types[0], &ba->types[0]);
    break;
  case FERRY_A_TYPE_PROTOS:
    ck_assert_int_eq(ba->n, a->n);
    for (int k = 0; k < a->n; k++)
      cmp_type(c, &a->types[k], &ba->types[k]);
    break;
  }
}

static int n_attr_types[16];

static void cmp_model(const ferry_model *m, const ferry_bundle *b, const char *what,
                      const ferry_bundle_opts *o) {
  cmpctx cc = {.m = m, .b = b, .what = what}, *c = &cc;
  ferry_graph_walk(m->graph, collect_graph, &cc.graphs);
  int ns = ferry_bundle_n_symbols(b);
  cc.binds = calloc((size_t)ns + 1, sizeof *cc.binds);
  for (int i = 0; i < ns; i++)
    cc.binds[i] = 3 + 2 * i;
  /* metadata */
  const ferry_bmeta *md = ferry_bundle_meta(b);
  ck_bstr(md->producer_name, o->producer_name ? o->producer_name : "ferry");
  ck_assert(memcmp(md->source_sha256, o->source_sha256, 32) == 0);
  ck_bstr(md->source_producer_name, m->producer_name);
  ck_bstr(md->source_producer_version, m->producer_version);
  ck_bstr(md->source_domain, m->domain);
  ck_bstr(md->source_doc, m->doc);
  ck_assert_int_eq(md->ir_version, m->ir_version);
  ck_assert_int_eq(md->model_version, m->model_version);
  ck_assert_int_eq(md->n_opsets, m->n_opsets);
  for (int i = 0; i < m->n_opsets; i++) {
    ck_bstr(md->opset_domains[i], m->opsets[i].domain);
    ck_assert_int_eq(md->opset_versions[i], m->opsets[i].version);
  }
  ck_assert_int_eq(md->n_props, m->n_metadata + o->n_props);
  for (int i = 0; i < 2 * m->n_metadata; i++)
    ck_assert(md->props[i].len == m->metadata[i].len &&
              memcmp(md->props[i].s, m->metadata[i].ptr, m->metadata[i].len) == 0);
  /* graphs */
  ck_assert_int_eq(ferry_bundle_n_graphs(b), cc.graphs.n);
  for (int gi = 0; gi < cc.graphs.n; gi++) {
    const ferry_graph *g = cc.graphs.g[gi];
    const ferry_bgraph *bg = ferry_bundle_graph(b, gi);
    ck_bstr(bg->name, g->name);
    ck_assert_int_eq(bg->parent, g->parent ? gindex(&cc.graphs, g->parent) : -1);
    ck_assert_int_eq(bg->n_values, g->n_values);
    for (int i = 0; i < g->n_values; i++) {
      const ferry_value *v = &g->values[i];
      const ferry_bvalue *bv = &bg->values[i];
      ck_bstr(bv->name, v->name);
      ck_assert_uint_eq(bv->flags, v->flags);
      ck_assert_int_eq(bv->outer, v->outer);
      ck_assert_int_eq(bv->producer, v->producer);
      cmp_type(c, &v->type, &bv->type);
      if (v->outer < 0 && v->data)
        cmp_tensor(c, v->data, bv->tensor);
      else
        ck_assert_int_eq(bv->tensor, -1);
    }
    ck_assert_int_eq(bg->n_nodes, g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
      const ferry_node *n = &g->nodes[i];
      const ferry_bnode *bn = &bg->nodes[i];
      ck_bstr(bn->name, n->name);
      ck_bstr(bn->domain, n->domain);
      ck_bstr(bn->op, n->op);
      ck_assert_int_eq(bn->opset, n->opset);
      ck_assert_int_eq(bn->n_inputs, n->n_inputs);
      ck_assert_int_eq(bn->n_outputs, n->n_outputs);
      for (int k = 0; k < n->n_inputs; k++)
        ck_assert_int_eq(bn->inputs[k], n->inputs[k]);
      for (int k = 0; k < n->n_outputs; k++)
        ck_assert_int_eq(bn->outputs[k], n->outputs[k]);
      ck_assert_int_eq(bn->n_attrs, n->n_attrs);
      for (int k = 0; k < n->n_attrs; k++) {
        cmp_attr(c, &n->attrs[k], &bn->attrs[k]);
        if (n->attrs[k].type >= 0 && n->attrs[k].type < 16)
          n_attr_types[n->attrs[k].type]++;
      }
    }
    ck_assert_int_eq(bg->n_inputs, g->n_inputs);
    for (int k = 0; k < g->n_inputs; k++)
      ck_assert_int_eq(bg->inputs[k], g->inputs[k]);
    ck_assert_int_eq(bg->n_outputs, g->n_outputs);
    for (int k = 0; k < g->n_outputs; k++)
      ck_assert_int_eq(bg->outputs[k], g->outputs[k]);
  }
  free(cc.binds);
}

/* ---- the ONNX test data ---- */

static const char *testdata(void) {
  const char *d = getenv("ONNX_TESTDATA");
  return d && *d ? d : "/usr/share/libonnx-testdata/data";
}

static glob_t models;

static void find_models(void) {
  if (models.gl_pathc)
    return;
  char pat[4096];
  snprintf(pat, sizeof pat, "%s/*/*/model.onnx", testdata());
  if (glob(pat, 0, NULL, &models) != 0 || models.gl_pathc < 900) {
    fprintf(stderr, "check_bundle: %s: fewer than 900 ONNX test models (set ONNX_TESTDATA)\n", pat);
    exit(1);
  }
}

static void fake_sha(uint8_t sha[32], size_t i) {
  for (int k = 0; k < 32; k++)
    sha[k] = (uint8_t)(i * 131 + (size_t)k * 7 + 1);
}

/* Writes, reads and compares `m` with `o`; returns the number of shards. */
static int roundtrip(const ferry_model *m, const char *model_path, const char *out,
                     const ferry_bundle_opts *o, const ferry_bundle_options *ro) {
  ferry_err err = {0};
  int rc = ferry_bundle_write(m, out, o, &err);
  ck_assert_msg(rc == 0, "%s: write failed: %s", model_path, err.msg);
  opened op;
  open_files(&op, out, ro);
  ck_assert_msg(op.b, "%s: open failed: %s", model_path, op.err.msg);
  cmp_model(m, op.b, model_path, o);
  int n = ferry_bundle_n_shards(op.b);
  if (o->shard_size) { /* each file within the limit, or a single big tensor */
    for (int k = 0; k < n; k++) {
      char p[4200];
      snprintf(p, sizeof p, k ? "%s.%d" : "%s", out, k);
      long sz = file_size(p);
      int in = 0;
      for (int t = 0; t < ferry_bundle_n_tensors(op.b); t++)
        in += ferry_bundle_tensor(op.b, t)->shard == k;
      ck_assert_msg(sz <= (long)o->shard_size || (k > 0 && in == 1) || (k == 0 && in == 0),
                    "%s: shard %d has %ld bytes and %d tensors (limit %llu)", model_path, k, sz, in,
                    (unsigned long long)o->shard_size);
      ck_assert_msg(k == 0 || in >= 1, "%s: shard %d is empty", model_path, k);
    }
    char p[4200]; /* no stale shard after the last */
    snprintf(p, sizeof p, "%s.%d", out, n);
    ck_assert_int_eq(file_size(p), -1);
  }
  close_opened(&op);
  return n;
}

static int n_imported, n_import_failed, n_sharded, n_compressed_models, n_max_shards;

START_TEST(test_roundtrip_onnx_testdata) {
  find_models();
  for (size_t i = 0; i < models.gl_pathc; i++) {
    const char *mp = models.gl_pathv[i];
    ferry_err err = {0};
    ferry_model *m = ferry_onnx_load(mp, &err);
    if (!m) {
      n_import_failed++;
      fprintf(stderr, "  (import refused %s)\n", err.msg);
      continue;
    }
    n_imported++;
    ferry_bundle_opts o = {.producer_name = "check_bundle", .producer_version = "1"};
    fake_sha(o.source_sha256, i);
    /* plain */
    ck_assert_int_eq(roundtrip(m, mp, tpath("m.ferry"), &o, NULL), 1);
    /* compressed: the same model through zlib and through the runtime's own inflate */
    o.compress = 1;
    int calls = 0;
    ferry_bundle_options ro = {.inflate = zinflate, .user = &calls};
    roundtrip(m, mp, tpath("z.ferry"), &o, &ro);
    if (calls) {
      n_compressed_models++;
      opened op;
      open_files(&op, tpath("z.ferry"), NULL);
      ck_assert_msg(op.b, "%s: ferry_inflate: %s", mp, op.err.msg);
      cmp_model(m, op.b, mp, &o);
      close_opened(&op);
    }
    /* small shards */
    o.compress = 0;
    o.shard_size = 1024;
    int n = roundtrip(m, mp, tpath("s.ferry"), &o, NULL);
    if (n > 1)
      n_sharded++;
    if (n > n_max_shards)
      n_max_shards = n;
    ferry_model_free(m);
  }
  fprintf(stderr,
          "check_bundle: %d models round-tripped (%d refused by import), %d sharded (up to %d "
          "files), %d compressed\n",
          n_imported, n_import_failed, n_sharded, n_max_shards, n_compressed_models);
  fprintf(stderr, "check_bundle: attributes seen by type:");
  for (int t = 0; t < 15; t++)
    fprintf(stderr, " %d:%d", t, n_attr_types[t]);
  fprintf(stderr, "\n");
  ck_assert_int_ge(n_imported, 1000);
  ck_assert_int_ge(n_sharded, 100);
  ck_assert_int_ge(n_compressed_models, 900);
  /* subgraphs, tensors and strings were all exercised */
  ck_assert_int_gt(n_attr_types[FERRY_A_GRAPH], 0);
  ck_assert_int_gt(n_attr_types[FERRY_A_TENSOR], 0);
  ck_assert_int_gt(n_attr_types[FERRY_A_STRINGS], 0);
  ck_assert_int_gt(n_attr_types[FERRY_A_TYPE_PROTO], 0);
}
END_TEST

/* A model to play with: "node/test_abs" etc. from the test data. */
static ferry_model *load_test(const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s/model.onnx", testdata(), name);
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(p, &err);
  ck_assert_msg(m, "%s", err.msg);
  return m;
}

START_TEST(test_symbolic_dims) {
  ferry_model *m = load_test("node/test_add");
  ferry_dimctx *x = m->dims;
  ferry_dim s = ferry_dim_sym(x, "batch"), t = ferry_dim_sym(x, "seq len"),
            u = ferry_dim_sym(x, "a-b"), v = ferry_dim_sym(x, "x*y/2"), w = ferry_dim_sym(x, "min"),
            c1 = ferry_dim_const(x, 1), c2 = ferry_dim_const(x, 2), c3 = ferry_dim_const(x, 3);
  ferry_dim dims[] = {
      s,
      t,
      u,
      v,
      ferry_dim_const(x, 0),
      ferry_dim_const(x, -7),
      ferry_dim_const(x, INT64_MIN),
      ferry_dim_const(x, INT64_MAX),
      ferry_dim_add(x, ferry_dim_mul(x, c2, s), c1),
      ferry_dim_sub(x, c3, ferry_dim_mul(x, s, t)),
      ferry_dim_div(x, ferry_dim_add(x, s, c1), c2),
      ferry_dim_div(x, ferry_dim_sub(x, c1, s), c2),
      ferry_dim_mod(x, s, c3),
      ferry_dim_sub(x, c1, ferry_dim_mod(x, s, c3)),
      ferry_dim_div(x, s, t),
      ferry_dim_div(x, s, ferry_dim_const(x, -2)),
      ferry_dim_div(x, ferry_dim_const(x, -5), s),
      ferry_dim_div(x, s, ferry_dim_const(x, 0)),
      ferry_dim_min(x, s, t),
      ferry_dim_max(x, ferry_dim_sub(x, s, c3), ferry_dim_mul(x, ferry_dim_const(x, -1), t)),
      ferry_dim_mul(x, ferry_dim_div(x, s, c2), ferry_dim_mod(x, t, c3)),
      ferry_dim_mul(x, ferry_dim_const(x, -3), ferry_dim_div(x, s, c2)),
      ferry_dim_sub(x, u, ferry_dim_div(x, ferry_dim_div(x, s, c2), c3)),
      ferry_dim_add(x, ferry_dim_mul(x, ferry_dim_mul(x, s, s), t), ferry_dim_min(x, u, v)),
      ferry_dim_max(x, w, ferry_dim_min(x, ferry_dim_add(x, w, c1), s)),
      ferry_dim_add(x, s, ferry_dim_const(x, INT64_MIN + 5)),
      ferry_dim_mul(x, ferry_dim_sub(x, ferry_dim_mul(x, s, c3), t), ferry_dim_add(x, t, c2)),
      ferry_dim_fresh(x),
  };
  int n = (int)(sizeof dims / sizeof *dims);
  for (int i = 0; i < n; i++)
    ck_assert_ptr_nonnull(dims[i]);
  /* hang them on the graph input as its shape */
  ferry_graph *g = m->graph;
  ferry_value *in = &g->values[g->inputs[0]];
  in->type.rank = n;
  in->type.shape = ferry_model_alloc(m, (size_t)n * sizeof(ferry_dim));
  memcpy(in->type.shape, dims, (size_t)n * sizeof(ferry_dim));
  ferry_bundle_opts o = {0};
  roundtrip(m, "symbolic", tpath("sym.ferry"), &o, NULL);
  /* evaluate a few by hand */
  opened op;
  open_files(&op, tpath("sym.ferry"), NULL);
  ck_assert_ptr_nonnull(op.b);
  const ferry_bvalue *bv = &ferry_bundle_graph(op.b, 0)->values[g->inputs[0]];
  int ns = ferry_bundle_n_symbols(op.b);
  int64_t vals[16], r;
  ck_assert_int_le(ns, 16);
  for (int i = 0; i < 16; i++)
    vals[i] = FERRY_DIM_UNBOUND;
  vals[ferry_bundle_find_symbol(op.b, "batch")] = 7;
  vals[ferry_bundle_find_symbol(op.b, "seq len")] = 5;
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[8], vals, ns, &r), 0);
  ck_assert_int_eq(r, 15);
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[11], vals, ns, &r), 0);
  ck_assert_int_eq(r, -3); /* (1 - 7) / 2 */
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[13], vals, ns, &r), 0);
  ck_assert_int_eq(r, 0); /* 1 - 7 % 3 */
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[16], vals, ns, &r), 0);
  ck_assert_int_eq(r, -1);                                                             /* -5 / 7 */
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[17], vals, ns, &r), -1); /* / 0 */
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[2], vals, ns, &r), -1);  /* unbound */
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[2], vals, 0, &r), -1);
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[6], vals, ns, &r), 0);
  ck_assert_int_eq(r, INT64_MIN);
  ck_assert_int_eq(ferry_bundle_eval_dim(op.b, &bv->type.dims[0], vals, ns, &r), 0);
  ck_assert_int_eq(r, 7);
  close_opened(&op);
  ferry_model_free(m);
}
END_TEST

START_TEST(test_eval_programs) {
  ferry_bdim_op ops[8];
  ferry_bdim d = {ops, 0};
  int64_t r, vals[1] = {INT64_MAX};
#define PROG3(a, b, op_)                                                                           \
  (ops[0] = (ferry_bdim_op){FERRY_DOP_CONST, (a)}, ops[1] = (ferry_bdim_op){FERRY_DOP_CONST, (b)}, \
   ops[2] = (ferry_bdim_op){(op_), 0}, d.n = 3, ferry_bundle_eval_dim(NULL, &d, vals, 1, &r))
  ck_assert_int_eq(PROG3(-7, 2, FERRY_DOP_DIV), 0);
  ck_assert_int_eq(r, -4);
  ck_assert_int_eq(PROG3(-7, 2, FERRY_DOP_MOD), 0);
  ck_assert_int_eq(r, 1);
  ck_assert_int_eq(PROG3(7, -2, FERRY_DOP_MOD), 0);
  ck_assert_int_eq(r, -1);
  ck_assert_int_eq(PROG3(7, 0, FERRY_DOP_DIV), -1);
  ck_assert_int_eq(PROG3(7, 0, FERRY_DOP_MOD), -1);
  ck_assert_int_eq(PROG3(INT64_MIN, -1, FERRY_DOP_DIV), -1);
  ck_assert_int_eq(PROG3(INT64_MIN, -1, FERRY_DOP_MOD), 0);
  ck_assert_int_eq(r, 0);
  ck_assert_int_eq(PROG3(INT64_MAX, 1, FERRY_DOP_ADD), -1);
  ck_assert_int_eq(PROG3(INT64_MIN, 1, FERRY_DOP_SUB), -1);
  ck_assert_int_eq(PROG3(INT64_MAX, 2, FERRY_DOP_MUL), -1);
  ck_assert_int_eq(PROG3(3, 9, FERRY_DOP_MIN), 0);
  ck_assert_int_eq(r, 3);
  ck_assert_int_eq(PROG3(3, 9, FERRY_DOP_MAX), 0);
  ck_assert_int_eq(r, 9);
  ck_assert_int_eq(PROG3(3, 9, 42), -1);
  ops[0] = (ferry_bdim_op){FERRY_DOP_SYM, 0};
  d.n = 1;
  ck_assert_int_eq(ferry_bundle_eval_dim(NULL, &d, vals, 1, &r), 0);
  ck_assert_int_eq(r, INT64_MAX);
  ops[0] = (ferry_bdim_op){FERRY_DOP_SYM, 1};
  ck_assert_int_eq(ferry_bundle_eval_dim(NULL, &d, vals, 1, &r), -1);
  ops[0] = (ferry_bdim_op){FERRY_DOP_ADD, 0};
  ck_assert_int_eq(ferry_bundle_eval_dim(NULL, &d, vals, 1, &r), -1);
}
END_TEST

START_TEST(test_crc32) {
  ck_assert_uint_eq(ferry_crc32(0, "123456789", 9), 0xCBF43926u);
  uint8_t buf[4099];
  srand(7);
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)rand();
  for (size_t n = 0; n < sizeof buf; n += 97) {
    uint32_t a = ferry_crc32(0, buf, n), z = (uint32_t)crc32(0, buf, (uInt)n);
    ck_assert_uint_eq(a, z);
    ck_assert_uint_eq(ferry_crc32(ferry_crc32(0, buf, n / 3), buf + n / 3, n - n / 3), z);
  }
}
END_TEST

/* ---- corruption ---- */

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> 8 * i);
}
static void wr64(uint8_t *p, uint64_t v) {
  wr32(p, (uint32_t)v);
  wr32(p + 4, (uint32_t)(v >> 32));
}

/* Recomputes every section CRC and the header CRC (for mutation fuzzing). */
static void fix_crcs(uint8_t *p, size_t len) {
  uint32_t hs = rd32(p + 16), n = rd32(p + 20);
  if (len < 64 || n > 64 || hs + 40 * (uint64_t)n > len)
    return;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *e = p + hs + 40 * i;
    uint64_t off = rd64(e + 8), st = rd64(e + 16);
    if (off <= len && st <= len - off)
      wr32(e + 32, (uint32_t)crc32(0, p + off, (uInt)st));
  }
  wr32(p + 60, 0);
  wr32(p + 60, (uint32_t)crc32(0, p, hs + 40 * n));
}

/* Touches everything an opened bundle offers. */
static void walk_all(const ferry_bundle *b) {
  int64_t vals[64];
  for (int i = 0; i < 64; i++)
    vals[i] = i + 1;
  volatile uint64_t sink = 0;
  for (int gi = 0; gi < ferry_bundle_n_graphs(b); gi++) {
    const ferry_bgraph *g = ferry_bundle_graph(b, gi);
    for (int i = 0; i < g->n_values; i++) {
      const ferry_btype *t = &g->values[i].type;
      for (; t; t = t->elem)
        for (int k = 0; k < t->rank; k++) {
          int64_t r;
          if (!ferry_bundle_eval_dim(b, &t->dims[k], vals, 64, &r))
            sink += (uint64_t)r;
        }
      sink += g->values[i].name.len;
    }
    for (int i = 0; i < g->n_nodes; i++) {
      const ferry_bnode *n = &g->nodes[i];
      sink += n->op.len + (uint64_t)n->n_attrs;
      for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0)
          sink += g->values[n->inputs[k]].flags;
      for (int k = 0; k < n->n_attrs; k++) {
        const ferry_battr *a = &n->attrs[k];
        if (a->type == FERRY_A_INTS)
          for (int j = 0; j < a->n; j++)
            sink += (uint64_t)a->ints[j];
        if (a->type == FERRY_A_GRAPH)
          sink += (uint64_t)ferry_bundle_graph(b, a->graph)->n_nodes;
      }
    }
  }
  for (int i = 0; i < ferry_bundle_n_tensors(b); i++) {
    const ferry_btensor *t = ferry_bundle_tensor(b, i);
    if (t->data && t->nbytes)
      sink += ((const uint8_t *)t->data)[t->nbytes - 1];
  }
  (void)sink;
}

static uint8_t *write_small(const char *test, const char *name, size_t *len, int compress) {
  ferry_model *m = load_test(test);
  ferry_bundle_opts o = {.compress = compress};
  fake_sha(o.source_sha256, 1);
  ferry_err err;
  ck_assert_msg(ferry_bundle_write(m, tpath(name), &o, &err) == 0, "%s", err.msg);
  ferry_model_free(m);
  uint8_t *buf = read_aligned(tpath(name), len);
  ck_assert_ptr_nonnull(buf);
  return buf;
}

static void all_flips_refused(uint8_t *buf, size_t len, size_t from, size_t to, size_t step) {
  ferry_err err;
  for (size_t i = from; i < to && i < len; i += step) {
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (int k = 0; k < 3; k++) {
      buf[i] ^= masks[k];
      err.msg[0] = 0;
      ferry_bundle *b = ferry_bundle_open(buf, len, &err);
      ck_assert_msg(!b, "a flip (0x%02x) of byte %zu was not noticed", masks[k], i);
      ck_assert_msg(err.msg[0] && err.code == FERRY_E_INPUT, "byte %zu: no message", i);
      buf[i] ^= masks[k];
    }
  }
}

START_TEST(test_corruption_refused) {
  size_t len;
  uint8_t *buf = write_small("node/test_abs", "abs.ferry", &len, 0);
  ferry_err err;
  ferry_bundle *b = ferry_bundle_open(buf, len, &err);
  ck_assert_msg(b, "%s", err.msg);
  ferry_bundle_free(b);
  /* every byte of a small bundle: header, table, sections, padding */
  all_flips_refused(buf, len, 0, len, 1);
  /* every truncation */
  for (size_t n = 0; n < len; n++) {
    b = ferry_bundle_open(buf, n, &err);
    ck_assert_msg(!b, "truncation to %zu bytes was not noticed", n);
    ck_assert(err.msg[0]);
  }
  ck_assert_ptr_null(ferry_bundle_open(NULL, 0, &err));
  free(buf);
  /* a bigger one with a subgraph and compression: the header and table fully,
   * then a sample */
  buf = write_small("node/test_loop11", "loop.ferry", &len, 1);
  ferry_bundle_options ro = {.inflate = zinflate};
  b = ferry_bundle_open_with(buf, len, &ro, &err);
  ck_assert_msg(b, "%s", err.msg);
  ferry_bundle_free(b);
  all_flips_refused(buf, len, 0, 64 + 5 * 40, 1);
  all_flips_refused(buf, len, 64 + 5 * 40, len, 7);
  for (size_t n = 0; n < len; n += 3)
    ck_assert_ptr_null(ferry_bundle_open_with(buf, n, &ro, &err));
  free(buf);
}
END_TEST

/* Mutations behind valid CRCs reach the section parsers: they must refuse
 * or accept cleanly, never crash (ASan/valgrind watch), never hang. */
START_TEST(test_fuzz_parsers) {
  const char *tests[] = {"node/test_abs",
                         "node/test_loop11",
                         "node/test_if",
                         "node/test_scan9_sum",
                         "node/test_constant",
                         "node/test_strnormalizer_export_monday_casesensintive_lower",
                         "node/test_sequence_map_identity_1_sequence",
                         "pytorch-converted/test_BatchNorm2d_eval",
                         "pytorch-converted/test_Conv2d"};
  srand(1234);
  int accepted = 0, refused = 0;
  for (size_t t = 0; t < sizeof tests / sizeof *tests; t++) {
    size_t len;
    char name[64];
    snprintf(name, sizeof name, "fz%zu.ferry", t);
    uint8_t *orig = write_small(tests[t], name, &len, 0);
    uint8_t *buf = malloc(len + 64);
    for (int iter = 0; iter < 3000; iter++) {
      memcpy(buf, orig, len);
      int nm = 1 + rand() % 4;
      for (int k = 0; k < nm; k++) {
        size_t at = 264 + (size_t)rand() % (len - 264); /* sections */
        switch (rand() % 4) {
        case 0: buf[at] ^= (uint8_t)(1 + rand() % 255); break;
        case 1: buf[at] = 0xff; break;
        case 2: buf[at] = 0; break;
        default: buf[at] = (uint8_t)(buf[at] + 1); break;
        }
      }
      if (iter % 10 == 0) { /* also the table: sizes, offsets, kinds */
        size_t at = 64 + (size_t)rand() % (5 * 40);
        buf[at] ^= (uint8_t)(1 + rand() % 255);
      }
      fix_crcs(buf, len);
      ferry_err err;
      ferry_bundle *b = ferry_bundle_open(buf, len, &err);
      if (b) {
        accepted++;
        walk_all(b);
        ferry_bundle_free(b);
      } else {
        refused++;
        ck_assert(err.msg[0]);
      }
    }
    /* random bytes behind a valid-looking header */
    for (int iter = 0; iter < 500; iter++) {
      size_t n = 64 + (size_t)rand() % len;
      memcpy(buf, orig, 264 < n ? 264 : n);
      for (size_t i = 264; i < n; i++)
        buf[i] = (uint8_t)rand();
      fix_crcs(buf, n);
      ferry_err err;
      ferry_bundle *b = ferry_bundle_open(buf, n, &err);
      if (b)
        walk_all(b);
      ferry_bundle_free(b);
    }
    free(buf);
    free(orig);
  }
  /* plain random buffers */
  uint8_t rnd[2048];
  for (int iter = 0; iter < 2000; iter++) {
    size_t n = (size_t)rand() % sizeof rnd;
    for (size_t i = 0; i < n; i++)
      rnd[i] = (uint8_t)rand();
    if (iter % 2 && n >= 8)
      memcpy(rnd, FERRY_BUNDLE_MAGIC, 8);
    ferry_err err;
    ck_assert_ptr_null(ferry_bundle_open(rnd, n, &err));
  }
  fprintf(stderr, "check_bundle: fuzz: %d mutated bundles accepted, %d refused\n", accepted,
          refused);
  ck_assert_int_gt(refused, 1000);
}
END_TEST

START_TEST(test_versions) {
  size_t len;
  uint8_t *buf = write_small("node/test_abs", "ver.ferry", &len, 0);
  ferry_err err;
  buf[8] = 2; /* major 2: refused even with a valid CRC */
  fix_crcs(buf, len);
  ck_assert_ptr_null(ferry_bundle_open(buf, len, &err));
  ck_assert_msg(strstr(err.msg, "newer"), "%s", err.msg);
  buf[8] = 1;
  buf[10] = 9; /* minor 9: fine */
  fix_crcs(buf, len);
  ferry_bundle *b = ferry_bundle_open(buf, len, &err);
  ck_assert_msg(b, "%s", err.msg);
  ferry_bundle_free(b);
  buf[0] = 'P';
  ck_assert_ptr_null(ferry_bundle_open(buf, len, &err));
  ck_assert_msg(strstr(err.msg, "magic"), "%s", err.msg);
  free(buf);
}
END_TEST

/* ---- shards ---- */

START_TEST(test_shards) {
  ferry_model *m = load_test("pytorch-converted/test_BatchNorm2d_eval");
  ferry_bundle_opts o = {.shard_size = 300};
  fake_sha(o.source_sha256, 5);
  ferry_err err;
  const char *p = tpath("sh.ferry");
  ck_assert_msg(ferry_bundle_write(m, p, &o, &err) == 0, "%s", err.msg);
  size_t l0, l1, l2;
  char q[4200];
  uint8_t *b0 = read_aligned(p, &l0);
  snprintf(q, sizeof q, "%s.1", p);
  uint8_t *b1 = read_aligned(q, &l1);
  ck_assert_ptr_nonnull(b0);
  ck_assert_ptr_nonnull(b1);
  /* a shard alone is not a bundle */
  ck_assert_ptr_null(ferry_bundle_open(b1, l1, &err));
  ck_assert_msg(strstr(err.msg, "shard 0"), "%s", err.msg);
  ferry_bundle *b = ferry_bundle_open(b0, l0, &err);
  ck_assert_msg(b, "%s", err.msg);
  int n = ferry_bundle_n_shards(b);
  ck_assert_int_ge(n, 3);
  ck_assert_int_eq(ferry_bundle_missing_shard(b), 1);
  for (int t = 0; t < ferry_bundle_n_tensors(b); t++)
    ck_assert(!ferry_bundle_tensor(b, t)->data == (ferry_bundle_tensor(b, t)->shard != 0));
  /* wrong index, twice, corrupt, from another bundle */
  ck_assert_int_ne(ferry_bundle_add_shard(b, 2, b1, l1, &err), 0);
  ck_assert_int_ne(ferry_bundle_add_shard(b, 0, b1, l1, &err), 0);
  ck_assert_int_ne(ferry_bundle_add_shard(b, n, b1, l1, &err), 0);
  b1[l1 - 1] ^= 1;
  ck_assert_int_ne(ferry_bundle_add_shard(b, 1, b1, l1, &err), 0);
  b1[l1 - 1] ^= 1;
  ck_assert_int_ne(ferry_bundle_add_shard(b, 1, b1, l1 - 1, &err), 0);
  ck_assert_int_eq(ferry_bundle_add_shard(b, 1, b1, l1, &err), 0);
  ck_assert_int_ne(ferry_bundle_add_shard(b, 1, b1, l1, &err), 0);
  ck_assert_msg(strstr(err.msg, "already"), "%s", err.msg);
  ck_assert_int_eq(ferry_bundle_missing_shard(b), 2);
  /* shards from another conversion of the same model */
  o.source_sha256[0] ^= 1;
  const char *p2 = tpath("other.ferry");
  ck_assert_int_eq(ferry_bundle_write(m, p2, &o, &err), 0);
  snprintf(q, sizeof q, "%s.2", p2);
  uint8_t *x2 = read_aligned(q, &l2);
  ck_assert_int_ne(ferry_bundle_add_shard(b, 2, x2, l2, &err), 0);
  ck_assert_msg(strstr(err.msg, "another bundle"), "%s", err.msg);
  free(x2);
  ferry_bundle_free(b);
  free(b0);
  free(b1);
  /* rewriting unsharded removes the old extra shards */
  o.shard_size = 0;
  ck_assert_int_eq(ferry_bundle_write(m, p, &o, &err), 0);
  for (int k = 1; k < n; k++) {
    snprintf(q, sizeof q, "%s.%d", p, k);
    ck_assert_msg(file_size(q) < 0, "%s is still there", q);
  }
  /* a file that is not a shard is never removed */
  snprintf(q, sizeof q, "%s.1", p);
  FILE *f = fopen(q, "w");
  fputs("not a bundle", f);
  fclose(f);
  ck_assert_int_eq(ferry_bundle_write(m, p, &o, &err), 0);
  ck_assert_int_gt(file_size(q), 0);
  unlink(q);
  ferry_model_free(m);
}
END_TEST

/* ---- atomic writes ---- */

static int count_entries(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  if (!d)
    return -1;
  while ((e = readdir(d)))
    if (strstr(e->d_name, needle))
      n++;
  closedir(d);
  return n;
}

START_TEST(test_atomic_write) {
  ferry_model *m = load_test("node/test_abs");
  ferry_err err = {0};
  const char *bad = tpath("no/such/folder/m.ferry");
  ck_assert_int_eq(ferry_bundle_write(m, bad, NULL, &err), FERRY_E_SYSTEM);
  ck_assert_msg(strncmp(err.msg, bad, strlen(bad)) == 0 && strstr(err.msg, "No such file"), "%s",
                err.msg);
  /* a target that cannot be replaced (a folder): temporary files removed */
  const char *dir = tpath("atomic");
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  char target[4200];
  snprintf(target, sizeof target, "%s/m.ferry", dir);
  ck_assert_int_eq(mkdir(target, 0755), 0);
  ck_assert_int_ne(ferry_bundle_write(m, target, NULL, &err), 0);
  ck_assert_msg(strncmp(err.msg, target, strlen(target)) == 0, "%s", err.msg);
  ck_assert_int_eq(count_entries(dir, ".tmp."), 0);
  /* same with shards: the extra shards' temporaries go too */
  ferry_model_free(m);
  m = load_test("pytorch-converted/test_BatchNorm2d_eval");
  ferry_bundle_opts o = {.shard_size = 300};
  ck_assert_int_ne(ferry_bundle_write(m, target, &o, &err), 0);
  ck_assert_int_eq(count_entries(dir, ".tmp."), 0);
  rmdir(target);
  /* a successful write leaves exactly the bundle */
  ck_assert_int_eq(ferry_bundle_write(m, target, &o, &err), 0);
  ck_assert_int_eq(count_entries(dir, ".tmp."), 0);
  ck_assert_int_ge(count_entries(dir, "m.ferry"), 3);
  /* an existing bundle is replaced, not appended to */
  long before = file_size(target);
  ck_assert_int_eq(ferry_bundle_write(m, target, &o, &err), 0);
  ck_assert_int_eq(file_size(target), before);
  ferry_model_free(m);
}
END_TEST

/* Every attribute type, tensors of odd dtypes and nested subgraphs, hung on
 * an imported model (the ONNX test data has no FLOATS, TENSORS, GRAPHS,
 * SPARSE or TYPE_PROTOS attributes). */
static ferry_tensor *mk_tensor(ferry_model *m, int dtype, int rank, const int64_t *dims,
                               const void *data, size_t nbytes) {
  ferry_tensor *t = ferry_model_alloc(m, sizeof *t);
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    numel *= dims[i];
  *t = (ferry_tensor){
      .dtype = dtype, .rank = rank, .dims = dims, .numel = numel, .data = data, .nbytes = nbytes};
  return t;
}

static ferry_graph *mk_graph(ferry_model *m, ferry_graph *parent, const char *name, int outer) {
  ferry_graph *g = ferry_graph_new(m, parent);
  g->name = name;
  if (outer >= 0) { /* reads a value of its parent and returns it */
    int v = ferry_graph_add_value(g, parent->values[outer].name);
    g->values[v].outer = outer;
    g->values[v].type = parent->values[outer].type;
    g->values[v].data = parent->values[outer].data;
    g->values[v].flags = FERRY_VAL_OUTPUT;
    int *outs = ferry_model_alloc(m, sizeof *outs);
    outs[0] = v;
    g->outputs = outs;
    g->n_outputs = 1;
  }
  return g;
}

START_TEST(test_all_attr_types) {
  ferry_model *m = load_test("node/test_add");
  ferry_graph *g = m->graph;
  static const float fv[3] = {1.5f, -0.0f, 1e-30f};
  static const int64_t d3[1] = {3}, d2[1] = {2}, d5[1] = {5}, d0[2] = {4, 0};
  static const uint8_t u4[3] = {0x21, 0x43, 0x05}, bl[1] = {1};
  static const ferry_str strs[2] = {{"ab", 2}, {"\0x", 2}};
  ferry_tensor *tf = mk_tensor(m, FERRY_F32, 1, d3, fv, 12);
  ferry_tensor *ts = mk_tensor(m, FERRY_STRING, 1, d2, strs, 2 * sizeof(ferry_str));
  ferry_tensor *tu = mk_tensor(m, FERRY_U4, 1, d5, u4, 3);
  ferry_tensor *tb = mk_tensor(m, FERRY_BOOL, 0, NULL, bl, 1);
  ferry_tensor *te = mk_tensor(m, FERRY_F16, 2, d0, "", 0);
  /* a string weight in the main graph */
  int w = ferry_graph_add_value(g, "string weight");
  g->values[w].flags = FERRY_VAL_WEIGHT;
  g->values[w].data = ts;
  g->values[w].type = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = FERRY_STRING, .rank = 1};
  g->values[w].type.shape = ferry_model_alloc(m, sizeof(ferry_dim));
  g->values[w].type.shape[0] = ferry_dim_const(m->dims, 2);
  /* subgraphs: one reads the weight; sg3 holds sg4 through a node of its own */
  ferry_graph *sg1 = mk_graph(m, g, "then", w), *sg2 = mk_graph(m, g, "b0", g->inputs[0]),
              *sg3 = mk_graph(m, g, "b1", -1);
  ferry_graph *sg4 = mk_graph(m, sg3, "inner", -1);
  int nn = ferry_graph_add_node(sg3);
  sg3->nodes[nn].op = "If";
  sg3->nodes[nn].opset = 11;
  ferry_attr *ia = ferry_model_alloc(m, sizeof *ia);
  *ia = (ferry_attr){.name = "else_branch", .type = FERRY_A_GRAPH, .g = sg4};
  sg3->nodes[nn].attrs = ia;
  sg3->nodes[nn].n_attrs = 1;
  /* types: seq(tensor f32 [batch, 3]), map(int64 -> seq(optional(tensor))) */
  ferry_type *ty = ferry_model_alloc(m, 6 * sizeof *ty);
  ferry_dim *sh = ferry_model_alloc(m, 2 * sizeof *sh);
  sh[0] = ferry_dim_sym(m->dims, "batch");
  sh[1] = ferry_dim_const(m->dims, 3);
  ty[2] = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = FERRY_F32, .rank = 2, .shape = sh};
  ty[0] = (ferry_type){.kind = FERRY_V_SEQUENCE, .rank = -1, .elem = &ty[2]};
  ty[5] = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = FERRY_BF16, .rank = -1};
  ty[4] = (ferry_type){.kind = FERRY_V_OPTIONAL, .rank = -1, .elem = &ty[5]};
  ty[3] = (ferry_type){.kind = FERRY_V_SEQUENCE, .rank = -1, .elem = &ty[4]};
  ty[1] = (ferry_type){.kind = FERRY_V_MAP, .dtype = FERRY_I64, .rank = -1, .elem = &ty[3]};
  static const int64_t ints[3] = {INT64_MIN, -1, INT64_MAX};
  static const ferry_str sl[3] = {{"", 0}, {"a\0b", 3}, {"long string with spaces", 23}};
  const ferry_tensor **tl = ferry_model_alloc(m, 5 * sizeof *tl);
  tl[0] = ts, tl[1] = tu, tl[2] = tb, tl[3] = te, tl[4] = tf;
  ferry_graph **gl = ferry_model_alloc(m, 2 * sizeof *gl);
  gl[0] = sg2, gl[1] = sg3;
  ferry_attr *at = ferry_model_alloc(m, 15 * sizeof *at);
  at[0] = (ferry_attr){.name = "undef", .type = FERRY_A_UNDEFINED};
  at[1] = (ferry_attr){.name = "f", .type = FERRY_A_FLOAT, .f = -2.5f};
  at[2] = (ferry_attr){.name = "i", .type = FERRY_A_INT, .i = INT64_MIN};
  at[3] = (ferry_attr){.name = "s", .type = FERRY_A_STRING, .s = {"x\0y", 3}};
  at[4] = (ferry_attr){.name = "t", .type = FERRY_A_TENSOR, .t = tf};
  at[5] = (ferry_attr){.name = "g", .type = FERRY_A_GRAPH, .g = sg1};
  at[6] = (ferry_attr){.name = "fs", .type = FERRY_A_FLOATS, .n = 3, .floats = fv};
  at[7] = (ferry_attr){.name = "is", .type = FERRY_A_INTS, .n = 3, .ints = ints};
  at[8] = (ferry_attr){.name = "ss", .type = FERRY_A_STRINGS, .n = 3, .strings = sl};
  at[9] = (ferry_attr){.name = "ts", .type = FERRY_A_TENSORS, .n = 5, .tensors = tl};
  at[10] = (ferry_attr){.name = "gs", .type = FERRY_A_GRAPHS, .n = 2, .graphs = gl};
  at[11] = (ferry_attr){.name = "sp", .type = FERRY_A_SPARSE_TENSOR, .t = tu};
  at[12] = (ferry_attr){.name = "sps", .type = FERRY_A_SPARSE_TENSORS, .n = 2, .tensors = tl};
  at[13] = (ferry_attr){.name = "tp", .type = FERRY_A_TYPE_PROTO, .n = 1, .types = &ty[0]};
  at[14] = (ferry_attr){.name = "tps", .type = FERRY_A_TYPE_PROTOS, .n = 2, .types = ty};
  g->nodes[0].attrs = at;
  g->nodes[0].n_attrs = 15;
  ferry_bundle_opts o = {.producer_name = "p", .producer_version = "v"};
  static const ferry_str props[4] = {{"k1", 2}, {"v1", 2}, {"k2", 2}, {"", 0}};
  o.props = props;
  o.n_props = 2;
  ck_assert_int_eq(roundtrip(m, "all types", tpath("at.ferry"), &o, NULL), 1);
  o.compress = 1;
  ferry_bundle_options ro = {.inflate = zinflate};
  roundtrip(m, "all types, compressed", tpath("atz.ferry"), &o, &ro);
  o.compress = 0;
  o.shard_size = 200;
  ck_assert_int_gt(roundtrip(m, "all types, sharded", tpath("ats.ferry"), &o, NULL), 3);
  opened op;
  open_files(&op, tpath("ats.ferry"), NULL);
  const ferry_bmeta *md = ferry_bundle_meta(op.b);
  ck_assert_int_eq(md->n_props, 2);
  ck_assert_str_eq(md->props[2].s, "k2");
  ck_assert_int_eq(ferry_bundle_n_graphs(op.b), 5);
  ck_assert_int_eq(ferry_bundle_graph(op.b, 4)->parent, 3);
  const ferry_battr *ba = &ferry_bundle_graph(op.b, 0)->nodes[0].attrs[9];
  const ferry_btensor *bt = ferry_bundle_tensor(op.b, ba->tensors[0]);
  ck_assert_int_eq(bt->dtype, FERRY_STRING);
  uint32_t si;
  memcpy(&si, (const uint8_t *)bt->data + 4, 4);
  ck_assert_uint_eq(ferry_bundle_string(op.b, (int)si).len, 2);
  ck_assert_int_eq(ferry_bundle_string(op.b, (int)si).s[0], 0);
  close_opened(&op);
  /* what a bundle cannot hold is refused with a message, and nothing written */
  at[0].type = 99;
  ferry_err err;
  ck_assert_int_eq(ferry_bundle_write(m, tpath("bad.ferry"), NULL, &err), FERRY_E_INPUT);
  ck_assert_msg(strstr(err.msg, "bad.ferry: attribute 'undef' has type 99"), "%s", err.msg);
  ck_assert_int_eq(file_size(tpath("bad.ferry")), -1);
  ck_assert_int_eq(count_entries(tmpdir, ".tmp."), 0);
  ferry_model_free(m);
}
END_TEST

/* ---- hand-made bundles: what the writer does not make ---- */

typedef struct sbuf {
  uint8_t p[8192];
  size_t n;
} sbuf;
static void s_u8(sbuf *b, uint8_t v) { b->p[b->n++] = v; }
static void s_u32(sbuf *b, uint32_t v) {
  wr32(b->p + b->n, v);
  b->n += 4;
}
static void s_u64(sbuf *b, uint64_t v) {
  wr64(b->p + b->n, v);
  b->n += 8;
}
static void s_f32(sbuf *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  s_u32(b, u);
}

/* Lays out sections (kinds 1..5 in order, DATA last) into one file. */
static uint8_t *assemble(sbuf *secs[5], const uint32_t flags[5], const uint64_t raw[5],
                         size_t *len) {
  uint8_t *p = calloc(1, 65536);
  uint64_t at = 64 + 5 * 40;
  for (int i = 0; i < 5; i++) {
    at = (at + (i == 4 ? 63 : 7)) / (i == 4 ? 64 : 8) * (i == 4 ? 64 : 8);
    uint8_t *e = p + 64 + 40 * i;
    wr32(e, (uint32_t)i + 1);
    wr32(e + 4, flags ? flags[i] : 0);
    wr64(e + 8, at);
    wr64(e + 16, secs[i]->n);
    wr64(e + 24, raw ? raw[i] : secs[i]->n);
    memcpy(p + at, secs[i]->p, secs[i]->n);
    at += secs[i]->n;
  }
  memcpy(p, FERRY_BUNDLE_MAGIC, 8);
  p[8] = 1;
  wr32(p + 16, 64);
  wr32(p + 20, 5);
  wr32(p + 28, 1);
  wr64(p + 32, at);
  for (int i = 0; i < 16; i++)
    p[40 + i] = (uint8_t)i;
  fix_crcs(p, at);
  *len = at;
  return p;
}

static sbuf S, M, G, T, D;

/* Minimal sections: strings "", "x", "y"; metadata matching the id. */
static void base_sections(void) {
  memset(&S, 0, sizeof S), memset(&M, 0, sizeof M), memset(&G, 0, sizeof G);
  memset(&T, 0, sizeof T), memset(&D, 0, sizeof D);
  s_u32(&S, 3);
  s_u32(&S, 0), s_u8(&S, 0);
  s_u32(&S, 1), s_u8(&S, 'x'), s_u8(&S, 0);
  s_u32(&S, 1), s_u8(&S, 'y'), s_u8(&S, 0);
  for (int i = 0; i < 3; i++)
    s_u32(&M, 0);
  for (int i = 0; i < 32; i++)
    s_u8(&M, (uint8_t)(i < 16 ? i : 0));
  for (int i = 0; i < 4; i++)
    s_u32(&M, 0);
  s_u64(&M, 8), s_u64(&M, 1);
  s_u32(&M, 0), s_u32(&M, 0);
}

static ferry_bundle *open_made(ferry_err *err) {
  sbuf *secs[5] = {&M, &S, &G, &T, &D};
  size_t len;
  static uint8_t *last;
  free(last);
  last = assemble(secs, NULL, NULL, &len);
  return ferry_bundle_open(last, len, err);
}

/* tensor entry */
static void t_entry(sbuf *t, uint32_t dtype, uint32_t enc, int rank, const int64_t *dims,
                    uint64_t off, uint64_t nbytes, const sbuf *params) {
  s_u32(t, dtype), s_u32(t, enc), s_u32(t, (uint32_t)rank);
  for (int i = 0; i < rank; i++)
    s_u64(t, (uint64_t)dims[i]);
  s_u32(t, 0), s_u32(t, params ? (uint32_t)params->n : 0);
  s_u64(t, off), s_u64(t, nbytes);
  if (params)
    memcpy(t->p + t->n, params->p, params->n), t->n += params->n;
}

/* a graph section with `ng` graphs; graph 0 has one node whose attribute
 * lists `refs` (graph indices); graph i > 0 has parent `parents[i]` */
static void g_graphs(int ng, const int *parents, const int *refs, int nrefs, const uint8_t *dim,
                     size_t dimlen) {
  s_u32(&G, 1), s_u32(&G, 1); /* symbol 0 = "x" */
  s_u32(&G, (uint32_t)ng);
  for (int gi = 0; gi < ng; gi++) {
    s_u32(&G, 0), s_u32(&G, (uint32_t)(gi ? parents[gi] : -1));
    s_u32(&G, 1); /* one value */
    s_u32(&G, 2), s_u32(&G, 0), s_u32(&G, (uint32_t)-1), s_u32(&G, (uint32_t)-1);
    s_u32(&G, 0), s_u32(&G, 1), s_u32(&G, dim ? 1 : 0);
    if (dim)
      memcpy(G.p + G.n, dim, dimlen), G.n += dimlen;
    s_u32(&G, 0);
    if (gi == 0 && nrefs) {
      s_u32(&G, 1); /* one node */
      s_u32(&G, 0), s_u32(&G, 0), s_u32(&G, 1), s_u32(&G, 1);
      s_u32(&G, 0), s_u32(&G, 1), s_u32(&G, 0); /* no inputs, output value 0 */
      s_u32(&G, 1), s_u32(&G, 2), s_u32(&G, FERRY_A_GRAPHS), s_u32(&G, (uint32_t)nrefs);
      for (int k = 0; k < nrefs; k++)
        s_u32(&G, (uint32_t)refs[k]);
    } else {
      s_u32(&G, 0);
    }
    s_u32(&G, 0), s_u32(&G, 1), s_u32(&G, 0); /* no inputs, output 0 */
  }
}

START_TEST(test_made_encodings) {
  ferry_err err;
  base_sections();
  g_graphs(1, NULL, NULL, 0, NULL, 0);
  int64_t d2[2] = {3, 40}, d1[1] = {6};
  sbuf prm = {0};
  s_u32(&prm, 1), s_u32(&prm, 40); /* axis 1, 40 scales, 40 zero points */
  for (int i = 0; i < 40; i++)
    s_f32(&prm, 0.5f * (float)i);
  for (int i = 0; i < 40; i++)
    s_u8(&prm, (uint8_t)i);
  s_u32(&T, 5);
  t_entry(&T, FERRY_F32, FERRY_ENC_AFFINE_U8, 2, d2, 0, 120, &prm);
  t_entry(&T, FERRY_F32, FERRY_ENC_Q4_32, 2, d2, 128, 3 * 2 * 18, NULL);
  t_entry(&T, FERRY_F32, FERRY_ENC_Q8_32, 2, d2, 256, 3 * 2 * 34, NULL);
  t_entry(&T, FERRY_F32, FERRY_ENC_F16, 1, d1, 512, 12, NULL);
  t_entry(&T, FERRY_U4, FERRY_ENC_RAW, 1, d1, 576, 3, NULL);
  D.n = 640;
  for (size_t i = 0; i < D.n; i++)
    D.p[i] = (uint8_t)i;
  ferry_bundle *b = open_made(&err);
  ck_assert_msg(b, "%s", err.msg);
  const ferry_btensor *t = ferry_bundle_tensor(b, 0);
  ck_assert_int_eq(t->encoding, FERRY_ENC_AFFINE_U8);
  ck_assert_int_eq(t->axis, 1);
  ck_assert_int_eq(t->n_scales, 40);
  ck_assert(t->scales[3] == 1.5f);
  ck_assert_int_eq(t->zero_points[39], 39);
  ck_assert_int_eq(((const uint8_t *)t->data)[5], 5);
  ck_assert_int_eq(ferry_bundle_tensor(b, 1)->nbytes, 108);
  ck_assert_int_eq(((const uint8_t *)ferry_bundle_tensor(b, 3)->data)[0], 0);
  ck_assert_int_eq(((const uint8_t *)ferry_bundle_tensor(b, 3)->data)[1], 1);
  ferry_bundle_free(b);
  /* wrong sizes, dtypes, parameters */
  struct {
    uint32_t dtype, enc;
    uint64_t off, nbytes;
    int params;
    const char *msg;
  } bad[] = {
      {FERRY_F32, FERRY_ENC_Q4_32, 0, 100, 0, "need"},
      {FERRY_I64, FERRY_ENC_F16, 0, 240, 0, "cannot hold"},
      {FERRY_F32, FERRY_ENC_AFFINE_I8, 0, 120, 0, "scales"},
      {FERRY_F32, FERRY_ENC_RAW, 0, 480, 1, "parameters"},
      {FERRY_F32, FERRY_ENC_RAW, 32, 480, 0, "aligned"},
      {FERRY_F32, FERRY_ENC_RAW, 640, 480, 0, "outside"},
      {FERRY_F32, 9, 0, 480, 0, "encoding"},
      {99, FERRY_ENC_RAW, 0, 480, 0, "dtype"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    memset(&T, 0, sizeof T);
    s_u32(&T, 1);
    t_entry(&T, bad[i].dtype, bad[i].enc, 2, d2, bad[i].off, bad[i].nbytes,
            bad[i].params ? &prm : NULL);
    ck_assert_ptr_null(open_made(&err));
    ck_assert_msg(strstr(err.msg, bad[i].msg), "case %zu: %s", i, err.msg);
  }
  /* per-axis with the wrong count */
  memset(&T, 0, sizeof T);
  s_u32(&T, 1);
  prm.n = 0;
  s_u32(&prm, 0), s_u32(&prm, 40);
  for (int i = 0; i < 40; i++)
    s_f32(&prm, 1);
  for (int i = 0; i < 40; i++)
    s_u8(&prm, 0);
  t_entry(&T, FERRY_F32, FERRY_ENC_AFFINE_I8, 2, d2, 0, 120, &prm);
  ck_assert_ptr_null(open_made(&err));
  ck_assert_msg(strstr(err.msg, "quantization"), "%s", err.msg);
}
END_TEST

START_TEST(test_made_graphs) {
  ferry_err err;
  static const uint8_t ok_dim[] = {
      3, 0, 0, 0, FERRY_DOP_SYM, 0, 0, 0, 0, FERRY_DOP_CONST, 2, 0, 0, 0,
      0, 0, 0, 0, FERRY_DOP_MUL};
  static const uint8_t underflow[] = {2, 0, 0, 0, FERRY_DOP_CONST, 2, 0, 0, 0,
                                      0, 0, 0, 0, FERRY_DOP_ADD};
  static const uint8_t leaves2[] = {2, 0, 0, 0, FERRY_DOP_SYM, 0, 0, 0, 0, FERRY_DOP_SYM,
                                    0, 0, 0, 0};
  static const uint8_t badsym[] = {1, 0, 0, 0, FERRY_DOP_SYM, 1, 0, 0, 0};
  static const uint8_t badop[] = {1, 0, 0, 0, 77};
  int parents[4] = {-1, 0, 0, 1};
  struct {
    int ng;
    int refs[4];
    int nrefs;
    const uint8_t *dim;
    size_t dl;
    const char *msg;
  } cases[] = {
      {3, {1, 2}, 2, ok_dim, sizeof ok_dim, NULL},
      {2, {1, 1}, 2, NULL, 0, "referenced 2 times"},
      {2, {0}, 1, NULL, 0, "refers to graph 0"},
      {3, {1}, 1, NULL, 0, "referenced 0 times"},
      {4, {1, 2, 3}, 3, NULL, 0, "parent"},
      {2, {5}, 1, NULL, 0, "refers to graph 5"},
      {1, {0}, 0, underflow, sizeof underflow, "empty stack"},
      {1, {0}, 0, leaves2, sizeof leaves2, "leaves 2"},
      {1, {0}, 0, badsym, sizeof badsym, "symbol 1"},
      {1, {0}, 0, badop, sizeof badop, "unknown op"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    base_sections();
    s_u32(&T, 0);
    g_graphs(cases[i].ng, parents, cases[i].refs, cases[i].nrefs, cases[i].dim, cases[i].dl);
    ferry_bundle *b = open_made(&err);
    if (!cases[i].msg) {
      ck_assert_msg(b, "case %zu: %s", i, err.msg);
      const ferry_bgraph *g0 = ferry_bundle_graph(b, 0);
      ck_assert_int_eq(g0->nodes[0].attrs[0].n, 2);
      ck_assert_int_eq(g0->values[0].producer, 0);
      int64_t v = 21, r;
      ck_assert_int_eq(ferry_bundle_eval_dim(b, &g0->values[0].type.dims[0], &v, 1, &r), 0);
      ck_assert_int_eq(r, 42);
      ck_assert_int_eq(ferry_bundle_find_symbol(b, "x"), 0);
      ck_assert_int_eq(ferry_bundle_find_symbol(b, "y"), -1);
      ferry_bundle_free(b);
    } else {
      ck_assert_msg(!b, "case %zu accepted", i);
      ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
    }
  }
}
END_TEST

/* ferry_inflate against zlib: stored, fixed and dynamic blocks, long
 * matches, several blocks; then every truncation and single-byte damage
 * of a stream fails cleanly or (where zlib agrees) gives the same bytes. */
static size_t make_payload(uint8_t *p, size_t n, int kind) {
  uint32_t r = 12345u + (uint32_t)kind;
  for (size_t i = 0; i < n; i++) {
    r = r * 1103515245u + 12345u;
    p[i] = kind == 0 ? (uint8_t)(r >> 16)                            /* noise: stored blocks */
           : kind == 1 ? (uint8_t)("weights and biases "[i % 19])   /* text: long matches */
                       : (uint8_t)(i % 251 < 200 ? (r >> 24) & 7 : i); /* skewed floats-like */
  }
  return n;
}

START_TEST(test_inflate_vs_zlib) {
  static const size_t sizes[] = {0, 1, 100, 65535, 70001, 300000};
  static const int levels[] = {0, 1, 6, 9};
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
    for (int kind = 0; kind < 3; kind++)
      for (size_t li = 0; li < sizeof levels / sizeof *levels; li++)
        for (int strategy = 0; strategy < 2; strategy++) {
          size_t n = sizes[si];
          uint8_t *p = malloc(n + 1), *got = malloc(n + 1);
          make_payload(p, n, kind);
          z_stream z;
          memset(&z, 0, sizeof z);
          ck_assert_int_eq(deflateInit2(&z, levels[li], Z_DEFLATED, 15, 8, strategy ? Z_FIXED : Z_DEFAULT_STRATEGY),
                           Z_OK);
          uLong zn = deflateBound(&z, n);
          uint8_t *c = malloc(zn);
          z.next_in = p, z.avail_in = (uInt)n, z.next_out = c, z.avail_out = (uInt)zn;
          ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
          zn = z.total_out;
          deflateEnd(&z);
          ck_assert_msg(ferry_inflate(NULL, c, zn, got, n) == 0, "size %zu kind %d level %d", n, kind, levels[li]);
          ck_assert(n == 0 || !memcmp(got, p, n));
          if (n) ck_assert_int_eq(ferry_inflate(NULL, c, zn, got, n - 1), -1); /* more data than room */
          ck_assert_int_eq(ferry_inflate(NULL, c, zn, got, n + 1), -1);      /* less data than declared */
          free(c), free(p), free(got);
        }
  /* damage: truncations and byte flips of one stream */
  size_t n = 5000;
  uint8_t p[5000], got[5000], bad[8192];
  make_payload(p, n, 2);
  uLongf zn = sizeof bad;
  ck_assert_int_eq(compress2(bad, &zn, p, n, 6), Z_OK);
  uint8_t *c = malloc(zn);
  memcpy(c, bad, zn);
  for (size_t cut = 0; cut < zn; cut++) ck_assert_int_eq(ferry_inflate(NULL, c, cut, got, n), -1);
  for (size_t at = 0; at < zn; at++)
    for (int bit = 0; bit < 8; bit += 3) {
      memcpy(bad, c, zn);
      bad[at] ^= (uint8_t)(1 << bit);
      uLongf zl = n;
      int zrc = uncompress(got, &zl, bad, zn);
      int rc = ferry_inflate(NULL, bad, zn, got, n);
      ck_assert_msg(rc == -1 || (zrc == Z_OK && zl == n), "byte %zu bit %d: accepted where zlib refuses", at, bit);
    }
  free(c);
}
END_TEST

START_TEST(test_compressed_data) {
  /* a bundle whose DATA the host must inflate: made from a plain one */
  ferry_model *m = load_test("pytorch-converted/test_BatchNorm2d_eval");
  ferry_bundle_opts o = {0};
  ferry_err err;
  ck_assert_int_eq(ferry_bundle_write(m, tpath("cd.ferry"), &o, &err), 0);
  size_t len;
  uint8_t *buf = read_aligned(tpath("cd.ferry"), &len);
  uint8_t *e = buf + 64 + 4 * 40; /* DATA entry, the last */
  ck_assert_int_eq(rd32(e), FERRY_SEC_DATA);
  uint64_t off = rd64(e + 8), raw = rd64(e + 16);
  uLongf zn = compressBound(raw);
  uint8_t *z = malloc(zn);
  ck_assert_int_eq(compress2(z, &zn, buf + off, raw, 9), Z_OK);
  ck_assert_uint_lt(zn, raw);
  uint8_t *c = calloc(1, off + zn);
  memcpy(c, buf, off);
  memcpy(c + off, z, zn);
  wr32(c + 64 + 4 * 40 + 4, FERRY_SEC_DEFLATE);
  wr64(c + 64 + 4 * 40 + 16, zn);
  wr64(c + 32, off + zn);
  fix_crcs(c, off + zn);
  ferry_bundle *own = ferry_bundle_open(c, off + zn, &err); /* the runtime's own inflate */
  ck_assert_msg(own, "%s", err.msg);
  cmp_model(m, own, "compressed DATA, ferry_inflate", &o);
  ferry_bundle_free(own);
  ferry_bundle_options ro = {.inflate = failing_inflate};
  ck_assert_ptr_null(ferry_bundle_open_with(c, off + zn, &ro, &err));
  ck_assert_msg(strstr(err.msg, "inflating"), "%s", err.msg);
  ro.inflate = zinflate;
  ferry_bundle *b = ferry_bundle_open_with(c, off + zn, &ro, &err);
  ck_assert_msg(b, "%s", err.msg);
  cmp_model(m, b, "compressed DATA", &o);
  ferry_bundle_free(b);
  /* skipping the DATA CRC still checks everything else */
  ro.skip_data_crc = 1;
  c[off + zn - 1] ^= 1; /* corrupt the zlib stream's checksum: inflate fails */
  ck_assert_ptr_null(ferry_bundle_open_with(c, off + zn, &ro, &err));
  free(c);
  free(z);
  free(buf);
  ferry_model_free(m);
}
END_TEST

static Suite *bundle_suite(void) {
  Suite *s = suite_create("bundle");
  TCase *tc = tcase_create("bundle");
  tcase_set_timeout(tc, 1800);
  tcase_add_test(tc, test_crc32);
  tcase_add_test(tc, test_eval_programs);
  tcase_add_test(tc, test_versions);
  tcase_add_test(tc, test_corruption_refused);
  tcase_add_test(tc, test_fuzz_parsers);
  tcase_add_test(tc, test_symbolic_dims);
  tcase_add_test(tc, test_shards);
  tcase_add_test(tc, test_atomic_write);
  tcase_add_test(tc, test_all_attr_types);
  tcase_add_test(tc, test_made_encodings);
  tcase_add_test(tc, test_made_graphs);
  tcase_add_test(tc, test_compressed_data);
  tcase_add_test(tc, test_inflate_vs_zlib);
  tcase_add_test(tc, test_roundtrip_onnx_testdata);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  make_tmpdir();
  SRunner *sr = srunner_create(bundle_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  rm_tree(tmpdir);
  globfree(&models);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
