/*
 * dim.c - symbolic dimensions (the contract is in dim.h).
 *
 * Representation. Every expression is a node of one kind:
 *
 *   CONST              an int64 value                          7
 *   SYM                a named symbol                          batch
 *   DIV MOD MIN MAX    opaque binary "atoms" over canonical    (s + 1) / 2
 *                      operands
 *   MUL                a product of >= 2 atoms, sorted,        s*t, s*s
 *                      coefficient 1 (a "monomial")
 *   SUM                c + sum(coef_i * mono_i): mono_i is an  2*s + t - 1
 *                      atom or a MUL, strictly sorted, coef_i != 0
 *
 * A SUM node is made only when the value is not already a CONST, an atom or
 * a MUL (so "s" is never SUM{1*s}, but "2*s" is SUM{2*s}). Orders are
 * structural (symbol names, values, operands), never pointer addresses, so
 * the form and its printing are the same on every run.
 *
 * Hash-consing. All nodes live in the context's hash table, keyed by their
 * structure (kind, value, name, operand pointers, terms). Operands are
 * themselves interned, so comparing operand pointers is comparing structure,
 * and a canonical expression exists once: equal pointers <=> equal dims.
 *
 * Arithmetic. add/sub/mul unpack their operands into a `struct poly` (a term
 * array plus a constant), combine them (mul distributes), then poly_finish()
 * sorts, merges like terms, drops zeros and interns the result. Div and mod
 * by a constant k split a = k*Q + R (Q: the terms whose coefficient k
 * divides, and floor(c/k); R: the rest, constant reduced to floor mod k), so
 * a/k = Q + R/k and a mod k = R mod k; anything else becomes an atom.
 *
 * Overflow. Constant arithmetic uses __builtin_*_overflow. When a coefficient
 * or constant of add/sub/mul (or subst) would overflow int64, the
 * constructor returns NULL, like running out of memory. Div/mod whose
 * constant folding would overflow (INT64_MIN / -1) stay unfolded as atoms.
 * Eval returns -1 on overflow as well as for unbound symbols and x/0, x%0.
 * Division or mod by a zero constant is kept as an atom (eval gives -1).
 */
#include "dim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Also the order between kinds: constants last, as in "min(a, 5)". */
enum kind { K_SYM, K_DIV, K_MOD, K_MIN, K_MAX, K_MUL, K_SUM, K_CONST };

/* A SUM term (coef * mono), or a MUL factor (c == 1, m an atom). */
struct term {
  int64_t c;
  ferry_dim m;
};

/* A node. One on the stack, pointing at outside terms or name, is the key
 * that intern() looks up, and copies (terms and name too) when new. */
struct ferry_dexpr {
  struct ferry_dexpr *next; /* hash-chain link */
  uint64_t hash;
  enum kind kind;
  int64_t v;            /* CONST value; SUM constant */
  const char *name;     /* SYM */
  ferry_dim a, b;       /* DIV MOD MIN MAX operands */
  size_t n;             /* number of terms: MUL factors, SUM terms */
  const struct term *t; /* the terms */
};

struct ferry_dimctx {
  struct ferry_dexpr **bucket;
  size_t nbucket; /* a power of two */
  size_t count;
  uint64_t fresh; /* next N to try for "unk__N" */
};

/* ---- integer helpers -------------------------------------------------- */

/* Floor division (Python //): 1 and *q set, or 0 for b == 0 or overflow. */
static int floor_div(int64_t a, int64_t b, int64_t *q) {
  if (b == 0 || (b == -1 && a == INT64_MIN)) return 0;
  *q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) (*q)--;
  return 1;
}

/* Floor mod (Python %, sign of the divisor); b must not be 0. */
static int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

/* 1 and *q = c / k when k divides c exactly without overflow, else 0. */
static int exact_div(int64_t c, int64_t k, int64_t *q) {
  if (k == -1) return !__builtin_sub_overflow((int64_t)0, c, q);
  if (k == 0 || c % k != 0) return 0;
  *q = c / k;
  return 1;
}

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }
static int cmp_size(size_t a, size_t b) { return (a > b) - (a < b); }

