/*
 * nodetest.c - see nodetest.h. Reading a test: import model.onnx (one
 * node), unpack each input_K.pb / output_K.pb TensorProto with protobuf-c,
 * then call the kernel through kfake and compare element by element.
 */
#include "nodetest.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir.h"
#include "kernels/util.h"
#include "kfake.h"
#include "onnx.pb-c.h"
#include "ops.h"
#include "testutil.h"

/* A TensorProto file as dtype, dims and little-endian bytes (malloc'd). */
typedef struct pbt {
  int dtype, rank;
  int64_t dims[FERRY_MAX_RANK];
  int64_t numel;
  void *data;
} pbt;

static int read_pb(const char *path, pbt *t) {
  size_t len;
  char *buf = tu_read(path, &len);
  if (!buf) return -1;
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  free(buf);
  if (!tp || tp->n_dims > FERRY_MAX_RANK || !ferry_dtype_valid(tp->data_type) || tp->data_type == FERRY_STRING) {
    if (tp) onnx__tensor_proto__free_unpacked(tp, NULL);
    return -1;
  }
  t->dtype = tp->data_type;
  t->rank = (int)tp->n_dims;
  t->numel = 1;
  for (int i = 0; i < t->rank; i++) {
    t->dims[i] = tp->dims[i];
    if (tp->dims[i] < 0 || (tp->dims[i] && t->numel > (1ll << 31) / tp->dims[i])) { /* not a tensor file */
      onnx__tensor_proto__free_unpacked(tp, NULL);
      return -1;
    }
    t->numel *= tp->dims[i];
  }
  size_t size = (size_t)t->numel * (size_t)ferry_dtype_size(t->dtype);
  t->data = calloc(1, size + 1);
  if (!t->data) {
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return -1;
  }
  if (tp->has_raw_data && tp->raw_data.len == size) {
    if (size) memcpy(t->data, tp->raw_data.data, size);
  } else {
    for (int64_t i = 0; i < t->numel; i++) {
      int dt = t->dtype;
      if (dt == FERRY_F32 && (size_t)i < tp->n_float_data) ((float *)t->data)[i] = tp->float_data[i];
      else if (dt == FERRY_F64 && (size_t)i < tp->n_double_data) ((double *)t->data)[i] = tp->double_data[i];
      else if (dt == FERRY_I64 && (size_t)i < tp->n_int64_data) ((int64_t *)t->data)[i] = tp->int64_data[i];
      else if ((dt == FERRY_U64 || dt == FERRY_U32) && (size_t)i < tp->n_uint64_data)
        ferry_store_i64(t->data, dt, i, (int64_t)tp->uint64_data[i]);
      else if ((dt == FERRY_F16 || dt == FERRY_BF16) && (size_t)i < tp->n_int32_data)
        ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i];
      else if ((size_t)i < tp->n_int32_data) ferry_store_i64(t->data, dt, i, tp->int32_data[i]);
    }
  }
  onnx__tensor_proto__free_unpacked(tp, NULL);
  return 0;
}

typedef struct nodeattrs {
  const ferry_node *n;
  ferry_model *m;
} nodeattrs;

static int attr_of_node(void *node, const char *name, ferry_attrv *a) {
  const ferry_node *n = ((nodeattrs *)node)->n;
  const ferry_attr *at = ferry_node_attr(n, name);
  memset(a, 0, sizeof *a);
  if (!at) return 0;
  a->type = at->type, a->i = at->i, a->f = at->f, a->n = at->n;
  a->ints = at->ints, a->floats = at->floats;
  a->slen = (int64_t)at->s.len;
  if (at->type == FERRY_A_STRING) { /* protobuf bytes are not NUL-terminated */
    char *z = ferry_model_alloc(((nodeattrs *)node)->m, at->s.len + 1);
    if (z && at->s.len) memcpy(z, at->s.ptr, at->s.len);
    a->s = z;
  }
  if (at->type == FERRY_A_STRINGS) a->s = ferry_attr_strings_joined(((nodeattrs *)node)->m, at, &a->slen);
  if (at->t) a->tdtype = at->t->dtype, a->trank = at->t->rank, a->tdims = at->t->dims, a->tdata = at->t->data;
  return 1;
}

/* 1 when a and b agree as ONNX's runner requires. */
static int close_enough(const pbt *want, const ferry_tview *got, char *msg, size_t n, int k) {
  if (got->dtype != want->dtype || got->rank != want->rank || got->numel != want->numel) {
    snprintf(msg, n, "output %d: dtype %d rank %d numel %lld, want dtype %d rank %d numel %lld", k, got->dtype,
             got->rank, (long long)got->numel, want->dtype, want->rank, (long long)want->numel);
    return 0;
  }
  for (int d = 0; d < want->rank; d++)
    if (got->dims[d] != want->dims[d]) {
      snprintf(msg, n, "output %d: dim %d is %lld, want %lld", k, d, (long long)got->dims[d], (long long)want->dims[d]);
      return 0;
    }
  for (int64_t i = 0; i < want->numel; i++) {
    if (ferry_dtype_is_float(want->dtype)) {
      double a = ferry_load_f64(got->data, got->dtype, i), b = ferry_load_f64(want->data, want->dtype, i);
      if ((isnan(a) && isnan(b)) || a == b) continue;
      if (!(fabs(a - b) <= 1e-7 + 1e-3 * fabs(b))) {
        snprintf(msg, n, "output %d[%lld] = %.9g, want %.9g", k, (long long)i, a, b);
        return 0;
      }
    } else if (ferry_load_i64(got->data, got->dtype, i) != ferry_load_i64(want->data, want->dtype, i)) {
      snprintf(msg, n, "output %d[%lld] = %lld, want %lld", k, (long long)i,
               (long long)ferry_load_i64(got->data, got->dtype, i), (long long)ferry_load_i64(want->data, want->dtype, i));
      return 0;
    }
  }
  return 1;
}

