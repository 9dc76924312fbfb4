/*
 * onnx_import.c - ONNX ModelProto -> ferry graph IR (ir.h).
 *
 * The file is mapped, its protobuf structure is checked without recursion
 * (wire_check: a hostile file cannot exhaust the stack or make protobuf-c
 * recurse too deep), unpacked by protobuf-c, and unmapped again, so peak
 * memory is about the file plus its unpacked copy. Weights then point into
 * the unpacked message; external data is mapped from files that must lie
 * inside the model's folder.
 *
 * A graph is converted in two phases, so nodes may name values that later
 * nodes produce and subgraphs may read any value of their enclosing graphs:
 *   1. emit: every node (local function calls expanded in place, their
 *      internal names given a unique prefix) becomes an IR node whose output
 *      values are created; input names are kept aside;
 *   2. link: input names become value indices (looked up locally, then in
 *      enclosing graphs), subgraph attributes are converted, and the nodes
 *      are sorted topologically; a cycle is an error.
 * Constant nodes keep their node (they count as ops) and also give their
 * output value its data, like an initializer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"
#include "onnx.pb-c.h"

#define MAX_WIRE_DEPTH 400    /* nesting of protobuf messages (3 per subgraph level) */
#define MAX_DEPTH 100         /* nesting of subgraphs, types, function calls */
#define MAX_TENSOR_BYTES (1ll << 40)

/* A name scope: plain graphs use names as they are; a function body maps
 * its formal inputs/outputs to the caller's names and prefixes the rest. */
typedef struct scope {
  const struct scope *up;
  const char *prefix;               /* NULL: no renaming */
  const Onnx__FunctionProto *fn;    /* the function whose body this is */
  const char **formal, **actual;    /* formal -> actual name pairs */
  int n_formal;
  const ferry_attr *call_attrs;     /* attributes of the calling node */
  int n_call_attrs;
  const ferry_opset *opsets;        /* opset imports in force */
  int n_opsets;
  int depth;
} scope;

/* A subgraph attribute waiting for phase 2. */
typedef struct pending_graph {
  int node, attr;
  const Onnx__GraphProto *const *protos;
  int n;
  const scope *sc;
} pending_graph;

typedef struct importer {
  ferry_model *m;
  ferry_err *err;
  const Onnx__ModelProto *mp;
  const char *realdir;  /* realpath of the model folder, NULL: no external data */
  int calls;            /* function calls expanded, for unique prefixes */
} importer;

/* ---- errors ---- */

#define FAIL(im, ...) ferry_fail((im)->err, FERRY_E_INPUT, __VA_ARGS__)
#define NOMEM(im) ferry_fail((im)->err, FERRY_E_SYSTEM, "out of memory")

/* ---- wire-format pre-check (iterative, bounded depth) ---- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* Walks the message tree with an explicit stack: every length-delimited
 * field that the schema says is a message is entered; depth is bounded. */
static int wire_check(importer *im, const uint8_t *buf, size_t len) {
  struct frame {
    const uint8_t *p, *end;
    const ProtobufCMessageDescriptor *d;
  } st[MAX_WIRE_DEPTH];
  int top = 0;
  st[0] = (struct frame){buf, buf + len, &onnx__model_proto__descriptor};
  while (top >= 0) {
    struct frame *f = &st[top];
    if (f->p == f->end) {
      top--;
      continue;
    }
    uint64_t key, v;
    if (read_varint(&f->p, f->end, &key)) return FAIL(im, "not an ONNX model (bad protobuf varint)");
    uint32_t field = (uint32_t)(key >> 3);
    if (field == 0) return FAIL(im, "not an ONNX model (protobuf field number 0)");
    switch (key & 7) {
    case 0:
      if (read_varint(&f->p, f->end, &v)) return FAIL(im, "not an ONNX model (bad protobuf varint)");
      break;
    case 1:
    case 5: {
      size_t w = (key & 7) == 1 ? 8 : 4;
      if ((size_t)(f->end - f->p) < w) return FAIL(im, "truncated protobuf data");
      f->p += w;
      break;
    }
    case 2: {
      if (read_varint(&f->p, f->end, &v)) return FAIL(im, "not an ONNX model (bad protobuf varint)");
      if (v > (uint64_t)(f->end - f->p)) return FAIL(im, "truncated protobuf data");
      const uint8_t *sub = f->p;
      f->p += v;
      const ProtobufCFieldDescriptor *fd =
          f->d ? protobuf_c_message_descriptor_get_field(f->d, (unsigned)field) : NULL;
      if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (top + 1 >= MAX_WIRE_DEPTH)
          return FAIL(im, "messages nested deeper than %d levels", MAX_WIRE_DEPTH);
        st[++top] = (struct frame){sub, sub + v, fd->descriptor};
      }
      break;
    }
    default:
      return FAIL(im, "not an ONNX model (protobuf wire type %d)", (int)(key & 7));
    }
  }
  return 0;
}

/* ---- names and opsets ---- */

/* "node 'name' (Op)" or, for an unnamed node, "node #index (Op)". */
static const char *node_label(const ferry_graph *g, int ni, char *buf, size_t n) {
  const ferry_node *nd = &g->nodes[ni];
  if (*nd->name) snprintf(buf, n, "node '%s' (%s)", nd->name, nd->op);
  else snprintf(buf, n, "node #%d (%s)", ni, nd->op);
  return buf;
}

static const char *canon_domain(const char *d) {
  return (!d || strcmp(d, "ai.onnx") == 0) ? "" : d;
}

/* Maps a name used inside scope `sc` to the graph-level name. */
static const char *scoped_name(importer *im, const scope *sc, const char *name) {
  if (!name || !*name || !sc->prefix) return name ? name : "";
  for (int i = 0; i < sc->n_formal; i++)
    if (strcmp(sc->formal[i], name) == 0) return sc->actual[i];
  size_t n = strlen(sc->prefix) + strlen(name) + 1;
  char *s = ferry_model_alloc(im->m, n);
  if (s) snprintf(s, n, "%s%s", sc->prefix, name);
  return s;
}

static int find_opset(const ferry_opset *ops, int n, const char *domain) {
  for (int i = 0; i < n; i++)
    if (strcmp(ops[i].domain, domain) == 0) return (int)ops[i].version;
  return -1;
}

static int convert_opsets(importer *im, Onnx__OperatorSetIdProto **in, size_t n,
                          ferry_opset **out, int *n_out) {
  *out = ferry_model_alloc(im->m, (n ? n : 1) * sizeof **out);
  if (!*out) return NOMEM(im);
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *d = canon_domain(in[i]->domain);
    if (in[i]->version < 1 || in[i]->version > INT_MAX)
      return FAIL(im, "opset import '%s' has version %lld", *d ? d : "ai.onnx",
                  (long long)in[i]->version);
    if (find_opset(*out, k, d) >= 0) continue; /* repeated import: keep the first */
    (*out)[k].domain = ferry_model_strdup(im->m, d);
    (*out)[k].version = in[i]->version;
    k++;
  }
  *n_out = k;
  return 0;
}

