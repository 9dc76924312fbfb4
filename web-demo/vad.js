// vad.js - voice activity with Silero VAD v5 (silero_vad_v5.onnx as shipped
// in npm @ricky0123/vad-web). Plain ES module for the page and for node.
//
// The model takes one frame at a time: `input` [1, 64 + 512] (the last 64
// samples of the previous frame, then 512 new samples at 16 kHz, as
// Silero's own wrapper feeds it), `state` [2, 1, 128] (zeros at first,
// then the previous `stateN`) and `sr` (int64 scalar 16000); it returns
// `output` [1, 1], the speech probability of the frame.
//
//   runVad(session, Tensor, samples16k, {onFrame, keep}) -> {probs, frames}
//       session: an InferenceSession shaped like onnxruntime-web's (ferry.js,
//       or onnxruntime-node in tests); Tensor: that API's Tensor class.
//       probs[k] is frame k's probability; with keep, frames[k] holds the
//       frame's feeds and outputs as plain {dims, data} (for the tests).
//   speechSegments(probs, opts) -> [{start, end}] in seconds, by hysteresis
//       (start above 0.5, end below 0.35) with minimum speech and silence
//       lengths, the way Silero's get_speech_timestamps does.

export const SAMPLE_RATE = 16000;
export const FRAME = 512;
export const CONTEXT = 64;

const plain = (t) => ({ dims: Array.from(t.dims), data: t.data.slice() });

export async function runVad(session, Tensor, samples, { onFrame, keep = false } = {}) {
  const n = Math.floor(samples.length / FRAME);
  const probs = new Float32Array(n);
  const frames = [];
  let state = new Float32Array(2 * 128);
  const sr = new Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
  for (let k = 0; k < n; k++) {
    const input = new Float32Array(CONTEXT + FRAME);
    const start = k * FRAME;
    if (k > 0) input.set(samples.subarray(start - CONTEXT, start), 0);
    input.set(samples.subarray(start, start + FRAME), CONTEXT);
    const feeds = {
      input: new Tensor('float32', input, [1, CONTEXT + FRAME]),
      state: new Tensor('float32', state, [2, 1, 128]),
      sr,
    };
    const kept = keep ? { input: plain(feeds.input), state: plain(feeds.state), sr: plain(sr) } : null; // before run: it may take the buffers
    const t0 = performance.now();
    const out = await session.run(feeds);
    const ms = performance.now() - t0;
    probs[k] = out.output.data[0];
    if (keep) frames.push({ feeds: kept, output: plain(out.output) });
    state = Float32Array.from(out.stateN.data);
    if (onFrame) await onFrame(k, n, probs[k], ms);
  }
  return { probs, frames };
}

export function speechSegments(probs, { threshold = 0.5, minSpeechMs = 250, minSilenceMs = 100, padMs = 30 } = {}) {
  const frameS = FRAME / SAMPLE_RATE;
  const off = Math.max(threshold - 0.15, 0.01);
  const segs = [];
  let start = -1, lastSpeech = -1;
  for (let k = 0; k < probs.length; k++) {
    if (probs[k] >= threshold) {
      if (start < 0) start = k;
      lastSpeech = k;
    } else if (start >= 0 && probs[k] < off && (k - lastSpeech) * frameS * 1000 >= minSilenceMs) {
      segs.push([start, lastSpeech + 1]);
      start = -1;
    }
  }
  if (start >= 0) segs.push([start, lastSpeech + 1]);
  const end = probs.length * frameS, pad = padMs / 1000;
  return segs
    .filter(([a, b]) => (b - a) * frameS * 1000 >= minSpeechMs)
    .map(([a, b]) => ({ start: Math.max(0, a * frameS - pad), end: Math.min(end, b * frameS + pad) }));
}
