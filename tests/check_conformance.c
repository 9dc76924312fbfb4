/*
 * check_conformance.c - every ONNX node test through the whole toolchain:
 * each folder of $ONNX_TESTDATA/node whose model's ai.onnx opset is at most
 * 17 is converted (ferry_convert_file, default options, into a temporary
 * folder), opened as a session and run on every test_data_set_N, and each
 * output is compared with the reference as ONNX's runner does: dtype and
 * shape, then rtol 1e-3, atol 1e-7, NaN equal to NaN. An output that only
 * meets rtol 1e-2, atol 1e-5 is a loose pass: it passes, listed apart.
 * Sequence and optional inputs and outputs are read as SequenceProto and
 * OptionalProto files (the model's declared kinds say which) and compared
 * item by item with the same tolerances.
 *
 * A quirk of ONNX 1.12's test data: bfloat16 tensors are stored as uint16
 * (the raw bits). Where the model declares an input or output bfloat16 and
 * the file says uint16, the bits are read as bfloat16; bfloat16 outputs
 * then match within one bfloat16 step (the reference rounds by truncation
 * in places, ferry to nearest even).
 *
 * Expected failures are tests/conformance-allowlist.txt (a test name per
 * line, then why; '#' starts a comment). A failing test not listed fails
 * the suite, and so does a listed test that passes (the list may only
 * shrink: the lines to delete are printed).
 *
 * Everything runs in this one process (no fork per test): a test that
 * crashes or hangs (signal, 30 s alarm) is a failure and the next test
 * runs. Environment:
 *   FERRY_WRITE_DOCS=1        write docs/conformance.md (counts, each loose
 *                             pass and each failure with its reason):
 *     FERRY_WRITE_DOCS=1 make check TESTS=tests/check_conformance
 *   FERRY_WRITE_ALLOWLIST=1   rewrite the allow-list from this run's failures
 *   FERRY_CONFORMANCE_FILTER  run only tests whose name contains it (no
 *                             allow-list check for the others)
 *   FERRY_CONFORMANCE_VERBOSE=1  print every test's result
 *   FERRY_CONFORMANCE_SUITE   another folder of $ONNX_TESTDATA to explore
 *                             (simple, pytorch-converted, pytorch-operator):
 *                             results are printed, nothing is asserted
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ir.h"
#include "rtutil.h"
#include "testutil.h"

#define MAX_OPSET 17
#define TEST_SECONDS 30

enum { R_PASS, R_LOOSE, R_FAIL, R_SKIP };

typedef struct result {
  char name[160];
  int status;
  char why[400];
} result;

typedef struct allow {
  char **names;
  char **lines;
  int n;
} allow;

/* ---- one test ---- */

static const char *testdata(void) { return tu_env("ONNX_TESTDATA"); }

/* The folder of tests under $ONNX_TESTDATA: node, unless exploring another. */
static const char *suite_dir(void) {
  const char *s = getenv("FERRY_CONFORMANCE_SUITE");
  return s && *s ? s : "node";
}

/* The model's ai.onnx opset, -1 when it does not load. */
static int model_opset(const char *path) {
  ferry_err err;
  ferry_model *m = ferry_model_load(path, &err);
  if (!m) return -1;
  int v = 0;
  for (int i = 0; i < m->n_opsets; i++)
    if (!*m->opsets[i].domain || !strcmp(m->opsets[i].domain, "ai.onnx")) v = (int)m->opsets[i].version;
  ferry_model_free(m);
  return v;
}

/* msg without the folder prefixes that change between machines and runs. */
static void clean_msg(const char *msg, char *out, size_t n) {
  const char *td = testdata(), *p;
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", msg);
  while ((p = strstr(tmp, td))) memmove((char *)p, p + strlen(td) + 1, strlen(p + strlen(td) + 1) + 1);
  while ((p = strstr(tmp, "/ferry-run-"))) { /* the converter's temporary folder */
    const char *slash = strchr(p + 1, '/');
    const char *start = p;
    while (start > tmp && start[-1] != ' ' && start[-1] != '\'') start--;
    if (!slash) break;
    memmove((char *)start, slash + 1, strlen(slash + 1) + 1);
  }
  snprintf(out, n, "%.599s", tmp);
}