/* ---- types ---- */

static int convert_shape(importer *im, const Onnx__TensorShapeProto *sp, ferry_type *t) {
  if (!sp) {
    t->rank = -1;
    return 0;
  }
  if (sp->n_dim > 1024) return FAIL(im, "shape has %zu dims", sp->n_dim);
  t->rank = (int)sp->n_dim;
  t->shape = ferry_model_alloc(im->m, (sp->n_dim ? sp->n_dim : 1) * sizeof *t->shape);
  if (!t->shape) return NOMEM(im);
  for (size_t i = 0; i < sp->n_dim; i++) {
    const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
    ferry_dim x;
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0) return FAIL(im, "negative dimension %lld", (long long)d->dim_value);
      x = ferry_dim_const(im->m->dims, d->dim_value);
    } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
               d->dim_param[0]) {
      x = ferry_dim_sym(im->m->dims, d->dim_param);
    } else {
      x = ferry_dim_fresh(im->m->dims);
    }
    if (!x) return NOMEM(im);
    t->shape[i] = x;
  }
  return 0;
}

static int convert_type(importer *im, const Onnx__TypeProto *tp, ferry_type *t, int depth) {
  memset(t, 0, sizeof *t);
  t->kind = FERRY_V_UNKNOWN;
  t->rank = -1;
  if (!tp) return 0;
  if (depth > MAX_DEPTH) return FAIL(im, "type nested deeper than %d levels", MAX_DEPTH);
  const Onnx__TypeProto *sub = NULL;
  int elem = 0;
  switch (tp->value_case) {
  case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
    t->kind = FERRY_V_TENSOR;
    elem = tp->tensor_type->elem_type;
    if (convert_shape(im, tp->tensor_type->shape, t)) return im->err->code;
    break;
  case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
    t->kind = FERRY_V_SPARSE;
    elem = tp->sparse_tensor_type->elem_type;
    if (convert_shape(im, tp->sparse_tensor_type->shape, t)) return im->err->code;
    break;
  case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
    t->kind = FERRY_V_SEQUENCE;
    sub = tp->sequence_type->elem_type;
    break;
  case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
    t->kind = FERRY_V_OPTIONAL;
    sub = tp->optional_type->elem_type;
    break;
  case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
    t->kind = FERRY_V_MAP;
    elem = tp->map_type->key_type;
    sub = tp->map_type->value_type;
    break;
  default:
    return 0;
  }
  if (elem && !ferry_dtype_valid(elem)) return FAIL(im, "unknown dtype %d", elem);
  t->dtype = elem;
  if (sub) {
    ferry_type *e = ferry_model_alloc(im->m, sizeof *e);
    if (!e) return NOMEM(im);
    if (convert_type(im, sub, e, depth + 1)) return im->err->code;
    t->elem = e;
  }
  return 0;
}

/* ---- tensors ---- */

static int64_t tensor_bytes(int dtype, int64_t numel) {
  if (dtype == FERRY_U4 || dtype == FERRY_I4) return (numel + 1) / 2;
  return numel * ferry_dtype_size(dtype);
}

/* Maps `len` bytes at `off` of `file` (a name relative to the model folder)
 * after checking that the file lies inside that folder. */
static int map_external(importer *im, const char *file, int64_t off, int64_t len,
                        const void **out) {
  if (!im->realdir) return FAIL(im, "external data '%s' but the model has no folder", file);
  if (!*file || file[0] == '/' || strstr(file, "..") || strchr(file, '\\'))
    return FAIL(im, "external data path '%s' leaves the model's folder", file);
  char path[PATH_MAX], real[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", im->m->dir, file) >= sizeof path)
    return FAIL(im, "external data path '%s' is too long", file);
  if (!realpath(path, real)) return FAIL(im, "external data '%s': %s", file, strerror(errno));
  size_t dl = strlen(im->realdir);
  if (strncmp(real, im->realdir, dl) != 0 || (real[dl] != '/' && im->realdir[dl - 1] != '/'))
    return FAIL(im, "external data path '%s' leaves the model's folder", file);
  int fd = open(real, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FAIL(im, "external data '%s': %s", file, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return FAIL(im, "external data '%s' is not a regular file", file);
  }
  if (off < 0 || len < 0 || off > st.st_size || len > st.st_size - off) {
    close(fd);
    return FAIL(im, "external data '%s' is %lld bytes, the model wants %lld at offset %lld", file,
                (long long)st.st_size, (long long)len, (long long)off);
  }
  if (len == 0) {
    close(fd);
    *out = "";
    return 0;
  }
  long page = sysconf(_SC_PAGESIZE);
  int64_t base = off - off % page;
  size_t maplen = (size_t)(len + (off - base));
  if (im->m->n_maps == im->m->cap_maps) {
    int cap = im->m->cap_maps ? 2 * im->m->cap_maps : 8;
    ferry_mapping *p = realloc(im->m->maps, (size_t)cap * sizeof *p);
    if (!p) {
      close(fd);
      return NOMEM(im);
    }
    im->m->maps = p;
    im->m->cap_maps = cap;
  }
  void *a = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, base);
  close(fd);
  if (a == MAP_FAILED) return FAIL(im, "external data '%s': %s", file, strerror(errno));
  im->m->maps[im->m->n_maps++] = (ferry_mapping){a, maplen};
  *out = (const char *)a + (off - base);
  /* remember the file name once */
  for (int i = 0; i < im->m->n_external_files; i++)
    if (strcmp(im->m->external_files[i], file) == 0) return 0;
  const char **files = ferry_model_alloc(im->m, (size_t)(im->m->n_external_files + 1) * sizeof *files);
  if (!files) return NOMEM(im);
  if (im->m->n_external_files)
    memcpy(files, im->m->external_files, (size_t)im->m->n_external_files * sizeof *files);
  files[im->m->n_external_files++] = ferry_model_strdup(im->m, file);
  im->m->external_files = files;
  return 0;
}

static int external_data(importer *im, const Onnx__TensorProto *tp, int64_t want,
                         ferry_tensor *t) {
  const char *loc = NULL;
  int64_t off = 0, len = want;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
    if (!k || !v) continue;
    char *end;
    if (strcmp(k, "location") == 0) {
      loc = v;
    } else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
      errno = 0;
      long long x = strtoll(v, &end, 10);
      if (errno || *end || end == v || x < 0) return FAIL(im, "external data %s '%s' is not a byte count", k, v);
      *(k[0] == 'o' ? &off : &len) = x;
    }
  }
  if (!loc) return FAIL(im, "tensor '%s' has external data without a location", tp->name);
  if (len != want)
    return FAIL(im, "tensor '%s' needs %lld bytes, its external data entry says %lld", tp->name,
                (long long)want, (long long)len);
  t->external = ferry_model_strdup(im->m, loc);
  t->nbytes = (size_t)want;
  return map_external(im, loc, off, len, &t->data);
}

