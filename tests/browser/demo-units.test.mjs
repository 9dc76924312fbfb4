// demo-units.test.mjs - the web demo's processing modules in node, no browser:
//   wav    parseWav on hand-made files of every supported format (8/16/24/32-bit
//          PCM, float 32/64, extensible, stereo mixed to mono, odd-sized chunks
//          before data), one-line WavErrors for bad ones, resample lengths and
//          values; then a fuzz loop: 3000 mutated and truncated copies of a WAV
//          and random byte strings must each parse into finite samples or throw
//          a WavError, never anything else, within the time limit;
//   ocr    ctcDecode (blanks, repeats, the space class), dbBoxes on a made-up
//          probability map (two blobs -> two boxes in reading order, a weak
//          blob dropped, scaling to the image), detInput and recInput sizes and
//          normalization;
//   vad    speechSegments hysteresis and minimum lengths; runVad's framing and
//          state passing, with a fake session that records its feeds.
// usage: node demo-units.test.mjs   (exit 0: all passed, 1: a check failed)
import { parseWav, resample, loadMono16k, WavError } from '../../web-demo/wav.js';
import { ctcDecode, dbBoxes, detInput, recInput, loadDictionary } from '../../web-demo/ocr.js';
import { speechSegments, runVad, FRAME, CONTEXT } from '../../web-demo/vad.js';

let failed = 0;
function check(cond, msg) {
  if (!cond) {
    failed++;
    console.error(`not ok - ${msg}`);
  }
}
const near = (a, b, tol = 1e-6) => Math.abs(a - b) <= tol;

// ---- wav ----

// A WAV file: fmt fields, raw sample bytes, optional extra chunk before data.
function wav({ format = 1, channels = 1, rate = 16000, bits = 16, body, extensible = false, junk = null }) {
  const fmtSize = extensible ? 40 : 16;
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const fmt = Buffer.alloc(fmtSize);
  fmt.writeUInt16LE(extensible ? 0xfffe : format, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  if (extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bits, 18);
    fmt.writeUInt16LE(format, 24); // sub-format GUID's first two bytes
  }
  parts.push(Buffer.from('fmt '), u32(fmtSize), fmt);
  if (junk) parts.push(Buffer.from('LIST'), u32(junk.length), junk, junk.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0));
  parts.push(Buffer.from('data'), u32(body.length), body);
  const inner = Buffer.concat(parts);
  return Buffer.concat([Buffer.from('RIFF'), u32(inner.length + 4), Buffer.from('WAVE'), inner]);
}

