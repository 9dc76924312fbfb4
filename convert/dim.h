/*
 * dim.h - symbolic dimensions: a small algebra of integer expressions.
 *
 * A tensor dimension is either a known integer or an expression over named
 * symbols ("batch", "sequence"; an unnamed ONNX dim gets a fresh symbol)
 * with +, -, *, floor-div, mod, min and max, like tract's TDim.
 *
 * Expressions are simplified on construction to one canonical form and
 * hash-consed in their context, so two dims are equal exactly when their
 * pointers are equal: `a == b` is structural equality. Constants fold
 * (2*3 -> 6), sums and products are flattened and sorted, like terms are
 * collected (s + s -> 2*s, s - s -> 0), and floor-div/mod by constants
 * simplify where exact ((4*s)/2 -> 2*s, (4*s) mod 2 -> 0).
 *
 * A context owns every expression made in it; freeing the context frees them.
 * Constructors return NULL only when memory runs out, and accept NULL
 * operands (returning NULL), so a chain of calls needs one check at its end.
 */
#ifndef FERRY_DIM_H
#define FERRY_DIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct ferry_dimctx ferry_dimctx;
typedef struct ferry_dexpr ferry_dexpr;
typedef const ferry_dexpr *ferry_dim;

ferry_dimctx *ferry_dimctx_new(void);
void ferry_dimctx_free(ferry_dimctx *ctx);

ferry_dim ferry_dim_const(ferry_dimctx *ctx, int64_t value);
/* The symbol with this name (the same pointer for the same name). */
ferry_dim ferry_dim_sym(ferry_dimctx *ctx, const char *name);
/* A new symbol distinct from every other, named "unk__N". */
ferry_dim ferry_dim_fresh(ferry_dimctx *ctx);

ferry_dim ferry_dim_add(ferry_dimctx *ctx, ferry_dim a, ferry_dim b);
ferry_dim ferry_dim_sub(ferry_dimctx *ctx, ferry_dim a, ferry_dim b);
ferry_dim ferry_dim_mul(ferry_dimctx *ctx, ferry_dim a, ferry_dim b);
ferry_dim ferry_dim_div(ferry_dimctx *ctx, ferry_dim a, ferry_dim b); /* floor */
ferry_dim ferry_dim_mod(ferry_dimctx *ctx, ferry_dim a, ferry_dim b); /* floor */
ferry_dim ferry_dim_min(ferry_dimctx *ctx, ferry_dim a, ferry_dim b);
ferry_dim ferry_dim_max(ferry_dimctx *ctx, ferry_dim a, ferry_dim b);

/* 1 and *value set when `d` is a plain integer, else 0. */
int ferry_dim_is_const(ferry_dim d, int64_t *value);
/* The name when `d` is a bare symbol, else NULL. */
const char *ferry_dim_sym_name(ferry_dim d);

/* Writes `d` as text ("batch", "2*sequence + 1", "(s + 1) / 2"), like
 * snprintf: returns the length it needs, writes at most n-1 chars + NUL. */
size_t ferry_dim_str(ferry_dim d, char *buf, size_t n);

/* Evaluates `d` with every symbol bound by `lookup` (which returns 0 and
 * sets *value when it knows the symbol). Returns 0 on success, -1 if a
 * symbol is unbound or a division by zero happens. */
typedef int (*ferry_dim_lookup)(void *user, const char *name, int64_t *value);
int ferry_dim_eval(ferry_dim d, ferry_dim_lookup lookup, void *user, int64_t *value);

/* Replaces every symbol bound by `lookup` with its value, re-simplified in
 * `ctx` (e.g. for `--fix-dim batch=1`). */
ferry_dim ferry_dim_subst(ferry_dimctx *ctx, ferry_dim d, ferry_dim_lookup lookup, void *user);

#endif
