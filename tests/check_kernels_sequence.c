/*
 * check_kernels_sequence.c - sequences and optionals: the kernels of
 * runtime/kernels/sequence.c, Identity/If/Loop carrying them, and their
 * way through the session API and the .pb readers and writers. Sequence
 * kernels need the executor (set_items copies into its memory), so every
 * test runs a model through a session:
 *
 *   nodetests  ONNX's node tests with sequence or optional inputs and
 *              outputs ($ONNX_TESTDATA/node) and the sequence models of
 *              its "simple" suite, against their reference outputs;
 *   ops        one-node models built here (protobuf-c) per op, on
 *              hand-made sequences: positions at both ends and past them,
 *              negative positions, empty sequences and tensors, items of
 *              different shapes, SplitToSequence's three split forms,
 *              ConcatFromSequence concatenating and stacking, optionals
 *              none and present; bad data gives errors, never crashes;
 *   api        kind and dtype checks of sequence inputs, outputs that
 *              outlive the inputs, plans reused across sequence lengths,
 *              SequenceProto/OptionalProto files written and read back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"
#include "rtutil.h"
#include "testutil.h"

/* ---- helpers ---- */

static char tmp[64];

static const char *tpath(const char *name) {
  static char buf[4][4096];
  static int k;
  if (!tmp[0]) snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
  return buf[k];
}

static ferry_tview tensor(int dtype, int rank, const int64_t *dims, void *data) {
  ferry_tview t = {.dtype = dtype, .rank = rank, .data = data};
  t.numel = 1;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i], t.numel *= dims[i];
  return t;
}

static ferry_tview sequence(int dtype, int n, ferry_tview *items) {
  return (ferry_tview){.dtype = dtype, .rank = -1, .kind = FERRY_TV_SEQUENCE, .n_items = n, .items = items};
}

static ferry_tview optional(int dtype, ferry_tview *item) {
  return (ferry_tview){.dtype = dtype, .rank = -1, .kind = FERRY_TV_OPTIONAL, .n_items = item != NULL, .items = item};
}

static ferry_tview scalar_i64(int64_t *v) { return tensor(FERRY_I64, 0, NULL, v); }

/* t is a float tensor of the given dims holding want[]. */
static void ck_floats(const ferry_tview *t, int rank, const int64_t *dims, const float *want, const char *what) {
  ck_assert_msg(t->kind == FERRY_TV_TENSOR && t->dtype == FERRY_F32, "%s: kind %d dtype %d", what, t->kind, t->dtype);
  ck_assert_msg(t->rank == rank, "%s: rank %d, want %d", what, t->rank, rank);
  for (int i = 0; i < rank; i++)
    ck_assert_msg(t->dims[i] == dims[i], "%s: dim %d is %lld, want %lld", what, i, (long long)t->dims[i], (long long)dims[i]);
  for (int64_t i = 0; i < t->numel; i++)
    ck_assert_msg(((const float *)t->data)[i] == want[i], "%s[%lld] = %g, want %g", what, (long long)i,
                  ((const float *)t->data)[i], want[i]);
}

/* ---- one-node ONNX models (protobuf-c) ---- */

/* A model under construction: every allocation, freed by mk_free. */
typedef struct mk {
  void *owned[512];
  int n_owned;
  Onnx__NodeProto node;
  Onnx__AttributeProto *attrs[8];
  int n_attrs;
} mk;

static void *mk_alloc(mk *m, size_t n) {
  void *p = calloc(1, n);
  ck_assert(p && m->n_owned < 512);
  return m->owned[m->n_owned++] = p;
}

/* A TypeProto from a spec: "f" float32, "i64" int64, "i32", "b" bool,
 * "seq:SPEC", "opt:SPEC" (tensors of unknown shape). */