/* Typed-field data: copy into little-endian bytes of the tensor's dtype. */
static int typed_data(importer *im, const Onnx__TensorProto *tp, int64_t numel, ferry_tensor *t) {
  int dt = t->dtype;
  size_t have;
  const void *src;
  switch (dt) {
  case FERRY_F32: have = tp->n_float_data; src = tp->float_data; break;
  case FERRY_C64: have = tp->n_float_data / 2; src = tp->float_data; break;
  case FERRY_F64: have = tp->n_double_data; src = tp->double_data; break;
  case FERRY_C128: have = tp->n_double_data / 2; src = tp->double_data; break;
  case FERRY_I64: have = tp->n_int64_data; src = tp->int64_data; break;
  case FERRY_U32: case FERRY_U64: have = tp->n_uint64_data; src = tp->uint64_data; break;
  case FERRY_STRING: have = tp->n_string_data; src = tp->string_data; break;
  case FERRY_U4: case FERRY_I4: have = tp->n_int32_data * 2; src = tp->int32_data; break;
  default: have = tp->n_int32_data; src = tp->int32_data; break;
  }
  if (dt == FERRY_U4 || dt == FERRY_I4) {
    if (have < (size_t)numel || have > (size_t)numel + 1) goto mismatch;
  } else if (have != (size_t)numel) {
    goto mismatch;
  }
  if (numel == 0) {
    t->data = "";
    return 0;
  }
  if (dt == FERRY_STRING) {
    ferry_str *s = ferry_model_alloc(im->m, (size_t)numel * sizeof *s);
    if (!s) return NOMEM(im);
    for (int64_t i = 0; i < numel; i++)
      s[i] = (ferry_str){(const char *)tp->string_data[i].data, tp->string_data[i].len};
    t->data = s;
    return 0;
  }
  if (dt == FERRY_F32 || dt == FERRY_C64 || dt == FERRY_F64 || dt == FERRY_C128 ||
      dt == FERRY_I64 || dt == FERRY_U64) {
    t->data = src; /* already in the dtype's own layout */
    return 0;
  }
  uint8_t *dst = ferry_model_alloc(im->m, t->nbytes);
  if (!dst) return NOMEM(im);
  if (dt == FERRY_U32) {
    for (int64_t i = 0; i < numel; i++) ((uint32_t *)dst)[i] = (uint32_t)tp->uint64_data[i];
  } else if (dt == FERRY_U4 || dt == FERRY_I4) {
    for (size_t i = 0; i < tp->n_int32_data && i < t->nbytes; i++) dst[i] = (uint8_t)tp->int32_data[i];
  } else {
    int size = ferry_dtype_size(dt);
    for (int64_t i = 0; i < numel; i++) {
      int32_t v = tp->int32_data[i];
      if (size == 1) dst[i] = (uint8_t)v;
      else ((uint16_t *)dst)[i] = (uint16_t)v; /* int16, uint16, float16, bfloat16 bits */
    }
  }
  t->data = dst;
  return 0;
mismatch:
  return FAIL(im, "tensor '%s' has %zu values for %lld elements", tp->name ? tp->name : "",
              have, (long long)numel);
}

static int convert_tensor(importer *im, const Onnx__TensorProto *tp, const ferry_tensor **out) {
  const char *nm = tp->name ? tp->name : "";
  ferry_tensor *t = ferry_model_alloc(im->m, sizeof *t);
  if (!t) return NOMEM(im);
  if (!ferry_dtype_valid(tp->data_type))
    return FAIL(im, "tensor '%s' has unknown dtype %d", nm, tp->data_type);
  t->dtype = tp->data_type;
  if (tp->n_dims > 64) return FAIL(im, "tensor '%s' has %zu dims", nm, tp->n_dims);
  t->rank = (int)tp->n_dims;
  t->dims = tp->dims;
  int64_t numel = 1;
  for (size_t i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0) return FAIL(im, "tensor '%s' has negative dimension %lld", nm, (long long)tp->dims[i]);
    if (__builtin_mul_overflow(numel, tp->dims[i], &numel) || numel > MAX_TENSOR_BYTES)
      return FAIL(im, "tensor '%s' has absurd dimensions", nm);
  }
  t->numel = numel;
  int64_t bytes = tensor_bytes(t->dtype, numel);
  if (bytes > MAX_TENSOR_BYTES) return FAIL(im, "tensor '%s' has absurd dimensions", nm);
  t->nbytes = t->dtype == FERRY_STRING ? (size_t)numel * sizeof(ferry_str) : (size_t)bytes;
  *out = t;
  if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    if (t->dtype == FERRY_STRING) return FAIL(im, "tensor '%s': strings cannot be external", nm);
    return external_data(im, tp, bytes, t);
  }
  if (tp->has_raw_data && t->dtype != FERRY_STRING) {
    if ((int64_t)tp->raw_data.len != bytes)
      return FAIL(im, "tensor '%s' has %zu bytes of data for %lld elements of %s", nm,
                  tp->raw_data.len, (long long)numel, ferry_dtype_name(t->dtype));
    t->data = tp->raw_data.len ? (const void *)tp->raw_data.data : "";
    return 0;
  }
  return typed_data(im, tp, numel, t);
}

