/*
 * convert.c - the `ferry convert` pipeline (convert.h).
 *
 * Each stage is one library call; this file only sequences them, times
 * them and fills the report. The source model's SHA-256 becomes the
 * bundle id, so a browser cache can key a bundle by its source.
 */
#include "convert.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle_write.h"
#include "onnx_export.h"
#include "sha256.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Bytes of the bundle at `out` and its shards `out.N`. */
static uint64_t bundle_bytes(const char *out, int *shards) {
  uint64_t total = file_size(out);
  *shards = 1;
  for (int k = 1;; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%d", out, k);
    uint64_t n = file_size(path);
    if (!n) break;
    total += n;
    (*shards)++;
  }
  return total;
}

/* The passes; with --emit-onnx not those that make ops only ferry runs,
 * unless enabled by name (onnxruntime must be able to run that graph). */
static int optimize(ferry_model *m, const ferry_convert_opts *o, ferry_convert_report *rep, ferry_err *err) {
  if (o->no_optimize) return 0;
  rep->optimized = 1;
  if (o->n_disabled > FERRY_PASS_MAX * 4)
    return ferry_fail(err, FERRY_E_INPUT, "%s: too many passes turned off (%d)", m->path, o->n_disabled);
  const char *off[FERRY_PASS_MAX * 5];
  int n_off = o->n_disabled;
  for (int i = 0; i < n_off; i++) off[i] = o->disabled[i];
  if (o->emit_onnx) ferry_passes_off_for_onnx(o->enabled, o->n_enabled, off, &n_off);
  int rc = ferry_optimize_ex(m, o->enabled, o->n_enabled, off, n_off, &rep->passes, err);
  return rc ? ferry_err_prefix(err, m->path) : 0;
}

static int write_outputs(ferry_model *m, const char *in, const char *out, const ferry_convert_opts *o,
                         ferry_err *err) {
  ferry_bundle_opts bo = {.shard_size = o->shard_size, .compress = o->compress};
  if (ferry_sha256_file(in, bo.source_sha256))
    return ferry_fail(err, FERRY_E_INPUT, "%s: cannot read it again to hash it", in);
  const char *base = strrchr(in, '/');
  ferry_str props[2] = {{"source_file", 11}, {base ? base + 1 : in, strlen(base ? base + 1 : in)}};
  bo.props = props;
  bo.n_props = 1;
  if (o->emit_onnx && ferry_onnx_save(m, o->emit_onnx, err)) return err->code;
  if (ferry_bundle_write(m, out, &bo, err)) {
    if (o->emit_onnx) unlink(o->emit_onnx); /* all or nothing */
    return err->code;
  }
  return 0;
}

int ferry_convert_file(const char *in, const char *out, const ferry_convert_opts *opts,
                       ferry_convert_report *rep, ferry_err *err) {
  static const ferry_convert_opts defaults;
  ferry_convert_report local;
  const ferry_convert_opts *o = opts ? opts : &defaults;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  double t0 = now();
  ferry_model *m = ferry_model_load(in, err);
  if (!m) return err->code;
  double t1 = now();
  int rc = ferry_infer_shapes_info(m, o->fix, o->n_fix, &rep->infer, err);
  double t2 = now();
  rep->nodes_before = ferry_graph_node_count(m->graph);
  if (!rc) rc = optimize(m, o, rep, err);
  rep->nodes_after = ferry_graph_node_count(m->graph);
  double t3 = now();
  if (!rc) rc = write_outputs(m, in, out, o, err);
  double t4 = now();
  ferry_model_free(m);
  rep->t_import = t1 - t0, rep->t_infer = t2 - t1, rep->t_optimize = t3 - t2, rep->t_write = t4 - t3;
  if (!rc) rep->bytes = bundle_bytes(out, &rep->shards);
  return rc;
}

void ferry_convert_report_print(const ferry_convert_report *rep, const char *out, int verbose, FILE *f) {
  if (verbose && rep->optimized) ferry_pass_report_print(&rep->passes, f);
  if (verbose && rep->infer.unknown)
    fprintf(f, "no shape rule for %d node(s): %s\n", rep->infer.unknown, rep->infer.unknown_ops);
  fprintf(f, "wrote %s: %llu bytes in %d file%s; nodes %d -> %d", out, (unsigned long long)rep->bytes,
          rep->shards, rep->shards == 1 ? "" : "s", rep->nodes_before, rep->nodes_after);
  if (rep->optimized) {
    int applied = 0;
    for (int i = 0; i < rep->passes.n; i++) applied += rep->passes.pass[i].rewrites > 0;
    fprintf(f, "; %d pass%s applied", applied, applied == 1 ? "" : "es");
  }
  fprintf(f, "; %.3f s (import %.3f, infer %.3f, optimize %.3f, write %.3f)\n",
          rep->t_import + rep->t_infer + rep->t_optimize + rep->t_write, rep->t_import, rep->t_infer,
          rep->t_optimize, rep->t_write);
}
