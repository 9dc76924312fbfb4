#!/usr/bin/env node
// make-demo-samples.mjs OUTDIR - writes the web demo's two sample inputs,
// made from nothing but this file (no downloads, no fonts, no image library):
//
//   sample.png   lines of text drawn with the 5x7 bitmap font below, scaled
//                up and softened by supersampling, dark on a light card
//                (an RGB PNG written with node's zlib);
//   sample.wav   16 kHz mono 16-bit PCM: quiet noise with three voiced
//                stretches (a glottal-like pulse train through two formant
//                resonators, pitch gliding like speech) between them.
//
// The output is the same bytes on every run (a seeded PRNG), so the demo's
// results on them are reproducible. Files are written to a temporary name
// and renamed. Used by web-demo/build.sh.
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';

// ---- the font: 5 columns x 7 rows per glyph, '#' = ink ----
const FONT = {
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  B: ['####.', '#...#', '#...#', '####.', '#...#', '#...#', '####.'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  D: ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  F: ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  G: ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  J: ['..###', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  Q: ['.###.', '#...#', '#...#', '#...#', '#.#.#', '#..#.', '.##.#'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  V: ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '#.#.#', '.#.#.'],
  X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  Z: ['#####', '....#', '...#.', '..#..', '.#...', '#....', '#####'],
  0: ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  1: ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  2: ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  3: ['#####', '...#.', '..#..', '...#.', '....#', '#...#', '.###.'],
  4: ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  5: ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  6: ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  7: ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  8: ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  9: ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
};

// Deterministic PRNG (mulberry32) so both samples are the same bytes every run.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the image ----

// Ink coverage (0..1) of `text` drawn at (x0, y0) with font pixels of size
// `px`, summed into `cov` (width w); 4x4 supersampling softens the edges.
function drawText(cov, w, h, text, x0, y0, px) {
  const SS = 4;
  for (let ci = 0; ci < text.length; ci++) {
    const g = FONT[text[ci]];
    if (!g) throw new Error(`no glyph for '${text[ci]}'`);
    const gx = x0 + ci * 6 * px;
    for (let y = Math.floor(y0); y < Math.ceil(y0 + 7 * px) && y < h; y++) {
      for (let x = Math.floor(gx); x < Math.ceil(gx + 5 * px) && x < w; x++) {
        let hit = 0;
        for (let sy = 0; sy < SS; sy++) {
          for (let sx = 0; sx < SS; sx++) {
            const fx = Math.floor((x + (sx + 0.5) / SS - gx) / px);
            const fy = Math.floor((y + (sy + 0.5) / SS - y0) / px);
            if (fx >= 0 && fx < 5 && fy >= 0 && fy < 7 && g[fy][fx] === '#') hit++;
          }
        }
        cov[y * w + x] = Math.min(1, cov[y * w + x] + hit / (SS * SS));
      }
    }
  }
}

// RGB pixels of the sample: a light card with three lines of text.
function sampleImage() {
  const w = 320, h = 160;
  const rgb = new Uint8Array(w * h * 3);
  const rnd = prng(7);
  const lines = [
    { text: 'FERRY OCR', x: 24, y: 20, px: 3.5, ink: [20, 30, 60] },
    { text: 'HELLO WORLD 2026', x: 24, y: 70, px: 2.5, ink: [120, 20, 20] },
    { text: 'RUNS IN THE BROWSER', x: 24, y: 112, px: 2.5, ink: [10, 70, 30] },
  ];
  const paper = [246, 242, 230];
  for (let i = 0; i < w * h; i++) {
    const n = (rnd() - 0.5) * 8; // a little paper grain
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, Math.min(255, Math.round(paper[c] + n)));
  }
  for (const l of lines) {
    const cov = new Float32Array(w * h);
    drawText(cov, w, h, l.text, l.x, l.y, l.px);
    for (let i = 0; i < w * h; i++) {
      const a = cov[i];
      if (a > 0) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(rgb[i * 3 + c] * (1 - a) + l.ink[c] * a);
    }
  }
  return { w, h, rgb };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// An 8-bit RGB PNG, filter 0 on every row.
function encodePng({ w, h, rgb }) {
  const raw = Buffer.alloc(h * (1 + w * 3));
  for (let y = 0; y < h; y++) {
    raw[y * (1 + w * 3)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * w * 3, w * 3).copy(raw, y * (1 + w * 3) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, filter 0, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- the sound ----

// A two-pole resonator (center f, bandwidth bw, at rate sr).
function resonator(f, bw, sr) {
  const r = Math.exp((-Math.PI * bw) / sr);
  const a1 = 2 * r * Math.cos((2 * Math.PI * f) / sr), a2 = -r * r;
  let y1 = 0, y2 = 0;
  return (x) => {
    const y = (1 - r) * x + a1 * y1 + a2 * y2;
    y2 = y1;
    y1 = y;
    return y;
  };
}

// 16 kHz mono samples in [-1, 1]: noise floor, three voiced stretches.
function sampleSound() {
  const sr = 16000, seconds = 6;
  const n = sr * seconds;
  const out = new Float32Array(n);
  const rnd = prng(11);
  for (let i = 0; i < n; i++) out[i] = (rnd() - 0.5) * 0.004;
  // [start s, end s, base pitch Hz, vowel formants F1/F2 Hz]
  const voiced = [
    [0.8, 1.9, 130, [700, 1200]],
    [2.6, 3.4, 160, [400, 2000]],
    [4.2, 5.3, 115, [550, 900]],
  ];
  for (const [t0, t1, f0, [F1, F2]] of voiced) {
    const r1 = resonator(F1, 90, sr), r2 = resonator(F2, 120, sr);
    let phase = 0;
    const i0 = Math.round(t0 * sr), i1 = Math.round(t1 * sr);
    for (let i = i0; i < i1; i++) {
      const t = (i - i0) / sr, len = (i1 - i0) / sr;
      // syllable-like envelope (4 Hz) inside a fade-in/out, pitch gliding down
      const env = Math.min(1, t / 0.05, (len - t) / 0.05) * (0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t) ** 2);
      const f = f0 * (1.1 - 0.2 * (t / len)) * (1 + 0.02 * Math.sin(2 * Math.PI * 5.5 * t));
      phase += f / sr;
      let pulse = 0;
      if (phase >= 1) {
        phase -= 1;
        pulse = 1;
      }
      const src = pulse + (rnd() - 0.5) * 0.05; // glottal pulse plus breath
      out[i] += env * (3.0 * r1(src) + 1.8 * r2(src));
    }
  }
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  for (let i = 0; i < n; i++) out[i] = (out[i] / peak) * 0.7;
  return { sr, out };
}

// 16-bit PCM mono WAV.
function encodeWav({ sr, out }) {
  const buf = Buffer.alloc(44 + out.length * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + out.length * 2, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sr, 24);
  buf.writeUInt32LE(sr * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(out.length * 2, 40);
  for (let i = 0; i < out.length; i++) buf.writeInt16LE(Math.round(Math.max(-1, Math.min(1, out[i])) * 32767), 44 + i * 2);
  return buf;
}

function writeAtomically(path, bytes) {
  const tmp = `${path}.tmp.${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

const outdir = process.argv[2];
if (!outdir || process.argv.length > 3) {
  console.error('usage: make-demo-samples.mjs OUTDIR');
  process.exit(2);
}
try {
  mkdirSync(outdir, { recursive: true });
  writeAtomically(join(outdir, 'sample.png'), encodePng(sampleImage()));
  writeAtomically(join(outdir, 'sample.wav'), encodeWav(sampleSound()));
} catch (e) {
  console.error(`make-demo-samples: ${outdir}: ${e.message}`);
  process.exit(3);
}