static int fail_with(result *r, const char *fmt, const char *msg) {
  char clean[600], own[200], *p;
  clean_msg(msg, clean, sizeof clean);
  snprintf(own, sizeof own, "%s/%s/", suite_dir(), r->name); /* paths inside the test's own folder */
  while ((p = strstr(clean, own))) memmove(p, p + strlen(own), strlen(p + strlen(own)) + 1);
  snprintf(r->why, sizeof r->why, fmt, clean);
  r->status = R_FAIL;
  return R_FAIL;
}

/* bfloat16 bits as an integer that counts representable values in order. */
static int bf16_order(uint16_t b) { return b & 0x8000 ? -(int)(b & 0x7fff) : (int)b; }

static int bf16_nan(uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f); }

/* bfloat16 tensors: equal shapes, every element within one bfloat16 step
 * of the reference (NaN equal to NaN); 0 when they match. */
static int compare_bf16(const ferry_tview *got, const ferry_tview *want, char *msg, size_t n) {
  if (got->kind || got->dtype != FERRY_BF16) return rtu_compare_value(got, want, 0, 0, NULL, msg, n);
  int same = got->rank == want->rank;
  for (int d = 0; same && d < want->rank; d++) same = got->dims[d] == want->dims[d];
  if (!same) return rtu_compare(got, want, 0, 0, NULL, msg, n); /* says how the shapes differ */
  const uint16_t *a = got->data, *b = want->data;
  for (int64_t i = 0; i < want->numel; i++) {
    if ((bf16_nan(a[i]) && bf16_nan(b[i])) || abs(bf16_order(a[i]) - bf16_order(b[i])) <= 1) continue;
    snprintf(msg, n, "[%lld] = bfloat16 0x%04x, want 0x%04x (more than one bfloat16 step apart)", (long long)i, a[i], b[i]);
    return 1;
  }
  return 0;
}

/* The test data's bfloat16 stored as uint16, read as bfloat16 where the
 * model declares bfloat16 (see the top of this file). */
static void bf16_quirk(ferry_host_tensor *t, int declared_dtype) {
  if (declared_dtype == FERRY_BF16 && t->v.kind == FERRY_TV_TENSOR && t->v.dtype == FERRY_U16) t->v.dtype = FERRY_BF16;
}

/* Compares the outputs of one data set; R_PASS, R_LOOSE (why set) or R_FAIL. */
static int compare_set(result *r, const ferry_tview *got, const ferry_host_tensor *want, int n) {
  int status = R_PASS;
  char msg[300], buf[400];
  for (int k = 0; k < n; k++) {
    rtu_diff d;
    if (want[k].v.kind == FERRY_TV_TENSOR && want[k].v.dtype == FERRY_BF16) {
      if (!compare_bf16(&got[k], &want[k].v, msg, sizeof msg)) continue;
      snprintf(buf, sizeof buf, "output %d: %s", k, msg);
      return fail_with(r, "%s", buf);
    }
    if (!rtu_compare_value(&got[k], &want[k].v, 1e-3, 1e-7, &d, msg, sizeof msg)) continue;
    snprintf(buf, sizeof buf, "output %d: %s", k, msg);
    if (rtu_compare_value(&got[k], &want[k].v, 1e-2, 1e-5, NULL, msg, sizeof msg)) return fail_with(r, "%s", buf);
    snprintf(r->why, sizeof r->why, "output %d: max abs error %.3g, %lld elements outside rtol 1e-3/atol 1e-7", k,
             d.max_abs, d.bad);
    status = R_LOOSE;
  }
  return status;
}

/* 1 when every input and output is a tensor, sequence or optional (what
 * the API passes). */
static int passable(ferry_session *s) {
  for (int k = 0; k < ferry_session_n_inputs(s); k++)
    if (ferry_session_input_info(s, k)->kind > 2) return 0;
  for (int k = 0; k < ferry_session_n_outputs(s); k++)
    if (ferry_session_output_info(s, k)->kind > 2) return 0;
  return 1;
}

