/*
 * sha256.h - SHA-256 (FIPS 180-4), for bundle ids and pack manifests.
 */
#ifndef FERRY_SHA256_H
#define FERRY_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ferry_sha256 {
  uint32_t h[8];
  uint64_t len;      /* bytes hashed so far */
  uint8_t buf[64];
  size_t fill;
} ferry_sha256;

void ferry_sha256_init(ferry_sha256 *s);
void ferry_sha256_update(ferry_sha256 *s, const void *data, size_t n);
void ferry_sha256_final(ferry_sha256 *s, uint8_t out[32]);
/* One call: out = SHA-256(data). */
void ferry_sha256_buf(const void *data, size_t n, uint8_t out[32]);
/* Hash of a whole file; 0 on success, -1 (errno set) if it cannot be read. */
int ferry_sha256_file(const char *path, uint8_t out[32]);
/* 64 lowercase hex digits + NUL. */
void ferry_sha256_hex(const uint8_t digest[32], char out[65]);

#endif
