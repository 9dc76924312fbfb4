/*
 * pack.c - `ferry pack` (pack.h): model -> static web folder.
 *
 * ferry_pack runs four steps into a temporary sibling folder and renames it
 * into place at the end:
 *   1. convert  ferry_convert_file into TMP/model.ferry (uncompressed shards);
 *   2. copy     the web files found by ferry_pack_find_assets;
 *   3. describe open the bundle with the runtime (as the browser will) for
 *               the IO signature and weight encodings, hash every shard;
 *   4. manifest TMP/manifest.json (temp + rename), then TMP -> DIR.
 * Any failure removes TMP (remove_tree). Replacing an existing pack moves
 * the old folder aside first, so DIR is never a mix of two packs.
 */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "convert.h"
#include "sha256.h"
#include "tensor_io.h"

const char *const ferry_pack_assets[FERRY_PACK_N_ASSETS] = {
    "ferry.wasm", "ferry.js", "ferry-wasm.js", "ferry-worker.js", "ferry.d.ts", "index.html", "ferry-relaxed.wasm",
};

#define MODEL_NAME "model.ferry"
#define PATH_CAP 4096

/* ---- files ---- */

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* rm -rf path (no error if it is not there). */
static void remove_tree(const char *path) {
  if (path && path[0]) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copies file `src` to `dst` (created, not there yet); 0 or the error. */
static int copy_file(const char *src, const char *dst, ferry_err *err) {
  int in = open(src, O_RDONLY), out = -1, rc = 0;
  if (in < 0) return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", src, strerror(errno));
  out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (out < 0) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", dst, strerror(errno));
  char buf[1 << 16];
  while (!rc) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", src, strerror(errno));
    if (n <= 0) break;
    for (ssize_t at = 0; at < n && !rc;) {
      ssize_t w = write(out, buf + at, (size_t)(n - at));
      if (w < 0) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", dst, strerror(errno));
      else at += w;
    }
  }
  if (out >= 0 && close(out) && !rc) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", dst, strerror(errno));
  close(in);
  return rc;
}

/* ---- where the web files are ---- */

/* BUILD of the running binary when it is BUILD/cli/ferry (a build tree,
 * where BUILD/config.status is); "" otherwise. */
static void build_tree(char *out, size_t n) {
  char exe[PATH_CAP];
  out[0] = 0;
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return;
  exe[len] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  *slash = 0; /* BUILD/cli */
  slash = strrchr(exe, '/');
  if (!slash || strcmp(slash, "/cli")) return;
  *slash = 0;
  char probe[PATH_CAP + 32];
  snprintf(probe, sizeof probe, "%s/config.status", exe);
  if (is_file(probe)) snprintf(out, n, "%s", exe);
}

int ferry_pack_find_assets(const ferry_pack_opts *opts, char paths[FERRY_PACK_N_ASSETS][4096], ferry_err *err) {
  char dirs[4][PATH_CAP];
  int n = 0;
  const char *env = getenv("FERRY_DATADIR");
  if (opts && opts->datadir) snprintf(dirs[n++], PATH_CAP, "%s", opts->datadir);
  else if (env && env[0]) snprintf(dirs[n++], PATH_CAP, "%s", env);
  else {
    char top[PATH_CAP];
    build_tree(top, sizeof top);
    if (top[0]) {
      snprintf(dirs[n++], PATH_CAP, "%.4080s/runtime/web", top);
      snprintf(dirs[n++], PATH_CAP, "%.4084s/runtime", top);
    }
    if (opts && opts->pkgdatadir) snprintf(dirs[n++], PATH_CAP, "%s", opts->pkgdatadir);
  }
  for (int k = 0; k < FERRY_PACK_RELAXED; k++) {
    int found = 0;
    for (int d = 0; d < n && !found; d++) {
      snprintf(paths[k], PATH_CAP, "%.4000s/%s", dirs[d], ferry_pack_assets[k]);
      found = is_file(paths[k]);
    }
    if (found) continue;
    char where[4 * PATH_CAP + 16] = "";
    for (int d = 0; d < n; d++) {
      size_t at = strlen(where);
      snprintf(where + at, sizeof where - at, "%s%s", d ? ", " : "", dirs[d]);
    }
    return ferry_fail(err, FERRY_E_SYSTEM,
                      "%s: not found in %s (set FERRY_DATADIR to the folder `make install` fills, or build "
                      "ferry.wasm with `make`)",
                      ferry_pack_assets[k], n ? where : "no folder");
  }
  /* the relaxed-SIMD build only from ferry.wasm's folder, so both come from one build */
  char dir0[PATH_CAP];
  const char *slash = strrchr(paths[0], '/');
  snprintf(dir0, sizeof dir0, "%.*s", slash ? (int)(slash - paths[0]) : 0, paths[0]);
  snprintf(paths[FERRY_PACK_RELAXED], PATH_CAP, "%.4000s/%s", dir0, ferry_pack_assets[FERRY_PACK_RELAXED]);
  if (!slash || !is_file(paths[FERRY_PACK_RELAXED])) paths[FERRY_PACK_RELAXED][0] = 0;
  return 0;
}

