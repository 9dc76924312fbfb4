/*
 * pack.h - `ferry pack`: a model made into a static folder a website can
 * serve as it is (docs/web.md).
 *
 *   DIR/ferry.js, ferry-wasm.js, ferry-worker.js, ferry.d.ts   the JS API
 *   DIR/ferry.wasm                                             the runtime
 *   DIR/model.ferry, model.ferry.1, ...                        the bundle
 *   DIR/index.html                                             runs the model
 *   DIR/manifest.json                                          written last
 *
 * The model (ONNX or a bundle) is converted with the default passes into
 * uncompressed shards (used in place, not inflated into a copy), the web files are
 * copied from the data folder (ferry_pack_find_assets), and the manifest
 * lists every shard with its size and SHA-256, the IO signature, the weight
 * encodings and the browser features needed. Everything is built in a
 * sibling folder DIR.tmp-XXXXXX and renamed to DIR at the end: on failure
 * nothing is left; an existing DIR is replaced only when it is empty or a
 * previous pack (it has a manifest.json saying "ferry-pack").
 */
#ifndef FERRY_PACK_H
#define FERRY_PACK_H

#include <stdint.h>

#include "ferry_base.h"

/* The files a pack copies, in this order; ferry.wasm is index 0. The last,
 * ferry-relaxed.wasm (the runtime built with WebAssembly relaxed SIMD), is
 * optional: copied, and listed in the manifest as "runtime_relaxed", when
 * the folder ferry.wasm comes from has it; ferry.js loads it instead of
 * ferry.wasm where the browser validates relaxed SIMD. */
#define FERRY_PACK_N_ASSETS 7
#define FERRY_PACK_RELAXED (FERRY_PACK_N_ASSETS - 1)
extern const char *const ferry_pack_assets[FERRY_PACK_N_ASSETS];

/* The manifest's format: "format": "ferry-pack", "format_version": 1. */
#define FERRY_PACK_FORMAT_VERSION 1

typedef struct ferry_pack_opts {
  uint64_t shard_size;     /* most bytes per bundle file; 0: the bundle default (1 GiB) */
  const char *datadir;     /* the web files' folder; NULL: ferry_pack_find_assets's search */
  const char *pkgdatadir;  /* the installed data folder, last in that search (may be NULL) */
} ferry_pack_opts;

typedef struct ferry_pack_report {
  int shards;              /* bundle files */
  uint64_t model_bytes;    /* all shards */
  uint64_t wasm_bytes;     /* ferry.wasm */
  char datadir[4096];      /* where ferry.wasm was found */
} ferry_pack_report;

/* Packs `model` into the folder `dir` (see the top of this file). `rep`
 * may be NULL. Errors name the file: FERRY_E_INPUT for a bad model or an
 * existing `dir` that is not a pack, FERRY_E_SYSTEM for missing web files
 * or a failed write. */
int ferry_pack(const char *model, const char *dir, const ferry_pack_opts *opts, ferry_pack_report *rep,
               ferry_err *err);

/* Where each of ferry_pack_assets is: paths[k] gets the first of these
 * folders that has asset k:
 *   - opts->datadir, when set (and nothing else);
 *   - $FERRY_DATADIR, when set (and nothing else);
 *   - the build tree of the running binary (BUILD/cli/ferry): BUILD/runtime/web
 *     and BUILD/runtime (`make` puts ferry.wasm and copies of the JS there);
 *   - opts->pkgdatadir (`make install` puts them there).
 * FERRY_E_SYSTEM naming the missing file and the folders searched; the
 * optional ferry-relaxed.wasm is looked for only beside ferry.wasm, and its
 * path is "" when it is not there. */
int ferry_pack_find_assets(const ferry_pack_opts *opts, char paths[FERRY_PACK_N_ASSETS][4096], ferry_err *err);

#endif
