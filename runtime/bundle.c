/*
 * bundle.c - the .ferry bundle reader (runtime/bundle.h, docs/bundle-format.md).
 *
 * libc only (string.h, stdlib.h malloc), no stdio, no recursion deeper than
 * the 16 levels of a nested type: it builds for wasm32 unchanged.
 *
 * Nothing in the input is trusted. Every read goes through a cursor that
 * stops at the end of its section (a short read marks the parse failed and
 * returns 0, so loops run out at once); every count is checked against the
 * bytes left before anything is allocated for it, so a small file cannot
 * make the reader allocate much more than a small multiple of its size;
 * every index is checked against the table it points into.
 *
 * Memory: the views (graphs, values, nodes, ...) live in an arena freed in
 * one go; sections the host inflated live in malloc'd buffers listed in
 * `owned`. Strings and tensor data point into the caller's buffers.
 */
#include "bundle.h"

#include <stdlib.h>
#include <string.h>

/* ---- CRC32 (zlib's: reflected 0xEDB88320, pre/post inverted) ---- */

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t ferry_crc32(uint32_t crc, const void *buf, size_t n) {
  const uint8_t *p = buf;
  crc = ~crc;
  while (n--)
    crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---- little-endian loads ---- */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
/* Two's complement without implementation-defined conversions. */
static int32_t s32(uint32_t u) { return u <= INT32_MAX ? (int32_t)u : -(int32_t)~u - 1; }
static int64_t s64(uint64_t u) { return u <= INT64_MAX ? (int64_t)u : -(int64_t)~u - 1; }

/* ---- the bundle ---- */

struct chunk {
  struct chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
};

struct shard {
  int present;
  const uint8_t *data; /* its DATA section's raw bytes */
  uint64_t size;
};

struct ferry_bundle {
  struct chunk *arena;
  void **owned; /* inflated sections (malloc'd) */
  int n_owned, cap_owned;
  ferry_bundle_options opts;
  uint8_t id[16];
  int n_shards;
  struct shard *shards;
  int n_strings;
  ferry_bstr *strings;
  ferry_bmeta meta;
  int n_symbols;
  ferry_bstr *symbols;
  int n_graphs;
  ferry_bgraph *graphs;
  int n_tensors;
  ferry_btensor *tensors;
};

/* Zeroed, 16-byte aligned, freed with the bundle; NULL on overflow or OOM. */
static void *balloc(ferry_bundle *b, size_t elem, size_t count) {
  size_t size;
  if (__builtin_mul_overflow(elem, count, &size) || size > SIZE_MAX / 2)
    return NULL;
  size = size ? (size + 15) & ~(size_t)15 : 16;
  struct chunk *c = b->arena;
  if (!c || c->cap - c->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    struct chunk *n = malloc(sizeof *n + cap);
    if (!n)
      return NULL;
    n->used = 0;
    n->cap = cap;
    if (c && size > 65536) { /* a big block: keep the current chunk in front */
      n->next = c->next;
      c->next = n;
    } else {
      n->next = c;
      b->arena = n;
    }
    c = n;
  }
  void *p = c->mem + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

static const char *const sec_names[] = {"unknown", "METADATA", "STRINGS",
                                        "GRAPH",   "TENSORS",  "DATA"};
static const char *sec_name(uint32_t kind) {
  return kind <= FERRY_SEC_DATA ? sec_names[kind] : sec_names[0];
}

/* ---- header and section table ---- */

struct sec {
  uint32_t kind, flags, crc;
  uint64_t off, stored, raw;
};

typedef struct hdr {
  unsigned major, minor;
  uint32_t shard_index, shard_count;
  uint64_t total;
  uint8_t id[16];
  int n_sec;
  struct sec sec[FERRY_BUNDLE_MAX_SECTIONS];
  int known[FERRY_SEC_DATA + 1]; /* index in sec[] of each known kind, -1 */
} hdr;

#define BAD(err, ...) ferry_fail((err), FERRY_E_INPUT, __VA_ARGS__)

/* Checks everything the header and section table say, every CRC and that
 * bytes outside sections are zero. */
static int parse_header(const uint8_t *p, size_t len, hdr *h, int skip_data_crc, ferry_err *err) {
  static const uint8_t zero4[4];
  if (!p || len < 8 || memcmp(p, FERRY_BUNDLE_MAGIC, 8) != 0) {
    if (p && len < 8 && len > 0 && memcmp(p, FERRY_BUNDLE_MAGIC, len) == 0)
      return BAD(err, "truncated: %zu bytes, a bundle header has 64", len);
    return BAD(err, "not a ferry bundle (bad magic)");
  }
  if (len < FERRY_BUNDLE_HEADER_SIZE)
    return BAD(err, "truncated: %zu bytes, a bundle header has 64", len);
  h->major = le16(p + 8);
  h->minor = le16(p + 10);
  if (h->major > FERRY_BUNDLE_MAJOR)
    return BAD(err, "made by a newer ferry: bundle format %u.%u, this reader reads %d.x", h->major,
               h->minor, FERRY_BUNDLE_MAJOR);
  if (h->major < 1)
    return BAD(err, "corrupt header (format version %u.%u)", h->major, h->minor);
  uint32_t hsize = le32(p + 16), count = le32(p + 20);
  if (hsize < FERRY_BUNDLE_HEADER_SIZE || hsize % 8 || hsize > (1u << 20) || count == 0 ||
      count > FERRY_BUNDLE_MAX_SECTIONS)
    return BAD(err, "corrupt header (header size %u, %u sections)", hsize, count);
  uint64_t table_end = (uint64_t)hsize + (uint64_t)FERRY_BUNDLE_SECTION_ENTRY * count;
  if (table_end > len)
    return BAD(err, "truncated: the section table ends at byte %llu, the file has %zu",
               (unsigned long long)table_end, len);
  uint32_t crc = ferry_crc32(0, p, 60);
  crc = ferry_crc32(crc, zero4, 4);
  crc = ferry_crc32(crc, p + 64, (size_t)table_end - 64);
  if (crc != le32(p + 60))
    return BAD(err, "corrupt header (CRC32 %08x, expected %08x)", (unsigned)crc,
               (unsigned)le32(p + 60));
  h->total = le64(p + 32);
  if (h->total > len)
    return BAD(err, "truncated: %zu bytes, the header says %llu", len,
               (unsigned long long)h->total);
  if (h->total < table_end)
    return BAD(err, "corrupt header (total size %llu)", (unsigned long long)h->total);
  h->shard_index = le32(p + 24);
  h->shard_count = le32(p + 28);
  if (h->shard_count < 1 || h->shard_count > 65536 || h->shard_index >= h->shard_count)
    return BAD(err, "corrupt header (shard %u of %u)", (unsigned)h->shard_index,
               (unsigned)h->shard_count);
  memcpy(h->id, p + 40, 16);
  h->n_sec = (int)count;
  for (int k = 0; k <= FERRY_SEC_DATA; k++)
    h->known[k] = -1;
  int order[FERRY_BUNDLE_MAX_SECTIONS];
  for (int i = 0; i < h->n_sec; i++) {
    const uint8_t *e = p + hsize + (size_t)FERRY_BUNDLE_SECTION_ENTRY * (size_t)i;
    struct sec *s = &h->sec[i];
    s->kind = le32(e);
    s->flags = le32(e + 4);
    s->off = le64(e + 8);
    s->stored = le64(e + 16);
    s->raw = le64(e + 24);
    s->crc = le32(e + 32);
    const char *nm = sec_name(s->kind);
    if (s->flags & ~FERRY_SEC_DEFLATE)
      return BAD(err, "section %d (%s) has unknown flags 0x%x", i, nm, (unsigned)s->flags);
    if (s->off < table_end || s->off > h->total || s->stored > h->total - s->off)
      return BAD(err, "section %d (%s) lies outside the file (%llu bytes at %llu)", i, nm,
                 (unsigned long long)s->stored, (unsigned long long)s->off);
    if (s->off % 8 || (s->kind == FERRY_SEC_DATA && s->off % FERRY_BUNDLE_ALIGN))
      return BAD(err, "section %d (%s) is misaligned (offset %llu)", i, nm,
                 (unsigned long long)s->off);
    if (!(s->flags & FERRY_SEC_DEFLATE) ? s->raw != s->stored : s->raw > 1032 * s->stored + 64)
      return BAD(err, "section %d (%s) has an impossible size (%llu stored, %llu raw)", i, nm,
                 (unsigned long long)s->stored, (unsigned long long)s->raw);
    if (s->kind >= 1 && s->kind <= FERRY_SEC_DATA) {
      if (h->known[s->kind] >= 0)
        return BAD(err, "two %s sections", nm);
      h->known[s->kind] = i;
    }
    /* insertion sort by offset, for the overlap and gap checks */
    int j = i;
    while (j > 0 && h->sec[order[j - 1]].off > s->off) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  uint64_t at = table_end;
  for (int k = 0; k <= h->n_sec; k++) {
    uint64_t next = k < h->n_sec ? h->sec[order[k]].off : h->total;
    if (next < at)
      return BAD(err, "section %d (%s) overlaps another", order[k],
                 sec_name(h->sec[order[k]].kind));
    for (uint64_t x = at; x < next; x++)
      if (p[x])
        return BAD(err, "corrupt file (non-zero byte %llu between sections)",
                   (unsigned long long)x);
    if (k < h->n_sec)
      at = next + h->sec[order[k]].stored;
  }
  for (int i = 0; i < h->n_sec; i++) {
    const struct sec *s = &h->sec[i];
    if (skip_data_crc && s->kind == FERRY_SEC_DATA)
      continue;
    crc = ferry_crc32(0, p + s->off, (size_t)s->stored);
    if (crc != s->crc)
      return BAD(err, "corrupt %s section (CRC32 %08x, expected %08x)", sec_name(s->kind),
                 (unsigned)crc, (unsigned)s->crc);
  }
  return 0;
}

/* The raw bytes of section `s` of `file`: in place, or inflated (by the
 * host's function, else ferry_inflate) into a 64-byte aligned buffer the
 * bundle owns. */
static int section_bytes(ferry_bundle *b, const uint8_t *file, const struct sec *s,
                         const uint8_t **out, ferry_err *err) {
  if (!(s->flags & FERRY_SEC_DEFLATE)) {
    *out = file + s->off;
    return 0;
  }
  if (s->raw > SIZE_MAX - 2 * FERRY_BUNDLE_ALIGN)
    return ferry_fail(err, FERRY_E_SYSTEM, "the %s section is too big for this machine",
                      sec_name(s->kind));
  if (b->n_owned == b->cap_owned) {
    int cap = b->cap_owned ? 2 * b->cap_owned : 8;
    void **o = realloc(b->owned, (size_t)cap * sizeof *o);
    if (!o)
      return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
    b->owned = o;
    b->cap_owned = cap;
  }
  uint8_t *mem = malloc((size_t)s->raw + FERRY_BUNDLE_ALIGN);
  if (!mem)
    return ferry_fail(err, FERRY_E_SYSTEM, "out of memory inflating the %s section",
                      sec_name(s->kind));
  b->owned[b->n_owned++] = mem;
  uint8_t *dst =
      mem + (FERRY_BUNDLE_ALIGN - (uintptr_t)mem % FERRY_BUNDLE_ALIGN) % FERRY_BUNDLE_ALIGN;
  ferry_inflate_fn inflate = b->opts.inflate ? b->opts.inflate : ferry_inflate;
  if (inflate(b->opts.user, file + s->off, (size_t)s->stored, dst, (size_t)s->raw))
    return BAD(err, "inflating the %s section failed", sec_name(s->kind));
  *out = dst;
  return 0;
}

/* ---- section parsing: a bounds-checked cursor ---- */

typedef struct P {
  ferry_bundle *b;
  ferry_err *err;
  const char *sec;
  const uint8_t *p, *end;
  int failed;         /* the first error's code; later reads return 0 */
  int *refs, *ref_by; /* GRAPH: references to each graph, and from where */
} P;

static int stop(P *ps, int code) {
  ps->p = ps->end;
  ps->failed = code;
  return code;
}
#define FAIL(ps, ...)                                                                              \
  ((ps)->failed ? (ps)->failed : stop((ps), ferry_fail((ps)->err, FERRY_E_INPUT, __VA_ARGS__)))
#define NOMEM(ps)                                                                                  \
  ((ps)->failed ? (ps)->failed : stop((ps), ferry_fail((ps)->err, FERRY_E_SYSTEM, "out of memory")))

static size_t left(const P *ps) { return (size_t)(ps->end - ps->p); }

static const uint8_t *take(P *ps, size_t n) {
  if (ps->failed)
    return NULL;
  if (left(ps) < n) {
    FAIL(ps, "%s section is truncated", ps->sec);
    return NULL;
  }
  const uint8_t *q = ps->p;
  ps->p += n;
  return q;
}
static uint8_t g_u8(P *ps) {
  const uint8_t *q = take(ps, 1);
  return q ? q[0] : 0;
}
static uint32_t g_u32(P *ps) {
  const uint8_t *q = take(ps, 4);
  return q ? le32(q) : 0;
}
static int32_t g_i32(P *ps) { return s32(g_u32(ps)); }
static uint64_t g_u64(P *ps) {
  const uint8_t *q = take(ps, 8);
  return q ? le64(q) : 0;
}
static int64_t g_i64(P *ps) { return s64(g_u64(ps)); }
static float g_f32(P *ps) {
  uint32_t u = g_u32(ps);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* A count of records of at least `min` bytes each, which must fit in what
 * is left of the section (so allocations stay proportional to the file). */
static int g_count(P *ps, size_t min, const char *what) {
  uint32_t n = g_u32(ps);
  if (ps->failed)
    return 0;
  if (n > INT32_MAX / 4 || (uint64_t)n * min > left(ps)) {
    FAIL(ps, "%s section: %u %s cannot fit in the %zu bytes left", ps->sec, (unsigned)n, what,
         left(ps));
    return 0;
  }
  return (int)n;
}

static void *p_alloc(P *ps, size_t elem, size_t n) {
  if (ps->failed)
    return NULL;
  void *p = balloc(ps->b, elem, n);
  if (!p)
    NOMEM(ps);
  return p;
}

static const ferry_bstr empty_str = {"", 0};

static ferry_bstr g_str(P *ps) {
  uint32_t i = g_u32(ps);
  if (ps->failed)
    return empty_str;
  if (i >= (uint32_t)ps->b->n_strings) {
    FAIL(ps, "%s section: string %u out of range (%d strings)", ps->sec, (unsigned)i,
         ps->b->n_strings);
    return empty_str;
  }
  return ps->b->strings[i];
}

/* An index in [lo, n) (lo is -1 where "none" is allowed), else fails. */
static int g_index(P *ps, int lo, int n, const char *what) {
  int32_t i = g_i32(ps);
  if (ps->failed)
    return -1;
  if (i < lo || i >= n) {
    FAIL(ps, "%s section: %s %d out of range (%d)", ps->sec, what, (int)i, n);
    return -1;
  }
  return i;
}

/* ---- STRINGS ---- */

static int parse_strings(P *ps) {
  ferry_bundle *b = ps->b;
  int n = g_count(ps, 5, "strings");
  b->strings = p_alloc(ps, sizeof *b->strings, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++) {
    uint32_t len = g_u32(ps);
    if (ps->failed)
      break;
    if (len >= left(ps) || ps->p[len] != 0)
      return FAIL(ps, "STRINGS section: string %d is not NUL-terminated within the section", i);
    b->strings[i] = (ferry_bstr){(const char *)ps->p, len};
    ps->p += (size_t)len + 1;
  }
  if (!ps->failed)
    b->n_strings = n;
  if (!ps->failed && ps->p != ps->end)
    FAIL(ps, "STRINGS section has %zu bytes after its last string", left(ps));
  return ps->failed;
}

/* ---- METADATA ---- */

static int parse_metadata(P *ps) {
  ferry_bundle *b = ps->b;
  ferry_bmeta *m = &b->meta;
  m->producer_name = g_str(ps);
  m->producer_version = g_str(ps);
  m->ferry_version = g_str(ps);
  const uint8_t *sha = take(ps, 32);
  if (sha)
    memcpy(m->source_sha256, sha, 32);
  m->source_producer_name = g_str(ps);
  m->source_producer_version = g_str(ps);
  m->source_domain = g_str(ps);
  m->source_doc = g_str(ps);
  m->ir_version = g_i64(ps);
  m->model_version = g_i64(ps);
  int n = g_count(ps, 12, "opset imports");
  ferry_bstr *doms = p_alloc(ps, sizeof *doms, (size_t)n);
  int64_t *vers = p_alloc(ps, sizeof *vers, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++) {
    doms[i] = g_str(ps);
    vers[i] = g_i64(ps);
  }
  m->opset_domains = doms;
  m->opset_versions = vers;
  m->n_opsets = ps->failed ? 0 : n;
  n = g_count(ps, 8, "properties");
  ferry_bstr *props = p_alloc(ps, 2 * sizeof *props, (size_t)n);
  for (int i = 0; i < 2 * n && !ps->failed; i++)
    props[i] = g_str(ps);
  m->props = props;
  m->n_props = ps->failed ? 0 : n;
  /* bytes after this are fields of a newer minor version: ignored */
  if (!ps->failed && memcmp(b->id, m->source_sha256, 16) != 0)
    FAIL(ps, "the bundle id in the header does not match the source SHA-256 in METADATA");
  return ps->failed;
}

/* ---- TENSORS ---- */

/* Stored bytes for a tensor, or -1 when dtype and encoding do not go together. */
static int expected_bytes(const ferry_btensor *t, uint64_t *out) {
  uint64_t n = (uint64_t)t->numel, size;
  if (t->encoding != FERRY_ENC_RAW && t->dtype != FERRY_F32)
    return -1;
  switch (t->encoding) {
  case FERRY_ENC_RAW:
    if (t->dtype == FERRY_STRING)
      size = 4;
    else if (t->dtype == FERRY_U4 || t->dtype == FERRY_I4)
      return *out = n / 2 + n % 2, 0;
    else
      size = (uint64_t)ferry_dtype_size(t->dtype);
    break;
  case FERRY_ENC_F16: size = 2; break;
  case FERRY_ENC_AFFINE_I8:
  case FERRY_ENC_AFFINE_U8: size = 1; break;
  case FERRY_ENC_Q4_32:
  case FERRY_ENC_Q8_32: {
    if (t->rank < 1)
      return -1;
    uint64_t k = (uint64_t)t->dims[t->rank - 1];
    if (k == 0)
      return *out = 0, 0;
    uint64_t blocks = (n / k) * ((k + 31) / 32);
    size = t->encoding == FERRY_ENC_Q4_32 ? 18 : 34;
    return __builtin_mul_overflow(blocks, size, out) ? -1 : 0;
  }
  default: return -1;
  }
  return __builtin_mul_overflow(n, size, out) ? -1 : 0;
}

static int parse_tensor(P *ps, int ti) {
  ferry_bundle *b = ps->b;
  ferry_btensor *t = &b->tensors[ti];
  uint32_t dtype = g_u32(ps), enc = g_u32(ps), rank = g_u32(ps);
  if (ps->failed)
    return ps->failed;
  if (!ferry_dtype_valid((int)(dtype & 0xffff)) || dtype > 0xffff)
    return FAIL(ps, "TENSORS section: tensor %d has unknown dtype %u", ti, (unsigned)dtype);
  if (enc >= FERRY_ENC_COUNT)
    return FAIL(ps, "TENSORS section: tensor %d has unknown encoding %u", ti, (unsigned)enc);
  if (rank > FERRY_BUNDLE_MAX_RANK)
    return FAIL(ps, "TENSORS section: tensor %d has rank %u (at most %d)", ti, (unsigned)rank,
                FERRY_BUNDLE_MAX_RANK);
  t->dtype = (int)dtype;
  t->encoding = (int)enc;
  t->rank = (int)rank;
  int64_t *dims = p_alloc(ps, sizeof *dims, rank);
  int64_t numel = 1;
  for (uint32_t i = 0; i < rank && !ps->failed; i++) {
    dims[i] = g_i64(ps);
    if (!ps->failed && (dims[i] < 0 || __builtin_mul_overflow(numel, dims[i], &numel) ||
                        numel > (INT64_C(1) << 60)))
      return FAIL(ps, "TENSORS section: tensor %d has bad dimensions", ti);
  }
  t->dims = dims;
  t->numel = numel;
  uint32_t shard = g_u32(ps), psize = g_u32(ps);
  t->offset = g_u64(ps);
  t->nbytes = g_u64(ps);
  const uint8_t *params = take(ps, psize);
  if (ps->failed)
    return ps->failed;
  if (shard >= (uint32_t)b->n_shards)
    return FAIL(ps, "TENSORS section: tensor %d is in shard %u of %d", ti, (unsigned)shard,
                b->n_shards);
  t->shard = (int)shard;
  t->axis = -1;
  if (t->offset % FERRY_BUNDLE_ALIGN)
    return FAIL(ps, "TENSORS section: tensor %d is not 64-byte aligned (offset %llu)", ti,
                (unsigned long long)t->offset);
  uint64_t want;
  if (expected_bytes(t, &want))
    return FAIL(ps, "TENSORS section: tensor %d: encoding %d cannot hold %s", ti, t->encoding,
                ferry_dtype_name(t->dtype));
  if (want != t->nbytes)
    return FAIL(ps, "TENSORS section: tensor %d has %llu bytes, its dtype and shape need %llu", ti,
                (unsigned long long)t->nbytes, (unsigned long long)want);
  if (enc == FERRY_ENC_AFFINE_I8 || enc == FERRY_ENC_AFFINE_U8) {
    if (psize < 8)
      return FAIL(ps, "TENSORS section: tensor %d lacks its scales", ti);
    int32_t axis = s32(le32(params));
    uint32_t n = le32(params + 4);
    if (axis < -1 || axis >= (int32_t)rank || n != (axis < 0 ? 1 : (uint64_t)dims[axis]) ||
        (uint64_t)psize != 8 + 5 * (uint64_t)n)
      return FAIL(ps, "TENSORS section: tensor %d has bad quantization parameters", ti);
    float *sc = p_alloc(ps, sizeof *sc, n);
    for (uint32_t i = 0; sc && i < n; i++) {
      uint32_t u = le32(params + 8 + 4 * (size_t)i);
      memcpy(&sc[i], &u, sizeof u);
    }
    t->axis = axis;
    t->n_scales = (int)n;
    t->scales = sc;
    t->zero_points = params + 8 + 4 * (size_t)n;
  } else if (psize) {
    return FAIL(ps, "TENSORS section: tensor %d has %u bytes of parameters its encoding has none",
                ti, (unsigned)psize);
  }
  return ps->failed;
}

static int parse_tensors(P *ps) {
  ferry_bundle *b = ps->b;
  int n = g_count(ps, 36, "tensors");
  b->tensors = p_alloc(ps, sizeof *b->tensors, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++)
    parse_tensor(ps, i);
  if (!ps->failed && ps->p != ps->end)
    FAIL(ps, "TENSORS section has %zu bytes after its last tensor", left(ps));
  if (!ps->failed)
    b->n_tensors = n;
  return ps->failed;
}

/* ---- GRAPH ---- */

static int parse_dim(P *ps, ferry_bdim *d) {
  int n = g_count(ps, 1, "dim ops");
  if (ps->failed)
    return ps->failed;
  if (n < 1 || n > FERRY_BUNDLE_MAX_DIM_OPS)
    return FAIL(ps, "GRAPH section: a dim program has %d ops (1 to %d)", n,
                FERRY_BUNDLE_MAX_DIM_OPS);
  ferry_bdim_op *ops = p_alloc(ps, sizeof *ops, (size_t)n);
  int depth = 0;
  for (int i = 0; i < n && !ps->failed; i++) {
    uint8_t code = g_u8(ps);
    ops[i].op = code;
    switch (code) {
    case FERRY_DOP_CONST:
      ops[i].arg = g_i64(ps);
      depth++;
      break;
    case FERRY_DOP_SYM: {
      uint32_t s = g_u32(ps);
      if (!ps->failed && s >= (uint32_t)ps->b->n_symbols)
        return FAIL(ps, "GRAPH section: a dim uses symbol %u of %d", (unsigned)s, ps->b->n_symbols);
      ops[i].arg = s;
      depth++;
      break;
    }
    case FERRY_DOP_ADD:
    case FERRY_DOP_SUB:
    case FERRY_DOP_MUL:
    case FERRY_DOP_DIV:
    case FERRY_DOP_MOD:
    case FERRY_DOP_MIN:
    case FERRY_DOP_MAX:
      if (depth < 2)
        return FAIL(ps, "GRAPH section: a dim program pops an empty stack");
      depth--;
      break;
    default: return FAIL(ps, "GRAPH section: a dim program has unknown op %u", (unsigned)code);
    }
    if (depth > FERRY_BUNDLE_MAX_DIM_STACK)
      return FAIL(ps, "GRAPH section: a dim program needs more than %d stack slots",
                  FERRY_BUNDLE_MAX_DIM_STACK);
  }
  if (!ps->failed && depth != 1)
    return FAIL(ps, "GRAPH section: a dim program leaves %d values", depth);
  d->ops = ops;
  d->n = n;
  return ps->failed;
}

static int parse_type(P *ps, ferry_btype *t, int depth) {
  if (depth >= FERRY_BUNDLE_MAX_TYPE_DEPTH)
    return FAIL(ps, "GRAPH section: types nested deeper than %d levels",
                FERRY_BUNDLE_MAX_TYPE_DEPTH);
  uint32_t kind = g_u32(ps);
  int32_t dtype = g_i32(ps), rank = g_i32(ps);
  if (ps->failed)
    return ps->failed;
  if (kind > 5)
    return FAIL(ps, "GRAPH section: unknown value kind %u", (unsigned)kind);
  if (dtype != 0 && !ferry_dtype_valid(dtype))
    return FAIL(ps, "GRAPH section: unknown dtype %d", (int)dtype);
  if (rank < -1 || (rank > 0 && (uint64_t)rank * 5 > left(ps)))
    return FAIL(ps, "GRAPH section: bad rank %d", (int)rank);
  t->kind = (int)kind;
  t->dtype = dtype;
  t->rank = rank;
  if (rank > 0) {
    ferry_bdim *dims = p_alloc(ps, sizeof *dims, (size_t)rank);
    for (int i = 0; i < rank && !ps->failed; i++)
      parse_dim(ps, &dims[i]);
    t->dims = dims;
  }
  uint32_t has = g_u32(ps);
  if (ps->failed)
    return ps->failed;
  if (has > 1)
    return FAIL(ps, "GRAPH section: bad element-type flag %u", (unsigned)has);
  if (has) {
    ferry_btype *e = p_alloc(ps, sizeof *e, 1);
    if (e && !parse_type(ps, e, depth + 1))
      t->elem = e;
  }
  return ps->failed;
}

/* A subgraph reference from graph `gi`: must be a later graph. */
static int g_graph_ref(P *ps, int gi) {
  uint32_t r = g_u32(ps);
  if (ps->failed)
    return -1;
  if (r <= (uint32_t)gi || r >= (uint32_t)ps->b->n_graphs) {
    FAIL(ps, "GRAPH section: graph %d refers to graph %u (subgraphs follow their parent)", gi,
         (unsigned)r);
    return -1;
  }
  ps->refs[r]++;
  ps->ref_by[r] = gi;
  return (int)r;
}

static int g_tensor_ref(P *ps) {
  uint32_t r = g_u32(ps);
  if (!ps->failed && r >= (uint32_t)ps->b->n_tensors) {
    FAIL(ps, "GRAPH section: tensor %u out of range (%d tensors)", (unsigned)r, ps->b->n_tensors);
    return -1;
  }
  return (int)r;
}

static int parse_attr(P *ps, int gi, ferry_battr *a) {
  a->name = g_str(ps);
  uint32_t type = g_u32(ps);
  if (ps->failed)
    return ps->failed;
  if (type > 14)
    return FAIL(ps, "GRAPH section: attribute '%s' has unknown type %u", a->name.s, (unsigned)type);
  a->type = (int)type;
  a->tensor = a->graph = -1;
  a->s = empty_str;
  int n = 0;
  switch (type) {
  case 0: break;
  case 1: a->f = g_f32(ps); break;
  case 2: a->i = g_i64(ps); break;
  case 3: a->s = g_str(ps); break;
  case 4:
  case 11: a->tensor = g_tensor_ref(ps); break;
  case 5: a->graph = g_graph_ref(ps, gi); break;
  case 6: {
    n = g_count(ps, 4, "floats");
    float *f = p_alloc(ps, sizeof *f, (size_t)n);
    for (int k = 0; k < n && !ps->failed; k++)
      f[k] = g_f32(ps);
    a->floats = f;
    break;
  }
  case 7: {
    n = g_count(ps, 8, "ints");
    int64_t *v = p_alloc(ps, sizeof *v, (size_t)n);
    for (int k = 0; k < n && !ps->failed; k++)
      v[k] = g_i64(ps);
    a->ints = v;
    break;
  }
  case 8: {
    n = g_count(ps, 4, "strings");
    ferry_bstr *s = p_alloc(ps, sizeof *s, (size_t)n);
    for (int k = 0; k < n && !ps->failed; k++)
      s[k] = g_str(ps);
    a->strings = s;
    break;
  }
  case 9:
  case 12:
  case 10: {
    n = g_count(ps, 4, type == 10 ? "graphs" : "tensors");
    int *v = p_alloc(ps, sizeof *v, (size_t)n);
    for (int k = 0; k < n && !ps->failed; k++)
      v[k] = type == 10 ? g_graph_ref(ps, gi) : g_tensor_ref(ps);
    if (type == 10)
      a->graphs = v;
    else
      a->tensors = v;
    break;
  }
  case 13:
  case 14: {
    n = type == 13 ? 1 : g_count(ps, 16, "types");
    ferry_btype *t = p_alloc(ps, sizeof *t, (size_t)n);
    for (int k = 0; k < n && !ps->failed; k++)
      parse_type(ps, &t[k], 0);
    a->types = t;
    break;
  }
  }
  a->n = ps->failed ? 0 : n;
  return ps->failed;
}

static int parse_node(P *ps, ferry_bgraph *g, int gi, int ni) {
  ferry_bnode *nd = (ferry_bnode *)&g->nodes[ni];
  ferry_bvalue *vals = (ferry_bvalue *)g->values;
  nd->name = g_str(ps);
  nd->domain = g_str(ps);
  nd->op = g_str(ps);
  nd->opset = g_i32(ps);
  int n = g_count(ps, 4, "node inputs");
  int *in = p_alloc(ps, sizeof *in, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++)
    in[i] = g_index(ps, -1, g->n_values, "node input");
  nd->inputs = in;
  nd->n_inputs = ps->failed ? 0 : n;
  n = g_count(ps, 4, "node outputs");
  int *out = p_alloc(ps, sizeof *out, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++) {
    int v = out[i] = g_index(ps, -1, g->n_values, "node output");
    if (v < 0 || ps->failed)
      continue;
    if (vals[v].producer >= 0)
      return FAIL(ps, "GRAPH section: value '%s' of graph %d has two producers", vals[v].name.s,
                  gi);
    vals[v].producer = ni;
  }
  nd->outputs = out;
  nd->n_outputs = ps->failed ? 0 : n;
  n = g_count(ps, 8, "attributes");
  ferry_battr *at = p_alloc(ps, sizeof *at, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++)
    parse_attr(ps, gi, &at[i]);
  nd->attrs = at;
  nd->n_attrs = ps->failed ? 0 : n;
  return ps->failed;
}

static int parse_graph(P *ps, int gi) {
  ferry_bundle *b = ps->b;
  ferry_bgraph *g = &b->graphs[gi];
  g->name = g_str(ps);
  g->parent = g_i32(ps);
  if (ps->failed)
    return ps->failed;
  if (gi == 0 ? g->parent != -1 : (g->parent < 0 || g->parent >= gi))
    return FAIL(ps, "GRAPH section: graph %d has parent %d", gi, g->parent);
  const ferry_bgraph *parent = gi ? &b->graphs[g->parent] : NULL;
  int n = g_count(ps, 32, "values");
  ferry_bvalue *vals = p_alloc(ps, sizeof *vals, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++) {
    ferry_bvalue *v = &vals[i];
    v->name = g_str(ps);
    v->flags = g_u32(ps);
    v->outer = g_index(ps, -1, parent ? parent->n_values : 0, "outer value");
    v->tensor = g_index(ps, -1, b->n_tensors, "tensor");
    v->producer = -1;
    if (!ps->failed && (v->flags & ~15u))
      return FAIL(ps, "GRAPH section: value '%s' has unknown flags 0x%x", v->name.s, v->flags);
    parse_type(ps, &v->type, 0);
  }
  g->values = vals;
  g->n_values = ps->failed ? 0 : n;
  n = g_count(ps, 28, "nodes");
  g->nodes = p_alloc(ps, sizeof *g->nodes, (size_t)n);
  g->n_nodes = n;
  for (int i = 0; i < n && !ps->failed; i++)
    parse_node(ps, g, gi, i);
  for (int k = 0; k < 2 && !ps->failed; k++) {
    n = g_count(ps, 4, k ? "graph outputs" : "graph inputs");
    int *io = p_alloc(ps, sizeof *io, (size_t)n);
    for (int i = 0; i < n && !ps->failed; i++)
      io[i] = g_index(ps, 0, g->n_values, k ? "graph output" : "graph input");
    if (k)
      g->outputs = io, g->n_outputs = n;
    else
      g->inputs = io, g->n_inputs = n;
  }
  if (ps->failed)
    g->n_nodes = g->n_inputs = g->n_outputs = 0;
  return ps->failed;
}

static int parse_graphs(P *ps) {
  ferry_bundle *b = ps->b;
  int n = g_count(ps, 4, "symbols");
  b->symbols = p_alloc(ps, sizeof *b->symbols, (size_t)n);
  for (int i = 0; i < n && !ps->failed; i++)
    b->symbols[i] = g_str(ps);
  b->n_symbols = ps->failed ? 0 : n;
  n = g_count(ps, 24, "graphs");
  if (!ps->failed && n < 1)
    return FAIL(ps, "GRAPH section has no graph");
  b->graphs = p_alloc(ps, sizeof *b->graphs, (size_t)n);
  int *refs = p_alloc(ps, sizeof *refs, (size_t)n),
      *ref_by = p_alloc(ps, sizeof *ref_by, (size_t)n);
  if (ps->failed)
    return ps->failed;
  b->n_graphs = n;
  ps->refs = refs;
  ps->ref_by = ref_by;
  for (int i = 0; i < n && !ps->failed; i++)
    parse_graph(ps, i);
  for (int i = 1; i < n && !ps->failed; i++) {
    if (refs[i] != 1)
      return FAIL(ps, "GRAPH section: graph %d is referenced %d times (subgraphs: exactly once)", i,
                  refs[i]);
    if (ref_by[i] != b->graphs[i].parent)
      return FAIL(ps, "GRAPH section: graph %d has parent %d but graph %d holds it", i,
                  b->graphs[i].parent, ref_by[i]);
  }
  if (!ps->failed && ps->p != ps->end)
    FAIL(ps, "GRAPH section has %zu bytes after its last graph", left(ps));
  if (ps->failed)
    b->n_graphs = 0;
  return ps->failed;
}

/* ---- shards ---- */

/* Checks and hands out the tensors stored in shard `k`'s DATA section. */
static int attach(ferry_bundle *b, int k, const uint8_t *data, uint64_t size, ferry_err *err) {
  for (int i = 0; i < b->n_tensors; i++) {
    const ferry_btensor *t = &b->tensors[i];
    if (t->shard != k)
      continue;
    if (t->offset > size || t->nbytes > size - t->offset)
      return BAD(err,
                 "tensor %d (%llu bytes at %llu) lies outside shard %d's DATA section (%llu bytes)",
                 i, (unsigned long long)t->nbytes, (unsigned long long)t->offset, k,
                 (unsigned long long)size);
    if (t->dtype == FERRY_STRING) {
      const uint8_t *q = data + t->offset;
      for (int64_t j = 0; j < t->numel; j++)
        if (le32(q + 4 * j) >= (uint32_t)b->n_strings)
          return BAD(err, "string tensor %d holds string %u of %d", i, (unsigned)le32(q + 4 * j),
                     b->n_strings);
    }
  }
  for (int i = 0; i < b->n_tensors; i++)
    if (b->tensors[i].shard == k)
      b->tensors[i].data = data + b->tensors[i].offset;
  b->shards[k] = (struct shard){1, data, size};
  return 0;
}

void ferry_bundle_free(ferry_bundle *b) {
  if (!b)
    return;
  for (int i = 0; i < b->n_owned; i++)
    free(b->owned[i]);
  free(b->owned);
  free(b->shards);
  for (struct chunk *c = b->arena, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(b);
}

static int parse_section(ferry_bundle *b, const uint8_t *file, const hdr *h, int kind,
                         int (*fn)(P *), ferry_err *err) {
  const struct sec *s = &h->sec[h->known[kind]];
  P ps = {.b = b, .err = err, .sec = sec_name((uint32_t)kind)};
  if (section_bytes(b, file, s, &ps.p, err))
    return err->code;
  ps.end = ps.p + s->raw;
  return fn(&ps);
}

ferry_bundle *ferry_bundle_open_with(const void *buf, size_t len, const ferry_bundle_options *opts,
                                     ferry_err *err) {
  ferry_err local;
  if (!err)
    err = &local;
  const uint8_t *file = buf;
  hdr h;
  if (parse_header(file, len, &h, opts && opts->skip_data_crc, err))
    return NULL;
  if (h.shard_index != 0) {
    BAD(err, "this is shard %u of a bundle: open shard 0 (NAME.ferry) first",
        (unsigned)h.shard_index);
    return NULL;
  }
  static const int need[] = {FERRY_SEC_STRINGS, FERRY_SEC_METADATA, FERRY_SEC_TENSORS,
                             FERRY_SEC_GRAPH, FERRY_SEC_DATA};
  for (int i = 0; i < 5; i++)
    if (h.known[need[i]] < 0) {
      BAD(err, "no %s section", sec_name((uint32_t)need[i]));
      return NULL;
    }
  ferry_bundle *b = calloc(1, sizeof *b);
  if (!b || !(b->shards = calloc(h.shard_count, sizeof *b->shards))) {
    free(b);
    ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
    return NULL;
  }
  if (opts)
    b->opts = *opts;
  b->n_shards = (int)h.shard_count;
  memcpy(b->id, h.id, 16);
  int (*const fns[])(P *) = {parse_strings, parse_metadata, parse_tensors, parse_graphs};
  for (int i = 0; i < 4; i++)
    if (parse_section(b, file, &h, need[i], fns[i], err)) {
      ferry_bundle_free(b);
      return NULL;
    }
  const struct sec *d = &h.sec[h.known[FERRY_SEC_DATA]];
  const uint8_t *data;
  if (section_bytes(b, file, d, &data, err) || attach(b, 0, data, d->raw, err)) {
    ferry_bundle_free(b);
    return NULL;
  }
  return b;
}

ferry_bundle *ferry_bundle_open(const void *buf, size_t len, ferry_err *err) {
  return ferry_bundle_open_with(buf, len, NULL, err);
}

int ferry_bundle_add_shard(ferry_bundle *b, int index, const void *buf, size_t len,
                           ferry_err *err) {
  ferry_err local;
  if (!err)
    err = &local;
  if (!b)
    return BAD(err, "no bundle");
  if (index < 1 || index >= b->n_shards)
    return BAD(err, "shard %d: the bundle has shards 0 to %d", index, b->n_shards - 1);
  if (b->shards[index].present)
    return BAD(err, "shard %d was added already", index);
  hdr h;
  if (parse_header(buf, len, &h, b->opts.skip_data_crc, err))
    return err->code;
  if (memcmp(h.id, b->id, 16) != 0)
    return BAD(err, "this shard belongs to another bundle (bundle id differs)");
  if ((int)h.shard_count != b->n_shards || (int)h.shard_index != index)
    return BAD(err, "this is shard %u of %u, expected shard %d of %d", (unsigned)h.shard_index,
               (unsigned)h.shard_count, index, b->n_shards);
  if (h.known[FERRY_SEC_DATA] < 0)
    return BAD(err, "shard %d has no DATA section", index);
  const struct sec *d = &h.sec[h.known[FERRY_SEC_DATA]];
  const uint8_t *data;
  if (section_bytes(b, buf, d, &data, err))
    return err->code;
  return attach(b, index, data, d->raw, err);
}

int ferry_bundle_n_shards(const ferry_bundle *b) { return b->n_shards; }

int ferry_bundle_missing_shard(const ferry_bundle *b) {
  for (int i = 0; i < b->n_shards; i++)
    if (!b->shards[i].present)
      return i;
  return -1;
}

/* ---- accessors ---- */

const ferry_bmeta *ferry_bundle_meta(const ferry_bundle *b) { return &b->meta; }
int ferry_bundle_n_graphs(const ferry_bundle *b) { return b->n_graphs; }
const ferry_bgraph *ferry_bundle_graph(const ferry_bundle *b, int i) {
  return i >= 0 && i < b->n_graphs ? &b->graphs[i] : NULL;
}
int ferry_bundle_n_tensors(const ferry_bundle *b) { return b->n_tensors; }
const ferry_btensor *ferry_bundle_tensor(const ferry_bundle *b, int i) {
  return i >= 0 && i < b->n_tensors ? &b->tensors[i] : NULL;
}
int ferry_bundle_n_strings(const ferry_bundle *b) { return b->n_strings; }
ferry_bstr ferry_bundle_string(const ferry_bundle *b, int i) {
  return i >= 0 && i < b->n_strings ? b->strings[i] : empty_str;
}
int ferry_bundle_n_symbols(const ferry_bundle *b) { return b->n_symbols; }
ferry_bstr ferry_bundle_symbol(const ferry_bundle *b, int i) {
  return i >= 0 && i < b->n_symbols ? b->symbols[i] : empty_str;
}
int ferry_bundle_find_symbol(const ferry_bundle *b, const char *name) {
  if (!name)
    return -1;
  size_t n = strlen(name);
  for (int i = 0; i < b->n_symbols; i++)
    if (b->symbols[i].len == n && memcmp(b->symbols[i].s, name, n) == 0)
      return i;
  return -1;
}

/* ---- dims ---- */

int ferry_bundle_eval_dim(const ferry_bundle *b, const ferry_bdim *d, const int64_t *values,
                          int n_values, int64_t *out) {
  int64_t st[FERRY_BUNDLE_MAX_DIM_STACK];
  int sp = 0;
  (void)b;
  if (!d || !out || !d->ops || d->n < 1)
    return -1;
  for (int i = 0; i < d->n; i++) {
    const ferry_bdim_op *o = &d->ops[i];
    if (o->op == FERRY_DOP_CONST || o->op == FERRY_DOP_SYM) {
      int64_t v = o->arg;
      if (sp >= FERRY_BUNDLE_MAX_DIM_STACK)
        return -1;
      if (o->op == FERRY_DOP_SYM) {
        if (!values || o->arg < 0 || o->arg >= n_values || values[o->arg] == FERRY_DIM_UNBOUND)
          return -1;
        v = values[o->arg];
      }
      st[sp++] = v;
      continue;
    }
    if (sp < 2)
      return -1;
    int64_t y = st[--sp], x = st[sp - 1], r;
    switch (o->op) {
    case FERRY_DOP_ADD:
      if (__builtin_add_overflow(x, y, &r))
        return -1;
      break;
    case FERRY_DOP_SUB:
      if (__builtin_sub_overflow(x, y, &r))
        return -1;
      break;
    case FERRY_DOP_MUL:
      if (__builtin_mul_overflow(x, y, &r))
        return -1;
      break;
    case FERRY_DOP_DIV:
      if (y == 0 || (y == -1 && x == INT64_MIN))
        return -1;
      r = x / y;
      if (x % y != 0 && ((x < 0) != (y < 0)))
        r--;
      break;
    case FERRY_DOP_MOD:
      if (y == 0)
        return -1;
      if (y == -1) {
        r = 0;
        break;
      }
      r = x % y;
      if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
      break;
    case FERRY_DOP_MIN: r = x < y ? x : y; break;
    case FERRY_DOP_MAX: r = x > y ? x : y; break;
    default: return -1;
    }
    st[sp - 1] = r;
  }
  if (sp != 1)
    return -1;
  *out = st[0];
  return 0;
}
