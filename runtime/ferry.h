/*
 * ferry.h - the runtime's public API: open a .ferry bundle, ask for its
 * inputs and outputs, run it. Natively and in ferry.wasm alike (the JS
 * glue wraps exactly these functions): libc only, no files, no stdio; the
 * host reads or fetches the bundle bytes and passes them in.
 *
 *   ferry_err err;
 *   ferry_session_opts o = {.threads = 4};
 *   ferry_session *s = ferry_session_open(buf, len, &o, &err);  // buf outlives s
 *   ferry_tview in[1] = {{.dtype = FERRY_F32, .rank = 4, .dims = {1, 3, 224, 224}, .data = pixels}};
 *   ferry_tview out[1];                    // ferry_session_n_outputs(s) entries
 *   if (ferry_session_run(s, in, 1, out, &err)) puts(err.msg);
 *   // out[0].data is valid until the next run or ferry_session_close(s)
 *   ferry_session_close(s);
 *
 * Errors are values: functions that can fail return FERRY_OK or a status
 * (ferry_base.h) and fill `err` (which may be NULL) with one line; a node
 * that fails reads "node 'name' (Op): what the kernel said". Nothing here
 * prints, exits or aborts. docs/runtime.md explains the design.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "ferry_base.h"
#include "kernel.h"

typedef struct ferry_session ferry_session;

/* A kernel the host supplies for an op whose registry row has none (custom
 * ops, tests); NULL to leave the op without one. */
typedef ferry_kernel_fn (*ferry_kernel_lookup)(void *user, const char *domain, const char *op,
                                               int opset);

typedef struct ferry_session_opts {
  int threads;                  /* threads for kernels' parallel loops; 0 or 1:
                                   the calling thread only (always so in wasm) */
  ferry_inflate_fn inflate;     /* for bundles with compressed sections (NULL:
                                   the runtime's own decoder, ferry_inflate) */
  void *inflate_user;
  int skip_data_crc;            /* 1: trust the DATA sections (see bundle.h) */
  int max_plans;                /* plans cached per graph, 0: 8 */
  ferry_kernel_lookup kernels;  /* host kernels, or NULL */
  void *kernels_user;
  double (*clock_ms)(void *user); /* a monotonic clock in milliseconds, or NULL:
                                   when set, every kernel call is timed with it
                                   (ferry_session_profile); the runtime has no
                                   clock of its own (libc only, wasm) */
  void *clock_user;
  int no_fusion;                /* 1: every node runs as a step of its own (no
                                   element-wise chains; for debugging, tests) */
} ferry_session_opts;

/* Opens the bundle in `buf` (shard 0). The bytes are used in place (weights
 * are not copied): keep them valid and unchanged until ferry_session_close.
 * Refuses ops ferry does not know (or deliberately does not support) and
 * weights in encodings the runtime cannot use yet; an op that has no CPU
 * kernel yet is only reported when the session first runs (so a host can
 * still list inputs and outputs). NULL on failure, with `err` filled. */
ferry_session *ferry_session_open(const void *buf, size_t len, const ferry_session_opts *opts,
                                  ferry_err *err);
/* Adds shard `index` (1 .. n_shards-1) of a sharded bundle, in any order;
 * the same lifetime rule applies to `buf`. */
int ferry_session_add_shard(ferry_session *s, int index, const void *buf, size_t len, ferry_err *err);
int ferry_session_n_shards(const ferry_session *s);
/* The lowest shard index not added yet, -1 when all are there. */
int ferry_session_missing_shard(const ferry_session *s);
void ferry_session_close(ferry_session *s);

/* ---- inputs and outputs ---- */

/* What a graph input or output declares. dims[i] is -1 where the dim is
 * symbolic; dim_names[i] then names it ("batch", or an expression such as
 * "2*seq + 1"), NULL for fixed dims. rank is -1 when unknown. */
