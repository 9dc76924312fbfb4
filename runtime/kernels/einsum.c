/*
 * einsum.c - Einsum (declared in linalg.h).
 *
 *   - parse(): the equation into terms of label ids (letters 0..51, the
 *     ellipsis' dims 52.. right-aligned across inputs, as numpy
 *     broadcasts them); the implicit output is the ellipsis, then the
 *     labels seen once in ASCII order (the shape rule's reading,
 *     runtime/ops/reduce.c);
 *   - float32 products of two operands (no repeated label in a term, no
 *     size-1 broadcasting, nothing summed from one operand alone) become
 *     a batched GEMM: labels in both operands and the output are the
 *     batch, labels in both but not the output are contracted, the others
 *     are rows of A and columns of B; operands and result are transposed
 *     only when their layout is not already a strided matrix;
 *   - everything else (one or three operands, diagonals, broadcasting,
 *     other dtypes) runs a general loop over the output and summed labels.
 */
#include <string.h>

#include "gemm.h"
#include "linalg.h"
#include "util.h"

#define EIN_LETTERS 52
#define EIN_IDS (EIN_LETTERS + FERRY_MAX_RANK)
#define EIN_MAX_IN 16

typedef struct eterm {
  int n;                      /* dims */
  int id[FERRY_MAX_RANK];
} eterm;

typedef struct ein {
  int n_in;
  eterm t[EIN_MAX_IN], out;
  int64_t size[EIN_IDS];
  int used[EIN_IDS];          /* occurrences over the inputs */
  int n_ell;                  /* broadcast ellipsis rank */
} ein;

static int letter_id(int ch) { return ch >= 'a' && ch <= 'z' ? ch - 'a' : ch >= 'A' && ch <= 'Z' ? 26 + ch - 'A' : -1; }

/* A term's labels as letters, or -2 for the ellipsis; count or -1. */
static int scan_term(const char *s, const char *end, const char **stop, int *lab) {
  int n = 0, ell = 0;
  for (; s < end && *s != ',' && *s != '-'; s++) {
    if (*s == ' ') continue;
    if (n == FERRY_MAX_RANK) return -1;
    if (*s == '.') {
      if (ell || end - s < 3 || s[1] != '.' || s[2] != '.') return -1;
      ell = 1, lab[n++] = -2, s += 2;
    } else if (letter_id((unsigned char)*s) >= 0) {
      lab[n++] = letter_id((unsigned char)*s);
    } else {
      return -1;
    }
  }
  *stop = s;
  return n;
}

/* Binds scanned term labels to the dims of x (or, x NULL, the output). */
static int bind_term(ferry_kctx *k, ein *e, const int *lab, int n, const ferry_tview *x, eterm *t) {
  int has_ell = 0;
  for (int i = 0; i < n; i++) has_ell |= lab[i] == -2;
  int n_ell = x ? x->rank - (n - has_ell) : e->n_ell;
  if (n_ell < 0 || (!has_ell && x && n_ell)) return ferry_kernel_fail(k, "equation term does not match rank %d", x->rank);
  if (x && n_ell > e->n_ell) e->n_ell = n_ell;
  t->n = 0;
  for (int i = 0; i < n; i++) {
    if (lab[i] != -2) {
      t->id[t->n++] = lab[i];
      continue;
    }
    if (t->n + n_ell > FERRY_MAX_RANK) return ferry_kernel_fail(k, "equation term is too long");
    for (int j = 0; j < n_ell; j++) t->id[t->n++] = -1; /* placed by place_ellipsis() */
  }
  return FERRY_OK;
}

/* Ellipsis dims were stored as negative placeholders; map them right-
 * aligned onto ids EIN_LETTERS.. now that the broadcast rank is known. */
static void place_ellipsis(ein *e, eterm *t) {
  int n_ell = 0;
  for (int i = 0; i < t->n; i++) n_ell += t->id[i] < 0;
  for (int i = 0, j = 0; i < t->n; i++)
    if (t->id[i] < 0) t->id[i] = EIN_LETTERS + (e->n_ell - n_ell) + j++;
}

static int size_ids(ferry_kctx *k, ein *e) {
  for (int i = 0; i < EIN_IDS; i++) e->size[i] = -1;
  for (int i = 0; i < e->n_in; i++) {
    const eterm *t = &e->t[i];
    for (int d = 0; d < t->n; d++) {
      int id = t->id[d];
      int64_t v = k->in[i].dims[d];
      e->used[id]++;
      if (e->size[id] < 0 || e->size[id] == 1)
        e->size[id] = v;
      else if (v != e->size[id] && v != 1)
        return ferry_kernel_fail(k, "an equation label has sizes %lld and %lld", (long long)e->size[id], (long long)v);
    }
  }
  return FERRY_OK;
}