/* ---- the manifest ---- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static const char *kind_name(int kind) {
  static const char *names[] = {"tensor", "sequence", "optional", "map", "sparse", "unknown"};
  return kind >= 0 && kind <= 5 ? names[kind] : "unknown";
}

static const char *encoding_name(int enc) {
  static const char *names[] = {"raw", "f16", "affine-i8", "affine-u8", "q4-32", "q8-32"};
  return enc >= 0 && enc < FERRY_ENC_COUNT ? names[enc] : "unknown";
}

/* One IO entry: {"name", "kind", "dtype", "shape"}; a symbolic dim is its name. */
static void json_io(FILE *f, const ferry_io_info *io) {
  fprintf(f, "    {\"name\": ");
  json_str(f, io->name);
  fprintf(f, ", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": ", kind_name(io->kind),
          io->dtype ? ferry_dtype_name(io->dtype) : "unknown");
  if (io->rank < 0) {
    fprintf(f, "null}");
    return;
  }
  fputc('[', f);
  for (int d = 0; d < io->rank; d++) {
    if (d) fprintf(f, ", ");
    if (io->dims[d] >= 0) fprintf(f, "%lld", (long long)io->dims[d]);
    else json_str(f, io->dim_names[d] ? io->dim_names[d] : "?");
  }
  fprintf(f, "]}");
}

typedef struct packed_file {
  char name[256];
  uint64_t size;
  char sha[65];
} packed_file;

static int describe_file(const char *dir, const char *name, packed_file *pf, ferry_err *err) {
  char path[PATH_CAP + 256];
  uint8_t digest[32];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(pf->name, sizeof pf->name, "%s", name);
  if (stat(path, &st) || ferry_sha256_file(path, digest))
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", path, strerror(errno));
  pf->size = (uint64_t)st.st_size;
  ferry_sha256_hex(digest, pf->sha);
  return 0;
}

static void json_file(FILE *f, const packed_file *pf) {
  fprintf(f, "{\"file\": ");
  json_str(f, pf->name);
  fprintf(f, ", \"size\": %llu, \"sha256\": \"%s\"}", (unsigned long long)pf->size, pf->sha);
}

/* The name of the file the bundle was converted from ("" if not recorded). */
static const char *source_file(const ferry_bmeta *meta) {
  for (int i = 0; i < meta->n_props; i++)
    if (strcmp(meta->props[2 * i].s, "source_file") == 0) return meta->props[2 * i + 1].s;
  return "";
}