/* ---- hash-consing ------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 32);
}

static uint64_t node_hash(const struct ferry_dexpr *k) {
  uint64_t h = mix(0xcbf29ce484222325ULL, (uint64_t)k->kind);
  h = mix(h, (uint64_t)k->v);
  for (const char *p = k->name; p && *p; p++) h = mix(h, (unsigned char)*p);
  h = mix(h, (uint64_t)(uintptr_t)k->a);
  h = mix(h, (uint64_t)(uintptr_t)k->b);
  for (size_t i = 0; i < k->n; i++) {
    h = mix(h, (uint64_t)k->t[i].c);
    h = mix(h, (uint64_t)(uintptr_t)k->t[i].m);
  }
  return h;
}

static int same(const struct ferry_dexpr *d, const struct ferry_dexpr *k) {
  if (d->kind != k->kind || d->v != k->v || d->a != k->a || d->b != k->b ||
      d->n != k->n)
    return 0;
  if (k->kind == K_SYM) return strcmp(d->name, k->name) == 0;
  for (size_t i = 0; i < k->n; i++)
    if (d->t[i].c != k->t[i].c || d->t[i].m != k->t[i].m) return 0;
  return 1;
}

static struct ferry_dexpr *find(const ferry_dimctx *ctx,
                                const struct ferry_dexpr *k, uint64_t h) {
  struct ferry_dexpr *d = ctx->bucket[h & (ctx->nbucket - 1)];
  for (; d; d = d->next)
    if (d->hash == h && same(d, k)) return d;
  return NULL;
}

/* Doubles the table; on failure keeps the old one (chains just get longer). */
static void grow(ferry_dimctx *ctx) {
  size_t nb = ctx->nbucket * 2;
  struct ferry_dexpr **b = calloc(nb, sizeof *b);
  if (!b) return;
  for (size_t i = 0; i < ctx->nbucket; i++) {
    struct ferry_dexpr *d = ctx->bucket[i], *next;
    for (; d; d = next) {
      next = d->next;
      d->next = b[d->hash & (nb - 1)];
      b[d->hash & (nb - 1)] = d;
    }
  }
  free(ctx->bucket);
  ctx->bucket = b;
  ctx->nbucket = nb;
}

/* The node for `k`, made if new; NULL when out of memory. */
static ferry_dim intern(ferry_dimctx *ctx, const struct ferry_dexpr *k) {
  uint64_t h = node_hash(k);
  struct ferry_dexpr *d = find(ctx, k, h);
  if (d) return d;
  if (ctx->count >= ctx->nbucket) grow(ctx);
  size_t terms = k->n * sizeof *k->t, name = k->name ? strlen(k->name) + 1 : 0;
  d = malloc(sizeof *d + terms + name); /* terms, then name, after the node */
  if (!d) return NULL;
  *d = *k;
  d->hash = h;
  d->t = terms ? memcpy(d + 1, k->t, terms) : NULL;
  d->name = name ? memcpy((char *)(d + 1) + terms, k->name, name) : NULL;
  d->next = ctx->bucket[h & (ctx->nbucket - 1)];
  ctx->bucket[h & (ctx->nbucket - 1)] = d;
  ctx->count++;
  return d;
}

ferry_dimctx *ferry_dimctx_new(void) {
  ferry_dimctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return NULL;
  ctx->nbucket = 64;
  ctx->bucket = calloc(ctx->nbucket, sizeof *ctx->bucket);
  if (!ctx->bucket) {
    free(ctx);
    return NULL;
  }
  return ctx;
}

void ferry_dimctx_free(ferry_dimctx *ctx) {
  if (!ctx) return;
  for (size_t i = 0; i < ctx->nbucket; i++) {
    struct ferry_dexpr *d = ctx->bucket[i], *next;
    for (; d; d = next) {
      next = d->next;
      free(d);
    }
  }
  free(ctx->bucket);
  free(ctx);
}

ferry_dim ferry_dim_const(ferry_dimctx *ctx, int64_t value) {
  struct ferry_dexpr k = {.kind = K_CONST, .v = value};
  return ctx ? intern(ctx, &k) : NULL;
}

ferry_dim ferry_dim_sym(ferry_dimctx *ctx, const char *name) {
  struct ferry_dexpr k = {.kind = K_SYM, .name = name};
  return ctx && name ? intern(ctx, &k) : NULL;
}

ferry_dim ferry_dim_fresh(ferry_dimctx *ctx) {
  char name[32];
  if (!ctx) return NULL;
  for (;;) {
    snprintf(name, sizeof name, "unk__%" PRIu64, ctx->fresh++);
    struct ferry_dexpr k = {.kind = K_SYM, .name = name};
    if (!find(ctx, &k, node_hash(&k))) return intern(ctx, &k);
  }
}

