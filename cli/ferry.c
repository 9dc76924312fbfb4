/*
 * ferry.c - the `ferry` command: parses arguments and calls the libraries.
 *
 * Each subcommand is one row of `commands` (name, one-line summary, help
 * text, entry point). Entry points only read options and call into
 * convert/, runtime/, validate/...; errors come back as ferry_err values
 * and leave here as one stderr line "ferry: FILE: what is wrong" plus the
 * exit code documented in EXIT_CODES (and docs/cli.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "ferry_base.h"
#include "infer.h"
#include "convert.h"
#include "inspect.h"
#include "ir.h"
#include "pack.h"
#include "profile.h"
#include "tensor_io.h"
#include "validate.h"

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
    "                       the optimizer with another runtime; passes that make ops\n"
    "                       only ferry runs (fuse-attention) are then off\n"
    "  --fix-dim NAME=VALUE bind a symbolic dim (repeatable)\n"
    "  --verbose            print each pass with nodes before/after\n"
    "  --no-optimize        run no pass\n"
    "  --disable PASS       turn one pass off (repeatable); --list-passes names them\n"
    "  --enable PASS        keep a ferry-only pass on with --emit-onnx (repeatable)\n"
    "  --shard-size SIZE    most bytes per bundle file, e.g. 16M (default 1G)\n"
    "  --compress           deflate the bundle's small sections (never the weights)\n"
    "\n"
    "Example:\n"
    "  ferry convert examples/squeezenet1_1.onnx -o squeezenet.ferry --verbose\n"
    "  ferry convert bert.onnx -o bert.ferry --disable fuse-attention --verbose\n";

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
    printf("  %-16s %s%s\n", p[i].name, p[i].summary, p[i].ferry_only ? " (off with --emit-onnx)" : "");
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

/* ---- ferry run ---- */

static const char run_help[] =
    "Usage: ferry run MODEL [--input NAME=FILE]... [--input-dir DIR] [--output-dir DIR]\n"
    "                 [--threads N] [--repeat N] [--profile]\n"
    "\n"
    "Runs a model on ferry's CPU runtime (the one ferry.wasm has) and prints each\n"
    "output's name, dtype and shape, then the time and the peak memory of the\n"
    "intermediate tensors. MODEL is a .ferry bundle (mapped and used in place, shards\n"
    "NAME.ferry.1... beside it) or an ONNX model, converted with the default options\n"
    "into a temporary folder that is removed once the bundle is mapped.\n"
    "\n"
    "Options:\n"
    "  --input NAME=FILE  the tensor for input NAME: a .npy file or an ONNX TensorProto\n"
    "                     (.pb) file (repeatable); sequence and optional inputs are\n"
    "                     SequenceProto and OptionalProto .pb files\n"
    "  --input-dir DIR    inputs from an ONNX test_data_set folder: input_0.pb,\n"
    "                     input_1.pb... in the model's input order (--input wins)\n"
    "  --output-dir DIR   write output K as DIR/output_K.pb (TensorProto) and as\n"
    "                     DIR/NAME.npy (characters other than letters, digits, '.', '_'\n"
    "                     and '-' in NAME become '_'); DIR is made if missing; a\n"
    "                     sequence or optional output as a SequenceProto or\n"
    "                     OptionalProto .pb only\n"
    "  --threads N        threads for the kernels (default 1)\n"
    "  --repeat N         run N times on the same inputs (after one untimed run when\n"
    "                     N > 1) and print the median, fastest and slowest time\n"
    "  --profile          time every kernel call and print the time per op type and\n"
    "                     the slowest nodes (per run, over the timed runs)\n"
    "\n"
    "Example:\n"
    "  ferry run squeezenet.ferry --input data=cat.npy --output-dir out\n"
    "  ferry run model.onnx --input-dir test_data_set_0 --threads 4\n"
    "  ferry run model.ferry --input-dir test_data_set_0 --repeat 20 --profile\n";