static void implicit_output(ein *e) {
  e->out.n = 0;
  for (int j = 0; j < e->n_ell; j++) e->out.id[e->out.n++] = EIN_LETTERS + j;
  /* ASCII order: upper case first */
  for (int pass = 0; pass < 2; pass++)
    for (int id = pass ? 0 : 26; id < (pass ? 26 : EIN_LETTERS); id++)
      if (e->used[id] == 1 && e->out.n < FERRY_MAX_RANK) e->out.id[e->out.n++] = id;
}

static int parse(ferry_kctx *k, ein *e) {
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  memset(e, 0, sizeof *e);
  if (!ferry_attr_get(k->sctx, "equation", &a) || a.type != 3 || !a.s) return ferry_kernel_fail(k, "equation is required");
  const char *s = a.s, *end = a.s + (a.slen > 0 ? a.slen : 0);
  int lab[FERRY_MAX_RANK], n, rc;
  for (;;) {
    if (e->n_in == EIN_MAX_IN || e->n_in == k->n_in) return ferry_kernel_fail(k, "equation has more terms than inputs");
    if ((n = scan_term(s, end, &s, lab)) < 0) return ferry_kernel_fail(k, "bad equation");
    const ferry_tview *x = &k->in[e->n_in];
    if (!x->data && x->numel) return ferry_kernel_fail(k, "missing input %d", e->n_in);
    if ((rc = bind_term(k, e, lab, n, x, &e->t[e->n_in]))) return rc;
    e->n_in++;
    if (s == end || *s == '-') break;
    s++;
  }
  if (e->n_in != k->n_in) return ferry_kernel_fail(k, "equation has %d inputs, node has %d", e->n_in, k->n_in);
  for (int i = 0; i < e->n_in; i++) place_ellipsis(e, &e->t[i]);
  if ((rc = size_ids(k, e))) return rc;
  if (s == end) {
    implicit_output(e);
    return FERRY_OK;
  }
  if (end - s < 2 || s[1] != '>') return ferry_kernel_fail(k, "bad '->' in equation");
  if ((n = scan_term(s + 2, end, &s, lab)) < 0 || s != end) return ferry_kernel_fail(k, "bad equation output");
  if ((rc = bind_term(k, e, lab, n, NULL, &e->out))) return rc;
  place_ellipsis(e, &e->out);
  for (int i = 0; i < e->out.n; i++) {
    if (e->size[e->out.id[i]] < 0) return ferry_kernel_fail(k, "output label is not in any input");
    for (int j = 0; j < i; j++)
      if (e->out.id[j] == e->out.id[i]) return ferry_kernel_fail(k, "output label repeats");
  }
  return FERRY_OK;
}

/* ---- the general loop ---- */

typedef struct eloop {
  int n_loop;                           /* output ids, then summed ids */
  int n_out;
  int64_t size[2 * FERRY_MAX_RANK + EIN_IDS];
  int64_t stride[EIN_MAX_IN][2 * FERRY_MAX_RANK + EIN_IDS];
} eloop;

/* Loop ids: the output's, then every other id of the inputs; each
 * operand's stride per loop id (summed over repeats: diagonals; 0 where
 * its dim is 1 and broadcasts). */
static void make_loop(const ferry_kctx *k, const ein *e, eloop *L) {
  int ids[EIN_IDS], n = 0, in_out[EIN_IDS] = {0};
  memset(L, 0, sizeof *L);
  for (int i = 0; i < e->out.n; i++) ids[n++] = e->out.id[i], in_out[e->out.id[i]] = 1;
  L->n_out = n;
  for (int id = 0; id < EIN_IDS; id++)
    if (e->used[id] && !in_out[id]) ids[n++] = id;
  L->n_loop = n;
  for (int l = 0; l < n; l++) L->size[l] = e->size[ids[l]];
  for (int i = 0; i < e->n_in; i++) {
    int64_t st[FERRY_MAX_RANK];
    ferry_strides(k->in[i].rank, k->in[i].dims, st);
    for (int d = 0; d < e->t[i].n; d++)
      for (int l = 0; l < n; l++)
        if (ids[l] == e->t[i].id[d] && k->in[i].dims[d] != 1) L->stride[i][l] += st[d];
  }
}

