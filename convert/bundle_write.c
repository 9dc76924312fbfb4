/*
 * bundle_write.c - the IR -> .ferry bundle writer (bundle.h,
 * docs/bundle-format.md).
 *
 * Steps:
 *   1. list the graphs parent first (preorder over subgraph attributes);
 *   2. serialize METADATA and GRAPH into memory, interning every string in
 *      the string table, every symbol in the symbol table and every tensor
 *      (by pointer, so a Constant's value and its node's attribute share
 *      one entry) in the tensor table;
 *   3. lay the tensors out over shards (a tensor never straddles two; one
 *      larger than the limit gets a shard of its own), build TENSORS;
 *   4. deflate the small sections when asked (kept raw when that does not
 *      shrink them, so shard 0 never outgrows its estimate);
 *   5. write each shard to a temporary file (header and table first as
 *      zeros, then the sections, then the real header once the DATA CRC is
 *      known), fsync, and rename all of them into place at the end.
 *
 * Dims: dim.h keeps expressions opaque, so a dim is serialized from its
 * canonical text (ferry_dim_str) by a small parser that knows the printer's
 * grammar (+ - * / % min() max(), parentheses, unary minus) and the
 * expression's own symbol names (found through ferry_dim_eval's lookup
 * callback, so names with odd characters parse as one symbol). The program
 * is then rebuilt with dim.h's constructors and must give back the very
 * same (hash-consed) dim, so a dim is never written wrong: a mismatch is
 * an error. Programs are cached per dim pointer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bundle_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle.h"

#ifdef PACKAGE_VERSION
#define FERRY_VERSION_STR PACKAGE_VERSION
#else
#define FERRY_VERSION_STR "unknown"
#endif

/* ---- growable byte buffers ---- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} buf;

static void put(buf *b, const void *src, size_t n) {
  if (b->oom)
    return;
  if (b->cap - b->n < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
      if (cap > SIZE_MAX / 2) {
        b->oom = 1;
        return;
      }
      cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, x, 4);
}
static void put_i32(buf *b, int32_t v) { put_u32(b, (uint32_t)v); }
static void put_u64(buf *b, uint64_t v) {
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}
static void put_i64(buf *b, int64_t v) { put_u64(b, (uint64_t)v); }
static void put_f32(buf *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_u32(b, u);
}

static void set_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void set_u64(uint8_t *p, uint64_t v) {
  set_u32(p, (uint32_t)v);
  set_u32(p + 4, (uint32_t)(v >> 32));
}

/* ---- hash tables: uint64 key -> int64 value (key 0 unused) ---- */

typedef struct slot {
  uint64_t key;
  int64_t val;
} slot;

typedef struct table {
  slot *s;
  size_t cap, n; /* cap a power of two */
} table;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

static slot *tab_find(table *t, uint64_t key) {
  if (!t->cap)
    return NULL;
  for (size_t i = mix64(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
    if (t->s[i].key == key || t->s[i].key == 0)
      return t->s[i].key ? &t->s[i] : NULL;
}

/* Adds key (absent) -> val; -1 on OOM. */
static int tab_put(table *t, uint64_t key, int64_t val) {
  if (2 * (t->n + 1) > t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    slot *s = calloc(cap, sizeof *s);
    if (!s)
      return -1;
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->s[i].key)
        continue;
      size_t j = mix64(t->s[i].key) & (cap - 1);
      while (s[j].key)
        j = (j + 1) & (cap - 1);
      s[j] = t->s[i];
    }
    free(t->s);
    t->s = s;
    t->cap = cap;
  }
  size_t j = mix64(key) & (t->cap - 1);
  while (t->s[j].key)
    j = (j + 1) & (t->cap - 1);
  t->s[j] = (slot){key, val};
  t->n++;
  return 0;
}

/* ---- the writer's state ---- */

typedef struct wtensor {
  const ferry_tensor *t;
  uint64_t size;  /* bytes in DATA */
  uint32_t *strs; /* string tensors: string-table indices */
  int shard;
  uint64_t off; /* in the shard's DATA */
} wtensor;

typedef struct wgraph {
  const ferry_graph *g;
  int parent;
} wgraph;

typedef struct W {
  const ferry_model *m;
  const char *path;
  ferry_err *err;
  int failed;
  /* strings: STRINGS content being built, offsets of each entry, and a
   * table hash -> chain of indices (collisions resolved by comparing) */
  buf strings;
  size_t *str_off;
  uint32_t n_strings, cap_strings;
  table str_tab; /* hash(bytes) -> first index + 1; chains in str_next */
  uint32_t *str_next;
  /* symbols */
  uint32_t *syms; /* string index per symbol */
  int n_syms, cap_syms;
  table sym_tab; /* string index + 1 -> symbol index */
  /* tensors */
  wtensor *tensors;
  int n_tensors, cap_tensors;
  table tensor_tab; /* pointer -> index */
  /* graphs */
  wgraph *graphs;
  int n_graphs, cap_graphs;
  table graph_tab; /* pointer -> index */
  /* dim programs: cache of serialized programs (dim pointer -> offset in dimbuf) */
  table dim_tab;
  buf dimbuf;
} W;

/* Records the first error as "PATH: message"; returns its code. */
__attribute__((format(printf, 3, 4))) static int wfail(W *w, int code, const char *fmt, ...) {
  if (w->failed)
    return w->failed;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err->msg, sizeof w->err->msg, fmt, ap);
  va_end(ap);
  w->err->code = code;
  return w->failed = ferry_err_prefix(w->err, w->path);
}
#define WFAIL(w, code, ...) wfail((w), (code), __VA_ARGS__)
#define WBAD(w, ...) WFAIL(w, FERRY_E_INPUT, __VA_ARGS__)
#define WNOMEM(w) WFAIL(w, FERRY_E_SYSTEM, "out of memory")

