/*
 * report.c - what `ferry validate` tells: the terminal table, a JSON file
 * and a JUnit XML file (validate.h).
 *
 * The table has one row per (sample, output) with the metrics and the
 * verdict, and under each row the worst element (its index in the output's
 * shape and both values) and, for a failure, the reason. Files are written
 * to a temporary file in the target's folder and renamed into place, so a
 * reader never sees half a report. Strings are escaped for their format,
 * and bytes that are not valid UTF-8 become '?', so that any model's names
 * give a well-formed file. Non-finite numbers are null in JSON.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "validate.h"

/* ---- text helpers ---- */

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. */
static int utf8_len(const unsigned char *s) {
  int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 2 && s[0] < 0xc2) return 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}

static void put_escaped(FILE *f, const char *str, int xml) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    int n = utf8_len(s);
    if (!n) {
      fputc('?', f), s++;
      continue;
    }
    if (n > 1) {
      fwrite(s, 1, (size_t)n, f), s += n;
      continue;
    }
    unsigned char c = *s++;
    if (xml) {
      if (c == '&') fputs("&amp;", f);
      else if (c == '<') fputs("&lt;", f);
      else if (c == '>') fputs("&gt;", f);
      else if (c == '"') fputs("&quot;", f);
      else if (c == '\'') fputs("&apos;", f);
      else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') fputc('?', f);
      else fputc(c, f);
    } else {
      if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
      else if (c < 0x20) fprintf(f, "\\u%04x", c);
      else fputc(c, f);
    }
  }
}

/* The flat index i as a multi-index in the shape: "[0, 412]". */
static void index_str(const ferry_vresult *r, int64_t i, char *out, size_t n) {
  int64_t idx[FERRY_MAX_RANK];
  for (int d = r->rank - 1; d >= 0; d--) {
    int64_t dim = r->dims[d] > 0 ? r->dims[d] : 1;
    idx[d] = i % dim, i /= dim;
  }
  size_t k = (size_t)snprintf(out, n, "[");
  for (int d = 0; d < r->rank && k < n; d++) k += (size_t)snprintf(out + k, n - k, "%s%lld", d ? ", " : "", (long long)idx[d]);
  if (k < n) snprintf(out + k, n - k, "]");
}

static void shape_str(const ferry_vresult *r, char *out, size_t n) {
  size_t k = (size_t)snprintf(out, n, "%s [", ferry_dtype_name(r->dtype));
  for (int d = 0; d < r->rank && k < n; d++) k += (size_t)snprintf(out + k, n - k, "%s%lld", d ? ", " : "", (long long)r->dims[d]);
  if (k < n) snprintf(out + k, n - k, "]");
}

/* ---- the terminal table ---- */

static const char *fit(const char *s, int w, char *buf, size_t n) {
  size_t len = strlen(s);
  if ((int)len <= w) return s;
  snprintf(buf, n, "...%s", s + len - (size_t)(w - 3));
  return buf;
}

static void num(FILE *f, double v, const char *fmt, int w) {
  if (isnan(v)) fprintf(f, "%-*s", w, "-");
  else if (isinf(v)) fprintf(f, "%-*s", w, v > 0 ? "inf" : "-inf");
  else {
    char b[32];
    snprintf(b, sizeof b, fmt, v);
    fprintf(f, "%-*s", w, b);
  }
}

static void print_row(FILE *f, const ferry_vresult *r, int ws, int wo) {
  char b1[256], b2[256];
  const ferry_vmetrics *m = &r->m;
  fprintf(f, "%-*s  %-*s  ", ws, fit(r->sample, ws, b1, sizeof b1), wo, fit(r->output, wo, b2, sizeof b2));
  if (!m->n) {
    fprintf(f, "%-79s%s\n", "-", r->passed ? "pass" : "FAIL");
  } else {
    num(f, m->max_abs, "%.3g", 10);
    num(f, m->mean_abs, "%.3g", 10);
    num(f, m->max_rel, "%.3g", 10);
    num(f, m->cosine, "%.6f", 10);
    num(f, m->snr_db, "%.1f", 8);
    num(f, m->max_ulp, "%.0f", 13);
    num(f, m->top1 * 100, "%.1f%%", 8);
    num(f, m->nmse, "%.2g", 10);
    fprintf(f, "%s\n", r->passed ? "pass" : "FAIL");
  }
  if (m->worst >= 0) {
    index_str(r, m->worst, b1, sizeof b1);
    shape_str(r, b2, sizeof b2);
    fprintf(f, "    %s: worst %s: got %.9g, expected %.9g (|diff| %.3g); %lld of %lld beyond atol %g, rtol %g%s\n", b2, b1,
            m->worst_actual, m->worst_expected, fabs(m->worst_actual - m->worst_expected), (long long)m->n_failed,
            (long long)m->n, r->lim.atol, r->lim.rtol, r->lim.elementwise ? "" : " (not enforced)");
  }
  if (!isnan(m->topk) && m->n) fprintf(f, "    top-%d agreement %.1f%%\n", m->k, m->topk * 100);
  if (!r->passed) fprintf(f, "    FAIL: %s\n", r->reason);
}

