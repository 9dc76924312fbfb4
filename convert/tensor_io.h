/*
 * tensor_io.h - host-side helpers for running models (the CLI's `run`,
 * tests, benchmarks); the runtime itself reads no files.
 *
 *   - tensors from and to .npy files (numpy's format, version 1-3, C order,
 *     little-endian) and ONNX TensorProto files (.pb, as in ONNX's
 *     test_data_set_N folders), through protobuf-c; sequences and
 *     optionals from and to SequenceProto and OptionalProto files;
 *   - sessions from files: a bundle is mapped read-only with its shards
 *     (NAME.ferry.1, ...) and used in place; an ONNX model is converted
 *     first (ferry_convert_file, default options) into a temporary folder
 *     that is removed as soon as the result is mapped - the mapping keeps
 *     the bytes (docs/runtime.md).
 */
#ifndef FERRY_TENSOR_IO_H
#define FERRY_TENSOR_IO_H

#include <stddef.h>

#include "ferry.h"

/* A tensor read from a file; v.data points into buf. */
typedef struct ferry_host_tensor {
  ferry_tview v;
  char *name;   /* the TensorProto's name (NULL for .npy or none) */
  void *buf;
} ferry_host_tensor;

/* Reads a .npy file (recognized by its magic) or a TensorProto file.
 * Errors name the file. */
int ferry_tensor_read(const char *path, ferry_host_tensor *t, ferry_err *err);
void ferry_host_tensor_free(ferry_host_tensor *t);
/* The same from `len` bytes in memory (a member of an .npz archive);
 * `path` names it in errors. */
int ferry_tensor_read_buffer(const char *path, const void *buf, size_t len, ferry_host_tensor *t, ferry_err *err);

/* Writes t as a .npy file; FERRY_E_INPUT for dtypes numpy has no code for
 * (bfloat16, float8, 4-bit). */
int ferry_tensor_write_npy(const char *path, const ferry_tview *t, ferry_err *err);
/* Writes t as a TensorProto named `name` (raw_data). */
int ferry_tensor_write_pb(const char *path, const char *name, const ferry_tview *t, ferry_err *err);

/* Values of every kind from and to .pb files: kind 0 a tensor (as
 * ferry_tensor_read: .npy or TensorProto), 1 a SequenceProto, 2 an
 * OptionalProto (ONNX's onnx-data.proto; nested sequences and optionals
 * too, sparse tensors and maps refused). A protobuf file does not say which
 * message it holds, so the reader is told (a model's declared input kind).
 * t->v is the value: a sequence's or optional's items and their data all
 * live in t->buf (free with ferry_host_tensor_free). */
int ferry_value_read(const char *path, int kind, ferry_host_tensor *t, ferry_err *err);
/* Writes v (any kind) as a TensorProto, SequenceProto or OptionalProto
 * named `name`; items are named after it (raw_data tensors). */
int ferry_value_write_pb(const char *path, const char *name, const ferry_tview *v, ferry_err *err);

/* `name` made safe as a file name: [A-Za-z0-9._-] kept, others '_', never
 * empty or starting with '.'; out has room for n bytes. */
void ferry_file_safe_name(const char *name, char *out, size_t n);

/* ---- sessions from files ---- */

typedef struct ferry_host_model {
  void **maps;      /* shard k mapped at maps[k], lens[k] bytes */
  size_t *lens;
  int n;
  int converted;    /* the file was ONNX, converted on the fly */
} ferry_host_model;

/* Opens the bundle or ONNX model at `path` (every shard added). The
 * session uses hm's mappings: free hm after closing the session (on
 * failure nothing is left to free). Errors name the file. */
ferry_session *ferry_host_session_open(const char *path, const ferry_session_opts *opts, ferry_host_model *hm,
                                       ferry_err *err);
void ferry_host_model_free(ferry_host_model *hm);

/* zlib inflation for ferry_session_opts.inflate. */
int ferry_host_inflate(void *user, const void *src, size_t n, void *dst, size_t raw);

#endif
