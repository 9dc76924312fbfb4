/*
 * ferry_native.c - times ferry_session_run of a .ferry bundle natively, one
 * thread, the way bench/models.mjs times the other runtimes: WARMUP runs,
 * then the median of RUNS runs (no process start, no file reading in the
 * timing). Built and used by bench/models.sh.
 *
 *   ferry_native BUNDLE RUNS WARMUP INPUT...
 *
 * INPUT is FILE:D0xD1x... (raw little-endian data of the input's declared
 * dtype, in the session's input order, written by models.mjs so that every
 * runtime gets the same bytes; a rank-0 input is FILE:). Prints every
 * timed run, then the summary (ms):
 *   times 12.400 12.001 ...
 *   median 12.345 min 12.001 max 13.200 (ms)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry.h"

static void *map_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    perror(path);
    exit(2);
  }
  *len = (size_t)st.st_size;
  void *p = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : malloc(1);
  if (p == MAP_FAILED) {
    perror(path);
    exit(2);
  }
  close(fd);
  return p;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ferry_native BUNDLE RUNS WARMUP FILE:D0xD1...\n");
    return 2;
  }
  int runs = atoi(argv[2]), warm = atoi(argv[3]);
  size_t len;
  void *buf = map_file(argv[1], &len);
  ferry_err err = {0};
  ferry_session_opts o = {.threads = 1};
  ferry_session *s = ferry_session_open(buf, len, &o, &err);
  if (!s) {
    fprintf(stderr, "ferry_native: %s\n", err.msg);
    return 2;
  }
  if (ferry_session_missing_shard(s) >= 0) {  /* shards BUNDLE.1, BUNDLE.2, ... */
    for (int k; (k = ferry_session_missing_shard(s)) >= 0;) {
      char path[4096];
      size_t slen;
      snprintf(path, sizeof path, "%s.%d", argv[1], k);
      void *sb = map_file(path, &slen);
      if (ferry_session_add_shard(s, k, sb, slen, &err)) {
        fprintf(stderr, "ferry_native: %s\n", err.msg);
        return 2;
      }
    }
  }
  int n = ferry_session_n_inputs(s);
  if (argc - 4 != n) {
    fprintf(stderr, "ferry_native: the model has %d inputs, %d given\n", n, argc - 4);
    return 2;
  }
  ferry_tview *in = calloc((size_t)n + 1, sizeof *in);
  ferry_tview *out = calloc((size_t)ferry_session_n_outputs(s) + 1, sizeof *out);
  for (int i = 0; i < n; i++) {
    char *spec = argv[4 + i], *colon = strrchr(spec, ':');
    if (!colon) {
      fprintf(stderr, "ferry_native: %s: FILE:DIMS expected\n", spec);
      return 2;
    }
    *colon = 0;
    size_t flen;
    in[i].data = map_file(spec, &flen);
    in[i].dtype = ferry_session_input_info(s, i)->dtype;
    in[i].numel = 1;
    for (char *d = colon + 1; *d;) {
      char *end;
      in[i].dims[in[i].rank] = strtoll(d, &end, 10);
      in[i].numel *= in[i].dims[in[i].rank++];
      d = *end == 'x' ? end + 1 : end;
      if (end == d && *d) break;
    }
  }
  double *t = malloc(sizeof(double) * (size_t)(runs > 0 ? runs : 1));
  for (int i = 0; i < warm + runs; i++) {
    double t0 = now_ms();
    if (ferry_session_run(s, in, n, out, &err)) {
      fprintf(stderr, "ferry_native: %s\n", err.msg);
      return 2;
    }
    if (i >= warm) t[i - warm] = now_ms() - t0;
  }
  printf("times");
  for (int i = 0; i < runs; i++) printf(" %.3f", t[i]);
  printf("\n");
  qsort(t, (size_t)runs, sizeof *t, cmp);
  double med = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
  printf("median %.3f min %.3f max %.3f (ms)\n", med, t[0], t[runs - 1]);
  ferry_session_close(s);
  return 0;
}