typedef struct ferry_io_info {
  const char *name;
  int kind;                     /* 0 tensor, 1 sequence, 2 optional (ferry_tview's
                                   kinds); 3 map, 4 sparse, 5 unknown: kinds the
                                   API cannot pass */
  int dtype;                    /* enum ferry_dtype, 0 unknown; of a sequence or
                                   optional: its (innermost) element's */
  int rank;
  int64_t dims[FERRY_MAX_RANK];
  const char *dim_names[FERRY_MAX_RANK];
} ferry_io_info;

/* Inputs are the main graph's inputs that have no initializer, in graph
 * order: the order ferry_session_run takes them. */
int ferry_session_n_inputs(const ferry_session *s);
const char *ferry_session_input_name(const ferry_session *s, int i);  /* NULL if out of range */
const ferry_io_info *ferry_session_input_info(const ferry_session *s, int i);
int ferry_session_n_outputs(const ferry_session *s);
const char *ferry_session_output_name(const ferry_session *s, int i);
const ferry_io_info *ferry_session_output_info(const ferry_session *s, int i);

/* ---- running ---- */

/* Runs the model on `inputs` (n == ferry_session_n_inputs(s), in that
 * order; numel is recomputed from dims; data is read, never written).
 * Checks dtypes, ranks and dims against the declarations and binds the
 * symbolic dims. Fills outputs[0 .. n_outputs): views of memory the session
 * owns, valid until the next run or close.
 *
 * Sequence and optional inputs and outputs (io_info kind 1, 2) are
 * ferry_tviews of that kind (kernel.h): items[0 .. n_items) are the
 * elements (tensors; an optional(sequence)'s item is a sequence), an
 * optional with n_items 0 is none. An input's items are read in place; an
 * output's items, like tensor data, live in the session's memory. */
int ferry_session_run(ferry_session *s, const ferry_tview *inputs, int n, ferry_tview *outputs,
                      ferry_err *err);

/* Bytes of intermediate tensors live at once at worst over all runs so far
 * (planned arena plus buffers of data-dependent shapes), including
 * subgraphs; outputs and workspace not counted. */
size_t ferry_session_peak_bytes(const ferry_session *s);

typedef struct ferry_run_stats {
  size_t peak_bytes;            /* as ferry_session_peak_bytes, this run */
  size_t values_bytes;          /* sum of every intermediate tensor's size, this run */
  size_t scratch_bytes;         /* kernel workspace high-water, all runs */
  size_t persist_bytes;         /* kernels' buffers kept across runs (weights
                                   packed for the GEMM, Winograd-transformed) */
  int plans;                    /* plans made so far (cache misses), all graphs */
  int steps;                    /* kernel calls of the last main-graph plan (Constants do not run) */
  int dynamic_steps;            /* of those, steps shaped at run time (data-dependent) */
  int threads;
} ferry_run_stats;

/* Statistics of the last run. */
void ferry_session_stats(const ferry_session *s, ferry_run_stats *st);

/* Time spent in one node's kernel over all runs so far (opts.clock_ms set).
 * A node holding subgraphs (If, Loop, Scan) counts its subgraphs' time too. */
typedef struct ferry_node_time {
  const char *op;               /* "Conv", "FusedConv" */
  const char *domain;           /* "" for ai.onnx, "com.microsoft", ... */
  const char *name;             /* the node's name, may be "" */
  int graph, node;              /* graph 0 is the main graph; the node's index there */
  int64_t calls;
  double ms;
} ferry_node_time;

/* Fills t[0 .. cap) with the nodes that ran, graph by graph in node order;
 * returns how many ran (more than cap when t is too short). 0 without a
 * clock. Strings stay valid until close. */
int ferry_session_profile(const ferry_session *s, ferry_node_time *t, int cap);
/* Zeroes the times (say, after warm-up runs). */
void ferry_session_profile_reset(ferry_session *s);

/* The bundle, for hosts that want its metadata (valid until close). */
const ferry_bundle *ferry_session_bundle(const ferry_session *s);

#endif