static Onnx__TypeProto *mk_type(mk *m, const char *spec) {
  Onnx__TypeProto *t = mk_alloc(m, sizeof *t);
  onnx__type_proto__init(t);
  if (!strncmp(spec, "seq:", 4)) {
    Onnx__TypeProto__Sequence *s = mk_alloc(m, sizeof *s);
    onnx__type_proto__sequence__init(s);
    s->elem_type = mk_type(m, spec + 4);
    t->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    t->sequence_type = s;
  } else if (!strncmp(spec, "opt:", 4)) {
    Onnx__TypeProto__Optional *o = mk_alloc(m, sizeof *o);
    onnx__type_proto__optional__init(o);
    o->elem_type = mk_type(m, spec + 4);
    t->value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
    t->optional_type = o;
  } else {
    Onnx__TypeProto__Tensor *x = mk_alloc(m, sizeof *x);
    onnx__type_proto__tensor__init(x);
    x->has_elem_type = 1;
    x->elem_type = !strcmp(spec, "i64") ? FERRY_I64 : !strcmp(spec, "i32") ? FERRY_I32 : !strcmp(spec, "b") ? FERRY_BOOL : FERRY_F32;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = x;
  }
  return t;
}

static Onnx__AttributeProto *mk_attr(mk *m, const char *name, int type) {
  Onnx__AttributeProto *a = mk_alloc(m, sizeof *a);
  onnx__attribute_proto__init(a);
  a->name = (char *)name;
  a->has_type = 1;
  a->type = type;
  m->attrs[m->n_attrs++] = a;
  return a;
}

