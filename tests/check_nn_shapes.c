/*
 * check_nn_shapes.c - the shape rules of runtime/ops/nn.c, reduce.c and
 * rnn.c, checked against ONNX.
 *
 *   node      one row per ONNX backend node test of these ops (the
 *             libonnx-testdata/onnx 1.12 "node" set): input dtypes and
 *             shapes, attributes and the small integer (and Resize scale)
 *             inputs -> the dtypes and shapes of test_data_set_0's outputs,
 *             run on integer dims as the runtime does;
 *   extra     ops and paths the node tests lack (LpPool, MaxRoiPool,
 *             GroupNormalization, Col2Im, CenterCropPad, layout=1, 1-D
 *             MatMul, ceil_mode, opset-dependent inputs...), each checked
 *             against onnx.shape_inference, numpy or the operator spec as
 *             its comment says;
 *   symbolic  the same rules on symbolic dims (convert/dim.c), as the
 *             converter runs them;
 *   errors    bad nodes give FERRY_E_INPUT and a one-line message.
 *
 * A case is written as text, so a row reads like the test it came from:
 *   inputs   "DT:D1xD2...[=v1,v2...]" per input, ';' between, "-" absent;
 *            DT is the ONNX dtype number, "DT:" alone a scalar, values are
 *            the input's constant data; a dim may be a symbol name (only
 *            in symbolic cases) or "?" (fresh);
 *   attrs    "name=i:5", "name=is:1,2", "name=f:0.5", "name=fs:1,2",
 *            "name=s:TEXT", ';' between;
 *   outputs  "DT:D1xD2..." per output, "-" for one the node leaves unused,
 *            "?" for a fresh (data-dependent) dim, "=v" to check content.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dim.h"
#include "ops/rules.h"
#include "shape.h"

/* ---- integer dims (the runtime's view); fresh dims are <= FRESH_BASE ---- */

#define FRESH_BASE (-1000000)

static int64_t fresh_next;

static ferry_sdim i_konst(void *x, int64_t v) { (void)x; return v; }
static ferry_sdim i_add(void *x, ferry_sdim a, ferry_sdim b) { (void)x; return a + b; }
static ferry_sdim i_sub(void *x, ferry_sdim a, ferry_sdim b) { (void)x; return a - b; }
static ferry_sdim i_mul(void *x, ferry_sdim a, ferry_sdim b) { (void)x; return a * b; }
static ferry_sdim i_div(void *x, ferry_sdim a, ferry_sdim b) {
  (void)x;
  ferry_sdim q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static ferry_sdim i_mod(void *x, ferry_sdim a, ferry_sdim b) { return a - i_div(x, a, b) * b; }
static ferry_sdim i_min(void *x, ferry_sdim a, ferry_sdim b) { (void)x; return a < b ? a : b; }
static ferry_sdim i_max(void *x, ferry_sdim a, ferry_sdim b) { (void)x; return a > b ? a : b; }
static int i_is_const(void *x, ferry_sdim a, int64_t *v) {
  (void)x;
  if (a <= FRESH_BASE) return 0;
  if (v) *v = a;
  return 1;
}
static ferry_sdim i_fresh(void *x) { (void)x; return FRESH_BASE - fresh_next++; }

static const ferry_dimops int_ops = {NULL, i_konst, i_add, i_sub, i_mul, i_div,
                                     i_mod, i_min, i_max, i_is_const, i_fresh};

/* ---- symbolic dims (the converter's view): convert/dim.c ---- */

#define H(d) ((ferry_sdim)(intptr_t)(d))
#define P(a) ((ferry_dim)(intptr_t)(a))

static ferry_sdim s_konst(void *x, int64_t v) { return H(ferry_dim_const(x, v)); }
static ferry_sdim s_add(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_add(x, P(a), P(b))); }
static ferry_sdim s_sub(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_sub(x, P(a), P(b))); }
static ferry_sdim s_mul(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_mul(x, P(a), P(b))); }
static ferry_sdim s_div(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_div(x, P(a), P(b))); }
static ferry_sdim s_mod(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_mod(x, P(a), P(b))); }
static ferry_sdim s_min(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_min(x, P(a), P(b))); }
static ferry_sdim s_max(void *x, ferry_sdim a, ferry_sdim b) { return H(ferry_dim_max(x, P(a), P(b))); }
static int s_is_const(void *x, ferry_sdim a, int64_t *v) { (void)x; return ferry_dim_is_const(P(a), v); }
static ferry_sdim s_fresh(void *x) { return H(ferry_dim_fresh(x)); }

/* ---- a node: attributes parsed from the case text ---- */

typedef struct tattr {
  char name[48];
  ferry_attrv a;
  int64_t ints[64];
  float floats[64];
  char s[128];
} tattr;

typedef struct tnode {
  int n;
  tattr at[16];
} tnode;

static int node_attr(void *node, const char *name, ferry_attrv *a) {
  tnode *t = node;
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->at[i].name, name)) {
      *a = t->at[i].a;
      return 1;
    }
  return 0;
}

/* Values "v1,v2,..." of a list into ints or floats; the count. */
static int parse_list(const char *s, int64_t *iv, float *fv, int cap) {
  int n = 0;
  while (*s && n < cap) {
    char *end;
    if (iv) iv[n] = strtoll(s, &end, 10);
    else fv[n] = strtof(s, &end);
    n++;
    s = *end == ',' ? end + 1 : end;
    if (end == s && *s != ',') break;
  }
  return n;
}

/* One "name=T:value" attribute. */
static void parse_attr(tattr *t, const char *spec) {
  char type[4] = {0};
  const char *eq = strchr(spec, '='), *colon = strchr(eq, ':');
  memset(t, 0, sizeof *t);
  memcpy(t->name, spec, (size_t)(eq - spec));
  memcpy(type, eq + 1, (size_t)(colon - eq - 1));
  const char *v = colon + 1;
  if (!strcmp(type, "i")) t->a.type = 2, t->a.i = strtoll(v, NULL, 10);
  else if (!strcmp(type, "f")) t->a.type = 1, t->a.f = strtof(v, NULL);
  else if (!strcmp(type, "s")) t->a.type = 3, snprintf(t->s, sizeof t->s, "%s", v), t->a.s = t->s, t->a.slen = (int64_t)strlen(t->s);
  else if (!strcmp(type, "is")) t->a.type = 7, t->a.n = parse_list(v, t->ints, NULL, 64), t->a.ints = t->ints;
  else if (!strcmp(type, "fs")) t->a.type = 6, t->a.n = parse_list(v, NULL, t->floats, 64), t->a.floats = t->floats;
  else ck_abort_msg("bad attribute type in '%s'", spec);
}

/* Splits s at ';' into parts (copies into buf); the count. */
static int split(const char *s, char *buf, size_t n, char **parts, int cap) {
  int k = 0;
  snprintf(buf, n, "%s", s);
  if (!*buf) return 0;
  for (char *p = buf; k < cap;) {
    parts[k++] = p;
    char *semi = strchr(p, ';');
    if (!semi) break;
    *semi = 0;
    p = semi + 1;
  }
  return k;
}

static void parse_attrs(tnode *t, const char *spec) {
  char buf[1024], *parts[16];
  t->n = split(spec, buf, sizeof buf, parts, 16);
  for (int i = 0; i < t->n; i++) parse_attr(&t->at[i], parts[i]);
}

/* ---- inputs ---- */

typedef struct tin {
  ferry_sval v[16];
  int64_t i64[16][64];
  int32_t i32[16][64];
  float f32[16][64];
  double f64[16][64];
} tin;

/* One dim token: a number, "?" (fresh) or a symbol name. */
static ferry_sdim parse_dim(const ferry_dimops *D, const char *tok) {
  if (!strcmp(tok, "?")) return D->fresh(D->ctx);
  if ((tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-') return D->konst(D->ctx, strtoll(tok, NULL, 10));
  ck_assert_msg(D->ctx != NULL, "symbol '%s' in an integer case", tok);
  return H(ferry_dim_sym(D->ctx, tok));
}

/* "7:2x3" dims into v (rank, dims). */
static void parse_shape(const ferry_dimops *D, const char *s, ferry_sval *v) {
  char buf[256], *save = NULL;
  snprintf(buf, sizeof buf, "%s", s);
  v->rank = 0;
  for (char *tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save))
    v->dims[v->rank++] = parse_dim(D, tok);
}

/* Constant data "v1,v2" of input i in its dtype. */
static void parse_data(tin *t, int i, const char *s) {
  ferry_sval *v = &t->v[i];
  int64_t tmp[64];
  float ftmp[64];
  int int_type = v->dtype == FERRY_I64 || v->dtype == FERRY_I32;
  int n = parse_list(s, int_type ? tmp : NULL, int_type ? NULL : ftmp, 64);
  for (int k = 0; k < n; k++) {
    t->i64[i][k] = tmp[k], t->i32[i][k] = (int32_t)tmp[k];
    t->f32[i][k] = ftmp[k], t->f64[i][k] = ftmp[k];
  }
  v->numel_data = n;
  v->data = v->dtype == FERRY_I64 ? (void *)t->i64[i] : v->dtype == FERRY_I32 ? (void *)t->i32[i]
          : v->dtype == FERRY_F64 ? (void *)t->f64[i] : (void *)t->f32[i];
}

/* "DT:dims[=data][#content]" or "-": "*" as dims is an unknown rank,
 * "#c1,c2" the tracked content (dims, maybe symbolic). */
static void parse_input(const ferry_dimops *D, tin *t, int i, const char *spec) {
  ferry_sval *v = &t->v[i];
  char buf[1024];
  memset(v, 0, sizeof *v);
  v->n_content = -1;
  v->rank = -1;
  if (!strcmp(spec, "-")) return;
  snprintf(buf, sizeof buf, "%s", spec);
  v->present = 1;
  v->dtype = atoi(buf);
  char *dims = strchr(buf, ':') + 1, *eq = strchr(dims, '='), *hash = strchr(dims, '#');
  if (eq) *eq = 0;
  if (hash) *hash = 0;
  if (strcmp(dims, "*")) parse_shape(D, dims, v);
  if (eq) parse_data(t, i, eq + 1);
  if (hash) {
    char *save = NULL;
    v->n_content = 0;
    for (char *tok = strtok_r(hash + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
      v->content[v->n_content++] = parse_dim(D, tok);
  }
}

/* ---- outputs as text ---- */

static void dim_text(const ferry_dimops *D, ferry_sdim d, char *buf, size_t n) {
  int64_t v;
  if (D->is_const(D->ctx, d, &v)) snprintf(buf, n, "%lld", (long long)v);
  else if (!D->ctx) snprintf(buf, n, "?");
  else {
    const char *name = ferry_dim_sym_name(P(d));
    if (name && !strncmp(name, "unk__", 5)) snprintf(buf, n, "?");
    else ferry_dim_str(P(d), buf, n);
  }
}

/* "DT:d1xd2[=c1,c2]" for one output; content only when `with_content`. */
static void out_text(const ferry_dimops *D, const ferry_sval *o, int with_content, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "%d:", o->dtype);
  char d[128];
  if (o->rank < 0) len += (size_t)snprintf(buf + len, n - len, "*");
  for (int i = 0; i < o->rank && len < n; i++) {
    dim_text(D, o->dims[i], d, sizeof d);
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "x" : "", d);
  }
  for (int i = 0; with_content && i < o->n_content && len < n; i++) {
    dim_text(D, o->content[i], d, sizeof d);
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "=", d);
  }
}

/* ---- the rules under test ---- */

typedef struct rule {
  const char *op;
  ferry_shape_fn fn;
} rule;

