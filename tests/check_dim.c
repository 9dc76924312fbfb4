/* check_dim.c - tests for convert/dim.c, the symbolic dimension algebra. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dim.h"

static ferry_dimctx *cx;

static void setup(void) {
  cx = ferry_dimctx_new();
  ck_assert_ptr_nonnull(cx);
}
static void teardown(void) {
  ferry_dimctx_free(cx);
  cx = NULL;
}

#define C(v) ferry_dim_const(cx, (v))
#define S(n) ferry_dim_sym(cx, (n))
#define ADD(a, b) ferry_dim_add(cx, (a), (b))
#define SUB(a, b) ferry_dim_sub(cx, (a), (b))
#define MUL(a, b) ferry_dim_mul(cx, (a), (b))
#define DIV(a, b) ferry_dim_div(cx, (a), (b))
#define MOD(a, b) ferry_dim_mod(cx, (a), (b))
#define MIN(a, b) ferry_dim_min(cx, (a), (b))
#define MAX(a, b) ferry_dim_max(cx, (a), (b))

static const char *str(ferry_dim d) {
  static char buf[256];
  ferry_dim_str(d, buf, sizeof buf);
  return buf;
}

static int64_t cval(ferry_dim d) {
  int64_t v = 0x7777;
  ck_assert_msg(ferry_dim_is_const(d, &v), "not a constant: %s", str(d));
  return v;
}

#define ck_str(d, s) ck_assert_str_eq(str(d), (s))

START_TEST(test_const_and_sym) {
  int64_t v;
  ck_assert_ptr_eq(C(5), C(5));
  ck_assert_ptr_ne(C(5), C(6));
  ck_assert_ptr_eq(S("batch"), S("batch"));
  ck_assert_ptr_ne(S("batch"), S("seq"));
  ck_assert_str_eq(ferry_dim_sym_name(S("batch")), "batch");
  ck_assert_ptr_null(ferry_dim_sym_name(C(1)));
  ck_assert_ptr_null(ferry_dim_sym_name(MUL(C(2), S("a"))));
  ck_assert(!ferry_dim_is_const(S("a"), &v));
  ck_assert(ferry_dim_is_const(C(-3), &v) && v == -3);
  ck_assert(ferry_dim_is_const(C(INT64_MIN), NULL));
}
END_TEST

START_TEST(test_canonical_equality) {
  ferry_dim a = S("a"), b = S("b"), c = S("c");
  ck_assert_ptr_eq(ADD(a, b), ADD(b, a));
  ck_assert_ptr_eq(MUL(a, b), MUL(b, a));
  ck_assert_ptr_eq(ADD(ADD(a, b), c), ADD(a, ADD(c, b)));
  ck_assert_ptr_eq(MUL(ADD(a, b), C(2)), ADD(MUL(C(2), a), MUL(b, C(2))));
  ck_assert_ptr_eq(SUB(a, a), C(0));
  ck_assert_ptr_eq(ADD(a, a), MUL(C(2), a));
  ck_assert_ptr_eq(ADD(a, C(0)), a);
  ck_assert_ptr_eq(MUL(a, C(1)), a);
  ck_assert_ptr_eq(MUL(C(0), a), C(0));
  ck_assert_ptr_eq(SUB(ADD(a, b), b), a);
  ck_assert_ptr_eq(SUB(MUL(C(3), a), ADD(a, a)), a);
  /* (a + 1)(a - 1) = a*a - 1 */
  ck_assert_ptr_eq(MUL(ADD(a, C(1)), SUB(a, C(1))), SUB(MUL(a, a), C(1)));
  /* (a + b)^2 = a*a + 2*a*b + b*b */
  ferry_dim s = ADD(a, b);
  ferry_dim sq = ADD(ADD(MUL(a, a), MUL(C(2), MUL(a, b))), MUL(b, b));
  ck_assert_ptr_eq(MUL(s, s), sq);
  ck_assert_ptr_eq(SUB(MUL(s, s), sq), C(0));
  /* opaque atoms take part in like-term collection */
  ferry_dim d = DIV(ADD(a, C(1)), C(2));
  ck_assert_ptr_eq(SUB(ADD(d, a), d), a);
  ck_assert_ptr_eq(ADD(d, d), MUL(C(2), DIV(ADD(C(1), a), C(2))));
  ck_assert_ptr_eq(MIN(a, b), MIN(b, a));
  ck_assert_ptr_eq(MAX(ADD(a, C(1)), b), MAX(b, ADD(C(1), a)));
}
END_TEST

