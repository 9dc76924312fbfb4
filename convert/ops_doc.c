/*
 * ops_doc.c - renders the op registry as docs/ops.md (see ops_doc.h): a
 * summary line, then one table row per op in registry order (domain, then
 * name) with its opset range, whether its shape rule and CPU kernel exist
 * and its flags.
 */
#include "ops_doc.h"

#include "ferry_base.h"
#include "ops.h"

static void opsets(FILE *f, const ferry_opdef *d) {
  if (d->until) fprintf(f, "%d-%d", d->since, d->until);
  else fprintf(f, "%d+", d->since);
}

static const char *rule_text(const ferry_opdef *d) {
  if (d->unsupported) return "unsupported";
  if (d->flags & FERRY_OPF_CONTROL) return "yes (driver: subgraphs)";
  return d->shape ? "yes" : "no";
}

static void notes(FILE *f, const ferry_opdef *d) {
  const char *sep = "";
  if (d->unsupported) fprintf(f, "%s", d->unsupported), sep = "; ";
  if (d->flags & FERRY_OPF_CONTENT) fprintf(f, "%scarries shape content", sep), sep = "; ";
  if (d->flags & FERRY_OPF_SEQUENCE) fprintf(f, "%ssequences/optionals", sep), sep = "; ";
  if (d->flags & FERRY_OPF_RANDOM) fprintf(f, "%srandom", sep);
}

int ferry_ops_markdown(FILE *f) {
  int n, rules = 0, kernels = 0, unsupported = 0;
  const ferry_opdef *t = ferry_op_table(&n);
  for (int i = 0; i < n; i++) {
    rules += t[i].shape || (t[i].flags & FERRY_OPF_CONTROL);
    unsupported += t[i].unsupported != NULL;
    kernels += t[i].kernel != NULL;
  }
  fputs("# Operators\n\n"
        "Generated from the op registry (`runtime/ops.def`) by `tests/ops_md`; do not edit by\n"
        "hand: run `tests/ops_md > docs/ops.md` after changing the table (`make check` compares).\n\n", f);
  fprintf(f, "%d ops: %d with a shape rule, %d with a CPU kernel, %d unsupported. Opsets: the\n"
             "first and last opset version of the op's domain that has it (`+`: still current).\n\n",
          n, rules, kernels, unsupported);
  fputs("| Op | Domain | Opsets | Shape rule | CPU kernel | Notes |\n|---|---|---|---|---|---|\n", f);
  for (int i = 0; i < n; i++) {
    fprintf(f, "| %s | %s | ", t[i].name, *t[i].domain ? t[i].domain : "ai.onnx");
    opsets(f, &t[i]);
    fprintf(f, " | %s | %s | ", rule_text(&t[i]), t[i].kernel ? "yes" : "no");
    notes(f, &t[i]);
    fputs(" |\n", f);
  }
  return fflush(f) || ferror(f) ? FERRY_E_SYSTEM : FERRY_OK;
}
