/*
 * check_demo.c - the web demo (web-demo/, built into BUILD/web-demo/dist by
 * `make web-demo`) in headless Chromium, through tests/browser/demo.test.mjs:
 *
 *   tools    node and Debian's /usr/bin/chromium are there (missing: a
 *            failure, not a skip), and the demo folder was built;
 *   browser  demo.test.mjs passes: the page loads its models with a moving
 *            progress bar; OCR and VAD on the samples give results whose raw
 *            model outputs equal native `ferry run` (rtol 1e-4); the speed
 *            card runs; a second load comes from the Cache API; a corrupted
 *            shard is refused with a visible error;
 *   samples  scripts/make-demo-samples.mjs writes the same bytes every run;
 *   units    tests/browser/demo-units.test.mjs: the WAV reader (every format,
 *            errors, a fuzz loop), the OCR and VAD steps, in node.
 *
 * Environment (make check sets it): FERRY, FERRY_TEST_MODELS, FERRY_SRCDIR,
 * FERRY_DEMO_DIST (the built demo folder).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Runs a shell command, stdout and stderr together into `log`; returns the
 * exit status (-1 for a signal). */
static int sh(const char *cmd, char *log, size_t cap) {
  FILE *p = popen(cmd, "r");
  ck_assert_msg(p != NULL, "popen %s", cmd);
  size_t got = fread(log, 1, cap - 1, p);
  log[got] = 0;
  while (fgetc(p) != EOF) { /* drain what did not fit */
  }
  int st = pclose(p);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_tools_present) {
  char log[4096];
  ck_assert_msg(sh("node --version 2>&1", log, sizeof log) == 0, "node is needed: %s", log);
  ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0, "/usr/bin/chromium is needed (scripts/setup-debian.sh)");
  char path[4096];
  snprintf(path, sizeof path, "%s/index.html", tu_env("FERRY_DEMO_DIST"));
  ck_assert_msg(access(path, R_OK) == 0, "%s is missing (make web-demo)", path);
  snprintf(path, sizeof path, "%s/browser/node_modules/playwright-core/package.json", tu_env("FERRY_TEST_MODELS"));
  ck_assert_msg(access(path, R_OK) == 0, "%s is missing (tests/browser/setup.sh)", path);
}
END_TEST

START_TEST(test_demo_in_chromium) {
  static char log[1 << 16];
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "timeout 600 node '%s/tests/browser/demo.test.mjs' '%s' 2>&1", tu_env("FERRY_SRCDIR"),
           tu_env("FERRY_DEMO_DIST"));
  int rc = sh(cmd, log, sizeof log);
  fputs(log, stdout); /* the "ok - ..." lines, with the measured differences, go to the test log */
  ck_assert_msg(rc == 0, "demo.test.mjs exited %d:\n%s", rc, log);
  const char *want[] = {"ok - load", "ok - ocr", "ok - vad", "ok - speed", "ok - cache", "ok - corrupt"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    ck_assert_msg(strstr(log, want[i]) != NULL, "missing '%s' in:\n%s", want[i], log);
}
END_TEST

START_TEST(test_samples_reproducible) {
  char a[64], b[64], cmd[4096], log[4096];
  snprintf(a, sizeof a, "%s", tu_tmpdir());
  snprintf(b, sizeof b, "%s", tu_tmpdir());
  const char *src = tu_env("FERRY_SRCDIR");
  snprintf(cmd, sizeof cmd,
           "node '%s/scripts/make-demo-samples.mjs' '%s' && node '%s/scripts/make-demo-samples.mjs' '%s' && "
           "cmp '%s/sample.png' '%s/sample.png' && cmp '%s/sample.wav' '%s/sample.wav' && "
           "head -c 8 '%s/sample.png' | od -An -c && head -c 4 '%s/sample.wav'",
           src, a, src, b, a, b, a, b, a, a);
  ck_assert_msg(sh(cmd, log, sizeof log) == 0, "samples: %s", log);
  ck_assert_msg(strstr(log, "P   N   G") && strstr(log, "RIFF"), "not a PNG and a WAV: %s", log);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "node '%s/scripts/make-demo-samples.mjs' 2>&1", src);
  ck_assert_int_eq(sh(cmd, log, sizeof log), 2); /* usage error */
}
END_TEST

START_TEST(test_units_in_node) {
  char cmd[4096], log[1 << 14];
  snprintf(cmd, sizeof cmd, "timeout 120 node '%s/tests/browser/demo-units.test.mjs' 2>&1", tu_env("FERRY_SRCDIR"));
  int rc = sh(cmd, log, sizeof log);
  ck_assert_msg(rc == 0 && strstr(log, "ok - demo units"), "demo-units.test.mjs exited %d:\n%s", rc, log);
}
END_TEST

int main(void) {
  Suite *s = suite_create("demo");
  TCase *t = tcase_create("demo");
  tcase_set_timeout(t, 900);
  tcase_add_test(t, test_tools_present);
  tcase_add_test(t, test_samples_reproducible);
  tcase_add_test(t, test_units_in_node);
  tcase_add_test(t, test_demo_in_chromium);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
