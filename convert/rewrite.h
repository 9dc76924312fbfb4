/*
 * rewrite.h - helpers that graph passes use to read and change the IR.
 *
 * A pass works on one graph at a time through a `ferry_rw` session:
 *
 *   ferry_rw_begin   counts the uses of every value of the graph;
 *   queries          uses, single-use checks, producers, constants;
 *   edits            replace a value's uses, remove nodes (marked, then
 *                    compacted), turn a node into another op, add weights;
 *   ferry_rw_end     compacts the node array (fixing `producer` indices),
 *                    frees the subgraphs of removed nodes and drops the data
 *                    of weights nothing reads any more.
 *
 * Uses of a value v of graph g are: node inputs naming v, graph outputs
 * naming v, and live captures of v by subgraphs of g's nodes (a subgraph
 * value with `outer` == v that something in the subgraph uses). The session
 * keeps the counts right through every edit made with these helpers, so a
 * pass may chain rewrites without recounting.
 *
 * Indices stay stable: values are never removed from a graph's table (the
 * name index belongs to ir.c); a value nothing produces, reads or lists is
 * garbage, and its weight data is dropped so no writer stores it. Nodes are
 * only marked during a session, so node indices stay valid until _end,
 * except across ferry_rw_splice, which shifts the nodes after the splice.
 *
 * Graph outputs keep their names. Replacing a value that is a graph output
 * works by renaming instead: the producer of the replacement writes the
 * output value directly (and the replacement's readers read the output).
 * When that is impossible (the replacement is a graph input, a weight, an
 * outer value or itself a graph output), the replace is refused and the
 * pass leaves the graph as it was.
 */
#ifndef FERRY_REWRITE_H
#define FERRY_REWRITE_H

#include <stdbool.h>

#include "ir.h"

typedef struct ferry_rw {
  ferry_graph *g;
  ferry_model *m;
  ferry_err *err;
  int *uses;            /* per value */
  int cap_uses;
  unsigned char *dead;  /* per node: removed, compacted at _end */
  int cap_dead;
  int rewrites;         /* counted by the pass: one per pattern rewritten */
  int status;           /* first error (FERRY_E_SYSTEM: out of memory), 0 if none */
} ferry_rw;

/* ---- session ---- */

/* Starts a session on `g`; FERRY_E_SYSTEM (in err) when out of memory. */
int ferry_rw_begin(ferry_rw *rw, ferry_graph *g, ferry_err *err);
/* Compacts removed nodes, frees their subgraphs, drops unread weight data
 * and ends the session (always); returns rw->status. Helpers that cannot
 * return a status (remove, prune) record failures there. */
int ferry_rw_end(ferry_rw *rw);

/* ---- queries ---- */

int ferry_rw_uses(const ferry_rw *rw, int v);
/* True when v has exactly one use and that use is no graph output. */
bool ferry_rw_single_use(const ferry_rw *rw, int v);
bool ferry_rw_is_output(const ferry_graph *g, int v);
bool ferry_rw_is_input(const ferry_graph *g, int v);
bool ferry_rw_dead(const ferry_rw *rw, int ni);
/* The live node producing v when its op is `op` of the ONNX domain (any op
 * when `op` is NULL); NULL otherwise. *ni gets its index when not NULL. */
ferry_node *ferry_rw_producer(const ferry_rw *rw, int v, const char *op, int *ni);
/* ferry_rw_producer when v is read once and is no graph output: the
 * intermediate of a pattern. */
ferry_node *ferry_rw_sole_producer(const ferry_rw *rw, int v, const char *op, int *ni);
/* True when node n is op `op` of domain `domain` ("" for ONNX). */
bool ferry_node_is(const ferry_node *n, const char *domain, const char *op);
/* The subgraphs of node n (GRAPH and GRAPHS attributes, in order):
 * for (j = 0; j < ferry_node_graph_count(n); j++) ferry_node_graph(n, j) */
int ferry_node_graph_count(const ferry_node *n);
ferry_graph *ferry_node_graph(const ferry_node *n, int j);
/* Input k of n, -1 when absent. */
int ferry_node_in(const ferry_node *n, int k);
/* The constant data of value v (a weight, a Constant's output, or an outer
 * value whose parent value is constant), NULL when not constant. */
