/*
 * onnx_export.h - ferry graph IR -> standard ONNX file (onnx_export.c).
 *
 * The inverse of ferry_onnx_load: graphs, subgraphs, weights (as inline
 * initializers, external data included), Constant nodes, attributes of every
 * type, typed inputs/outputs with symbolic dims (a non-constant dim is written
 * as its expression text in dim_param) and value_info for every intermediate
 * value whose type is known. Local functions were inlined on import and stay
 * inlined. The producer becomes "ferry"; the source producer is kept in the
 * metadata entry "source_producer".
 */
#ifndef FERRY_ONNX_EXPORT_H
#define FERRY_ONNX_EXPORT_H

#include "ferry_base.h"
#include "ir.h"

/* Writes `m` as an ONNX ModelProto to `path`, atomically: the bytes go to a
 * temporary file "PATH.tmp.XXXXXX" beside it, which is synced and renamed
 * over `path`; on failure it is removed and `path` is left as it was.
 * Returns FERRY_OK, or a status with `err` holding "PATH: what is wrong"
 * (FERRY_E_INPUT when the model cannot be written as ONNX, e.g. over
 * protobuf's 2 GiB limit; FERRY_E_SYSTEM when the file cannot be written). */
int ferry_onnx_save(const ferry_model *m, const char *path, ferry_err *err);

#endif
