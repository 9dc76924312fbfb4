/*
 * check_pack.c - `ferry pack` and the folder it writes, in node and in
 * headless Chromium.
 *
 *   folder    squeezenet1_1 packed: every file there, manifest.json's fields
 *             (format, bundle, runtime and shards with their real size and
 *             sha256, IO signature, encodings, features), nothing left beside
 *             the folder, readable permissions; with --shard-size 1M several
 *             shards, each listed; packing again replaces an earlier pack; a
 *             bundle can be packed too;
 *   errors    missing or invalid model, bad option, a folder that is not a
 *             pack, missing web files: documented exit code, one line naming
 *             the file, nothing written;
 *   node      ferry.js in node on squeezenet (sharded) and BERT (int64
 *             inputs) equals native `ferry run`, by path, file:// and http
 *             URL; clear errors; a manifest fuzz loop (tests/browser/pack-node.mjs);
 *   browser   Chromium via playwright-core (tests/browser/pack-browser.mjs):
 *             index.html from a sub-path (squeezenet sharded; BERT with int64
 *             inputs and symbolic dims), progress, outputs equal native, the
 *             second load from the Cache API with no model request, main
 *             thread and worker agree, the page stays responsive, a corrupted
 *             shard, a missing one, no wasm SIMD and no Web Workers are
 *             visible clear errors.
 *
 * Environment (make check sets it): FERRY, FERRY_TEST_MODELS, FERRY_SRCDIR.
 * A missing node, playwright-core or chromium is a failure, not a skip.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sha256.h"
#include "testutil.h"

#define ck_assert_has(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) != NULL, "missing '%s' in:\n%s", (needle), (hay))

/* Runs a shell command, stdout and stderr together into a malloc'd log;
 * returns the exit status (-1 for a signal). */