static void mk_int(mk *m, const char *name, int64_t v) {
  Onnx__AttributeProto *a = mk_attr(m, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = v;
}

static void mk_typeattr(mk *m, const char *name, const char *spec) {
  mk_attr(m, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO)->tp = mk_type(m, spec);
}

/* "name:SPEC,name:SPEC" as value infos into *v; returns the count. */
static int mk_values(mk *m, const char *list, Onnx__ValueInfoProto ***v, char ***names) {
  char *copy = mk_alloc(m, strlen(list) + 1), *save;
  strcpy(copy, list);
  *v = mk_alloc(m, 8 * sizeof **v);
  *names = mk_alloc(m, 8 * sizeof **names);
  int n = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok && n < 8; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    ck_assert(colon);
    *colon = 0;
    Onnx__ValueInfoProto *vi = mk_alloc(m, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = (*names)[n] = tok;
    vi->type = mk_type(m, colon + 1);
    (*v)[n++] = vi;
  }
  return n;
}

/* Writes a model of one node `op` (opset) reading `ins`, making `outs`
 * ("name:SPEC,..."; node inputs may include "" for omitted ones via
 * node_ins, NULL: the graph inputs in order) and returns a session on it. */
static ferry_session *mk_session(mk *m, const char *file, const char *op, int opset, const char *ins,
                                 const char *node_ins, const char *outs, ferry_host_model *hm) {
  Onnx__GraphProto g;
  Onnx__ModelProto mp;
  Onnx__OperatorSetIdProto os, *osp = &os;
  Onnx__NodeProto *np = &m->node;
  char **in_names = NULL, **out_names = NULL;
  onnx__graph_proto__init(&g);
  onnx__model_proto__init(&mp);
  onnx__operator_set_id_proto__init(&os);
  onnx__node_proto__init(np);
  g.n_input = ins && *ins ? (size_t)mk_values(m, ins, &g.input, &in_names) : 0;
  g.n_output = (size_t)mk_values(m, outs, &g.output, &out_names);
  np->op_type = (char *)op;
  np->input = in_names;
  np->n_input = g.n_input;
  if (node_ins) { /* explicit node inputs, "" for omitted ones */
    char *copy = mk_alloc(m, strlen(node_ins) + 2);
    np->input = mk_alloc(m, 8 * sizeof *np->input);
    np->n_input = 0;
    strcpy(copy, node_ins);
    for (char *p = copy; p && np->n_input < 8;) {
      char *comma = strchr(p, ',');
      if (comma) *comma = 0;
      np->input[np->n_input++] = p;
      p = comma ? comma + 1 : NULL;
    }
  }
  np->output = out_names;
  np->n_output = g.n_output;
  np->attribute = m->attrs;
  np->n_attribute = (size_t)m->n_attrs;
  g.node = &np;
  g.n_node = 1;
  g.name = "g";
  os.has_version = 1;
  os.version = opset;
  os.domain = "";
  mp.has_ir_version = 1;
  mp.ir_version = 8;
  mp.graph = &g;
  mp.opset_import = &osp;
  mp.n_opset_import = 1;
  size_t len = onnx__model_proto__get_packed_size(&mp);
  uint8_t *buf = mk_alloc(m, len);
  onnx__model_proto__pack(&mp, buf);
  ck_assert_int_eq(tu_write(tpath(file), buf, len), 0);
  for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
  m->n_owned = 0;
  ferry_err err = {0};
  ferry_session *s = ferry_host_session_open(tpath(file), NULL, hm, &err);
  ck_assert_msg(s != NULL, "%s: %s", op, err.msg);
  return s;
}

static void mk_init(mk *m) { memset(m, 0, sizeof *m); }

static void run_ok(ferry_session *s, const ferry_tview *in, int n, ferry_tview *out) {
  ferry_err err = {0};
  ck_assert_msg(ferry_session_run(s, in, n, out, &err) == 0, "%s", err.msg);
}

static void run_fails(ferry_session *s, const ferry_tview *in, int n, const char *want) {
  ferry_tview out[4];
  ferry_err err = {0};
  ck_assert_msg(ferry_session_run(s, in, n, out, &err) != 0, "ran, want an error '%s'", want);
  ck_assert_msg(strstr(err.msg, want), "error '%s', want '%s'", err.msg, want);
}

static void close_session(ferry_session *s, ferry_host_model *hm) {
  ferry_session_close(s);
  ferry_host_model_free(hm);
}

/* Three float tensors of different shapes: [2] {1,2}, [3,1] {3,4,5}, [0]. */
static float d0[] = {1, 2}, d1[] = {3, 4, 5};
static ferry_tview three[3];

static ferry_tview three_items(void) {
  three[0] = tensor(FERRY_F32, 1, (int64_t[]){2}, d0);
  three[1] = tensor(FERRY_F32, 2, (int64_t[]){3, 1}, d1);
  three[2] = tensor(FERRY_F32, 1, (int64_t[]){0}, NULL);
  return sequence(FERRY_F32, 3, three);
}

/* ---- node tests ---- */

static const char *const NODE_TESTS[] = {
    "node/test_sequence_insert_at_back", "node/test_sequence_insert_at_front",
    "node/test_identity_sequence", "node/test_identity_opt",
    "node/test_optional_get_element", "node/test_optional_get_element_sequence",
    "node/test_optional_has_element", "node/test_optional_has_element_empty",
    "node/test_if_seq", "node/test_if_opt", "node/test_loop13_seq", "node/test_loop16_seq_none",
    "node/test_sequence_map_identity_1_sequence", "node/test_sequence_map_identity_2_sequences",
    "node/test_sequence_map_identity_1_sequence_1_tensor", "node/test_sequence_map_add_2_sequences",
    "node/test_sequence_map_add_1_sequence_1_tensor", "node/test_sequence_map_extract_shapes",
    "node/test_sequence_map_add_2_sequences_expanded", "simple/test_sequence_model1",
    "simple/test_sequence_model2", "simple/test_sequence_model3", "simple/test_sequence_model4",
    "simple/test_sequence_model5", "simple/test_sequence_model6", "simple/test_sequence_model7",
    "simple/test_sequence_model8",
};

static void run_node_test(const char *test) {
  char dir[4096], model[4200], set[4300], msg[300];
  ferry_host_model hm;
  ferry_err err = {0};
  snprintf(dir, sizeof dir, "%s/%s", tu_env("ONNX_TESTDATA"), test);
  snprintf(model, sizeof model, "%s/model.onnx", dir);
  ferry_session *s = ferry_host_session_open(model, NULL, &hm, &err);
  ck_assert_msg(s != NULL, "%s: %s", test, err.msg);
  int ni = ferry_session_n_inputs(s), no = ferry_session_n_outputs(s), kin[8], kout[8];
  ck_assert(ni <= 8 && no <= 8);
  for (int k = 0; k < ni; k++) kin[k] = ferry_session_input_info(s, k)->kind;
  for (int k = 0; k < no; k++) kout[k] = ferry_session_output_info(s, k)->kind;
  for (int set_i = 0;; set_i++) {
    struct stat st;
    ferry_host_tensor in[8], want[8];
    ferry_tview iv[8], out[8];
    snprintf(set, sizeof set, "%s/test_data_set_%d", dir, set_i);
    if (stat(set, &st)) break;
    ck_assert_msg(rtu_read_values(set, "input", ni, kin, in, &err) == 0, "%s: %s", test, err.msg);
    ck_assert_msg(rtu_read_values(set, "output", no, kout, want, &err) == 0, "%s: %s", test, err.msg);
    for (int k = 0; k < ni; k++) iv[k] = in[k].v;
    for (int rep = 0; rep < 2; rep++) { /* the second run replays the plans */
      ck_assert_msg(ferry_session_run(s, iv, ni, out, &err) == 0, "%s: %s", test, err.msg);
      for (int k = 0; k < no; k++)
        ck_assert_msg(!rtu_compare_value(&out[k], &want[k].v, 1e-3, 1e-7, NULL, msg, sizeof msg), "%s output %d: %s",
                      test, k, msg);
    }
    for (int k = 0; k < ni; k++) ferry_host_tensor_free(&in[k]);
    for (int k = 0; k < no; k++) ferry_host_tensor_free(&want[k]);
  }
  close_session(s, &hm);
}

START_TEST(node_tests) {
  for (size_t i = 0; i < sizeof NODE_TESTS / sizeof *NODE_TESTS; i++) run_node_test(NODE_TESTS[i]);
}
END_TEST

/* ---- the ops ---- */

START_TEST(sequence_at) {
  mk m;
  ferry_host_model hm;
  mk_init(&m);
  ferry_session *s = mk_session(&m, "at.onnx", "SequenceAt", 11, "s:seq:f,p:i64", NULL, "y:f", &hm);
  int64_t p;
  ferry_tview in[2] = {three_items(), scalar_i64(&p)}, out[1];
  p = 1;
  run_ok(s, in, 2, out);
  ck_floats(&out[0], 2, (int64_t[]){3, 1}, d1, "item 1");
  p = -3;
  run_ok(s, in, 2, out);
  ck_floats(&out[0], 1, (int64_t[]){2}, d0, "item -3");
  p = 2;
  run_ok(s, in, 2, out);
  ck_floats(&out[0], 1, (int64_t[]){0}, NULL, "item 2 (empty)");
  p = 3;
  run_fails(s, in, 2, "position 3 is out of range for a sequence of 3");
  p = -4;
  run_fails(s, in, 2, "out of range");
  in[0].n_items = 0;
  p = 0;
  run_fails(s, in, 2, "out of range");
  close_session(s, &hm);
}
END_TEST

START_TEST(sequence_insert) {
  mk m;
  ferry_host_model hm;
  float x[] = {9, 8};
  mk_init(&m);
  ferry_session *s = mk_session(&m, "ins.onnx", "SequenceInsert", 11, "s:seq:f,t:f,p:i64", NULL, "y:seq:f", &hm);
  int64_t p;
  ferry_tview in[3] = {three_items(), tensor(FERRY_F32, 2, (int64_t[]){1, 2}, x), scalar_i64(&p)}, out[1];
  int64_t at[] = {0, 3, -1, -3}, where[] = {0, 3, 2, 0};
  for (int i = 0; i < 4; i++) {
    p = at[i];
    run_ok(s, in, 3, out);
    ck_assert_int_eq(out[0].kind, FERRY_TV_SEQUENCE);
    ck_assert_int_eq(out[0].n_items, 4);
    ck_floats(&out[0].items[where[i]], 2, (int64_t[]){1, 2}, x, "inserted");
    ck_floats(&out[0].items[where[i] == 0 ? 1 : 0], 1, (int64_t[]){2}, d0, "item 0 moved or kept");
  }
  p = 4;
  run_fails(s, in, 3, "position 4 is out of range");
  p = -4;
  run_fails(s, in, 3, "out of range");
  close_session(s, &hm);
  /* without a position: at the back; into an empty sequence */
  mk_init(&m);
  s = mk_session(&m, "ins2.onnx", "SequenceInsert", 11, "s:seq:f,t:f", NULL, "y:seq:f", &hm);
  in[0].n_items = 0;
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 1);
  ck_floats(&out[0].items[0], 2, (int64_t[]){1, 2}, x, "into empty");
  in[0] = three_items();
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 4);
  ck_floats(&out[0].items[3], 2, (int64_t[]){1, 2}, x, "at the back");
  close_session(s, &hm);
}
END_TEST