static ferry_dim atom2(ferry_dimctx *ctx, enum kind kind, ferry_dim a,
                       ferry_dim b) {
  struct ferry_dexpr k = {.kind = kind, .a = a, .b = b};
  return a && b ? intern(ctx, &k) : NULL;
}

/* ---- structural order --------------------------------------------------- */

static int node_cmp(ferry_dim x, ferry_dim y);

/* A monomial's factors: a MUL's own list, or the atom as a list of one. */
static const struct term *factors(ferry_dim m, size_t *n, struct term *one) {
  if (m->kind == K_MUL) {
    *n = m->n;
    return m->t;
  }
  *one = (struct term){1, m};
  *n = 1;
  return one;
}

/* Orders term lists: term by term (mono, then coefficient), then length. */
static int terms_cmp(const struct term *x, size_t nx, const struct term *y,
                     size_t ny) {
  for (size_t i = 0; i < nx && i < ny; i++) {
    int c = node_cmp(x[i].m, y[i].m);
    if (c || (c = cmp_i64(x[i].c, y[i].c)) != 0) return c;
  }
  return cmp_size(nx, ny);
}

/* Orders monomials by their factor lists (so s < s*s < t). */
static int mono_cmp(ferry_dim x, ferry_dim y) {
  struct term ox, oy;
  size_t nx, ny;
  const struct term *fx = factors(x, &nx, &ox), *fy = factors(y, &ny, &oy);
  return x == y ? 0 : terms_cmp(fx, nx, fy, ny);
}

/* A total order on canonical nodes; 0 only for the same node. */
static int node_cmp(ferry_dim x, ferry_dim y) {
  int c;
  if (x == y) return 0;
  if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
  switch (x->kind) {
  case K_CONST:
    return cmp_i64(x->v, y->v);
  case K_SYM:
    c = strcmp(x->name, y->name);
    return (c > 0) - (c < 0);
  case K_MUL:
  case K_SUM:
    c = terms_cmp(x->t, x->n, y->t, y->n);
    return c ? c : cmp_i64(x->v, y->v);
  default:
    c = node_cmp(x->a, y->a);
    return c ? c : node_cmp(x->b, y->b);
  }
}

static int term_cmp(const void *x, const void *y) {
  return mono_cmp(((const struct term *)x)->m, ((const struct term *)y)->m);
}

static int factor_cmp(const void *x, const void *y) {
  return node_cmp(((const struct term *)x)->m, ((const struct term *)y)->m);
}

/* ---- polynomials: the working form of add, sub, mul ------------------- */

struct poly {
  struct term *t;
  size_t n, cap;
  int64_t c;
};

static int poly_push(struct poly *p, int64_t c, ferry_dim m) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 8;
    struct term *t = realloc(p->t, cap * sizeof *t);
    if (!t) return -1;
    p->t = t;
    p->cap = cap;
  }
  p->t[p->n++] = (struct term){c, m};
  return 0;
}

/* Adds sign*d to p; -1 on overflow or out of memory. */
static int poly_add(struct poly *p, ferry_dim d, int64_t sign) {
  int64_t c;
  if (d->kind == K_CONST || d->kind == K_SUM) {
    if (__builtin_mul_overflow(d->v, sign, &c) ||
        __builtin_add_overflow(p->c, c, &p->c))
      return -1;
    if (d->kind == K_CONST) return 0;
    for (size_t i = 0; i < d->n; i++)
      if (__builtin_mul_overflow(d->t[i].c, sign, &c) ||
          poly_push(p, c, d->t[i].m))
        return -1;
    return 0;
  }
  return poly_push(p, sign, d);
}

/* Sorts and merges p's terms, drops zeros, interns the result; frees p. */
static ferry_dim poly_finish(ferry_dimctx *ctx, struct poly *p) {
  ferry_dim r = NULL;
  size_t out = 0;
  if (p->n) qsort(p->t, p->n, sizeof *p->t, term_cmp);
  for (size_t i = 0; i < p->n; i++) { /* merge like terms */
    if (out && p->t[out - 1].m == p->t[i].m) {
      if (__builtin_add_overflow(p->t[out - 1].c, p->t[i].c, &p->t[out - 1].c))
        goto done;
    } else {
      p->t[out++] = p->t[i];
    }
  }
  p->n = 0;
  for (size_t i = 0; i < out; i++) /* drop zeros */
    if (p->t[i].c != 0) p->t[p->n++] = p->t[i];
  if (p->n == 0)
    r = ferry_dim_const(ctx, p->c);
  else if (p->n == 1 && p->t[0].c == 1 && p->c == 0)
    r = p->t[0].m;
  else
    r = intern(ctx, &(struct ferry_dexpr){
                        .kind = K_SUM, .v = p->c, .n = p->n, .t = p->t});
done:
  free(p->t);
  *p = (struct poly){0};
  return r;
}