static int sh(const char *cmd, char **log) {
  char path[] = "/tmp/ferry-sh-XXXXXX", full[16384];
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  snprintf(full, sizeof full, "(%s) >'%s' 2>&1", cmd, path);
  int st = system(full);
  *log = tu_read(path, NULL);
  unlink(path);
  ck_assert_ptr_nonnull(*log);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `ferry pack MODEL -o DIR EXTRA`; the exit status, output in *log. */
static int pack(const char *model, const char *dir, const char *extra, char **log) {
  char cmd[16384];
  snprintf(cmd, sizeof cmd, "timeout 300 '%s' pack '%s' -o '%s' %s", tu_env("FERRY"), model, dir, extra);
  return sh(cmd, log);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Entries of folder `parent` whose name starts with `prefix`. */
static int count_prefixed(const char *parent, const char *prefix) {
  DIR *d = opendir(parent);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
  closedir(d);
  return n;
}

/* The manifest lists `file` with its real size and sha256. */
static void check_listed(const char *manifest, const char *dir, const char *file) {
  char path[4096], entry[512], hex[65];
  uint8_t digest[32];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, file);
  ck_assert_msg(stat(path, &st) == 0, "%s is missing", path);
  ck_assert_int_eq(ferry_sha256_file(path, digest), 0);
  ferry_sha256_hex(digest, hex);
  snprintf(entry, sizeof entry, "{\"file\": \"%s\", \"size\": %lld, \"sha256\": \"%s\"}", file, (long long)st.st_size,
           hex);
  ck_assert_has(manifest, entry);
}

static char *read_manifest(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  char *m = tu_read(path, NULL);
  ck_assert_msg(m != NULL, "%s is missing", path);
  return m;
}

/* ---- folder ---- */

START_TEST(test_folder_single) {
  char dir[4096], *log;
  const char *tmp = tu_tmpdir();
  snprintf(dir, sizeof dir, "%s/site", tmp);
  ck_assert_msg(pack(tu_model("squeezenet1_1.onnx"), dir, "", &log) == 0, "%s", log);
  ck_assert_has(log, "1 model file");
  free(log);
  const char *files[] = {"index.html", "ferry.js", "ferry-wasm.js", "ferry-worker.js", "ferry.d.ts", "ferry.wasm",
                         "ferry-relaxed.wasm", "model.ferry", "manifest.json"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    ck_assert_msg(exists(p), "%s is missing", p);
  }
  char *m = read_manifest(dir);
  ck_assert_has(m, "\"format\": \"ferry-pack\"");
  ck_assert_has(m, "\"format_version\": 1,");
  ck_assert_has(m, "\"bundle_format\": \"1.0\"");
  ck_assert_has(m, "\"compressed\": false");
  ck_assert_has(m, "\"model\": \"model.ferry\"");
  ck_assert_has(m, "\"source_file\": \"squeezenet1_1.onnx\"");
  ck_assert_has(m, "\"inputs\": [\n    {\"name\": \"input\", \"kind\": \"tensor\", \"dtype\": \"float32\", "
                   "\"shape\": [1, 3, 224, 224]}\n  ]");
  ck_assert_has(m, "\"outputs\": [\n    {\"name\": \"output\", \"kind\": \"tensor\", \"dtype\": \"float32\", "
                   "\"shape\": [1, 1000]}\n  ]");
  ck_assert_has(m, "\"encodings\": [\"raw\"]");
  ck_assert_has(m, "\"features\": [\"wasm-simd128\", \"wasm-bulk-memory\"]");
  check_listed(m, dir, "ferry.wasm");
  check_listed(m, dir, "ferry-relaxed.wasm");
  ck_assert_has(m, "\"runtime_relaxed\": {\"file\": \"ferry-relaxed.wasm\"");
  check_listed(m, dir, "model.ferry");
  ck_assert_msg(!strstr(m, "model.ferry.1"), "one shard expected:\n%s", m);
  free(m);
  /* a data folder without the relaxed-SIMD build: a pack without it */
  char cmd0[16384], *log0;
  snprintf(cmd0, sizeof cmd0,
           "mkdir '%s/data' && cp '%s'/ferry.wasm '%s'/ferry.js '%s'/ferry-wasm.js '%s'/ferry-worker.js "
           "'%s'/ferry.d.ts '%s'/index.html '%s/data/' && FERRY_DATADIR='%s/data' timeout 120 '%s' pack '%s' -o '%s/plain'",
           tmp, dir, dir, dir, dir, dir, dir, tmp, tmp, tu_env("FERRY"), tu_model("squeezenet1_1.onnx"), tmp);
  ck_assert_msg(sh(cmd0, &log0) == 0, "%s", log0);
  free(log0);
  snprintf(cmd0, sizeof cmd0, "%s/plain", tmp);
  m = read_manifest(cmd0);
  check_listed(m, cmd0, "ferry.wasm");
  ck_assert_msg(!strstr(m, "runtime_relaxed"), "no relaxed build was there:\n%s", m);
  free(m);
  snprintf(cmd0, sizeof cmd0, "%s/plain/ferry-relaxed.wasm", tmp);
  ck_assert(!exists(cmd0));
  struct stat st;
  ck_assert_int_eq(stat(dir, &st), 0);
  ck_assert_msg(st.st_mode & S_IROTH, "the folder is not world-readable (%o)", st.st_mode & 0777);
  ck_assert_int_eq(count_prefixed(tmp, "site"), 1); /* no site.tmp-* left */
  ck_assert_int_eq(count_prefixed(tmp, "plain"), 1);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_folder_sharded_replace_bundle) {
  char dir[4096], dir2[4096], bundle[4200], *log;
  const char *tmp = tu_tmpdir();
  snprintf(dir, sizeof dir, "%s/site", tmp);
  ck_assert_msg(pack(tu_model("squeezenet1_1.onnx"), dir, "", &log) == 0, "%s", log);
  free(log);
  /* packing again replaces the earlier pack, here with shards */
  ck_assert_msg(pack(tu_model("squeezenet1_1.onnx"), dir, "--shard-size 1M", &log) == 0, "%s", log);
  free(log);
  char *m = read_manifest(dir);
  int shards = 0;
  for (int k = 1;; k++, shards++) {
    char name[64], p[4200];
    snprintf(name, sizeof name, "model.ferry.%d", k);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!exists(p)) break;
    check_listed(m, dir, name);
  }
  ck_assert_msg(shards >= 3, "%d extra shards with --shard-size 1M", shards);
  check_listed(m, dir, "model.ferry");
  free(m);
  ck_assert_int_eq(count_prefixed(tmp, "site"), 1); /* no site.tmp-*, no site.old-* */
  /* a bundle packs too (re-sharded into one file) */
  snprintf(dir2, sizeof dir2, "%s/again/", tmp);
  snprintf(bundle, sizeof bundle, "%s/model.ferry", dir);
  ck_assert_msg(pack(bundle, dir2, "", &log) == 0, "%s", log);
  ck_assert_has(log, "1 model file");
  free(log);
  m = read_manifest(dir2);
  ck_assert_has(m, "\"shape\": [1, 3, 224, 224]");
  ck_assert_msg(!strstr(m, "model.ferry.1"), "one shard expected:\n%s", m);
  free(m);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors) {
  char dir[4096], p[4200], *log;
  const char *tmp = tu_tmpdir();
  snprintf(dir, sizeof dir, "%s/site", tmp);
  /* a missing model: exit 2 naming it, nothing made */
  ck_assert_int_eq(pack("/nonexistent/model.onnx", dir, "", &log), 2);
  ck_assert_has(log, "ferry: /nonexistent/model.onnx: ");
  free(log);
  /* an invalid model: exit 2, nothing left (not even the temporary folder) */
  snprintf(p, sizeof p, "%s/bad.onnx", tmp);
  ck_assert_int_eq(tu_write(p, "not a model at all", 18), 0);
  ck_assert_int_eq(pack(p, dir, "", &log), 2);
  ck_assert_has(log, "bad.onnx");
  ck_assert_msg(strchr(log, '\n') == log + strlen(log) - 1, "one line expected:\n%s", log);
  free(log);
  ck_assert_int_eq(count_prefixed(tmp, "site"), 0);
  /* the folder it goes into must exist */
  snprintf(p, sizeof p, "%s/no/such/site", tmp);
  ck_assert_int_eq(pack(tu_model("squeezenet1_1.onnx"), p, "", &log), 2);
  ck_assert_has(log, "/no/such) does not exist");
  free(log);
  /* bad usage */
  ck_assert_int_eq(pack(tu_model("squeezenet1_1.onnx"), dir, "--shard-size lots", &log), 2);
  ck_assert_has(log, "--shard-size");
  free(log);
  ck_assert_int_eq(tu_run("pack", NULL, NULL), 2);
  /* a folder that is not a pack is never replaced */
  ck_assert_int_eq(mkdir(dir, 0777), 0);
  snprintf(p, sizeof p, "%s/precious.txt", dir);
  ck_assert_int_eq(tu_write(p, "keep", 4), 0);
  ck_assert_int_eq(pack(tu_model("squeezenet1_1.onnx"), dir, "", &log), 2);
  ck_assert_has(log, "not a ferry pack");
  free(log);
  ck_assert(exists(p));
  ck_assert_int_eq(count_prefixed(tmp, "site"), 1);
  /* web files missing: exit 3 naming ferry.wasm and the folder */
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "FERRY_DATADIR=%s/nowhere timeout 60 '%s' pack '%s' -o '%s/other'", tmp, tu_env("FERRY"),
           tu_model("squeezenet1_1.onnx"), tmp);
  ck_assert_int_eq(sh(cmd, &log), 3);
  ck_assert_has(log, "ferry.wasm: not found in ");
  ck_assert_has(log, "/nowhere");
  free(log);
  snprintf(p, sizeof p, "%s/other", tmp);
  ck_assert(!exists(p));
  /* --help has an example */
  ck_assert_int_eq(tu_run("pack --help", &log, NULL), 0);
  ck_assert_has(log, "Example:");
  free(log);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- node ---- */