START_TEST(sequence_erase_length) {
  mk m;
  ferry_host_model hm;
  mk_init(&m);
  ferry_session *s = mk_session(&m, "erase.onnx", "SequenceErase", 11, "s:seq:f,p:i64", NULL, "y:seq:f", &hm);
  int64_t p = -3;
  ferry_tview in[2] = {three_items(), scalar_i64(&p)}, out[1];
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 2);
  ck_floats(&out[0].items[0], 2, (int64_t[]){3, 1}, d1, "after erasing 0");
  p = 3;
  run_fails(s, in, 2, "out of range");
  in[0].n_items = 0;
  p = 0;
  run_fails(s, in, 2, "erasing from an empty sequence");
  close_session(s, &hm);
  mk_init(&m); /* no position: the last item */
  s = mk_session(&m, "erase2.onnx", "SequenceErase", 11, "s:seq:f", NULL, "y:seq:f", &hm);
  in[0] = three_items();
  run_ok(s, in, 1, out);
  ck_assert_int_eq(out[0].n_items, 2);
  ck_floats(&out[0].items[1], 2, (int64_t[]){3, 1}, d1, "after erasing the last");
  close_session(s, &hm);
  mk_init(&m);
  s = mk_session(&m, "len.onnx", "SequenceLength", 11, "s:seq:f", NULL, "n:i64", &hm);
  for (int n = 3; n >= 0; n--) {
    in[0].n_items = n;
    run_ok(s, in, 1, out);
    ck_assert_int_eq(out[0].rank, 0);
    ck_assert_int_eq(*(int64_t *)out[0].data, n);
  }
  close_session(s, &hm);
}
END_TEST

