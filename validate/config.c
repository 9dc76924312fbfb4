/*
 * config.c - the YAML configuration of `ferry validate` (validate.h).
 *
 * libyaml loads the file into a document; the walk below checks it against
 * the schema (docs/cli.md) and fills a ferry_vconfig. Every error names
 * the place as FILE:LINE:COL (1-based) of the offending node: an unknown
 * key, a value of the wrong type, a number out of range.
 *
 *   atol/rtol/cosine/snr_db/nmse/max_abs/mean_abs/ulp/top1/topk/k/elementwise
 *                 limits for every output (top level) or one (outputs: NAME:)
 *   seed, samples, dims: {NAME: VALUE}   random inputs
 *   inputs: {NAME: {image: {...}, range: [LO, HI]}}
 *   outputs: {NAME: {limits}}
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "validate.h"

typedef struct cfg {
  const char *path;
  yaml_document_t *doc;
  ferry_err *err;
} cfg;

__attribute__((format(printf, 3, 4))) static int at(cfg *c, const yaml_node_t *n, const char *fmt, ...) {
  char what[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return ferry_fail(c->err, FERRY_E_INPUT, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1,
                    what);
}

static yaml_node_t *node(cfg *c, int id) { return yaml_document_get_node(c->doc, id); }

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int number(cfg *c, const yaml_node_t *n, double *out) {
  const char *s = scalar(n);
  char *end;
  if (!s || !*s) return at(c, n, "expected a number");
  errno = 0;
  *out = strtod(s, &end);
  if (*end || errno || isnan(*out)) return at(c, n, "expected a number, got '%s'", s);
  return 0;
}

static int nonneg(cfg *c, const yaml_node_t *n, double *out) {
  if (number(c, n, out)) return c->err->code;
  return *out < 0 ? at(c, n, "expected a number >= 0") : 0;
}

static int integer(cfg *c, const yaml_node_t *n, int64_t lo, int64_t hi, int64_t *out) {
  const char *s = scalar(n);
  char *end;
  if (!s || !*s) return at(c, n, "expected an integer");
  errno = 0;
  long long v = strtoll(s, &end, 0);
  if (*end || errno || v < lo || v > hi) return at(c, n, "expected an integer from %lld to %lld, got '%s'", (long long)lo, (long long)hi, s);
  *out = v;
  return 0;
}

static int boolean(cfg *c, const yaml_node_t *n, int *out) {
  const char *s = scalar(n);
  if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) return *out = 1, 0;
  if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) return *out = 0, 0;
  return at(c, n, "expected true or false");
}

static int want_map(cfg *c, const yaml_node_t *n, const char *what) {
  return n->type == YAML_MAPPING_NODE ? 0 : at(c, n, "expected a mapping for %s", what);
}

/* ---- limits ---- */

static int limit_key(cfg *c, const char *k, const yaml_node_t *v, ferry_vlimits *l, int *known) {
  static const struct {
    const char *key;
    size_t off;
  } doubles[] = {
      {"atol", offsetof(ferry_vlimits, atol)},         {"rtol", offsetof(ferry_vlimits, rtol)},
      {"cosine", offsetof(ferry_vlimits, min_cosine)}, {"snr_db", offsetof(ferry_vlimits, min_snr_db)},
      {"nmse", offsetof(ferry_vlimits, max_nmse)},     {"max_abs", offsetof(ferry_vlimits, max_abs)},
      {"mean_abs", offsetof(ferry_vlimits, max_mean_abs)}, {"ulp", offsetof(ferry_vlimits, max_ulp)},
      {"top1", offsetof(ferry_vlimits, min_top1)},     {"topk", offsetof(ferry_vlimits, min_topk)},
  };
  *known = 1;
  for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++)
    if (!strcmp(k, doubles[i].key)) {
      double *d = (double *)((char *)l + doubles[i].off);
      if (!strcmp(k, "snr_db")) return number(c, v, d);
      if (nonneg(c, v, d)) return c->err->code;
      if ((!strcmp(k, "cosine") || !strcmp(k, "top1") || !strcmp(k, "topk")) && *d > 1)
        return at(c, v, "%s must be at most 1", k);
      return 0;
    }
  if (!strcmp(k, "k")) {
    int64_t x;
    if (integer(c, v, 1, 64, &x)) return c->err->code;
    l->topk = (int)x;
    return 0;
  }
  if (!strcmp(k, "elementwise")) return boolean(c, v, &l->elementwise);
  *known = 0;
  return 0;
}

