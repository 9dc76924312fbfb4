/*
 * check_wasm.c - ferry.wasm (make wasm) in node, through runtime/js/ferry-node.mjs.
 *
 *   module   node is there; the module has no imports and exports the ABI
 *            of runtime/js/wasm_api.c;
 *   models   real models converted by `ferry convert` give their reference
 *            outputs (test_data_set_0) within rtol 1e-3, atol 1e-4
 *            (tests/wasm/run-bundle.mjs), also as a sharded and a compressed bundle;
 *   errors   a corrupt, truncated or foreign file and a bad input are JS
 *            Errors carrying the runtime's message, and the instance keeps
 *            working after them;
 *   conformance  ONNX's node tests (tests/wasm/conformance.mjs): ferry.wasm
 *            and ferry-relaxed.wasm fail none that
 *            tests/conformance-allowlist.txt does not list;
 *   vmath    Exp, Tanh, Erf, Sigmoid, Softmax, Gelu, FastGelu on 65536
 *            values (crafted/vmath_sweep, gelu_sweep) give native ferry's
 *            outputs within an ulp or two, on both builds; the GPT-like
 *            decoder with its causal attention fused (convert's default
 *            fuse-attention) at sequence 40 (crafted/gpt_ids_40) gives
 *            native ferry's logits within rtol 1e-4, atol 1e-5;
 *   simd_at  simd.h's loads written as wasm text (tests/wasm/simd_at.c)
 *            read p + off, and see a store made between two of them;
 *   depthwise  3x3 depthwise and first-layer convolutions over row widths
 *            4-40 and 56 (crafted/dw_sweep) give native ferry's outputs;
 *   relaxed  ferry-relaxed.wasm (relaxed SIMD) has no imports, does use
 *            f32x4.relaxed_madd, and gives the models' reference outputs
 *            within the same tolerances (node with relaxed SIMD turned on).
 *
 * Environment (make check sets it): FERRY, FERRY_WASM, FERRY_WASM_RELAXED,
 * FERRY_SIMD_AT, FERRY_SIMD_AT_RELAXED,
 * FERRY_TEST_MODELS, FERRY_SRCDIR, ONNX_TESTDATA. A missing node, ferry.wasm
 * or ferry-relaxed.wasm is a failure, not a skip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define ck_assert_has(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) != NULL, "missing %s in:\n%s", (needle), (hay))

/* Runs a shell command, stdout and stderr together into `log`; returns the
 * exit status (-1 for a signal). */
