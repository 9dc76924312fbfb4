/*
 * rnn.c - shape rules of the ops over sequences: the recurrent ops (LSTM,
 * GRU, RNN) and the signal ops (DFT, STFT, the window functions,
 * MelWeightMatrix); declared in rules.h, contract in ../shape.h.
 *
 * How the parts fit:
 *   - recurrent() serves LSTM, GRU and RNN, which differ only in how many
 *     state outputs they have (Y_h, plus Y_c for LSTM); the `layout`
 *     attribute (opset 14) swaps the sequence and batch axes;
 *   - the signal ops take their lengths (dft_length, frame_step, window
 *     size, ...) from small integer inputs through ferry_rule_content_dims,
 *     so a length computed by shape math stays symbolic and an unknown one
 *     becomes a fresh dim.
 * All dim arithmetic goes through c->D.
 */
#include <string.h>

#include "rules.h"

#define K(v) c->D->konst(c->D->ctx, (v))
#define ADD(a, b) c->D->add(c->D->ctx, (a), (b))
#define SUB(a, b) c->D->sub(c->D->ctx, (a), (b))
#define MUL(a, b) c->D->mul(c->D->ctx, (a), (b))
#define DIV(a, b) c->D->div(c->D->ctx, (a), (b))
#define FRESH() c->D->fresh(c->D->ctx)
#define ISK(a, p) c->D->is_const(c->D->ctx, (a), (p))
#define has(i) ferry_rule_has(c, (i))

/* Sets o to `dtype` and the n dims d. */
static void set_dims(ferry_sval *o, int dtype, int n, const ferry_sdim *d) {
  o->dtype = dtype;
  o->rank = n;
  memcpy(o->dims, d, (size_t)n * sizeof d[0]);
}

/* One scalar (or one-element) integer input as a dim; fresh when unknown. */
static int scalar_dim(ferry_shape_ctx *c, int i, ferry_sdim *d) {
  int n = ferry_rule_content_dims(c, i, d, 1);
  if (n == 0) return ferry_shape_fail(c, "input %d must hold one value", i);
  if (n < 0) *d = FRESH();
  return FERRY_OK;
}

/* ---- recurrent ops ---- */

/* Number of directions from the `direction` attribute. */
static int directions(ferry_shape_ctx *c) {
  char s[32];
  if (ferry_rule_attr_str(c, "direction", s, sizeof s) < 0)
    return ferry_shape_fail(c, "direction is too long"), -1;
  if (!*s || !strcmp(s, "forward") || !strcmp(s, "reverse")) return 1;
  if (!strcmp(s, "bidirectional")) return 2;
  return ferry_shape_fail(c, "unknown direction '%s'", s), -1;
}

/* hidden_size, else R's last dim ([num_directions, gates*hidden, hidden]). */
static ferry_sdim hidden_size(ferry_shape_ctx *c) {
  int64_t h = ferry_attr_int(c, "hidden_size", 0);
  const ferry_sval *r = &c->in[2];
  if (h > 0) return K(h);
  return r->rank == 3 ? r->dims[2] : FRESH();
}

/* X, W, R, ... -> Y, then n_states outputs shaped like Y_h. */
static int recurrent(ferry_shape_ctx *c, int n_states) {
  int rc = ferry_rule_need(c, 3);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0], *w = &c->in[1];
  int nd = directions(c), layout = ferry_attr_int(c, "layout", 0) != 0, dt = x->dtype;
  for (int i = 0; i <= n_states && i < c->n_out; i++) c->out[i].dtype = dt;
  if (nd < 0) return FERRY_E_INPUT;
  if (w->rank == 3 && ferry_rule_conflict(c, w->dims[0], K(nd)))
    return ferry_shape_fail(c, "W's first dim must be the number of directions (%d)", nd);
  if (x->rank < 0) return FERRY_OK;
  if (x->rank != 3) return ferry_shape_fail(c, "X must have rank 3, got %d", x->rank);
  ferry_sdim seq = x->dims[layout], batch = x->dims[!layout], h = hidden_size(c), d = K(nd);
  ferry_sdim y0[4] = {seq, d, batch, h}, y1[4] = {batch, seq, d, h};
  ferry_sdim s0[3] = {d, batch, h}, s1[3] = {batch, d, h};
  set_dims(&c->out[0], dt, 4, layout ? y1 : y0);
  for (int i = 1; i <= n_states && i < c->n_out; i++) set_dims(&c->out[i], dt, 3, layout ? s1 : s0);
  return FERRY_OK;
}

int ferry_shape_LSTM(ferry_shape_ctx *c) { return recurrent(c, 2); }
int ferry_shape_GRU(ferry_shape_ctx *c) { return recurrent(c, 1); }
int ferry_shape_RNN(ferry_shape_ctx *c) { return recurrent(c, 1); }

/* ---- DFT ---- */

/* The DFT axis, normalized for `rank`: attribute (opset < 20, default 1)
 * or input 2 (default -2). -1 (c->err set) when invalid. */