static void print_bisect(const ferry_vbisect *b, FILE *f) {
  if (!b->ran) return;
  fprintf(f, "\nbisect on %s: %d values compared, %d only on one side (fused or renamed)\n", b->sample, b->compared,
          b->skipped);
  if (!b->found) {
    fprintf(f, "  no intermediate value diverges beyond tolerance%s%s\n", b->reason[0] ? ": " : "", b->reason);
    return;
  }
  fprintf(f, "  first diverging node: '%s' (%s", b->node, b->op);
  if (b->model_op && strcmp(b->model_op, b->op)) fprintf(f, "; %s in the model", b->model_op);
  fprintf(f, "), output '%s': %s\n", b->output, b->reason);
  fprintf(f, "    output error: max abs %.3g, max rel %.3g, cosine %.6f\n", b->m.max_abs, b->m.max_rel, b->m.cosine);
  static const char *const states[] = {"", "missing on one side", "weight or constant", "graph input"};
  for (int i = 0; i < b->n_inputs; i++) {
    const ferry_vbisect_input *in = &b->inputs[i];
    fprintf(f, "    input '%s'%s%s: ", in->name, in->state ? ", " : "", states[in->state]);
    if (in->state == 1) fprintf(f, "not compared\n");
    else fprintf(f, "max abs %.3g, max rel %.3g, cosine %.6f%s\n", in->m.max_abs, in->m.max_rel, in->m.cosine,
                 in->diverged ? " (DIVERGES)" : "");
  }
}

void ferry_vreport_print(const ferry_vreport *rep, FILE *f) {
  int ws = 6, wo = 6;
  for (int i = 0; i < rep->n; i++) {
    int ls = (int)strlen(rep->r[i].sample), lo = (int)strlen(rep->r[i].output);
    if (ls > ws) ws = ls < 40 ? ls : 40;
    if (lo > wo) wo = lo < 24 ? lo : 24;
  }
  fprintf(f, "ferry validate: %s against %s, %d sample%s, %d check%s\n\n", rep->model, rep->reference, rep->n_samples,
          rep->n_samples == 1 ? "" : "s", rep->n, rep->n == 1 ? "" : "s");
  fprintf(f, "%-*s  %-*s  %-10s%-10s%-10s%-10s%-8s%-13s%-8s%-10s%s\n", ws, "SAMPLE", wo, "OUTPUT", "MAX ABS", "MEAN ABS",
          "MAX REL", "COSINE", "SNR dB", "MAX ULP", "TOP-1", "NMSE", "RESULT");
  for (int i = 0; i < rep->n; i++) print_row(f, &rep->r[i], ws, wo);
  print_bisect(&rep->bisect, f);
  fprintf(f, "\n%s: %d of %d checks passed (%.2f s)\n", rep->n_failed ? "FAILED" : "PASSED", rep->n - rep->n_failed,
          rep->n, rep->seconds);
}

/* ---- files ---- */

typedef struct out {
  char tmp[4200];
  FILE *f;
} out;

static int open_out(out *o, const char *path, ferry_err *err) {
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(o->tmp);
  if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
    if (fd >= 0) close(fd), unlink(o->tmp);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot write it: %s", path, strerror(errno));
  }
  return 0;
}

static int close_out(out *o, const char *path, ferry_err *err) {
  int ok = fflush(o->f) == 0 && !ferror(o->f) && fsync(fileno(o->f)) == 0;
  ok = fclose(o->f) == 0 && ok;
  if (!ok || rename(o->tmp, path)) {
    unlink(o->tmp);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot write it: %s", path, strerror(errno));
  }
  return 0;
}