/* The manifest body; s is the session on the packed bundle (hm its shards). */
static void write_manifest_body(FILE *f, ferry_session *s, const ferry_host_model *hm, const packed_file *wasm,
                                const packed_file *relaxed, const packed_file *shards, int n_shards) {
  const uint8_t *h0 = hm->maps[0];
  const ferry_bundle *b = ferry_session_bundle(s);
  const ferry_bmeta *meta = ferry_bundle_meta(b);
  char src_sha[65];
  ferry_sha256_hex(meta->source_sha256, src_sha);
  uint64_t total = wasm->size;
  for (int k = 0; k < n_shards; k++) total += shards[k].size;

  fprintf(f, "{\n  \"format\": \"ferry-pack\",\n  \"format_version\": %d,\n", FERRY_PACK_FORMAT_VERSION);
  fprintf(f, "  \"ferry_version\": \"%s\",\n", PACKAGE_VERSION);
  fprintf(f, "  \"bundle_format\": \"%u.%u\",\n", h0[8] | h0[9] << 8, h0[10] | h0[11] << 8);
  fprintf(f, "  \"bundle_id\": \"%.32s\",\n  \"source_sha256\": \"%s\",\n", src_sha, src_sha);
  fprintf(f, "  \"model\": \"%s\",\n  \"source_file\": ", MODEL_NAME);
  json_str(f, source_file(meta));
  fprintf(f, ",\n  \"compressed\": false,\n");
  fprintf(f, "  \"runtime\": ");
  json_file(f, wasm);
  if (relaxed) {
    fprintf(f, ",\n  \"runtime_relaxed\": ");
    json_file(f, relaxed);
  }
  fprintf(f, ",\n  \"shards\": [\n");
  for (int k = 0; k < n_shards; k++) {
    fprintf(f, "    ");
    json_file(f, &shards[k]);
    fprintf(f, "%s\n", k + 1 < n_shards ? "," : "");
  }
  fprintf(f, "  ],\n  \"total_bytes\": %llu,\n  \"inputs\": [\n", (unsigned long long)total);
  for (int i = 0; i < ferry_session_n_inputs(s); i++) {
    json_io(f, ferry_session_input_info(s, i));
    fprintf(f, "%s\n", i + 1 < ferry_session_n_inputs(s) ? "," : "");
  }
  fprintf(f, "  ],\n  \"outputs\": [\n");
  for (int i = 0; i < ferry_session_n_outputs(s); i++) {
    json_io(f, ferry_session_output_info(s, i));
    fprintf(f, "%s\n", i + 1 < ferry_session_n_outputs(s) ? "," : "");
  }
  int used[FERRY_ENC_COUNT] = {0}, first = 1;
  for (int t = 0; t < ferry_bundle_n_tensors(b); t++) {
    int e = ferry_bundle_tensor(b, t)->encoding;
    if (e >= 0 && e < FERRY_ENC_COUNT) used[e] = 1;
  }
  fprintf(f, "  ],\n  \"encodings\": [");
  for (int e = 0; e < FERRY_ENC_COUNT; e++)
    if (used[e]) fprintf(f, "%s\"%s\"", first ? "" : ", ", encoding_name(e)), first = 0;
  fprintf(f, "],\n  \"features\": [\"wasm-simd128\", \"wasm-bulk-memory\"]\n}\n");
}

/* Hashes the shards, opens the bundle for its signature and writes
 * TMP/manifest.json through a temporary file. */
static int write_manifest(const char *tmp, ferry_pack_report *rep, ferry_err *err) {
  char path[PATH_CAP + 64], name[64];
  packed_file wasm, relaxed, *shards = NULL;
  int n = 0, rc = describe_file(tmp, "ferry.wasm", &wasm, err), has_relaxed = 0;
  snprintf(path, sizeof path, "%s/%s", tmp, ferry_pack_assets[FERRY_PACK_RELAXED]);
  if (!rc && is_file(path)) rc = describe_file(tmp, ferry_pack_assets[FERRY_PACK_RELAXED], &relaxed, err), has_relaxed = 1;
  for (int k = 0; !rc; k++) {
    snprintf(name, sizeof name, k ? MODEL_NAME ".%d" : MODEL_NAME, k);
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    if (k && !is_file(path)) break;
    packed_file *more = realloc(shards, (size_t)(n + 1) * sizeof *shards);
    if (!more) rc = ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
    else shards = more, rc = describe_file(tmp, name, &shards[n++], err);
  }
  ferry_host_model hm;
  ferry_session *s = NULL;
  if (!rc) {
    snprintf(path, sizeof path, "%s/" MODEL_NAME, tmp);
    ferry_session_opts so = {.threads = 1};
    if (!(s = ferry_host_session_open(path, &so, &hm, err))) rc = err->code ? err->code : FERRY_E_INPUT;
  }
  if (!rc) {
    char final[PATH_CAP + 64];
    snprintf(path, sizeof path, "%s/manifest.json.tmp", tmp);
    snprintf(final, sizeof final, "%s/manifest.json", tmp);
    FILE *f = fopen(path, "w");
    if (!f) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", path, strerror(errno));
    else {
      write_manifest_body(f, s, &hm, &wasm, has_relaxed ? &relaxed : NULL, shards, n);
      int bad = ferror(f) | fflush(f) | fsync(fileno(f));
      if (fclose(f) || bad || rename(path, final))
        rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot write: %s", final, strerror(errno));
    }
  }
  if (s) {
    ferry_session_close(s);
    ferry_host_model_free(&hm);
  }
  if (!rc && rep) {
    rep->shards = n;
    rep->wasm_bytes = wasm.size;
    rep->model_bytes = 0;
    for (int k = 0; k < n; k++) rep->model_bytes += shards[k].size;
  }
  free(shards);
  return rc;
}

