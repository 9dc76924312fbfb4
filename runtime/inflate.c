/*
 * inflate.c - a zlib stream decoder (RFC 1950 wrapper, RFC 1951 deflate)
 * for bundles with compressed sections when the host passes no inflate
 * function: in ferry.wasm (no zlib there) and in native hosts without it.
 *
 * Parts: a bit reader over the input (LSB first, never reading past the
 * end: a truncated stream is an error), canonical Huffman tables (a 9-bit
 * lookup table for short codes, the canonical walk for longer ones), the
 * three block types (stored, fixed, dynamic), and the Adler-32 check of
 * the trailer. The output is exactly `raw` bytes: a stream that would
 * write more, back-references before the start, malformed code lengths and
 * a wrong checksum all fail (-1). Nothing is allocated; the decoder state
 * lives on the stack (about 10 KB).
 */
#include <stdint.h>
#include <string.h>

#include "bundle.h"

/* ---- bits ---- */

typedef struct bits {
  const uint8_t *p;
  size_t n, pos;     /* input bytes, next byte to load */
  uint64_t buf;      /* bits not consumed yet, LSB first */
  int cnt;           /* how many */
  int bad;           /* read past the end */
} bits;

static void refill(bits *b) {
  while (b->cnt <= 56 && b->pos < b->n) b->buf |= (uint64_t)b->p[b->pos++] << b->cnt, b->cnt += 8;
}

/* The next k (<= 32) bits; past the end: 0 and b->bad. */
static uint32_t get(bits *b, int k) {
  if (b->cnt < k) refill(b);
  if (b->cnt < k) {
    b->bad = 1;
    return 0;
  }
  uint32_t v = (uint32_t)(b->buf & ((1ull << k) - 1));
  b->buf >>= k;
  b->cnt -= k;
  return v;
}

/* ---- Huffman tables ---- */

#define MAXBITS 15
#define FAST 9 /* bits of the lookup table */

typedef struct huff {
  uint16_t count[MAXBITS + 1]; /* codes per length */
  uint16_t symbol[320];        /* symbols in canonical order */
  uint16_t fast[1 << FAST];    /* (symbol << 4) | length for codes <= FAST bits, 0: walk */
} huff;

static uint32_t reverse(uint32_t code, int len) {
  uint32_t r = 0;
  for (int i = 0; i < len; i++) r = (r << 1) | ((code >> i) & 1);
  return r;
}

/* Builds h from n code lengths; -1 when they over-subscribe the code space
 * (an incomplete code is allowed, as zlib allows it for distances). */
static int build(huff *h, const uint8_t *len, int n) {
  uint16_t offs[MAXBITS + 2];
  memset(h->count, 0, sizeof h->count);
  memset(h->fast, 0, sizeof h->fast);
  for (int s = 0; s < n; s++) h->count[len[s]]++;
  int left = 1;
  for (int l = 1; l <= MAXBITS; l++) {
    left <<= 1;
    left -= h->count[l];
    if (left < 0) return -1;
  }
  offs[1] = 0;
  for (int l = 1; l <= MAXBITS; l++) offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
  for (int s = 0; s < n; s++)
    if (len[s]) h->symbol[offs[len[s]]++] = (uint16_t)s;
  /* the lookup table: canonical codes in order of length, then symbol */
  uint32_t code = 0;
  int k = 0;
  for (int l = 1; l <= FAST; l++) {
    for (int i = 0; i < h->count[l]; i++, k++, code++) {
      uint32_t r = reverse(code, l);
      for (uint32_t f = r; f < (1u << FAST); f += 1u << l) h->fast[f] = (uint16_t)(h->symbol[k] << 4 | l);
    }
    code <<= 1;
  }
  return 0;
}