static int einsum_loop(ferry_kctx *k, const ein *e) {
  eloop L;
  make_loop(k, e, &L);
  ferry_tview *o = &k->out[0];
  int dt = o->dtype, is_float = ferry_dtype_is_float(dt);
  int64_t idx[2 * FERRY_MAX_RANK + EIN_IDS], off[EIN_MAX_IN], n_sum = 1;
  for (int l = L.n_out; l < L.n_loop; l++) {
    if (L.size[l] && n_sum > INT64_MAX / L.size[l]) return ferry_kernel_fail(k, "the sum is too large");
    n_sum *= L.size[l];
  }
  memset(idx, 0, sizeof idx);
  memset(off, 0, sizeof off);
  for (int64_t oi = 0; oi < o->numel; oi++) {
    double acc = 0;
    uint64_t iacc = 0;
    for (int64_t si = 0; si < n_sum; si++) {
      double p = 1;
      uint64_t ip = 1;
      for (int i = 0; i < e->n_in; i++) {
        if (is_float)
          p *= ferry_load_f64(k->in[i].data, dt, off[i]);
        else
          ip *= (uint64_t)ferry_load_i64(k->in[i].data, dt, off[i]);
      }
      acc += p, iacc += ip;
      for (int l = L.n_loop - 1; l >= L.n_out; l--) { /* next summed index */
        for (int i = 0; i < e->n_in; i++) off[i] += L.stride[i][l];
        if (++idx[l] < L.size[l]) break;
        for (int i = 0; i < e->n_in; i++) off[i] -= L.stride[i][l] * L.size[l];
        idx[l] = 0;
      }
    }
    if (is_float)
      ferry_store_f64(o->data, dt, oi, acc);
    else
      ferry_store_i64(o->data, dt, oi, (int64_t)iacc);
    for (int l = L.n_out - 1; l >= 0; l--) { /* next output index */
      for (int i = 0; i < e->n_in; i++) off[i] += L.stride[i][l];
      if (++idx[l] < L.size[l]) break;
      for (int i = 0; i < e->n_in; i++) off[i] -= L.stride[i][l] * L.size[l];
      idx[l] = 0;
    }
  }
  return FERRY_OK;
}

/* ---- two float32 operands as a batched GEMM ---- */

typedef struct eplan {
  int nb, nm, nn, nk;
  int b[FERRY_MAX_RANK], m[FERRY_MAX_RANK], n[FERRY_MAX_RANK], kk[FERRY_MAX_RANK];
  int64_t B, M, N, K;
} eplan;

static int in_term(const eterm *t, int id) {
  for (int i = 0; i < t->n; i++)
    if (t->id[i] == id) return 1;
  return 0;
}

/* 1 when the product fits the GEMM path (plan filled). */
static int plan_gemm(const ferry_kctx *k, const ein *e, eplan *p) {
  memset(p, 0, sizeof *p);
  if (e->n_in != 2 || k->in[0].dtype != FERRY_F32 || k->in[1].dtype != FERRY_F32) return 0;
  for (int i = 0; i < 2; i++)
    for (int d = 0; d < e->t[i].n; d++) {
      if (k->in[i].dims[d] != e->size[e->t[i].id[d]]) return 0; /* broadcasting */
      for (int d2 = 0; d2 < d; d2++)
        if (e->t[i].id[d2] == e->t[i].id[d]) return 0; /* diagonal */
    }
  const eterm *a = &e->t[0], *b = &e->t[1], *o = &e->out;
  p->B = p->M = p->N = p->K = 1;
  for (int i = 0; i < o->n; i++) {
    int id = o->id[i], ia = in_term(a, id), ib = in_term(b, id);
    if (ia && ib) p->b[p->nb++] = id, p->B *= e->size[id];
    else if (ia) p->m[p->nm++] = id, p->M *= e->size[id];
    else p->n[p->nn++] = id, p->N *= e->size[id];
  }
  for (int i = 0; i < a->n; i++) {
    int id = a->id[i];
    if (in_term(o, id)) continue;
    if (!in_term(b, id)) return 0; /* summed from A alone */
    p->kk[p->nk++] = id, p->K *= e->size[id];
  }
  for (int i = 0; i < b->n; i++)
    if (!in_term(o, b->id[i]) && !in_term(a, b->id[i])) return 0;
  return 1;
}

/* 1 when term t is exactly the id groups g0, g1, g2 in order. */
static int term_is(const eterm *t, const int *g0, int n0, const int *g1, int n1, const int *g2, int n2) {
  if (t->n != n0 + n1 + n2) return 0;
  for (int i = 0; i < n0; i++)
    if (t->id[i] != g0[i]) return 0;
  for (int i = 0; i < n1; i++)
    if (t->id[n0 + i] != g1[i]) return 0;
  for (int i = 0; i < n2; i++)
    if (t->id[n0 + n1 + i] != g2[i]) return 0;
  return 1;
}