START_TEST(test_folding) {
  ck_assert_int_eq(cval(ADD(C(2), C(3))), 5);
  ck_assert_int_eq(cval(MUL(C(2), C(3))), 6);
  ck_assert_int_eq(cval(SUB(C(2), C(3))), -1);
  ck_assert_int_eq(cval(DIV(C(7), C(2))), 3);
  ck_assert_int_eq(cval(MOD(C(7), C(2))), 1);
  ck_assert_int_eq(cval(MIN(C(7), C(2))), 2);
  ck_assert_int_eq(cval(MAX(C(7), C(2))), 7);
  ck_assert_int_eq(cval(MUL(ADD(C(1), C(2)), SUB(C(10), C(4)))), 18);
  /* floor semantics, Python style */
  ck_assert_int_eq(cval(DIV(C(-7), C(2))), -4);
  ck_assert_int_eq(cval(DIV(C(7), C(-2))), -4);
  ck_assert_int_eq(cval(DIV(C(-7), C(-2))), 3);
  ck_assert_int_eq(cval(DIV(C(-8), C(2))), -4);
  ck_assert_int_eq(cval(MOD(C(-7), C(2))), 1);
  ck_assert_int_eq(cval(MOD(C(7), C(-2))), -1);
  ck_assert_int_eq(cval(MOD(C(-7), C(-2))), -1);
  ck_assert_int_eq(cval(MOD(C(-8), C(2))), 0);
  ck_assert_int_eq(cval(MOD(C(INT64_MIN), C(-1))), 0);
}
END_TEST

START_TEST(test_overflow) {
  /* add/mul overflow: NULL (documented in dim.c) */
  ck_assert_ptr_null(ADD(C(INT64_MAX), C(1)));
  ck_assert_ptr_null(MUL(C(INT64_MAX), C(2)));
  ck_assert_ptr_null(SUB(C(INT64_MIN), C(1)));
  ck_assert_ptr_null(MUL(MUL(C(INT64_MAX), S("a")), C(2)));
  ck_assert_ptr_null(ADD(MUL(C(INT64_MAX), S("a")), S("a")));
  /* div whose folding would overflow stays unfolded */
  ferry_dim d = DIV(C(INT64_MIN), C(-1));
  ck_assert_ptr_nonnull(d);
  ck_assert(!ferry_dim_is_const(d, NULL));
  int64_t v;
  ck_assert_int_eq(ferry_dim_eval(d, NULL, NULL, &v), -1);
  /* min/max where a - b overflows still works */
  ferry_dim m = MIN(C(INT64_MIN), C(INT64_MAX));
  ck_assert_int_eq(cval(m), INT64_MIN);
  ck_assert_int_eq(cval(MAX(C(INT64_MIN), C(INT64_MAX))), INT64_MAX);
  ck_assert_int_eq(cval(MAX(C(INT64_MIN), C(INT64_MIN))), INT64_MIN);
}
END_TEST