#define R(op) {#op, ferry_shape_##op}
static const rule rules[] = {
    R(Conv), R(ConvTranspose), R(ConvInteger), R(QLinearConv), R(MaxPool), R(AveragePool),
    R(LpPool), R(GlobalAveragePool), R(GlobalMaxPool), R(GlobalLpPool), R(MaxRoiPool),
    R(RoiAlign), R(MaxUnpool), R(BatchNormalization), R(InstanceNormalization),
    R(LayerNormalization), R(GroupNormalization), R(LpNormalization),
    R(MeanVarianceNormalization), R(LRN), R(MatMul), R(MatMulInteger), R(QLinearMatMul),
    R(Gemm), R(Einsum), R(ReduceSum), R(ReduceMean), R(ReduceMax), R(ReduceMin),
    R(ReduceProd), R(ReduceL1), R(ReduceL2), R(ReduceLogSum), R(ReduceLogSumExp),
    R(ReduceSumSquare), R(ArgMax), R(ArgMin), R(Softmax), R(LogSoftmax), R(Hardmax), R(TopK),
    R(LSTM), R(GRU), R(RNN), R(Resize), R(Upsample), R(Pad), R(Col2Im), R(DFT), R(STFT),
    R(CenterCropPad), R(GridSample), R(NonMaxSuppression), R(DepthToSpace), R(SpaceToDepth),
    R(Dropout), R(CumSum), R(Det), R(BlackmanWindow), R(HannWindow), R(HammingWindow),
    R(MelWeightMatrix),
};
#undef R

static ferry_shape_fn find_rule(const char *op) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (!strcmp(rules[i].op, op)) return rules[i].fn;
  ck_abort_msg("no rule for %s", op);
  return NULL;
}

/* ---- running a case ---- */

typedef struct tcase {
  const char *name; /* the ONNX node test, or what the case checks */
  const char *op;
  int opset;
  const char *ins, *attrs, *outs;
} tcase;

static tin g_in;
static tnode g_node;
static ferry_sval g_out[8];

/* Runs t's rule with D; returns its status, the outputs as text in got
 * and the error in err. */
static int run_case(const ferry_dimops *D, const tcase *t, char *got, size_t n, char *err) {
  char buf[2048], *parts[16], exp_buf[1024], *exp[8];
  int n_in = split(t->ins, buf, sizeof buf, parts, 16);
  int n_out = split(t->outs, exp_buf, sizeof exp_buf, exp, 8);
  memset(&g_in, 0, sizeof g_in);
  for (int i = 0; i < n_in; i++) parse_input(D, &g_in, i, parts[i]);
  parse_attrs(&g_node, t->attrs);
  for (int i = 0; i < (n_out ? n_out : 1); i++) {
    memset(&g_out[i], 0, sizeof g_out[i]);
    g_out[i].present = n_out == 0 || strcmp(exp[i], "-") != 0;
    g_out[i].rank = -1;
    g_out[i].n_content = -1;
  }
  ferry_shape_ctx c = {.D = D, .opset = t->opset, .n_in = n_in, .n_out = n_out ? n_out : 1,
                       .in = g_in.v, .out = g_out, .attr = node_attr, .node = &g_node};
  int rc = find_rule(t->op)(&c);
  snprintf(err, 256, "%s", c.err);
  size_t len = 0;
  got[0] = 0;
  for (int i = 0; i < n_out && len < n; i++) {
    char o[512] = "-";
    if (g_out[i].present) out_text(D, &g_out[i], strchr(exp[i], '=') != NULL, o, sizeof o);
    len += (size_t)snprintf(got + len, n - len, "%s%s", i ? ";" : "", o);
  }
  return rc;
}

/* Runs t and checks its outputs against t->outs. */
static void check_case(const ferry_dimops *D, const tcase *t) {
  char got[2048], err[256];
  int rc = run_case(D, t, got, sizeof got, err);
  ck_assert_msg(rc == FERRY_OK, "%s (%s): failed: %s", t->name, t->op, err);
  ck_assert_msg(!strcmp(got, t->outs), "%s (%s): got %s, expected %s", t->name, t->op, got, t->outs);
}

/* Runs t, which must fail with a message containing `msg`. */
static void check_fails(const tcase *t, const char *msg) {
  char got[2048], err[256];
  int rc = run_case(&int_ops, t, got, sizeof got, err);
  ck_assert_msg(rc == FERRY_E_INPUT, "%s (%s): rc %d, outputs %s", t->name, t->op, rc, got);
  ck_assert_msg(strstr(err, msg) != NULL, "%s: error '%s' lacks '%s'", t->name, err, msg);
  ck_assert_msg(!strchr(err, '\n') && strlen(err) > 0, "%s: error is not one line", t->name);
}

/* ---- node: ONNX backend node tests ----
 * One row per /usr/share/libonnx-testdata/data/node/test_* model whose
 * single node is one of these ops (the _expanded variants are functions,
 * not the op): the inputs' dtypes and shapes with the values of integer
 * inputs of up to 64 elements (and Resize/Upsample float inputs of up to
 * 8), the node's attributes, and test_data_set_0/output_*.pb's dtypes and
 * shapes, read with python's onnx package. NonMaxSuppression's count is
 * data-dependent: "?". Rows: {node test, op, opset, inputs, attributes,
 * outputs}. */