static int grow_arr(void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap)
    return 0;
  int ncap = *cap ? *cap : 16;
  while (ncap < need) {
    if (ncap > INT_MAX / 2)
      return -1;
    ncap *= 2;
  }
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p)
    return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

/* ---- strings ---- */

static uint64_t hash_bytes(const void *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  const uint8_t *s = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ s[i]) * 1099511628211ULL;
  return h | 1; /* never 0, the empty key */
}

/* The string-table index of (p, n), added when new; 0 after a failure. */
static uint32_t intern(W *w, const char *p, size_t n) {
  if (w->failed)
    return 0;
  if (!p)
    p = "", n = 0;
  if (n > UINT32_MAX - 8)
    return WBAD(w, "a string of %zu bytes is too long for a bundle", n), 0;
  uint64_t h = hash_bytes(p, n);
  slot *s = tab_find(&w->str_tab, h);
  for (int64_t i = s ? s->val - 1 : -1; i >= 0; i = (int64_t)w->str_next[i] - 1) {
    const uint8_t *e = w->strings.p + w->str_off[i];
    uint32_t len =
        (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    if (len == n && memcmp(e + 4, p, n) == 0)
      return (uint32_t)i;
  }
  if (w->n_strings == w->cap_strings) {
    uint32_t cap = w->cap_strings ? 2 * w->cap_strings : 256;
    size_t *o = realloc(w->str_off, cap * sizeof *o);
    uint32_t *nx = o ? realloc(w->str_next, cap * sizeof *nx) : NULL;
    if (o)
      w->str_off = o;
    if (!o || !nx)
      return WNOMEM(w), 0;
    w->str_next = nx;
    w->cap_strings = cap;
  }
  uint32_t idx = w->n_strings++;
  w->str_off[idx] = w->strings.n;
  put_u32(&w->strings, (uint32_t)n);
  put(&w->strings, p, n);
  put_u8(&w->strings, 0);
  if (s) {
    w->str_next[idx] = (uint32_t)s->val;
    s->val = idx + 1;
  } else {
    w->str_next[idx] = 0;
    if (tab_put(&w->str_tab, h, idx + 1))
      return WNOMEM(w), 0;
  }
  if (w->strings.oom)
    return WNOMEM(w), 0;
  return idx;
}

static void put_str(W *w, buf *b, const char *s) { put_u32(b, intern(w, s, s ? strlen(s) : 0)); }
static void put_fstr(W *w, buf *b, ferry_str s) { put_u32(b, intern(w, s.ptr, s.len)); }

/* ---- symbols and dims ---- */

static int symbol_index(W *w, const char *name, size_t len) {
  uint32_t si = intern(w, name, len);
  if (w->failed)
    return -1;
  slot *s = tab_find(&w->sym_tab, (uint64_t)si + 1);
  if (s)
    return (int)s->val;
  if (grow_arr((void **)&w->syms, &w->cap_syms, w->n_syms + 1, sizeof *w->syms) ||
      tab_put(&w->sym_tab, (uint64_t)si + 1, w->n_syms))
    return WNOMEM(w), -1;
  w->syms[w->n_syms] = si;
  return w->n_syms++;
}

typedef struct dop {
  int op;
  int64_t arg;
  const char *name; /* SYM: the symbol's name (not NUL-terminated) */
  size_t nlen;
} dop;

typedef struct dparse {
  const char *s;
  size_t i, n;
  const char *const *names; /* the expression's symbols, as found by eval */
  int n_names;
  dop *ops;
  int n_ops, cap_ops;
  int bad;
  int depth;
} dparse;

static void emit(dparse *p, int op, int64_t arg, const char *name, size_t nlen) {
  if (p->bad)
    return;
  if (p->n_ops >= FERRY_BUNDLE_MAX_DIM_OPS ||
      grow_arr((void **)&p->ops, &p->cap_ops, p->n_ops + 1, sizeof *p->ops)) {
    p->bad = 1;
    return;
  }
  p->ops[p->n_ops++] = (dop){op, arg, name, nlen};
}

static void skip_ws(dparse *p) {
  while (p->i < p->n && p->s[p->i] == ' ')
    p->i++;
}

static int at(dparse *p, char c) {
  skip_ws(p);
  return p->i < p->n && p->s[p->i] == c;
}

static void expect(dparse *p, char c) {
  if (at(p, c))
    p->i++;
  else
    p->bad = 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* An unsigned decimal number; *neg_ok allows 2^63 (for a leading minus). */
static uint64_t number(dparse *p) {
  uint64_t v = 0;
  if (!is_digit(p->s[p->i]))
    p->bad = 1;
  while (p->i < p->n && is_digit(p->s[p->i])) {
    unsigned d = (unsigned)(p->s[p->i++] - '0');
    if (v > (UINT64_MAX - d) / 10) {
      p->bad = 1;
      return 0;
    }
    v = v * 10 + d;
  }
  return v;
}

static void p_sum(dparse *p);

static void p_atom(dparse *p) {
  skip_ws(p);
  if (p->bad || p->i >= p->n) {
    p->bad = 1;
    return;
  }
  /* the expression's own symbols first, longest match; the printer puts
   * only ' ', '*', ')' or ',' after an atom (so "min" is no call "min(") */
  size_t best = 0;
  const char *bn = NULL;
  for (int k = 0; k < p->n_names; k++) {
    size_t l = strlen(p->names[k]);
    if (l > best && l <= p->n - p->i && memcmp(p->s + p->i, p->names[k], l) == 0 &&
        (p->i + l == p->n || strchr(" *),", p->s[p->i + l]))) {
      best = l;
      bn = p->names[k];
    }
  }
  if (bn) {
    emit(p, FERRY_DOP_SYM, 0, bn, best);
    p->i += best;
    return;
  }
  const char *c = p->s + p->i;
  if (*c == '(') {
    p->i++;
    p_sum(p);
    expect(p, ')');
  } else if (p->n - p->i >= 4 && (!memcmp(c, "min(", 4) || !memcmp(c, "max(", 4))) {
    int op = c[1] == 'i' ? FERRY_DOP_MIN : FERRY_DOP_MAX;
    p->i += 4;
    p_sum(p);
    expect(p, ',');
    p_sum(p);
    expect(p, ')');
    emit(p, op, 0, NULL, 0);
  } else if (is_digit(*c)) {
    uint64_t v = number(p);
    if (v > INT64_MAX)
      p->bad = 1;
    emit(p, FERRY_DOP_CONST, (int64_t)v, NULL, 0);
  } else { /* a symbol eval did not report: up to the next operator */
    size_t st = p->i;
    while (p->i < p->n && !strchr(" ()+-*/%,", p->s[p->i]))
      p->i++;
    if (p->i == st)
      p->bad = 1;
    emit(p, FERRY_DOP_SYM, 0, p->s + st, p->i - st);
  }
}

static void p_unary(dparse *p) {
  if (++p->depth > 200)
    p->bad = 1;
  if (!p->bad && at(p, '-')) {
    p->i++;
    skip_ws(p);
    if (p->i < p->n && is_digit(p->s[p->i])) {
      uint64_t v = number(p);
      if (v > (uint64_t)INT64_MAX + 1)
        p->bad = 1;
      emit(p, FERRY_DOP_CONST, v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v, NULL, 0);
    } else {
      p_unary(p);
      emit(p, FERRY_DOP_CONST, -1, NULL, 0);
      emit(p, FERRY_DOP_MUL, 0, NULL, 0);
    }
  } else if (!p->bad) {
    p_atom(p);
  }
  p->depth--;
}

static void p_term(dparse *p) {
  p_unary(p);
  while (!p->bad) {
    int op = at(p, '*')   ? FERRY_DOP_MUL
             : at(p, '/') ? FERRY_DOP_DIV
             : at(p, '%') ? FERRY_DOP_MOD
                          : 0;
    if (!op)
      break;
    p->i++;
    p_unary(p);
    emit(p, op, 0, NULL, 0);
  }
}

static void p_sum(dparse *p) {
  if (++p->depth > 200) {
    p->bad = 1;
    return;
  }
  p_term(p);
  while (!p->bad) {
    int op = at(p, '+') ? FERRY_DOP_ADD : at(p, '-') ? FERRY_DOP_SUB : 0;
    if (!op)
      break;
    p->i++;
    p_term(p);
    emit(p, op, 0, NULL, 0);
  }
  p->depth--;
}

/* The symbols of an expression, found through ferry_dim_eval's lookup. */
typedef struct symlist {
  const char **v;
  int n, cap;
  int64_t probe; /* the value every symbol gets */
} symlist;

static int collect_sym(void *user, const char *name, int64_t *value) {
  symlist *l = user;
  int k = 0;
  while (k < l->n && strcmp(l->v[k], name) != 0)
    k++;
  if (k == l->n && !grow_arr((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
    l->v[l->n++] = name;
  *value = l->probe;
  return 0;
}

/* Rebuilds the parsed program with dim.h's constructors: the dim it gives. */
static ferry_dim rebuild(ferry_dimctx *ctx, const dop *ops, int n) {
  ferry_dim st[FERRY_BUNDLE_MAX_DIM_STACK];
  int sp = 0;
  for (int i = 0; i < n; i++) {
    const dop *o = &ops[i];
    if (o->op == FERRY_DOP_CONST || o->op == FERRY_DOP_SYM) {
      if (sp >= FERRY_BUNDLE_MAX_DIM_STACK)
        return NULL;
      if (o->op == FERRY_DOP_CONST) {
        st[sp++] = ferry_dim_const(ctx, o->arg);
      } else {
        char *nm = strndup(o->name, o->nlen);
        st[sp++] = nm ? ferry_dim_sym(ctx, nm) : NULL;
        free(nm);
      }
      if (!st[sp - 1])
        return NULL;
      continue;
    }
    if (sp < 2)
      return NULL;
    ferry_dim b = st[--sp], a = st[sp - 1], r = NULL;
    switch (o->op) {
    case FERRY_DOP_ADD: r = ferry_dim_add(ctx, a, b); break;
    case FERRY_DOP_SUB: r = ferry_dim_sub(ctx, a, b); break;
    case FERRY_DOP_MUL: r = ferry_dim_mul(ctx, a, b); break;
    case FERRY_DOP_DIV: r = ferry_dim_div(ctx, a, b); break;
    case FERRY_DOP_MOD: r = ferry_dim_mod(ctx, a, b); break;
    case FERRY_DOP_MIN: r = ferry_dim_min(ctx, a, b); break;
    case FERRY_DOP_MAX: r = ferry_dim_max(ctx, a, b); break;
    }
    if (!r)
      return NULL;
    st[sp - 1] = r;
  }
  return sp == 1 ? st[0] : NULL;
}

/* Appends dim `d`'s program to `out`. */
static void put_dim(W *w, buf *out, ferry_dim d) {
  if (w->failed)
    return;
  if (!d)
    return (void)WBAD(w, "a shape has a missing dim");
  slot *s = tab_find(&w->dim_tab, (uint64_t)(uintptr_t)d);
  if (s) {
    const uint8_t *e = w->dimbuf.p + s->val;
    uint32_t len =
        (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    put(out, e + 4, len);
    return;
  }
  int64_t v;
  buf prog = {0};
  if (ferry_dim_is_const(d, &v)) { /* the common case, no parsing */
    put_u32(&prog, 1);
    put_u8(&prog, FERRY_DOP_CONST);
    put_i64(&prog, v);
  } else {
    char small[256], *text = small;
    size_t len = ferry_dim_str(d, small, sizeof small);
    if (len >= sizeof small) {
      text = malloc(len + 1);
      if (!text)
        return (void)WNOMEM(w);
      ferry_dim_str(d, text, len + 1);
    }
    /* find the symbols: two probes, in case one stops early (x mod (s - 1)) */
    symlist syms = {0};
    for (syms.probe = 1; syms.probe <= 3; syms.probe += 2) {
      int64_t dummy;
      ferry_dim_eval(d, collect_sym, &syms, &dummy);
    }
    dparse p = {.s = text, .n = len, .names = syms.v, .n_names = syms.n};
    p_sum(&p);
    skip_ws(&p);
    if (p.i != p.n)
      p.bad = 1;
    ferry_dim back = p.bad ? NULL : rebuild(w->m->dims, p.ops, p.n_ops);
    if (back != d) {
      WBAD(w, "cannot write the dim '%s' as a program", text);
    } else {
      put_u32(&prog, (uint32_t)p.n_ops);
      for (int i = 0; i < p.n_ops && !w->failed; i++) {
        put_u8(&prog, (uint8_t)p.ops[i].op);
        if (p.ops[i].op == FERRY_DOP_CONST)
          put_i64(&prog, p.ops[i].arg);
        if (p.ops[i].op == FERRY_DOP_SYM)
          put_u32(&prog, (uint32_t)symbol_index(w, p.ops[i].name, p.ops[i].nlen));
      }
    }
    free(p.ops);
    free(syms.v);
    if (text != small)
      free(text);
  }
  if (prog.oom)
    WNOMEM(w);
  if (!w->failed) {
    size_t off = w->dimbuf.n;
    put_u32(&w->dimbuf, (uint32_t)prog.n);
    put(&w->dimbuf, prog.p, prog.n);
    if (w->dimbuf.oom || tab_put(&w->dim_tab, (uint64_t)(uintptr_t)d, (int64_t)off))
      WNOMEM(w);
    put(out, prog.p, prog.n);
  }
  free(prog.p);
}

/* ---- types, tensors, graphs ---- */

static void put_type(W *w, buf *b, const ferry_type *t, int depth) {
  if (w->failed)
    return;
  if (depth >= FERRY_BUNDLE_MAX_TYPE_DEPTH)
    return (void)WBAD(w, "a type is nested deeper than %d levels", FERRY_BUNDLE_MAX_TYPE_DEPTH);
  if (t->kind < 0 || t->kind > FERRY_V_UNKNOWN || t->rank < -1 || (t->rank > 0 && !t->shape))
    return (void)WBAD(w, "a value has a malformed type");
  put_u32(b, (uint32_t)t->kind);
  put_i32(b, t->dtype);
  put_i32(b, t->rank);
  for (int i = 0; i < t->rank; i++)
    put_dim(w, b, t->shape[i]);
  put_u32(b, t->elem ? 1 : 0);
  if (t->elem)
    put_type(w, b, t->elem, depth + 1);
}

static uint64_t raw_bytes(int dtype, int64_t numel) {
  if (dtype == FERRY_STRING)
    return (uint64_t)numel * 4;
  if (dtype == FERRY_U4 || dtype == FERRY_I4)
    return (uint64_t)numel / 2 + (uint64_t)numel % 2;
  return (uint64_t)numel * (uint64_t)ferry_dtype_size(dtype);
}

/* The tensor-table index of `t`, added when new. */
static int tensor_index(W *w, const ferry_tensor *t) {
  if (w->failed)
    return -1;
  if (!t)
    return WBAD(w, "a tensor attribute has no tensor"), -1;
  slot *s = tab_find(&w->tensor_tab, (uint64_t)(uintptr_t)t);
  if (s)
    return (int)s->val;
  if (!ferry_dtype_valid(t->dtype) || t->rank < 0 || t->rank > FERRY_BUNDLE_MAX_RANK ||
      (t->rank && !t->dims))
    return WBAD(w, "a tensor has dtype %d and rank %d, which a bundle cannot hold", t->dtype,
                t->rank),
           -1;
  int64_t numel = 1;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0 || __builtin_mul_overflow(numel, t->dims[i], &numel) ||
        numel > (INT64_C(1) << 60))
      return WBAD(w, "a tensor has bad dimensions"), -1;
  uint64_t size = raw_bytes(t->dtype, numel);
  if (t->dtype != FERRY_STRING && t->nbytes != size)
    return WBAD(w, "a %s tensor of %lld elements has %zu bytes, expected %llu",
                ferry_dtype_name(t->dtype), (long long)numel, t->nbytes, (unsigned long long)size),
           -1;
  if (size && !t->data)
    return WBAD(w, "a tensor has no data"), -1;
  if (grow_arr((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof *w->tensors) ||
      tab_put(&w->tensor_tab, (uint64_t)(uintptr_t)t, w->n_tensors))
    return WNOMEM(w), -1;
  wtensor *wt = &w->tensors[w->n_tensors];
  *wt = (wtensor){.t = t, .size = size};
  if (t->dtype == FERRY_STRING && numel) {
    const ferry_str *ss = t->data;
    wt->strs = malloc((size_t)numel * sizeof *wt->strs);
    if (!wt->strs)
      return WNOMEM(w), -1;
    for (int64_t i = 0; i < numel; i++) /* stored little-endian */
      set_u32((uint8_t *)&wt->strs[i], intern(w, ss[i].ptr, ss[i].len));
  }
  return w->n_tensors++;
}

static int graph_index(W *w, const ferry_graph *g) {
  slot *s = g ? tab_find(&w->graph_tab, (uint64_t)(uintptr_t)g) : NULL;
  if (!s)
    return WBAD(w, "a graph attribute has no graph"), -1;
  return (int)s->val;
}

/* Lists `g` and its subgraphs parent first. */
static void list_graphs(W *w, const ferry_graph *g, int parent, int depth) {
  if (w->failed)
    return;
  if (depth > 256)
    return (void)WBAD(w, "subgraphs nested too deep");
  if (tab_find(&w->graph_tab, (uint64_t)(uintptr_t)g))
    return (void)WBAD(w, "graph '%s' is the body of two attributes", g->name ? g->name : "");
  if (grow_arr((void **)&w->graphs, &w->cap_graphs, w->n_graphs + 1, sizeof *w->graphs) ||
      tab_put(&w->graph_tab, (uint64_t)(uintptr_t)g, w->n_graphs))
    return (void)WNOMEM(w);
  int me = w->n_graphs++;
  w->graphs[me] = (wgraph){g, parent};
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      const ferry_attr *at = &n->attrs[a];
      if (at->type == FERRY_A_GRAPH) {
        if (!at->g)
          return (void)WBAD(w, "attribute '%s' of node '%s' has no graph", at->name, n->name);
        list_graphs(w, at->g, me, depth + 1);
      }
      if (at->type == FERRY_A_GRAPHS)
        for (int k = 0; k < at->n; k++) {
          if (!at->graphs || !at->graphs[k])
            return (void)WBAD(w, "attribute '%s' of node '%s' lacks a graph", at->name, n->name);
          list_graphs(w, at->graphs[k], me, depth + 1);
        }
    }
  }
}

static void put_attr(W *w, buf *b, const ferry_attr *a) {
  put_str(w, b, a->name);
  put_u32(b, (uint32_t)a->type);
  int n = a->n < 0 ? 0 : a->n;
  switch (a->type) {
  case FERRY_A_UNDEFINED: break;
  case FERRY_A_FLOAT: put_f32(b, a->f); break;
  case FERRY_A_INT: put_i64(b, a->i); break;
  case FERRY_A_STRING: put_fstr(w, b, a->s); break;
  case FERRY_A_TENSOR:
  case FERRY_A_SPARSE_TENSOR: put_u32(b, (uint32_t)tensor_index(w, a->t)); break;
  case FERRY_A_GRAPH: put_u32(b, (uint32_t)graph_index(w, a->g)); break;
  case FERRY_A_FLOATS:
    put_u32(b, (uint32_t)n);
    for (int k = 0; k < n; k++)
      put_f32(b, a->floats[k]);
    break;
  case FERRY_A_INTS:
    put_u32(b, (uint32_t)n);
    for (int k = 0; k < n; k++)
      put_i64(b, a->ints[k]);
    break;
  case FERRY_A_STRINGS:
    put_u32(b, (uint32_t)n);
    for (int k = 0; k < n; k++)
      put_fstr(w, b, a->strings[k]);
    break;
  case FERRY_A_TENSORS:
  case FERRY_A_SPARSE_TENSORS:
    put_u32(b, (uint32_t)n);
    for (int k = 0; k < n; k++)
      put_u32(b, (uint32_t)tensor_index(w, a->tensors[k]));
    break;
  case FERRY_A_GRAPHS:
    put_u32(b, (uint32_t)n);
    for (int k = 0; k < n; k++)
      put_u32(b, (uint32_t)graph_index(w, a->graphs[k]));
    break;
  case FERRY_A_TYPE_PROTO:
  case FERRY_A_TYPE_PROTOS:
    if (a->type == FERRY_A_TYPE_PROTOS)
      put_u32(b, (uint32_t)n);
    else if (n < 1)
      return (void)WBAD(w, "attribute '%s' has no type", a->name);
    for (int k = 0; k < (a->type == FERRY_A_TYPE_PROTO ? 1 : n); k++)
      put_type(w, b, &a->types[k], 0);
    break;
  default: WBAD(w, "attribute '%s' has type %d, which a bundle cannot hold", a->name, a->type);
  }
}

static void put_graph(W *w, buf *b, int gi) {
  const ferry_graph *g = w->graphs[gi].g;
  put_str(w, b, g->name);
  put_i32(b, w->graphs[gi].parent);
  put_u32(b, (uint32_t)g->n_values);
  for (int i = 0; i < g->n_values && !w->failed; i++) {
    const ferry_value *v = &g->values[i];
    put_str(w, b, v->name);
    put_u32(b, v->flags & 15u);
    if (v->outer >= 0 && (gi == 0 || v->outer >= w->graphs[w->graphs[gi].parent].g->n_values))
      return (void)WBAD(w, "value '%s' refers to a missing outer value", v->name);
    put_i32(b, v->outer < 0 ? -1 : v->outer);
    put_i32(b, v->outer < 0 && v->data ? tensor_index(w, v->data) : -1);
    put_type(w, b, &v->type, 0);
  }
  put_u32(b, (uint32_t)g->n_nodes);
  for (int i = 0; i < g->n_nodes && !w->failed; i++) {
    const ferry_node *n = &g->nodes[i];
    put_str(w, b, n->name);
    put_str(w, b, n->domain);
    put_str(w, b, n->op);
    put_i32(b, n->opset);
    for (int k = 0; k < 2; k++) {
      int cnt = k ? n->n_outputs : n->n_inputs;
      const int *idx = k ? n->outputs : n->inputs;
      put_u32(b, (uint32_t)cnt);
      for (int j = 0; j < cnt; j++) {
        if (idx[j] < -1 || idx[j] >= g->n_values)
          return (void)WBAD(w, "node '%s' (%s) names value %d of %d", n->name, n->op, idx[j],
                            g->n_values);
        put_i32(b, idx[j]);
      }
    }
    put_u32(b, (uint32_t)n->n_attrs);
    for (int a = 0; a < n->n_attrs; a++)
      put_attr(w, b, &n->attrs[a]);
  }
  for (int k = 0; k < 2 && !w->failed; k++) {
    int cnt = k ? g->n_outputs : g->n_inputs;
    const int *idx = k ? g->outputs : g->inputs;
    put_u32(b, (uint32_t)cnt);
    for (int j = 0; j < cnt; j++) {
      if (idx[j] < 0 || idx[j] >= g->n_values)
        return (void)WBAD(w, "graph '%s' has a bad %s index %d", g->name, k ? "output" : "input",
                          idx[j]);
      put_u32(b, (uint32_t)idx[j]);
    }
  }
}

static void put_metadata(W *w, buf *b, const ferry_bundle_opts *o) {
  const ferry_model *m = w->m;
  put_str(w, b, o->producer_name ? o->producer_name : "ferry");
  put_str(w, b, o->producer_version ? o->producer_version : FERRY_VERSION_STR);
  put_str(w, b, FERRY_VERSION_STR);
  put(b, o->source_sha256, 32);
  put_str(w, b, m->producer_name);
  put_str(w, b, m->producer_version);
  put_str(w, b, m->domain);
  put_str(w, b, m->doc);
  put_i64(b, m->ir_version);
  put_i64(b, m->model_version);
  put_u32(b, (uint32_t)m->n_opsets);
  for (int i = 0; i < m->n_opsets; i++) {
    put_str(w, b, m->opsets[i].domain);
    put_i64(b, m->opsets[i].version);
  }
  int np = o->n_props > 0 && o->props ? o->n_props : 0;
  put_u32(b, (uint32_t)(m->n_metadata + np));
  for (int i = 0; i < 2 * m->n_metadata; i++)
    put_fstr(w, b, m->metadata[i]);
  for (int i = 0; i < 2 * np; i++)
    put_fstr(w, b, o->props[i]);
}

/* ---- files ---- */

typedef struct section {
  uint32_t kind, flags;
  const uint8_t *bytes; /* stored bytes (DATA: streamed, NULL) */
  uint64_t stored, raw, off;
  uint32_t crc;
} section;

typedef struct ofile {
  int fd;
  uint64_t pos;
  uint8_t stage[1 << 16];
  size_t n;
} ofile;

static int raw_write(int fd, const void *p, size_t n) {
  const uint8_t *c = p;
  while (n) {
    ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

static int o_flush(ofile *f) {
  int r = raw_write(f->fd, f->stage, f->n);
  f->n = 0;
  return r;
}

static int o_write(ofile *f, const void *p, size_t n) {
  f->pos += n;
  if (n <= sizeof f->stage - f->n) {
    if (n)
      memcpy(f->stage + f->n, p, n);
    f->n += n;
    return 0;
  }
  if (o_flush(f))
    return -1;
  if (n < sizeof f->stage) {
    memcpy(f->stage, p, n);
    f->n = n;
    return 0;
  }
  return raw_write(f->fd, p, n);
}

static int o_zeros(ofile *f, uint64_t n) {
  static const uint8_t z[64];
  while (n) {
    size_t k = n > sizeof z ? sizeof z : (size_t)n;
    if (o_write(f, z, k))
      return -1;
    n -= k;
  }
  return 0;
}

static uint32_t crc_big(uint32_t crc, const void *p, uint64_t n) {
  const uint8_t *c = p;
  while (n) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = (uint32_t)crc32(crc, c, k);
    c += k;
    n -= k;
  }
  return crc;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Writes one shard into temp file `tmp` (already open as fd). */
static int write_shard(W *w, int fd, int shard, int n_shards, section *secs, int n_secs,
                       const ferry_bundle_opts *o) {
  ofile *of = malloc(sizeof *of); /* 64 KiB of staging: not on the stack */
  if (!of)
    return WNOMEM(w);
  of->fd = fd;
  of->pos = 0;
  of->n = 0;
  uint64_t table_end = FERRY_BUNDLE_HEADER_SIZE + (uint64_t)FERRY_BUNDLE_SECTION_ENTRY * n_secs;
  int rc = 0;
  if (o_zeros(of, table_end))
    goto io;
  section *data = &secs[n_secs - 1]; /* DATA is last */
  for (int i = 0; i < n_secs; i++) {
    section *s = &secs[i];
    if (o_zeros(of, s->off - of->pos))
      goto io;
    if (s->kind != FERRY_SEC_DATA) {
      if (o_write(of, s->bytes, (size_t)s->stored))
        goto io;
      continue;
    }
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    uint64_t start = of->pos;
    for (int t = 0; t < w->n_tensors; t++) {
      const wtensor *wt = &w->tensors[t];
      if (wt->shard != shard)
        continue;
      uint64_t pad = start + wt->off - of->pos;
      static const uint8_t z[64];
      for (uint64_t left = pad; left; left -= left > 64 ? 64 : left)
        crc = (uint32_t)crc32(crc, z, (uInt)(left > 64 ? 64 : left));
      if (o_zeros(of, pad))
        goto io;
      const void *bytes = wt->strs ? (const void *)wt->strs : wt->t->data;
      crc = crc_big(crc, bytes, wt->size);
      if (wt->size && o_write(of, bytes, (size_t)wt->size))
        goto io;
    }
    if (of->pos - start != data->raw) {
      rc =
          WFAIL(w, FERRY_E_SYSTEM, "internal error: DATA of shard %d has %llu bytes, expected %llu",
                shard, (unsigned long long)(of->pos - start), (unsigned long long)data->raw);
      goto out;
    }
    s->crc = crc;
  }
  if (o_flush(of))
    goto io;
  /* the real header and section table */
  uint8_t *h = calloc(1, (size_t)table_end);
  if (!h) {
    rc = WNOMEM(w);
    goto out;
  }
  memcpy(h, FERRY_BUNDLE_MAGIC, 8);
  h[8] = FERRY_BUNDLE_MAJOR;
  h[10] = FERRY_BUNDLE_MINOR;
  set_u32(h + 16, FERRY_BUNDLE_HEADER_SIZE);
  set_u32(h + 20, (uint32_t)n_secs);
  set_u32(h + 24, (uint32_t)shard);
  set_u32(h + 28, (uint32_t)n_shards);
  set_u64(h + 32, of->pos);
  memcpy(h + 40, o->source_sha256, 16);
  for (int i = 0; i < n_secs; i++) {
    uint8_t *e = h + FERRY_BUNDLE_HEADER_SIZE + FERRY_BUNDLE_SECTION_ENTRY * i;
    set_u32(e, secs[i].kind);
    set_u32(e + 4, secs[i].flags);
    set_u64(e + 8, secs[i].off);
    set_u64(e + 16, secs[i].stored);
    set_u64(e + 24, secs[i].raw);
    set_u32(e + 32, secs[i].crc);
  }
  set_u32(h + 60, (uint32_t)crc32(0, h, (uInt)table_end));
  int bad = lseek(fd, 0, SEEK_SET) != 0 || raw_write(fd, h, (size_t)table_end);
  free(h);
  if (bad)
    goto io;
  if (fsync(fd))
    goto io;
  goto out;
io:
  rc = WFAIL(w, FERRY_E_SYSTEM, "cannot write: %s", strerror(errno ? errno : EIO));
out:
  free(of);
  return rc;
}

static char *shard_path(const char *path, int k) {
  size_t n = strlen(path) + 16;
  char *p = malloc(n);
  if (!p)
    return NULL;
  if (k)
    snprintf(p, n, "%s.%d", path, k);
  else
    snprintf(p, n, "%s", path);
  return p;
}

static void sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir)
    return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

/* Removes `path.k`, `path.k+1`, ... that are ferry bundles (an earlier
 * conversion's extra shards). */
static void remove_stale(const char *path, int k) {
  for (; k < 1 << 20; k++) {
    char *p = shard_path(path, k);
    if (!p)
      return;
    char magic[8];
    int fd = open(p, O_RDONLY | O_CLOEXEC), is = 0;
    if (fd >= 0) {
      is = read(fd, magic, 8) == 8 && memcmp(magic, FERRY_BUNDLE_MAGIC, 8) == 0;
      close(fd);
    }
    if (is)
      unlink(p);
    free(p);
    if (!is)
      return;
  }
}

static int compress_section(W *w, section *s, buf *src, uint8_t **owned) {
  uLongf cap = compressBound((uLong)src->n);
  uint8_t *z = malloc(cap ? cap : 1);
  if (!z)
    return WNOMEM(w);
  if (compress2(z, &cap, src->p ? src->p : (const Bytef *)"", (uLong)src->n, Z_BEST_COMPRESSION) !=
      Z_OK) {
    free(z);
    return WFAIL(w, FERRY_E_SYSTEM, "deflate failed");
  }
  if (cap >= src->n) { /* no gain: keep it raw */
    free(z);
    return 0;
  }
  *owned = z;
  s->bytes = z;
  s->stored = cap;
  s->flags = FERRY_SEC_DEFLATE;
  return 0;
}

int ferry_bundle_write(const ferry_model *m, const char *path, const ferry_bundle_opts *opts,
                       ferry_err *err) {
  ferry_err local;
  if (!err)
    err = &local;
  ferry_bundle_opts defaults = {0};
  const ferry_bundle_opts *o = opts ? opts : &defaults;
  if (!path)
    path = "(null)";
  W w = {.m = m, .path = path, .err = err};
  buf meta = {0}, graphs = {0}, graph = {0}, tens = {0};
  uint8_t *zbuf[4] = {0};
  char **tmps = NULL;
  uint64_t *data_size = NULL;
  int n_shards = 0;
  if (!m || !m->graph || !m->dims) {
    WBAD(&w, "no model to write");
    goto done;
  }
  intern(&w, "", 0); /* index 0 */

  /* 1-2: graphs, metadata, graph section */
  list_graphs(&w, m->graph, -1, 0);
  put_metadata(&w, &meta, o);
  for (int gi = 0; gi < w.n_graphs && !w.failed; gi++)
    put_graph(&w, &graphs, gi);
  put_u32(&graph, (uint32_t)w.n_syms);
  for (int i = 0; i < w.n_syms; i++)
    put_u32(&graph, w.syms[i]);
  put_u32(&graph, (uint32_t)w.n_graphs);
  put(&graph, graphs.p, graphs.n);
  if (meta.oom || graphs.oom || graph.oom)
    WNOMEM(&w);
  if (w.failed)
    goto done;
  buf *strs = &w.strings;
  uint8_t cnt[4];
  set_u32(cnt, w.n_strings); /* the count goes in front: STRINGS = count + entries */
  buf strsec = {0};
  put(&strsec, cnt, 4);
  put(&strsec, strs->p, strs->n);
  free(strs->p);
  *strs = strsec;
  if (strs->oom) {
    WNOMEM(&w);
    goto done;
  }

  /* 3: shards */
  uint64_t limit = o->shard_size ? o->shard_size : FERRY_BUNDLE_DEFAULT_SHARD_SIZE;
  uint64_t tens_size = 4;
  for (int i = 0; i < w.n_tensors; i++)
    tens_size += 36 + 8 * (uint64_t)w.tensors[i].t->rank;
  uint64_t at0 = FERRY_BUNDLE_HEADER_SIZE + 5 * FERRY_BUNDLE_SECTION_ENTRY;
  at0 = align_up(at0, 8) + meta.n;
  at0 = align_up(at0, 8) + strs->n;
  at0 = align_up(at0, 8) + graph.n;
  at0 = align_up(at0, 8) + tens_size;
  uint64_t base = align_up(at0, FERRY_BUNDLE_ALIGN),
           kbase =
               align_up(FERRY_BUNDLE_HEADER_SIZE + FERRY_BUNDLE_SECTION_ENTRY, FERRY_BUNDLE_ALIGN);
  int cur = 0, in_cur = 0;
  uint64_t used = 0;
  for (int i = 0; i < w.n_tensors; i++) {
    wtensor *wt = &w.tensors[i];
    uint64_t off = align_up(used, FERRY_BUNDLE_ALIGN);
    if (base + off + wt->size > limit && (cur == 0 || in_cur > 0)) {
      cur++;
      base = kbase;
      used = off = 0;
      in_cur = 0;
    }
    wt->shard = cur;
    wt->off = off;
    used = off + wt->size;
    in_cur++;
  }
  n_shards = cur + 1;
  if (n_shards > 65536) {
    WBAD(&w, "%d shards of at most %llu bytes: more than the 65536 a bundle may have", n_shards,
         (unsigned long long)limit);
    goto done;
  }
  data_size = calloc((size_t)n_shards, sizeof *data_size);
  tmps = calloc((size_t)n_shards, sizeof *tmps);
  if (!data_size || !tmps) {
    WNOMEM(&w);
    goto done;
  }
  for (int i = 0; i < w.n_tensors; i++) {
    const wtensor *wt = &w.tensors[i];
    if (wt->off + wt->size > data_size[wt->shard])
      data_size[wt->shard] = wt->off + wt->size;
  }
  put_u32(&tens, (uint32_t)w.n_tensors);
  for (int i = 0; i < w.n_tensors; i++) {
    const wtensor *wt = &w.tensors[i];
    put_u32(&tens, (uint32_t)wt->t->dtype);
    put_u32(&tens, FERRY_ENC_RAW);
    put_u32(&tens, (uint32_t)wt->t->rank);
    for (int k = 0; k < wt->t->rank; k++)
      put_i64(&tens, wt->t->dims[k]);
    put_u32(&tens, (uint32_t)wt->shard);
    put_u32(&tens, 0);
    put_u64(&tens, wt->off);
    put_u64(&tens, wt->size);
  }
  if (tens.oom) {
    WNOMEM(&w);
    goto done;
  }

  /* 4: shard 0's sections */
  section s0[5] = {
      {FERRY_SEC_METADATA, 0, meta.p, meta.n, meta.n, 0, 0},
      {FERRY_SEC_STRINGS, 0, strs->p, strs->n, strs->n, 0, 0},
      {FERRY_SEC_GRAPH, 0, graph.p, graph.n, graph.n, 0, 0},
      {FERRY_SEC_TENSORS, 0, tens.p, tens.n, tens.n, 0, 0},
      {FERRY_SEC_DATA, 0, NULL, data_size[0], data_size[0], 0, 0},
  };
  buf *srcs[4] = {&meta, strs, &graph, &tens};
  for (int i = 0; i < 4 && !w.failed; i++) {
    if (o->compress)
      compress_section(&w, &s0[i], srcs[i], &zbuf[i]);
    if (!s0[i].bytes)
      s0[i].bytes = (const uint8_t *)"";
    s0[i].crc = (uint32_t)crc_big((uint32_t)crc32(0, NULL, 0), s0[i].bytes, s0[i].stored);
  }
  uint64_t pos = FERRY_BUNDLE_HEADER_SIZE + 5 * FERRY_BUNDLE_SECTION_ENTRY;
  for (int i = 0; i < 5; i++) {
    s0[i].off = align_up(pos, i == 4 ? FERRY_BUNDLE_ALIGN : 8);
    pos = s0[i].off + s0[i].stored;
  }

  /* 5: write every shard to a temporary file */
  for (int k = 0; k < n_shards && !w.failed; k++) {
    char *final = shard_path(path, k);
    size_t tl = final ? strlen(final) + 16 : 0;
    char *tmp = final ? malloc(tl) : NULL;
    if (!tmp) {
      free(final);
      WNOMEM(&w);
      break;
    }
    snprintf(tmp, tl, "%s.tmp.XXXXXX", final);
    free(final);
    int fd = mkstemp(tmp);
    if (fd < 0) {
      WFAIL(&w, FERRY_E_SYSTEM, "cannot create a file next to it: %s", strerror(errno));
      free(tmp);
      break;
    }
    tmps[k] = tmp;
    fchmod(fd, 0644);
    section sk[1] = {{FERRY_SEC_DATA, 0, NULL, data_size[k], data_size[k], kbase, 0}};
    int rc = k == 0 ? write_shard(&w, fd, 0, n_shards, s0, 5, o)
                    : write_shard(&w, fd, k, n_shards, sk, 1, o);
    if (close(fd) && !rc)
      WFAIL(&w, FERRY_E_SYSTEM, "cannot write: %s", strerror(errno));
  }
  /* rename into place: the extra shards first, shard 0 last */
  for (int k = n_shards - 1; k >= 0 && !w.failed; k--) {
    char *final = shard_path(path, k);
    if (!final) {
      WNOMEM(&w);
      break;
    }
    if (rename(tmps[k], final)) {
      if (k)
        ferry_fail(err, FERRY_E_SYSTEM, "cannot rename to '%s': %s", final, strerror(errno));
      else
        ferry_fail(err, FERRY_E_SYSTEM, "cannot rename into place: %s", strerror(errno));
      w.failed = ferry_err_prefix(err, path);
      free(final);
      break;
    }
    free(final);
    free(tmps[k]);
    tmps[k] = NULL;
  }
  if (!w.failed) {
    remove_stale(path, n_shards);
    sync_dir(path);
  }

done:
  if (tmps) {
    for (int k = 0; k < n_shards; k++) {
      if (tmps[k])
        unlink(tmps[k]);
      free(tmps[k]);
    }
    free(tmps);
  }
  free(data_size);
  for (int i = 0; i < 4; i++)
    free(zbuf[i]);
  free(meta.p);
  free(graphs.p);
  free(graph.p);
  free(tens.p);
  free(w.strings.p);
  free(w.str_off);
  free(w.str_next);
  free(w.str_tab.s);
  free(w.syms);
  free(w.sym_tab.s);
  for (int i = 0; i < w.n_tensors; i++)
    free(w.tensors[i].strs);
  free(w.tensors);
  free(w.tensor_tab.s);
  free(w.graphs);
  free(w.graph_tab.s);
  free(w.dim_tab.s);
  free(w.dimbuf.p);
  return w.failed;
}
