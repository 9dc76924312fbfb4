/*
 * ir.c - memory and bookkeeping for the graph IR of ir.h.
 *
 * The arena hands out model-lifetime blocks (strings, attribute arrays,
 * shapes); it grows by chunks and is freed in one go with the model.
 * Each graph keeps a name -> value index hash table (open addressing,
 * linear probing) so import and passes find values in O(1).
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "onnx.pb-c.h"

/* ---- arena ---- */

struct ferry_arena {
  struct ferry_arena *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
};

void *ferry_model_alloc(ferry_model *m, size_t size) {
  size = (size + 15) & ~(size_t)15;
  struct ferry_arena *a = m->arena;
  if (!a || a->cap - a->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    struct ferry_arena *n = malloc(sizeof *n + cap);
    if (!n) return NULL;
    n->used = 0;
    n->cap = cap;
    if (a && size > 65536) { /* big block: keep the current chunk in front */
      n->next = a->next;
      a->next = n;
    } else {
      n->next = a;
      m->arena = n;
    }
    a = n;
  }
  void *p = a->mem + a->used;
  a->used += size;
  memset(p, 0, size);
  return p;
}

const char *ferry_model_strdup(ferry_model *m, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = ferry_model_alloc(m, n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- name index ---- */

struct ferry_names {
  int cap; /* power of two */
  int used;
  int *slot; /* value index + 1; 0 = empty */
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static int names_put(struct ferry_names *t, const ferry_value *vals, int idx) {
  unsigned mask = (unsigned)t->cap - 1;
  unsigned i = (unsigned)hash_str(vals[idx].name) & mask;
  while (t->slot[i]) i = (i + 1) & mask;
  t->slot[i] = idx + 1;
  t->used++;
  return 0;
}

static int names_rebuild(ferry_graph *g, int cap) {
  struct ferry_names *t = g->index;
  if (!t) {
    t = calloc(1, sizeof *t);
    if (!t) return -1;
    g->index = t;
  }
  int *slot = calloc((size_t)cap, sizeof *slot);
  if (!slot) return -1;
  free(t->slot);
  t->slot = slot;
  t->cap = cap;
  t->used = 0;
  for (int i = 0; i < g->n_values; i++) names_put(t, g->values, i);
  return 0;
}

int ferry_graph_find(const ferry_graph *g, const char *name) {
  const struct ferry_names *t = g->index;
  if (!t || !name) return -1;
  unsigned mask = (unsigned)t->cap - 1;
  for (unsigned i = (unsigned)hash_str(name) & mask; t->slot[i]; i = (i + 1) & mask)
    if (strcmp(g->values[t->slot[i] - 1].name, name) == 0) return t->slot[i] - 1;
  return -1;
}

/* ---- graphs ---- */

ferry_graph *ferry_graph_new(ferry_model *m, ferry_graph *parent) {
  ferry_graph *g = ferry_model_alloc(m, sizeof *g);
  if (!g) return NULL;
  g->model = m;
  g->parent = parent;
  g->name = "";
  return g;
}

static int grow(void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int ncap = *cap ? *cap * 2 : 16;
  while (ncap < need) ncap *= 2;
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p) return -1;
  memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *arr = p;
  *cap = ncap;
  return 0;
}

int ferry_graph_add_value(ferry_graph *g, const char *name) {
  if (grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values)) return -1;
  const char *nm = ferry_model_strdup(g->model, name);
  if (!nm) return -1;
  int idx = g->n_values++;
  ferry_value *v = &g->values[idx];
  memset(v, 0, sizeof *v);
  v->name = nm;
  v->producer = -1;
  v->outer = -1;
  v->type.kind = FERRY_V_UNKNOWN;
  v->type.rank = -1;
  if (!g->index || (g->n_values * 2 > g->index->cap)) {
    int cap = g->index ? g->index->cap * 2 : 64;
    if (names_rebuild(g, cap)) {
      g->n_values--;
      return -1;
    }
  } else {
    names_put(g->index, g->values, idx);
  }
  return idx;
}

int ferry_graph_add_node(ferry_graph *g) {
  if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) return -1;
  ferry_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->name = n->domain = n->op = "";
  return g->n_nodes++;
}

const ferry_attr *ferry_node_attr(const ferry_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

const char *ferry_attr_strings_joined(ferry_model *m, const ferry_attr *a, int64_t *len) {
  size_t n = 0;
  for (int i = 0; i < a->n; i++) n += a->strings[i].len + 1;
  char *s = ferry_model_alloc(m, n + 1), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < a->n; i++) {
    if (a->strings[i].len) memcpy(p, a->strings[i].ptr, a->strings[i].len);
    p += a->strings[i].len;
    *p++ = 0;
  }
  *len = (int64_t)n;
  return s;
}

void ferry_graph_walk(ferry_graph *g, void (*fn)(ferry_graph *, void *), void *user) {
  fn(g, user);
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      const ferry_attr *at = &n->attrs[a];
      if (at->type == FERRY_A_GRAPH && at->g) ferry_graph_walk(at->g, fn, user);
      if (at->type == FERRY_A_GRAPHS)
        for (int k = 0; k < at->n; k++) ferry_graph_walk(at->graphs[k], fn, user);
    }
  }
}

int64_t ferry_type_numel(const ferry_type *t) {
  if (t->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    int64_t d;
    if (!ferry_dim_is_const(t->shape[i], &d) || d < 0) return -1;
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

/* ---- model ---- */

void ferry_graph_release(ferry_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      const ferry_attr *at = &n->attrs[a];
      if (at->type == FERRY_A_GRAPH) ferry_graph_release(at->g);
      if (at->type == FERRY_A_GRAPHS)
        for (int k = 0; k < at->n; k++) ferry_graph_release(at->graphs[k]);
    }
  }
  free(g->values);
  free(g->nodes);
  if (g->index) free(g->index->slot);
  free(g->index);
  g->values = NULL;
  g->nodes = NULL;
  g->index = NULL;
  g->n_values = g->cap_values = g->n_nodes = g->cap_nodes = 0;
  g->n_inputs = g->n_outputs = 0;
}

ferry_model *ferry_model_new(const char *path) {
  ferry_model *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->dims = ferry_dimctx_new();
  const char *slash = path ? strrchr(path, '/') : NULL;
  m->path = ferry_model_strdup(m, path ? path : "<memory>");
  char *dir = ferry_model_alloc(m, path ? strlen(path) + 2 : 2);
  if (dir && slash) memcpy(dir, path, slash == path ? 1 : (size_t)(slash - path));
  else if (dir) strcpy(dir, ".");
  m->dir = dir;
  if (!m->dims || !m->path || !m->dir) {
    ferry_model_free(m);
    return NULL;
  }
  return m;
}

void ferry_model_free(ferry_model *m) {
  if (!m) return;
  ferry_graph_release(m->graph);
  if (m->owner_free) m->owner_free(m->owner);
  for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i].addr, m->maps[i].len);
  free(m->maps);
  if (m->proto) onnx__model_proto__free_unpacked(m->proto, NULL);
  ferry_dimctx_free(m->dims);
  struct ferry_arena *a = m->arena;
  while (a) {
    struct ferry_arena *n = a->next;
    free(a);
    a = n;
  }
  free(m);
}