/* Sparse tensor -> dense tensor (indices flat [NNZ] or per-axis [NNZ, rank]). */
static int densify(importer *im, const Onnx__SparseTensorProto *sp, const ferry_tensor **out) {
  const ferry_tensor *vals, *idx;
  if (!sp->values || !sp->indices) return FAIL(im, "sparse tensor without values or indices");
  if (convert_tensor(im, sp->values, &vals) || convert_tensor(im, sp->indices, &idx))
    return im->err->code;
  int size = ferry_dtype_size(vals->dtype);
  if (size <= 0 || idx->dtype != FERRY_I64 || sp->n_dims > 64)
    return FAIL(im, "sparse tensor '%s' has unsupported types", sp->values->name);
  ferry_tensor *t = ferry_model_alloc(im->m, sizeof *t);
  int64_t numel = 1;
  for (size_t i = 0; i < sp->n_dims; i++)
    if (sp->dims[i] < 0 || __builtin_mul_overflow(numel, sp->dims[i], &numel) ||
        numel > MAX_TENSOR_BYTES / 16)
      return FAIL(im, "sparse tensor '%s' has absurd dimensions", sp->values->name);
  uint8_t *d = t ? ferry_model_alloc(im->m, (size_t)(numel * size) + 1) : NULL;
  if (!d) return NOMEM(im);
  int64_t nnz = vals->numel, rank = (int64_t)sp->n_dims;
  int per_axis = idx->rank == 2;
  if (idx->numel != (per_axis ? nnz * rank : nnz))
    return FAIL(im, "sparse tensor '%s' has %lld indices for %lld values", sp->values->name,
                (long long)idx->numel, (long long)nnz);
  const int64_t *ix = idx->data;
  for (int64_t k = 0; k < nnz; k++) {
    int64_t flat = 0;
    if (per_axis) {
      for (int64_t a = 0; a < rank; a++) {
        int64_t v = ix[k * rank + a];
        if (v < 0 || v >= sp->dims[a]) goto bad;
        flat = flat * sp->dims[a] + v;
      }
    } else {
      flat = ix[k];
    }
    if (flat < 0 || flat >= numel) goto bad;
    memcpy(d + flat * size, (const uint8_t *)vals->data + k * size, (size_t)size);
  }
  t->dtype = vals->dtype;
  t->rank = (int)rank;
  t->dims = sp->dims;
  t->numel = numel;
  t->nbytes = (size_t)(numel * size);
  t->data = d;
  *out = t;
  return 0;
bad:
  return FAIL(im, "sparse tensor '%s' has an index out of range", sp->values->name);
}

/* A tensor built from attribute values (Constant's value_float etc). */
static const ferry_tensor *small_tensor(importer *im, int dtype, int rank, int64_t numel,
                                        const void *src, size_t elem) {
  ferry_tensor *t = ferry_model_alloc(im->m, sizeof *t);
  int64_t *dims = ferry_model_alloc(im->m, sizeof *dims);
  void *d = ferry_model_alloc(im->m, (size_t)numel * elem + 1);
  if (!t || !dims || !d) return NULL;
  if (numel) memcpy(d, src, (size_t)numel * elem);
  dims[0] = numel;
  *t = (ferry_tensor){.dtype = dtype, .rank = rank, .dims = dims, .numel = numel,
                      .data = d, .nbytes = (size_t)numel * elem};
  return t;
}

/* ---- attributes ---- */

static int convert_attr(importer *im, const Onnx__AttributeProto *ap, ferry_attr *a) {
  a->name = ferry_model_strdup(im->m, ap->name);
  a->type = ap->type;
  if (!ap->has_type) { /* IR < 3: infer the type from the filled field */
    a->type = ap->t ? FERRY_A_TENSOR : ap->g ? FERRY_A_GRAPH : ap->n_floats ? FERRY_A_FLOATS
              : ap->n_ints ? FERRY_A_INTS : ap->n_strings ? FERRY_A_STRINGS
              : ap->has_s ? FERRY_A_STRING : ap->has_i ? FERRY_A_INT : ap->has_f ? FERRY_A_FLOAT
              : FERRY_A_UNDEFINED;
  }
  a->f = ap->f;
  a->i = ap->i;
  a->s = (ferry_str){ap->s.data ? (const char *)ap->s.data : "", ap->s.len};
  switch (a->type) {
  case FERRY_A_FLOAT: case FERRY_A_INT: case FERRY_A_STRING: case FERRY_A_GRAPH: case FERRY_A_GRAPHS:
    break;
  case FERRY_A_TENSOR:
    if (!ap->t) return FAIL(im, "attribute '%s' has no tensor", ap->name);
    return convert_tensor(im, ap->t, &a->t);
  case FERRY_A_SPARSE_TENSOR:
    if (!ap->sparse_tensor) return FAIL(im, "attribute '%s' has no sparse tensor", ap->name);
    return densify(im, ap->sparse_tensor, &a->t);
  case FERRY_A_FLOATS:
    a->n = (int)ap->n_floats;
    a->floats = ap->floats;
    break;
  case FERRY_A_INTS:
    a->n = (int)ap->n_ints;
    a->ints = ap->ints;
    break;
  case FERRY_A_STRINGS: {
    ferry_str *s = ferry_model_alloc(im->m, (ap->n_strings + 1) * sizeof *s);
    if (!s) return NOMEM(im);
    for (size_t i = 0; i < ap->n_strings; i++)
      s[i] = (ferry_str){(const char *)ap->strings[i].data, ap->strings[i].len};
    a->n = (int)ap->n_strings;
    a->strings = s;
    break;
  }
  case FERRY_A_TENSORS: {
    const ferry_tensor **ts = ferry_model_alloc(im->m, (ap->n_tensors + 1) * sizeof *ts);
    if (!ts) return NOMEM(im);
    for (size_t i = 0; i < ap->n_tensors; i++)
      if (convert_tensor(im, ap->tensors[i], &ts[i])) return im->err->code;
    a->n = (int)ap->n_tensors;
    a->tensors = ts;
    break;
  }
  case FERRY_A_SPARSE_TENSORS: {
    const ferry_tensor **ts = ferry_model_alloc(im->m, (ap->n_sparse_tensors + 1) * sizeof *ts);
    if (!ts) return NOMEM(im);
    for (size_t i = 0; i < ap->n_sparse_tensors; i++)
      if (densify(im, ap->sparse_tensors[i], &ts[i])) return im->err->code;
    a->n = (int)ap->n_sparse_tensors;
    a->tensors = ts;
    break;
  }
  case FERRY_A_TYPE_PROTO:
  case FERRY_A_TYPE_PROTOS: {
    size_t n = a->type == FERRY_A_TYPE_PROTO ? 1 : ap->n_type_protos;
    ferry_type *ts = ferry_model_alloc(im->m, (n + 1) * sizeof *ts);
    if (!ts) return NOMEM(im);
    for (size_t i = 0; i < n; i++)
      if (convert_type(im, a->type == FERRY_A_TYPE_PROTO ? ap->tp : ap->type_protos[i], &ts[i], 0))
        return im->err->code;
    a->n = (int)n;
    a->types = ts;
    break;
  }
  default:
    return FAIL(im, "attribute '%s' has unknown type %d", ap->name ? ap->name : "", (int)ap->type);
  }
  return 0;
}