static int sh(const char *cmd, char *log, size_t cap) {
  FILE *p = popen(cmd, "r");
  ck_assert_msg(p != NULL, "popen %s", cmd);
  size_t got = fread(log, 1, cap - 1, p);
  log[got] = 0;
  char rest[4096]; /* what does not fit is read and dropped: the command runs to its end */
  while (fread(rest, 1, sizeof rest, p) > 0) continue;
  int st = pclose(p);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs JS `code` as an ES module with ferry-node.mjs imported as loadFerry
 * and `ferry` loaded from $FERRY_WASM; returns node's exit status. */
static int node_js(const char *code, char *log, size_t cap) {
  char dir[64], file[128], cmd[1024];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(file, sizeof file, "%s/t.mjs", dir);
  size_t n = strlen(code) + 4096;
  char *js = malloc(n);
  snprintf(js, n,
           "import { loadFerry } from '%s/runtime/js/ferry-node.mjs';\n"
           "const ferry = await loadFerry(process.env.FERRY_WASM);\n%s\n",
           tu_env("FERRY_SRCDIR"), code);
  ck_assert_int_eq(tu_write(file, js, strlen(js)), 0);
  free(js);
  snprintf(cmd, sizeof cmd, "timeout 300 node '%s' 2>&1", file);
  int rc = sh(cmd, log, cap);
  unlink(file);
  rmdir(dir);
  return rc;
}

/* ---- module ---- */

START_TEST(test_module_has_no_imports) {
  char log[8192], cmd[2048];
  const char *wasm = tu_env("FERRY_WASM");
  ck_assert_msg(access(wasm, R_OK) == 0, "%s is missing (make wasm)", wasm);
  ck_assert_msg(sh("node --version 2>&1", log, sizeof log) == 0, "node is needed: %s", log);
  snprintf(cmd, sizeof cmd,
           "node -e 'const m = new WebAssembly.Module(require(\"fs\").readFileSync(process.argv[1]));"
           " console.log(\"imports\", JSON.stringify(WebAssembly.Module.imports(m)));"
           " console.log(\"exports\", WebAssembly.Module.exports(m).map((e) => e.name).join(\" \"))' '%s' 2>&1",
           wasm);
  ck_assert_int_eq(sh(cmd, log, sizeof log), 0);
  ck_assert_has(log, "imports []\n");
  const char *want[] = {" memory", " _initialize", " malloc", " free", " aligned_alloc", " ferry_wasm_open",
                        " ferry_wasm_add_shard", " ferry_wasm_run", " ferry_wasm_close", " ferry_wasm_last_error",
                        " ferry_wasm_io_name", " ferry_wasm_output", " ferry_wasm_value_data"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) ck_assert_has(log, want[i]);
}
END_TEST

/* ---- models ---- */

/* Converts MODEL.onnx (extra convert args) into dir and checks `wasm` (with
 * run-bundle.mjs options `opts`) against MODEL/test_data_set_0. */
static void check_model_on(const char *dir, const char *model, const char *args, const char *wasm,
                           const char *opts) {
  char onnx[1024], bundle[1024], cmd[8192], log[8192], *o, *e;
  snprintf(onnx, sizeof onnx, "%s/%s.onnx", tu_env("FERRY_TEST_MODELS"), model);
  snprintf(bundle, sizeof bundle, "%s/%s.ferry", dir, model);
  snprintf(cmd, sizeof cmd, "convert '%s' -o '%s' %s", onnx, bundle, args);
  int rc = tu_run(cmd, &o, &e);
  ck_assert_msg(rc == 0, "%s: %s", onnx, e);
  free(o), free(e);
  snprintf(cmd, sizeof cmd,
           "timeout 300 node '%s/tests/wasm/run-bundle.mjs' '%s' --data '%s/%s/test_data_set_0'"
           " --rtol 1e-3 --atol 1e-4 --wasm '%s' %s 2>&1",
           tu_env("FERRY_SRCDIR"), bundle, tu_env("FERRY_TEST_MODELS"), model, wasm, opts);
  rc = sh(cmd, log, sizeof log);
  fprintf(stderr, "%s %s (%s):\n%s", model, args, wasm, log);
  ck_assert_msg(rc == 0, "%s: %s differs from the reference or failed (exit %d):\n%.3000s", model, wasm, rc, log);
  ck_assert_has(log, "PASS");
}

static void check_model(const char *dir, const char *model, const char *args) {
  check_model_on(dir, model, args, tu_env("FERRY_WASM"), "");
}

/* The reference models on `wasm` (run-bundle.mjs options `opts`). */
static void check_reference_models(const char *wasm, const char *opts) {
  char dir[64], path[1024];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  const char *models[] = {"squeezenet1_1", "bert_tiny_op13", "gpt_tiny_op17", "mobilenet_v2", "resnet18"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    check_model_on(dir, models[i], "", wasm, opts);
    snprintf(path, sizeof path, "%s/%s.ferry", dir, models[i]);
    unlink(path);
  }
  rmdir(dir);
}

START_TEST(test_models_match_reference) { check_reference_models(tu_env("FERRY_WASM"), ""); }
END_TEST

/* A bundle in several files: ferry-node.mjs reads NAME.ferry.1, ... */
START_TEST(test_sharded_bundle) {
  char dir[64], path[1024];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  check_model(dir, "squeezenet1_1", "--shard-size 1M");
  snprintf(path, sizeof path, "%s/squeezenet1_1.ferry.2", dir);
  ck_assert_msg(access(path, R_OK) == 0, "expected several shards");
  for (int k = 0; k < 64; k++) {
    snprintf(path, sizeof path, k ? "%s/squeezenet1_1.ferry.%d" : "%s/squeezenet1_1.ferry", dir, k);
    unlink(path);
  }
  rmdir(dir);
}
END_TEST

/* A compressed bundle (convert --compress): ferry.wasm inflates it with the
 * runtime's own decoder (runtime/inflate.c), there is no zlib in wasm. */
START_TEST(test_compressed_bundle) {
  char dir[64], path[1024];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  check_model(dir, "gpt_tiny_op13", "--compress");
  snprintf(path, sizeof path, "%s/gpt_tiny_op13.ferry", dir);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors_are_js_errors) {
  char dir[64], good[1024], bad[1024], trunc[1024], junk[1024], *o, *e;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(good, sizeof good, "%s/gpt.ferry", dir);
  snprintf(bad, sizeof bad, "%s/bad.ferry", dir);
  snprintf(trunc, sizeof trunc, "%s/trunc.ferry", dir);
  snprintf(junk, sizeof junk, "%s/junk.ferry", dir);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "convert '%s' -o '%s'", tu_model("gpt_tiny_op17.onnx"), good);
  ck_assert_int_eq(tu_run(cmd, &o, &e), 0);
  free(o), free(e);
  size_t n;
  char *b = tu_read(good, &n);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_gt(n, 4096);
  ck_assert_int_eq(tu_write(trunc, b, 100), 0);
  b[n / 2] ^= 0x5a; /* in the weights: the DATA section's CRC catches it */
  ck_assert_int_eq(tu_write(bad, b, n), 0);
  ck_assert_int_eq(tu_write(junk, "hello, not a bundle at all", 26), 0);
  free(b);

  char js[8192], log[8192];
  snprintf(js, sizeof js,
           "for (const f of ['%s', '%s', '%s']) {\n"
           "  try { ferry.openBundle(f); console.log('opened', f); }\n"
           "  catch (e) { console.log(e instanceof Error ? 'Error' : 'not an Error', e.code, e.message); }\n"
           "}\n"
           "const s = ferry.openBundle('%s');\n"
           "try { s.run({ input_ids: { data: new Int32Array(14), dims: [2, 7], dtype: 'int32' } }); }\n"
           "catch (e) { console.log(e instanceof Error ? 'Error' : 'not an Error', e.code, e.message); }\n"
           "const out = s.run({ input_ids: { data: new BigInt64Array(14).fill(3n), dims: [2, 7] } });\n"
           "console.log('ran', out.logits.dtype, out.logits.dims.join('x'), out.logits.data.every(Number.isFinite));\n"
           "s.close();\n",
           bad, trunc, junk, good);
  int rc = node_js(js, log, sizeof log);
  fprintf(stderr, "%s", log);
  ck_assert_msg(rc == 0, "exit %d:\n%.3000s", rc, log);
  ck_assert_has(log, "Error 2 ferry: corrupt DATA section (CRC32 ");
  ck_assert_has(log, "Error 2 ferry: truncated: ");
  ck_assert_has(log, "Error 2 ferry: not a ferry bundle (bad magic)");
  ck_assert_has(log, "Error 2 ferry: input 'input_ids' is int32, the model wants int64");
  ck_assert_has(log, "ran float32 2x7x256 true");
  ck_assert_msg(strstr(log, "opened") == NULL && strstr(log, "not an Error") == NULL, "%.3000s", log);
  unlink(good), unlink(bad), unlink(trunc), unlink(junk);
  rmdir(dir);
}
END_TEST