static int output_entry(cfg *c, const yaml_node_t *v, ferry_voutput_cfg *o) {
  if (want_map(c, v, "an output's limits")) return c->err->code;
  for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
    const char *k = scalar(kn);
    int known;
    if (!k) return at(c, kn, "expected a key");
    if (limit_key(c, k, vn, &o->lim, &known)) return c->err->code;
    if (!known) return at(c, kn, "unknown output setting '%s' (atol, rtol, cosine, snr_db, nmse, max_abs, mean_abs, ulp, top1, topk, k, elementwise)", k);
  }
  return 0;
}

/* ---- inputs ---- */

/* An integer or [H, W] into h, w (w 0 for a single integer). */
static int size_pair(cfg *c, const yaml_node_t *v, int *h, int *w) {
  int64_t x, y;
  if (v->type == YAML_SCALAR_NODE) {
    if (integer(c, v, 1, 1 << 16, &x)) return c->err->code;
    *h = (int)x, *w = 0;
    return 0;
  }
  if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top - v->data.sequence.items.start != 2)
    return at(c, v, "expected an integer or [HEIGHT, WIDTH]");
  if (integer(c, node(c, v->data.sequence.items.start[0]), 1, 1 << 16, &x) ||
      integer(c, node(c, v->data.sequence.items.start[1]), 1, 1 << 16, &y))
    return c->err->code;
  *h = (int)x, *w = (int)y;
  return 0;
}

static int number_list(cfg *c, const yaml_node_t *v, double *out, int max, int *n) {
  if (v->type != YAML_SEQUENCE_NODE) return at(c, v, "expected a list of numbers");
  *n = 0;
  for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
    if (*n == max) return at(c, v, "too many numbers in the list");
    if (number(c, node(c, *i), &out[(*n)++])) return c->err->code;
  }
  return 0;
}

static int image_key(cfg *c, const char *k, const yaml_node_t *v, ferry_vinput_cfg *in) {
  const char *s = scalar(v);
  if (!strcmp(k, "resize")) return size_pair(c, v, &in->resize_h, &in->resize_w);
  if (!strcmp(k, "crop")) {
    if (size_pair(c, v, &in->crop_h, &in->crop_w)) return c->err->code;
    if (!in->crop_w) in->crop_w = in->crop_h;
    return 0;
  }
  if (!strcmp(k, "scale")) return number(c, v, &in->scale);
  if (!strcmp(k, "mean")) return number_list(c, v, in->mean, 4, &in->n_mean);
  if (!strcmp(k, "std")) {
    if (number_list(c, v, in->std, 4, &in->n_std)) return c->err->code;
    for (int i = 0; i < in->n_std; i++)
      if (in->std[i] == 0) return at(c, v, "std values must not be 0");
    return 0;
  }
  if (!strcmp(k, "layout")) {
    if (s && !strcmp(s, "NCHW")) return in->nhwc = 0, 0;
    if (s && !strcmp(s, "NHWC")) return in->nhwc = 1, 0;
    return at(c, v, "layout is NCHW or NHWC");
  }
  if (!strcmp(k, "dtype")) {
    if (s && !strcmp(s, "float32")) return in->dtype = FERRY_F32, 0;
    if (s && !strcmp(s, "uint8")) return in->dtype = FERRY_U8, 0;
    return at(c, v, "dtype is float32 or uint8");
  }
  if (!strcmp(k, "channels")) {
    int64_t x;
    if (integer(c, v, 1, 3, &x) || x == 2) return at(c, v, "channels is 1 or 3");
    in->channels = (int)x;
    return 0;
  }
  if (!strcmp(k, "order")) {
    if (s && !strcmp(s, "RGB")) return in->bgr = 0, 0;
    if (s && !strcmp(s, "BGR")) return in->bgr = 1, 0;
    return at(c, v, "order is RGB or BGR");
  }
  return at(c, v, "unknown image setting '%s' (resize, crop, scale, mean, std, layout, dtype, channels, order)", k);
}