/* Packs models/NAME.onnx into TMP/NAME (EXTRA options), runs it natively on
 * test_data_set_0 and through ferry.js in node. */
static void node_matches_native(const char *name, const char *extra) {
  char dir[4096], data[4200], native[4200], cmd[16384], *log;
  const char *tmp = tu_tmpdir();
  char onnx[256];
  snprintf(onnx, sizeof onnx, "%s.onnx", name);
  snprintf(dir, sizeof dir, "%s/%s", tmp, name);
  ck_assert_msg(pack(tu_model(onnx), dir, extra, &log) == 0, "%s", log);
  free(log);
  snprintf(data, sizeof data, "%s/test_data_set_0", tu_model(name));
  snprintf(native, sizeof native, "%s/native", tmp);
  snprintf(cmd, sizeof cmd, "timeout 300 '%s' run '%s/model.ferry' --input-dir '%s' --output-dir '%s'", tu_env("FERRY"),
           dir, data, native);
  ck_assert_msg(sh(cmd, &log) == 0, "%s", log);
  free(log);
  ck_assert_msg(sh("node --version", &log) == 0, "node is needed: %s", log);
  free(log);
  snprintf(cmd, sizeof cmd, "timeout 300 node '%s/tests/browser/pack-node.mjs' '%s' '%s' '%s'", tu_env("FERRY_SRCDIR"),
           dir, data, native);
  int rc = sh(cmd, &log);
  fprintf(stderr, "%s: %s", name, log);
  ck_assert_msg(rc == 0, "pack-node.mjs failed on %s:\n%s", name, log);
  ck_assert_has(log, "PASS outputs-");
  ck_assert_has(log, "PASS errors-integrity");
  ck_assert_has(log, "PASS create-http-url");
  ck_assert_has(log, "PASS fuzz-manifest");
  ck_assert_has(log, "ok: pack-node 0 failed");
  free(log);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_node_squeezenet_sharded) { node_matches_native("squeezenet1_1", "--shard-size 1M"); }