/* The declared kinds (file formats) of the inputs or outputs. */
static int *io_kinds(ferry_session *s, int outputs) {
  int n = outputs ? ferry_session_n_outputs(s) : ferry_session_n_inputs(s);
  int *kinds = calloc((size_t)n + 1, sizeof *kinds);
  for (int k = 0; kinds && k < n; k++)
    kinds[k] = (outputs ? ferry_session_output_info(s, k) : ferry_session_input_info(s, k))->kind;
  return kinds;
}

static int run_set(result *r, ferry_session *s, const char *set) {
  int ni = ferry_session_n_inputs(s), no = ferry_session_n_outputs(s), status;
  int ri = rtu_count(set, "input"), ro = rtu_count(set, "output");
  char msg[128];
  if (ri != ni || ro != no) {
    snprintf(msg, sizeof msg, "the data set has %d inputs and %d outputs, the session %d and %d", ri, ro, ni, no);
    return fail_with(r, "%s", msg);
  }
  ferry_host_tensor *in = calloc((size_t)ni + 1, sizeof *in), *want = calloc((size_t)no + 1, sizeof *want);
  ferry_tview *iv = calloc((size_t)ni + 1, sizeof *iv), *out = calloc((size_t)no + 1, sizeof *out);
  ferry_err err = {0};
  int *ik = io_kinds(s, 0), *ok = io_kinds(s, 1);
  if (rtu_read_values(set, "input", ni, ik, in, &err) || rtu_read_values(set, "output", no, ok, want, &err))
    status = fail_with(r, "test data: %s", err.msg);
  else {
    for (int k = 0; k < ni; k++) bf16_quirk(&in[k], ferry_session_input_info(s, k)->dtype);
    for (int k = 0; k < no; k++) bf16_quirk(&want[k], ferry_session_output_info(s, k)->dtype);
    for (int k = 0; k < ni; k++) iv[k] = in[k].v;
    status = ferry_session_run(s, iv, ni, out, &err) ? fail_with(r, "run: %s", err.msg) : compare_set(r, out, want, no);
  }
  for (int k = 0; k < ni; k++) ferry_host_tensor_free(&in[k]);
  for (int k = 0; k < no; k++) ferry_host_tensor_free(&want[k]);
  free(in), free(want), free(iv), free(out), free(ik), free(ok);
  return status;
}

static void run_test(result *r) {
  char dir[4096], path[4200], set[4300];
  ferry_err err = {0};
  ferry_host_model hm;
  snprintf(dir, sizeof dir, "%s/%s/%s", testdata(), suite_dir(), r->name);
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  int opset = model_opset(path);
  if (opset > MAX_OPSET) {
    r->status = R_SKIP;
    return;
  }
  ferry_session *s = ferry_host_session_open(path, NULL, &hm, &err);
  if (!s) {
    fail_with(r, "open: %s", err.msg);
    return;
  }
  r->status = R_PASS;
  if (!passable(s)) fail_with(r, "%s", "map or sparse inputs/outputs: the session API passes tensors, sequences and optionals");
  for (int k = 0; r->status != R_FAIL; k++) {
    struct stat st;
    snprintf(set, sizeof set, "%s/test_data_set_%d", dir, k);
    if (stat(set, &st)) break;
    int status = run_set(r, s, set);
    if (status == R_FAIL) break;
    if (status == R_LOOSE) r->status = R_LOOSE;
  }
  ferry_session_close(s);
  ferry_host_model_free(&hm);
}

/* ---- crashes and hangs ---- */

static sigjmp_buf jump;
static volatile sig_atomic_t in_test;

static void on_signal(int sig) {
  if (in_test) siglongjmp(jump, sig);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void guard_signals(void) {
  int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on_signal);
}

static void run_guarded(result *r) {
  int sig = sigsetjmp(jump, 1);
  if (sig) {
    in_test = 0;
    alarm(0);
    snprintf(r->why, sizeof r->why, sig == SIGALRM ? "hangs (over %d s)" : "crashes (signal %d)",
             sig == SIGALRM ? TEST_SECONDS : sig);
    r->status = R_FAIL;
    guard_signals();
    return;
  }
  in_test = 1;
  alarm(TEST_SECONDS);
  run_test(r);
  alarm(0);
  in_test = 0;
}

/* ---- the allow-list ---- */