static int input_entry(cfg *c, const yaml_node_t *v, ferry_vinput_cfg *in) {
  if (want_map(c, v, "an input")) return c->err->code;
  for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
    const char *k = scalar(kn);
    if (k && !strcmp(k, "image")) {
      if (want_map(c, vn, "image")) return c->err->code;
      in->has_image = 1;
      for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++) {
        const char *ik = scalar(node(c, q->key));
        if (!ik) return at(c, node(c, q->key), "expected a key");
        if (image_key(c, ik, node(c, q->value), in)) return c->err->code;
      }
    } else if (k && !strcmp(k, "range")) {
      double r[4];
      int n;
      if (number_list(c, vn, r, 4, &n)) return c->err->code;
      if (n != 2 || r[0] > r[1]) return at(c, vn, "range is [LOW, HIGH] with LOW <= HIGH");
      in->has_range = 1, in->lo = r[0], in->hi = r[1];
    } else {
      return at(c, kn, "unknown input setting '%s' (image, range)", k ? k : "?");
    }
  }
  int ch = in->channels ? in->channels : 3;
  if ((in->n_mean && in->n_mean != 1 && in->n_mean != ch) || (in->n_std && in->n_std != 1 && in->n_std != ch))
    return at(c, v, "mean and std need 1 value or one per channel");
  return 0;
}

/* ---- top level ---- */

static char *dup_key(cfg *c, const yaml_node_t *kn) {
  const char *k = scalar(kn);
  char *d = k ? strdup(k) : NULL;
  if (!k) at(c, kn, "expected a key");
  else if (!d) ferry_fail(c->err, FERRY_E_SYSTEM, "out of memory");
  return d;
}

static int section(cfg *c, const yaml_node_t *v, ferry_vconfig *o, int which) {
  if (want_map(c, v, which == 0 ? "outputs" : which == 1 ? "inputs" : "dims")) return c->err->code;
  size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
  if (which == 0 && !(o->outputs = calloc(n + 1, sizeof *o->outputs))) return ferry_fail(c->err, FERRY_E_SYSTEM, "out of memory");
  if (which == 1 && !(o->inputs = calloc(n + 1, sizeof *o->inputs))) return ferry_fail(c->err, FERRY_E_SYSTEM, "out of memory");
  if (which == 2 && !(o->dims = calloc(n + 1, sizeof *o->dims))) return ferry_fail(c->err, FERRY_E_SYSTEM, "out of memory");
  for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
    char *name = dup_key(c, kn);
    if (!name) return c->err->code;
    if (which == 0) {
      ferry_voutput_cfg *e = &o->outputs[o->n_outputs++];
      e->name = name;
      ferry_vlimits_unset(&e->lim);
      if (output_entry(c, vn, e)) return c->err->code;
    } else if (which == 1) {
      ferry_vinput_cfg *e = &o->inputs[o->n_inputs++];
      e->name = name;
      if (input_entry(c, vn, e)) return c->err->code;
    } else {
      ferry_vdim *d = &o->dims[o->n_dims++];
      d->name = name;
      if (integer(c, vn, 0, INT32_MAX, &d->value)) return c->err->code;
    }
  }
  return 0;
}