static int dft_axis(ferry_shape_ctx *c, int rank) {
  int64_t axis = 1;
  if (c->opset >= 20) {
    axis = -2;
    if (has(2) && ferry_rule_const_ints(c, 2, &axis, 1) != 1)
      return ferry_shape_fail(c, "axis input must be a constant"), -1;
  } else {
    axis = ferry_attr_int(c, "axis", 1);
  }
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank - 2)
    return ferry_shape_fail(c, "axis %lld is out of range for rank %d", (long long)axis, rank), -1;
  return (int)a;
}

/* input [..., 1 or 2][, dft_length][, axis]: the axis becomes dft_length
 * (onesided: length/2 + 1), the last dim 2. With onesided and inverse (an
 * inverse real FFT) the output is real: the axis is dft_length, or
 * 2 * (n - 1) without it, and the last dim 1. */
int ferry_shape_DFT(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int64_t last;
  ferry_rule_copy_shape(o, x);
  if (x->rank < 0) return FERRY_OK;
  if (x->rank < 2) return ferry_shape_fail(c, "input must have rank >= 2, got %d", x->rank);
  if (ISK(x->dims[x->rank - 1], &last) && last != 1 && last != 2)
    return ferry_shape_fail(c, "last dim must be 1 (real) or 2 (complex), got %lld", (long long)last);
  int a = dft_axis(c, x->rank);
  if (a < 0) return FERRY_E_INPUT;
  int onesided = ferry_attr_int(c, "onesided", 0) != 0, inverse = ferry_attr_int(c, "inverse", 0) != 0;
  ferry_sdim len = x->dims[a];
  if (has(1) && (rc = scalar_dim(c, 1, &len))) return rc;
  o->dims[x->rank - 1] = K(onesided && inverse ? 1 : 2);
  if (onesided && inverse && !has(1))
    o->dims[a] = MUL(SUB(len, K(1)), K(2));
  else
    o->dims[a] = onesided && !inverse ? ADD(DIV(len, K(2)), K(1)) : len;
  return FERRY_OK;
}

/* ---- STFT ---- */

/* The frame length: input 3, else the window's length. */
static int stft_frame_length(ferry_shape_ctx *c, ferry_sdim *n) {
  if (has(3)) return scalar_dim(c, 3, n);
  if (!has(2)) return ferry_shape_fail(c, "needs a window or a frame_length");
  const ferry_sval *w = &c->in[2];
  if (w->rank >= 0 && w->rank != 1) return ferry_shape_fail(c, "window must have rank 1, got %d", w->rank);
  *n = w->rank == 1 ? w->dims[0] : FRESH();
  return FERRY_OK;
}

/* signal [batch, length, 1|2], frame_step[, window][, frame_length] ->
 * [batch, frames, bins, 2]. */
int ferry_shape_STFT(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_sdim step, n;
  int64_t v;
  o->dtype = x->dtype;
  if ((rc = scalar_dim(c, 1, &step)) || (rc = stft_frame_length(c, &n))) return rc;
  if (ISK(step, &v) && v < 1) return ferry_shape_fail(c, "frame_step must be >= 1, got %lld", (long long)v);
  if (x->rank < 0) return FERRY_OK;
  if (x->rank != 3) return ferry_shape_fail(c, "signal must have rank 3, got %d", x->rank);
  int onesided = ferry_attr_int(c, "onesided", 1) != 0;
  o->rank = 4;
  o->dims[0] = x->dims[0];
  o->dims[1] =
      ferry_rule_content_dims(c, 1, &step, 1) == 1 ? ADD(DIV(SUB(x->dims[1], n), step), K(1)) : FRESH();
  o->dims[2] = onesided ? ADD(DIV(n, K(2)), K(1)) : n;
  o->dims[3] = K(2);
  if (ISK(o->dims[1], &v) && v < 0) return ferry_shape_fail(c, "signal is shorter than a frame");
  return FERRY_OK;
}

/* ---- generators ---- */

/* size -> [size] in output_datatype (default float). */
static int window(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  ferry_sdim n;
  int64_t v;
  if ((rc = scalar_dim(c, 0, &n))) return rc;
  if (ISK(n, &v) && v < 0) return ferry_shape_fail(c, "size must be >= 0, got %lld", (long long)v);
  set_dims(&c->out[0], (int)ferry_attr_int(c, "output_datatype", FERRY_F32), 1, &n);
  return FERRY_OK;
}

int ferry_shape_BlackmanWindow(ferry_shape_ctx *c) { return window(c); }
int ferry_shape_HannWindow(ferry_shape_ctx *c) { return window(c); }
int ferry_shape_HammingWindow(ferry_shape_ctx *c) { return window(c); }

/* num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
 * upper_edge_hertz -> [dft_length / 2 + 1, num_mel_bins]. */
int ferry_shape_MelWeightMatrix(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 5);
  if (rc) return rc;
  ferry_sdim d[2], bins, len;
  if ((rc = scalar_dim(c, 0, &bins)) || (rc = scalar_dim(c, 1, &len))) return rc;
  d[0] = ADD(DIV(len, K(2)), K(1));
  d[1] = bins;
  set_dims(&c->out[0], (int)ferry_attr_int(c, "output_datatype", FERRY_F32), 2, d);
  return FERRY_OK;
}