/* ---- conformance ---- */

START_TEST(test_node_tests_as_native) {
  char dir[64], cmd[8192], log[16384], *o, *e;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  const char *data = tu_env("ONNX_TESTDATA");
  snprintf(cmd, sizeof cmd, "ls '%s/node' >'%s/list'", data, dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s/list", dir);
  char *list = tu_read(cmd, NULL);
  ck_assert_ptr_nonnull(list);
  int n = 0;
  for (char *t = strtok(list, "\n"); t; t = strtok(NULL, "\n"), n++) {
    /* a failed conversion leaves no bundle but TEST.error: conformance.mjs counts it */
    snprintf(cmd, sizeof cmd, "convert '%s/node/%s/model.onnx' -o '%s/%s.ferry'", data, t, dir, t);
    if (tu_run(cmd, &o, &e)) {
      snprintf(cmd, sizeof cmd, "%s/%s.error", dir, t);
      tu_write(cmd, e ? e : "", e ? strlen(e) : 0);
    }
    free(o), free(e);
  }
  free(list);
  ck_assert_int_gt(n, 900);
  const char *src = tu_env("FERRY_SRCDIR");
  snprintf(cmd, sizeof cmd, "timeout 600 node '%s/tests/wasm/conformance.mjs' '%s' '%s/node' '%s/tests/conformance-allowlist.txt' 2>&1",
           src, dir, data, src);
  int rc = sh(cmd, log, sizeof log);
  fprintf(stderr, "%s", log);
  ck_assert_msg(rc == 0, "exit %d:\n%.3000s", rc, log);
  ck_assert_has(log, " 0 failed unexpectedly");
  /* the same bundles on the relaxed-SIMD build */
  snprintf(cmd, sizeof cmd,
           "timeout 600 node '%s/tests/wasm/conformance.mjs' '%s' '%s/node' '%s/tests/conformance-allowlist.txt'"
           " --wasm '%s' --relaxed-simd 2>&1",
           src, dir, data, src, tu_env("FERRY_WASM_RELAXED"));
  rc = sh(cmd, log, sizeof log);
  fprintf(stderr, "ferry-relaxed.wasm:\n%s", log);
  ck_assert_msg(rc == 0, "ferry-relaxed.wasm: exit %d:\n%.3000s", rc, log);
  ck_assert_has(log, " 0 failed unexpectedly");
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- the vector math, wasm against native ---- */

/* crafted/NAME (tests/make-crafted.py: a sweep of 65536 values through the
 * vector math) converted, run natively by `ferry run --output-dir`, and run
 * on both wasm builds against those outputs within rtol / atol. */
/* Converts the ONNX model at `model` (convert's extra `flags`), runs it
 * natively on the test_data_set folder `data`, and runs both wasm builds
 * on the same inputs against those outputs (rtol, atol). */
static void check_as_native(const char *model, const char *flags, const char *data, const char *rtol,
                            const char *atol) {
  char dir[64], cmd[8192], log[8192], *o, *e;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(cmd, sizeof cmd, "convert '%s' -o '%s/m.ferry' %s", model, dir, flags);
  ck_assert_msg(tu_run(cmd, &o, &e) == 0, "%s: %s", model, e);
  free(o), free(e);
  snprintf(cmd, sizeof cmd, "run '%s/m.ferry' --input-dir '%s' --output-dir '%s/ds'", dir, data, dir);
  ck_assert_msg(tu_run(cmd, &o, &e) == 0, "%s: %s", model, e);
  free(o), free(e);
  snprintf(cmd, sizeof cmd, "cp '%s'/input_*.pb '%s/ds/'", data, dir);
  ck_assert_int_eq(system(cmd), 0);
  const char *wasm[2] = {tu_env("FERRY_WASM"), tu_env("FERRY_WASM_RELAXED")};
  for (int i = 0; i < 2; i++) { /* the log: outputs that fail, then how many passed */
    snprintf(cmd, sizeof cmd,
             "timeout 300 node '%s/tests/wasm/run-bundle.mjs' '%s/m.ferry' --data '%s/ds' --rtol %s --atol %s"
             " --wasm '%s' %s >'%s/log' 2>&1; rc=$?; grep -v ' PASS$' '%s/log';"
             " echo \"$(grep -c ' PASS$' '%s/log') outputs PASS\"; exit $rc",
             tu_env("FERRY_SRCDIR"), dir, dir, rtol, atol, wasm[i], i ? "--relaxed-simd" : "", dir, dir, dir);
    int rc = sh(cmd, log, sizeof log);
    fprintf(stderr, "%s on %s:\n%s", model, wasm[i], log);
    ck_assert_msg(rc == 0, "%s: %s differs from native ferry (exit %d):\n%.3000s", model, wasm[i], rc, log);
    ck_assert_msg(strstr(log, "\n0 outputs PASS") == NULL && strncmp(log, "0 outputs", 9), "%s: no output compared",
                  model);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* A crafted sweep model (tests/make-crafted.py) natively and in wasm. */
static void check_sweep(const char *name, const char *rtol, const char *atol) {
  char model[1024], data[1024];
  const char *models = tu_env("FERRY_TEST_MODELS");
  snprintf(model, sizeof model, "%s/crafted/%s/model.onnx", models, name);
  snprintf(data, sizeof data, "%s/crafted/%s/test_data_set_0", models, name);
  check_as_native(model, "", data, rtol, atol);
}

/* Exp, Tanh, Erf, Sigmoid, Softmax: the two builds differ by an ulp or
 * two (2.5e-7 measured; multiply-adds fused or not), each within 1e-6 of
 * libm natively (check_kernels_elementwise). */
START_TEST(test_vmath_as_native) { check_sweep("vmath_sweep", "1e-6", "1e-30"); }
END_TEST

/* Gelu and FastGelu: erf's absolute error stays where 1 + erf cancels
 * (1e-6 measured) and FastGelu's tail carries 8e-6 relative. */
START_TEST(test_gelu_as_native) { check_sweep("gelu_sweep", "2e-5", "4e-6"); }
END_TEST

/* 3x3 convolutions over row widths 4-40 and 56 (crafted/dw_sweep): the
 * depthwise rows and channel blocks, and first layers, in their wasm forms
 * as natively (multiply-adds fused natively, not in ferry.wasm). */
START_TEST(test_depthwise_as_native) { check_sweep("dw_sweep", "1e-5", "1e-6"); }
END_TEST

/* The GPT-like decoder with its causal attention fused (ferry.Attention's
 * bool mask and column span) at sequence 40, in wasm as natively. */
START_TEST(test_fused_gpt_as_native) {
  char model[1024], data[1024];
  const char *models = tu_env("FERRY_TEST_MODELS");
  snprintf(model, sizeof model, "%s/gpt_tiny_op13.onnx", models);
  snprintf(data, sizeof data, "%s/crafted/gpt_ids_40/test_data_set_0", models);
  check_as_native(model, "", data, "1e-4", "1e-5");
}
END_TEST

/* simd.h's FERRY_VLOAD_AT / FERRY_VSPLAT_AT (tests/wasm/simd_at.c, built
 * by both wasm compilers): the bytes at p + off, and a store between two
 * loads seen by the second. */
START_TEST(test_simd_loads_at) {
  const char *mods[2] = {tu_env("FERRY_SIMD_AT"), tu_env("FERRY_SIMD_AT_RELAXED")};
  for (int i = 0; i < 2; i++) {
    char log[4096], cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 60 node --no-warnings '%s/bench/wasi-run.mjs' '%s' 2>&1", tu_env("FERRY_SRCDIR"),
             mods[i]);
    int rc = sh(cmd, log, sizeof log);
    ck_assert_msg(rc == 0, "%s: exit %d:\n%.3000s", mods[i], rc, log);
    ck_assert_has(log, "ok\n");
  }
}
END_TEST

/* ---- relaxed SIMD ---- */

START_TEST(test_relaxed_module) {
  char log[8192], cmd[2048];
  const char *wasm = tu_env("FERRY_WASM_RELAXED");
  ck_assert_msg(access(wasm, R_OK) == 0, "%s is missing (make wasm: needs clang-16)", wasm);
  /* 0xfd 0x85 0x02: f32x4.relaxed_madd, what the build is for */
  snprintf(cmd, sizeof cmd,
           "node -e 'const b = require(\"fs\").readFileSync(process.argv[1]);"
           " console.log(\"madd\", b.includes(Buffer.from([0xfd, 0x85, 0x02])));"
           " const v8 = require(\"v8\"); v8.setFlagsFromString(\"--experimental-wasm-relaxed-simd\");"
           " console.log(\"imports\", JSON.stringify(WebAssembly.Module.imports(new WebAssembly.Module(b))))' '%s' 2>&1",
           wasm);
  ck_assert_int_eq(sh(cmd, log, sizeof log), 0);
  ck_assert_has(log, "madd true\n");
  ck_assert_has(log, "imports []\n");
}
END_TEST

START_TEST(test_relaxed_models_match_reference) {
  check_reference_models(tu_env("FERRY_WASM_RELAXED"), "--relaxed-simd");
}
END_TEST

static Suite *wasm_suite(void) {
  Suite *s = suite_create("wasm");
  TCase *c = tcase_create("module");
  tcase_set_timeout(c, 60);
  tcase_add_test(c, test_module_has_no_imports);
  suite_add_tcase(s, c);
  c = tcase_create("models");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_models_match_reference);
  tcase_add_test(c, test_sharded_bundle);
  tcase_add_test(c, test_compressed_bundle);
  suite_add_tcase(s, c);
  c = tcase_create("errors");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_errors_are_js_errors);
  suite_add_tcase(s, c);
  c = tcase_create("relaxed");
  tcase_set_timeout(c, 600);
  tcase_add_test(c, test_relaxed_module);
  tcase_add_test(c, test_relaxed_models_match_reference);
  suite_add_tcase(s, c);
  c = tcase_create("vmath");
  tcase_set_timeout(c, 120);
  tcase_add_test(c, test_vmath_as_native);
  tcase_add_test(c, test_gelu_as_native);
  tcase_add_test(c, test_depthwise_as_native);
  tcase_add_test(c, test_simd_loads_at);
  tcase_add_test(c, test_fused_gpt_as_native);
  suite_add_tcase(s, c);
  c = tcase_create("conformance");
  tcase_set_timeout(c, 900);
  tcase_add_test(c, test_node_tests_as_native);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(wasm_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