START_TEST(test_div_mod) {
  ferry_dim s = S("s"), t = S("t");
  ck_assert_ptr_eq(DIV(s, C(1)), s);
  ck_assert_ptr_eq(DIV(MUL(C(4), s), C(2)), MUL(C(2), s));
  ck_assert_ptr_eq(DIV(ADD(MUL(C(6), s), C(3)), C(3)), ADD(MUL(C(2), s), C(1)));
  ck_assert_ptr_eq(DIV(MUL(C(6), MUL(s, t)), C(-3)), MUL(C(-2), MUL(s, t)));
  ck_assert_ptr_eq(DIV(ADD(MUL(C(2), s), C(3)), C(-1)),
                   SUB(C(-3), MUL(C(2), s)));
  ck_assert_ptr_eq(DIV(ADD(s, C(3)), C(-2)),
                   ADD(C(-2), DIV(SUB(s, C(1)), C(-2))));
  ck_assert_ptr_eq(MOD(ADD(s, C(3)), C(-2)), MOD(SUB(s, C(1)), C(-2)));
  ck_assert_ptr_eq(MOD(s, C(1)), C(0));
  ck_assert_ptr_eq(MOD(s, C(-1)), C(0));
  ck_assert_ptr_eq(MOD(MUL(C(4), s), C(2)), C(0));
  ck_assert_ptr_eq(MOD(MUL(C(2), s), C(2)), C(0));
  ck_assert_ptr_eq(MOD(ADD(MUL(C(4), s), C(5)), C(2)), C(1));
  ck_assert_ptr_eq(MOD(ADD(MUL(C(4), s), C(-1)), C(2)), C(1));
  /* (2s + 1) / 2 = s, floor */
  ck_assert_ptr_eq(DIV(ADD(MUL(C(2), s), C(1)), C(2)), s);
  /* (2s - 1) / 2 = s - 1, floor */
  ck_assert_ptr_eq(DIV(SUB(MUL(C(2), s), C(1)), C(2)), SUB(s, C(1)));
  /* not divisible: stays a division, equal to itself */
  ferry_dim h = DIV(ADD(s, C(1)), C(2));
  ck_assert(!ferry_dim_is_const(h, NULL));
  ck_assert_ptr_null(ferry_dim_sym_name(h));
  ck_assert_ptr_eq(h, DIV(ADD(C(1), s), C(2)));
  ck_assert_ptr_ne(h, DIV(s, C(2)));
  /* divisible part comes out: (2t + s + 5) / 2 = t + 2 + (s + 1) / 2 */
  ck_assert_ptr_eq(DIV(ADD(ADD(MUL(C(2), t), s), C(5)), C(2)),
                   ADD(ADD(t, C(2)), h));
  /* ...and disappears under mod */
  ck_assert_ptr_eq(MOD(ADD(ADD(MUL(C(2), t), s), C(5)), C(2)),
                   MOD(ADD(s, C(1)), C(2)));
  /* symbolic divisors stay opaque */
  ferry_dim q = DIV(s, t);
  ck_assert_ptr_eq(q, DIV(s, t));
  ck_assert_ptr_ne(q, DIV(t, s));
  ck_assert_ptr_ne(DIV(s, t), MOD(s, t));
  /* division by a zero constant is kept, not folded */
  ck_assert(!ferry_dim_is_const(DIV(C(1), C(0)), NULL));
  ck_assert(!ferry_dim_is_const(MOD(s, C(0)), NULL));
}
END_TEST

START_TEST(test_min_max) {
  ferry_dim a = S("a"), b = S("b");
  ck_assert_ptr_eq(MIN(a, a), a);
  ck_assert_ptr_eq(MAX(a, a), a);
  ck_assert_ptr_eq(MIN(a, ADD(a, C(3))), a);
  ck_assert_ptr_eq(MAX(a, ADD(a, C(3))), ADD(a, C(3)));
  ck_assert_ptr_eq(MIN(SUB(a, C(1)), a), SUB(a, C(1)));
  ck_assert_ptr_eq(MAX(ADD(a, b), ADD(b, ADD(a, C(-2)))), ADD(a, b));
  ck_assert_ptr_ne(MIN(a, b), MAX(a, b));
  ck_assert_ptr_ne(MIN(a, C(5)), a);
  ck_assert_ptr_eq(MIN(C(5), a), MIN(a, C(5)));
}
END_TEST