START_TEST(sequence_construct_empty) {
  mk m;
  ferry_host_model hm;
  float a[] = {1, 2, 3}, b[] = {4};
  mk_init(&m);
  ferry_session *s = mk_session(&m, "cons.onnx", "SequenceConstruct", 11, "a:f,b:f", NULL, "y:seq:f", &hm);
  ferry_tview in[2] = {tensor(FERRY_F32, 1, (int64_t[]){3}, a), tensor(FERRY_F32, 0, NULL, b)}, out[1];
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 2);
  ck_assert_int_eq(out[0].dtype, FERRY_F32);
  ck_floats(&out[0].items[0], 1, (int64_t[]){3}, a, "a");
  ck_floats(&out[0].items[1], 0, NULL, b, "b");
  a[0] = 7; /* the output is a copy */
  ck_assert(((float *)out[0].items[0].data)[0] == 1);
  close_session(s, &hm);
  mk_init(&m);
  mk_int(&m, "dtype", FERRY_I32);
  s = mk_session(&m, "empty.onnx", "SequenceEmpty", 11, "", NULL, "y:seq:i32", &hm);
  run_ok(s, NULL, 0, out);
  ck_assert_int_eq(out[0].kind, FERRY_TV_SEQUENCE);
  ck_assert_int_eq(out[0].n_items, 0);
  ck_assert_int_eq(out[0].dtype, FERRY_I32);
  close_session(s, &hm);
}
END_TEST

