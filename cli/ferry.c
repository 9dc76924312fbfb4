/*
 * ferry.c - the `ferry` command: parses arguments and calls the libraries.
 *
 * Each subcommand is one row of `commands` (name, one-line summary, help
 * text, entry point). Entry points only read options and call into
 * convert/, runtime/, validate/...; errors come back as ferry_err values
 * and leave here as one stderr line "ferry: FILE: what is wrong" plus the
 * exit code documented in EXIT_CODES (and docs/cli.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ferry_base.h"
#include "infer.h"
#include "inspect.h"
#include "ir.h"

#define EXIT_CODES \
  "Exit codes:\n" \
  "  0  success\n" \
  "  1  validation failed (outputs differ beyond tolerance)\n" \
  "  2  bad input or usage: unreadable, invalid or unsupported model, bad option\n" \
  "  3  system failure: cannot write output, out of memory\n"

static int fail(const ferry_err *e) {
  fprintf(stderr, "ferry: %s\n", e->msg);
  return e->code ? e->code : FERRY_E_SYSTEM;
}

static int usage_error(const char *cmd, const char *what) {
  fprintf(stderr, "ferry: %s: %s (see 'ferry %s --help')\n", cmd, what, cmd);
  return FERRY_E_INPUT;
}

/* ---- ferry inspect ---- */

static const char inspect_help[] =
    "Usage: ferry inspect FILE [--json] [--shapes] [--fix-dim NAME=VALUE]...\n"
    "\n"
    "Prints what an ONNX model holds: producer, IR version, opsets, inputs and\n"
    "outputs with dtypes and shapes (symbolic dims by name), nodes per op type\n"
    "(nodes inside If/Loop/Scan bodies counted), parameter count and bytes per\n"
    "dtype, and the external data files it uses.\n"
    "\n"
    "Options:\n"
    "  --json   print one JSON object: inputs, outputs ({name, dtype, shape},\n"
    "           a dim is an integer or a string), node_count, op_counts,\n"
    "           parameters, parameter_bytes, opsets, producer, external_data\n"
    "  --shapes infer every value's dtype and shape (symbolic dims stay names:\n"
    "           [batch, sequence, 64]) and list them after the report, one\n"
    "           per line with the op that makes it, subgraph values indented;\n"
    "           with --json, a \"values\" array of {name, dtype, shape, op,\n"
    "           node, graph}\n"
    "  --fix-dim NAME=VALUE\n"
    "           bind the symbolic dim NAME to VALUE everywhere (repeatable)\n"
    "\n"
    "Example:\n"
    "  ferry inspect examples/squeezenet1_1.onnx\n"
    "  ferry inspect model.onnx --json | jq .op_counts\n"
    "  ferry inspect bert.onnx --shapes --fix-dim batch=1\n";

#define MAX_FIX 64

/* NAME=VALUE into *b (VALUE a non-negative integer); 0 on success. */
static int parse_fix(char *arg, ferry_dimbinding *b) {
  char *eq = strchr(arg, '='), *end;
  if (!eq || eq == arg || !eq[1]) return -1;
  *eq = 0;
  long long v = strtoll(eq + 1, &end, 10);
  if (*end || v < 0) return -1;
  b->name = arg;
  b->value = v;
  return 0;
}

static int cmd_inspect(int argc, char **argv) {
  const char *file = NULL;
  unsigned flags = 0;
  ferry_dimbinding fix[MAX_FIX];
  int n_fix = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) flags |= FERRY_INSPECT_JSON;
    else if (strcmp(argv[i], "--shapes") == 0) flags |= FERRY_INSPECT_SHAPES;
    else if (strcmp(argv[i], "--fix-dim") == 0 || strncmp(argv[i], "--fix-dim=", 10) == 0) {
      char *arg = argv[i][9] == '=' ? argv[i] + 10 : i + 1 < argc ? argv[++i] : NULL;
      if (!arg || n_fix == MAX_FIX || parse_fix(arg, &fix[n_fix++]))
        return usage_error("inspect", "--fix-dim wants NAME=VALUE, VALUE an integer >= 0");
    } else if (argv[i][0] == '-' && argv[i][1]) return usage_error("inspect", "unknown option");
    else if (file) return usage_error("inspect", "one FILE only");
    else file = argv[i];
  }
  if (!file) return usage_error("inspect", "missing FILE");
  ferry_err err = {0};
  ferry_model *m = ferry_onnx_load(file, &err);
  if (!m) return fail(&err);
  int rc = (flags & FERRY_INSPECT_SHAPES) ? ferry_infer_shapes(m, fix, n_fix, &err)
                                          : ferry_bind_dims(m, fix, n_fix, &err);
  if (rc) {
    ferry_model_free(m);
    return fail(&err);
  }
  rc = ferry_inspect_model(stdout, m, flags);
  ferry_model_free(m);
  if (rc) {
    fprintf(stderr, "ferry: cannot write the report\n");
    return rc;
  }
  return 0;
}

/* ---- dispatch ---- */

typedef struct command {
  const char *name, *summary, *help;
  int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"inspect", "show a model's inputs, outputs, ops and parameters", inspect_help, cmd_inspect},
};

static void print_usage(FILE *f) {
  fprintf(f,
          "Usage: ferry COMMAND [ARGS]\n"
          "\n"
          "ferry carries ONNX models into the browser.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n'ferry COMMAND --help' explains a command, with an example.\n"
          "\n" EXIT_CODES);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return FERRY_E_INPUT;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    print_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("ferry %s\n", PACKAGE_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    const command *c = &commands[i];
    if (strcmp(argv[1], c->name)) continue;
    for (int k = 2; k < argc; k++)
      if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
        printf("%s\n%s", c->help, EXIT_CODES);
        return 0;
      }
    return c->run(argc - 1, argv + 1);
  }
  fprintf(stderr, "ferry: unknown command '%s' (see 'ferry --help')\n", argv[1]);
  return FERRY_E_INPUT;
}