/* dst = src (dims of term t) permuted to the id order `want`. */
static void permute(const ein *e, const eterm *t, const float *src, const int *want, int n, float *dst) {
  int64_t st[FERRY_MAX_RANK], dims[FERRY_MAX_RANK], pst[FERRY_MAX_RANK], idx[FERRY_MAX_RANK] = {0}, total = 1;
  int64_t tdims[FERRY_MAX_RANK];
  for (int d = 0; d < t->n; d++) tdims[d] = e->size[t->id[d]];
  ferry_strides(t->n, tdims, st);
  for (int i = 0; i < n; i++) {
    dims[i] = e->size[want[i]];
    total *= dims[i];
    for (int d = 0; d < t->n; d++)
      if (t->id[d] == want[i]) pst[i] = st[d];
  }
  int64_t off = 0;
  for (int64_t j = 0; j < total; j++) {
    dst[j] = src[off];
    for (int i = n - 1; i >= 0; i--) {
      off += pst[i];
      if (++idx[i] < dims[i]) break;
      off -= pst[i] * dims[i];
      idx[i] = 0;
    }
  }
}

static void cat3(int *dst, const int *a, int na, const int *b, int nb, const int *c, int nc) {
  memcpy(dst, a, (size_t)na * sizeof *a);
  memcpy(dst + na, b, (size_t)nb * sizeof *b);
  memcpy(dst + na + nb, c, (size_t)nc * sizeof *c);
}

typedef struct estrides {
  int64_t a, b, c;
} estrides;

static void ein_offsets(const void *ctx, int64_t bi, int64_t *ao, int64_t *bo, int64_t *co) {
  const estrides *s = ctx;
  *ao = bi * s->a, *bo = bi * s->b, *co = bi * s->c;
}

/* A operand as a batch of M x K matrices: in place (maybe transposed) or
 * permuted into scratch. */
static const float *gemm_operand(ferry_kctx *k, const ein *e, const eterm *t, const float *x, const int *bt, int nb,
                                 const int *rows, int nr, int64_t R, const int *cols, int nc, int64_t Ccount,
                                 ferry_fmat *m) {
  if (term_is(t, bt, nb, rows, nr, cols, nc)) {
    *m = (ferry_fmat){x, Ccount, 1};
    return x;
  }
  if (term_is(t, bt, nb, cols, nc, rows, nr)) {
    *m = (ferry_fmat){x, 1, R};
    return x;
  }
  int want[FERRY_MAX_RANK];
  cat3(want, bt, nb, rows, nr, cols, nc);
  int64_t total = R * Ccount;
  for (int i = 0; i < nb; i++) total *= e->size[bt[i]];
  float *dst = ferry_linalg_scratch(k, (size_t)total * sizeof(float));
  if (!dst) return NULL;
  permute(e, t, x, want, nb + nr + nc, dst);
  *m = (ferry_fmat){dst, Ccount, 1};
  return dst;
}

static int einsum_gemm(ferry_kctx *k, const ein *e, const eplan *p) {
  ferry_fmat A, B;
  if (!gemm_operand(k, e, &e->t[0], k->in[0].data, p->b, p->nb, p->m, p->nm, p->M, p->kk, p->nk, p->K, &A) ||
      !gemm_operand(k, e, &e->t[1], k->in[1].data, p->b, p->nb, p->kk, p->nk, p->K, p->n, p->nn, p->N, &B))
    return FERRY_E_SYSTEM;
  ferry_tview *o = &k->out[0];
  int direct = term_is(&e->out, p->b, p->nb, p->m, p->nm, p->n, p->nn);
  float *C = direct ? o->data : ferry_linalg_scratch(k, (size_t)o->numel * sizeof(float));
  if (!C) return FERRY_E_SYSTEM;
  ferry_gemm_epi epi;
  ferry_gemm_epi_init(&epi);
  estrides s = {p->M * p->K, p->K * p->N, p->M * p->N};
  int rc = ferry_sgemm_batch(k, p->B, ein_offsets, &s, p->M, p->N, p->K, A, B, C, p->N, &epi);
  if (rc || direct) return rc;
  /* C holds [batch, m, n]: permute it to the output's order */
  eterm ct;
  ct.n = p->nb + p->nm + p->nn;
  cat3(ct.id, p->b, p->nb, p->m, p->nm, p->n, p->nn);
  permute(e, &ct, C, e->out.id, e->out.n, o->data);
  return FERRY_OK;
}

int ferry_kernel_Einsum(ferry_kctx *k) {
  ein e;
  eplan p;
  if (k->n_in < 1) return ferry_kernel_fail(k, "Einsum needs an input");
  int rc = parse(k, &e);
  if (rc) return rc;
  for (int i = 1; i < k->n_in; i++)
    if (k->in[i].dtype != k->in[0].dtype) return ferry_kernel_fail(k, "inputs have different dtypes");
  int64_t od[FERRY_MAX_RANK];
  for (int i = 0; i < e.out.n; i++) od[i] = e.size[e.out.id[i]];
  if ((rc = ferry_linalg_output(k, 0, k->in[0].dtype, e.out.n, od))) return rc;
  if (!k->out[0].numel) return FERRY_OK;
  if (plan_gemm(k, &e, &p)) return einsum_gemm(k, &e, &p);
  return einsum_loop(k, &e);
}
