/*
 * ops.c - the op registry (ops.h): runtime/ops.def expanded into one
 * sorted array, searched by (domain, name) with a binary search.
 */
#include "ops.h"

#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "ops/core.h"
#include "ops/rules.h"

static const ferry_opdef table[] = {
#define FERRY_OP(dom, name, since, until, rule, kernel, flags) {dom, #name, since, until, rule, kernel, flags, NULL},
#define FERRY_OP_UNSUPPORTED(dom, name, since, why) {dom, #name, since, 0, NULL, NULL, 0, why},
#include "ops.def"
#undef FERRY_OP
#undef FERRY_OP_UNSUPPORTED
};

#define N_OPS ((int)(sizeof table / sizeof *table))

static int cmp_key(const char *domain, const char *name, const ferry_opdef *d) {
  int c = strcmp(domain, d->domain);
  return c ? c : strcmp(name, d->name);
}

const ferry_opdef *ferry_op_find(const char *domain, const char *name, int opset) {
  if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
  int lo = 0, hi = N_OPS - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = cmp_key(domain, name, &table[mid]);
    if (c == 0) {
      const ferry_opdef *d = &table[mid];
      if (opset < d->since || (d->until && opset > d->until)) return NULL;
      return d;
    }
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

const ferry_opdef *ferry_op_table(int *n) {
  *n = N_OPS;
  return table;
}
