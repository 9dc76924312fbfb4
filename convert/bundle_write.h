/*
 * bundle.h - writing a model as a .ferry bundle (docs/bundle-format.md).
 *
 * The reader is runtime/bundle.h; both follow the format document, and the
 * format's numbers (magic, section kinds, encodings, dim ops) are defined
 * once, in runtime/bundle.h, which bundle_write.c includes.
 */
#ifndef FERRY_CONVERT_BUNDLE_H
#define FERRY_CONVERT_BUNDLE_H

#include <stdint.h>

#include "ir.h"

#define FERRY_BUNDLE_DEFAULT_SHARD_SIZE ((uint64_t)1 << 30) /* 1 GiB */

typedef struct ferry_bundle_opts {
  uint64_t shard_size;          /* most bytes per file, 0: 1 GiB (a tensor larger
                                   than this gets a file of its own) */
  int compress;                 /* deflate METADATA, STRINGS, GRAPH, TENSORS
                                   (never DATA: the runtime uses it in place) */
  uint8_t source_sha256[32];    /* SHA-256 of the source model: the bundle id
                                   is its first 16 bytes */
  const char *producer_name;    /* the writing program, NULL: "ferry" */
  const char *producer_version; /* NULL: ferry's version */
  const ferry_str *props;       /* extra metadata: 2*n_props strings, key, value, ... */
  int n_props;
} ferry_bundle_opts;

/* Writes `m` (its main graph and every subgraph, all weights and Constant
 * data, symbolic dims as programs) to `path`, plus `path.1`, `path.2`, ...
 * when the data exceeds opts->shard_size. `opts` may be NULL (defaults,
 * all-zero SHA-256).
 *
 * Atomic: each file is written to `FILE.tmp.XXXXXX` in the same folder,
 * synced and renamed into place only when every file is complete; on error
 * the temporary files are removed and nothing half-written is left. Stale
 * shards of an earlier bundle with the same name (`path.N` beyond the new
 * count that are ferry bundles) are removed after a successful write.
 *
 * Returns 0, or the error code with `err` holding "PATH: what is wrong"
 * (FERRY_E_INPUT for a model the format cannot hold, FERRY_E_SYSTEM for
 * I/O and memory failures). The model is not modified (its dim context may
 * intern expressions while dims are checked, which changes no dim). */
int ferry_bundle_write(const ferry_model *m, const char *path, const ferry_bundle_opts *opts,
                       ferry_err *err);

#endif
