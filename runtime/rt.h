/*
 * rt.h - the runtime's internal structures, shared by its parts:
 *
 *   model.c    the bundle's graphs as the runtime uses them (rt_graph):
 *              registry rows, kernels, weight views, liveness;
 *   plan.c     per input-shape signature, every value's shape (shape rules
 *              through integer dims) and arena offset: an rt_plan, cached;
 *              epilogue.c and chain.c fuse steps of a plan;
 *   exec.c     replays a plan's steps, calls kernels (ferry_kctx), shapes
 *              data-dependent steps at run time, runs subgraphs;
 *   session.c  the public API of ferry.h on top of these.
 *
 * Nothing here is public: ferry.h is the API.
 */
#ifndef FERRY_RT_H
#define FERRY_RT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "bundle.h"
#include "ferry.h"
#include "kernel.h"
#include "ops.h"
#include "threads.h"

/* A dim the plan cannot know (data-dependent): the integer dimops' "fresh". */
#define RT_UNKNOWN INT64_MIN

typedef struct rt_graph rt_graph;
typedef struct rt_model rt_model;
typedef struct rt_chain rt_chain; /* a fused element-wise chain (chain.c) */

typedef struct rt_value {
  const ferry_bvalue *bv;
  int konst;          /* data from the bundle (a weight or a Constant output) */
  int input;          /* position in the graph's inputs, -1 if none */
  int die;            /* node after which the value is dead: its last reader,
                         or its producer when unread; n_nodes for outputs */
} rt_value;

/* What shape rules' and kernels' attribute callback gets as `node`. */
typedef struct rt_attrs {
  const rt_model *m;
  const ferry_bnode *bn;
  char **joined;            /* per attribute: a STRINGS list as NUL-terminated
                               strings one after another (shape.h), else NULL */
  int64_t *joined_len;
} rt_attrs;

typedef struct rt_node {
  const ferry_bnode *bn;
  rt_attrs at;
  const ferry_opdef *op;
  ferry_kernel_fn kernel;   /* NULL while the op has none */
  int skip;                 /* every output is bundle data: nothing to run */
  void *persist;            /* the kernel's buffer kept across runs (kctx persist) */
  size_t persist_bytes;
  int64_t calls;            /* kernel calls and their time (ms), with a clock */
  double ms;
} rt_node;

/* A value as a plan knows it. */
typedef struct rt_vplan {
  int known;                /* a tensor whose dtype and dims are known at plan time */
  int kind;                 /* enum ferry_sval_kind as the shape rule said */
  ferry_tview view;         /* dtype, rank, dims, numel (data not set) */
  size_t bytes;
  size_t offset;            /* in the graph's arena; SIZE_MAX: not there */
  int whole;                /* 1 + the value whose buffer holds this one at
                               part_at (an elided Concat's output, concat.c); 0: none */
  size_t part_at;
} rt_vplan;

/* One kernel call: the flat list of these is what a run replays. */
typedef struct rt_step {
  int node;                 /* its node in the graph */
  ferry_kernel_fn kernel;
  const int *in, *out;      /* value slots (-1: omitted), up to the last present one */
  int n_in, n_out;
  int dynamic;              /* an input or output shape is unknown at plan
                               time: the node is shaped again at run time */
  int first_free, n_free;   /* values dead after the step: plan->frees[...] */
  const rt_chain *chain;    /* not NULL: a fused chain of element-wise nodes
                               ending at `node`; in/out are the chain's */
  const rt_chain *post;     /* not NULL: a chain fused onto this kernel step's
                               output (kctx post); out is the chain's */
} rt_step;

typedef struct rt_plan {
  int64_t *sig;             /* the input-shape signature it was made for */
  int n_sig;
  rt_vplan *v;              /* per value of the graph */
  rt_step *steps;           /* every node that runs (not Constants), in order */
  int n_steps;
  int *frees;
  size_t arena_bytes;       /* the arena's size: the allocation peak */
  size_t values_bytes;      /* sum of the planned values' sizes */
  int n_dynamic;            /* dynamic steps */
  rt_chain *chains;         /* the fused chains its steps point at */
  int n_chains;
  int *fused_io;            /* MatMul + bias steps' value slots: A, B, bias, out (epilogue.c) */
  uint64_t used;            /* when last used (cache eviction) */
} rt_plan;

struct rt_graph {
  int index;                /* in the bundle */
  const ferry_bgraph *bg;
  rt_graph *parent;
  int owner;                /* the parent's node holding this graph, -1 for graph 0 */
  rt_model *model;
  rt_value *values;
  rt_node *nodes;
  int max_in, max_out;      /* most inputs/outputs of one node */
  int *sigv;                /* what a plan depends on: inputs, then outer values */
  int n_sigv;
  int64_t *sig;             /* the signature of the current run */
  /* plan cache (plan.c) */
  rt_plan **plans;
  int n_plans;
  /* execution state (exec.c); graphs form a tree, so none runs twice at once */
  ferry_tview *vals;        /* every value's current view */
  void **heap;              /* per value: its own buffer (data-dependent shape) */
  size_t *heap_bytes;
  char *arena;
  size_t arena_cap;
  ferry_tview *kin, *kout;  /* kernel arguments */
  int active;               /* running now */
  rt_plan *plan;            /* the plan of the current run */
  char *outbuf[2];          /* subgraph outputs, double-buffered */
  size_t outcap[2];
  int flip;
};