START_TEST(test_print) {
  ferry_dim s = S("sequence"), a = S("a"), b = S("b");
  ck_str(S("batch"), "batch");
  ck_str(C(42), "42");
  ck_str(C(-42), "-42");
  ck_str(ADD(MUL(C(2), s), C(1)), "2*sequence + 1");
  ck_str(ADD(C(1), MUL(s, C(2))), "2*sequence + 1");
  ck_str(SUB(s, C(1)), "sequence - 1");
  ck_str(SUB(C(1), s), "-sequence + 1");
  ck_str(DIV(ADD(s, C(1)), C(2)), "(sequence + 1) / 2");
  ck_str(MIN(a, C(5)), "min(a, 5)");
  ck_str(MAX(C(5), a), "max(a, 5)");
  ck_str(ADD(b, a), "a + b");
  ck_str(SUB(a, MUL(C(3), b)), "a - 3*b");
  ck_str(MUL(b, a), "a*b");
  ck_str(MUL(C(-2), MUL(a, b)), "-2*a*b");
  ck_str(MUL(a, a), "a*a");
  ck_str(ADD(MUL(a, a), a), "a + a*a");
  ck_str(MOD(a, C(4)), "a % 4");
  ck_str(DIV(a, b), "a / b");
  ck_str(DIV(MUL(C(3), a), C(2)), "3*a / 2");
  ck_str(DIV(a, ADD(b, C(1))), "a / (b + 1)");
  ck_str(MUL(C(2), DIV(a, C(3))), "2*(a / 3)");
  ck_str(SUB(C(0), DIV(a, C(3))), "-(a / 3)");
  ck_str(SUB(b, DIV(a, C(3))), "b - a / 3");
  ck_str(MUL(a, MOD(b, C(3))), "a*(b % 3)");
  ck_str(MIN(ADD(a, C(1)), MUL(C(2), b)), "min(a + 1, 2*b)");
  ck_str(MUL(ADD(a, C(1)), MIN(a, b)), "a*min(a, b) + min(a, b)");
  ck_str(DIV(C(7), C(0)), "7 / 0");
  ck_str(S("p2o.DynamicDimension.0"), "p2o.DynamicDimension.0");
  ck_str(ADD(S("?"), C(1)), "? + 1");
  ck_str(MUL(C(INT64_MIN), a), "-9223372036854775808*a");
  ck_str(ADD(a, C(INT64_MIN)), "a - 9223372036854775808");
  ck_str(NULL, "(null)");
}
END_TEST

START_TEST(test_print_buffer) {
  char buf[8];
  ferry_dim d = ADD(MUL(C(2), S("sequence")), C(1));
  ck_assert_uint_eq(ferry_dim_str(d, NULL, 0), strlen("2*sequence + 1"));
  memset(buf, 'x', sizeof buf);
  ck_assert_uint_eq(ferry_dim_str(d, buf, sizeof buf), 14);
  ck_assert_str_eq(buf, "2*seque");
  memset(buf, 'x', sizeof buf);
  ck_assert_uint_eq(ferry_dim_str(d, buf, 1), 14);
  ck_assert_int_eq(buf[0], '\0');
  ck_assert_int_eq(buf[1], 'x');
}
END_TEST

/* Bindings for eval/subst: "name=value" pairs in a NULL-terminated array. */
static int lookup(void *user, const char *name, int64_t *value) {
  for (const char **p = user; *p; p++) {
    size_t n = strcspn(*p, "=");
    if (strncmp(*p, name, n) == 0 && name[n] == '\0') {
      *value = strtoll(*p + n + 1, NULL, 10);
      return 0;
    }
  }
  return -1;
}

