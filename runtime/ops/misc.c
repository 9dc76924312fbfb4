/*
 * misc.c - shape rules of the ops that are neither elementwise math nor
 * data movement: quantization, sequences and optionals (their types: a
 * sequence's element shape is the merge of the shapes put in it), string
 * ops, random number generators and the two loss functions.
 */
#include <string.h>

#include "core.h"

/* ---- quantization ---- */

int ferry_shape_QuantizeLinear(ferry_shape_ctx *c) {
  int dt = c->n_in > 2 && c->in[2].present && c->in[2].dtype ? c->in[2].dtype : FERRY_U8;
  ferry_same_shape(&c->out[0], &c->in[0], dt);
  return FERRY_OK;
}

int ferry_shape_DequantizeLinear(ferry_shape_ctx *c) {
  int dt = c->opset >= 19 && c->in[1].dtype ? c->in[1].dtype : FERRY_F32;
  ferry_same_shape(&c->out[0], &c->in[0], dt);
  return FERRY_OK;
}

int ferry_shape_DynamicQuantizeLinear(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], FERRY_U8);
  if (c->n_out > 1) ferry_set_shape(&c->out[1], FERRY_F32, 0, NULL);
  if (c->n_out > 2) ferry_set_shape(&c->out[2], FERRY_U8, 0, NULL);
  return FERRY_OK;
}

/* ---- sequences ---- */

/* Makes *acc the element type that covers both *acc and *t: equal dims
 * stay, others become fresh; different ranks give an unknown rank. */
static void merge_elem(ferry_shape_ctx *c, ferry_sval *acc, const ferry_sval *t) {
  if (!acc->dtype) acc->dtype = t->dtype;
  if (acc->rank != t->rank || t->rank < 0) {
    acc->rank = -1;
    return;
  }
  for (int i = 0; i < t->rank; i++)
    if (acc->dims[i] != t->dims[i]) acc->dims[i] = c->D->fresh(c->D->ctx);
}

static void as_sequence(ferry_sval *o) {
  o->kind = FERRY_SV_SEQUENCE;
  o->n_content = -1;
  o->data = NULL;
}

int ferry_shape_SequenceEmpty(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  as_sequence(o);
  o->dtype = (int)ferry_attr_int(c, "dtype", FERRY_F32);
  o->rank = -1;
  return FERRY_OK;
}

int ferry_shape_SequenceConstruct(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_same_shape(o, &c->in[0], c->in[0].dtype);
  for (int i = 1; i < c->n_in; i++) merge_elem(c, o, &c->in[i]);
  as_sequence(o);
  return FERRY_OK;
}

int ferry_shape_SequenceInsert(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_same_shape(o, &c->in[0], c->in[0].dtype);
  merge_elem(c, o, &c->in[1]);
  as_sequence(o);
  return FERRY_OK;
}

int ferry_shape_SequenceErase(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  as_sequence(&c->out[0]);
  return FERRY_OK;
}

int ferry_shape_SequenceAt(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  return FERRY_OK;
}

int ferry_shape_SequenceLength(ferry_shape_ctx *c) {
  ferry_set_shape(&c->out[0], FERRY_I64, 0, NULL);
  return FERRY_OK;
}

int ferry_shape_SplitToSequence(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0], *split = &c->in[1];
  ferry_sval *o = &c->out[0];
  int64_t v[FERRY_MAX_CONTENT];
  ferry_same_shape(o, x, x->dtype);
  as_sequence(o);
  if (x->rank < 0) return FERRY_OK;
  int axis = ferry_axis(ferry_attr_int(c, "axis", 0), x->rank);
  if (axis < 0) return ferry_shape_fail(c, "axis out of range");
  int has_split = c->n_in > 1 && split->present;
  int n = has_split ? ferry_const_ints(c, 1, v, FERRY_MAX_CONTENT) : 0;
  if (!has_split) {
    if (ferry_attr_int(c, "keepdims", 1)) o->dims[axis] = ferry_k(c, 1);
    else {
      memmove(o->dims + axis, o->dims + axis + 1, (size_t)(x->rank - axis - 1) * sizeof *o->dims);
      o->rank--;
    }
    return FERRY_OK;
  }
  int64_t d;
  int same = n > 0;
  if (split->rank == 0 && n == 1 && v[0] <= 0) return ferry_shape_fail(c, "split %lld must be positive", (long long)v[0]);
  for (int i = 1; i < n; i++) same &= v[i] == v[0];
  if (split->rank == 0 && n == 1 && c->D->is_const(c->D->ctx, x->dims[axis], &d) && d % v[0])
    same = 0; /* the last part is shorter */
  o->dims[axis] = same ? ferry_k(c, v[0]) : c->D->fresh(c->D->ctx);
  return FERRY_OK;
}