/* Output data of a Constant node, from whichever attribute it uses. */
static const ferry_tensor *constant_data(importer *im, const ferry_node *n) {
  for (int i = 0; i < n->n_attrs; i++) {
    const ferry_attr *a = &n->attrs[i];
    const char *k = a->name;
    if (strcmp(k, "value") == 0 || strcmp(k, "sparse_value") == 0) return a->t;
    if (strcmp(k, "value_float") == 0) return small_tensor(im, FERRY_F32, 0, 1, &a->f, 4);
    if (strcmp(k, "value_int") == 0) return small_tensor(im, FERRY_I64, 0, 1, &a->i, 8);
    if (strcmp(k, "value_floats") == 0) return small_tensor(im, FERRY_F32, 1, a->n, a->floats, 4);
    if (strcmp(k, "value_ints") == 0) return small_tensor(im, FERRY_I64, 1, a->n, a->ints, 8);
    if (strcmp(k, "value_string") == 0) return small_tensor(im, FERRY_STRING, 0, 1, &a->s, sizeof(ferry_str));
    if (strcmp(k, "value_strings") == 0)
      return small_tensor(im, FERRY_STRING, 1, a->n, a->strings, sizeof(ferry_str));
  }
  return NULL;
}

/* ---- graphs ---- */

typedef struct gbuild {
  importer *im;
  ferry_graph *g;
  const char ***in_names; /* per node: input names, phase 2 resolves them */
  int cap;
  pending_graph *pend;
  int n_pend, cap_pend;
} gbuild;

static int convert_graph(importer *im, const Onnx__GraphProto *gp, ferry_graph *parent,
                         const scope *sc, ferry_graph **out);

static const Onnx__FunctionProto *find_function(importer *im, const Onnx__NodeProto *np) {
  const char *d = canon_domain(np->domain);
  const char *ov = np->overload ? np->overload : "";
  for (size_t i = 0; i < im->mp->n_functions; i++) {
    const Onnx__FunctionProto *f = im->mp->functions[i];
    if (f->name && np->op_type && strcmp(f->name, np->op_type) == 0 &&
        strcmp(canon_domain(f->domain), d) == 0 && strcmp(f->overload ? f->overload : "", ov) == 0)
      return f;
  }
  return NULL;
}

/* Resolves `name` in `g`, creating outer-reference values in `g` (and in
 * every graph between) when it is defined in an enclosing graph. */
static int resolve(ferry_graph *g, const char *name) {
  int i = ferry_graph_find(g, name);
  if (i >= 0 || !g->parent) return i;
  int p = resolve(g->parent, name);
  if (p < 0) return p;
  i = ferry_graph_add_value(g, name);
  if (i < 0) return -2;
  g->values[i].outer = p;
  g->values[i].type = g->parent->values[p].type;
  g->values[i].data = g->parent->values[p].data;
  return i;
}

/* Converts the attributes of `np` in scope `sc` into node `ni` of b->g. */
static int emit_attrs(gbuild *b, const Onnx__NodeProto *np, const scope *sc, int ni) {
  importer *im = b->im;
  ferry_attr *attrs = ferry_model_alloc(im->m, (np->n_attribute + 1) * sizeof *attrs);
  if (!attrs) return NOMEM(im);
  int k = 0;
  for (size_t i = 0; i < np->n_attribute; i++) {
    const Onnx__AttributeProto *ap = np->attribute[i];
    ferry_attr *a = &attrs[k];
    if (ap->ref_attr_name && *ap->ref_attr_name) { /* inside a function body */
      const ferry_attr *src = NULL;
      for (int j = 0; j < sc->n_call_attrs; j++)
        if (strcmp(sc->call_attrs[j].name, ap->ref_attr_name) == 0) src = &sc->call_attrs[j];
      if (!src) continue; /* not given: the op's default applies */
      *a = *src;
      a->name = ferry_model_strdup(im->m, ap->name);
      k++;
      continue;
    }
    if (convert_attr(im, ap, a)) return im->err->code;
    if (a->type == FERRY_A_GRAPH || a->type == FERRY_A_GRAPHS) {
      if (b->n_pend == b->cap_pend) {
        int cap = b->cap_pend ? 2 * b->cap_pend : 8;
        pending_graph *p = realloc(b->pend, (size_t)cap * sizeof *p);
        if (!p) return NOMEM(im);
        b->pend = p;
        b->cap_pend = cap;
      }
      int one = a->type == FERRY_A_GRAPH;
      if (one && !ap->g) return FAIL(im, "attribute '%s' has no graph", a->name);
      b->pend[b->n_pend++] = (pending_graph){ni, k, one ? (const Onnx__GraphProto *const *)&ap->g
                                                        : (const Onnx__GraphProto *const *)ap->graphs,
                                             one ? 1 : (int)ap->n_graphs, sc};
    }
    k++;
  }
  b->g->nodes[ni].attrs = attrs;
  b->g->nodes[ni].n_attrs = k;
  return 0;
}

static int emit_node(gbuild *b, const Onnx__NodeProto *np, const scope *sc);

/* Expands a call of local function `f` in place. */
static int emit_call(gbuild *b, const Onnx__NodeProto *np, const scope *sc,
                     const Onnx__FunctionProto *f) {
  importer *im = b->im;
  if (sc->depth >= MAX_DEPTH) return FAIL(im, "function '%s' calls itself or nests too deep", f->name);
  scope *s = ferry_model_alloc(im->m, sizeof *s);
  size_t nf = f->n_input + f->n_output;
  if (!s) return NOMEM(im);
  s->up = sc;
  s->fn = f;
  s->depth = sc->depth + 1;
  char pre[64];
  snprintf(pre, sizeof pre, "%s__%d__", f->name, im->calls++);
  s->prefix = ferry_model_strdup(im->m, pre);
  s->formal = ferry_model_alloc(im->m, (nf + 1) * sizeof *s->formal);
  s->actual = ferry_model_alloc(im->m, (nf + 1) * sizeof *s->actual);
  if (!s->prefix || !s->formal || !s->actual) return NOMEM(im);
  for (size_t i = 0; i < f->n_input; i++) {
    s->formal[s->n_formal] = f->input[i];
    s->actual[s->n_formal++] = i < np->n_input ? scoped_name(im, sc, np->input[i]) : "";
  }
  for (size_t i = 0; i < f->n_output; i++) {
    s->formal[s->n_formal] = f->output[i];
    s->actual[s->n_formal++] = i < np->n_output ? scoped_name(im, sc, np->output[i]) : "";
  }
  /* the call's attributes, then the function's defaults for the rest */
  ferry_attr *ca = ferry_model_alloc(im->m, (np->n_attribute + f->n_attribute_proto + 1) * sizeof *ca);
  if (!ca) return NOMEM(im);
  int k = 0;
  for (size_t i = 0; i < np->n_attribute; i++) {
    const Onnx__AttributeProto *ap = np->attribute[i];
    if (ap->ref_attr_name && *ap->ref_attr_name) {
      for (int j = 0; j < sc->n_call_attrs; j++)
        if (strcmp(sc->call_attrs[j].name, ap->ref_attr_name) == 0) {
          ca[k] = sc->call_attrs[j];
          ca[k++].name = ferry_model_strdup(im->m, ap->name);
        }
      continue;
    }
    if (convert_attr(im, ap, &ca[k])) return im->err->code;
    k++;
  }
  for (size_t i = 0; i < f->n_attribute_proto; i++) {
    int given = 0;
    for (int j = 0; j < k; j++) given |= strcmp(ca[j].name, f->attribute_proto[i]->name) == 0;
    if (!given && convert_attr(im, f->attribute_proto[i], &ca[k++])) return im->err->code;
  }
  s->call_attrs = ca;
  s->n_call_attrs = k;
  if (f->n_opset_import) {
    ferry_opset *ops;
    if (convert_opsets(im, f->opset_import, f->n_opset_import, &ops, &s->n_opsets)) return im->err->code;
    s->opsets = ops;
  } else {
    s->opsets = sc->opsets;
    s->n_opsets = sc->n_opsets;
  }
  for (size_t i = 0; i < f->n_node; i++)
    if (emit_node(b, f->node[i], s)) return im->err->code;
  return 0;
}