static void jnum(FILE *f, const char *key, double v) {
  fprintf(f, "\"%s\": ", key);
  if (isfinite(v)) fprintf(f, "%.9g", v);
  else fprintf(f, "null");
}

static void jstr(FILE *f, const char *key, const char *v) {
  fprintf(f, "\"%s\": \"", key);
  put_escaped(f, v, 0);
  fputc('"', f);
}

static void json_metrics(FILE *f, const ferry_vmetrics *m) {
  fprintf(f, "{\"elements\": %lld, \"failed_elements\": %lld, \"nan_mismatches\": %lld, \"nonfinite_mismatches\": %lld, ", (long long)m->n,
          (long long)m->n_failed, (long long)m->n_nan, (long long)m->n_nonfinite);
  jnum(f, "max_abs", m->max_abs), fputs(", ", f);
  jnum(f, "mean_abs", m->mean_abs), fputs(", ", f);
  jnum(f, "max_rel", m->max_rel), fputs(", ", f);
  jnum(f, "cosine", m->cosine), fputs(", ", f);
  jnum(f, "snr_db", m->snr_db), fputs(", ", f);
  jnum(f, "nmse", m->nmse), fputs(", ", f);
  jnum(f, "max_ulp", m->max_ulp), fputs(", ", f);
  jnum(f, "top1", m->top1), fputs(", ", f);
  jnum(f, "topk", m->topk);
  fprintf(f, ", \"k\": %d}", m->k);
}

static void json_result(FILE *f, const ferry_vresult *r) {
  fputs("    {", f);
  jstr(f, "sample", r->sample), fputs(", ", f);
  jstr(f, "output", r->output), fputs(", ", f);
  fprintf(f, "\"passed\": %s, ", r->passed ? "true" : "false");
  jstr(f, "reason", r->reason), fputs(", ", f);
  fprintf(f, "\"dtype\": \"%s\", \"shape\": [", ferry_dtype_name(r->dtype));
  for (int d = 0; d < r->rank; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)r->dims[d]);
  fputs("],\n     \"metrics\": ", f);
  json_metrics(f, &r->m);
  fputs(",\n     \"worst\": ", f);
  if (r->m.worst < 0) fputs("null", f);
  else {
    char idx[256];
    index_str(r, r->m.worst, idx, sizeof idx);
    fprintf(f, "{\"index\": %s, ", idx);
    jnum(f, "actual", r->m.worst_actual), fputs(", ", f);
    jnum(f, "expected", r->m.worst_expected), fputs("}", f);
  }
  fputs(",\n     \"limits\": {", f);
  jnum(f, "atol", r->lim.atol), fputs(", ", f);
  jnum(f, "rtol", r->lim.rtol);
  fprintf(f, ", \"elementwise\": %s", r->lim.elementwise ? "true" : "false");
  const struct {
    const char *k;
    double v;
  } opt[] = {{"cosine", r->lim.min_cosine}, {"snr_db", r->lim.min_snr_db}, {"nmse", r->lim.max_nmse},
             {"max_abs", r->lim.max_abs},   {"mean_abs", r->lim.max_mean_abs}, {"ulp", r->lim.max_ulp},
             {"top1", r->lim.min_top1},     {"topk", r->lim.min_topk}};
  for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
    if (!isnan(opt[i].v)) fputs(", ", f), jnum(f, opt[i].k, opt[i].v);
  fputs("}}", f);
}

static void json_bisect(FILE *f, const ferry_vbisect *b) {
  if (!b->ran) {
    fputs("null", f);
    return;
  }
  fputs("{", f);
  jstr(f, "sample", b->sample ? b->sample : ""), fputs(", ", f);
  fprintf(f, "\"compared\": %d, \"skipped\": %d, \"found\": %s", b->compared, b->skipped, b->found ? "true" : "false");
  if (b->found) {
    fputs(", ", f), jstr(f, "node", b->node);
    fputs(", ", f), jstr(f, "op", b->op);
    fputs(", ", f), jstr(f, "model_op", b->model_op ? b->model_op : "");
    fputs(", ", f), jstr(f, "output", b->output);
    fputs(", ", f), jstr(f, "reason", b->reason);
    fputs(", \"error\": ", f), json_metrics(f, &b->m);
    fputs(", \"inputs\": [", f);
    static const char *const states[] = {"compared", "missing", "weight", "graph_input"};
    for (int i = 0; i < b->n_inputs; i++) {
      fputs(i ? ", {" : "{", f);
      jstr(f, "name", b->inputs[i].name);
      fprintf(f, ", \"state\": \"%s\", \"diverged\": %s, \"error\": ", states[b->inputs[i].state],
              b->inputs[i].diverged ? "true" : "false");
      json_metrics(f, &b->inputs[i].m);
      fputs("}", f);
    }
    fputs("]", f);
  }
  fputs("}", f);
}

