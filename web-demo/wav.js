// wav.js - reads a WAV file into mono float samples at the rate a model
// wants. Plain ES module: the demo page and node (the tests) share it.
//
//   parseWav(arrayBuffer) -> {sampleRate, channels, samples: Float32Array}
//       RIFF/WAVE with PCM 8/16/24/32-bit integers or 32/64-bit floats
//       (format 1, 3, or WAVE_FORMAT_EXTENSIBLE of those); channels are
//       mixed down to mono by averaging. Throws WavError (one line) on
//       anything else: wrong magic, missing or truncated chunks, odd formats.
//   resample(samples, fromRate, toRate) -> Float32Array
//       linear interpolation, after a moving-average low-pass of the ratio's
//       width when going down (enough for a VAD; not for hi-fi).
//   loadMono16k(arrayBuffer) -> Float32Array   the two together, at 16 kHz.

export class WavError extends Error {
  constructor(message) {
    super(message);
    this.name = 'WavError';
  }
}

const FORMAT_PCM = 1, FORMAT_FLOAT = 3, FORMAT_EXTENSIBLE = 0xfffe;
const MAX_CHANNELS = 32;

// The chunks of a RIFF/WAVE file as {id, offset, size}; a chunk whose size
// runs past the end is cut to what is there (common in streamed files).
function chunks(view) {
  if (view.byteLength < 12) throw new WavError('not a WAV file: shorter than a RIFF header');
  const tag = (o) => String.fromCharCode(view.getUint8(o), view.getUint8(o + 1), view.getUint8(o + 2), view.getUint8(o + 3));
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new WavError('not a WAV file: no RIFF/WAVE header');
  const out = [];
  for (let o = 12; o + 8 <= view.byteLength;) {
    const size = view.getUint32(o + 4, true);
    out.push({ id: tag(o), offset: o + 8, size: Math.min(size, view.byteLength - o - 8) });
    o += 8 + size + (size & 1); // chunks are padded to even sizes
  }
  return out;
}

// The fmt chunk as {format, channels, sampleRate, bits}.
function readFormat(view, fmt) {
  if (!fmt) throw new WavError('WAV file has no fmt chunk');
  if (fmt.size < 16) throw new WavError(`WAV fmt chunk is ${fmt.size} bytes, needs 16`);
  const o = fmt.offset;
  let format = view.getUint16(o, true);
  const channels = view.getUint16(o + 2, true);
  const sampleRate = view.getUint32(o + 4, true);
  const bits = view.getUint16(o + 14, true);
  if (format === FORMAT_EXTENSIBLE) {
    if (fmt.size < 26) throw new WavError('WAV extensible fmt chunk is too short');
    format = view.getUint16(o + 24, true); // the sub-format GUID starts with the format code
  }
  if (channels < 1 || channels > MAX_CHANNELS) throw new WavError(`WAV file has ${channels} channels`);
  if (sampleRate < 1000 || sampleRate > 768000) throw new WavError(`WAV sample rate ${sampleRate} Hz is out of range`);
  const ok = (format === FORMAT_PCM && [8, 16, 24, 32].includes(bits)) || (format === FORMAT_FLOAT && [32, 64].includes(bits));
  if (!ok) throw new WavError(`WAV sample format ${format} with ${bits} bits is not supported (PCM 8/16/24/32, float 32/64)`);
  return { format, channels, sampleRate, bits };
}

// One sample (as a float in [-1, 1]) at byte offset o.
function sampleReader(view, { format, bits }) {
  if (format === FORMAT_FLOAT) return bits === 32 ? (o) => view.getFloat32(o, true) : (o) => view.getFloat64(o, true);
  switch (bits) {
    case 8: return (o) => (view.getUint8(o) - 128) / 128;
    case 16: return (o) => view.getInt16(o, true) / 32768;
    case 24: return (o) => (((view.getUint8(o + 2) << 24) | (view.getUint8(o + 1) << 16) | (view.getUint8(o) << 8)) >> 8) / 8388608;
    default: return (o) => view.getInt32(o, true) / 2147483648;
  }
}

export function parseWav(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const list = chunks(view);
  const fmt = readFormat(view, list.find((c) => c.id === 'fmt '));
  const data = list.find((c) => c.id === 'data');
  if (!data) throw new WavError('WAV file has no data chunk');
  const step = (fmt.bits / 8) * fmt.channels;
  const frames = Math.floor(data.size / step);
  if (frames === 0) throw new WavError('WAV file has no samples');
  const read = sampleReader(view, fmt);
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < fmt.channels; c++) sum += read(data.offset + i * step + (c * fmt.bits) / 8);
    const v = sum / fmt.channels;
    samples[i] = Number.isFinite(v) ? v : 0; // a float file may hold NaN or Inf
  }
  return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
}

export function resample(samples, fromRate, toRate) {
  if (fromRate === toRate) return samples;
  let src = samples;
  const ratio = fromRate / toRate;
  if (ratio > 1) { // low-pass: average over the ratio's width before dropping samples
    const k = Math.max(1, Math.round(ratio));
    src = new Float32Array(samples.length);
    let acc = 0;
    for (let i = 0; i < samples.length; i++) {
      acc += samples[i];
      if (i >= k) acc -= samples[i - k];
      src[i] = acc / Math.min(i + 1, k);
    }
  }
  const n = Math.max(1, Math.floor(samples.length / ratio));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = i * ratio, j = Math.floor(x), f = x - j;
    const a = src[Math.min(j, src.length - 1)], b = src[Math.min(j + 1, src.length - 1)];
    out[i] = a + (b - a) * f;
  }
  return out;
}

export function loadMono16k(buffer) {
  const { sampleRate, samples } = parseWav(buffer);
  return resample(samples, sampleRate, 16000);
}
