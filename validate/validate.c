/*
 * validate.c - ferry_validate_run: samples in, verdicts out (validate.h).
 *
 *   1. settings: the YAML configuration merged with the command line
 *      (per-output entry > --atol/--rtol > YAML top level > built-in);
 *   2. sessions: MODEL, and REF when a reference model is given, both on
 *      ferry's runtime (ferry_host_session_open: bundle or ONNX);
 *   3. samples: each --data path becomes one or more samples (inputs by
 *      name, plus recorded outputs when the data has them); without data,
 *      random samples from the seed;
 *   4. per sample: run MODEL, get the reference outputs (run REF, or the
 *      recorded ones), compare by output name (metrics.c), keep a result;
 *   5. on a failure with --bisect: bisect.c on the first failing sample.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tensor_io.h"
#include "validate.h"

typedef struct sample {
  char *name;
  ferry_vtensor *in, *ref; /* inputs by name; recorded outputs by name */
  int n_in, n_ref, cap_in, cap_ref;
} sample;

typedef struct run {
  const ferry_validate_opts *o;
  ferry_vconfig cfg;
  ferry_vlimits top;          /* YAML top level with --atol/--rtol over it */
  ferry_vdim *dims;           /* --dim first, then the configuration's */
  int n_dims;
  ferry_session *model, *ref;
  ferry_host_model hm_model, hm_ref;
  sample *s;
  int n_s, cap_s;
  ferry_vreport *rep;
  int cap_r;
  ferry_err *err;
} run;

static int oom(run *r) { return ferry_fail(r->err, FERRY_E_SYSTEM, "out of memory"); }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- samples ---- */

static sample *new_sample(run *r, const char *name) {
  if (r->n_s == r->cap_s) {
    int cap = r->cap_s ? 2 * r->cap_s : 8;
    sample *s = realloc(r->s, (size_t)cap * sizeof *s);
    if (!s) return oom(r), NULL;
    r->s = s, r->cap_s = cap;
  }
  sample *s = &r->s[r->n_s];
  memset(s, 0, sizeof *s);
  if (!(s->name = strdup(name))) return oom(r), NULL;
  r->n_s++;
  return s;
}

static void free_sample(sample *s) {
  for (int i = 0; i < s->n_in; i++) ferry_vtensor_free(&s->in[i]);
  for (int i = 0; i < s->n_ref; i++) ferry_vtensor_free(&s->ref[i]);
  free(s->in);
  free(s->ref);
  free(s->name);
}

/* Appends t (taking its bytes) to the sample's inputs or references, named `name`. */
static int add_tensor(run *r, sample *s, int ref, const char *name, ferry_vtensor *t) {
  ferry_vtensor **arr = ref ? &s->ref : &s->in;
  int *n = ref ? &s->n_ref : &s->n_in, *cap = ref ? &s->cap_ref : &s->cap_in;
  if (*n == *cap) {
    int c = *cap ? 2 * *cap : 4;
    ferry_vtensor *a = realloc(*arr, (size_t)c * sizeof *a);
    if (!a) return ferry_vtensor_free(t), oom(r);
    *arr = a, *cap = c;
  }
  free(t->name);
  if (!(t->name = strdup(name))) return ferry_vtensor_free(t), oom(r);
  (*arr)[(*n)++] = *t;
  memset(t, 0, sizeof *t);
  return 0;
}

static const ferry_vtensor *find_tensor(const ferry_vtensor *t, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return &t[i];
  return NULL;
}