START_TEST(split_to_sequence) {
  mk m;
  ferry_host_model hm;
  float x[10];
  for (int i = 0; i < 10; i++) x[i] = (float)i; /* [2, 5] */
  ferry_tview in[2] = {tensor(FERRY_F32, 2, (int64_t[]){2, 5}, x)}, out[1];
  for (int keep = 0; keep < 2; keep++) { /* no split: parts of 1, squeezed unless keepdims */
    mk_init(&m);
    mk_int(&m, "axis", -1);
    mk_int(&m, "keepdims", keep);
    ferry_session *s = mk_session(&m, keep ? "split1.onnx" : "split0.onnx", "SplitToSequence", 11, "x:f", NULL,
                                  "y:seq:f", &hm);
    run_ok(s, in, 1, out);
    ck_assert_int_eq(out[0].n_items, 5);
    ck_floats(&out[0].items[3], keep ? 2 : 1, (int64_t[]){2, 1}, (float[]){3, 8}, "part 3");
    close_session(s, &hm);
  }
  mk_init(&m);
  mk_int(&m, "axis", 1);
  ferry_session *s = mk_session(&m, "split2.onnx", "SplitToSequence", 11, "x:f,split:i64", NULL, "y:seq:f", &hm);
  int64_t two = 2, lens[] = {1, 4}, bad[] = {1, 1}, zero = 0;
  in[1] = scalar_i64(&two); /* a scalar: parts of 2, the last shorter */
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 3);
  ck_floats(&out[0].items[0], 2, (int64_t[]){2, 2}, (float[]){0, 1, 5, 6}, "part 0");
  ck_floats(&out[0].items[2], 2, (int64_t[]){2, 1}, (float[]){4, 9}, "last part");
  in[1] = tensor(FERRY_I64, 1, (int64_t[]){2}, lens);
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 2);
  ck_floats(&out[0].items[1], 2, (int64_t[]){2, 4}, (float[]){1, 2, 3, 4, 6, 7, 8, 9}, "part of 4");
  in[1] = tensor(FERRY_I64, 1, (int64_t[]){2}, bad);
  run_fails(s, in, 2, "split lengths sum to 2, the axis has 5");
  in[1] = scalar_i64(&zero);
  run_fails(s, in, 2, "split 0 must be positive");
  in[0].dims[1] = 0, in[0].numel = 0; /* an empty axis: no parts */
  in[1] = scalar_i64(&two);
  run_ok(s, in, 2, out);
  ck_assert_int_eq(out[0].n_items, 0);
  close_session(s, &hm);
}
END_TEST

START_TEST(concat_from_sequence) {
  mk m;
  ferry_host_model hm;
  float a[] = {1, 2}, b[] = {3, 4, 5, 6, 7, 8};
  ferry_tview items[2] = {tensor(FERRY_F32, 2, (int64_t[]){2, 1}, a), tensor(FERRY_F32, 2, (int64_t[]){2, 3}, b)};
  ferry_tview in[1] = {sequence(FERRY_F32, 2, items)}, out[1];
  mk_init(&m);
  mk_int(&m, "axis", 1);
  ferry_session *s = mk_session(&m, "cat.onnx", "ConcatFromSequence", 11, "s:seq:f", NULL, "y:f", &hm);
  run_ok(s, in, 1, out);
  ck_floats(&out[0], 2, (int64_t[]){2, 4}, (float[]){1, 3, 4, 5, 2, 6, 7, 8}, "concat axis 1");
  items[1].dims[0] = 3, items[1].dims[1] = 2;
  run_fails(s, in, 1, "item 1 has dim 0 = 3, item 0 2");
  in[0].n_items = 0;
  run_fails(s, in, 1, "concatenating an empty sequence");
  close_session(s, &hm);
  mk_init(&m); /* stacking on a new last axis */
  mk_int(&m, "axis", -1);
  mk_int(&m, "new_axis", 1);
  s = mk_session(&m, "stack.onnx", "ConcatFromSequence", 11, "s:seq:f", NULL, "y:f", &hm);
  float c[] = {3, 4};
  items[1] = tensor(FERRY_F32, 2, (int64_t[]){2, 1}, c);
  in[0].n_items = 2;
  run_ok(s, in, 1, out);
  ck_floats(&out[0], 3, (int64_t[]){2, 1, 2}, (float[]){1, 3, 2, 4}, "stack axis -1");
  items[1].dims[1] = 2, items[1].dims[0] = 1;
  run_fails(s, in, 1, "item 1 has dim");
  close_session(s, &hm);
}
END_TEST

