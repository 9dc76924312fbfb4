/*
 * fuzz_bundle.c - libFuzzer target for the runtime's bundle reader
 * (runtime/bundle.c), the parser that ships to browsers: open, then walk
 * every graph, value, node, attribute and tensor it hands out and evaluate
 * every dim program. Seeds are real bundles written by scripts/fuzz.sh.
 */
#include <stdint.h>
#include <string.h>

#include "bundle.h"

static void walk_type(const ferry_bundle *b, const ferry_btype *t, volatile int64_t *sink) {
  int64_t vals[4] = {1, 2, 3, 4};
  for (int i = 0; i < t->rank; i++) {
    int64_t out;
    if (ferry_bundle_eval_dim(b, &t->dims[i], vals, 4, &out) == 0) *sink += out;
  }
  if (t->elem) walk_type(b, t->elem, sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ferry_err err;
  ferry_bundle *b = ferry_bundle_open(data, size, &err);
  if (!b) return 0;
  volatile int64_t sink = 0;
  for (int g = 0; g < ferry_bundle_n_graphs(b); g++) {
    const ferry_bgraph *gr = ferry_bundle_graph(b, g);
    for (int v = 0; v < gr->n_values; v++) walk_type(b, &gr->values[v].type, &sink);
    for (int n = 0; n < gr->n_nodes; n++)
      for (int a = 0; a < gr->nodes[n].n_attrs; a++) sink += gr->nodes[n].attrs[a].type;
  }
  for (int t = 0; t < ferry_bundle_n_tensors(b); t++) {
    const ferry_btensor *bt = ferry_bundle_tensor(b, t);
    if (bt->data && bt->nbytes) sink += ((const uint8_t *)bt->data)[bt->nbytes - 1];
  }
  ferry_bundle_free(b);
  return 0;
}
