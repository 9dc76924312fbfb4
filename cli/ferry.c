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
#include "convert.h"
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
    "Prints what an ONNX model or a .ferry bundle holds: producer, IR version, opsets, inputs and\n"
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
  ferry_model *m = ferry_model_load(file, &err);
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

/* ---- ferry convert ---- */

static const char convert_help[] =
    "Usage: ferry convert IN -o OUT.ferry [--emit-onnx OUT.onnx] [--fix-dim NAME=VALUE]...\n"
    "                     [--verbose] [--no-optimize] [--disable PASS]... [--enable PASS]...\n"
    "                     [--shard-size SIZE] [--compress] [--list-passes]\n"
    "\n"
    "Converts an ONNX model (or a bundle) into a .ferry bundle for ferry's runtime:\n"
    "imports it, infers every shape symbolically, optimizes the graph with the\n"
    "passes below, and writes the bundle atomically (nothing is left on failure).\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT     the bundle to write (shards go to OUT.1, OUT.2, ...)\n"
    "  --emit-onnx FILE     also write the optimized graph as a standard ONNX model\n"
    "                       (fused ops as com.microsoft ops onnxruntime runs), to check\n"
    "                       the optimizer with another runtime\n"
    "  --fix-dim NAME=VALUE bind a symbolic dim (repeatable)\n"
    "  --verbose            print each pass with nodes before/after\n"
    "  --no-optimize        run no pass\n"
    "  --disable PASS       turn one pass off (repeatable); --list-passes names them\n"
    "  --enable PASS        turn an opt-in pass on (repeatable)\n"
    "  --shard-size SIZE    most bytes per bundle file, e.g. 16M (default 1G)\n"
    "  --compress           deflate the bundle's small sections (never the weights)\n"
    "\n"
    "Example:\n"
    "  ferry convert examples/squeezenet1_1.onnx -o squeezenet.ferry --verbose\n"
    "  ferry convert bert.onnx -o bert.ferry --emit-onnx bert.opt.onnx --disable fuse-attention\n";

#define MAX_PASS_ARGS 32

/* "16M", "1G", "4096" into bytes; 0 when it is not a size. */
static uint64_t parse_size(const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || s[0] == '-') return 0;
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10, end++;
  else if (*end == 'M' || *end == 'm') shift = 20, end++;
  else if (*end == 'G' || *end == 'g') shift = 30, end++;
  if (*end || v > (UINT64_MAX >> shift)) return 0;
  return (uint64_t)v << shift;
}

static void list_passes(void) {
  int n;
  const ferry_pass *p = ferry_pass_table(&n);
  for (int i = 0; i < n; i++)
    printf("  %-16s %s%s\n", p[i].name, p[i].summary, p[i].opt_in ? " (opt-in)" : "");
}

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE"), or NULL. */
static char *option_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] || *i + 1 >= argc) return NULL;
  return argv[++*i];
}

static int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  ferry_convert_opts o = {0};
  ferry_dimbinding fix[MAX_FIX];
  const char *disabled[MAX_PASS_ARGS], *enabled[MAX_PASS_ARGS];
  int verbose = 0;
  char *v;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) verbose = 1;
    else if (strcmp(a, "--no-optimize") == 0) o.no_optimize = 1;
    else if (strcmp(a, "--compress") == 0) o.compress = 1;
    else if (strcmp(a, "--list-passes") == 0) return list_passes(), 0;
    else if (strcmp(a, "-o") == 0 && i + 1 < argc) out = argv[++i];
    else if ((v = option_value(argc, argv, &i, "--output"))) out = v;
    else if ((v = option_value(argc, argv, &i, "--emit-onnx"))) o.emit_onnx = v;
    else if ((v = option_value(argc, argv, &i, "--fix-dim"))) {
      if (o.n_fix == MAX_FIX || parse_fix(v, &fix[o.n_fix++]))
        return usage_error("convert", "--fix-dim wants NAME=VALUE, VALUE an integer >= 0");
    } else if ((v = option_value(argc, argv, &i, "--disable"))) {
      if (o.n_disabled == MAX_PASS_ARGS) return usage_error("convert", "too many --disable");
      disabled[o.n_disabled++] = v;
    } else if ((v = option_value(argc, argv, &i, "--enable"))) {
      if (o.n_enabled == MAX_PASS_ARGS) return usage_error("convert", "too many --enable");
      enabled[o.n_enabled++] = v;
    } else if ((v = option_value(argc, argv, &i, "--shard-size"))) {
      if (!(o.shard_size = parse_size(v))) return usage_error("convert", "--shard-size wants a size like 16M");
    } else if (a[0] == '-' && a[1]) return usage_error("convert", "unknown option or missing value");
    else if (in) return usage_error("convert", "one input model only");
    else in = a;
  }
  if (!in) return usage_error("convert", "missing the input model");
  if (!out) return usage_error("convert", "missing -o OUT.ferry");
  o.fix = fix;
  o.disabled = disabled;
  o.enabled = enabled;
  ferry_err err = {0};
  ferry_convert_report rep;
  if (ferry_convert_file(in, out, &o, &rep, &err)) return fail(&err);
  ferry_convert_report_print(&rep, out, verbose, stdout);
  return 0;
}

/* ---- dispatch ---- */

typedef struct command {
  const char *name, *summary, *help;
  int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"inspect", "show a model's inputs, outputs, ops and parameters", inspect_help, cmd_inspect},
    {"convert", "optimize an ONNX model into a .ferry bundle", convert_help, cmd_convert},
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