START_TEST(optionals) {
  mk m;
  ferry_host_model hm;
  float x[] = {5, 6};
  ferry_tview t = tensor(FERRY_F32, 1, (int64_t[]){2}, x), out[1];
  mk_init(&m); /* Optional(x) */
  ferry_session *s = mk_session(&m, "opt.onnx", "Optional", 15, "x:f", NULL, "o:opt:f", &hm);
  run_ok(s, &t, 1, out);
  ck_assert_int_eq(out[0].kind, FERRY_TV_OPTIONAL);
  ck_assert_int_eq(out[0].n_items, 1);
  ck_floats(&out[0].items[0], 1, (int64_t[]){2}, x, "present");
  close_session(s, &hm);
  mk_init(&m); /* Optional() with a type: none */
  mk_typeattr(&m, "type", "f");
  s = mk_session(&m, "none.onnx", "Optional", 15, "", NULL, "o:opt:f", &hm);
  run_ok(s, NULL, 0, out);
  ck_assert_int_eq(out[0].kind, FERRY_TV_OPTIONAL);
  ck_assert_int_eq(out[0].n_items, 0);
  close_session(s, &hm);
  ferry_tview none = optional(FERRY_F32, NULL), some = optional(FERRY_F32, &t);
  mk_init(&m);
  s = mk_session(&m, "has.onnx", "OptionalHasElement", 15, "o:opt:f", NULL, "b:b", &hm);
  run_ok(s, &none, 1, out);
  ck_assert_int_eq(*(uint8_t *)out[0].data, 0);
  run_ok(s, &some, 1, out);
  ck_assert_int_eq(*(uint8_t *)out[0].data, 1);
  close_session(s, &hm);
  mk_init(&m);
  s = mk_session(&m, "get.onnx", "OptionalGetElement", 15, "o:opt:f", NULL, "y:f", &hm);
  run_ok(s, &some, 1, out);
  ck_floats(&out[0], 1, (int64_t[]){2}, x, "got");
  run_fails(s, &none, 1, "the optional is empty");
  close_session(s, &hm);
  mk_init(&m); /* optional(sequence) through Identity */
  s = mk_session(&m, "idopt.onnx", "Identity", 16, "o:opt:seq:f", NULL, "y:opt:seq:f", &hm);
  ferry_tview seq = three_items(), oseq = optional(FERRY_F32, &seq);
  run_ok(s, &oseq, 1, out);
  ck_assert_int_eq(out[0].n_items, 1);
  ck_assert_int_eq(out[0].items[0].kind, FERRY_TV_SEQUENCE);
  ck_assert_int_eq(out[0].items[0].n_items, 3);
  ck_floats(&out[0].items[0].items[1], 2, (int64_t[]){3, 1}, d1, "nested item");
  oseq.n_items = 0;
  run_ok(s, &oseq, 1, out);
  ck_assert_int_eq(out[0].n_items, 0);
  oseq = optional(FERRY_F32, NULL); /* none, items NULL */
  run_ok(s, &oseq, 1, out);
  ck_assert_int_eq(out[0].n_items, 0);
  close_session(s, &hm);
}
END_TEST

/* ---- the API ---- */

START_TEST(api_checks) {
  mk m;
  ferry_host_model hm;
  mk_init(&m);
  ferry_session *s = mk_session(&m, "len2.onnx", "SequenceLength", 11, "s:seq:f", NULL, "n:i64", &hm);
  const ferry_io_info *io = ferry_session_input_info(s, 0);
  ck_assert_int_eq(io->kind, FERRY_TV_SEQUENCE);
  ck_assert_int_eq(io->dtype, FERRY_F32);
  ck_assert_int_eq(io->rank, -1);
  float x[] = {1};
  int32_t y[] = {2};
  ferry_tview items[2] = {tensor(FERRY_F32, 1, (int64_t[]){1}, x), tensor(FERRY_I32, 1, (int64_t[]){1}, y)};
  ferry_tview in = items[0];
  run_fails(s, &in, 1, "input 's' is a tensor, the model wants a sequence");
  in = sequence(0, 2, items);
  run_fails(s, &in, 1, "is not a well-formed sequence");
  in = sequence(FERRY_I32, 1, items + 1);
  run_fails(s, &in, 1, "input 's' holds int32, the model wants float32");
  in = sequence(FERRY_F32, 1, items);
  items[0].data = NULL;
  run_fails(s, &in, 1, "not a well-formed sequence");
  in = optional(FERRY_F32, items);
  run_fails(s, &in, 1, "input 's' is an optional, the model wants a sequence");
  close_session(s, &hm);
  /* a sequence reaching an op of tensors (a malformed model): an error */
  mk_init(&m);
  s = mk_session(&m, "abs.onnx", "Abs", 13, "s:seq:f", NULL, "y:f", &hm);
  items[0].data = x;
  in = sequence(FERRY_F32, 1, items);
  run_fails(s, &in, 1, "input 0 is a sequence or optional, the op takes tensors");
  close_session(s, &hm);
}
END_TEST