static const char *src_path(const char *rel, char *buf, size_t n) {
  const char *src = getenv("FERRY_SRCDIR");
  snprintf(buf, n, "%s%s%s", src && *src ? src : ".", "/", rel);
  return buf;
}

static void read_allow(allow *a) {
  char path[4096], *text = tu_read(src_path("tests/conformance-allowlist.txt", path, sizeof path), NULL);
  memset(a, 0, sizeof *a);
  if (!text) return;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char name[160];
    if (line[0] == '#' || sscanf(line, "%159s", name) != 1) continue;
    a->names = realloc(a->names, (size_t)(a->n + 1) * sizeof *a->names);
    a->lines = realloc(a->lines, (size_t)(a->n + 1) * sizeof *a->lines);
    a->names[a->n] = strdup(name);
    a->lines[a->n++] = strdup(line);
  }
  free(text);
}

static int allowed(const allow *a, const char *name) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->names[i], name)) return 1;
  return 0;
}

static void free_allow(allow *a) {
  for (int i = 0; i < a->n; i++) free(a->names[i]), free(a->lines[i]);
  free(a->names);
  free(a->lines);
}

static void write_allow(const result *r, int n) {
  char path[4096];
  FILE *f = fopen(src_path("tests/conformance-allowlist.txt", path, sizeof path), "w");
  if (!f) return;
  fprintf(f, "# ONNX node tests expected to fail (tests/check_conformance.c): a test name, then why.\n"
             "# The list may only shrink: a listed test that passes fails the suite.\n"
             "# Regenerate: FERRY_WRITE_ALLOWLIST=1 make check TESTS=tests/check_conformance\n");
  for (int i = 0; i < n; i++)
    if (r[i].status == R_FAIL) fprintf(f, "%s  %s\n", r[i].name, r[i].why);
  fclose(f);
}

/* ---- docs/conformance.md ---- */

static void write_docs(const result *r, int n, const int *count) {
  char path[4096];
  FILE *f = fopen(src_path("docs/conformance.md", path, sizeof path), "w");
  if (!f) return;
  fprintf(f,
          "# ONNX node-test conformance\n\n"
          "Generated by `tests/check_conformance` (`FERRY_WRITE_DOCS=1 make check TESTS=tests/check_conformance`;\n"
          "do not edit by hand). Every ONNX backend node test (`$ONNX_TESTDATA/node`, Debian's\n"
          "libonnx-testdata, ONNX 1.12) whose model uses ai.onnx opset %d or lower is converted to a\n"
          "bundle with the default options, run on ferry's CPU runtime for each `test_data_set_N` and\n"
          "compared with the reference outputs as ONNX's runner does: dtype and shape, then\n"
          "rtol 1e-3, atol 1e-7, NaN equal to NaN. A test whose outputs only meet rtol 1e-2,\n"
          "atol 1e-5 is a *loose pass*. Sequence and optional inputs and outputs are read from\n"
          "`SequenceProto`/`OptionalProto` files and compared item by item. A quirk of the test data:\n"
          "bfloat16 tensors stored as uint16 are read as bfloat16 where the model declares bfloat16,\n"
          "and bfloat16 outputs match within one bfloat16 step. Expected failures are listed with\n"
          "their reason in `tests/conformance-allowlist.txt`.\n\n"
          "| result | tests |\n|---|---:|\n| passed | %d |\n| of which loose passes | %d |\n| failed | %d |\n"
          "| not run (opset over %d) | %d |\n\n",
          MAX_OPSET, count[R_PASS] + count[R_LOOSE], count[R_LOOSE], count[R_FAIL], MAX_OPSET, count[R_SKIP]);
  fprintf(f, "## Loose passes\n\n");
  for (int i = 0; i < n; i++)
    if (r[i].status == R_LOOSE) fprintf(f, "- `%s`: %s\n", r[i].name, r[i].why);
  fprintf(f, "%s\n## Failures\n\n", count[R_LOOSE] ? "" : "None.\n");
  for (int i = 0; i < n; i++)
    if (r[i].status == R_FAIL) fprintf(f, "- `%s`: %s\n", r[i].name, r[i].why);
  if (!count[R_FAIL]) fprintf(f, "None.\n");
  fclose(f);
}