const ferry_tensor *ferry_rw_const(const ferry_graph *g, int v);
/* Element i of a numeric tensor as a double; false for other dtypes. */
bool ferry_tensor_get(const ferry_tensor *t, int64_t i, double *x);
/* True when v is a one-element numeric constant; *x gets its value. */
bool ferry_rw_scalar(const ferry_graph *g, int v, double *x);
/* True when a is within `rel` (relative) of b. */
bool ferry_near(double a, double b, double rel);
/* Int attribute with a default; float attribute with a default. */
int64_t ferry_node_int(const ferry_node *n, const char *name, int64_t dflt);
float ferry_node_float(const ferry_node *n, const char *name, float dflt);
/* The value's element type, 0 when unknown (uses constant data if any). */
int ferry_rw_dtype(const ferry_graph *g, int v);
/* The value's rank, -1 when unknown. */
int ferry_rw_rank(const ferry_graph *g, int v);
/* True and *x when dim d (negative: from the end) of v is a known integer. */
bool ferry_rw_dim(const ferry_graph *g, int v, int d, int64_t *x);

/* ---- edits ---- */

/* Makes every use of `old` a use of `nw` (node inputs, subgraph captures
 * and, by renaming, graph outputs; see above). *done is 0 when refused. */
int ferry_rw_replace(ferry_rw *rw, int old, int nw, bool *done);
/* Marks node ni removed and releases the uses it made. */
void ferry_rw_remove(ferry_rw *rw, int ni);
/* Removes ni if none of its outputs is used, then tries its producers the
 * same way (what a fused pattern leaves behind). Returns nodes removed. */
int ferry_rw_prune(ferry_rw *rw, int ni);
/* Turns node ni into `op` of `domain` at `opset` reading `inputs` (-1 for
 * an omitted one) with `attrs` (deep-copied, list payloads included); it
 * keeps its first output only and its name. */
int ferry_rw_rebuild(ferry_rw *rw, int ni, const char *domain, const char *op, int opset,
                     const int *inputs, int n_inputs, const ferry_attr *attrs, int n_attrs);
/* ferry_rw_rebuild, then prunes the producers of what node ni read
 * before: what a fused pattern leaves behind. */
int ferry_rw_fuse(ferry_rw *rw, int ni, const char *domain, const char *op, int opset,
                  const int *inputs, int n_inputs, const ferry_attr *attrs, int n_attrs);
/* Sets input k of node ni (uses updated). */
void ferry_rw_set_input(ferry_rw *rw, int ni, int k, int v);
/* A tensor of `dtype` and `dims` with zeroed data in the model's arena. */
ferry_tensor *ferry_tensor_new(ferry_model *m, int dtype, int rank, const int64_t *dims);
/* A new weight value holding t, named after `hint` (made unique); returns
 * its index through *v. */
int ferry_rw_add_weight(ferry_rw *rw, const char *hint, const ferry_tensor *t, int *v);
/* Value v, produced by a node, becomes a weight holding t; the node keeps
 * naming it until the caller removes the node. Subgraph captures of v get
 * the data too. */
int ferry_rw_make_weight(ferry_rw *rw, int v, const ferry_tensor *t);
/* Sets v's type to t's tensor type (dims known). */
int ferry_rw_type_from_tensor(ferry_model *m, ferry_type *ty, const ferry_tensor *t);
/* A new value named after `hint` (made unique), nothing known about it. */
int ferry_rw_add_value(ferry_rw *rw, const char *hint, int *v);
/* Inserts a new node before node `at` (see ferry_rw_splice); *ni gets its
 * index. Arrays and attributes are copied. */
int ferry_rw_insert_node(ferry_rw *rw, int at, const char *name, const char *domain, const char *op,
                         int opset, const int *inputs, int n_inputs, const int *outputs, int n_outputs,
                         const ferry_attr *attrs, int n_attrs, int *ni);
/* Replaces node `at` by itself preceded by `n` nodes (their input and
 * output indices already in this graph); nodes from `at` on shift by n. */
int ferry_rw_splice(ferry_rw *rw, int at, const ferry_node *nodes, int n);
/* True when g or a graph enclosing it has a value named `name`. */
bool ferry_rw_name_taken(const ferry_graph *g, const char *name);
/* A name not used in g or any graph enclosing it: `base`, or base_N. */
const char *ferry_rw_fresh_name(ferry_rw *rw, const char *base);
/* Makes sure the model imports `domain` (at least `version`). */
int ferry_model_use_domain(ferry_model *m, const char *domain, int version, ferry_err *err);
/* Frees the arrays of a graph that no node holds any more (and of graphs
 * below it). */

/* Attribute values for ferry_rw_rebuild (payloads copied there). */
ferry_attr ferry_rw_attr_float(const char *name, float f);
ferry_attr ferry_rw_attr_int(const char *name, int64_t i);
ferry_attr ferry_rw_attr_string(const char *name, const char *s);
ferry_attr ferry_rw_attr_floats(const char *name, int n, const float *v);

#endif