#define MAX_RUN_INPUTS 256

typedef struct run_args {
  const char *model, *input_dir, *output_dir;
  char *named[MAX_RUN_INPUTS]; /* NAME=FILE */
  int n_named, threads, repeat, profile;
} run_args;

static int parse_run(int argc, char **argv, run_args *a) {
  char *v;
  memset(a, 0, sizeof *a);
  a->threads = 1;
  a->repeat = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--profile")) a->profile = 1;
    else if ((v = option_value(argc, argv, &i, "--input-dir"))) a->input_dir = v;
    else if ((v = option_value(argc, argv, &i, "--input"))) {
      if (a->n_named == MAX_RUN_INPUTS || !strchr(v, '=')) return usage_error("run", "--input wants NAME=FILE");
      a->named[a->n_named++] = v;
    } else if ((v = option_value(argc, argv, &i, "--output-dir"))) a->output_dir = v;
    else if ((v = option_value(argc, argv, &i, "--threads"))) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 256) return usage_error("run", "--threads wants a number from 1 to 256");
      a->threads = (int)n;
    } else if ((v = option_value(argc, argv, &i, "--repeat"))) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 100000) return usage_error("run", "--repeat wants a number from 1 to 100000");
      a->repeat = (int)n;
    } else if (argv[i][0] == '-' && argv[i][1]) return usage_error("run", "unknown option or missing value");
    else if (a->model) return usage_error("run", "one MODEL only");
    else a->model = argv[i];
  }
  return a->model ? 0 : usage_error("run", "missing MODEL");
}

/* The input whose name starts arg "NAME=FILE" (the longest such name). */
static int named_input(ferry_session *s, const char *arg) {
  int best = -1;
  size_t blen = 0;
  for (int i = 0; i < ferry_session_n_inputs(s); i++) {
    const char *n = ferry_session_input_name(s, i);
    size_t len = strlen(n);
    if (strncmp(arg, n, len) == 0 && arg[len] == '=' && (best < 0 || len > blen)) best = i, blen = len;
  }
  return best;
}

static int read_inputs(ferry_session *s, const run_args *a, ferry_host_tensor *t, ferry_err *err) {
  int n = ferry_session_n_inputs(s);
  char path[4096];
  for (int k = 0; k < a->n_named; k++) {
    int i = named_input(s, a->named[k]);
    if (i < 0) {
      *strchr(a->named[k], '=') = 0;
      return ferry_fail(err, FERRY_E_INPUT, "%s: the model has no input '%s'", a->model, a->named[k]);
    }
    if (t[i].buf) ferry_host_tensor_free(&t[i]);
    if (ferry_value_read(a->named[k] + strlen(ferry_session_input_name(s, i)) + 1, ferry_session_input_info(s, i)->kind,
                         &t[i], err))
      return err->code;
  }
  for (int i = 0; i < n; i++) {
    if (t[i].buf) continue;
    if (!a->input_dir)
      return ferry_fail(err, FERRY_E_INPUT, "%s: input '%s' is not given (--input %s=FILE)", a->model,
                        ferry_session_input_name(s, i), ferry_session_input_name(s, i));
    snprintf(path, sizeof path, "%s/input_%d.pb", a->input_dir, i);
    if (ferry_value_read(path, ferry_session_input_info(s, i)->kind, &t[i], err)) return err->code;
  }
  return 0;
}

static void print_shape(const ferry_tview *t) {
  if (t->kind) { /* a sequence or optional: its items' shapes */
    printf("%s(", t->kind == FERRY_TV_SEQUENCE ? "sequence" : "optional");
    for (int i = 0; i < t->n_items; i++) {
      printf("%s", i ? ", " : "");
      print_shape(&t->items[i]);
    }
    printf("%s)", t->n_items ? "" : t->kind == FERRY_TV_SEQUENCE ? "empty" : "none");
    return;
  }
  printf("%s [", ferry_dtype_name(t->dtype));
  for (int d = 0; d < t->rank; d++) printf("%s%lld", d ? ", " : "", (long long)t->dims[d]);
  printf("]");
}

