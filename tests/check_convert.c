/*
 * check_convert.c - `ferry convert` end to end.
 *
 *   sha256   the bundle id's hash against FIPS 180-4 test vectors;
 *   cli      convert real models, read the bundle back with inspect, the
 *            options (--fix-dim, --disable, --no-optimize, --shard-size,
 *            --verbose) and the error contract (exit code, one line,
 *            nothing left behind);
 *   ort      onnxruntime-node gives the same outputs (rtol 1e-3, atol 1e-4)
 *            for each real model and its optimized --emit-onnx graph.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "testutil.h"

/* ---- sha256 ---- */

static void check_hash(const void *data, size_t n, const char *want) {
  uint8_t d[32];
  char hex[65];
  ferry_sha256_buf(data, n, d);
  ferry_sha256_hex(d, hex);
  ck_assert_str_eq(hex, want);
}

static void sha256_vectors(void);

START_TEST(test_sha256_vectors) { sha256_vectors(); }
END_TEST

/* The portable compression function, where SHA-NI would otherwise be used
 * (each Check test runs in its own process, so the choice is fresh). */
START_TEST(test_sha256_vectors_portable) {
  setenv("FERRY_SHA256", "c", 1);
  sha256_vectors();
}
END_TEST

static void sha256_vectors(void) {
  check_hash("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_hash("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  check_hash(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* a million 'a', fed in uneven pieces through the streaming API */
  ferry_sha256 s;
  ferry_sha256_init(&s);
  char a[1000];
  memset(a, 'a', sizeof a);
  for (size_t done = 0, step = 1; done < 1000000; done += step, step = step % 997 + 1) {
    if (done + step > 1000000) step = 1000000 - done;
    ferry_sha256_update(&s, a, step);
  }
  uint8_t d[32];
  char hex[65];
  ferry_sha256_final(&s, d);
  ferry_sha256_hex(d, hex);
  ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- helpers ---- */

static int run(const char *fmt, const char *a, const char *b, const char *c, char **out, char **err) {
  char args[8192];
  snprintf(args, sizeof args, fmt, a, b, c);
  return tu_run(args, out, err);
}

/* Files in `dir` (so tests can assert nothing was left behind). */
static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n;
}

#define ck_assert_has(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) != NULL, "missing %s in:\n%s", (needle), (hay))

/* ---- cli ---- */

START_TEST(test_convert_and_inspect_bundle) {
  char dir[64];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  char out[1024], *o, *e;
  snprintf(out, sizeof out, "%s/bert.ferry", dir);
  int rc = run("convert '%s' -o '%s' --verbose%s", tu_model("bert_tiny_op13.onnx"), out, "", &o, &e);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, e);
  ck_assert_has(o, "fuse-layernorm");
  ck_assert_has(o, "wrote ");
  free(o), free(e);
  rc = run("inspect '%s' --json%s%s", out, "", "", &o, &e);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, e);
  ck_assert_has(o, "{\"name\": \"input_ids\", \"dtype\": \"int64\", \"shape\": [\"batch\", \"sequence\"]}");
  ck_assert_has(o, "\"LayerNormalization\": 5");
  ck_assert_has(o, "\"com.microsoft.Gelu\": 2");
  free(o), free(e);
  unlink(out);
  rmdir(dir);
}
END_TEST

