/*
 * symdims.c - the symbolic dimops (the contract is in symdims.h).
 *
 * Every constructor maps to dim.h; mul() also records product -> factors
 * in a small open-addressing table (`mulrec`). div() by a non-constant
 * flattens both operands into their recorded factors, cancels equal ones
 * (or ones that are integer multiples of each other, found by evaluating
 * at a point and confirmed structurally), and accepts the quotient only
 * when quotient * divisor rebuilds the dividend exactly.
 */
#include "symdims.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct mulrec {
  ferry_dim prod, a, b;
} mulrec;

struct ferry_symdims {
  ferry_dimops D;
  ferry_dimctx *dc;
  mulrec *rec; /* open-addressing table keyed by prod */
  size_t cap, n;
  int oom;
};

typedef struct ferry_symdims symops;

#define H(d) FERRY_SDIM(d)
#define P(h) FERRY_DIM(h)

static ferry_sdim checked(symops *s, ferry_dim d) {
  if (!d) s->oom = 1;
  return H(d);
}

static size_t rec_slot(const symops *s, ferry_dim p) {
  size_t i = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL & (s->cap - 1);
  while (s->rec[i].prod && s->rec[i].prod != p) i = (i + 1) & (s->cap - 1);
  return i;
}

static void rec_grow(symops *s) {
  size_t cap = s->cap ? 2 * s->cap : 256;
  mulrec *old = s->rec, *nw = calloc(cap, sizeof *nw);
  size_t ocap = s->cap;
  if (!nw) return;
  s->rec = nw;
  s->cap = cap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].prod) s->rec[rec_slot(s, old[i].prod)] = old[i];
  free(old);
}

static const mulrec *rec_find(const symops *s, ferry_dim p) {
  if (!s->cap) return NULL;
  size_t i = rec_slot(s, p);
  return s->rec[i].prod ? &s->rec[i] : NULL;
}

/* Remembers p = a*b (the first factorization seen). */
static void rec_put(symops *s, ferry_dim p, ferry_dim a, ferry_dim b) {
  if (!p || p == a || p == b || ferry_dim_is_const(p, NULL)) return;
  if (2 * (s->n + 1) > s->cap) rec_grow(s);
  if (2 * (s->n + 1) > s->cap) return;
  size_t i = rec_slot(s, p);
  if (s->rec[i].prod) return;
  s->rec[i] = (mulrec){p, a, b};
  s->n++;
}

static ferry_sdim op_konst(void *c, int64_t v) { return checked(c, ferry_dim_const(((symops *)c)->dc, v)); }
static ferry_sdim op_add(void *c, ferry_sdim a, ferry_sdim b) { return checked(c, ferry_dim_add(((symops *)c)->dc, P(a), P(b))); }
static ferry_sdim op_sub(void *c, ferry_sdim a, ferry_sdim b) { return checked(c, ferry_dim_sub(((symops *)c)->dc, P(a), P(b))); }
static ferry_sdim op_mod(void *c, ferry_sdim a, ferry_sdim b) { return checked(c, ferry_dim_mod(((symops *)c)->dc, P(a), P(b))); }
static ferry_sdim op_min(void *c, ferry_sdim a, ferry_sdim b) { return checked(c, ferry_dim_min(((symops *)c)->dc, P(a), P(b))); }
static ferry_sdim op_max(void *c, ferry_sdim a, ferry_sdim b) { return checked(c, ferry_dim_max(((symops *)c)->dc, P(a), P(b))); }
static ferry_sdim op_fresh(void *c) { return checked(c, ferry_dim_fresh(((symops *)c)->dc)); }
static int op_is_const(void *c, ferry_sdim a, int64_t *v) { (void)c; return ferry_dim_is_const(P(a), v); }

static ferry_sdim op_mul(void *c, ferry_sdim a, ferry_sdim b) {
  symops *s = c;
  ferry_dim p = ferry_dim_mul(s->dc, P(a), P(b));
  rec_put(s, p, P(a), P(b));
  return checked(s, p);
}

/* The factors of d as remembered: constants multiplied into *k, the rest
 * appended to f[]; returns the new count, -1 when over cap. */
static int flatten(const symops *s, ferry_dim d, ferry_dim *f, int n, int cap, int64_t *k) {
  int64_t v;
  const mulrec *r;
  if (ferry_dim_is_const(d, &v)) {
    if (__builtin_mul_overflow(*k, v, k)) return -1;
    return n;
  }
  if ((r = rec_find(s, d))) {
    n = flatten(s, r->a, f, n, cap, k);
    return n < 0 ? n : flatten(s, r->b, f, n, cap, k);
  }
  if (n >= cap) return -1;
  f[n] = d;
  return n + 1;
}

static int bind_seven(void *u, const char *name, int64_t *v) {
  (void)name;
  *v = *(int64_t *)u;
  return 0;
}

/* 1 and *k when n == k*d for an integer k (checked by evaluating both with
 * every symbol at 7 and 11, then confirmed structurally). */
static int const_ratio(symops *s, ferry_dim n, ferry_dim d, int64_t *k) {
  int64_t x, y, at = 7;
  if (ferry_dim_eval(n, bind_seven, &at, &x) || ferry_dim_eval(d, bind_seven, &at, &y) || !y ||
      x % y)
    return 0;
  *k = x / y;
  return ferry_dim_mul(s->dc, ferry_dim_const(s->dc, *k), d) == n;
}

/* a / b exactly, by cancelling b's factors in a's; NULL when it does not. */
static ferry_dim exact_div(symops *s, ferry_dim a, ferry_dim b) {
  ferry_dim fa[64], fb[64];
  int64_t ka = 1, kb = 1, r = 1;
  int na = flatten(s, a, fa, 0, 64, &ka), nb = flatten(s, b, fb, 0, 64, &kb);
  if (na < 0 || nb < 0) return NULL;
  for (int j = 0; j < nb; j++) {
    int i = 0;
    while (i < na && fa[i] != fb[j]) i++;
    if (i == na) { /* try a leaf that is a multiple of it */
      for (i = 0; i < na && !const_ratio(s, fa[i], fb[j], &r); i++) {}
      if (i == na || __builtin_mul_overflow(ka, r, &ka)) return NULL;
    }
    fa[i] = fa[--na];
  }
  ferry_dim q = ferry_dim_const(s->dc, ka);
  for (int i = 0; i < na; i++) q = ferry_dim_mul(s->dc, q, fa[i]);
  q = ferry_dim_div(s->dc, q, ferry_dim_const(s->dc, kb));
  return ferry_dim_mul(s->dc, q, b) == a ? q : NULL;
}

static ferry_sdim op_div(void *c, ferry_sdim a, ferry_sdim b) {
  symops *s = c;
  ferry_dim q = ferry_dim_is_const(P(b), NULL) ? NULL : exact_div(s, P(a), P(b));
  return checked(s, q ? q : ferry_dim_div(s->dc, P(a), P(b)));
}

ferry_symdims *ferry_symdims_new(ferry_dimctx *dc) {
  symops *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dc = dc;
  s->D = (ferry_dimops){s, op_konst, op_add, op_sub, op_mul, op_div, op_mod, op_min, op_max,
                        op_is_const, op_fresh};
  return s;
}

void ferry_symdims_free(ferry_symdims *s) {
  if (!s) return;
  free(s->rec);
  free(s);
}

const ferry_dimops *ferry_symdims_ops(const ferry_symdims *s) { return &s->D; }

int ferry_symdims_oom(const ferry_symdims *s) { return s->oom; }