/* ---- putting the folder in place ---- */

/* 1 when the folder dir holds a previous pack. */
static int is_pack(const char *dir) {
  char path[PATH_CAP + 32], head[512];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t len = fread(head, 1, sizeof head - 1, f);
  head[len] = 0;
  fclose(f);
  return strstr(head, "\"format\": \"ferry-pack\"") != NULL;
}

static int is_empty_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n == 0;
}

/* Renames tmp to dir (rename replaces an empty folder), moving a previous
 * pack aside first and removing it after. */
static int install_dir(const char *tmp, const char *dir, ferry_err *err) {
  char old[PATH_CAP + 32] = "";
  if (is_dir(dir) && is_pack(dir)) {
    snprintf(old, sizeof old, "%s.old-XXXXXX", dir);
    if (!mkdtemp(old) || rename(dir, old))
      return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot move the previous pack aside: %s", dir, strerror(errno));
  }
  if (rename(tmp, dir)) {
    int e = errno;
    if (old[0]) rename(old, dir);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", dir, strerror(e));
  }
  remove_tree(old);
  return 0;
}

static int check_target(const char *dir, ferry_err *err) {
  struct stat st;
  if (!dir[0]) return ferry_fail(err, FERRY_E_INPUT, "pack: the output folder name is empty");
  if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
    return ferry_fail(err, FERRY_E_INPUT, "%s: exists and is not a folder", dir);
  if (is_dir(dir) && !is_empty_dir(dir) && !is_pack(dir))
    return ferry_fail(err, FERRY_E_INPUT,
                      "%s: exists and is not a ferry pack (no ferry-pack manifest.json): not replacing it", dir);
  return 0;
}

int ferry_pack(const char *model, const char *out, const ferry_pack_opts *opts, ferry_pack_report *rep,
               ferry_err *err) {
  ferry_pack_opts o = opts ? *opts : (ferry_pack_opts){0};
  char assets[FERRY_PACK_N_ASSETS][PATH_CAP], dir[PATH_CAP], tmp[PATH_CAP], path[PATH_CAP + 64];
  if (strlen(out) > PATH_CAP - 256) return ferry_fail(err, FERRY_E_INPUT, "%s: path too long", out);
  snprintf(dir, sizeof dir, "%s", out);
  for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = 0; /* "out/" is "out" */
  if (access(model, R_OK)) return ferry_fail(err, FERRY_E_INPUT, "%s: %s", model, strerror(errno));
  int rc = check_target(dir, err);
  if (!rc) rc = ferry_pack_find_assets(&o, assets, err);
  if (rc) return rc;
  if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", dir) >= (int)sizeof tmp)
    return ferry_fail(err, FERRY_E_INPUT, "%s: path too long", out);
  if (!mkdtemp(tmp)) {
    int e = errno;
    char *slash = strrchr(tmp, '/');
    if (slash) *slash = 0;
    if (e == ENOENT && slash)
      return ferry_fail(err, FERRY_E_INPUT, "%s: the folder it goes into (%s) does not exist", dir, slash == tmp ? "/" : tmp);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot make a folder beside it: %s", dir, strerror(e));
  }
  mode_t mask = umask(0);
  umask(mask);
  chmod(tmp, 0777 & ~mask); /* mkdtemp makes it 0700: a web folder is readable */

  ferry_convert_opts co = {.shard_size = o.shard_size, .compress = 0};
  snprintf(path, sizeof path, "%s/" MODEL_NAME, tmp);
  rc = ferry_convert_file(model, path, &co, NULL, err);
  for (int k = 0; !rc && k < FERRY_PACK_N_ASSETS; k++) {
    snprintf(path, sizeof path, "%s/%s", tmp, ferry_pack_assets[k]);
    if (assets[k][0]) rc = copy_file(assets[k], path, err); /* "": the optional relaxed build is not there */
  }
  if (!rc) rc = write_manifest(tmp, rep, err);
  if (!rc) rc = install_dir(tmp, dir, err);
  if (rc) remove_tree(tmp);
  else if (rep) {
    char *slash = strrchr(assets[0], '/');
    if (slash) *slash = 0;
    snprintf(rep->datadir, sizeof rep->datadir, "%s", assets[0]);
  }
  return rc;
}