static ferry_dim add_signed(ferry_dimctx *ctx, ferry_dim a, ferry_dim b,
                            int64_t sign) {
  struct poly p = {0};
  if (!ctx || !a || !b || poly_add(&p, a, 1) || poly_add(&p, b, sign)) {
    free(p.t);
    return NULL;
  }
  return poly_finish(ctx, &p);
}

ferry_dim ferry_dim_add(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return add_signed(ctx, a, b, 1);
}

ferry_dim ferry_dim_sub(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return add_signed(ctx, a, b, -1);
}

/* The product of two monomials: their factor lists merged, as a MUL. */
static ferry_dim mono_mul(ferry_dimctx *ctx, ferry_dim x, ferry_dim y) {
  struct term ox, oy;
  size_t nx, ny;
  const struct term *fx = factors(x, &nx, &ox), *fy = factors(y, &ny, &oy);
  struct term *t = malloc((nx + ny) * sizeof *t);
  if (!t) return NULL;
  memcpy(t, fx, nx * sizeof *t);
  memcpy(t + nx, fy, ny * sizeof *t);
  qsort(t, nx + ny, sizeof *t, factor_cmp);
  ferry_dim r =
      intern(ctx, &(struct ferry_dexpr){.kind = K_MUL, .n = nx + ny, .t = t});
  free(t);
  return r;
}

/* Term i of p, where i == p->n stands for the constant (mono NULL). */
static struct term term_at(const struct poly *p, size_t i) {
  return i < p->n ? p->t[i] : (struct term){p->c, NULL};
}

ferry_dim ferry_dim_mul(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  struct poly pa = {0}, pb = {0}, r = {0};
  ferry_dim res = NULL;
  if (!ctx || !a || !b || poly_add(&pa, a, 1) || poly_add(&pb, b, 1)) goto out;
  for (size_t i = 0; i <= pa.n; i++) {
    for (size_t j = 0; j <= pb.n; j++) {
      struct term x = term_at(&pa, i), y = term_at(&pb, j);
      int64_t c;
      if (__builtin_mul_overflow(x.c, y.c, &c)) goto out;
      if (c == 0) continue;
      if (!x.m && !y.m) {
        r.c = c;
        continue;
      }
      ferry_dim m = !x.m ? y.m : !y.m ? x.m : mono_mul(ctx, x.m, y.m);
      if (!m || poly_push(&r, c, m)) goto out;
    }
  }
  res = poly_finish(ctx, &r);
out:
  free(pa.t);
  free(pb.t);
  free(r.t);
  return res;
}

/* ---- div, mod, min, max ------------------------------------------------ */

/* a / k or a mod k for a constant k != 0, via a = k*Q + R; constants fold. */
static ferry_dim divmod_const(ferry_dimctx *ctx, enum kind kind, ferry_dim a,
                              ferry_dim b, int64_t k) {
  struct poly p = {0}, q = {0}, r = {0};
  ferry_dim res = NULL, qd, rd;
  if (poly_add(&p, a, 1)) goto out;
  for (size_t i = 0; i < p.n; i++) {
    int64_t e;
    int div = exact_div(p.t[i].c, k, &e);
    if (div ? poly_push(&q, e, p.t[i].m) : poly_push(&r, p.t[i].c, p.t[i].m))
      goto out;
  }
  if (!floor_div(p.c, k, &q.c)) {
    res = atom2(ctx, kind, a, b); /* INT64_MIN / -1: leave it */
    goto out;
  }
  r.c = floor_mod(p.c, k);
  qd = poly_finish(ctx, &q);
  rd = poly_finish(ctx, &r);
  if (!qd || !rd) goto out;
  if (rd->kind == K_CONST) /* 0 <= R < k (or k < R <= 0): R/k is 0 */
    res = kind == K_MOD ? rd : qd;
  else if (kind == K_MOD)
    res = atom2(ctx, K_MOD, rd, b);
  else if (qd->kind == K_CONST && qd->v == 0)
    res = atom2(ctx, K_DIV, rd, b);
  else
    res = ferry_dim_add(ctx, qd, atom2(ctx, K_DIV, rd, b));
out:
  free(p.t);
  free(q.t);
  free(r.t);
  return res;
}