function testWavFormats() {
  const i16 = Buffer.alloc(8);
  [0, 16384, -32768, 32767].forEach((v, i) => i16.writeInt16LE(v, i * 2));
  let r = parseWav(wav({ body: i16, junk: Buffer.from('odd') }));
  check(r.samples.length === 4 && near(r.samples[1], 0.5) && near(r.samples[2], -1) && r.sampleRate === 16000, `16-bit: ${r.samples}`);
  r = parseWav(wav({ bits: 8, body: Buffer.from([128, 192, 0]) }));
  check(near(r.samples[0], 0) && near(r.samples[1], 0.5) && near(r.samples[2], -1), `8-bit: ${r.samples}`);
  r = parseWav(wav({ bits: 24, body: Buffer.from([0, 0, 0x40, 0, 0, 0xc0]) }));
  check(near(r.samples[0], 0.5) && near(r.samples[1], -0.5), `24-bit: ${r.samples}`);
  const i32 = Buffer.alloc(4);
  i32.writeInt32LE(-1073741824);
  r = parseWav(wav({ bits: 32, body: i32 }));
  check(near(r.samples[0], -0.5), `32-bit: ${r.samples}`);
  const f32 = Buffer.from(new Float32Array([0.25, -0.75, NaN]).buffer);
  r = parseWav(wav({ format: 3, bits: 32, body: f32, extensible: true }));
  check(near(r.samples[0], 0.25) && near(r.samples[1], -0.75) && r.samples[2] === 0, `float32 extensible: ${r.samples}`);
  const f64 = Buffer.from(new Float64Array([0.125]).buffer);
  r = parseWav(wav({ format: 3, bits: 64, body: f64 }));
  check(near(r.samples[0], 0.125), `float64: ${r.samples}`);
  const st = Buffer.alloc(8);
  [16384, -16384, 32767, 32767].forEach((v, i) => st.writeInt16LE(v, i * 2));
  r = parseWav(wav({ channels: 2, rate: 44100, body: st }));
  check(r.samples.length === 2 && near(r.samples[0], 0) && near(r.samples[1], 32767 / 32768) && r.channels === 2, `stereo: ${r.samples}`);
  const bad = [
    [Buffer.from('RIFF'), /shorter than a RIFF header/],
    [Buffer.from('RIFX\0\0\0\0WAVEfmt '), /no RIFF\/WAVE header/],
    [wav({ body: Buffer.alloc(0) }), /no samples/],
    [wav({ bits: 12, body: Buffer.alloc(4) }), /not supported/],
    [wav({ format: 2, body: Buffer.alloc(4) }), /not supported/],
    [wav({ channels: 0, body: Buffer.alloc(4) }), /channels/],
    [wav({ rate: 10, body: Buffer.alloc(4) }), /sample rate/],
    [wav({ body: Buffer.alloc(4) }).subarray(0, 36), /no data chunk/],
  ];
  for (const [bytes, re] of bad) {
    try {
      parseWav(bytes);
      check(false, `parseWav accepted a bad file (${re})`);
    } catch (e) {
      check(e instanceof WavError && re.test(e.message) && !e.message.includes('\n'), `bad file: ${e.message} (want ${re})`);
    }
  }
  const up = resample(Float32Array.from([0, 1]), 8000, 16000);
  check(up.length === 4 && near(up[1], 0.5), `resample up: ${up}`);
  const down = resample(new Float32Array(48000).fill(0.5), 48000, 16000);
  check(down.length === 16000 && down.every((v) => near(v, 0.5)), 'resample 48k -> 16k of a constant');
  const same = Float32Array.from([1, 2]);
  check(resample(same, 16000, 16000) === same, 'resample at the same rate is a no-op');
  check(loadMono16k(wav({ rate: 32000, body: Buffer.alloc(64) })).length === 16, 'loadMono16k halves 32 kHz');
}

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function testWavFuzz() {
  const rnd = prng(1234);
  const body = Buffer.alloc(200);
  for (let i = 0; i < body.length; i++) body[i] = Math.floor(rnd() * 256);
  const seeds = [wav({ body }), wav({ format: 3, bits: 32, body, extensible: true, junk: Buffer.from('x') }), wav({ channels: 2, bits: 24, body: body.subarray(0, 198) })];
  const t0 = Date.now();
  let parsed = 0, refused = 0;
  for (let n = 0; n < 3000; n++) {
    let b;
    if (n % 10 === 9) { // random bytes, sometimes with a valid header
      b = Buffer.alloc(Math.floor(rnd() * 80));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
      if (rnd() < 0.5 && b.length >= 12) { b.write('RIFF', 0); b.write('WAVE', 8); }
    } else {
      b = Buffer.from(seeds[n % seeds.length]);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(rnd() * Math.min(b.length, 80)); // mostly the headers
        b[at] = rnd() < 0.3 ? 0xff : Math.floor(rnd() * 256);
      }
      if (rnd() < 0.3) b = b.subarray(0, Math.floor(rnd() * b.length));
    }
    try {
      const r = parseWav(b);
      check(r.samples.length > 0 && r.samples.every(Number.isFinite), `fuzz #${n}: non-finite samples`);
      parsed++;
    } catch (e) {
      if (!(e instanceof WavError)) check(false, `fuzz #${n}: ${e.name}: ${e.message} on ${b.toString('hex')}`);
      refused++;
    }
  }
  check(Date.now() - t0 < 20000, `the WAV fuzz loop took ${Date.now() - t0} ms`);
  check(parsed > 100 && refused > 100, `fuzz: ${parsed} parsed, ${refused} refused`);
  return `${parsed} parsed, ${refused} refused`;
}

// ---- ocr ----

