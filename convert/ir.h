/*
 * ir.h - ferry's graph IR: what an ONNX model becomes after import.
 *
 * A model owns one main graph; If/Loop/Scan bodies are graphs hanging off
 * node attributes. A graph is two arrays:
 *   values - every tensor name in the graph (inputs, weights, intermediate
 *            results, outputs), each with dtype and shape (dims are symbolic,
 *            see dim.h) and, for weights, its data;
 *   nodes  - operations in topological order, naming their inputs and
 *            outputs by value index (-1 for an omitted optional input).
 * A subgraph may read values of enclosing graphs: such a value appears in
 * the subgraph's table with `outer` set to its index in the parent graph.
 *
 * Weights: tensor data points into memory the model owns (the unpacked
 * protobuf message, a mapped external-data file, or the model's arena), so
 * import makes no copy beyond protobuf's own.
 *
 * Strings (names, attribute strings) and small arrays live in the model's
 * arena and are freed with the model. Node and value arrays are growable so
 * graph passes can add and remove entries.
 */
#ifndef FERRY_IR_H
#define FERRY_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dim.h"
#include "ferry_base.h"

typedef struct ferry_model ferry_model;
typedef struct ferry_graph ferry_graph;

/* Tensor data (a weight, a Constant node's value, a tensor attribute). */
typedef struct ferry_tensor {
  int dtype;            /* enum ferry_dtype */
  int rank;
  const int64_t *dims;  /* rank entries */
  int64_t numel;
  const void *data;     /* little-endian, numel * dtype size bytes; for
                           strings an array of numel `ferry_str` */
  size_t nbytes;
  const char *external; /* external-data file name, NULL when inline */
} ferry_tensor;

typedef struct ferry_str {
  const char *ptr;
  size_t len;
} ferry_str;

/* What kind of thing a value holds; ONNX TypeProto's cases. */
enum ferry_vkind {
  FERRY_V_TENSOR = 0,
  FERRY_V_SEQUENCE,
  FERRY_V_OPTIONAL,
  FERRY_V_MAP,
  FERRY_V_SPARSE,
  FERRY_V_UNKNOWN, /* no type information yet */
};

typedef struct ferry_type {
  int kind;                  /* enum ferry_vkind */
  int dtype;                 /* element dtype (tensor, sparse; key for map) */
  int rank;                  /* -1: unknown rank */
  ferry_dim *shape;          /* rank entries, NULL when rank is -1 */
  struct ferry_type *elem;   /* sequence/optional element, map value */
} ferry_type;

enum ferry_value_flags {
  FERRY_VAL_INPUT = 1,   /* graph input */
  FERRY_VAL_OUTPUT = 2,  /* graph output */
  FERRY_VAL_WEIGHT = 4,  /* initializer: has data */
  FERRY_VAL_CONST = 8,   /* output of a Constant node: has data */
};

typedef struct ferry_value {
  const char *name;
  ferry_type type;
  unsigned flags;          /* enum ferry_value_flags */
  int producer;            /* node index, -1 if none (input, weight, outer) */
  int outer;               /* index in the parent graph, -1 if local */
  const ferry_tensor *data;/* weights and Constant outputs, else NULL */
} ferry_value;

enum ferry_attr_type {
  FERRY_A_UNDEFINED = 0, FERRY_A_FLOAT = 1, FERRY_A_INT = 2, FERRY_A_STRING = 3,
  FERRY_A_TENSOR = 4, FERRY_A_GRAPH = 5, FERRY_A_FLOATS = 6, FERRY_A_INTS = 7,
  FERRY_A_STRINGS = 8, FERRY_A_TENSORS = 9, FERRY_A_GRAPHS = 10,
  FERRY_A_SPARSE_TENSOR = 11, FERRY_A_SPARSE_TENSORS = 12,
  FERRY_A_TYPE_PROTO = 13, FERRY_A_TYPE_PROTOS = 14,
};

typedef struct ferry_attr {
  const char *name;
  int type;                 /* enum ferry_attr_type */
  int n;                    /* element count of list types */
  float f;
  int64_t i;
  ferry_str s;
  const ferry_tensor *t;    /* TENSOR, SPARSE_TENSOR (values densified) */
  ferry_graph *g;
  const float *floats;
  const int64_t *ints;
  const ferry_str *strings;
  const ferry_tensor **tensors;
  ferry_graph **graphs;
  const ferry_type *types;  /* TYPE_PROTO(S) */
} ferry_attr;