/* ---- the suite ---- */

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int is_test(const struct dirent *e) { return strncmp(e->d_name, "test_", 5) == 0; }

static int report(const result *r, int n, const allow *a, const char *filter) {
  int bad = 0, cleared = 0;
  for (int i = 0; i < n; i++) {
    if (r[i].status == R_FAIL && !allowed(a, r[i].name)) {
      if (!bad++) printf("failures not in tests/conformance-allowlist.txt:\n");
      printf("  %s  %s\n", r[i].name, r[i].why);
    }
  }
  for (int i = 0; i < n; i++) {
    if ((r[i].status == R_PASS || r[i].status == R_LOOSE || r[i].status == R_SKIP) && allowed(a, r[i].name)) {
      if (!cleared++) printf("listed in tests/conformance-allowlist.txt but not failing: delete these lines:\n");
      printf("  %s\n", r[i].name);
    }
  }
  for (int i = 0; i < a->n && !filter; i++) {
    int found = 0;
    for (int k = 0; k < n && !found; k++) found = !strcmp(r[k].name, a->names[i]);
    if (!found && !cleared++) printf("listed in tests/conformance-allowlist.txt but not failing: delete these lines:\n");
    if (!found) printf("  %s (no such test)\n", a->names[i]);
  }
  return bad + cleared;
}

static int env_is(const char *name, const char *v) { return getenv(name) && !strcmp(getenv(name), v); }

/* Runs every test of the suite folder whose name contains filter (NULL:
 * all) into r[] (count per status); returns how many ran. */
static int run_all(const char *filter, result **rp, int *count) {
  struct dirent **ents;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", testdata(), suite_dir());
  int n = scandir(dir, &ents, is_test, by_name), m = 0;
  ck_assert_msg(n > 0, "no tests under %s", dir);
  result *r = *rp = calloc((size_t)n, sizeof *r);
  guard_signals();
  for (int i = 0; i < n; i++) {
    if (!filter || strstr(ents[i]->d_name, filter)) {
      snprintf(r[m].name, sizeof r[m].name, "%.159s", ents[i]->d_name);
      run_guarded(&r[m]);
      count[r[m].status]++;
      if (getenv("FERRY_CONFORMANCE_VERBOSE"))
        printf("%s: %s %s\n", r[m].name, (const char *[]){"pass", "loose", "FAIL", "skip"}[r[m].status], r[m].why);
      m++;
    }
    free(ents[i]);
  }
  free(ents);
  return m;
}

START_TEST(node_tests) {
  const char *filter = getenv("FERRY_CONFORMANCE_FILTER");
  if (filter && !*filter) filter = NULL;
  int count[4] = {0};
  result *r;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int m = run_all(filter, &r, count);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("conformance: %d passed, %d failed (%d of the passes only within rtol 1e-2/atol 1e-5; %d tests over opset "
         "%d not run; %.1f s)\n",
         count[R_PASS] + count[R_LOOSE], count[R_FAIL], count[R_LOOSE], count[R_SKIP], MAX_OPSET,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
  if (strcmp(suite_dir(), "node")) { /* exploring: print, assert nothing */
    for (int i = 0; i < m; i++)
      if (r[i].status == R_FAIL) printf("  %s  %s\n", r[i].name, r[i].why);
    free(r);
    return;
  }
  allow a;
  read_allow(&a);
  if (!filter && env_is("FERRY_WRITE_DOCS", "1")) write_docs(r, m, count);
  if (!filter && env_is("FERRY_WRITE_ALLOWLIST", "1")) write_allow(r, m);
  else {
    int problems = report(r, m, &a, filter);
    ck_assert_msg(problems == 0, "%d test(s) disagree with tests/conformance-allowlist.txt (listed above)", problems);
  }
  free_allow(&a);
  free(r);
}
END_TEST

static Suite *conformance_suite(void) {
  Suite *s = suite_create("conformance");
  TCase *tc = tcase_create("node");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, node_tests);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* Check's forked child may not flush at exit */
  struct stat st;
  if (!getenv("TMPDIR") && stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0)
    setenv("TMPDIR", "/dev/shm", 1); /* conversions fsync their bundles: memory is 30x faster than disk */
  SRunner *sr = srunner_create(conformance_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