END_TEST

START_TEST(test_node_bert) { node_matches_native("bert_tiny_op13", ""); }
END_TEST

/* ---- browser ---- */

START_TEST(test_browser) {
  char root[4096], dir[4200], cmd[16384], *log;
  const char *tmp = tu_tmpdir();
  snprintf(root, sizeof root, "%s/www", tmp);
  snprintf(dir, sizeof dir, "%s/models/squeezenet", root); /* a sub-path, as on GitHub Pages */
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/models'", root);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_msg(pack(tu_model("squeezenet1_1.onnx"), dir, "--shard-size 1M", &log) == 0, "%s", log);
  free(log);
  snprintf(dir, sizeof dir, "%s/models/bert", root); /* int64 inputs, symbolic dims */
  ck_assert_msg(pack(tu_model("bert_tiny_op13.onnx"), dir, "", &log) == 0, "%s", log);
  free(log);
  ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0, "/usr/bin/chromium is needed (scripts/setup-debian.sh)");
  snprintf(cmd, sizeof cmd, "timeout 600 node '%s/tests/browser/pack-browser.mjs' '%s' models/squeezenet models/bert",
           tu_env("FERRY_SRCDIR"), root);
  int rc = sh(cmd, &log);
  fprintf(stderr, "%s", log);
  ck_assert_msg(rc == 0, "pack-browser.mjs failed:\n%s", log);
  const char *want[] = {"PASS page-loads", "PASS page-progress", "PASS page-outputs-native", "PASS cache-second-load",
                        "PASS page-main-thread", "PASS worker-responsive", "PASS error-integrity",
                        "PASS error-http-404", "PASS error-no-simd", "PASS error-no-worker",
                        "PASS more-outputs-native models/bert",
                        "ok: pack-browser 0 failed"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) ck_assert_has(log, want[i]);
  free(log);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pack");
  TCase *t = tcase_create("folder");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_folder_single);
  tcase_add_test(t, test_folder_sharded_replace_bundle);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_errors);
  suite_add_tcase(s, t);
  t = tcase_create("node");
  tcase_set_timeout(t, 600);
  tcase_add_test(t, test_node_squeezenet_sharded);
  tcase_add_test(t, test_node_bert);
  suite_add_tcase(s, t);
  t = tcase_create("browser");
  tcase_set_timeout(t, 900);
  tcase_add_test(t, test_browser);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