int ferry_shape_ConcatFromSequence(ferry_shape_ctx *c) {
  const ferry_sval *s = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = s->dtype;
  if (s->rank < 0) return FERRY_OK;
  int new_axis = ferry_attr_int(c, "new_axis", 0) != 0, r = s->rank + new_axis;
  int axis = ferry_axis(ferry_attr_int(c, "axis", 0), r);
  if (axis < 0 || r > FERRY_MAX_RANK) return ferry_shape_fail(c, "axis out of range");
  for (int i = 0, k = 0; i < r; i++) {
    if (i == axis) o->dims[i] = c->D->fresh(c->D->ctx); /* the sequence's length is unknown */
    else o->dims[i] = s->dims[k];
    if (i != axis || !new_axis) k++;
  }
  o->rank = r;
  return FERRY_OK;
}

/* ---- optionals ---- */

int ferry_shape_Optional(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_attrv a;
  if (c->n_in > 0 && c->in[0].present) {
    *o = c->in[0];
    o->elem_kind = c->in[0].kind;
  } else if (ferry_attr_get(c, "type", &a)) {
    o->elem_kind = (int)a.i;
    o->dtype = a.tdtype;
    o->rank = a.trank;
    for (int i = 0; i < a.trank && a.tdims && i < FERRY_MAX_RANK; i++) o->dims[i] = ferry_k(c, a.tdims[i]);
  }
  o->present = 1;
  o->kind = FERRY_SV_OPTIONAL;
  o->n_content = -1;
  o->data = NULL;
  return FERRY_OK;
}

int ferry_shape_OptionalHasElement(ferry_shape_ctx *c) {
  ferry_set_shape(&c->out[0], FERRY_BOOL, 0, NULL);
  return FERRY_OK;
}

int ferry_shape_OptionalGetElement(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  *o = c->in[0];
  if (o->kind == FERRY_SV_OPTIONAL) o->kind = o->elem_kind;
  o->elem_kind = 0;
  return FERRY_OK;
}

/* ---- strings ---- */

/* Stop words may remove elements: the last dim is then unknown. */
int ferry_shape_StringNormalizer(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_same_shape(o, x, FERRY_STRING);
  if (x->rank >= 1 && ferry_attr_has(c, "stopwords")) o->dims[x->rank - 1] = c->D->fresh(c->D->ctx);
  return FERRY_OK;
}

int ferry_shape_TfIdfVectorizer(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  const int64_t *ix;
  int64_t top = -1;
  int n = ferry_attr_ints(c, "ngram_indexes", &ix);
  for (int i = 0; i < n; i++)
    if (ix[i] > top) top = ix[i];
  o->dtype = FERRY_F32;
  if (x->rank < 0) return FERRY_OK;
  if (x->rank > 2) return ferry_shape_fail(c, "input of rank %d", x->rank);
  o->rank = x->rank == 2 ? 2 : 1;
  if (x->rank == 2) o->dims[0] = x->dims[0];
  o->dims[o->rank - 1] = ferry_k(c, top + 1);
  return FERRY_OK;
}

/* ---- random numbers ---- */

int ferry_shape_random(ferry_shape_ctx *c) {
  const int64_t *s;
  int n = ferry_attr_ints(c, "shape", &s);
  ferry_sval *o = &c->out[0];
  if (n > FERRY_MAX_RANK) return ferry_shape_fail(c, "rank %d", n);
  o->dtype = (int)ferry_attr_int(c, "dtype", FERRY_F32);
  o->rank = n;
  for (int i = 0; i < n; i++) o->dims[i] = ferry_k(c, s[i]);
  return FERRY_OK;
}

int ferry_shape_random_like(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], (int)ferry_attr_int(c, "dtype", c->in[0].dtype));
  return FERRY_OK;
}

int ferry_shape_Multinomial(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = (int)ferry_attr_int(c, "dtype", FERRY_I32);
  o->rank = 2;
  o->dims[0] = x->rank == 2 ? x->dims[0] : c->D->fresh(c->D->ctx);
  o->dims[1] = ferry_k(c, ferry_attr_int(c, "sample_size", 1));
  return FERRY_OK;
}

/* ---- losses ---- */

/* The loss: [N, d1..dk] for reduction "none", else a scalar. */
static void loss_shape(ferry_shape_ctx *c, const ferry_sval *x, ferry_sval *o) {
  const char *red = ferry_attr_str(c, "reduction", "mean");
  o->dtype = x->dtype;
  if (strcmp(red, "none") != 0) {
    o->rank = 0;
    return;
  }
  if (x->rank < 2) return;
  o->rank = x->rank - 1;
  o->dims[0] = x->dims[0];
  memcpy(o->dims + 1, x->dims + 2, (size_t)(x->rank - 2) * sizeof *o->dims);
}

int ferry_shape_NegativeLogLikelihoodLoss(ferry_shape_ctx *c) {
  loss_shape(c, &c->in[0], &c->out[0]);
  return FERRY_OK;
}

int ferry_shape_SoftmaxCrossEntropyLoss(ferry_shape_ctx *c) {
  loss_shape(c, &c->in[0], &c->out[0]);
  if (c->n_out > 1) ferry_same_shape(&c->out[1], &c->in[0], c->in[0].dtype);
  return FERRY_OK;
}