static int write_outputs(ferry_session *s, const char *dir, const ferry_tview *out, ferry_err *err) {
  char path[4096], safe[256];
  if (mkdir(dir, 0777) && errno != EEXIST) return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", dir, strerror(errno));
  for (int k = 0; k < ferry_session_n_outputs(s); k++) {
    const char *name = ferry_session_output_name(s, k);
    snprintf(path, sizeof path, "%s/output_%d.pb", dir, k);
    if (ferry_value_write_pb(path, name, &out[k], err)) return err->code;
    if (out[k].kind) continue; /* a sequence or optional: .pb only (SequenceProto, OptionalProto) */
    ferry_file_safe_name(name, safe, sizeof safe);
    snprintf(path, sizeof path, "%s/%s.npy", dir, safe);
    if (ferry_tensor_write_npy(path, &out[k], err)) {
      if (err->code != FERRY_E_INPUT) return err->code;
      fprintf(stderr, "ferry: warning: %s\n", err->msg); /* a dtype numpy lacks: the .pb has it */
    }
  }
  return 0;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double clock_ms(void *user) {
  (void)user;
  return seconds() * 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs the session `repeat` times (one untimed run first when repeat > 1);
 * *t gets the median time in seconds, min and max its extremes. */
static int timed_runs(ferry_session *s, const run_args *a, const ferry_tview *in, int n, ferry_tview *out,
                      double *t, double *min, double *max, ferry_err *err) {
  double *ts = malloc((size_t)a->repeat * sizeof *ts);
  int rc = ts ? 0 : ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  if (!rc && a->repeat > 1) rc = ferry_session_run(s, in, n, out, err);
  if (!rc && a->repeat > 1) ferry_session_profile_reset(s);
  for (int r = 0; r < a->repeat && !rc; r++) {
    double t0 = seconds();
    rc = ferry_session_run(s, in, n, out, err);
    ts[r] = seconds() - t0;
  }
  if (!rc) {
    qsort(ts, (size_t)a->repeat, sizeof *ts, cmp_double);
    *t = a->repeat % 2 ? ts[a->repeat / 2] : (ts[a->repeat / 2 - 1] + ts[a->repeat / 2]) / 2;
    *min = ts[0], *max = ts[a->repeat - 1];
  }
  free(ts);
  return rc;
}

static int print_profile(ferry_session *s, int runs, ferry_err *err) {
  int n = ferry_session_profile(s, NULL, 0);
  ferry_node_time *t = calloc((size_t)n + 1, sizeof *t);
  if (!t) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  ferry_session_profile(s, t, n);
  int rc = ferry_profile_print(stdout, t, n, runs, 15);
  free(t);
  return rc ? ferry_fail(err, rc, "out of memory") : 0;
}

static void print_run(ferry_session *s, const ferry_tview *out, double t) {
  ferry_run_stats st;
  ferry_session_stats(s, &st);
  for (int k = 0; k < ferry_session_n_outputs(s); k++) {
    printf("output '%s': ", ferry_session_output_name(s, k));
    print_shape(&out[k]);
    printf("\n");
  }
  printf("ran in %.3f ms on %d thread%s; peak arena %zu bytes (%.3f MiB; tensors %.3f MiB in all); %d steps, %d "
         "shaped at run time\n",
         t * 1e3, st.threads, st.threads == 1 ? "" : "s", st.peak_bytes, st.peak_bytes / 1048576.0,
         st.values_bytes / 1048576.0, st.steps, st.dynamic_steps);
  printf("kernel workspace %.3f MiB; weights repacked for the kernels %.3f MiB\n", st.scratch_bytes / 1048576.0,
         st.persist_bytes / 1048576.0);
}

static int run_model(const run_args *a, ferry_err *err) {
  ferry_host_model hm;
  ferry_session_opts o = {.threads = a->threads, .clock_ms = a->profile ? clock_ms : NULL};
  ferry_session *s = ferry_host_session_open(a->model, &o, &hm, err);
  if (!s) return err->code;
  int n = ferry_session_n_inputs(s), rc;
  ferry_host_tensor *t = calloc((size_t)n + 1, sizeof *t);
  ferry_tview *in = calloc((size_t)n + 1, sizeof *in), *out = calloc((size_t)ferry_session_n_outputs(s) + 1, sizeof *out);
  if (!t || !in || !out) rc = ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  else rc = read_inputs(s, a, t, err);
  for (int i = 0; i < n && !rc; i++) in[i] = t[i].v;
  double med = 0, tmin = 0, tmax = 0;
  if (!rc && (rc = timed_runs(s, a, in, n, out, &med, &tmin, &tmax, err))) ferry_err_prefix(err, a->model);
  if (!rc) print_run(s, out, med);
  if (!rc && a->repeat > 1)
    printf("%d runs: median %.3f ms, fastest %.3f ms, slowest %.3f ms\n", a->repeat, med * 1e3, tmin * 1e3, tmax * 1e3);
  if (!rc && a->profile) rc = print_profile(s, a->repeat, err);
  if (!rc && a->output_dir) rc = write_outputs(s, a->output_dir, out, err);
  for (int i = 0; t && i < n; i++) ferry_host_tensor_free(&t[i]);
  free(t);
  free(in);
  free(out);
  ferry_session_close(s);
  ferry_host_model_free(&hm);
  return rc;
}

static int cmd_run(int argc, char **argv) {
  run_args a;
  int rc = parse_run(argc, argv, &a);
  if (rc) return rc;
  ferry_err err = {0};
  return run_model(&a, &err) ? fail(&err) : 0;
}

/* ---- ferry validate ---- */

static const char validate_help[] =
    "Usage: ferry validate MODEL [--data PATH]... [--reference REF] [--config FILE.yaml]\n"
    "                      [--atol A] [--rtol R] [--dim NAME=VALUE]... [--seed N] [--samples N]\n"
    "                      [--json FILE] [--junit FILE] [--bisect] [--threads N]\n"
    "\n"
    "Checks a model's accuracy, for CI: runs MODEL (a .ferry bundle or an ONNX model) on\n"
    "ferry's runtime and compares every output with a reference: the outputs recorded\n"
    "with the data, or those of the reference model REF run on the same inputs (say, the\n"
    "fp32 source .onnx of a converted or quantized bundle), matched by output name.\n"
    "Per sample and output it reports max and mean absolute error, max relative error,\n"
    "cosine similarity, SNR (dB), NMSE, max ULP distance, top-1 and top-k agreement and\n"
    "the worst element (index, both values). An element fails only where\n"
    "|a-b| > atol and |a-b| > rtol*|b| (defaults 1e-5 both); the YAML may set these per\n"
    "output, or thresholds on the metrics instead (cosine >= x, top1 >= y, ...).\n"
    "\n"
    "Options:\n"
    "  --data PATH       a sample, repeatable: an ONNX test_data_set folder (input_K.pb,\n"
    "                    output_K.pb), a folder of test_data_set_N folders, an .npz (arrays\n"
    "                    named after inputs and outputs), a .npy or .pb (one-input model),\n"
    "                    or a PNG/JPEG image preprocessed as the config's image: section\n"
    "                    says. Without --data: random inputs (--seed, --samples, --dim)\n"
    "  --reference REF   the reference model (bundle or ONNX), run by ferry's runtime\n"
    "  --config FILE     YAML: limits (atol, rtol, cosine, snr_db, nmse, max_abs, mean_abs,\n"
    "                    ulp, top1, topk, k, elementwise) at top level and under\n"
    "                    outputs: NAME:; inputs: NAME: image: (resize, crop, scale, mean,\n"
    "                    std, layout, dtype, channels, order) or range: [LO, HI]; seed,\n"
    "                    samples, dims: {NAME: VALUE} (docs/cli.md)\n"
    "  --atol A, --rtol R  element tolerances (override the YAML's top level)\n"
    "  --dim NAME=VALUE  a symbolic dim's value for random inputs (repeatable)\n"
    "  --seed N          random inputs' seed (default 0); --samples N: how many (default 1)\n"
    "  --json FILE       write the report as JSON\n"
    "  --junit FILE      write JUnit XML, one test case per sample and output\n"
    "  --bisect          on a failure, name the first node whose output diverges from\n"
    "                    REF's, with its inputs' errors (needs --reference)\n"
    "  --threads N       threads for the kernels (default 1)\n"
    "\n"
    "Example:\n"
    "  ferry validate squeezenet.ferry --data squeezenet1_1/test_data_set_0\n"
    "  ferry validate model.q.ferry --reference model.onnx --data cat.jpg --config v.yaml \\\n"
    "                 --junit validate.xml --bisect\n";

#define MAX_VALIDATE_ARGS 256

static int parse_double(const char *v, double *out) {
  char *end;
  *out = strtod(v, &end);
  return *v && !*end && *out >= 0 ? 0 : -1;
}

static int cmd_validate(int argc, char **argv) {
  ferry_validate_opts o = {.atol = NAN, .rtol = NAN, .threads = 1};
  const char *data[MAX_VALIDATE_ARGS], *json = NULL, *junit = NULL;
  ferry_vdim dims[MAX_FIX];
  char *v, *end;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--bisect") == 0) o.bisect = 1;
    else if ((v = option_value(argc, argv, &i, "--data"))) {
      if (o.n_data == MAX_VALIDATE_ARGS) return usage_error("validate", "too many --data");
      data[o.n_data++] = v;
    } else if ((v = option_value(argc, argv, &i, "--reference"))) o.reference = v;
    else if ((v = option_value(argc, argv, &i, "--config"))) o.config = v;
    else if ((v = option_value(argc, argv, &i, "--json"))) json = v;
    else if ((v = option_value(argc, argv, &i, "--junit"))) junit = v;
    else if ((v = option_value(argc, argv, &i, "--atol"))) {
      if (parse_double(v, &o.atol)) return usage_error("validate", "--atol wants a number >= 0");
    } else if ((v = option_value(argc, argv, &i, "--rtol"))) {
      if (parse_double(v, &o.rtol)) return usage_error("validate", "--rtol wants a number >= 0");
    } else if ((v = option_value(argc, argv, &i, "--dim"))) {
      ferry_dimbinding b;
      if (o.n_dims == MAX_FIX || parse_fix(v, &b)) return usage_error("validate", "--dim wants NAME=VALUE, VALUE an integer >= 0");
      dims[o.n_dims++] = (ferry_vdim){(char *)b.name, b.value};
    } else if ((v = option_value(argc, argv, &i, "--seed"))) {
      o.seed = strtoull(v, &end, 10), o.has_seed = 1;
      if (!*v || *end || *v == '-') return usage_error("validate", "--seed wants an integer >= 0");
    } else if ((v = option_value(argc, argv, &i, "--samples"))) {
      long n = strtol(v, &end, 10);
      if (!*v || *end || n < 1 || n > 100000) return usage_error("validate", "--samples wants a number from 1 to 100000");
      o.samples = (int)n;
    } else if ((v = option_value(argc, argv, &i, "--threads"))) {
      long n = strtol(v, &end, 10);
      if (!*v || *end || n < 1 || n > 256) return usage_error("validate", "--threads wants a number from 1 to 256");
      o.threads = (int)n;
    } else if (argv[i][0] == '-' && argv[i][1]) return usage_error("validate", "unknown option or missing value");
    else if (o.model) return usage_error("validate", "one MODEL only");
    else o.model = argv[i];
  }
  if (!o.model) return usage_error("validate", "missing MODEL");
  if (o.bisect && !o.reference) return usage_error("validate", "--bisect needs --reference MODEL");
  o.data = data;
  o.dims = dims;
  ferry_err err = {0};
  ferry_vreport rep;
  if (ferry_validate_run(&o, &rep, &err)) return fail(&err);
  ferry_vreport_print(&rep, stdout);
  int rc = rep.n_failed ? FERRY_E_ACCURACY : 0;
  if (json && ferry_vreport_write_json(&rep, json, &err)) rc = fail(&err);
  else if (junit && ferry_vreport_write_junit(&rep, junit, &err)) rc = fail(&err);
  ferry_vreport_free(&rep);
  return rc;
}

/* ---- ferry pack ---- */

static const char pack_help[] =
    "Usage: ferry pack MODEL -o DIR [--shard-size SIZE]\n"
    "\n"
    "Makes MODEL (an ONNX model or a .ferry bundle) into a static folder to copy into\n"
    "any website or serve from a sub-path: ferry.js (the JS API, an ES module shaped\n"
    "like onnxruntime-web's, also for node >= 20) with ferry.d.ts, ferry-wasm.js and\n"
    "ferry-worker.js, ferry.wasm (the runtime; also ferry-relaxed.wasm, the runtime with\n"
    "relaxed SIMD that ferry.js loads where the browser has it, when it was built beside\n"
    "ferry.wasm), the model as uncompressed bundle shards\n"
    "(model.ferry, model.ferry.1, ...), manifest.json (shards with size and sha256, the\n"
    "inputs and outputs, encodings, needed browser features) and index.html, a page\n"
    "that runs the model. The folder is built beside DIR and renamed into place; an\n"
    "existing DIR is replaced only when it is empty or an earlier pack. The web files\n"
    "come from $FERRY_DATADIR, else the build tree, else the installed data folder.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR     the folder to write\n"
    "  --shard-size SIZE    most bytes per model file, e.g. 16M (default 1G)\n"
    "\n"
    "Example:\n"
    "  ferry pack examples/squeezenet1_1.onnx -o site/squeezenet --shard-size 2M\n"
    "  node tests/browser/serve.mjs site     # then open http://127.0.0.1:PORT/squeezenet/\n";

#ifndef FERRY_PKGDATADIR
#define FERRY_PKGDATADIR NULL
#endif

static int cmd_pack(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  ferry_pack_opts o = {.pkgdatadir = FERRY_PKGDATADIR};
  char *v;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
    else if ((v = option_value(argc, argv, &i, "--output"))) out = v;
    else if ((v = option_value(argc, argv, &i, "--shard-size"))) {
      if (!(o.shard_size = parse_size(v))) return usage_error("pack", "--shard-size wants a size like 16M");
    } else if (argv[i][0] == '-' && argv[i][1]) return usage_error("pack", "unknown option or missing value");
    else if (in) return usage_error("pack", "one MODEL only");
    else in = argv[i];
  }
  if (!in) return usage_error("pack", "missing MODEL");
  if (!out) return usage_error("pack", "missing -o DIR");
  ferry_err err = {0};
  ferry_pack_report rep;
  if (ferry_pack(in, out, &o, &rep, &err)) return fail(&err);
  printf("packed %s into %s: %d model file%s, %llu bytes; ferry.wasm %llu bytes (from %s)\n", in, out, rep.shards,
         rep.shards == 1 ? "" : "s", (unsigned long long)rep.model_bytes, (unsigned long long)rep.wasm_bytes,
         rep.datadir);
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
    {"run", "run a model on the CPU runtime and print or save its outputs", run_help, cmd_run},
    {"validate", "check a model's outputs against a reference, for CI", validate_help, cmd_validate},
    {"pack", "make a model into a static web folder (ferry.js, ferry.wasm, shards)", pack_help, cmd_pack},
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
