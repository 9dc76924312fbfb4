/*
 * check_realmodels.c - ferry's runtime against onnxruntime-node on
 * pretrained models from npm whose reference outputs nobody shipped:
 * Silero VAD (v5: the network in If branches with LSTM; legacy: LSTM + If)
 * and PaddleOCR (detection: Resize, ConvTranspose, HardSigmoid;
 * recognition). compare.mjs --save runs each model in onnxruntime and
 * writes the inputs and outputs as a test_data_set folder; `ferry run`
 * runs the same model on those inputs and must match within rtol 1e-3,
 * atol 1e-4 (the torchvision, BERT- and GPT-like exports are checked
 * against their own reference data in check_runtime.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtutil.h"
#include "testutil.h"

static const struct {
  const char *model, *inputs;
} cases[] = {
    {"npm/silero_vad_v5.onnx", "--input input=random@1x576 --input state=zeros@2x1x128 --input sr=16000@"},
    {"npm/silero_vad_v5.onnx", "--input input=random@1x288 --input state=random@2x1x128 --input sr=8000@"}, /* 8 kHz: 256 + 32 */
    {"npm/silero_vad_legacy.onnx", "--dims batch=1,sequence=512 --input sr=16000@"},
    {"npm/ch_PP-OCRv4_det_infer.onnx", "--input x=random@1x3x96x128"},
    {"npm/ch_PP-OCRv4_rec_infer.onnx", "--input x=random@1x3x48x160"},
};

/* onnxruntime's inputs and outputs for case i into dir; 0 on success. */
static int ort_reference(size_t i, const char *dir) {
  const char *models = tu_env("FERRY_TEST_MODELS");
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "FERRY_ORT='%s/ort' timeout 300 node '%s/tests/ort/compare.mjs' '%s/%s' '%s/%s' %s --save '%s' >/dev/null",
           models, tu_env("FERRY_SRCDIR"), models, cases[i].model, models, cases[i].model, cases[i].inputs, dir);
  return system(cmd);
}

START_TEST(test_runtime_matches_onnxruntime) {
  char ref[64], out[64];
  snprintf(ref, sizeof ref, "%s", tu_tmpdir());
  snprintf(out, sizeof out, "%s", tu_tmpdir());
  int i = _i;
  ck_assert_msg(ort_reference((size_t)i, ref) == 0, "%s: onnxruntime reference failed (tests/ort/setup.sh?)",
                cases[i].model);
  char args[4096], *o = NULL, *e = NULL;
  snprintf(args, sizeof args, "run '%s' --input-dir '%s' --output-dir '%s'", tu_model(cases[i].model), ref, out);
  int rc = tu_run(args, &o, &e);
  ck_assert_msg(rc == 0, "%s: ferry run exit %d: %s", cases[i].model, rc, e);
  int n = rtu_count(ref, "output");
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(rtu_count(out, "output"), n);
  ferry_host_tensor want[8], got[8];
  ferry_err err;
  memset(want, 0, sizeof want);
  memset(got, 0, sizeof got);
  ck_assert_msg(rtu_read_set(ref, "output", n, want, &err) == 0, "%s", err.msg);
  ck_assert_msg(rtu_read_set(out, "output", n, got, &err) == 0, "%s", err.msg);
  for (int k = 0; k < n; k++) {
    rtu_diff d;
    char msg[512];
    int bad = rtu_compare(&got[k].v, &want[k].v, 1e-3, 1e-4, &d, msg, sizeof msg);
    fprintf(stderr, "%s output %d: max abs err %.3g\n", cases[i].model, k, d.max_abs);
    ck_assert_msg(!bad, "%s output %d: %s", cases[i].model, k, msg);
    ferry_host_tensor_free(&want[k]);
    ferry_host_tensor_free(&got[k]);
  }
  free(o);
  free(e);
  rtu_rm_tree(ref);
  rtu_rm_tree(out);
}
END_TEST

int main(void) {
  Suite *s = suite_create("realmodels");
  TCase *c = tcase_create("onnxruntime");
  tcase_set_timeout(c, 600);
  tcase_add_loop_test(c, test_runtime_matches_onnxruntime, 0, (int)(sizeof cases / sizeof *cases));
  suite_add_tcase(s, c);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