struct rt_model {
  ferry_bundle *b;
  int n_graphs;
  rt_graph *graphs;
  char missing[400];        /* ops with no kernel, "Conv, Relu" */
  int n_missing;
  int max_plans;
  uint64_t clock;           /* plan use counter */
  int plans_made;
  /* run-time accounting (exec.c) */
  size_t live, peak, values_bytes;
  ferry_scratch scratch;
  ferry_pool *pool;
  int stop_at_first_error;
  double (*clock_ms)(void *user); /* ferry_session_opts.clock_ms: time each kernel call */
  void *clock_user;
  int no_fusion;            /* ferry_session_opts.no_fusion */
};

/* ---- model.c ---- */

/* Builds the runtime graphs of an opened bundle; refuses unknown ops and
 * weights the runtime cannot use. */
int rt_model_init(rt_model *m, ferry_bundle *b, const ferry_session_opts *o, ferry_err *err);
void rt_model_done(rt_model *m);
/* The bundle data of a konst value as a view (data NULL while its shard is missing). */
void rt_konst_view(const rt_model *m, const rt_value *v, ferry_tview *t);
/* "node 'name' (Op)" or "node #i (Op)". */
const char *rt_node_label(const rt_graph *g, int node, char *buf, size_t n);
/* The attribute callback of shape rules and kernels; `node` is an rt_attrs. */
int rt_attr(void *node, const char *name, ferry_attrv *a);
/* Bytes of `numel` elements of dtype, SIZE_MAX on overflow or a dtype without a size. */
size_t rt_bytes(int dtype, int64_t numel);
/* The graph held by the node's attribute `attr`, NULL if none. */
rt_graph *rt_subgraph(const rt_graph *g, int node, const char *attr);

/* ---- plan.c ---- */

/* The integer dimops (handles are the numbers); *err set on division by 0. */
void rt_dimops(ferry_dimops *d, int *err);
/* The plan for the current inputs and outer values in g->vals (cached). */
rt_plan *rt_plan_get(rt_graph *g, ferry_err *err);
void rt_plans_free(rt_graph *g);
/* After a fusion pass rewrote p's steps into its first n_steps: points
 * at_node (node -> step) through step_to (old step -> new) and frees
 * step_to. */
void rt_plan_compact(const rt_graph *g, rt_plan *p, int *at_node, int *step_to, int n_steps);
/* Runs node ni's shape rule on the current views (content from their data);
 * fills out[] (FERRY_MAX(8, n_outputs) entries). */
int rt_shape_node(rt_graph *g, int ni, ferry_sval *out, int n_out_cap, ferry_err *err);

/* ---- epilogue.c ---- */

/* Folds each float32 MatMul followed by the Add of a bias row into one
 * MatMul step with the bias as a third input (compacting p->steps;
 * at_node, node -> step, follows). -1: out of memory. */
int rt_bias_fuse(rt_graph *g, rt_plan *p, int *at_node);

/* ---- concat.c ---- */

/* Drops the Concat steps of p whose inputs can be written in place as
 * parts of the output (rt_vplan.whole), compacting p->steps (at_node,
 * node -> step, follows). -1: out of memory. */
int rt_concat_elide(rt_graph *g, rt_plan *p, int *at_node);

/* ---- chain.c ---- */

/* Fuses runs of float32 element-wise steps of plan p into chain steps
 * (compacting p->steps; at_node, node -> step, follows). -1: out of memory. */
int rt_chains_fuse(rt_graph *g, rt_plan *p, int *at_node);
/* Runs chain step st on the views exec.c gathered (g->kin, g->kout). */
void rt_chain_run(rt_graph *g, const rt_step *st);
/* Fuses chains, and single element-wise steps, that read the output of
 * the Conv step just before them onto that step (its kernel runs them as
 * kctx post). */
int rt_chains_onto_convs(rt_graph *g, rt_plan *p, int *at_node);
/* A chain fused onto a step, bound to one run: the output and every input. */
#define RT_POST_MAX_IN 8
typedef struct rt_post {
  const rt_chain *ch;
  float *base;                       /* the step's output 0 */
  const float *in[RT_POST_MAX_IN];   /* the chain's inputs (the Conv's own: base) */
} rt_post;
void rt_chain_post_bind(const rt_graph *g, const rt_chain *ch, float *out, rt_post *pc);
/* kctx post (post_ctx: an rt_post): maps y[0..n), part of the output, in place. */
void rt_chain_post(const void *ctx, float *y, int64_t n);
/* The same over the whole output, on the model's threads (the kernel did not). */
void rt_chain_post_all(rt_graph *g, const rt_post *pc, int64_t n);

/* ---- exec.c ---- */

/* Data of empty tensors: a valid, aligned address nobody reads. */
extern char rt_empty_data[];

/* Runs graph g on the inputs the caller put in g->vals[input values]; the
 * outputs stay in g->vals until rt_exec_cleanup. */
int rt_exec(rt_graph *g, ferry_err *err);
/* Copies g's outputs (after rt_exec) into *buf (grown as needed, 64-byte
 * aligned parts) and points out[0 .. n) at them. */
int rt_copy_outputs(rt_graph *g, char **buf, size_t *cap, ferry_tview *out, int n, ferry_err *err);
/* Frees what the run left allocated (buffers of data-dependent shapes). */
void rt_exec_cleanup(rt_graph *g);
/* Frees the nodes' persistent kernel buffers (at close). */
void rt_exec_persist_free(rt_graph *g);

#endif