static int emit_node(gbuild *b, const Onnx__NodeProto *np, const scope *sc) {
  importer *im = b->im;
  const char *op = np->op_type ? np->op_type : "";
  if (!*op) return FAIL(im, "node '%s' has no op type", np->name ? np->name : "");
  const Onnx__FunctionProto *f = find_function(im, np);
  if (f) return emit_call(b, np, sc, f);
  const char *domain = canon_domain(np->domain);
  int opset = find_opset(sc->opsets, sc->n_opsets, domain);
  if (opset < 0) {
    if (*domain || im->mp->ir_version >= 3)
      return FAIL(im, "node '%s' (%s) uses domain '%s', which the model does not import",
                  np->name ? np->name : "", op, *domain ? domain : "ai.onnx");
    opset = 1; /* IR 1-2 models predate opset imports */
  }
  int ni = ferry_graph_add_node(b->g);
  if (ni < 0) return NOMEM(im);
  if (ni >= b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    const char ***p = realloc(b->in_names, (size_t)cap * sizeof *p);
    if (!p) return NOMEM(im);
    b->in_names = p;
    b->cap = cap;
  }
  ferry_node *n = &b->g->nodes[ni];
  n->name = ferry_model_strdup(im->m, scoped_name(im, sc, np->name));
  n->domain = ferry_model_strdup(im->m, domain);
  n->op = ferry_model_strdup(im->m, op);
  n->opset = opset;
  n->n_inputs = (int)np->n_input;
  n->n_outputs = (int)np->n_output;
  n->inputs = ferry_model_alloc(im->m, (np->n_input + 1) * sizeof *n->inputs);
  n->outputs = ferry_model_alloc(im->m, (np->n_output + 1) * sizeof *n->outputs);
  const char **names = ferry_model_alloc(im->m, (np->n_input + 1) * sizeof *names);
  if (!n->name || !n->inputs || !n->outputs || !names) return NOMEM(im);
  b->in_names[ni] = names;
  for (size_t i = 0; i < np->n_input; i++)
    if (!(names[i] = scoped_name(im, sc, np->input[i]))) return NOMEM(im);
  for (size_t i = 0; i < np->n_output; i++) {
    const char *o = scoped_name(im, sc, np->output[i]);
    if (!o) return NOMEM(im);
    if (!*o) {
      b->g->nodes[ni].outputs[i] = -1;
      continue;
    }
    char lb[256];
    if (ferry_graph_find(b->g, o) >= 0)
      return FAIL(im, "value '%s' is defined twice (again by %s)", o,
                  node_label(b->g, ni, lb, sizeof lb));
    int vi = ferry_graph_add_value(b->g, o);
    if (vi < 0) return NOMEM(im);
    b->g->values[vi].producer = ni;
    b->g->nodes[ni].outputs[i] = vi;
  }
  return emit_attrs(b, np, sc, ni);
}

/* Phase 2 for one node: input names -> value indices. */
static int link_inputs(gbuild *b, int ni) {
  ferry_node *n = &b->g->nodes[ni];
  for (int i = 0; i < n->n_inputs; i++) {
    const char *nm = b->in_names[ni][i];
    if (!*nm) {
      n->inputs[i] = -1;
      continue;
    }
    int v = resolve(b->g, nm);
    if (v == -2) return NOMEM(b->im);
    char lb[256];
    if (v < 0)
      return FAIL(b->im, "%s reads '%s', which nothing defines", node_label(b->g, ni, lb, sizeof lb), nm);
    n = &b->g->nodes[ni]; /* resolve may not move nodes, but keep it obvious */
    n->inputs[i] = v;
  }
  return 0;
}

static int link_subgraphs(gbuild *b) {
  importer *im = b->im;
  for (int p = 0; p < b->n_pend; p++) {
    pending_graph *pg = &b->pend[p];
    if (pg->sc->depth + 1 >= MAX_DEPTH)
      return FAIL(im, "subgraphs nested deeper than %d levels", MAX_DEPTH);
    ferry_graph **gs = ferry_model_alloc(im->m, (size_t)(pg->n + 1) * sizeof *gs);
    if (!gs) return NOMEM(im);
    scope sub = *pg->sc;
    sub.depth++;
    /* attach first, so a failure below still frees what was converted */
    ferry_attr *a = &b->g->nodes[pg->node].attrs[pg->attr];
    for (int k = 0; k < pg->n; k++) {
      int rc = convert_graph(im, pg->protos[k], b->g, &sub, &gs[k]);
      if (a->type == FERRY_A_GRAPH) a->g = gs[0];
      else a->graphs = gs, a->n = k + 1;
      if (rc) return rc;
    }
  }
  return 0;
}

/* Appends to deps[] the producers in `g` of the outer values that subgraph
 * `sub` reads. */
static int outer_deps(const ferry_graph *g, const ferry_graph *sub, int *deps, int nd, int cap) {
  for (int v = 0; v < sub->n_values && nd < cap; v++) {
    int o = sub->values[v].outer;
    if (o >= 0 && g->values[o].producer >= 0) deps[nd++] = g->values[o].producer;
  }
  return nd;
}