int ferry_vreport_write_json(const ferry_vreport *rep, const char *path, ferry_err *err) {
  out o;
  if (open_out(&o, path, err)) return err->code;
  FILE *f = o.f;
  fputs("{", f);
  jstr(f, "model", rep->model), fputs(", ", f);
  jstr(f, "reference", rep->reference);
  fprintf(f, ", \"passed\": %s, \"samples\": %d, \"checks\": %d, \"failed\": %d, ", rep->n_failed ? "false" : "true",
          rep->n_samples, rep->n, rep->n_failed);
  jnum(f, "seconds", rep->seconds);
  fputs(",\n  \"results\": [\n", f);
  for (int i = 0; i < rep->n; i++) {
    json_result(f, &rep->r[i]);
    fputs(i + 1 < rep->n ? ",\n" : "\n", f);
  }
  fputs("  ],\n  \"bisect\": ", f);
  json_bisect(f, &rep->bisect);
  fputs("}\n", f);
  return close_out(&o, path, err);
}

static void junit_case(FILE *f, const ferry_vresult *r) {
  char idx[256] = "-", shape[256];
  shape_str(r, shape, sizeof shape);
  if (r->m.worst >= 0) index_str(r, r->m.worst, idx, sizeof idx);
  fputs("    <testcase classname=\"", f);
  put_escaped(f, r->sample, 1);
  fputs("\" name=\"", f);
  put_escaped(f, r->output, 1);
  fputs("\" time=\"0\">\n", f);
  char text[1024];
  snprintf(text, sizeof text,
           "%s: max_abs %.6g, mean_abs %.6g, max_rel %.6g, cosine %.9g, snr_db %.4g, nmse %.4g, max_ulp %.6g, top1 %.4g, "
           "topk %.4g; worst %s got %.9g expected %.9g; %lld of %lld elements beyond atol %g rtol %g",
           shape, r->m.max_abs, r->m.mean_abs, r->m.max_rel, r->m.cosine, r->m.snr_db, r->m.nmse, r->m.max_ulp, r->m.top1,
           r->m.topk, idx, r->m.worst_actual, r->m.worst_expected, (long long)r->m.n_failed, (long long)r->m.n,
           r->lim.atol, r->lim.rtol);
  if (!r->passed) {
    fputs("      <failure type=\"accuracy\" message=\"", f);
    put_escaped(f, r->reason, 1);
    fputs("\">", f);
    put_escaped(f, text, 1);
    fputs("</failure>\n", f);
  }
  fputs("      <system-out>", f);
  put_escaped(f, text, 1);
  fputs("</system-out>\n    </testcase>\n", f);
}

int ferry_vreport_write_junit(const ferry_vreport *rep, const char *path, ferry_err *err) {
  out o;
  if (open_out(&o, path, err)) return err->code;
  FILE *f = o.f;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ferry validate\" tests=\"%d\" failures=\"%d\" "
             "errors=\"0\" time=\"%.3f\">\n  <testsuite name=\"",
          rep->n, rep->n_failed, rep->seconds);
  put_escaped(f, rep->model, 1);
  fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", rep->n, rep->n_failed,
          rep->seconds);
  fputs("    <properties>\n      <property name=\"reference\" value=\"", f);
  put_escaped(f, rep->reference, 1);
  fputs("\"/>\n", f);
  if (rep->bisect.found) {
    char v[1024];
    snprintf(v, sizeof v, "first diverging node '%s' (%s), output '%s': %s", rep->bisect.node, rep->bisect.op,
             rep->bisect.output, rep->bisect.reason);
    fputs("      <property name=\"bisect\" value=\"", f);
    put_escaped(f, v, 1);
    fputs("\"/>\n", f);
  }
  fputs("    </properties>\n", f);
  for (int i = 0; i < rep->n; i++) junit_case(f, &rep->r[i]);
  fputs("  </testsuite>\n</testsuites>\n", f);
  return close_out(&o, path, err);
}
