/*
 * passes.h - the optimizer of `ferry convert`: a table of small named graph
 * passes and the driver that runs them.
 *
 * Each pass rewrites one graph through a rewrite.h session and counts its
 * rewrites. The driver runs the table in order over every graph of the
 * model (subgraphs before the graph holding them), and repeats the whole
 * table until a round changes nothing (at most FERRY_PASS_ROUNDS rounds).
 * A pass can be turned off by name; passes that make ops onnxruntime cannot
 * run (domain "ferry") are off unless turned on by name.
 *
 * Passes work whether or not shape inference has run: they check a value's
 * dtype and shape before relying on them and skip what they cannot prove.
 * Fused ops keep the numbers of the pattern they replace (constants are
 * compared, axes and single consumers checked).
 *
 * The passes live in pass_cleanup.c (dead-code, identity, if-const),
 * pass_fold.c (fold-constants), pass_fuse_conv.c (conv-bn, fuse-activation)
 * pass_fuse_nlp.c (fuse-layernorm, fuse-gelu, fuse-attention) and
 * pass_fuse_hswish.c (fuse-hardswish).
 */
#ifndef FERRY_PASSES_H
#define FERRY_PASSES_H

#include <stdio.h>

#include "ir.h"
#include "rewrite.h"

#define FERRY_PASS_MAX 16
#define FERRY_PASS_ROUNDS 8

/* A pass: rewrites rw->g, adds one to rw->rewrites per rewrite, returns a
 * ferry_status (errors in rw->err). */
typedef int (*ferry_pass_fn)(ferry_rw *rw);

typedef struct ferry_pass {
  const char *name;    /* "dead-code" */
  const char *summary; /* one line for --help and --verbose */
  ferry_pass_fn fn;
  int ferry_only;      /* 1: makes ops only ferry runs (ferry.Attention), so it is
                        * off where the graph is also written as ONNX
                        * (ferry_passes_off_for_onnx) unless enabled by name */
} ferry_pass;

/* The table, in running order; *n gets its length. */
const ferry_pass *ferry_pass_table(int *n);

/* For an optimized graph that is also written as ONNX for onnxruntime
 * (convert's --emit-onnx): appends to off[*n] the passes with ferry_only
 * set that `enabled` does not name (off needs room for FERRY_PASS_MAX
 * more). */
void ferry_passes_off_for_onnx(const char *const *enabled, int n_enabled, const char **off, int *n);

typedef struct ferry_pass_stat {
  const char *name;
  int on;              /* ran (not turned off) */
  int nodes_before;    /* all graphs, before its run in the first round */
  int nodes_after;     /* all graphs, after that run */
  int later_removed;   /* nodes its runs in later rounds removed */
  int rewrites;        /* over all rounds and graphs */
} ferry_pass_stat;

typedef struct ferry_pass_report {
  int n;               /* entries in pass[], table order */
  ferry_pass_stat pass[FERRY_PASS_MAX];
  int rounds;
  int nodes_before, nodes_after; /* all graphs */
} ferry_pass_report;

/* Runs the default passes minus those named in `disabled` over the model.
 * `rep` may be NULL. An unknown pass name is FERRY_E_INPUT. */
int ferry_optimize(ferry_model *m, const char *const *disabled, int n_disabled,
                   ferry_pass_report *rep, ferry_err *err);
/* The same, also running the opt-in passes named in `enabled`. */
int ferry_optimize_ex(ferry_model *m, const char *const *enabled, int n_enabled,
                      const char *const *disabled, int n_disabled, ferry_pass_report *rep,
                      ferry_err *err);
/* Runs one pass (by name) once over every graph; *rewrites gets its count. */
int ferry_run_pass(ferry_model *m, const char *name, int *rewrites, ferry_err *err);

/* Writes the report as `convert --verbose` shows it. */
void ferry_pass_report_print(const ferry_pass_report *rep, FILE *f);

/* Total node count of g and every graph below it. */
int ferry_graph_node_count(const ferry_graph *g);

/* ---- the passes (one graph each) ---- */
int ferry_pass_dead_code(ferry_rw *rw);
int ferry_pass_identity(ferry_rw *rw);
int ferry_pass_if_const(ferry_rw *rw);
int ferry_pass_fold_constants(ferry_rw *rw);
int ferry_pass_conv_bn(ferry_rw *rw);
int ferry_pass_conv_affine(ferry_rw *rw);
int ferry_pass_fuse_activation(ferry_rw *rw);
int ferry_pass_fuse_layernorm(ferry_rw *rw);
int ferry_pass_fuse_gelu(ferry_rw *rw);
int ferry_pass_fuse_attention(ferry_rw *rw);
int ferry_pass_fuse_hardswish(ferry_rw *rw);

#endif
