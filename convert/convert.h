/*
 * convert.h - the `ferry convert` pipeline: import -> infer -> optimize ->
 * write a bundle (and, optionally, the optimized graph as ONNX).
 */
#ifndef FERRY_CONVERT_H
#define FERRY_CONVERT_H

#include <stdint.h>
#include <stdio.h>

#include "infer.h"
#include "ir.h"
#include "passes.h"

typedef struct ferry_convert_opts {
  const char *emit_onnx;            /* also write the optimized graph here, or NULL */
  const ferry_dimbinding *fix;      /* symbols to bind (--fix-dim) */
  int n_fix;
  int no_optimize;                  /* 1: no passes at all */
  const char *const *disabled;      /* passes turned off by name */
  int n_disabled;
  const char *const *enabled;       /* ferry-only passes kept on despite emit_onnx */
  int n_enabled;
  uint64_t shard_size;              /* 0: the bundle default */
  int compress;                     /* deflate the small sections */
} ferry_convert_opts;

typedef struct ferry_convert_report {
  ferry_infer_info infer;
  ferry_pass_report passes;
  int optimized;                    /* passes ran */
  int nodes_before, nodes_after;    /* all graphs */
  uint64_t bytes;                   /* bundle bytes, all shards */
  int shards;
  double t_import, t_infer, t_optimize, t_write; /* seconds */
} ferry_convert_report;

/* Converts the model at `in` (ONNX or a bundle) into the bundle `out`.
 * Nothing is left at `out` (or at emit_onnx) on failure. `rep` may be NULL. */
int ferry_convert_file(const char *in, const char *out, const ferry_convert_opts *opts,
                       ferry_convert_report *rep, ferry_err *err);

/* The summary `ferry convert` prints (with the pass table when verbose). */
void ferry_convert_report_print(const ferry_convert_report *rep, const char *out, int verbose, FILE *f);

#endif
