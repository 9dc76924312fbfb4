/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "test setup: $%s is not set (run the tests with make check)\n", name);
    exit(1);
  }
  return v;
}

const char *tu_model(const char *rel) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", tu_env("FERRY_TEST_MODELS"), rel);
  return buf;
}

char *tu_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *p = realloc(buf, 2 * cap + 1);
      if (!p) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = 0;
  if (len) *len = n;
  return buf;
}

int tu_write(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  return (fclose(f) == 0 && w == len) ? 0 : -1;
}

const char *tu_tmpdir(void) {
  static char buf[64];
  strcpy(buf, "/tmp/ferry-test-XXXXXX");
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    exit(1);
  }
  return buf;
}

int tu_run(const char *args, char **out, char **err) {
  char dir[64] = "/tmp/ferry-run-XXXXXX"; /* its own: tu_tmpdir's buffer is the caller's */
  if (!mkdtemp(dir)) return -1;
  char cmd[16384], o[128], e[128];
  snprintf(o, sizeof o, "%s/out", dir);
  snprintf(e, sizeof e, "%s/err", dir);
  snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s >%s 2>%s", tu_env("FERRY"), args, o, e);
  int st = system(cmd);
  if (out) *out = tu_read(o, NULL);
  if (err) *err = tu_read(e, NULL);
  unlink(o);
  unlink(e);
  rmdir(dir);
  if (st == -1 || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}