static int from_host(run *r, sample *s, int ref, const char *name, ferry_host_tensor *h) {
  ferry_vtensor t = {.v = h->v, .buf = h->buf};
  free(h->name);
  return add_tensor(r, s, ref, name, &t);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* An ONNX test_data_set folder: input_K.pb in MODEL's input order, output_K.pb in its output order. */
static int read_test_set(run *r, const char *dir) {
  char path[4200];
  sample *s = new_sample(r, dir);
  if (!s) return r->err->code;
  for (int k = 0; k < ferry_session_n_inputs(r->model); k++) {
    snprintf(path, sizeof path, "%s/input_%d.pb", dir, k);
    ferry_host_tensor h;
    if (!is_file(path))
      return ferry_fail(r->err, FERRY_E_INPUT, "%s: input_%d.pb is missing (the model has %d inputs)", dir, k,
                        ferry_session_n_inputs(r->model));
    if (ferry_value_read(path, ferry_session_input_info(r->model, k)->kind, &h, r->err)) return r->err->code;
    if (from_host(r, s, 0, ferry_session_input_name(r->model, k), &h)) return r->err->code;
  }
  for (int k = 0; k < ferry_session_n_outputs(r->model); k++) {
    snprintf(path, sizeof path, "%s/output_%d.pb", dir, k);
    if (!is_file(path)) continue;
    ferry_host_tensor h;
    if (ferry_value_read(path, ferry_session_output_info(r->model, k)->kind, &h, r->err)) return r->err->code;
    if (from_host(r, s, 1, ferry_session_output_name(r->model, k), &h)) return r->err->code;
  }
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A folder: a test_data_set itself, or one holding test_data_set_N folders. */
static int read_folder(run *r, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/input_0.pb", dir);
  if (is_file(path) || ferry_session_n_inputs(r->model) == 0) return read_test_set(r, dir);
  DIR *d = opendir(dir);
  if (!d) return ferry_fail(r->err, FERRY_E_INPUT, "%s: %s", dir, strerror(errno));
  char *names[1024];
  int n = 0, rc = 0;
  for (struct dirent *e; !rc && (e = readdir(d));) {
    if (strncmp(e->d_name, "test_data_set_", 14)) continue;
    if (n == 1024) rc = ferry_fail(r->err, FERRY_E_INPUT, "%s: more than 1024 test_data_set folders", dir);
    else if (!(names[n] = strdup(e->d_name))) rc = oom(r);
    else n++;
  }
  closedir(d);
  if (!n && !rc)
    return ferry_fail(r->err, FERRY_E_INPUT, "%s: neither a test_data_set folder (input_0.pb) nor a folder of test_data_set_N folders", dir);
  qsort(names, (size_t)n, sizeof *names, by_name);
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (!rc) rc = read_test_set(r, path);
    free(names[i]);
  }
  return rc;
}

static int session_has(ferry_session *s, int output, const char *name) {
  int n = output ? ferry_session_n_outputs(s) : ferry_session_n_inputs(s);
  for (int i = 0; i < n; i++)
    if (!strcmp(output ? ferry_session_output_name(s, i) : ferry_session_input_name(s, i), name)) return 1;
  return 0;
}

/* An .npz: members named after inputs are inputs, after outputs recorded outputs. */
static int read_npz(run *r, const char *path) {
  ferry_vtensor *t;
  int n;
  if (ferry_npz_read(path, &t, &n, r->err)) return r->err->code;
  sample *s = new_sample(r, path);
  int rc = s ? 0 : r->err->code;
  for (int i = 0; i < n && !rc; i++) {
    char *name = t[i].name;
    t[i].name = NULL;
    if (session_has(r->model, 0, name)) rc = add_tensor(r, s, 0, name, &t[i]);
    else if (session_has(r->model, 1, name)) rc = add_tensor(r, s, 1, name, &t[i]);
    else if (n == 1 && ferry_session_n_inputs(r->model) == 1) rc = add_tensor(r, s, 0, ferry_session_input_name(r->model, 0), &t[i]);
    else rc = ferry_fail(r->err, FERRY_E_INPUT, "%s: array '%s' names neither an input nor an output of %s", path, name, r->o->model);
    free(name);
  }
  ferry_vtensors_free(t, n);
  return rc;
}

static const char *only_input(run *r, const char *path) {
  if (ferry_session_n_inputs(r->model) == 1) return ferry_session_input_name(r->model, 0);
  ferry_fail(r->err, FERRY_E_INPUT, "%s: one tensor for a model with %d inputs: use a test_data_set folder or an .npz",
             path, ferry_session_n_inputs(r->model));
  return NULL;
}

static int has_ext(const char *path, const char *const *exts) {
  const char *dot = strrchr(path, '.');
  for (; dot && *exts; exts++)
    if (!strcasecmp(dot + 1, *exts)) return 1;
  return 0;
}

/* The input an image feeds: the configuration's input with an image
 * section, else the model's only input. */
static const char *image_input(run *r, const char *path, const ferry_vinput_cfg **c) {
  static const ferry_vinput_cfg plain = {0};
  for (int i = 0; i < r->cfg.n_inputs; i++)
    if (r->cfg.inputs[i].has_image && strcmp(r->cfg.inputs[i].name, "*")) {
      *c = &r->cfg.inputs[i];
      if (!session_has(r->model, 0, (*c)->name))
        return ferry_fail(r->err, FERRY_E_INPUT, "%s: the configuration's image input '%s' is not an input of %s",
                          r->o->config, (*c)->name, r->o->model), NULL;
      return (*c)->name;
    }
  const char *name = only_input(r, path);
  if (name) {
    *c = ferry_vconfig_input(&r->cfg, name);
    if (!*c) *c = &plain;
  }
  return name;
}

static int read_data_path(run *r, const char *path) {
  static const char *const images[] = {"png", "jpg", "jpeg", "bmp", "gif", "tga", "ppm", "pgm", "psd", "hdr", NULL};
  static const char *const npz[] = {"npz", NULL};
  struct stat st;
  if (stat(path, &st)) return ferry_fail(r->err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return read_folder(r, path);
  if (has_ext(path, npz)) return read_npz(r, path);
  sample *s;
  const char *name;
  if (has_ext(path, images)) {
    const ferry_vinput_cfg *c;
    ferry_vtensor t;
    if (!(name = image_input(r, path, &c)) || ferry_image_tensor(path, c, &t, r->err)) return r->err->code;
    if (!(s = new_sample(r, path))) return ferry_vtensor_free(&t), r->err->code;
    return add_tensor(r, s, 0, name, &t);
  }
  ferry_host_tensor h;
  if (!(name = only_input(r, path))) return r->err->code;
  if (ferry_tensor_read(path, &h, r->err)) return r->err->code;
  if (!(s = new_sample(r, path))) return ferry_host_tensor_free(&h), r->err->code;
  return from_host(r, s, 0, name, &h);
}

static int random_samples(run *r) {
  const ferry_validate_opts *o = r->o;
  uint64_t seed = o->has_seed ? o->seed : r->cfg.has_seed ? r->cfg.seed : 0, rng = seed;
  int n = o->samples ? o->samples : r->cfg.samples ? r->cfg.samples : 1;
  for (int k = 0; k < n; k++) {
    char name[96];
    snprintf(name, sizeof name, "random_%d (seed %llu)", k, (unsigned long long)seed);
    sample *s = new_sample(r, name);
    if (!s) return r->err->code;
    for (int i = 0; i < ferry_session_n_inputs(r->model); i++) {
      const ferry_io_info *info = ferry_session_input_info(r->model, i);
      ferry_vtensor t;
      if (ferry_random_tensor(info, ferry_vconfig_input(&r->cfg, info->name), r->dims, r->n_dims, &rng, &t, r->err) ||
          add_tensor(r, s, 0, info->name, &t))
        return ferry_err_prefix(r->err, o->model);
    }
  }
  return 0;
}

/* ---- settings ---- */

static int settings(run *r) {
  const ferry_validate_opts *o = r->o;
  if (o->config && ferry_vconfig_load(o->config, &r->cfg, r->err)) return r->err->code;
  if (!o->config) ferry_vlimits_unset(&r->cfg.defaults);
  r->top = r->cfg.defaults;
  if (!isnan(o->atol)) r->top.atol = o->atol;
  if (!isnan(o->rtol)) r->top.rtol = o->rtol;
  r->n_dims = o->n_dims + r->cfg.n_dims;
  if (!(r->dims = calloc((size_t)r->n_dims + 1, sizeof *r->dims))) return oom(r);
  if (o->n_dims) memcpy(r->dims, o->dims, (size_t)o->n_dims * sizeof *r->dims);
  if (r->cfg.n_dims) memcpy(r->dims + o->n_dims, r->cfg.dims, (size_t)r->cfg.n_dims * sizeof *r->dims);
  return 0;
}

static ferry_vlimits limits_for(const run *r, const char *output) {
  ferry_vlimits l;
  ferry_vlimits_unset(&l);
  const ferry_voutput_cfg *exact = NULL, *any = NULL;
  for (int i = 0; i < r->cfg.n_outputs; i++) {
    if (!exact && !strcmp(r->cfg.outputs[i].name, output)) exact = &r->cfg.outputs[i];
    if (!any && !strcmp(r->cfg.outputs[i].name, "*")) any = &r->cfg.outputs[i];
  }
  if (exact) l = exact->lim;
  if (any) ferry_vlimits_inherit(&l, &any->lim); /* "*": every output's entry */
  ferry_vlimits_inherit(&l, &r->top);
  ferry_vlimits_resolve(&l);
  return l;
}

/* ---- running and judging ---- */

/* The inputs of session `s` from sample `sm`, in the session's order. */
static int gather_inputs(run *r, ferry_session *s, const char *model, const sample *sm, ferry_tview *in) {
  int n = ferry_session_n_inputs(s);
  for (int i = 0; i < n; i++) {
    const char *name = ferry_session_input_name(s, i);
    const ferry_vtensor *t = find_tensor(sm->in, sm->n_in, name);
    if (!t && n == sm->n_in) t = &sm->in[i]; /* a reference model naming its inputs otherwise: by position */
    if (!t) return ferry_fail(r->err, FERRY_E_INPUT, "%s: sample %s has no data for input '%s' of %s", sm->name, sm->name, name, model);
    in[i] = t->v;
  }
  return 0;
}

static int run_session(run *r, ferry_session *s, const char *model, const sample *sm, ferry_tview *out) {
  int n = ferry_session_n_inputs(s);
  ferry_tview *in = calloc((size_t)n + 1, sizeof *in);
  if (!in) return oom(r);
  int rc = gather_inputs(r, s, model, sm, in);
  if (!rc && (rc = ferry_session_run(s, in, n, out, r->err))) ferry_err_prefix(r->err, model);
  free(in);
  return rc;
}

static ferry_vresult *new_result(run *r, const sample *sm, const char *output, const ferry_tview *actual) {
  ferry_vreport *rep = r->rep;
  if (rep->n == r->cap_r) {
    int cap = r->cap_r ? 2 * r->cap_r : 16;
    ferry_vresult *x = realloc(rep->r, (size_t)cap * sizeof *x);
    if (!x) return oom(r), NULL;
    rep->r = x, r->cap_r = cap;
  }
  ferry_vresult *res = &rep->r[rep->n];
  memset(res, 0, sizeof *res);
  if (!(res->sample = strdup(sm->name)) || !(res->output = strdup(output))) {
    free(res->sample);
    return oom(r), NULL;
  }
  rep->n++;
  res->m.worst = -1;
  res->m.top1 = res->m.topk = NAN;
  res->dtype = actual->dtype, res->rank = actual->rank;
  memcpy(res->dims, actual->dims, sizeof res->dims);
  res->lim = limits_for(r, output);
  return res;
}

static int judge(run *r, const sample *sm, const char *output, const ferry_tview *actual, const ferry_tview *expected) {
  ferry_vresult *res = new_result(r, sm, output, actual);
  if (!res) return r->err->code;
  if (!expected) snprintf(res->reason, sizeof res->reason, "the reference model has no output '%s'", output);
  else res->passed = ferry_vcompare(actual, expected, &res->lim, &res->m, res->reason, sizeof res->reason);
  r->rep->n_failed += !res->passed;
  return 0;
}

static int check_sample(run *r, const sample *sm) {
  int no = ferry_session_n_outputs(r->model), nr = r->ref ? ferry_session_n_outputs(r->ref) : 0;
  ferry_tview *out = calloc((size_t)no + 1, sizeof *out), *ref = calloc((size_t)nr + 1, sizeof *ref);
  int rc = out && ref ? 0 : oom(r), compared = 0;
  if (!rc) rc = run_session(r, r->model, r->o->model, sm, out);
  if (!rc && r->ref) rc = run_session(r, r->ref, r->o->reference, sm, ref);
  for (int k = 0; k < no && !rc; k++) {
    const char *name = ferry_session_output_name(r->model, k);
    const ferry_tview *want = NULL;
    if (r->ref) {
      for (int j = 0; j < nr; j++)
        if (!strcmp(ferry_session_output_name(r->ref, j), name)) want = &ref[j];
    } else {
      const ferry_vtensor *t = find_tensor(sm->ref, sm->n_ref, name);
      if (!t) continue; /* nothing recorded for this output */
      want = &t->v;
    }
    rc = judge(r, sm, name, &out[k], want);
    compared++;
  }
  if (!rc && !compared && no)
    rc = ferry_fail(r->err, FERRY_E_INPUT, "%s: no reference outputs for sample %s: give --reference MODEL, or data with recorded outputs (output_K.pb, or .npz arrays named after outputs)", sm->name, sm->name);
  free(out);
  free(ref);
  return rc;
}

static int open_sessions(run *r) {
  ferry_session_opts so = {.threads = r->o->threads};
  if (!(r->model = ferry_host_session_open(r->o->model, &so, &r->hm_model, r->err))) return r->err->code;
  if (r->o->reference && !(r->ref = ferry_host_session_open(r->o->reference, &so, &r->hm_ref, r->err)))
    return r->err->code;
  return 0;
}

static int first_failed_sample(const run *r) {
  for (int i = 0; i < r->rep->n; i++)
    if (!r->rep->r[i].passed)
      for (int k = 0; k < r->n_s; k++)
        if (!strcmp(r->s[k].name, r->rep->r[i].sample)) return k;
  return -1;
}

static int bisect(run *r) {
  int k = first_failed_sample(r);
  if (k < 0 || !r->o->bisect) return 0;
  ferry_vbisect *b = &r->rep->bisect;
  if (!(b->sample = strdup(r->s[k].name))) return oom(r);
  return ferry_vbisect_run(r->o->model, r->o->reference, r->s[k].in, r->s[k].n_in, &r->top, r->o->threads, b, r->err);
}

static int validate(run *r) {
  const ferry_validate_opts *o = r->o;
  if (o->bisect && !o->reference)
    return ferry_fail(r->err, FERRY_E_INPUT, "--bisect compares with a reference model: give --reference MODEL");
  if (settings(r) || open_sessions(r)) return r->err->code;
  for (int i = 0; i < o->n_data; i++)
    if (read_data_path(r, o->data[i])) return r->err->code;
  if (!o->n_data && random_samples(r)) return r->err->code;
  if (!o->reference)
    for (int i = 0; i < r->n_s; i++)
      if (!r->s[i].n_ref)
        return ferry_fail(r->err, FERRY_E_INPUT, "%s: no recorded outputs to compare with: give --reference MODEL", r->s[i].name);
  r->rep->n_samples = r->n_s;
  for (int i = 0; i < r->n_s; i++)
    if (check_sample(r, &r->s[i])) return r->err->code;
  return bisect(r);
}

int ferry_validate_run(const ferry_validate_opts *o, ferry_vreport *rep, ferry_err *err) {
  run r = {.o = o, .rep = rep, .err = err};
  memset(rep, 0, sizeof *rep);
  double t0 = now();
  int rc = 0;
  if (!(rep->model = strdup(o->model)) || !(rep->reference = strdup(o->reference ? o->reference : "recorded outputs")))
    rc = oom(&r);
  if (!rc) rc = validate(&r);
  rep->seconds = now() - t0;
  for (int i = 0; i < r.n_s; i++) free_sample(&r.s[i]);
  free(r.s);
  free(r.dims);
  ferry_vconfig_free(&r.cfg);
  if (r.model) ferry_session_close(r.model);
  if (r.ref) ferry_session_close(r.ref);
  ferry_host_model_free(&r.hm_model);
  ferry_host_model_free(&r.hm_ref);
  if (rc) ferry_vreport_free(rep);
  return rc;
}

void ferry_vreport_free(ferry_vreport *rep) {
  for (int i = 0; i < rep->n; i++) {
    free(rep->r[i].sample);
    free(rep->r[i].output);
  }
  free(rep->r);
  free(rep->model);
  free(rep->reference);
  ferry_vbisect_free(&rep->bisect);
  memset(rep, 0, sizeof *rep);
}