static int top_key(cfg *c, const yaml_node_t *kn, const yaml_node_t *v, ferry_vconfig *o) {
  const char *k = scalar(kn);
  int64_t x;
  int known;
  if (!k) return at(c, kn, "expected a key");
  if (!strcmp(k, "outputs")) return o->outputs ? at(c, kn, "outputs given twice") : section(c, v, o, 0);
  if (!strcmp(k, "inputs")) return o->inputs ? at(c, kn, "inputs given twice") : section(c, v, o, 1);
  if (!strcmp(k, "dims")) return o->dims ? at(c, kn, "dims given twice") : section(c, v, o, 2);
  if (!strcmp(k, "seed")) {
    if (integer(c, v, 0, INT64_MAX, &x)) return c->err->code;
    o->has_seed = 1, o->seed = (uint64_t)x;
    return 0;
  }
  if (!strcmp(k, "samples")) {
    if (integer(c, v, 1, 100000, &x)) return c->err->code;
    o->samples = (int)x;
    return 0;
  }
  if (limit_key(c, k, v, &o->defaults, &known)) return c->err->code;
  if (!known)
    return at(c, kn,
              "unknown setting '%s' (atol, rtol, cosine, snr_db, nmse, max_abs, mean_abs, ulp, top1, topk, k, "
              "elementwise, seed, samples, dims, inputs, outputs)", k);
  return 0;
}

static int walk(cfg *c, ferry_vconfig *o) {
  yaml_node_t *root = yaml_document_get_root_node(c->doc);
  if (!root) return 0; /* an empty file: all defaults */
  if (root->type == YAML_SCALAR_NODE && !*scalar(root)) return 0;
  if (want_map(c, root, "the configuration")) return c->err->code;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
    if (top_key(c, node(c, p->key), node(c, p->value), o)) return c->err->code;
  return 0;
}

int ferry_vconfig_parse(const char *path, const void *buf, size_t len, ferry_vconfig *o, ferry_err *err) {
  memset(o, 0, sizeof *o);
  ferry_vlimits_unset(&o->defaults);
  yaml_parser_t p;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&p)) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  yaml_parser_set_input_string(&p, buf, len);
  if (!yaml_parser_load(&p, &doc)) {
    int rc = ferry_fail(err, FERRY_E_INPUT, "%s:%zu:%zu: %s%s%s", path, p.problem_mark.line + 1, p.problem_mark.column + 1,
                        p.problem ? p.problem : "invalid YAML", p.context ? " " : "", p.context ? p.context : "");
    yaml_parser_delete(&p);
    return rc;
  }
  cfg c = {path, &doc, err};
  int rc = walk(&c, o);
  yaml_document_delete(&doc);
  yaml_parser_delete(&p);
  if (rc) ferry_vconfig_free(o);
  return rc;
}

int ferry_vconfig_load(const char *path, ferry_vconfig *o, ferry_err *err) {
  FILE *f = fopen(path, "rb");
  memset(o, 0, sizeof *o);
  if (!f) return ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
  size_t cap = 4096, len = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap && len < (1u << 24)) {
      char *b = realloc(buf, cap *= 2);
      if (!b) free(buf);
      buf = b;
    } else if (len == cap) {
      break;
    }
  }
  int bad = ferror(f) || len == cap;
  fclose(f);
  if (!buf) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  int rc = bad ? ferry_fail(err, FERRY_E_INPUT, "%s: cannot read it (or larger than 16 MiB)", path)
               : ferry_vconfig_parse(path, buf, len, o, err);
  free(buf);
  return rc;
}

void ferry_vconfig_free(ferry_vconfig *c) {
  for (int i = 0; i < c->n_outputs; i++) free(c->outputs[i].name);
  for (int i = 0; i < c->n_inputs; i++) free(c->inputs[i].name);
  for (int i = 0; i < c->n_dims; i++) free(c->dims[i].name);
  free(c->outputs);
  free(c->inputs);
  free(c->dims);
  memset(c, 0, sizeof *c);
  ferry_vlimits_unset(&c->defaults);
}

const ferry_vinput_cfg *ferry_vconfig_input(const ferry_vconfig *c, const char *name) {
  for (int i = 0; i < c->n_inputs; i++)
    if (!strcmp(c->inputs[i].name, name)) return &c->inputs[i];
  for (int i = 0; i < c->n_inputs; i++)
    if (!strcmp(c->inputs[i].name, "*")) return &c->inputs[i];
  return NULL;
}