/* Collects the nodes node `ni` depends on (inputs and subgraph captures). */
static int node_deps(const ferry_graph *g, int ni, int **deps, int *cap) {
  const ferry_node *n = &g->nodes[ni];
  int need = n->n_inputs;
  for (int a = 0; a < n->n_attrs; a++) {
    if (n->attrs[a].type == FERRY_A_GRAPH && n->attrs[a].g) need += n->attrs[a].g->n_values;
    if (n->attrs[a].type == FERRY_A_GRAPHS)
      for (int k = 0; k < n->attrs[a].n; k++) need += n->attrs[a].graphs[k]->n_values;
  }
  if (need > *cap) {
    int *p = realloc(*deps, (size_t)need * sizeof *p);
    if (!p) return -1;
    *deps = p;
    *cap = need;
  }
  int nd = 0;
  for (int i = 0; i < n->n_inputs; i++)
    if (n->inputs[i] >= 0 && g->values[n->inputs[i]].producer >= 0)
      (*deps)[nd++] = g->values[n->inputs[i]].producer;
  for (int a = 0; a < n->n_attrs; a++) {
    if (n->attrs[a].type == FERRY_A_GRAPH && n->attrs[a].g)
      nd = outer_deps(g, n->attrs[a].g, *deps, nd, *cap);
    if (n->attrs[a].type == FERRY_A_GRAPHS)
      for (int k = 0; k < n->attrs[a].n; k++) nd = outer_deps(g, n->attrs[a].graphs[k], *deps, nd, *cap);
  }
  return nd;
}

/* Orders nodes so every node follows what it reads (depth-first, iterative,
 * stable for graphs already in order); a cycle is an error. */
static int topo_sort(gbuild *b) {
  ferry_graph *g = b->g;
  int n = g->n_nodes, done = 0, dcap = 0, err = 0;
  int *state = calloc((size_t)n + 1, sizeof *state); /* 0 new, 1 on stack, 2 placed */
  int *order = malloc(((size_t)n + 1) * sizeof *order);
  int *stack = malloc(((size_t)n + 1) * sizeof *stack);
  int *pos = calloc((size_t)n + 1, sizeof *pos); /* next dep to visit per stacked node */
  int *deps = NULL;
  if (!state || !order || !stack || !pos) err = NOMEM(b->im);
  for (int s = 0; s < n && !err; s++) {
    if (state[s]) continue;
    int top = 0;
    stack[0] = s;
    state[s] = 1;
    pos[s] = 0;
    while (top >= 0 && !err) {
      int v = stack[top];
      int nd = node_deps(g, v, &deps, &dcap);
      if (nd < 0) {
        err = NOMEM(b->im);
        break;
      }
      if (pos[v] < nd) {
        int d = deps[pos[v]++];
        char lb[256];
        if (state[d] == 1)
          err = FAIL(b->im, "the graph has a cycle through %s", node_label(g, d, lb, sizeof lb));
        else if (state[d] == 0) {
          state[d] = 1;
          pos[d] = 0;
          stack[++top] = d;
        }
        continue;
      }
      state[v] = 2;
      order[done++] = v;
      top--;
    }
  }
  if (!err) { /* apply the permutation; remap producers */
    ferry_node *nodes = malloc(((size_t)n + 1) * sizeof *nodes);
    const char ***names = malloc(((size_t)n + 1) * sizeof *names);
    if (!nodes || !names) err = NOMEM(b->im);
    for (int i = 0; i < n && !err; i++) {
      nodes[i] = g->nodes[order[i]];
      names[i] = b->in_names[order[i]];
      for (int k = 0; k < nodes[i].n_outputs; k++)
        if (nodes[i].outputs[k] >= 0) g->values[nodes[i].outputs[k]].producer = i;
    }
    if (!err && n) {
      memcpy(g->nodes, nodes, (size_t)n * sizeof *nodes);
      memcpy(b->in_names, names, (size_t)n * sizeof *names);
    }
    free(nodes);
    free(names);
  }
  free(state);
  free(order);
  free(stack);
  free(pos);
  free(deps);
  return err;
}

static int prefix_value(importer *im, const char *name) {
  char pre[300];
  snprintf(pre, sizeof pre, "value '%.200s'", name);
  return ferry_err_prefix(im->err, pre);
}

static int add_value_info(importer *im, ferry_graph *g, const Onnx__ValueInfoProto *vi,
                          const scope *sc, unsigned flag, int *out) {
  const char *nm = scoped_name(im, sc, vi->name);
  if (!nm) return NOMEM(im);
  if (!*nm) return FAIL(im, "a graph %s has no name", flag == FERRY_VAL_INPUT ? "input" : "output");
  int v = flag == FERRY_VAL_INPUT ? ferry_graph_find(g, nm) : resolve(g, nm);
  if (flag == FERRY_VAL_INPUT && v < 0) v = ferry_graph_add_value(g, nm);
  if (v == -2 || (flag == FERRY_VAL_INPUT && v < 0)) return NOMEM(im);
  if (v < 0) return FAIL(im, "graph output '%s' is not produced by anything", nm);
  ferry_type t;
  if (convert_type(im, vi->type, &t, 0)) return prefix_value(im, nm);
  if (vi->type) g->values[v].type = t;
  g->values[v].flags |= flag;
  *out = v;
  return 0;
}