static ferry_dim div_mod(ferry_dimctx *ctx, enum kind kind, ferry_dim a,
                         ferry_dim b) {
  int64_t k;
  if (!ctx || !a || !b) return NULL;
  if (!ferry_dim_is_const(b, &k) || k == 0) return atom2(ctx, kind, a, b);
  if (kind == K_MOD && (k == 1 || k == -1)) return ferry_dim_const(ctx, 0);
  return divmod_const(ctx, kind, a, b, k);
}

ferry_dim ferry_dim_div(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return div_mod(ctx, K_DIV, a, b);
}

ferry_dim ferry_dim_mod(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return div_mod(ctx, K_MOD, a, b);
}

/* Min or max: equal operands, or a constant difference, pick one. */
static ferry_dim min_max(ferry_dimctx *ctx, enum kind kind, ferry_dim a,
                         ferry_dim b) {
  int64_t d, x, y;
  if (!ctx || !a || !b) return NULL;
  if (a == b) return a;
  if (ferry_dim_is_const(a, &x) && ferry_dim_is_const(b, &y))
    return (x <= y) == (kind == K_MIN) ? a : b;
  /* a - b may fail (overflow, memory): then just keep the atom. */
  if (ferry_dim_is_const(ferry_dim_sub(ctx, a, b), &d))
    return (d <= 0) == (kind == K_MIN) ? a : b;
  if (node_cmp(a, b) > 0) {
    ferry_dim t = a;
    a = b;
    b = t;
  }
  return atom2(ctx, kind, a, b);
}

ferry_dim ferry_dim_min(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return min_max(ctx, K_MIN, a, b);
}

ferry_dim ferry_dim_max(ferry_dimctx *ctx, ferry_dim a, ferry_dim b) {
  return min_max(ctx, K_MAX, a, b);
}

/* ---- queries ----------------------------------------------------------- */

int ferry_dim_is_const(ferry_dim d, int64_t *value) {
  if (!d || d->kind != K_CONST) return 0;
  if (value) *value = d->v;
  return 1;
}

const char *ferry_dim_sym_name(ferry_dim d) {
  return d && d->kind == K_SYM ? d->name : NULL;
}

/* ---- printing ---------------------------------------------------------- */

/* Binding levels: a node printed where a tighter level is needed gets
 * parentheses. Operands of * and the right of / need P_ATOM. */
enum { P_SUM, P_PROD, P_ATOM };

struct out {
  char *buf;
  size_t n, len;
};

static void put(struct out *o, const char *s) {
  for (; *s; s++, o->len++)
    if (o->len + 1 < o->n) o->buf[o->len] = *s;
}

static void put_u64(struct out *o, uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%" PRIu64, v);
  put(o, b);
}

static int level(ferry_dim d) {
  switch (d->kind) {
  case K_CONST:
    return d->v < 0 ? P_PROD : P_ATOM;
  case K_SUM:
    return d->n == 1 && d->v == 0 ? P_PROD : P_SUM;
  case K_MUL:
  case K_DIV:
  case K_MOD:
    return P_PROD;
  default:
    return P_ATOM;
  }
}

static void print(struct out *o, ferry_dim d, int need);

/* A monomial as a factor of a product ("2*" or "-" before it). */
static void print_factor(struct out *o, ferry_dim m) {
  print(o, m, m->kind == K_MUL ? P_PROD : P_ATOM);
}

static void print_sum(struct out *o, ferry_dim d) {
  for (size_t i = 0; i <= d->n; i++) {
    int64_t c = i < d->n ? d->t[i].c : d->v;
    uint64_t mag = c < 0 ? (uint64_t)0 - (uint64_t)c : (uint64_t)c;
    if (i == d->n && c == 0) break;
    if (i)
      put(o, c < 0 ? " - " : " + ");
    else if (c < 0)
      put(o, "-");
    if (i == d->n) {
      put_u64(o, mag);
    } else if (mag != 1) {
      put_u64(o, mag);
      put(o, "*");
      print_factor(o, d->t[i].m);
    } else if (i == 0 && c < 0) {
      print_factor(o, d->t[i].m);
    } else {
      print(o, d->t[i].m, P_PROD);
    }
  }
}