typedef struct ferry_node {
  const char *name;
  const char *domain;   /* "" for the default ONNX domain ("ai.onnx") */
  const char *op;       /* op type */
  int opset;            /* version of `domain`'s opset that applies */
  int n_inputs, n_outputs, n_attrs;
  int *inputs;          /* value indices, -1 for an omitted optional input */
  int *outputs;         /* value indices, -1 for an omitted optional output */
  ferry_attr *attrs;
} ferry_node;

struct ferry_graph {
  ferry_model *model;
  ferry_graph *parent;  /* NULL for the main graph */
  const char *name;
  ferry_value *values;
  int n_values, cap_values;
  ferry_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs, n_inputs;   /* value indices, in graph-input order */
  int *outputs, n_outputs; /* value indices, in graph-output order */
  struct ferry_names *index; /* name -> value index (ir.c) */
};

typedef struct ferry_opset {
  const char *domain;   /* "" for ai.onnx */
  int64_t version;
} ferry_opset;

typedef struct ferry_mapping {
  void *addr;
  size_t len;
} ferry_mapping;

struct ferry_model {
  const char *path;          /* the file it came from */
  const char *dir;           /* its folder: external data is resolved here */
  int64_t ir_version, model_version;
  const char *producer_name, *producer_version, *domain, *doc;
  ferry_opset *opsets;
  int n_opsets;
  ferry_str *metadata;       /* key, value pairs: 2*n_metadata entries */
  int n_metadata;
  const char **external_files; /* distinct external-data files used */
  int n_external_files;
  ferry_graph *graph;
  ferry_dimctx *dims;        /* owns every dim of every graph */

  /* owned memory */
  struct ferry_arena *arena;
  void *proto;               /* the unpacked ModelProto (weights point in) */
  ferry_mapping *maps;       /* mapped external-data regions, bundle files */
  int n_maps, cap_maps;
  void *owner;               /* what else the data points into (a bundle reader) */
  void (*owner_free)(void *owner);
};

/* --- model lifetime --- */

/* Imports the ONNX model at `path` (onnx_import.c). NULL on failure, with
 * `err` holding "PATH: what is wrong". */
ferry_model *ferry_onnx_load(const char *path, ferry_err *err);
/* Imports from memory; `path` names it in messages and its folder is where
 * external data is looked for (NULL: no external data allowed). */
ferry_model *ferry_onnx_load_buffer(const void *buf, size_t len, const char *path,
                                    ferry_err *err);
/* Loads a .ferry bundle (and its shards PATH.1, ...) as IR (bundle_read.c). */
ferry_model *ferry_bundle_load(const char *path, ferry_err *err);
/* 1 when `path` starts with the bundle magic. */
int ferry_is_bundle(const char *path);
/* Loads an ONNX model or a bundle, whichever `path` holds. */
ferry_model *ferry_model_load(const char *path, ferry_err *err);

/* An empty model named `path` (its folder becomes `dir`); NULL on OOM. */
ferry_model *ferry_model_new(const char *path);
void ferry_model_free(ferry_model *m);

/* --- arena: model-lifetime allocations (ir.c) --- */
void *ferry_model_alloc(ferry_model *m, size_t size); /* zeroed; NULL on OOM */
const char *ferry_model_strdup(ferry_model *m, const char *s);

/* --- graph building and lookup (ir.c) --- */
ferry_graph *ferry_graph_new(ferry_model *m, ferry_graph *parent);
/* Appends a value; returns its index, -1 on OOM. */
int ferry_graph_add_value(ferry_graph *g, const char *name);
/* Appends a node (arrays filled by the caller); returns its index, -1 on OOM. */
int ferry_graph_add_node(ferry_graph *g);
/* Index of the value named `name`, -1 if none (local table only). */
int ferry_graph_find(const ferry_graph *g, const char *name);
/* The attribute named `name` of node `n`, NULL if absent. */
const ferry_attr *ferry_node_attr(const ferry_node *n, const char *name);

/* A STRINGS attribute as shape rules and kernels take it (runtime/shape.h):
 * the strings one after another, each NUL-terminated, in the arena; *len
 * gets the bytes. NULL on OOM. */
const char *ferry_attr_strings_joined(ferry_model *m, const ferry_attr *a, int64_t *len);

/* Frees the arrays of `g` and of every subgraph below it (their structs
 * live in the arena) and leaves `g` empty: for a graph that leaves the
 * model (a removed If branch) and at model free. NULL is fine. */
void ferry_graph_release(ferry_graph *g);

/* Calls `fn` on `g` and every subgraph below it, depth first. */
void ferry_graph_walk(ferry_graph *g, void (*fn)(ferry_graph *g, void *user), void *user);

/* Element count of a type whose shape is known, -1 otherwise. */
int64_t ferry_type_numel(const ferry_type *t);

#endif