/* The next symbol coded with h; -1 for a code h does not have. */
static int decode(bits *b, const huff *h) {
  if (b->cnt < MAXBITS) refill(b);
  uint16_t e = h->fast[b->buf & ((1u << FAST) - 1)];
  if (e && (e & 15) <= b->cnt) {
    b->buf >>= e & 15;
    b->cnt -= e & 15;
    return e >> 4;
  }
  int code = 0, first = 0, index = 0; /* the canonical walk, one bit at a time */
  for (int l = 1; l <= MAXBITS; l++) {
    code |= (int)get(b, 1);
    if (b->bad) return -1;
    int count = h->count[l];
    if (code - first < count) return h->symbol[index + (code - first)];
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  return -1;
}

/* ---- blocks ---- */

typedef struct out {
  uint8_t *p;
  size_t n, pos;
} out;

static const uint16_t LEN_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DIST_BASE[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DIST_EXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int stored(bits *b, out *o) {
  b->buf >>= b->cnt & 7; /* to a byte boundary */
  b->cnt -= b->cnt & 7;
  uint32_t len = get(b, 16), nlen = get(b, 16);
  if (b->bad || len != (~nlen & 0xffff) || len > o->n - o->pos) return -1;
  for (; len && b->cnt; len--) o->p[o->pos++] = (uint8_t)get(b, 8); /* bytes already in the buffer */
  if (len > b->n - b->pos) return -1;
  memcpy(o->p + o->pos, b->p + b->pos, len);
  o->pos += len, b->pos += len;
  return 0;
}

static int codes(bits *b, out *o, const huff *lit, const huff *dist) {
  for (;;) {
    int s = decode(b, lit);
    if (s < 0 || b->bad) return -1;
    if (s < 256) {
      if (o->pos == o->n) return -1;
      o->p[o->pos++] = (uint8_t)s;
      continue;
    }
    if (s == 256) return 0;
    s -= 257;
    if (s >= 29) return -1;
    size_t len = LEN_BASE[s] + get(b, LEN_EXTRA[s]);
    int d = decode(b, dist);
    if (d < 0 || d >= 30 || b->bad) return -1;
    size_t back = DIST_BASE[d] + get(b, DIST_EXTRA[d]);
    if (b->bad || back > o->pos || len > o->n - o->pos) return -1;
    uint8_t *q = o->p + o->pos;
    const uint8_t *from = q - back;
    for (size_t i = 0; i < len; i++) q[i] = from[i]; /* may overlap: byte by byte */
    o->pos += len;
  }
}

static int fixed(bits *b, out *o, huff *lit, huff *dist) {
  uint8_t len[288];
  memset(len, 8, 144);
  memset(len + 144, 9, 112);
  memset(len + 256, 7, 24);
  memset(len + 280, 8, 8);
  build(lit, len, 288);
  memset(len, 5, 30);
  build(dist, len, 30);
  return codes(b, o, lit, dist);
}

static int dynamic(bits *b, out *o, huff *lit, huff *dist) {
  static const uint8_t ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint8_t len[320];
  int nlen = (int)get(b, 5) + 257, ndist = (int)get(b, 5) + 1, ncode = (int)get(b, 4) + 4;
  if (b->bad || nlen > 286 || ndist > 30) return -1;
  memset(len, 0, 19);
  for (int i = 0; i < ncode; i++) len[ORDER[i]] = (uint8_t)get(b, 3);
  if (b->bad || build(lit, len, 19)) return -1;
  for (int i = 0; i < nlen + ndist;) {
    int s = decode(b, lit);
    if (s < 0 || b->bad) return -1;
    if (s < 16) {
      len[i++] = (uint8_t)s;
      continue;
    }
    int rep, v = 0;
    if (s == 16) {
      if (i == 0) return -1;
      v = len[i - 1], rep = 3 + (int)get(b, 2);
    } else {
      rep = s == 17 ? 3 + (int)get(b, 3) : 11 + (int)get(b, 7);
    }
    if (b->bad || i + rep > nlen + ndist) return -1;
    while (rep--) len[i++] = (uint8_t)v;
  }
  if (len[256] == 0) return -1; /* no end-of-block code */
  if (build(lit, len, nlen) || build(dist, len + nlen, ndist)) return -1;
  return codes(b, o, lit, dist);
}

/* ---- the stream ---- */

static uint32_t adler32(const uint8_t *p, size_t n) {
  uint32_t a = 1, s = 0;
  while (n) {
    size_t k = n < 5552 ? n : 5552; /* no overflow before the modulo */
    n -= k;
    while (k--) a += *p++, s += a;
    a %= 65521, s %= 65521;
  }
  return s << 16 | a;
}

int ferry_inflate(void *user, const void *src, size_t n, void *dst, size_t raw) {
  const uint8_t *in = src;
  (void)user;
  if (n < 6 || (in[0] & 15) != 8 || (in[0] >> 4) > 7 || (in[0] << 8 | in[1]) % 31 || (in[1] & 32)) return -1;
  bits b = {in + 2, n - 6, 0, 0, 0, 0};
  out o = {dst, raw, 0};
  huff lit, dist;
  int last;
  do {
    last = (int)get(&b, 1);
    int type = (int)get(&b, 2), rc;
    if (b.bad) return -1;
    if (type == 0) rc = stored(&b, &o);
    else if (type == 1) rc = fixed(&b, &o, &lit, &dist);
    else if (type == 2) rc = dynamic(&b, &o, &lit, &dist);
    else rc = -1;
    if (rc) return -1;
  } while (!last);
  if (o.pos != raw) return -1;
  const uint8_t *t = in + n - 4;
  return adler32(o.p, o.n) == ((uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3]) ? 0 : -1;
}