function testOcr() {
  const classes = loadDictionary('a\nb\r\nc\n');
  check(classes.length === 5 && classes[0] === '' && classes[2] === 'b' && classes[4] === ' ', `dictionary: ${JSON.stringify(classes)}`);
  // steps: a a blank a b space b -> "aa b b"? no: repeats merge, blank splits: a, (a merged), blank, a, b, ' ', b
  const seq = [1, 1, 0, 1, 2, 4, 2];
  const C = 5, probs = new Float32Array(seq.length * C);
  seq.forEach((c, t) => { probs.fill(0.05, t * C, t * C + C); probs[t * C + c] = 0.8; });
  const d = ctcDecode(probs, seq.length, C, classes);
  check(d.text === 'aab b' && near(d.score, 0.8), `ctcDecode: "${d.text}" ${d.score}`);
  check(ctcDecode(new Float32Array(C).fill(0.1).fill(0.9, 0, 1), 1, C, classes).text === '', 'ctcDecode of blanks');

  // a 40x20 map: a strong blob on the lower left, a strong one upper right, a weak one
  const W = 40, H = 20, map = new Float32Array(W * H);
  const blob = (x0, y0, x1, y1, v) => { for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * W + x] = v; };
  blob(2, 12, 14, 17, 0.9);
  blob(20, 2, 36, 8, 0.95);
  blob(20, 12, 30, 16, 0.4); // above thresh 0.3 but its mean is under 0.6: dropped
  const boxes = dbBoxes(map, W, H, 80, 40);
  check(boxes.length === 2, `dbBoxes: ${JSON.stringify(boxes)}`);
  if (boxes.length === 2) {
    const [a, b] = boxes;
    check(a.y0 < b.y0 && a.x0 > b.x0, 'dbBoxes: reading order (top first)');
    // 16x6 blob: unclip distance 16*6*1.5/(2*22) = 3.27 map px, doubled to image px
    check(a.x0 === Math.round((20 - 96 * 1.5 / 44) * 2) && a.x1 === Math.round((36 + 96 * 1.5 / 44) * 2), `dbBoxes: unclip ${JSON.stringify(a)}`);
    check(b.x0 === 0 && near(b.score, 0.9, 1e-6), `dbBoxes: clipped to the image ${JSON.stringify(b)}`);
  }

  const img = { width: 100, height: 50, data: new Uint8ClampedArray(100 * 50 * 4).fill(255) };
  const di = detInput(img);
  check(di.dims.join() === '1,3,64,96', `detInput dims ${di.dims}`);
  check(near(di.data[0], (1 - 0.485) / 0.229, 1e-5) && near(di.data[di.data.length - 1], (1 - 0.406) / 0.225, 1e-5), 'detInput normalization (BGR order)');
  check(detInput({ width: 3000, height: 100, data: new Uint8ClampedArray(3000 * 100 * 4) }).dims[3] === 960, 'detInput caps the long side at 960');
  const ri = recInput(img, { x0: 10, y0: 10, x1: 90, y1: 34 });
  check(ri.dims.join() === '1,3,48,320' && near(ri.data[0], 1) && ri.data[319] === 0, `recInput: ${ri.dims}, padding`);
  check(recInput(img, { x0: 0, y0: 0, x1: 100, y1: 5 }).dims[3] === 960, 'recInput keeps the aspect ratio above the minimum width');
}

// ---- vad ----

async function testVad() {
  const probs = new Float32Array(100);
  probs.fill(0.9, 10, 30); // 20 frames = 640 ms of speech
  probs.fill(0.45, 30, 32); // between the thresholds: speech goes on
  probs.fill(0.9, 32, 40);
  probs.fill(0.9, 60, 63); // 96 ms: too short
  const segs = speechSegments(probs);
  check(segs.length === 1 && near(segs[0].start, 10 * 0.032 - 0.03, 1e-9) && near(segs[0].end, 40 * 0.032 + 0.03, 1e-9), `speechSegments: ${JSON.stringify(segs)}`);

  class T { constructor(type, data, dims) { Object.assign(this, { type, data, dims }); } }
  const seen = [];
  const fake = {
    async run(f) {
      seen.push({ first: f.input.data[CONTEXT], ctx: f.input.data[0], state: f.state.data[0], sr: f.sr.data[0], dims: f.input.dims });
      return { output: { data: Float32Array.of(0.25), dims: [1, 1] }, stateN: { data: new Float32Array(256).fill(seen.length), dims: [2, 1, 128] } };
    },
  };
  const samples = Float32Array.from({ length: FRAME * 3 + 100 }, (_, i) => i);
  const r = await runVad(fake, T, samples, { keep: true });
  check(r.probs.length === 3 && seen.length === 3 && r.frames.length === 3, `runVad: ${seen.length} frames`);
  check(seen[1].first === FRAME && seen[1].ctx === FRAME - CONTEXT && seen[0].ctx === 0, 'runVad: framing with 64 samples of context');
  check(seen[0].state === 0 && seen[1].state === 1 && seen[2].state === 2, 'runVad: the state goes from frame to frame');
  check(seen[0].sr === 16000n && seen[0].dims.join() === `1,${FRAME + CONTEXT}`, 'runVad: sr and input dims');
  check(r.frames[2].feeds.state.data[0] === 2 && r.frames[0].output.data[0] === 0.25, 'runVad: kept feeds and outputs');
}

testWavFormats();
const fuzz = testWavFuzz();
testOcr();
await testVad();
if (failed) {
  console.error(`demo-units: ${failed} checks failed`);
  process.exit(1);
}
console.log(`ok - demo units: wav formats and errors, wav fuzz (${fuzz}), ocr steps, vad steps`);