/* Plans stay valid across sequences of other lengths and shapes. */
START_TEST(api_replay) {
  mk m;
  ferry_host_model hm;
  mk_init(&m);
  mk_int(&m, "axis", 0);
  ferry_session *s = mk_session(&m, "cat0.onnx", "ConcatFromSequence", 11, "s:seq:f", NULL, "y:f", &hm);
  float v[64];
  for (int i = 0; i < 64; i++) v[i] = (float)i;
  ferry_tview items[8], in, out[1];
  ferry_run_stats st;
  for (int n = 1; n <= 8; n++) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) items[i] = tensor(FERRY_F32, 2, (int64_t[]){i % 3, 2}, v + total * 2), total += i % 3;
    in = sequence(FERRY_F32, n, items);
    run_ok(s, &in, 1, out);
    ck_floats(&out[0], 2, (int64_t[]){total, 2}, v, "concatenated");
  }
  ferry_session_stats(s, &st);
  ck_assert_int_eq(st.plans, 1); /* one plan: sequence inputs are not part of the signature's shapes */
  ck_assert_int_eq(st.dynamic_steps, 1);
  close_session(s, &hm);
}
END_TEST

START_TEST(api_files) {
  float a[] = {1, 2, 3}, b[] = {4};
  ferry_tview items[2] = {tensor(FERRY_F32, 2, (int64_t[]){1, 3}, a), tensor(FERRY_F32, 0, NULL, b)};
  ferry_tview seq = sequence(FERRY_F32, 2, items), opt = optional(FERRY_F32, &seq), none = optional(FERRY_F32, NULL);
  ferry_tview values[] = {seq, opt, none, sequence(FERRY_F32, 0, NULL)};
  ferry_err err = {0};
  char msg[300];
  for (int i = 0; i < 4; i++) {
    ferry_host_tensor t;
    const char *p = tpath("value.pb");
    ck_assert_msg(ferry_value_write_pb(p, "v", &values[i], &err) == 0, "%s", err.msg);
    ck_assert_msg(ferry_value_read(p, values[i].kind, &t, &err) == 0, "%s", err.msg);
    ck_assert_msg(!rtu_compare_value(&t.v, &values[i], 0, 0, NULL, msg, sizeof msg), "value %d: %s", i, msg);
    ck_assert_str_eq(t.name, "v");
    ferry_host_tensor_free(&t);
    ck_assert_int_ne(ferry_value_read(p, 3, &t, &err), 0); /* maps: refused */
  }
  ferry_host_tensor t;
  ck_assert_msg(ferry_tensor_write_pb(tpath("t.pb"), "t", &items[0], &err) == 0, "%s", err.msg);
  ck_assert_int_ne(ferry_value_read(tpath("t.pb"), FERRY_TV_SEQUENCE, &t, &err), 0); /* a TensorProto is no sequence */
}
END_TEST

static Suite *sequence_suite(void) {
  Suite *s = suite_create("kernels_sequence");
  TCase *c = tcase_create("nodetests");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, node_tests);
  suite_add_tcase(s, c);
  c = tcase_create("ops");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, sequence_at);
  tcase_add_test(c, sequence_insert);
  tcase_add_test(c, sequence_erase_length);
  tcase_add_test(c, sequence_construct_empty);
  tcase_add_test(c, split_to_sequence);
  tcase_add_test(c, concat_from_sequence);
  tcase_add_test(c, optionals);
  suite_add_tcase(s, c);
  c = tcase_create("api");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, api_checks);
  tcase_add_test(c, api_replay);
  tcase_add_test(c, api_files);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(sequence_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