START_TEST(test_convert_options) {
  char dir[64];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  char out[1024], onnx[1024], *o, *e;
  snprintf(out, sizeof out, "%s/m.ferry", dir);
  snprintf(onnx, sizeof onnx, "%s/m.onnx", dir);
  /* --fix-dim binds the symbol in the bundle */
  ck_assert_int_eq(run("convert '%s' -o '%s' --fix-dim batch=2%s", tu_model("bert_tiny_op13.onnx"), out, "", &o, &e), 0);
  free(o), free(e);
  ck_assert_int_eq(run("inspect '%s' --json%s%s", out, "", "", &o, &e), 0);
  ck_assert_has(o, "\"shape\": [2, \"sequence\"]");
  free(o), free(e);
  /* --disable keeps the pattern: the emitted ONNX still has Erf */
  ck_assert_int_eq(run("convert '%s' -o '%s' --disable fuse-gelu --emit-onnx '%s'", tu_model("bert_tiny_op13.onnx"), out, onnx, &o, &e), 0);
  free(o), free(e);
  ck_assert_int_eq(run("inspect '%s' --json%s%s", onnx, "", "", &o, &e), 0);
  ck_assert_has(o, "\"Erf\": 2");
  ck_assert_msg(strstr(o, "Gelu") == NULL, "%s", o);
  free(o), free(e);
  /* --no-optimize keeps every node */
  ck_assert_int_eq(run("convert '%s' -o '%s' --no-optimize%s", tu_model("resnet18.onnx"), out, "", &o, &e), 0);
  ck_assert_has(o, "nodes 49 -> 49");
  free(o), free(e);
  /* shards */
  ck_assert_int_eq(run("convert '%s' -o '%s' --shard-size 4M%s", tu_model("resnet18.onnx"), out, "", &o, &e), 0);
  ck_assert_msg(strstr(o, " files;") != NULL, "%s", o);
  free(o), free(e);
  ck_assert_int_eq(run("inspect '%s' --json%s%s", out, "", "", &o, &e), 0);
  ck_assert_has(o, "\"parameters\": 11684712");
  free(o), free(e);
  /* passes are listed */
  ck_assert_int_eq(run("convert --list-passes%s%s%s", "", "", "", &o, &e), 0);
  ck_assert_has(o, "conv-bn");
  free(o), free(e);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The error contract: exit code, one line naming the file, nothing left. */
START_TEST(test_convert_errors) {
  char dir[64];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  char out[1024], *o, *e;
  snprintf(out, sizeof out, "%s/x.ferry", dir);
  struct {
    const char *model, *extra;
    int code;
    const char *part;
  } cases[] = {
      {"crafted/cycle.onnx", "", 2, "cycle"},
      {"crafted/not_onnx.onnx", "", 2, "not an ONNX model"},
      {"crafted/external_escape/model.onnx", "", 2, "leaves the model's folder"},
      {"crafted/no_such.onnx", "", 2, "No such file"},
      {"crafted/empty_fill_value.onnx", "", 2, "value must have one element"},
      {"resnet18.onnx", "--disable no-such-pass", 2, "no-such-pass"},
      {"resnet18.onnx", "--fix-dim nosuchdim=3", 2, "nosuchdim"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = run("convert '%s' -o '%s' %s", tu_model(cases[i].model), out, cases[i].extra, &o, &e);
    ck_assert_msg(rc == cases[i].code, "%s: exit %d: %s", cases[i].model, rc, e);
    ck_assert_msg(strncmp(e, "ferry: ", 7) == 0 && strchr(e, '\n') == e + strlen(e) - 1, "%s", e);
    ck_assert_has(e, cases[i].part);
    ck_assert_int_eq(count_files(dir), 0); /* no bundle, no temp file */
    free(o), free(e);
  }
  /* an output folder that does not exist: a system error, exit 3 */
  snprintf(out, sizeof out, "%s/missing/x.ferry", dir);
  ck_assert_int_eq(run("convert '%s' -o '%s'%s", tu_model("squeezenet1_1.onnx"), out, "", &o, &e), 3);
  ck_assert_has(e, "missing/x.ferry");
  free(o), free(e);
  ck_assert_int_eq(run("convert '%s'%s%s", tu_model("squeezenet1_1.onnx"), "", "", &o, &e), 2);
  ck_assert_has(e, "missing -o");
  free(o), free(e);
  ck_assert_int_eq(count_files(dir), 0);
  rmdir(dir);
}
END_TEST

/* ---- onnxruntime: original vs optimized ---- */

static const struct {
  const char *model, *args;
} ort_cases[] = {
    {"resnet18.onnx", "--data %s/resnet18/test_data_set_0"},
    {"squeezenet1_1.onnx", ""},
    {"mobilenet_v2.onnx", ""},
    {"bert_tiny_op13.onnx", "--dims batch=2,sequence=7"},
    {"bert_tiny_op17.onnx", "--dims batch=2,sequence=7"},
    {"gpt_tiny_op13.onnx", "--dims batch=2,sequence=7"},
    {"gpt_tiny_op17.onnx", "--dims batch=2,sequence=7"},
    {"npm/silero_vad_v5.onnx", "--input input=random@1x576 --input state=zeros@2x1x128 --input sr=16000@"},
    {"npm/silero_vad_legacy.onnx", "--dims batch=1,sequence=512 --input sr=16000@"},
    {"npm/ch_PP-OCRv4_det_infer.onnx", "--input x=random@1x3x64x64"},
};

START_TEST(test_emit_onnx_matches_onnxruntime) {
  const char *models = tu_env("FERRY_TEST_MODELS");
  const char *src = tu_env("FERRY_SRCDIR");
  char dir[64];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  for (size_t i = 0; i < sizeof ort_cases / sizeof *ort_cases; i++) {
    char in[1024], out[1024], onnx[1024], args[16384], *o, *e;
    snprintf(in, sizeof in, "%s/%s", models, ort_cases[i].model);
    snprintf(out, sizeof out, "%s/m.ferry", dir);
    snprintf(onnx, sizeof onnx, "%s/m.onnx", dir);
    int rc = run("convert '%s' -o '%s' --emit-onnx '%s'", in, out, onnx, &o, &e);
    ck_assert_msg(rc == 0, "%s: %s", in, e);
    free(o), free(e);
    char extra[1024];
    snprintf(extra, sizeof extra, ort_cases[i].args, models);
    snprintf(args, sizeof args,
             "FERRY_ORT='%s/ort' timeout 300 node '%s/tests/ort/compare.mjs' '%s' '%s' %s --rtol 1e-3 --atol 1e-4 2>&1",
             models, src, in, onnx, extra);
    FILE *p = popen(args, "r");
    ck_assert_ptr_nonnull(p);
    char log[8192] = "";
    size_t got = fread(log, 1, sizeof log - 1, p);
    log[got] = 0;
    int st = pclose(p);
    fprintf(stderr, "%s:\n%s", ort_cases[i].model, log);
    ck_assert_msg(st == 0, "%s: optimized model differs or compare failed (status %d):\n%s", ort_cases[i].model, st, log);
    ck_assert_has(log, "PASS");
    unlink(out);
    unlink(onnx);
  }
  rmdir(dir);
}
END_TEST

static Suite *convert_suite(void) {
  Suite *s = suite_create("convert");
  TCase *c = tcase_create("sha256");
  tcase_add_test(c, test_sha256_vectors);
  tcase_add_test(c, test_sha256_vectors_portable);
  suite_add_tcase(s, c);
  c = tcase_create("cli");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, test_convert_and_inspect_bundle);
  tcase_add_test(c, test_convert_options);
  tcase_add_test(c, test_convert_errors);
  suite_add_tcase(s, c);
  c = tcase_create("ort");
  tcase_set_timeout(c, 900);
  tcase_add_test(c, test_emit_onnx_matches_onnxruntime);
  suite_add_tcase(s, c);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(convert_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