static int run_set(ferry_model *m, const ferry_node *node, ferry_kernel_fn fn, const char *dir, char *msg, size_t n) {
  kf_call c;
  kf_init(&c, node->opset);
  nodeattrs na = {node, m};
  c.s.node = &na;
  c.s.attr = attr_of_node;
  pbt ins[KF_MAX], outs[KF_MAX];
  int n_in = 0, n_out = 0, rc = NT_PASS;
  char path[8192];
  for (int i = 0; i < node->n_inputs && i < KF_MAX; i++) {
    if (node->inputs[i] < 0) {
      kf_in(&c, 0, 0, NULL, NULL);
      continue;
    }
    snprintf(path, sizeof path, "%s/input_%d.pb", dir, n_in);
    if (read_pb(path, &ins[n_in])) {
      rc = NT_SKIP;
      snprintf(msg, n, "cannot read %s", path);
      goto out;
    }
    kf_in(&c, ins[n_in].dtype, ins[n_in].rank, ins[n_in].dims, ins[n_in].data);
    n_in++;
  }
  int slot[KF_MAX];
  for (int i = 0; i < node->n_outputs && i < KF_MAX; i++) {
    if (node->outputs[i] < 0) { kf_out_unknown(&c); continue; }
    snprintf(path, sizeof path, "%s/output_%d.pb", dir, n_out);
    if (read_pb(path, &outs[n_out])) break;
    kf_out(&c, outs[n_out].dtype, outs[n_out].rank, outs[n_out].dims);
    slot[n_out] = i;
    n_out++;
  }
  int krc = kf_run(&c, fn);
  if (krc) {
    snprintf(msg, n, "kernel error: %s", c.k.err);
    rc = NT_ERROR;
  }
  for (int i = 0; i < n_out && rc == NT_PASS; i++)
    if (!close_enough(&outs[i], &c.out[slot[i]], msg, n, i)) rc = NT_FAIL;
out:
  for (int i = 0; i < n_in; i++) free(ins[i].data);
  for (int i = 0; i < n_out; i++) free(outs[i].data);
  kf_free(&c);
  return rc;
}

int nodetest_run(const char *name, char *msg, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/node/%s/model.onnx", tu_env("ONNX_TESTDATA"), name);
  ferry_err err;
  ferry_model *m = ferry_onnx_load(path, &err);
  if (!m) {
    snprintf(msg, n, "%s", err.msg);
    return NT_SKIP;
  }
  int rc = NT_SKIP;
  const ferry_graph *g = m->graph;
  const ferry_opdef *op = g->n_nodes == 1 ? ferry_op_find(g->nodes[0].domain, g->nodes[0].op, g->nodes[0].opset) : NULL;
  if (g->n_nodes != 1) snprintf(msg, n, "%d nodes: needs the executor", g->n_nodes);
  else if (!op || !op->kernel) snprintf(msg, n, "%s: no kernel", g->nodes[0].op);
  else {
    rc = NT_PASS;
    for (int s = 0; rc == NT_PASS; s++) {
      snprintf(path, sizeof path, "%s/node/%s/test_data_set_%d", tu_env("ONNX_TESTDATA"), name, s);
      struct stat st;
      if (stat(path, &st)) break;
      rc = run_set(m, &g->nodes[0], op->kernel, path, msg, n);
    }
  }
  ferry_model_free(m);
  return rc;
}

static int in_list(const char *const *list, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (list[i] && strcmp(list[i], s) == 0) return 1;
  return 0;
}

/* The op of a one-node test, or NULL. */
static char *single_op(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/node/%s/model.onnx", tu_env("ONNX_TESTDATA"), name);
  ferry_err err;
  ferry_model *m = ferry_onnx_load(path, &err);
  if (!m) return NULL;
  char *op = m->graph->n_nodes == 1 ? strdup(m->graph->nodes[0].op) : NULL;
  ferry_model_free(m);
  return op;
}

void nodetest_run_family(const char *family, const char *const *ops, int n_ops, const char *const *known,
                         int n_known, nodetest_tally *t) {
  memset(t, 0, sizeof *t);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/node", tu_env("ONNX_TESTDATA"));
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "test_", 5) != 0) continue;
    char *op = single_op(e->d_name);
    if (!op || !in_list(ops, n_ops, op)) {
      free(op);
      continue;
    }
    char msg[512] = "";
    int rc = nodetest_run(e->d_name, msg, sizeof msg);
    int is_known = in_list(known, n_known, e->d_name);
    t->n[rc]++;
    if (rc != NT_PASS && !is_known) {
      fprintf(stderr, "%s (%s): %s: %s\n", e->d_name, op,
              rc == NT_FAIL ? "FAIL" : rc == NT_ERROR ? "ERROR" : "SKIP", msg);
      t->unexpected++;
    }
    if (rc == NT_PASS && is_known) {
      fprintf(stderr, "%s passes: take it off KNOWN\n", e->d_name);
      t->stale_known++;
    }
    free(op);
  }
  closedir(d);
  fprintf(stderr, "%s node tests: %d pass, %d fail, %d error, %d skip\n", family, t->n[NT_PASS], t->n[NT_FAIL],
          t->n[NT_ERROR], t->n[NT_SKIP]);
}