static void print(struct out *o, ferry_dim d, int need) {
  char b[24];
  int paren = level(d) < need;
  if (paren) put(o, "(");
  switch (d->kind) {
  case K_CONST:
    snprintf(b, sizeof b, "%" PRId64, d->v);
    put(o, b);
    break;
  case K_SYM:
    put(o, d->name);
    break;
  case K_MUL:
    for (size_t i = 0; i < d->n; i++) {
      if (i) put(o, "*");
      print(o, d->t[i].m, P_ATOM);
    }
    break;
  case K_SUM:
    print_sum(o, d);
    break;
  case K_DIV:
  case K_MOD:
    print(o, d->a, P_PROD);
    put(o, d->kind == K_DIV ? " / " : " % ");
    print(o, d->b, P_ATOM);
    break;
  case K_MIN:
  case K_MAX:
    put(o, d->kind == K_MIN ? "min(" : "max(");
    print(o, d->a, P_SUM);
    put(o, ", ");
    print(o, d->b, P_SUM);
    put(o, ")");
    break;
  }
  if (paren) put(o, ")");
}

size_t ferry_dim_str(ferry_dim d, char *buf, size_t n) {
  struct out o = {buf, buf ? n : 0, 0};
  if (d)
    print(&o, d, P_SUM);
  else
    put(&o, "(null)");
  if (o.n) o.buf[o.len < o.n ? o.len : o.n - 1] = '\0';
  return o.len;
}

/* ---- eval and subst ---------------------------------------------------- */

int ferry_dim_eval(ferry_dim d, ferry_dim_lookup lookup, void *user,
                   int64_t *value) {
  int64_t x, y, acc;
  if (!d || !value) return -1;
  switch (d->kind) {
  case K_CONST:
    *value = d->v;
    return 0;
  case K_SYM:
    return lookup && lookup(user, d->name, value) == 0 ? 0 : -1;
  case K_MUL:
  case K_SUM:
    acc = d->kind == K_MUL ? 1 : d->v;
    for (size_t i = 0; i < d->n; i++) {
      if (ferry_dim_eval(d->t[i].m, lookup, user, &x) ||
          __builtin_mul_overflow(x, d->t[i].c, &x) ||
          (d->kind == K_MUL ? __builtin_mul_overflow(acc, x, &acc)
                            : __builtin_add_overflow(acc, x, &acc)))
        return -1;
    }
    *value = acc;
    return 0;
  default:
    break;
  }
  if (ferry_dim_eval(d->a, lookup, user, &x) ||
      ferry_dim_eval(d->b, lookup, user, &y))
    return -1;
  if (d->kind == K_DIV) return floor_div(x, y, value) ? 0 : -1;
  if (d->kind == K_MOD && y == 0) return -1;
  *value = d->kind == K_MOD   ? floor_mod(x, y)
           : d->kind == K_MIN ? (x < y ? x : y)
                              : (x > y ? x : y);
  return 0;
}

ferry_dim ferry_dim_subst(ferry_dimctx *ctx, ferry_dim d,
                          ferry_dim_lookup lookup, void *user) {
  ferry_dim acc, x, y;
  int64_t v;
  if (!ctx || !d) return NULL;
  switch (d->kind) {
  case K_CONST:
    return d;
  case K_SYM:
    return lookup && lookup(user, d->name, &v) == 0 ? ferry_dim_const(ctx, v)
                                                    : d;
  case K_MUL:
  case K_SUM:
    acc = ferry_dim_const(ctx, d->kind == K_MUL ? 1 : d->v);
    for (size_t i = 0; i < d->n; i++) {
      ferry_dim t =
          ferry_dim_mul(ctx, ferry_dim_const(ctx, d->t[i].c),
                        ferry_dim_subst(ctx, d->t[i].m, lookup, user));
      acc = d->kind == K_MUL ? ferry_dim_mul(ctx, acc, t)
                             : ferry_dim_add(ctx, acc, t);
    }
    return acc;
  default:
    x = ferry_dim_subst(ctx, d->a, lookup, user);
    y = ferry_dim_subst(ctx, d->b, lookup, user);
    return d->kind == K_DIV || d->kind == K_MOD ? div_mod(ctx, d->kind, x, y)
                                                : min_max(ctx, d->kind, x, y);
  }
}