static const tcase node_cases[] = {
    {"test_argmax_default_axis_example", "ArgMax", 13, "1:2x2", "keepdims=i:1", "7:1x2"},
    {"test_argmax_default_axis_example_select_last_index", "ArgMax", 13, "1:2x2", "keepdims=i:1;select_last_index=i:1", "7:1x2"},
    {"test_argmax_default_axis_random", "ArgMax", 13, "1:2x3x4", "keepdims=i:1", "7:1x3x4"},
    {"test_argmax_default_axis_random_select_last_index", "ArgMax", 13, "1:2x3x4", "keepdims=i:1;select_last_index=i:1", "7:1x3x4"},
    {"test_argmax_keepdims_example", "ArgMax", 13, "1:2x2", "axis=i:1;keepdims=i:1", "7:2x1"},
    {"test_argmax_keepdims_example_select_last_index", "ArgMax", 13, "1:2x2", "axis=i:1;keepdims=i:1;select_last_index=i:1", "7:2x1"},
    {"test_argmax_keepdims_random", "ArgMax", 13, "1:2x3x4", "axis=i:1;keepdims=i:1", "7:2x1x4"},
    {"test_argmax_keepdims_random_select_last_index", "ArgMax", 13, "1:2x3x4", "axis=i:1;keepdims=i:1;select_last_index=i:1", "7:2x1x4"},
    {"test_argmax_negative_axis_keepdims_example", "ArgMax", 13, "1:2x2", "axis=i:-1;keepdims=i:1", "7:2x1"},
    {"test_argmax_negative_axis_keepdims_example_select_last_index", "ArgMax", 13, "1:2x2", "axis=i:-1;keepdims=i:1;select_last_index=i:1", "7:2x1"},
    {"test_argmax_negative_axis_keepdims_random", "ArgMax", 13, "1:2x3x4", "axis=i:-1;keepdims=i:1", "7:2x3x1"},
    {"test_argmax_negative_axis_keepdims_random_select_last_index", "ArgMax", 13, "1:2x3x4", "axis=i:-1;keepdims=i:1;select_last_index=i:1", "7:2x3x1"},
    {"test_argmax_no_keepdims_example", "ArgMax", 13, "1:2x2", "axis=i:1;keepdims=i:0", "7:2"},
    {"test_argmax_no_keepdims_example_select_last_index", "ArgMax", 13, "1:2x2", "axis=i:1;keepdims=i:0;select_last_index=i:1", "7:2"},
    {"test_argmax_no_keepdims_random", "ArgMax", 13, "1:2x3x4", "axis=i:1;keepdims=i:0", "7:2x4"},
    {"test_argmax_no_keepdims_random_select_last_index", "ArgMax", 13, "1:2x3x4", "axis=i:1;keepdims=i:0;select_last_index=i:1", "7:2x4"},
    {"test_argmin_default_axis_example", "ArgMin", 13, "1:2x2", "keepdims=i:1", "7:1x2"},
    {"test_argmin_default_axis_example_select_last_index", "ArgMin", 13, "1:2x2", "keepdims=i:1;select_last_index=i:1", "7:1x2"},
    {"test_argmin_default_axis_random", "ArgMin", 13, "1:2x3x4", "keepdims=i:1", "7:1x3x4"},
    {"test_argmin_default_axis_random_select_last_index", "ArgMin", 13, "1:2x3x4", "keepdims=i:1;select_last_index=i:1", "7:1x3x4"},
    {"test_argmin_keepdims_example", "ArgMin", 13, "1:2x2", "axis=i:1;keepdims=i:1", "7:2x1"},
    {"test_argmin_keepdims_example_select_last_index", "ArgMin", 13, "1:2x2", "axis=i:1;keepdims=i:1;select_last_index=i:1", "7:2x1"},
    {"test_argmin_keepdims_random", "ArgMin", 13, "1:2x3x4", "axis=i:1;keepdims=i:1", "7:2x1x4"},
    {"test_argmin_keepdims_random_select_last_index", "ArgMin", 13, "1:2x3x4", "axis=i:1;keepdims=i:1;select_last_index=i:1", "7:2x1x4"},
    {"test_argmin_negative_axis_keepdims_example", "ArgMin", 13, "1:2x2", "axis=i:-1;keepdims=i:1", "7:2x1"},
    {"test_argmin_negative_axis_keepdims_example_select_last_index", "ArgMin", 13, "1:2x2", "axis=i:-1;keepdims=i:1;select_last_index=i:1", "7:2x1"},
    {"test_argmin_negative_axis_keepdims_random", "ArgMin", 13, "1:2x3x4", "axis=i:-1;keepdims=i:1", "7:2x3x1"},
    {"test_argmin_negative_axis_keepdims_random_select_last_index", "ArgMin", 13, "1:2x3x4", "axis=i:-1;keepdims=i:1;select_last_index=i:1", "7:2x3x1"},
    {"test_argmin_no_keepdims_example", "ArgMin", 13, "1:2x2", "axis=i:1;keepdims=i:0", "7:2"},
    {"test_argmin_no_keepdims_example_select_last_index", "ArgMin", 13, "1:2x2", "axis=i:1;keepdims=i:0;select_last_index=i:1", "7:2"},
    {"test_argmin_no_keepdims_random", "ArgMin", 13, "1:2x3x4", "axis=i:1;keepdims=i:0", "7:2x4"},
    {"test_argmin_no_keepdims_random_select_last_index", "ArgMin", 13, "1:2x3x4", "axis=i:1;keepdims=i:0;select_last_index=i:1", "7:2x4"},
    {"test_averagepool_1d_default", "AveragePool", 11, "1:1x3x32", "kernel_shape=is:2", "1:1x3x31"},
    {"test_averagepool_2d_ceil", "AveragePool", 11, "1:1x1x4x4", "ceil_mode=i:1;kernel_shape=is:3,3;strides=is:2,2", "1:1x1x2x2"},
    {"test_averagepool_2d_default", "AveragePool", 11, "1:1x3x32x32", "kernel_shape=is:2,2", "1:1x3x31x31"},
    {"test_averagepool_2d_pads", "AveragePool", 11, "1:1x3x28x28", "kernel_shape=is:3,3;pads=is:2,2,2,2", "1:1x3x30x30"},
    {"test_averagepool_2d_pads_count_include_pad", "AveragePool", 11, "1:1x3x28x28", "count_include_pad=i:1;kernel_shape=is:3,3;pads=is:2,2,2,2", "1:1x3x30x30"},
    {"test_averagepool_2d_precomputed_pads", "AveragePool", 11, "1:1x1x5x5", "kernel_shape=is:5,5;pads=is:2,2,2,2", "1:1x1x5x5"},
    {"test_averagepool_2d_precomputed_pads_count_include_pad", "AveragePool", 11, "1:1x1x5x5", "count_include_pad=i:1;kernel_shape=is:5,5;pads=is:2,2,2,2", "1:1x1x5x5"},
    {"test_averagepool_2d_precomputed_same_upper", "AveragePool", 11, "1:1x1x5x5", "auto_pad=s:SAME_UPPER;kernel_shape=is:3,3;strides=is:2,2", "1:1x1x3x3"},
    {"test_averagepool_2d_precomputed_strides", "AveragePool", 11, "1:1x1x5x5", "kernel_shape=is:2,2;strides=is:2,2", "1:1x1x2x2"},
    {"test_averagepool_2d_same_lower", "AveragePool", 11, "1:1x3x32x32", "auto_pad=s:SAME_LOWER;kernel_shape=is:2,2", "1:1x3x32x32"},
    {"test_averagepool_2d_same_upper", "AveragePool", 11, "1:1x3x32x32", "auto_pad=s:SAME_UPPER;kernel_shape=is:2,2", "1:1x3x32x32"},
    {"test_averagepool_2d_strides", "AveragePool", 11, "1:1x3x32x32", "kernel_shape=is:5,5;strides=is:3,3", "1:1x3x10x10"},
    {"test_averagepool_3d_default", "AveragePool", 11, "1:1x3x32x32x32", "kernel_shape=is:2,2,2", "1:1x3x31x31x31"},
    {"test_basic_conv_with_padding", "Conv", 11, "1:1x1x5x5;1:1x1x3x3", "kernel_shape=is:3,3;pads=is:1,1,1,1", "1:1x1x5x5"},
    {"test_basic_conv_without_padding", "Conv", 11, "1:1x1x5x5;1:1x1x3x3", "kernel_shape=is:3,3;pads=is:0,0,0,0", "1:1x1x3x3"},
    {"test_basic_convinteger", "ConvInteger", 10, "2:1x1x3x3;2:1x1x2x2;2:", "", "6:1x1x2x2"},
    {"test_batchnorm_epsilon", "BatchNormalization", 15, "1:2x3x4x5;1:3;1:3;1:3;1:3", "epsilon=f:0.009999999776482582", "1:2x3x4x5"},
    {"test_batchnorm_epsilon_training_mode", "BatchNormalization", 15, "1:2x3x4x5;1:3;1:3;1:3;1:3", "epsilon=f:0.009999999776482582;training_mode=i:1", "1:2x3x4x5;1:3;1:3"},
    {"test_batchnorm_example", "BatchNormalization", 15, "1:2x3x4x5;1:3;1:3;1:3;1:3", "", "1:2x3x4x5"},
    {"test_batchnorm_example_training_mode", "BatchNormalization", 15, "1:2x3x4x5;1:3;1:3;1:3;1:3", "training_mode=i:1", "1:2x3x4x5;1:3;1:3"},
    {"test_blackmanwindow", "BlackmanWindow", 17, "6:=10", "", "1:10"},
    {"test_blackmanwindow_symmetric", "BlackmanWindow", 17, "6:=10", "periodic=i:0", "1:10"},
    {"test_constant_pad", "Pad", 13, "1:1x3x4x5;7:8=0,0,1,3,0,0,2,4;1:", "mode=s:constant", "1:1x3x7x12"},
    {"test_conv_with_autopad_same", "Conv", 11, "1:1x1x5x5;1:1x1x3x3", "auto_pad=s:SAME_LOWER;kernel_shape=is:3,3;strides=is:2,2", "1:1x1x3x3"},
    {"test_conv_with_strides_and_asymmetric_padding", "Conv", 11, "1:1x1x7x5;1:1x1x3x3", "kernel_shape=is:3,3;pads=is:1,0,1,0;strides=is:2,2", "1:1x1x4x2"},
    {"test_conv_with_strides_no_padding", "Conv", 11, "1:1x1x7x5;1:1x1x3x3", "kernel_shape=is:3,3;pads=is:0,0,0,0;strides=is:2,2", "1:1x1x3x2"},
    {"test_conv_with_strides_padding", "Conv", 11, "1:1x1x7x5;1:1x1x3x3", "kernel_shape=is:3,3;pads=is:1,1,1,1;strides=is:2,2", "1:1x1x4x3"},
    {"test_convinteger_with_padding", "ConvInteger", 10, "2:1x1x3x3;2:1x1x2x2;2:", "pads=is:1,1,1,1", "6:1x1x4x4"},
    {"test_convinteger_without_padding", "ConvInteger", 10, "2:1x1x3x3;2:1x1x2x2;2:", "", "6:1x1x2x2"},
    {"test_convtranspose", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "", "1:1x2x5x5"},
    {"test_convtranspose_1d", "ConvTranspose", 11, "1:1x1x3;1:1x2x3", "", "1:1x2x5"},
    {"test_convtranspose_3d", "ConvTranspose", 11, "1:1x1x3x4x5;1:1x2x3x3x3", "", "1:1x2x5x6x7"},
    {"test_convtranspose_autopad_same", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "auto_pad=s:SAME_UPPER;strides=is:2,2", "1:1x2x6x6"},
    {"test_convtranspose_dilations", "ConvTranspose", 11, "1:1x1x3x3;1:1x1x2x2", "dilations=is:2,2", "1:1x1x5x5"},
    {"test_convtranspose_kernel_shape", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "kernel_shape=is:3,3;output_padding=is:1,1;output_shape=is:10,8;strides=is:3,2", "1:1x2x10x8"},
    {"test_convtranspose_output_shape", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "output_shape=is:10,8;strides=is:3,2", "1:1x2x10x8"},
    {"test_convtranspose_pad", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "output_padding=is:1,1;strides=is:3,2", "1:1x2x10x8"},
    {"test_convtranspose_pads", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "pads=is:1,2,1,2;strides=is:3,2", "1:1x2x7x3"},
    {"test_convtranspose_with_kernel", "ConvTranspose", 8, "1:1x1x3x3;1:1x2x3x3", "kernel_shape=is:3,3;output_padding=is:1,1;output_shape=is:10,8;strides=is:3,2", "1:1x2x10x8"},
    {"test_cumsum_1d", "CumSum", 14, "11:5;6:=0", "", "11:5"},
    {"test_cumsum_1d_exclusive", "CumSum", 14, "11:5;6:=0", "exclusive=i:1", "11:5"},
    {"test_cumsum_1d_reverse", "CumSum", 14, "11:5;6:=0", "reverse=i:1", "11:5"},
    {"test_cumsum_1d_reverse_exclusive", "CumSum", 14, "11:5;6:=0", "exclusive=i:1;reverse=i:1", "11:5"},
    {"test_cumsum_2d_axis_0", "CumSum", 14, "11:2x3;6:=0", "", "11:2x3"},
    {"test_cumsum_2d_axis_1", "CumSum", 14, "11:2x3;6:=1", "", "11:2x3"},
    {"test_cumsum_2d_negative_axis", "CumSum", 14, "11:2x3;6:=-1", "", "11:2x3"},
    {"test_depthtospace_crd_mode", "DepthToSpace", 11, "1:2x8x3x3", "blocksize=i:2;mode=s:CRD", "1:2x2x6x6"},
    {"test_depthtospace_crd_mode_example", "DepthToSpace", 13, "1:1x8x2x3", "blocksize=i:2;mode=s:CRD", "1:1x2x4x6"},
    {"test_depthtospace_dcr_mode", "DepthToSpace", 11, "1:2x8x3x3", "blocksize=i:2;mode=s:DCR", "1:2x2x6x6"},
    {"test_depthtospace_example", "DepthToSpace", 13, "1:1x8x2x3", "blocksize=i:2;mode=s:DCR", "1:1x2x4x6"},
    {"test_det_2d", "Det", 11, "1:2x2", "", "1:"},
    {"test_det_nd", "Det", 11, "1:3x2x2", "", "1:3"},
    {"test_dft", "DFT", 17, "1:1x10x10x1", "axis=i:1", "1:1x10x10x2"},
    {"test_dft_axis", "DFT", 17, "1:1x10x10x1", "axis=i:2", "1:1x10x10x2"},
    {"test_dft_inverse", "DFT", 17, "1:1x10x10x2", "axis=i:1;inverse=i:1", "1:1x10x10x2"},
    {"test_dropout_default", "Dropout", 13, "1:3x4x5", "seed=i:0", "1:3x4x5"},
    {"test_dropout_default_mask", "Dropout", 13, "1:3x4x5", "seed=i:0", "1:3x4x5;9:3x4x5"},
    {"test_dropout_default_mask_ratio", "Dropout", 13, "1:3x4x5;1:", "seed=i:0", "1:3x4x5;9:3x4x5"},
    {"test_dropout_default_old", "Dropout", 11, "1:3", "", "1:3"},
    {"test_dropout_default_ratio", "Dropout", 13, "1:3x4x5;1:", "seed=i:0", "1:3x4x5"},
    {"test_dropout_random_old", "Dropout", 11, "1:3x4x5", "ratio=f:0.20000000298023224", "1:3x4x5"},
    {"test_edge_pad", "Pad", 13, "6:1x3x4x5=1,0,0,2,1,0,0,0,0,0,0,1,0,0,0,0,1,0,0,0,-2,0,0,0,2,-1,0,0,1,1,0,0,0,-1,0,0,1,1,0,0,-1,-1,-1,1,0,0,-1,0,-1,0,0,0,0,-1,0,0,0,0,0,0;7:8=0,0,1,1,0,0,1,1", "mode=s:edge", "6:1x3x6x7"},
    {"test_einsum_batch_diagonal", "Einsum", 12, "11:3x5x5", "equation=s:...ii ->...i", "11:3x5"},
    {"test_einsum_batch_matmul", "Einsum", 12, "11:5x2x3;11:5x3x4", "equation=s:bij, bjk -> bik", "11:5x2x4"},
    {"test_einsum_inner_prod", "Einsum", 12, "11:5;11:5", "equation=s:i,i", "11:"},
    {"test_einsum_sum", "Einsum", 12, "11:3x4", "equation=s:ij->i", "11:3"},
    {"test_einsum_transpose", "Einsum", 12, "11:3x4", "equation=s:ij->ji", "11:4x3"},
    {"test_gemm_all_attributes", "Gemm", 13, "1:4x3;1:5x4;1:1x5", "alpha=f:0.25;beta=f:0.3499999940395355;transA=i:1;transB=i:1", "1:3x5"},
    {"test_gemm_alpha", "Gemm", 13, "1:3x5;1:5x4;1:1x4", "alpha=f:0.5", "1:3x4"},
    {"test_gemm_beta", "Gemm", 13, "1:2x7;1:7x4;1:1x4", "beta=f:0.5", "1:2x4"},
    {"test_gemm_default_matrix_bias", "Gemm", 13, "1:3x6;1:6x4;1:3x4", "", "1:3x4"},
    {"test_gemm_default_no_bias", "Gemm", 13, "1:2x10;1:10x3", "", "1:2x3"},
    {"test_gemm_default_scalar_bias", "Gemm", 13, "1:2x3;1:3x4;1:", "", "1:2x4"},
    {"test_gemm_default_single_elem_vector_bias", "Gemm", 13, "1:3x7;1:7x3;1:1", "", "1:3x3"},
    {"test_gemm_default_vector_bias", "Gemm", 13, "1:2x7;1:7x4;1:1x4", "", "1:2x4"},
    {"test_gemm_default_zero_bias", "Gemm", 13, "1:3x5;1:5x4;1:1x4", "", "1:3x4"},
    {"test_gemm_transposeA", "Gemm", 13, "1:6x3;1:6x4;1:1x4", "transA=i:1", "1:3x4"},
    {"test_gemm_transposeB", "Gemm", 13, "1:3x6;1:4x6;1:1x4", "transB=i:1", "1:3x4"},
    {"test_globalaveragepool", "GlobalAveragePool", 1, "1:1x3x5x5", "", "1:1x3x1x1"},
    {"test_globalaveragepool_precomputed", "GlobalAveragePool", 1, "1:1x1x3x3", "", "1:1x1x1x1"},
    {"test_globalmaxpool", "GlobalMaxPool", 1, "1:1x3x5x5", "", "1:1x3x1x1"},
    {"test_globalmaxpool_precomputed", "GlobalMaxPool", 1, "1:1x1x3x3", "", "1:1x1x1x1"},
    {"test_gridsample", "GridSample", 16, "1:1x1x4x4;1:1x6x6x2", "align_corners=i:0;mode=s:bilinear;padding_mode=s:zeros", "1:1x1x6x6"},
    {"test_gridsample_aligncorners_true", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "align_corners=i:1;mode=s:bilinear", "1:1x1x2x4"},
    {"test_gridsample_bicubic", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "mode=s:bicubic", "1:1x1x2x4"},
    {"test_gridsample_bilinear", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "mode=s:bilinear", "1:1x1x2x4"},
    {"test_gridsample_border_padding", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "padding_mode=s:border", "1:1x1x2x4"},
    {"test_gridsample_nearest", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "mode=s:nearest", "1:1x1x2x4"},
    {"test_gridsample_reflection_padding", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "padding_mode=s:reflection", "1:1x1x2x4"},
    {"test_gridsample_zeros_padding", "GridSample", 16, "1:1x1x3x2;1:1x2x4x2", "padding_mode=s:zeros", "1:1x1x2x4"},
    {"test_gru_batchwise", "GRU", 14, "1:3x1x2;1:1x18x2;1:1x18x6", "hidden_size=i:6;layout=i:1", "1:3x1x1x6;1:3x1x6"},
    {"test_gru_defaults", "GRU", 14, "1:1x3x2;1:1x15x2;1:1x15x5", "hidden_size=i:5", "-;1:1x3x5"},
    {"test_gru_seq_length", "GRU", 14, "1:2x3x3;1:1x15x3;1:1x15x5;1:1x30", "hidden_size=i:5", "-;1:1x3x5"},
    {"test_gru_with_initial_bias", "GRU", 14, "1:1x3x3;1:1x9x3;1:1x9x3;1:1x18", "hidden_size=i:3", "-;1:1x3x3"},
    {"test_hammingwindow", "HammingWindow", 17, "6:=10", "", "1:10"},
    {"test_hammingwindow_symmetric", "HammingWindow", 17, "6:=10", "periodic=i:0", "1:10"},
    {"test_hannwindow", "HannWindow", 17, "6:=10", "", "1:10"},
    {"test_hannwindow_symmetric", "HannWindow", 17, "6:=10", "periodic=i:0", "1:10"},
    {"test_hardmax_axis_0", "Hardmax", 13, "1:3x4x5", "axis=i:0", "1:3x4x5"},
    {"test_hardmax_axis_1", "Hardmax", 13, "1:3x4x5", "axis=i:1", "1:3x4x5"},
    {"test_hardmax_axis_2", "Hardmax", 13, "1:3x4x5", "axis=i:2", "1:3x4x5"},
    {"test_hardmax_default_axis", "Hardmax", 13, "1:3x4x5", "", "1:3x4x5"},
    {"test_hardmax_example", "Hardmax", 13, "1:4x4", "", "1:4x4"},
    {"test_hardmax_negative_axis", "Hardmax", 13, "1:3x4x5", "axis=i:-1", "1:3x4x5"},
    {"test_hardmax_one_hot", "Hardmax", 13, "1:1x4", "", "1:1x4"},
    {"test_instancenorm_epsilon", "InstanceNormalization", 6, "1:2x3x4x5;1:3;1:3", "epsilon=f:0.009999999776482582", "1:2x3x4x5"},
    {"test_instancenorm_example", "InstanceNormalization", 6, "1:1x2x1x3;1:2;1:2", "", "1:1x2x1x3"},
    {"test_layer_normalization_2d_axis0", "LayerNormalization", 17, "1:3x4;1:3x4;1:3x4", "axis=i:0", "1:3x4;1:1x1;1:1x1"},
    {"test_layer_normalization_2d_axis1", "LayerNormalization", 17, "1:3x4;1:4;1:4", "axis=i:1", "1:3x4;1:3x1;1:3x1"},
    {"test_layer_normalization_2d_axis_negative_1", "LayerNormalization", 17, "1:3x4;1:4;1:4", "axis=i:-1", "1:3x4;1:3x1;1:3x1"},
    {"test_layer_normalization_2d_axis_negative_2", "LayerNormalization", 17, "1:3x4;1:3x4;1:3x4", "axis=i:-2", "1:3x4;1:1x1;1:1x1"},
    {"test_layer_normalization_3d_axis0_epsilon", "LayerNormalization", 17, "1:2x3x5;1:2x3x5;1:2x3x5", "axis=i:0;epsilon=f:0.10000000149011612", "1:2x3x5;1:1x1x1;1:1x1x1"},
    {"test_layer_normalization_3d_axis1_epsilon", "LayerNormalization", 17, "1:2x3x5;1:3x5;1:3x5", "axis=i:1;epsilon=f:0.10000000149011612", "1:2x3x5;1:2x1x1;1:2x1x1"},
    {"test_layer_normalization_3d_axis2_epsilon", "LayerNormalization", 17, "1:2x3x5;1:5;1:5", "axis=i:2;epsilon=f:0.10000000149011612", "1:2x3x5;1:2x3x1;1:2x3x1"},
    {"test_layer_normalization_3d_axis_negative_1_epsilon", "LayerNormalization", 17, "1:2x3x5;1:5;1:5", "axis=i:-1;epsilon=f:0.10000000149011612", "1:2x3x5;1:2x3x1;1:2x3x1"},
    {"test_layer_normalization_3d_axis_negative_2_epsilon", "LayerNormalization", 17, "1:2x3x5;1:3x5;1:3x5", "axis=i:-2;epsilon=f:0.10000000149011612", "1:2x3x5;1:2x1x1;1:2x1x1"},
    {"test_layer_normalization_3d_axis_negative_3_epsilon", "LayerNormalization", 17, "1:2x3x5;1:2x3x5;1:2x3x5", "axis=i:-3;epsilon=f:0.10000000149011612", "1:2x3x5;1:1x1x1;1:1x1x1"},
    {"test_layer_normalization_4d_axis0", "LayerNormalization", 17, "1:2x3x4x5;1:2x3x4x5;1:2x3x4x5", "axis=i:0", "1:2x3x4x5;1:1x1x1x1;1:1x1x1x1"},
    {"test_layer_normalization_4d_axis1", "LayerNormalization", 17, "1:2x3x4x5;1:3x4x5;1:3x4x5", "axis=i:1", "1:2x3x4x5;1:2x1x1x1;1:2x1x1x1"},
    {"test_layer_normalization_4d_axis2", "LayerNormalization", 17, "1:2x3x4x5;1:4x5;1:4x5", "axis=i:2", "1:2x3x4x5;1:2x3x1x1;1:2x3x1x1"},
    {"test_layer_normalization_4d_axis3", "LayerNormalization", 17, "1:2x3x4x5;1:5;1:5", "axis=i:3", "1:2x3x4x5;1:2x3x4x1;1:2x3x4x1"},
    {"test_layer_normalization_4d_axis_negative_1", "LayerNormalization", 17, "1:2x3x4x5;1:5;1:5", "axis=i:-1", "1:2x3x4x5;1:2x3x4x1;1:2x3x4x1"},
    {"test_layer_normalization_4d_axis_negative_2", "LayerNormalization", 17, "1:2x3x4x5;1:4x5;1:4x5", "axis=i:-2", "1:2x3x4x5;1:2x3x1x1;1:2x3x1x1"},
    {"test_layer_normalization_4d_axis_negative_3", "LayerNormalization", 17, "1:2x3x4x5;1:3x4x5;1:3x4x5", "axis=i:-3", "1:2x3x4x5;1:2x1x1x1;1:2x1x1x1"},
    {"test_layer_normalization_4d_axis_negative_4", "LayerNormalization", 17, "1:2x3x4x5;1:2x3x4x5;1:2x3x4x5", "axis=i:-4", "1:2x3x4x5;1:1x1x1x1;1:1x1x1x1"},
    {"test_layer_normalization_default_axis", "LayerNormalization", 17, "1:2x3x4x5;1:5;1:5", "", "1:2x3x4x5;1:2x3x4x1;1:2x3x4x1"},
    {"test_logsoftmax_axis_0", "LogSoftmax", 13, "1:3x4x5", "axis=i:0", "1:3x4x5"},
    {"test_logsoftmax_axis_1", "LogSoftmax", 13, "1:3x4x5", "axis=i:1", "1:3x4x5"},
    {"test_logsoftmax_axis_2", "LogSoftmax", 13, "1:3x4x5", "axis=i:2", "1:3x4x5"},
    {"test_logsoftmax_default_axis", "LogSoftmax", 13, "1:3x4x5", "", "1:3x4x5"},
    {"test_logsoftmax_example_1", "LogSoftmax", 13, "1:1x3", "", "1:1x3"},
    {"test_logsoftmax_large_number", "LogSoftmax", 13, "1:2x4", "", "1:2x4"},
    {"test_logsoftmax_negative_axis", "LogSoftmax", 13, "1:3x4x5", "axis=i:-1", "1:3x4x5"},
    {"test_lrn", "LRN", 13, "1:5x5x5x5", "alpha=f:0.00019999999494757503;beta=f:0.5;bias=f:2.0;size=i:3", "1:5x5x5x5"},
    {"test_lrn_default", "LRN", 13, "1:5x5x5x5", "size=i:3", "1:5x5x5x5"},
    {"test_lstm_batchwise", "LSTM", 14, "1:3x1x2;1:1x28x2;1:1x28x7", "hidden_size=i:7;layout=i:1", "1:3x1x1x7;1:3x1x7"},
    {"test_lstm_defaults", "LSTM", 14, "1:1x3x2;1:1x12x2;1:1x12x3", "hidden_size=i:3", "-;1:1x3x3"},
    {"test_lstm_with_initial_bias", "LSTM", 14, "1:1x3x3;1:1x16x3;1:1x16x4;1:1x32", "hidden_size=i:4", "-;1:1x3x4"},
    {"test_lstm_with_peepholes", "LSTM", 14, "1:1x2x4;1:1x12x4;1:1x12x3;1:1x24;6:2=1,1;1:1x2x3;1:1x2x3;1:1x9", "hidden_size=i:3", "-;1:1x2x3"},
    {"test_matmul_2d", "MatMul", 13, "1:3x4;1:4x3", "", "1:3x3"},
    {"test_matmul_3d", "MatMul", 13, "1:2x3x4;1:2x4x3", "", "1:2x3x3"},
    {"test_matmul_4d", "MatMul", 13, "1:1x2x3x4;1:1x2x4x3", "", "1:1x2x3x3"},
    {"test_matmulinteger", "MatMulInteger", 10, "2:4x3;2:3x2;2:1;2:1", "", "6:4x2"},
    {"test_maxpool_1d_default", "MaxPool", 12, "1:1x3x32", "kernel_shape=is:2", "1:1x3x31"},
    {"test_maxpool_2d_ceil", "MaxPool", 12, "1:1x1x4x4", "ceil_mode=i:1;kernel_shape=is:3,3;strides=is:2,2", "1:1x1x2x2"},
    {"test_maxpool_2d_default", "MaxPool", 12, "1:1x3x32x32", "kernel_shape=is:2,2", "1:1x3x31x31"},
    {"test_maxpool_2d_dilations", "MaxPool", 12, "1:1x1x4x4", "dilations=is:2,2;kernel_shape=is:2,2;strides=is:1,1", "1:1x1x2x2"},
    {"test_maxpool_2d_pads", "MaxPool", 12, "1:1x3x28x28", "kernel_shape=is:3,3;pads=is:2,2,2,2", "1:1x3x30x30"},
    {"test_maxpool_2d_precomputed_pads", "MaxPool", 12, "1:1x1x5x5", "kernel_shape=is:5,5;pads=is:2,2,2,2", "1:1x1x5x5"},
    {"test_maxpool_2d_precomputed_same_upper", "MaxPool", 12, "1:1x1x5x5", "auto_pad=s:SAME_UPPER;kernel_shape=is:3,3;strides=is:2,2", "1:1x1x3x3"},
    {"test_maxpool_2d_precomputed_strides", "MaxPool", 12, "1:1x1x5x5", "kernel_shape=is:2,2;strides=is:2,2", "1:1x1x2x2"},
    {"test_maxpool_2d_same_lower", "MaxPool", 12, "1:1x3x32x32", "auto_pad=s:SAME_LOWER;kernel_shape=is:2,2", "1:1x3x32x32"},
    {"test_maxpool_2d_same_upper", "MaxPool", 12, "1:1x3x32x32", "auto_pad=s:SAME_UPPER;kernel_shape=is:2,2", "1:1x3x32x32"},
    {"test_maxpool_2d_strides", "MaxPool", 12, "1:1x3x32x32", "kernel_shape=is:5,5;strides=is:3,3", "1:1x3x10x10"},
    {"test_maxpool_2d_uint8", "MaxPool", 12, "2:1x1x5x5", "kernel_shape=is:5,5;pads=is:2,2,2,2", "2:1x1x5x5"},
    {"test_maxpool_3d_default", "MaxPool", 12, "1:1x3x32x32x32", "kernel_shape=is:2,2,2", "1:1x3x31x31x31"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool", 12, "1:1x1x5x5", "kernel_shape=is:5,5;pads=is:2,2,2,2", "1:1x1x5x5;7:1x1x5x5"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "MaxPool", 12, "1:1x1x5x5", "kernel_shape=is:2,2;storage_order=i:1;strides=is:2,2", "1:1x1x2x2;7:1x1x2x2"},
    {"test_maxunpool_export_with_output_shape", "MaxUnpool", 11, "1:1x1x2x2;7:1x1x2x2=5,7,13,15;7:4=1,1,5,5", "kernel_shape=is:2,2;strides=is:2,2", "1:1x1x5x5"},
    {"test_maxunpool_export_without_output_shape", "MaxUnpool", 11, "1:1x1x2x2;7:1x1x2x2=5,7,13,15", "kernel_shape=is:2,2;strides=is:2,2", "1:1x1x4x4"},
    {"test_melweightmatrix", "MelWeightMatrix", 17, "6:=8;6:=16;6:=8192;1:;1:", "", "1:9x8"},
    {"test_mvn", "MeanVarianceNormalization", 13, "1:3x3x3x1", "", "1:3x3x3x1"},
    {"test_nonmaxsuppression_center_point_box_format", "NonMaxSuppression", 11, "1:1x6x4;1:1x1x6;7:1=3;1:1;1:1", "center_point_box=i:1", "7:?x3"},
    {"test_nonmaxsuppression_flipped_coordinates", "NonMaxSuppression", 11, "1:1x6x4;1:1x1x6;7:1=3;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_identical_boxes", "NonMaxSuppression", 11, "1:1x10x4;1:1x1x10;7:1=3;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_limit_output_size", "NonMaxSuppression", 11, "1:1x6x4;1:1x1x6;7:1=2;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_single_box", "NonMaxSuppression", 11, "1:1x1x4;1:1x1x1;7:1=3;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_suppress_by_IOU", "NonMaxSuppression", 11, "1:1x6x4;1:1x1x6;7:1=3;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_suppress_by_IOU_and_scores", "NonMaxSuppression", 11, "1:1x6x4;1:1x1x6;7:1=3;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_two_batches", "NonMaxSuppression", 11, "1:2x6x4;1:2x1x6;7:1=2;1:1;1:1", "", "7:?x3"},
    {"test_nonmaxsuppression_two_classes", "NonMaxSuppression", 11, "1:1x6x4;1:1x2x6;7:1=2;1:1;1:1", "", "7:?x3"},
    {"test_qlinearconv", "QLinearConv", 10, "2:1x1x7x7;1:;2:;2:1x1x1x1;1:1;2:1;1:;2:", "", "2:1x1x7x7"},
    {"test_qlinearmatmul_2D", "QLinearMatMul", 10, "2:2x4;1:1;2:1;2:4x3;1:1;2:1;1:1;2:1", "", "2:2x3"},
    {"test_qlinearmatmul_3D", "QLinearMatMul", 10, "2:2x2x4;1:1;2:1;2:2x4x3;1:1;2:1;1:1;2:1", "", "2:2x2x3"},
    {"test_reduce_l1_default_axes_keepdims_example", "ReduceL1", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_l1_default_axes_keepdims_random", "ReduceL1", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_l1_do_not_keepdims_example", "ReduceL1", 13, "1:3x2x2", "axes=is:2;keepdims=i:0", "1:3x2"},
    {"test_reduce_l1_do_not_keepdims_random", "ReduceL1", 13, "1:3x2x2", "axes=is:2;keepdims=i:0", "1:3x2"},
    {"test_reduce_l1_keep_dims_example", "ReduceL1", 13, "1:3x2x2", "axes=is:2;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l1_keep_dims_random", "ReduceL1", 13, "1:3x2x2", "axes=is:2;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l1_negative_axes_keep_dims_example", "ReduceL1", 13, "1:3x2x2", "axes=is:-1;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l1_negative_axes_keep_dims_random", "ReduceL1", 13, "1:3x2x2", "axes=is:-1;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l2_default_axes_keepdims_example", "ReduceL2", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_l2_default_axes_keepdims_random", "ReduceL2", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_l2_do_not_keepdims_example", "ReduceL2", 13, "1:3x2x2", "axes=is:2;keepdims=i:0", "1:3x2"},
    {"test_reduce_l2_do_not_keepdims_random", "ReduceL2", 13, "1:3x2x2", "axes=is:2;keepdims=i:0", "1:3x2"},
    {"test_reduce_l2_keep_dims_example", "ReduceL2", 13, "1:3x2x2", "axes=is:2;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l2_keep_dims_random", "ReduceL2", 13, "1:3x2x2", "axes=is:2;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l2_negative_axes_keep_dims_example", "ReduceL2", 13, "1:3x2x2", "axes=is:-1;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_l2_negative_axes_keep_dims_random", "ReduceL2", 13, "1:3x2x2", "axes=is:-1;keepdims=i:1", "1:3x2x1"},
    {"test_reduce_log_sum", "ReduceLogSum", 6, "1:3x4x5", "axes=is:2,1;keepdims=i:0", "1:3"},
    {"test_reduce_log_sum_asc_axes", "ReduceLogSum", 13, "1:3x4x5", "axes=is:0,1;keepdims=i:0", "1:5"},
    {"test_reduce_log_sum_default", "ReduceLogSum", 13, "1:3x4x5", "", "1:1x1x1"},
    {"test_reduce_log_sum_desc_axes", "ReduceLogSum", 13, "1:3x4x5", "axes=is:2,1;keepdims=i:0", "1:3"},
    {"test_reduce_log_sum_exp_default_axes_keepdims_example", "ReduceLogSumExp", 13, "11:3x2x2", "keepdims=i:1", "11:1x1x1"},
    {"test_reduce_log_sum_exp_default_axes_keepdims_random", "ReduceLogSumExp", 13, "11:3x2x2", "keepdims=i:1", "11:1x1x1"},
    {"test_reduce_log_sum_exp_do_not_keepdims_example", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:1;keepdims=i:0", "11:3x2"},
    {"test_reduce_log_sum_exp_do_not_keepdims_random", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:1;keepdims=i:0", "11:3x2"},
    {"test_reduce_log_sum_exp_keepdims_example", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:1;keepdims=i:1", "11:3x1x2"},
    {"test_reduce_log_sum_exp_keepdims_random", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:1;keepdims=i:1", "11:3x1x2"},
    {"test_reduce_log_sum_exp_negative_axes_keepdims_example", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:-2;keepdims=i:1", "11:3x1x2"},
    {"test_reduce_log_sum_exp_negative_axes_keepdims_random", "ReduceLogSumExp", 13, "11:3x2x2", "axes=is:-2;keepdims=i:1", "11:3x1x2"},
    {"test_reduce_log_sum_negative_axes", "ReduceLogSum", 13, "1:3x4x5", "axes=is:-2", "1:3x1x5"},
    {"test_reduce_max_default_axes_keepdim_example", "ReduceMax", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_max_default_axes_keepdims_random", "ReduceMax", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_max_do_not_keepdims_example", "ReduceMax", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_max_do_not_keepdims_random", "ReduceMax", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_max_keepdims_example", "ReduceMax", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_max_keepdims_random", "ReduceMax", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_max_negative_axes_keepdims_example", "ReduceMax", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_max_negative_axes_keepdims_random", "ReduceMax", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_mean_default_axes_keepdims_example", "ReduceMean", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_mean_default_axes_keepdims_random", "ReduceMean", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_mean_do_not_keepdims_example", "ReduceMean", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_mean_do_not_keepdims_random", "ReduceMean", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_mean_keepdims_example", "ReduceMean", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_mean_keepdims_random", "ReduceMean", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_mean_negative_axes_keepdims_example", "ReduceMean", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_mean_negative_axes_keepdims_random", "ReduceMean", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_min_default_axes_keepdims_example", "ReduceMin", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_min_default_axes_keepdims_random", "ReduceMin", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_min_do_not_keepdims_example", "ReduceMin", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_min_do_not_keepdims_random", "ReduceMin", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_min_keepdims_example", "ReduceMin", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_min_keepdims_random", "ReduceMin", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_min_negative_axes_keepdims_example", "ReduceMin", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_min_negative_axes_keepdims_random", "ReduceMin", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_prod_default_axes_keepdims_example", "ReduceProd", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_prod_default_axes_keepdims_random", "ReduceProd", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_prod_do_not_keepdims_example", "ReduceProd", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_prod_do_not_keepdims_random", "ReduceProd", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_prod_keepdims_example", "ReduceProd", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_prod_keepdims_random", "ReduceProd", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_prod_negative_axes_keepdims_example", "ReduceProd", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_prod_negative_axes_keepdims_random", "ReduceProd", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_default_axes_keepdims_example", "ReduceSum", 13, "1:3x2x2;7:0=", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_sum_default_axes_keepdims_random", "ReduceSum", 13, "1:3x2x2;7:0=", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_sum_do_not_keepdims_example", "ReduceSum", 13, "1:3x2x2;7:1=1", "keepdims=i:0", "1:3x2"},
    {"test_reduce_sum_do_not_keepdims_random", "ReduceSum", 13, "1:3x2x2;7:1=1", "keepdims=i:0", "1:3x2"},
    {"test_reduce_sum_empty_axes_input_noop_example", "ReduceSum", 13, "1:3x2x2;7:0=", "keepdims=i:1;noop_with_empty_axes=i:1", "1:3x2x2"},
    {"test_reduce_sum_empty_axes_input_noop_random", "ReduceSum", 13, "1:3x2x2;7:0=", "keepdims=i:1;noop_with_empty_axes=i:1", "1:3x2x2"},
    {"test_reduce_sum_keepdims_example", "ReduceSum", 13, "1:3x2x2;7:1=1", "keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_keepdims_random", "ReduceSum", 13, "1:3x2x2;7:1=1", "keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_negative_axes_keepdims_example", "ReduceSum", 13, "1:3x2x2;7:1=-2", "keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_negative_axes_keepdims_random", "ReduceSum", 13, "1:3x2x2;7:0=", "keepdims=i:1;noop_with_empty_axes=i:1", "1:3x2x2"},
    {"test_reduce_sum_square_default_axes_keepdims_example", "ReduceSumSquare", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_sum_square_default_axes_keepdims_random", "ReduceSumSquare", 13, "1:3x2x2", "keepdims=i:1", "1:1x1x1"},
    {"test_reduce_sum_square_do_not_keepdims_example", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_sum_square_do_not_keepdims_random", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:1;keepdims=i:0", "1:3x2"},
    {"test_reduce_sum_square_keepdims_example", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_square_keepdims_random", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:1;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_square_negative_axes_keepdims_example", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reduce_sum_square_negative_axes_keepdims_random", "ReduceSumSquare", 13, "1:3x2x2", "axes=is:-2;keepdims=i:1", "1:3x1x2"},
    {"test_reflect_pad", "Pad", 13, "6:1x3x4x5=0,0,0,-1,0,0,-1,0,0,0,0,0,1,-1,0,0,0,0,0,0,-1,0,0,-1,1,1,1,0,-1,1,0,1,0,0,0,0,0,1,0,0,1,-1,-1,0,-1,1,0,0,1,1,1,0,0,1,0,0,0,0,0,0;7:8=0,0,1,1,0,0,1,1", "mode=s:reflect", "6:1x3x6x7"},
    {"test_resize_downsample_scales_cubic", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,0.800000011920929,0.800000011920929", "mode=s:cubic", "1:1x1x3x3"},
    {"test_resize_downsample_scales_cubic_A_n0p5_exclude_outside", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,0.800000011920929,0.800000011920929", "cubic_coeff_a=f:-0.5;exclude_outside=i:1;mode=s:cubic", "1:1x1x3x3"},
    {"test_resize_downsample_scales_cubic_align_corners", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,0.800000011920929,0.800000011920929", "coordinate_transformation_mode=s:align_corners;mode=s:cubic", "1:1x1x3x3"},
    {"test_resize_downsample_scales_linear", "Resize", 13, "1:1x1x2x4=1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0;-;1:4=1.0,1.0,0.6000000238418579,0.6000000238418579", "mode=s:linear", "1:1x1x1x2"},
    {"test_resize_downsample_scales_linear_align_corners", "Resize", 13, "1:1x1x2x4=1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0;-;1:4=1.0,1.0,0.6000000238418579,0.6000000238418579", "coordinate_transformation_mode=s:align_corners;mode=s:linear", "1:1x1x1x2"},
    {"test_resize_downsample_scales_nearest", "Resize", 13, "1:1x1x2x4=1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0;-;1:4=1.0,1.0,0.6000000238418579,0.6000000238418579", "mode=s:nearest", "1:1x1x1x2"},
    {"test_resize_downsample_sizes_cubic", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,3,3", "mode=s:cubic", "1:1x1x3x3"},
    {"test_resize_downsample_sizes_linear_pytorch_half_pixel", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,3,1", "coordinate_transformation_mode=s:pytorch_half_pixel;mode=s:linear", "1:1x1x3x1"},
    {"test_resize_downsample_sizes_nearest", "Resize", 13, "1:1x1x2x4=1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0;-;-;7:4=1,1,1,3", "mode=s:nearest", "1:1x1x1x3"},
    {"test_resize_tf_crop_and_resize", "Resize", 13, "1:1x1x4x4;1:8=0.0,0.0,0.4000000059604645,0.6000000238418579,1.0,1.0,1.2000000476837158,1.7000000476837158;-;7:4=1,1,3,3", "coordinate_transformation_mode=s:tf_crop_and_resize;extrapolation_value=f:10.0;mode=s:linear", "1:1x1x3x3"},
    {"test_resize_upsample_scales_cubic", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,2.0,2.0", "mode=s:cubic", "1:1x1x8x8"},
    {"test_resize_upsample_scales_cubic_A_n0p5_exclude_outside", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,2.0,2.0", "cubic_coeff_a=f:-0.5;exclude_outside=i:1;mode=s:cubic", "1:1x1x8x8"},
    {"test_resize_upsample_scales_cubic_align_corners", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,2.0,2.0", "coordinate_transformation_mode=s:align_corners;mode=s:cubic", "1:1x1x8x8"},
    {"test_resize_upsample_scales_cubic_asymmetric", "Resize", 13, "1:1x1x4x4;-;1:4=1.0,1.0,2.0,2.0", "coordinate_transformation_mode=s:asymmetric;mode=s:cubic", "1:1x1x8x8"},
    {"test_resize_upsample_scales_linear", "Resize", 13, "1:1x1x2x2=1.0,2.0,3.0,4.0;-;1:4=1.0,1.0,2.0,2.0", "mode=s:linear", "1:1x1x4x4"},
    {"test_resize_upsample_scales_linear_align_corners", "Resize", 13, "1:1x1x2x2=1.0,2.0,3.0,4.0;-;1:4=1.0,1.0,2.0,2.0", "coordinate_transformation_mode=s:align_corners;mode=s:linear", "1:1x1x4x4"},
    {"test_resize_upsample_scales_nearest", "Resize", 13, "1:1x1x2x2=1.0,2.0,3.0,4.0;-;1:4=1.0,1.0,2.0,3.0", "mode=s:nearest", "1:1x1x4x6"},
    {"test_resize_upsample_sizes_cubic", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,9,10", "mode=s:cubic", "1:1x1x9x10"},
    {"test_resize_upsample_sizes_nearest", "Resize", 13, "1:1x1x2x2=1.0,2.0,3.0,4.0;-;-;7:4=1,1,7,8", "mode=s:nearest", "1:1x1x7x8"},
    {"test_resize_upsample_sizes_nearest_ceil_half_pixel", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,8,8", "coordinate_transformation_mode=s:half_pixel;mode=s:nearest;nearest_mode=s:ceil", "1:1x1x8x8"},
    {"test_resize_upsample_sizes_nearest_floor_align_corners", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,8,8", "coordinate_transformation_mode=s:align_corners;mode=s:nearest;nearest_mode=s:floor", "1:1x1x8x8"},
    {"test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric", "Resize", 13, "1:1x1x4x4;-;-;7:4=1,1,8,8", "coordinate_transformation_mode=s:asymmetric;mode=s:nearest;nearest_mode=s:round_prefer_ceil", "1:1x1x8x8"},
    {"test_rnn_seq_length", "RNN", 14, "1:2x3x3;1:1x5x3;1:1x5x5;1:1x10", "hidden_size=i:5", "-;1:1x3x5"},
    {"test_roialign_aligned_false", "RoiAlign", 16, "1:1x1x10x10;1:3x4;7:3=0,0,0", "coordinate_transformation_mode=s:output_half_pixel;output_height=i:5;output_width=i:5;sampling_ratio=i:2;spatial_scale=f:1.0", "1:3x1x5x5"},
    {"test_roialign_aligned_true", "RoiAlign", 16, "1:1x1x10x10;1:3x4;7:3=0,0,0", "coordinate_transformation_mode=s:half_pixel;output_height=i:5;output_width=i:5;sampling_ratio=i:2;spatial_scale=f:1.0", "1:3x1x5x5"},
    {"test_simple_rnn_batchwise", "RNN", 14, "1:3x1x2;1:1x4x2;1:1x4x4", "hidden_size=i:4;layout=i:1", "1:3x1x1x4;1:3x1x4"},
    {"test_simple_rnn_defaults", "RNN", 14, "1:1x3x2;1:1x4x2;1:1x4x4", "hidden_size=i:4", "-;1:1x3x4"},
    {"test_simple_rnn_with_initial_bias", "RNN", 14, "1:1x3x3;1:1x5x3;1:1x5x5;1:1x10", "hidden_size=i:5", "-;1:1x3x5"},
    {"test_softmax_axis_0", "Softmax", 13, "1:3x4x5", "axis=i:0", "1:3x4x5"},
    {"test_softmax_axis_1", "Softmax", 13, "1:3x4x5", "axis=i:1", "1:3x4x5"},
    {"test_softmax_axis_2", "Softmax", 13, "1:3x4x5", "axis=i:2", "1:3x4x5"},
    {"test_softmax_default_axis", "Softmax", 13, "1:3x4x5", "", "1:3x4x5"},
    {"test_softmax_example", "Softmax", 13, "1:1x3", "", "1:1x3"},
    {"test_softmax_large_number", "Softmax", 13, "1:2x4", "", "1:2x4"},
    {"test_softmax_negative_axis", "Softmax", 13, "1:3x4x5", "axis=i:-1", "1:3x4x5"},
    {"test_spacetodepth", "SpaceToDepth", 13, "1:2x2x6x6", "blocksize=i:2", "1:2x8x3x3"},
    {"test_spacetodepth_example", "SpaceToDepth", 13, "1:1x1x4x6", "blocksize=i:2", "1:1x4x2x3"},
    {"test_stft", "STFT", 17, "1:1x128x1;7:=8;-;7:=16", "", "1:1x15x9x2"},
    {"test_stft_with_window", "STFT", 17, "1:1x128x1;7:=8;1:16", "", "1:1x15x9x2"},
    {"test_top_k", "TopK", 11, "1:3x4;7:1=3", "axis=i:1", "1:3x3;7:3x3"},
    {"test_top_k_negative_axis", "TopK", 11, "1:3x4;7:1=3", "axis=i:-1", "1:3x3;7:3x3"},
    {"test_top_k_smallest", "TopK", 11, "1:3x4;7:1=3", "axis=i:1;largest=i:0;sorted=i:1", "1:3x3;7:3x3"},
    {"test_training_dropout", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5"},
    {"test_training_dropout_default", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5"},
    {"test_training_dropout_default_mask", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5;9:3x4x5"},
    {"test_training_dropout_mask", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5;9:3x4x5"},
    {"test_training_dropout_zero_ratio", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5"},
    {"test_training_dropout_zero_ratio_mask", "Dropout", 13, "1:3x4x5;1:;9:", "seed=i:0", "1:3x4x5;9:3x4x5"},
    {"test_upsample_nearest", "Upsample", 9, "1:1x1x2x2=1.0,2.0,3.0,4.0;1:4=1.0,1.0,2.0,3.0", "mode=s:nearest", "1:1x1x4x6"},
};

START_TEST(test_node) { check_case(&int_ops, &node_cases[_i]); }
END_TEST

/* ---- extra: what the node tests lack (source of each expectation given) ---- */

static const tcase extra_cases[] = {
    /* pooling and convolution; "SI" = onnx 1.12 onnx.shape_inference */
    {"LpPool 1-D (SI)", "LpPool", 11, "1:1x3x32", "kernel_shape=is:2", "1:1x3x31"},
    {"LpPool strides, pads (SI)", "LpPool", 11, "1:1x3x9x9", "kernel_shape=is:3,3;strides=is:2,2;pads=is:1,1,1,1", "1:1x3x5x5"},
    {"GlobalLpPool (SI)", "GlobalLpPool", 2, "1:1x3x32x5", "", "1:1x3x1x1"},
    {"MaxRoiPool (SI)", "MaxRoiPool", 1, "1:1x3x32x5;1:7x5", "pooled_shape=is:2,3", "1:7x3x2x3"},
    {"RoiAlign output size (SI)", "RoiAlign", 16, "1:2x3x8x8;1:5x4;7:5", "output_height=i:3;output_width=i:2", "1:5x3x3x2"},
    {"MaxPool ceil_mode drops a window starting in the end padding (PyTorch; onnx >= 1.16 SI)",
     "MaxPool", 12, "1:1x1x6", "kernel_shape=is:1;strides=is:2;ceil_mode=i:1", "1:1x1x3"},
    {"MaxPool ceil_mode, pads, Indices (SI)", "MaxPool", 12, "1:1x1x5x6",
     "kernel_shape=is:3,3;strides=is:2,2;pads=is:1,1,1,1;ceil_mode=i:1", "1:1x1x3x4;7:1x1x3x4"},
    {"AveragePool VALID (SI)", "AveragePool", 11, "1:1x1x5x6", "kernel_shape=is:2,2;auto_pad=s:VALID;strides=is:2,2", "1:1x1x2x3"},
    {"MaxUnpool with pads (SI formula)", "MaxUnpool", 11, "1:1x1x3x3;7:1x1x3x3", "kernel_shape=is:2,2;strides=is:2,2;pads=is:1,1,0,0", "1:1x1x5x5"},
    {"Conv group, dilations, asymmetric pads (SI)", "Conv", 11, "1:2x4x9x9;1:8x2x3x3", "group=i:2;dilations=is:2,2;pads=is:1,2,1,2", "1:2x8x7x9"},
    {"Conv kernel from W (SI)", "Conv", 11, "1:1x3x10x10;1:16x3x3x3", "", "1:1x16x8x8"},
    {"ConvTranspose SAME, kernel < stride (SI)", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x1x1", "auto_pad=s:SAME_UPPER;strides=is:2,2", "1:1x2x5x5"},
    {"ConvTranspose group, dilations, pads (SI)", "ConvTranspose", 11, "1:1x4x3x3;1:4x2x3x3", "group=i:2;strides=is:2,2;pads=is:1,1,1,1;dilations=is:2,2", "1:1x4x7x7"},
    {"ConvTranspose output_shape with N and C (onnxruntime accepts both)", "ConvTranspose", 11, "1:1x1x3x3;1:1x2x3x3", "output_shape=is:1,2,10,8;strides=is:3,2", "1:1x2x10x8"},
    /* normalization */
    {"LpNormalization (spec: same shape)", "LpNormalization", 1, "1:1x3x32x5", "axis=i:1;p=i:2", "1:1x3x32x5"},
    {"GroupNormalization (spec: same shape)", "GroupNormalization", 18, "1:3x4x2x2;1:2;1:2", "num_groups=i:2", "1:3x4x2x2"},
    {"LayerNormalization statistics in float (SI)", "LayerNormalization", 17, "10:2x3x4;10:4", "axis=i:-2", "10:2x3x4;1:2x1x1;1:2x1x1"},
    {"LayerNormalization stash_type double (SI)", "LayerNormalization", 17, "10:2x3x4;10:4", "stash_type=i:11", "10:2x3x4;11:2x3x1;11:2x3x1"},
    {"BatchNormalization opset 9, five outputs (spec: [C])", "BatchNormalization", 9, "1:2x3x4;1:3;1:3;1:3;1:3", "", "1:2x3x4;1:3;1:3;1:3;1:3"},
    {"BatchNormalization opset 7 spatial=0 (spec: stats [C, D...])", "BatchNormalization", 7, "1:2x3x4;1:3x4;1:3x4;1:3x4;1:3x4", "spatial=i:0", "1:2x3x4;1:3x4;1:3x4;1:3x4;1:3x4"},
    /* contractions */
    {"MatMul 1-D x 2-D (SI)", "MatMul", 13, "1:3;1:3x4", "", "1:4"},
    {"MatMul 3-D x 1-D (SI)", "MatMul", 13, "1:2x3x4;1:4", "", "1:2x3"},
    {"MatMul 1-D x 1-D (SI)", "MatMul", 13, "1:3;1:3", "", "1:"},
    {"MatMul batch broadcast (SI)", "MatMul", 13, "1:5x1x2x3;1:4x3x6", "", "1:5x4x2x6"},
    {"Gemm transA, transB, vector C (SI)", "Gemm", 13, "1:4x3;1:5x4;1:5", "transA=i:1;transB=i:1", "1:3x5"},
    {"Einsum implicit matmul (numpy)", "Einsum", 12, "1:2x3;1:3x4", "equation=s:ij,jk", "1:2x4"},
    {"Einsum implicit output sorts labels (numpy)", "Einsum", 12, "1:2x3", "equation=s:ba", "1:3x2"},
    {"Einsum implicit, upper case sorts first (numpy)", "Einsum", 12, "1:2x3", "equation=s:bA", "1:3x2"},
    {"Einsum ellipsis broadcast (numpy)", "Einsum", 12, "1:2x1x3x4;1:5x4x6", "equation=s:...ij,...jk->...ik", "1:2x5x3x6"},
    {"Einsum implicit ellipsis trace (numpy)", "Einsum", 12, "1:4x3x3", "equation=s:...ii", "1:4"},
    {"Einsum full contraction (numpy)", "Einsum", 12, "1:2x3;1:2x3", "equation=s:ij,ij->", "1:"},
    {"Det batch (SI)", "Det", 11, "1:2x3x3", "", "1:2"},
    /* reductions and friends */
    {"ArgMax keepdims=0 (SI)", "ArgMax", 13, "1:2x3x4", "axis=i:-1;keepdims=i:0", "7:2x3"},
    {"TopK opset 1 k attribute (SI)", "TopK", 1, "1:3x4", "k=i:2", "1:3x2;7:3x2"},
    {"TopK k unknown (fresh)", "TopK", 11, "1:3x4;7:1", "axis=i:0", "1:?x4;7:?x4"},
    {"ReduceMean opset 18 axes input (spec)", "ReduceMean", 18, "1:2x3x4;7:1=1", "keepdims=i:0", "1:2x4"},
    {"ReduceMean opset 18 no axes, noop (spec)", "ReduceMean", 18, "1:2x3x4", "noop_with_empty_axes=i:1", "1:2x3x4"},
    {"ReduceL2 opset 13 axes attribute (spec)", "ReduceL2", 13, "1:2x3x4", "axes=is:0,2", "1:1x3x1"},
    {"ReduceSum opset 13 axes unknown, keepdims (1s stay)", "ReduceSum", 13, "1:2x1x4;7:1", "", "1:?x1x?"},
    {"ReduceSum opset 13 axes unknown, keepdims=0", "ReduceSum", 13, "1:2x1x4;7:1", "keepdims=i:0", "1:?x?"},
    {"ReduceProd of a shape's content is its numel", "ReduceProd", 13, "7:3#2,3,4", "keepdims=i:0", "7:=24"},
    {"ReduceSum content, keepdims", "ReduceSum", 13, "7:3#2,3,4", "", "7:1=9"},
    {"ReduceMax content", "ReduceMax", 18, "7:3#2,7,4", "", "7:1=7"},
    {"ReduceMin content", "ReduceMin", 18, "7:3#2,7,4", "keepdims=i:0", "7:=2"},
    {"ReduceProd over one of two axes: no content", "ReduceProd", 13, "7:2x2#1,2,3,4", "axes=is:0", "7:1x2"},
    {"Softmax opset 11 (axis 1 default)", "Softmax", 11, "1:2x3", "", "1:2x3"},
    {"Softmax opset 11 on 1-D, default axis unchecked", "Softmax", 11, "1:5", "", "1:5"},
    /* recurrent */
    {"LSTM bidirectional, Y_c (SI)", "LSTM", 14, "1:5x2x3;1:2x16x3;1:2x16x4", "hidden_size=i:4;direction=s:bidirectional", "1:5x2x2x4;1:2x2x4;1:2x2x4"},
    {"GRU layout=1 (SI)", "GRU", 14, "1:2x5x3;1:1x12x3;1:1x12x4", "hidden_size=i:4;layout=i:1", "1:2x5x1x4;1:2x1x4"},
    {"RNN hidden size from R (spec)", "RNN", 14, "1:5x2x3;1:1x4x3;1:1x4x4", "", "1:5x1x2x4;1:1x2x4"},
    /* resampling, padding, layout */
    {"Resize opset 13 scales 0.7, 1.5 (SI)", "Resize", 13, "1:1x3x10x10;-;1:4=1,1,0.7,1.5", "", "1:1x3x7x15"},
    {"Resize opset 10, scales is input 1 (SI)", "Resize", 10, "1:1x1x2x2;1:4=1,1,2,2", "", "1:1x1x4x4"},
    {"Resize opset 11, empty roi and scales, sizes (spec)", "Resize", 11, "1:1x1x4x4;1:0=;1:0=;7:4=1,1,3,2", "", "1:1x1x3x2"},
    {"Resize opset 18 axes, scales (spec)", "Resize", 18, "1:1x1x4x4;-;1:2=2,3", "axes=is:3,2", "1:1x1x12x8"},
    {"Resize not_larger (onnx test_resize_downsample_sizes_nearest_not_larger)", "Resize", 18, "1:1x1x2x4;-;-;7:2=1,3", "axes=is:2,3;keep_aspect_ratio_policy=s:not_larger", "1:1x1x1x2"},
    {"Resize not_smaller (onnx test_resize_downsample_sizes_nearest_not_smaller)", "Resize", 18, "1:1x1x2x4;-;-;7:2=1,3", "axes=is:2,3;keep_aspect_ratio_policy=s:not_smaller", "1:1x1x2x3"},
    {"Resize not_larger (onnx test_resize_upsample_sizes_nearest_not_larger)", "Resize", 18, "1:1x1x2x2;-;-;7:2=7,8", "axes=is:2,3;keep_aspect_ratio_policy=s:not_larger", "1:1x1x7x7"},
    {"Resize not_smaller (onnx test_resize_upsample_sizes_nearest_not_smaller)", "Resize", 18, "1:1x1x2x2;-;-;7:2=7,8", "axes=is:2,3;keep_aspect_ratio_policy=s:not_smaller", "1:1x1x8x8"},
    {"Resize scales from tracked content (shape math)", "Resize", 13, "1:1x3x4x4;-;1:4#1,1,2,3", "", "1:1x3x8x12"},
    {"Resize scales unknown (fresh)", "Resize", 13, "1:1x3x4x4;-;1:4", "", "1:?x?x?x?"},
    {"Upsample opset 7 scales attribute (SI)", "Upsample", 7, "1:1x1x2x2", "scales=fs:1,1,2,3", "1:1x1x4x6"},
    {"Pad opset 2 pads attribute (SI)", "Pad", 2, "1:3x4", "pads=is:1,0,2,3", "1:6x7"},
    {"Pad opset 1 paddings attribute (spec)", "Pad", 1, "1:3x4", "paddings=is:1,0,2,3", "1:6x7"},
    {"Pad opset 18 axes input (spec)", "Pad", 18, "1:3x4x5;7:2=1,2;-;7:1=-1", "", "1:3x4x8"},
    {"Pad negative pads crop (spec)", "Pad", 13, "1:3x4;7:4=0,-1,0,-1", "", "1:3x2"},
    {"Pad pads unknown (fresh)", "Pad", 13, "1:3x4;7:4", "", "1:?x?"},
    {"Col2Im (onnx test_col2im)", "Col2Im", 18, "1:1x5x5;7:2=5,5;7:2=1,5", "", "1:1x1x5x5"},
    {"Col2Im 5-D (onnx test_col2im_5d)", "Col2Im", 18, "1:1x10x12;7:3=3,4,5;7:3=1,1,5", "", "1:1x2x3x4x5"},
    {"CenterCropPad crop (onnx test_center_crop_pad_crop)", "CenterCropPad", 18, "1:20x10x3;7:3=10,7,3", "", "1:10x7x3"},
    {"CenterCropPad axes (onnx test_center_crop_pad_crop_axes_chw)", "CenterCropPad", 18, "1:3x20x8;7:2=10,9", "axes=is:1,2", "1:3x10x9"},
    {"CenterCropPad negative axes (onnx test_center_crop_pad_crop_negative_axes_hwc)", "CenterCropPad", 18, "1:20x8x3;7:2=10,9", "axes=is:-3,-2", "1:10x9x3"},
    {"GridSample (SI)", "GridSample", 16, "1:2x3x8x8;1:2x5x6x2", "", "1:2x3x5x6"},
    {"GridSample 3-D (opset 20 spec)", "GridSample", 20, "1:2x3x4x8x8;1:2x5x6x7x3", "", "1:2x3x5x6x7"},
    {"DepthToSpace (SI)", "DepthToSpace", 13, "1:1x8x2x3", "blocksize=i:2", "1:1x2x4x6"},
    {"SpaceToDepth (SI)", "SpaceToDepth", 13, "1:1x2x4x6", "blocksize=i:2", "1:1x8x2x3"},
    {"Dropout opset 7 mask in the data's dtype (spec)", "Dropout", 7, "1:3x4", "", "1:3x4;1:3x4"},
    /* signal */
    {"STFT frame_length from the window (spec, onesided default 1)", "STFT", 17, "1:2x64x1;7:=8;1:16", "", "1:2x7x9x2"},
    {"STFT onesided=0 (spec)", "STFT", 17, "1:2x64x2;7:=8;-;7:=16", "onesided=i:0", "1:2x7x16x2"},
    {"DFT opset 17 dft_length, onesided (SI)", "DFT", 17, "1:1x10x10x1;7:=16", "axis=i:2;onesided=i:1", "1:1x10x9x2"},
    {"DFT opset 20 axis input (spec)", "DFT", 20, "1:1x10x10x1;-;7:=-2", "onesided=i:1", "1:1x10x6x2"},
    {"DFT opset 20 default axis -2 (spec)", "DFT", 20, "1:1x10x10x2;7:=16", "", "1:1x10x16x2"},
    {"DFT opset 20 onesided inverse is a real IRFFT (spec)", "DFT", 20, "1:1x10x6x2;7:=10", "onesided=i:1;inverse=i:1", "1:1x10x10x1"},
    {"MelWeightMatrix output_datatype (SI)", "MelWeightMatrix", 17, "7:=8;7:=15;7:=8000;1:;1:", "output_datatype=i:11", "11:8x8"},
    {"HannWindow output_datatype (spec)", "HannWindow", 17, "7:=5", "output_datatype=i:11", "11:5"},
    {"HammingWindow size unknown (fresh)", "HammingWindow", 17, "7:", "", "1:?"},
    /* unknown input ranks: dtypes only */
    {"Conv, X rank unknown", "Conv", 11, "1:*;1:4x3x3x3", "", "1:*"},
    {"ReduceSum, rank unknown", "ReduceSum", 11, "1:*", "", "1:*"},
    {"MatMul, rank unknown", "MatMul", 13, "1:*;1:3x4", "", "1:*"},
    {"LSTM, X rank unknown", "LSTM", 14, "1:*;1:1x12x2;1:1x12x3", "hidden_size=i:3", "1:*;1:*"},
    {"TopK, rank unknown", "TopK", 11, "1:*;7:1=2", "", "1:*;7:*"},
};

START_TEST(test_extra) { check_case(&int_ops, &extra_cases[_i]); }
END_TEST

/* ---- symbolic: the converter's view (convert/dim.c) ---- */

static const tcase sym_cases[] = {
    /* (H + 6 - 7) / 2 + 1, simplified */
    {"Conv 7x7/2 pad 3", "Conv", 11, "1:Nx3xHxW;1:64x3x7x7", "pads=is:3,3,3,3;strides=is:2,2", "1:Nx64x(H + 1) / 2x(W + 1) / 2"},
    {"MaxPool SAME stride 2", "MaxPool", 12, "1:Nx64xHxW", "auto_pad=s:SAME_UPPER;kernel_shape=is:3,3;strides=is:2,2", "1:Nx64x(H + 1) / 2x(W + 1) / 2"},
    {"MaxPool ceil_mode", "MaxPool", 12, "1:Nx8xL", "kernel_shape=is:2;strides=is:2;ceil_mode=i:1", "1:Nx8x(L + 1) / 2"},
    {"ConvTranspose stride 2", "ConvTranspose", 11, "1:Nx8xHxW;1:8x4x4x4", "strides=is:2,2;pads=is:1,1,1,1", "1:Nx4x2*Hx2*W"},
    {"GlobalAveragePool", "GlobalAveragePool", 1, "1:Nx8xHxW", "", "1:Nx8x1x1"},
    {"MatMul batched", "MatMul", 13, "1:BxSx64;1:64x128", "", "1:BxSx128"},
    {"MatMul broadcast", "MatMul", 13, "1:1xSx4;1:Bx4x5", "", "1:BxSx5"},
    {"Gemm", "Gemm", 13, "1:Bx64;1:10x64;1:10", "transB=i:1", "1:Bx10"},
    {"Einsum attention scores", "Einsum", 12, "1:BxSxD;1:BxTxD", "equation=s:bsd,btd->bst", "1:BxSxT"},
    {"LSTM", "LSTM", 14, "1:SxBx8;1:1x64x8;1:1x64x16", "hidden_size=i:16", "1:Sx1xBx16;1:1xBx16;1:1xBx16"},
    {"ReduceProd content: numel", "ReduceProd", 13, "7:3#N,3,H", "keepdims=i:0", "7:=3*H*N"},
    {"ReduceMean keepdims", "ReduceMean", 13, "1:BxSx64", "axes=is:-1", "1:BxSx1"},
    {"Softmax", "Softmax", 13, "1:BxS", "", "1:BxS"},
    {"TopK k from content", "TopK", 11, "1:BxS;7:1#K", "", "1:BxK;7:BxK"},
    {"Resize sizes from content", "Resize", 13, "1:NxCxHxW;-;-;7:4#N,C,H2,W2", "", "1:NxCxH2xW2"},
    {"Resize scales 2", "Resize", 13, "1:NxCxHxW;-;1:4=1,1,2,2", "", "1:NxCx2*Hx2*W"},
    {"Resize scales 0.5, 1.5", "Resize", 13, "1:NxCxHxW;-;1:4=1,1,0.5,1.5", "", "1:NxCxH / 2x3*W / 2"},
    {"Pad", "Pad", 13, "1:NxCxHxW;7:8=0,0,1,2,0,0,1,2", "", "1:NxCxH + 2xW + 4"},
    {"DepthToSpace", "DepthToSpace", 13, "1:Nx16xHxW", "blocksize=i:2", "1:Nx4x2*Hx2*W"},
    {"NonMaxSuppression", "NonMaxSuppression", 11, "1:Bx100x4;1:Bx1x100", "", "7:?x3"},
    {"DFT onesided", "DFT", 17, "1:BxLx1", "onesided=i:1", "1:BxL / 2 + 1x2"},
    /* (L - 400) / 160 + 1, simplified */
    {"STFT frames", "STFT", 17, "1:BxLx1;7:=160;1:400", "", "1:Bx(L + 80) / 160 - 2x201x2"},
    {"HannWindow size from content", "HannWindow", 17, "7:#n", "", "1:n"},
    {"LayerNormalization stats", "LayerNormalization", 17, "1:BxSx64;1:64", "", "1:BxSx64;1:BxSx1;1:BxSx1"},
};

static ferry_dimctx *cx;
static void sym_setup(void) { cx = ferry_dimctx_new(); }
static void sym_teardown(void) { ferry_dimctx_free(cx); }

START_TEST(test_symbolic) {
  ferry_dimops D = {cx, s_konst, s_add, s_sub, s_mul, s_div, s_mod, s_min, s_max, s_is_const, s_fresh};
  check_case(&D, &sym_cases[_i]);
}
END_TEST

/* ---- errors: FERRY_E_INPUT, one line naming the problem ---- */

typedef struct ecase {
  tcase t;
  const char *msg;
} ecase;

static const ecase error_cases[] = {
    {{"Conv on rank 2", "Conv", 11, "1:3x4;1:2x3x3x3", "", ""}, "rank >= 3"},
    {{"Conv missing W", "Conv", 11, "1:1x1x4x4", "", ""}, "expects 2 inputs"},
    {{"Conv channel mismatch", "Conv", 11, "1:1x4x5x5;1:2x3x3x3", "", ""}, "channels"},
    {{"Conv unknown auto_pad", "Conv", 11, "1:1x3x5x5;1:2x3x3x3", "auto_pad=s:FULL", ""}, "unknown auto_pad"},
    {{"Conv strides count", "Conv", 11, "1:1x3x5x5;1:2x3x3x3", "strides=is:1", ""}, "strides has 1 values"},
    {{"MaxPool without kernel_shape", "MaxPool", 12, "1:1x1x4x4", "", ""}, "kernel_shape is required"},
    {{"MaxPool kernel larger than input", "MaxPool", 12, "1:1x1x2x2", "kernel_shape=is:4,4", ""}, "smaller than the kernel"},
    {{"MatMul inner dims", "MatMul", 13, "1:2x3;1:4x5", "", ""}, "inner dims"},
    {{"MatMul batch dims", "MatMul", 13, "1:2x2x3;1:3x3x5", "", ""}, "broadcast"},
    {{"Gemm rank 3", "Gemm", 13, "1:2x2x3;1:3x5", "", ""}, "rank 2"},
    {{"Einsum unknown output label", "Einsum", 12, "1:2x3", "equation=s:ij->iz", ""}, "output label 'z'"},
    {{"Einsum term vs rank", "Einsum", 12, "1:2x3x4", "equation=s:ij", ""}, "does not match rank"},
    {{"Einsum label sizes", "Einsum", 12, "1:2x3;1:4x5", "equation=s:ij,jk", ""}, "two sizes"},
    {{"ReduceSum axis out of range", "ReduceSum", 11, "1:2x3", "axes=is:2", ""}, "out of range"},
    {{"ArgMax axis out of range", "ArgMax", 13, "1:2x3", "axis=i:-3", ""}, "out of range"},
    {{"TopK k too large", "TopK", 11, "1:3x4;7:1=5", "", ""}, "larger than"},
    {{"Pad pads count", "Pad", 13, "1:3x4;7:3=1,1,1", "", ""}, "pads has 3 values"},
    {{"Resize without scales or sizes", "Resize", 13, "1:1x1x2x2", "", ""}, "needs scales or sizes"},
    {{"Resize sizes count", "Resize", 13, "1:1x1x2x2;-;-;7:2=4,4", "", ""}, "sizes has 2 values"},
    {{"LSTM direction", "LSTM", 14, "1:5x2x3;1:1x16x3;1:1x16x4", "direction=s:sideways", ""}, "unknown direction"},
    {{"DepthToSpace blocksize", "DepthToSpace", 13, "1:1x6x2x2", "blocksize=i:2", ""}, "not divisible"},
    {{"DFT axis on the complex dim", "DFT", 17, "1:1x10x1", "axis=i:2", ""}, "out of range"},
    {{"STFT without window or frame_length", "STFT", 17, "1:1x64x1;7:=8", "", ""}, "needs a window"},
    {{"Det not square", "Det", 11, "1:2x3x4", "", ""}, "square"},
    {{"Col2Im block rank", "Col2Im", 18, "1:1x5x5;7:2=5,5;7:3=1,1,5", "", ""}, "block_shape has 3 values"},
    {{"LayerNormalization axis", "LayerNormalization", 17, "1:2x3;1:3", "axis=i:2", ""}, "out of range"},
};

START_TEST(test_errors) { check_fails(&error_cases[_i].t, error_cases[_i].msg); }
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void) {
  Suite *s = suite_create("nn_shapes");
  TCase *node = tcase_create("node"), *extra = tcase_create("extra");
  TCase *sym = tcase_create("symbolic"), *err = tcase_create("errors");
  tcase_add_loop_test(node, test_node, 0, N(node_cases));
  tcase_add_loop_test(extra, test_extra, 0, N(extra_cases));
  tcase_add_checked_fixture(sym, sym_setup, sym_teardown);
  tcase_add_loop_test(sym, test_symbolic, 0, N(sym_cases));
  tcase_add_loop_test(err, test_errors, 0, N(error_cases));
  suite_add_tcase(s, node);
  suite_add_tcase(s, extra);
  suite_add_tcase(s, sym);
  suite_add_tcase(s, err);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