static int convert_graph(importer *im, const Onnx__GraphProto *gp, ferry_graph *parent,
                         const scope *sc, ferry_graph **out) {
  ferry_graph *g = ferry_graph_new(im->m, parent);
  if (!g) return NOMEM(im);
  *out = g;
  g->name = ferry_model_strdup(im->m, gp->name);
  gbuild b = {.im = im, .g = g};
  int err = 0;
  /* initializers, then inputs (an input may repeat an initializer: IR < 4) */
  for (size_t i = 0; i < gp->n_initializer + gp->n_sparse_initializer && !err; i++) {
    int sparse = i >= gp->n_initializer;
    const Onnx__TensorProto *tp = sparse ? gp->sparse_initializer[i - gp->n_initializer]->values
                                         : gp->initializer[i];
    const char *nm = tp ? scoped_name(im, sc, tp->name) : NULL;
    if (!nm || !*nm) {
      err = nm ? FAIL(im, "an initializer has no name") : NOMEM(im);
      break;
    }
    if (ferry_graph_find(g, nm) >= 0) {
      err = FAIL(im, "initializer '%s' is defined twice", nm);
      break;
    }
    const ferry_tensor *t;
    err = sparse ? densify(im, gp->sparse_initializer[i - gp->n_initializer], &t)
                 : convert_tensor(im, tp, &t);
    if (err) break;
    int v = ferry_graph_add_value(g, nm);
    if (v < 0) {
      err = NOMEM(im);
      break;
    }
    ferry_value *val = &g->values[v];
    val->flags = FERRY_VAL_WEIGHT;
    val->data = t;
    val->type = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = t->dtype, .rank = t->rank};
    val->type.shape = ferry_model_alloc(im->m, ((size_t)t->rank + 1) * sizeof(ferry_dim));
    if (!val->type.shape) err = NOMEM(im);
    for (int k = 0; k < t->rank && !err; k++)
      if (!(val->type.shape[k] = ferry_dim_const(im->m->dims, t->dims[k]))) err = NOMEM(im);
  }
  int *ins = err ? NULL : ferry_model_alloc(im->m, (gp->n_input + 1) * sizeof *ins);
  if (!err && !ins) err = NOMEM(im);
  int n_in = 0;
  for (size_t i = 0; i < gp->n_input && !err; i++) {
    int v;
    const char *nm = scoped_name(im, sc, gp->input[i]->name);
    int w = nm ? ferry_graph_find(g, nm) : -1;
    if (w >= 0 && (g->values[w].flags & FERRY_VAL_WEIGHT)) continue; /* weight with a default */
    if (w >= 0) {
      err = FAIL(im, "graph input '%s' is listed twice", nm);
      break;
    }
    err = add_value_info(im, g, gp->input[i], sc, FERRY_VAL_INPUT, &v);
    if (!err) ins[n_in++] = v;
  }
  g->inputs = ins;
  g->n_inputs = n_in;
  for (size_t i = 0; i < gp->n_node && !err; i++) err = emit_node(&b, gp->node[i], sc);
  for (int i = 0; i < g->n_nodes && !err; i++) err = link_inputs(&b, i);
  if (!err) err = link_subgraphs(&b);
  if (!err) err = topo_sort(&b);
  for (int i = 0; i < g->n_nodes && !err; i++) {
    ferry_node *n = &g->nodes[i];
    if (strcmp(n->op, "Constant") || *n->domain || n->n_outputs < 1 || n->outputs[0] < 0) continue;
    const ferry_tensor *t = constant_data(im, n);
    if (!t) {
      err = FAIL(im, "Constant node '%s' has no value", n->name);
      break;
    }
    ferry_value *v = &g->values[n->outputs[0]];
    v->data = t;
    v->flags |= FERRY_VAL_CONST;
  }
  int *outs = err ? NULL : ferry_model_alloc(im->m, (gp->n_output + 1) * sizeof *outs);
  if (!err && !outs) err = NOMEM(im);
  for (size_t i = 0; i < gp->n_output && !err; i++) err = add_value_info(im, g, gp->output[i], sc, FERRY_VAL_OUTPUT, &outs[i]);
  g->outputs = outs;
  g->n_outputs = err ? 0 : (int)gp->n_output;
  for (size_t i = 0; i < gp->n_value_info && !err; i++) {
    const char *nm = scoped_name(im, sc, gp->value_info[i]->name);
    int v = nm ? ferry_graph_find(g, nm) : -1;
    if (v < 0 || g->values[v].data || !gp->value_info[i]->type) continue; /* stale hint: ignore */
    err = convert_type(im, gp->value_info[i]->type, &g->values[v].type, 0);
    if (err) prefix_value(im, nm);
  }
  free(b.in_names);
  free(b.pend);
  return err;
}

/* ---- model ---- */

static int import_model(importer *im) {
  const Onnx__ModelProto *mp = im->mp;
  ferry_model *m = im->m;
  if (!mp->graph) return FAIL(im, "not an ONNX model (no graph)");
  if (mp->ir_version < 1 || mp->ir_version > 100)
    return FAIL(im, "not an ONNX model (IR version %lld)", (long long)mp->ir_version);
  m->ir_version = mp->ir_version;
  m->model_version = mp->model_version;
  m->producer_name = ferry_model_strdup(m, mp->producer_name);
  m->producer_version = ferry_model_strdup(m, mp->producer_version);
  m->domain = ferry_model_strdup(m, mp->domain);
  m->doc = ferry_model_strdup(m, mp->doc_string);
  if (convert_opsets(im, mp->opset_import, mp->n_opset_import, &m->opsets, &m->n_opsets))
    return im->err->code;
  m->metadata = ferry_model_alloc(m, (2 * mp->n_metadata_props + 1) * sizeof *m->metadata);
  if (!m->metadata) return NOMEM(im);
  for (size_t i = 0; i < mp->n_metadata_props; i++) {
    const char *k = mp->metadata_props[i]->key, *v = mp->metadata_props[i]->value;
    m->metadata[2 * i] = (ferry_str){k ? k : "", k ? strlen(k) : 0};
    m->metadata[2 * i + 1] = (ferry_str){v ? v : "", v ? strlen(v) : 0};
  }
  m->n_metadata = (int)mp->n_metadata_props;
  scope top = {.opsets = m->opsets, .n_opsets = m->n_opsets};
  return convert_graph(im, mp->graph, NULL, &top, &m->graph);
}

static ferry_model *load(const void *buf, size_t len, const char *path, const char *dir,
                         ferry_err *err) {
  ferry_err local;
  if (!err) err = &local;
  ferry_model *m = calloc(1, sizeof *m);
  if (!m) {
    ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
    return NULL;
  }
  importer im = {.m = m, .err = err};
  m->dims = ferry_dimctx_new();
  m->path = ferry_model_strdup(m, path);
  m->dir = ferry_model_strdup(m, dir ? dir : "");
  char real[PATH_MAX];
  if (dir && realpath(dir, real)) im.realdir = ferry_model_strdup(m, real);
  int rc = (!m->dims || !m->path || !m->dir) ? NOMEM(&im) : 0;
  if (!rc && len == 0) rc = FAIL(&im, "empty file, not an ONNX model");
  if (!rc) rc = wire_check(&im, buf, len);
  if (!rc) {
    m->proto = onnx__model_proto__unpack(NULL, len, buf);
    if (!m->proto) rc = FAIL(&im, "not an ONNX model (protobuf decoding failed)");
  }
  im.mp = m->proto;
  if (!rc) rc = import_model(&im);
  if (rc) {
    ferry_err_prefix(err, path);
    ferry_model_free(m);
    return NULL;
  }
  return m;
}

/* dirname() without modifying its argument. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

ferry_model *ferry_onnx_load_buffer(const void *buf, size_t len, const char *path, ferry_err *err) {
  char *dir = path ? folder_of(path) : NULL;
  ferry_model *m = load(buf, len, path ? path : "<memory>", dir, err);
  free(dir);
  return m;
}

ferry_model *ferry_onnx_load(const char *path, ferry_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    ferry_fail(err, FERRY_E_INPUT, "%s: not a regular file", path);
    return NULL;
  }
  if (st.st_size == 0) {
    close(fd);
    ferry_fail(err, FERRY_E_INPUT, "%s: empty file, not an ONNX model", path);
    return NULL;
  }
  void *buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (buf == MAP_FAILED) {
    ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *dir = folder_of(path);
  ferry_model *m = dir ? load(buf, (size_t)st.st_size, path, dir, err) : NULL;
  if (!dir) ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  free(dir);
  munmap(buf, (size_t)st.st_size);
  return m;
}