START_TEST(test_eval) {
  const char *env[] = {"a=7", "b=-3", "zero=0", NULL};
  ferry_dim a = S("a"), b = S("b"), z = S("zero");
  int64_t v = 0;
  ck_assert_int_eq(ferry_dim_eval(ADD(MUL(C(2), a), C(1)), lookup, env, &v), 0);
  ck_assert_int_eq(v, 15);
  ck_assert_int_eq(ferry_dim_eval(MUL(ADD(a, b), SUB(a, b)), lookup, env, &v),
                   0);
  ck_assert_int_eq(v, 40);
  ck_assert_int_eq(ferry_dim_eval(DIV(SUB(C(0), a), C(2)), lookup, env, &v), 0);
  ck_assert_int_eq(v, -4);
  ck_assert_int_eq(ferry_dim_eval(MOD(SUB(C(0), a), C(2)), lookup, env, &v), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(ferry_dim_eval(MOD(a, b), lookup, env, &v), 0);
  ck_assert_int_eq(v, -2);
  ck_assert_int_eq(ferry_dim_eval(DIV(a, b), lookup, env, &v), 0);
  ck_assert_int_eq(v, -3);
  ck_assert_int_eq(ferry_dim_eval(MIN(a, b), lookup, env, &v), 0);
  ck_assert_int_eq(v, -3);
  ck_assert_int_eq(ferry_dim_eval(MAX(a, MUL(b, b)), lookup, env, &v), 0);
  ck_assert_int_eq(v, 9);
  ck_assert_int_eq(ferry_dim_eval(DIV(ADD(a, C(1)), C(2)), lookup, env, &v), 0);
  ck_assert_int_eq(v, 4);
  /* unbound symbol, division by zero, no lookup, NULL */
  v = 1234;
  ck_assert_int_eq(ferry_dim_eval(ADD(a, S("c")), lookup, env, &v), -1);
  ck_assert_int_eq(ferry_dim_eval(DIV(a, z), lookup, env, &v), -1);
  ck_assert_int_eq(ferry_dim_eval(MOD(a, z), lookup, env, &v), -1);
  ck_assert_int_eq(ferry_dim_eval(DIV(C(1), C(0)), lookup, env, &v), -1);
  ck_assert_int_eq(ferry_dim_eval(a, NULL, NULL, &v), -1);
  ck_assert_int_eq(ferry_dim_eval(NULL, lookup, env, &v), -1);
  ck_assert_int_eq(v, 1234);
  ck_assert_int_eq(ferry_dim_eval(C(9), NULL, NULL, &v), 0);
  ck_assert_int_eq(v, 9);
}
END_TEST

START_TEST(test_subst) {
  const char *env[] = {"batch=1", "s=4", NULL};
  ferry_dim batch = S("batch"), s = S("s"), t = S("t");
  ferry_dim d = ADD(MUL(batch, t), MUL(C(3), s));
  ck_assert_ptr_eq(ferry_dim_subst(cx, d, lookup, env), ADD(t, C(12)));
  ck_assert_ptr_eq(ferry_dim_subst(cx, t, lookup, env), t);
  ck_assert_ptr_eq(ferry_dim_subst(cx, d, NULL, NULL), d);
  /* a substituted division re-simplifies */
  ferry_dim q = DIV(ADD(MUL(s, t), s), C(2));
  ck_assert_ptr_eq(ferry_dim_subst(cx, q, lookup, env),
                   ADD(MUL(C(2), t), C(2)));
  ck_assert_ptr_eq(ferry_dim_subst(cx, MIN(s, C(9)), lookup, env), C(4));
  ck_assert_ptr_eq(ferry_dim_subst(cx, MOD(ADD(s, t), C(4)), lookup, env),
                   MOD(t, C(4)));
  ck_assert_ptr_eq(ferry_dim_subst(cx, MUL(s, MUL(s, t)), lookup, env),
                   MUL(C(16), t));
  /* subst then eval agrees with eval */
  const char *all[] = {"batch=3", "s=5", "t=-7", NULL};
  ferry_dim e =
      SUB(MUL(DIV(ADD(MUL(batch, t), s), C(3)), MAX(s, t)), MOD(t, s));
  int64_t v1, v2;
  ck_assert_int_eq(ferry_dim_eval(e, lookup, all, &v1), 0);
  ck_assert_int_eq(v2 = cval(ferry_dim_subst(cx, e, lookup, all)), v1);
  ck_assert_int_eq(v1, ((3 * -7 + 5) / 3 - 1) * 5 - 3);
  ck_assert_ptr_null(ferry_dim_subst(cx, NULL, lookup, env));
  ck_assert_ptr_null(ferry_dim_subst(NULL, d, lookup, env));
}
END_TEST

START_TEST(test_fresh) {
  ferry_dim f0 = ferry_dim_fresh(cx);
  ck_assert_str_eq(ferry_dim_sym_name(f0), "unk__0");
  S("unk__1");
  S("unk__2");
  ferry_dim f1 = ferry_dim_fresh(cx);
  ck_assert_str_eq(ferry_dim_sym_name(f1), "unk__3");
  ferry_dim f2 = ferry_dim_fresh(cx);
  ck_assert_str_eq(ferry_dim_sym_name(f2), "unk__4");
  ck_assert_ptr_ne(f1, f2);
  ck_assert_ptr_eq(S("unk__4"), f2);
  ck_assert_ptr_null(ferry_dim_fresh(NULL));
  /* a fresh context starts again at 0 */
  ferry_dimctx *other = ferry_dimctx_new();
  ck_assert_str_eq(ferry_dim_sym_name(ferry_dim_fresh(other)), "unk__0");
  ferry_dimctx_free(other);
}
END_TEST

START_TEST(test_null) {
  ferry_dim a = S("a");
  ck_assert_ptr_null(S(NULL));
  ck_assert_ptr_null(ferry_dim_const(NULL, 1));
  ck_assert_ptr_null(ferry_dim_sym(NULL, "a"));
  ck_assert_ptr_null(ADD(a, NULL));
  ck_assert_ptr_null(SUB(NULL, a));
  ck_assert_ptr_null(MUL(a, NULL));
  ck_assert_ptr_null(DIV(NULL, C(2)));
  ck_assert_ptr_null(DIV(a, NULL));
  ck_assert_ptr_null(MOD(NULL, C(1)));
  ck_assert_ptr_null(MIN(a, NULL));
  ck_assert_ptr_null(MAX(NULL, NULL));
  ck_assert_ptr_null(ADD(MUL(ADD(a, NULL), C(2)), C(1)));
  ck_assert_ptr_null(ferry_dim_add(NULL, a, a));
  ck_assert(!ferry_dim_is_const(NULL, NULL));
  ck_assert_ptr_null(ferry_dim_sym_name(NULL));
  ferry_dimctx_free(NULL);
}
END_TEST

/* Two contexts never share nodes; equal builds in each print the same. */
START_TEST(test_two_contexts) {
  ferry_dimctx *other = ferry_dimctx_new();
  ferry_dim x = ferry_dim_add(other, ferry_dim_sym(other, "b"),
                              ferry_dim_sym(other, "a"));
  ferry_dim y = ADD(S("a"), S("b"));
  ck_assert_ptr_ne(x, y);
  char bx[32];
  ferry_dim_str(x, bx, sizeof bx);
  ck_assert_str_eq(bx, str(y));
  ferry_dimctx_free(other);
}
END_TEST

/* Constant divisors of the random trees, negative ones included. */
static const int64_t divisors[4] = {2, 3, -2, -1};

/* Builds a pseudo-random expression over a few symbols. */
static ferry_dim random_expr(ferry_dimctx *c, unsigned *seed, int depth) {
  static const char *names[] = {"a", "b", "c", "d"};
  *seed = *seed * 1103515245u + 12345u;
  unsigned r = (*seed >> 16) & 0x7fff;
  if (depth == 0 || r % 7 == 0)
    return r % 2 ? ferry_dim_sym(c, names[r / 2 % 4])
                 : ferry_dim_const(c, (int64_t)(r / 2 % 9) - 3);
  ferry_dim x = random_expr(c, seed, depth - 1);
  ferry_dim y = random_expr(c, seed, depth - 1);
  switch (r % 6) {
  case 0:
    return ferry_dim_add(c, x, y);
  case 1:
    return ferry_dim_sub(c, x, y);
  case 2:
    return ferry_dim_mul(c, x, y);
  case 3:
    return ferry_dim_div(c, x, ferry_dim_const(c, divisors[r / 6 % 4]));
  case 4:
    return ferry_dim_mod(c, x, ferry_dim_const(c, divisors[r / 6 % 4]));
  default:
    return r / 6 % 2 ? ferry_dim_min(c, x, y) : ferry_dim_max(c, x, y);
  }
}

static int lookup_abcd(void *user, const char *name, int64_t *value) {
  const int64_t *vals = user;
  if (!name[0] || name[1] || name[0] < 'a' || name[0] > 'd') return -1;
  *value = vals[name[0] - 'a'];
  return 0;
}

/* Evaluates the same random tree directly, with floor semantics. */
static int64_t fdiv(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}
static int64_t fmod_(int64_t a, int64_t b) { return a - b * fdiv(a, b); }

static int64_t random_value(unsigned *seed, int depth, const int64_t *vals) {
  *seed = *seed * 1103515245u + 12345u;
  unsigned r = (*seed >> 16) & 0x7fff;
  if (depth == 0 || r % 7 == 0)
    return r % 2 ? vals[r / 2 % 4] : (int64_t)(r / 2 % 9) - 3;
  int64_t x = random_value(seed, depth - 1, vals);
  int64_t y = random_value(seed, depth - 1, vals);
  int64_t k = divisors[r / 6 % 4];
  switch (r % 6) {
  case 0:
    return x + y;
  case 1:
    return x - y;
  case 2:
    return x * y;
  case 3:
    return fdiv(x, k);
  case 4:
    return fmod_(x, k);
  default:
    return r / 6 % 2 ? (x < y ? x : y) : (x > y ? x : y);
  }
}

static char (*sort_text)[128];

static int by_text(const void *x, const void *y) {
  return strcmp(sort_text[*(const int *)x], sort_text[*(const int *)y]);
}

START_TEST(test_stress) {
  enum { N = 4000, DEPTH = 4 };
  static ferry_dim first[N];
  static char text[N][128];
  const int64_t vals[4] = {5, -2, 11, 3};
  /* Build N random expressions, twice: the same trees intern identically. */
  for (int i = 0; i < N; i++) {
    unsigned seed = (unsigned)i * 2654435761u;
    first[i] = random_expr(cx, &seed, DEPTH);
    ck_assert_ptr_nonnull(first[i]);
    ferry_dim_str(first[i], text[i], sizeof text[i]);
  }
  for (int i = 0; i < N; i++) {
    unsigned seed = (unsigned)i * 2654435761u, seed2 = seed;
    ferry_dim d = random_expr(cx, &seed, DEPTH);
    ck_assert_ptr_eq(d, first[i]);
    int64_t v;
    ck_assert_int_eq(ferry_dim_eval(d, lookup_abcd, (void *)vals, &v), 0);
    ck_assert_msg(v == random_value(&seed2, DEPTH, vals), "eval of %s",
                  text[i]);
    ferry_dim c = ferry_dim_subst(cx, d, lookup_abcd, (void *)vals);
    ck_assert_int_eq(cval(c), v);
    /* d + 0, d*1, (d + d) - d and 2d/2 give d back */
    ck_assert_ptr_eq(ADD(d, C(0)), d);
    ck_assert_ptr_eq(MUL(C(1), d), d);
    ck_assert_ptr_eq(SUB(ADD(d, d), d), d);
    ck_assert_ptr_eq(DIV(MUL(d, C(2)), C(2)), d);
    ck_assert_ptr_eq(MOD(MUL(C(3), d), C(3)), C(0));
  }
  /* Equal text <=> equal pointer: sort by text, compare neighbours. */
  static int order[N];
  for (int i = 0; i < N; i++) order[i] = i;
  sort_text = text;
  qsort(order, N, sizeof *order, by_text);
  for (int i = 1; i < N; i++) {
    int x = order[i - 1], y = order[i];
    ck_assert_msg((strcmp(text[x], text[y]) == 0) == (first[x] == first[y]),
                  "%s vs %s", text[x], text[y]);
  }
  /* A second context builds the same text (order is not by address). */
  ferry_dimctx *other = ferry_dimctx_new();
  for (int i = 0; i < N; i++) {
    unsigned seed = (unsigned)i * 2654435761u;
    char buf[128];
    ferry_dim_str(random_expr(other, &seed, DEPTH), buf, sizeof buf);
    ck_assert_str_eq(buf, text[i]);
  }
  ferry_dimctx_free(other);
}
END_TEST

static Suite *dim_suite(void) {
  Suite *s = suite_create("dim");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_const_and_sym);
  tcase_add_test(tc, test_canonical_equality);
  tcase_add_test(tc, test_folding);
  tcase_add_test(tc, test_overflow);
  tcase_add_test(tc, test_div_mod);
  tcase_add_test(tc, test_min_max);
  tcase_add_test(tc, test_print);
  tcase_add_test(tc, test_print_buffer);
  tcase_add_test(tc, test_eval);
  tcase_add_test(tc, test_subst);
  tcase_add_test(tc, test_fresh);
  tcase_add_test(tc, test_null);
  tcase_add_test(tc, test_two_contexts);
  tcase_add_test(tc, test_stress);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(dim_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
