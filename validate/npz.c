/*
 * npz.c - numpy's .npz archives (validate.h: ferry_npz_read).
 *
 * An .npz is a zip file whose members are .npy files. The reader trusts
 * only the central directory (numpy writes sizes there; local headers may
 * carry zip64 placeholders): it finds the end-of-central-directory record
 * (and the zip64 one when the classic fields overflow), walks the entries,
 * and for each member takes the bytes after its local header, stored as is
 * or inflated with zlib (raw deflate), then parses them as .npy with
 * ferry_tensor_read_buffer. Every offset and size is checked against the
 * file before it is used; a member may not claim to inflate to more than
 * deflate can produce from its compressed size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tensor_io.h"
#include "validate.h"

#define MAX_MEMBERS 4096
#define MAX_MEMBER_BYTES ((uint64_t)1 << 31) /* zlib counts in 32 bits */

typedef struct zip {
  const char *path;
  const unsigned char *b;
  size_t len;
  ferry_err *err;
} zip;

static uint32_t u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32(const unsigned char *p) { return u16(p) | u16(p + 2) << 16; }
static uint64_t u64(const unsigned char *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

static int bad(zip *z, const char *what) { return ferry_fail(z->err, FERRY_E_INPUT, "%s: not a valid .npz file: %s", z->path, what); }

/* The central directory: entry count, size and offset. */
static int find_directory(zip *z, uint64_t *count, uint64_t *size, uint64_t *off) {
  if (z->len < 22) return bad(z, "too short for a zip archive");
  size_t lo = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0, at = z->len - 22;
  for (;; at--) {
    if (u32(z->b + at) == 0x06054b50) break;
    if (at == lo) return bad(z, "no end of central directory record");
  }
  const unsigned char *e = z->b + at;
  *count = u16(e + 10), *size = u32(e + 12), *off = u32(e + 16);
  if (*count == 0xffff || *size == 0xffffffff || *off == 0xffffffff) {
    if (at < 20 || u32(e - 20) != 0x07064b50) return bad(z, "zip64 locator missing");
    uint64_t z64 = u64(e - 20 + 8);
    if (z->len < 56 || z64 > z->len - 56 || u32(z->b + z64) != 0x06064b50) return bad(z, "zip64 end record missing");
    *count = u64(z->b + z64 + 32), *size = u64(z->b + z64 + 40), *off = u64(z->b + z64 + 48);
  }
  if (*off > z->len || *size > z->len - *off) return bad(z, "central directory outside the file");
  if (*count > MAX_MEMBERS) return bad(z, "too many members");
  return 0;
}

typedef struct member {
  char name[256];
  int method;
  uint64_t csize, usize, local;
} member;

/* Zip64 extra field: replaces the classic fields that hold 0xffffffff. */
static int zip64_extra(zip *z, const unsigned char *x, size_t n, member *m) {
  while (n >= 4) {
    uint32_t id = u16(x), len = u16(x + 2);
    if (len > n - 4) return bad(z, "extra field overruns its entry");
    if (id == 1) {
      const unsigned char *p = x + 4, *end = x + 4 + len;
      uint64_t *f[3] = {&m->usize, &m->csize, &m->local};
      for (int k = 0; k < 3; k++)
        if (*f[k] == 0xffffffff) {
          if (end - p < 8) return bad(z, "zip64 extra field too short");
          *f[k] = u64(p), p += 8;
        }
    }
    x += 4 + len, n -= 4 + len;
  }
  return 0;
}

/* Entry at *at of the central directory (ending at end) into m. */
static int read_entry(zip *z, uint64_t *at, uint64_t end, member *m) {
  const unsigned char *e = z->b + *at;
  if (end - *at < 46 || u32(e) != 0x02014b50) return bad(z, "broken central directory entry");
  uint32_t flags = u16(e + 8), nlen = u16(e + 28), xlen = u16(e + 30), clen = u16(e + 32);
  if (46 + (uint64_t)nlen + xlen + clen > end - *at) return bad(z, "central directory entry overruns");
  if (flags & 1) return bad(z, "encrypted member");
  m->method = (int)u16(e + 10);
  m->csize = u32(e + 20), m->usize = u32(e + 24), m->local = u32(e + 42);
  if (nlen >= sizeof m->name) return bad(z, "member name too long");
  memcpy(m->name, e + 46, nlen);
  m->name[nlen] = 0;
  if (memchr(m->name, 0, nlen)) return bad(z, "NUL in a member name");
  *at += 46 + (uint64_t)nlen + xlen + clen;
  return zip64_extra(z, e + 46 + nlen, xlen, m);
}

/* The member's data: *data points into the file (stored) or to *owned (inflated). */
static int member_bytes(zip *z, const member *m, const unsigned char **data, unsigned char **owned) {
  *owned = NULL;
  if (m->local > z->len - 30 || u32(z->b + m->local) != 0x04034b50)
    return bad(z, "local header missing");
  uint64_t start = m->local + 30 + u16(z->b + m->local + 26) + u16(z->b + m->local + 28);
  if (start > z->len || m->csize > z->len - start) return bad(z, "member data outside the file");
  const unsigned char *src = z->b + start;
  if (m->method == 0) {
    if (m->csize != m->usize) return bad(z, "stored member with two sizes");
    *data = src;
    return 0;
  }
  if (m->method != 8) return ferry_fail(z->err, FERRY_E_INPUT, "%s: member '%s': compression method %d is not supported (stored or deflated only)", z->path, m->name, m->method);
  if (m->csize > MAX_MEMBER_BYTES || m->usize > MAX_MEMBER_BYTES || m->usize > m->csize * 1032 + 64) return bad(z, "implausible member size");
  if (!(*owned = malloc(m->usize ? m->usize : 1))) return ferry_fail(z->err, FERRY_E_SYSTEM, "%s: out of memory", z->path);
  z_stream s = {0};
  if (inflateInit2(&s, -15) != Z_OK) return ferry_fail(z->err, FERRY_E_SYSTEM, "%s: zlib failed", z->path);
  s.next_in = (unsigned char *)src, s.avail_in = (uInt)m->csize;
  s.next_out = *owned, s.avail_out = (uInt)m->usize;
  int rc = inflate(&s, Z_FINISH);
  uint64_t got = s.total_out;
  inflateEnd(&s);
  if (rc != Z_STREAM_END || got != m->usize) return bad(z, "member does not inflate to its size");
  *data = *owned;
  return 0;
}

static int add_member(zip *z, const member *m, ferry_vtensor *t) {
  const unsigned char *data = NULL;
  unsigned char *owned;
  if (member_bytes(z, m, &data, &owned)) {
    free(owned);
    return z->err->code;
  }
  char where[600];
  snprintf(where, sizeof where, "%s: member '%s'", z->path, m->name);
  ferry_host_tensor h;
  int rc = ferry_tensor_read_buffer(where, data, m->usize, &h, z->err);
  free(owned);
  if (rc) return rc;
  size_t n = strlen(m->name);
  if (n > 4 && strcmp(m->name + n - 4, ".npy") == 0) n -= 4;
  t->v = h.v;
  t->buf = h.buf;
  free(h.name);
  if (!(t->name = strndup(m->name, n))) return ferry_fail(z->err, FERRY_E_SYSTEM, "out of memory");
  return 0;
}

int ferry_npz_read_buffer(const char *path, const void *buf, size_t len, ferry_vtensor **out, int *n, ferry_err *err) {
  zip z = {path, buf, len, err};
  uint64_t count = 0, size = 0, off = 0;
  *out = NULL, *n = 0;
  if (find_directory(&z, &count, &size, &off)) return err->code;
  ferry_vtensor *t = calloc(count ? count : 1, sizeof *t);
  if (!t) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  uint64_t at = off;
  int rc = 0, k = 0;
  for (; k < (int)count && !rc; k++) {
    member m;
    rc = read_entry(&z, &at, off + size, &m);
    if (!rc) rc = add_member(&z, &m, &t[k]);
  }
  if (rc) {
    ferry_vtensors_free(t, k);
    return rc;
  }
  if (!count) {
    free(t);
    return ferry_fail(err, FERRY_E_INPUT, "%s: the .npz archive holds no arrays", path);
  }
  *out = t, *n = (int)count;
  return 0;
}

int ferry_npz_read(const char *path, ferry_vtensor **out, int *n, ferry_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
  struct stat st;
  char *buf = NULL;
  size_t len = 0;
  if (fstat(fileno(f), &st) == 0 && (buf = malloc((size_t)st.st_size + 1))) len = fread(buf, 1, (size_t)st.st_size, f);
  int ok = buf && !ferror(f) && len == (size_t)st.st_size;
  fclose(f);
  if (!ok) {
    free(buf);
    return ferry_fail(err, FERRY_E_INPUT, "%s: cannot read it", path);
  }
  int rc = ferry_npz_read_buffer(path, buf, len, out, n, err);
  free(buf);
  return rc;
}

void ferry_vtensor_free(ferry_vtensor *t) {
  free(t->name);
  free(t->buf);
  memset(t, 0, sizeof *t);
}

void ferry_vtensors_free(ferry_vtensor *t, int n) {
  for (int i = 0; t && i < n; i++) ferry_vtensor_free(&t[i]);
  free(t);
}
