// demo.js - the web demo's page logic: loads the four packed models with
// ferry.js (progress bar, backend badge), then wires the three cards:
//   OCR    an uploaded or sample image -> ocr.js (det, DB boxes, rec, CTC)
//          -> boxes drawn on the canvas, the text listed, latency per run;
//   VAD    an uploaded or sample WAV -> wav.js (mono, 16 kHz) -> vad.js
//          (Silero frame by frame) -> a probability timeline with segments;
//   speed  SqueezeNet 1.1 (random weights: for timing only) run 20 times on
//          the last image: median latency.
// Everything the page computed is also left in window.__demo (state, progress
// log, raw model inputs and outputs) for tests/browser/demo.test.mjs, which
// checks the raw outputs against native `ferry run`.
import { runOcr, loadDictionary, resampleBgr } from './ocr.js';
import { runVad, speechSegments, SAMPLE_RATE, FRAME } from './vad.js';
import { loadMono16k } from './wav.js';

const MODELS = [
  { key: 'det', dir: 'models/ocr-det/', label: 'PaddleOCR detection' },
  { key: 'rec', dir: 'models/ocr-rec/', label: 'PaddleOCR recognition' },
  { key: 'vad', dir: 'models/vad/', label: 'Silero VAD v5' },
  { key: 'speed', dir: 'models/speed/', label: 'SqueezeNet 1.1' },
];
const SPEED_RUNS = 20;
const $ = (id) => document.getElementById(id);

// What tests read. b64 turns a typed array into base64 of its bytes.
const demo = (window.__demo = {
  state: 'loading', errors: [], progress: [], loads: {}, backend: null, ocr: null, vad: null, speed: null, busy: 0,
  b64(a) {
    const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    let s = '';
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  },
});

function showError(where, e) {
  const msg = `${where}: ${e && e.message ? e.message : e}`;
  demo.errors.push(msg);
  const box = $('error');
  box.hidden = false;
  box.textContent = demo.errors.join('\n');
  console.error(msg);
}

const fmtMs = (ms) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
const fmtMB = (b) => (b / 1048576).toFixed(1) + ' MB';
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN; };

// True when this browser validates a module using a wasm SIMD128 instruction.
function hasSimd() {
  const m = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  try { return WebAssembly.validate(m); } catch { return false; }
}

// ---- loading ----

function modelRow(m) {
  const tr = document.createElement('tr');
  tr.innerHTML = '<td></td><td><progress max="1" value="0"></progress></td><td class="latency"></td>';
  tr.cells[0].textContent = m.label;
  $('model-table').tBodies[0].appendChild(tr);
  return { bar: tr.cells[1].firstChild, text: tr.cells[2] };
}

async function loadModels(ferry) {
  const seen = {};
  // The bar is the mean of the models' fractions (a model not yet heard of
  // counts 0), so it only moves forward; the text sums the bytes.
  const overall = () => {
    let loaded = 0, total = 0, frac = 0;
    for (const m of MODELS) {
      const p = seen[m.key];
      if (!p) continue;
      loaded += p.loaded;
      total += p.total;
      frac += p.total ? p.loaded / p.total : 0;
    }
    const known = MODELS.every((m) => seen[m.key]);
    $('load-progress').value = frac / MODELS.length;
    demo.progress.push({ t: performance.now(), value: $('load-progress').value, loaded, total });
    $('load-text').textContent = `downloading models: ${fmtMB(loaded)} of ${known ? fmtMB(total) : '...'}`;
  };
  const sessions = {};
  await Promise.all(MODELS.map(async (m) => {
    const row = modelRow(m);
    const url = new URL(m.dir, document.baseURI).href;
    const t0 = performance.now();
    try {
      sessions[m.key] = await ferry.InferenceSession.create(url, {
        executionProviders: ['wasm'],
        worker: true, // the page stays responsive while a model runs
        onProgress: ({ loaded, total }) => {
          seen[m.key] = { loaded, total };
          row.bar.value = total ? loaded / total : 0;
          row.text.textContent = `${fmtMB(loaded)} / ${fmtMB(total)}`;
          overall();
        },
      });
      const ms = performance.now() - t0;
      // where each file came from: 'network' or 'cache' (ferry.js's Cache API)
      const files = sessions[m.key].loadInfo ? sessions[m.key].loadInfo.files : [];
      const bytes = files.reduce((a, f) => a + f.bytes, 0);
      const cached = files.length > 0 && files.every((f) => f.source === 'cache');
      row.bar.value = 1;
      row.text.textContent = `${fmtMB(bytes)} ${cached ? 'from cache' : 'downloaded'}, ready in ${fmtMs(ms)}`;
      demo.loads[m.key] = { ms, cached, bytes, files, backend: sessions[m.key].loadInfo?.backend };
    } catch (e) {
      row.text.textContent = 'failed';
      showError(`loading ${m.label} (${m.dir})`, e);
    }
  }));
  return sessions;
}

// ---- OCR ----

let classes = null;
let lastImage = null;

async function imageFromBlob(blob, maxSide = 1280) {
  const bmp = await createImageBitmap(blob);
  const s = Math.min(1, maxSide / Math.max(bmp.width, bmp.height));
  const w = Math.max(1, Math.round(bmp.width * s)), h = Math.max(1, Math.round(bmp.height * s));
  const c = new OffscreenCanvas(w, h);
  const g = c.getContext('2d');
  g.drawImage(bmp, 0, 0, w, h);
  return g.getImageData(0, 0, w, h);
}

function drawOcr(img, lines) {
  const c = $('ocr-canvas');
  c.width = img.width;
  c.height = img.height;
  const g = c.getContext('2d');
  g.putImageData(img, 0, 0);
  g.lineWidth = Math.max(2, img.width / 300);
  g.font = `bold ${Math.max(12, Math.round(img.width / 40))}px system-ui`;
  lines.forEach((l, i) => {
    const b = l.box;
    g.strokeStyle = 'rgba(27, 108, 168, 0.9)';
    g.fillStyle = 'rgba(27, 108, 168, 0.12)';
    g.fillRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    g.strokeRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    g.fillStyle = 'rgba(27, 108, 168, 1)';
    g.fillText(String(i + 1), b.x0 + 2, Math.max(12, b.y0 - 2));
  });
}

async function doOcr(s, img) {
  lastImage = img;
  $('ocr-text').innerHTML = '';
  $('ocr-latency').textContent = 'detecting...';
  drawOcr(img, []);
  const recMs = [];
  const r = await runOcr(s.det, s.rec, Tensor, img, classes, {
    onStep: async ({ stage, ms, boxes }) => {
      if (stage === 'det') $('ocr-latency').textContent = `detection ${fmtMs(ms)}, ${boxes} boxes; recognizing...`;
      else recMs.push(ms);
      await new Promise((ok) => setTimeout(ok, 0)); // let the page paint
    },
  });
  drawOcr(img, r.lines);
  for (const l of r.lines) {
    const li = document.createElement('li');
    li.textContent = l.text || '(nothing read)';
    const sc = document.createElement('span');
    sc.className = 'score';
    sc.textContent = `${(l.score * 100).toFixed(0)}%`;
    li.appendChild(sc);
    $('ocr-text').appendChild(li);
  }
  $('ocr-latency').textContent = `detection ${fmtMs(r.det.ms)}; recognition per box: ${recMs.map(fmtMs).join(', ') || 'none'}`;
  demo.ocr = { width: img.width, height: img.height, lines: r.lines, det: r.det, rec: r.rec };
}

// ---- VAD ----

// The timeline: the waveform in light gray, speech segments shaded, the
// probability per frame as a line over the 0.5 threshold (dashed).
function drawVad(samples, probs, segs) {
  const c = $('vad-canvas'), g = c.getContext('2d');
  const W = c.width, H = c.height, n = probs.length;
  const seconds = (n * FRAME) / SAMPLE_RATE;
  g.clearRect(0, 0, W, H);
  g.fillStyle = 'rgba(46, 160, 67, 0.18)';
  for (const s of segs) g.fillRect((s.start / seconds) * W, 0, ((s.end - s.start) / seconds) * W, H - 16);
  const mid = (H - 16) / 2, per = (n * FRAME) / W;
  g.fillStyle = '#d5d9e2';
  for (let x = 0; x < W; x++) { // min and max of the samples under each pixel column
    let lo = 0, hi = 0;
    for (let i = Math.floor(x * per); i < Math.floor((x + 1) * per) && i < samples.length; i++) {
      if (samples[i] < lo) lo = samples[i];
      if (samples[i] > hi) hi = samples[i];
    }
    g.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
  }
  g.strokeStyle = '#c9ced8';
  g.setLineDash([4, 4]);
  g.beginPath();
  g.moveTo(0, (H - 16) * 0.5);
  g.lineTo(W, (H - 16) * 0.5);
  g.stroke();
  g.setLineDash([]);
  g.strokeStyle = '#1b6ca8';
  g.lineWidth = 2;
  g.beginPath();
  for (let k = 0; k < n; k++) {
    const x = ((k + 0.5) / n) * W, y = (1 - probs[k]) * (H - 20) + 2;
    if (k) g.lineTo(x, y); else g.moveTo(x, y);
  }
  g.stroke();
  g.fillStyle = '#677084';
  g.font = '11px system-ui';
  for (let t = 0; t <= seconds; t += Math.max(1, Math.round(seconds / 10))) g.fillText(`${t}s`, (t / seconds) * W + 2, H - 3);
}

async function doVad(s, samples) {
  $('vad-segments').innerHTML = '';
  const msList = [];
  const t0 = performance.now();
  const { probs, frames } = await runVad(s.vad, Tensor, samples, {
    keep: samples.length <= 60 * SAMPLE_RATE, // raw feeds for the tests; not for long files (memory)
    onFrame: async (k, n, p, ms) => {
      msList.push(ms);
      if (k % 25 === 0) {
        $('vad-latency').textContent = `frame ${k + 1} of ${n}...`;
        await new Promise((ok) => setTimeout(ok, 0));
      }
    },
  });
  const total = performance.now() - t0;
  const segs = speechSegments(probs);
  drawVad(samples, probs, segs);
  for (const g of segs) {
    const li = document.createElement('li');
    li.textContent = `speech ${g.start.toFixed(2)} s - ${g.end.toFixed(2)} s`;
    $('vad-segments').appendChild(li);
  }
  if (!segs.length) $('vad-segments').innerHTML = '<li>no speech found</li>';
  $('vad-latency').textContent = `${probs.length} frames in ${fmtMs(total)}; median ${fmtMs(median(msList))} per frame (${((samples.length / SAMPLE_RATE) * 1000 / total).toFixed(0)}x real time)`;
  demo.vad = { probs: Array.from(probs), segments: segs, frames, msPerFrame: median(msList) };
}

// ---- speed ----

function speedInput(img) {
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const bgr = resampleBgr(img, 0, 0, img.width, img.height, 224, 224), plane = 224 * 224;
  const x = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) x[c * plane + i] = (bgr[(2 - c) * plane + i] / 255 - mean[c]) / std[c];
  return x;
}

function drawSpeed(ms) {
  const c = $('speed-canvas'), g = c.getContext('2d');
  const W = c.width, H = c.height, hi = Math.max(...ms) * 1.1;
  g.clearRect(0, 0, W, H);
  const bw = W / ms.length;
  ms.forEach((v, i) => {
    g.fillStyle = '#1b6ca8';
    const h = (v / hi) * (H - 14);
    g.fillRect(i * bw + 2, H - h, bw - 4, h);
  });
  g.fillStyle = '#677084';
  g.font = '11px system-ui';
  g.fillText(`one bar per run, tallest ${fmtMs(Math.max(...ms))}`, 4, 11);
}

async function doSpeed(s) {
  const sess = s.speed;
  const x = new Tensor('float32', speedInput(lastImage), [1, 3, 224, 224]);
  const feeds = { [sess.inputNames[0]]: x };
  const w0 = performance.now();
  await sess.run(feeds); // warm-up, not counted
  const warm = performance.now() - w0;
  const ms = [];
  let out;
  for (let i = 0; i < SPEED_RUNS; i++) {
    const t0 = performance.now();
    out = await sess.run(feeds);
    ms.push(performance.now() - t0);
    $('speed-latency').textContent = `run ${i + 1} of ${SPEED_RUNS}: ${fmtMs(ms[i])}`;
    drawSpeed(ms);
    await new Promise((ok) => setTimeout(ok, 0));
  }
  const dims = out[sess.outputNames[0]].dims;
  $('speed-latency').textContent = `median ${fmtMs(median(ms))} per run (min ${fmtMs(Math.min(...ms))}, first run ${fmtMs(warm)}); output [${dims.join(', ')}]`;
  demo.speed = { ms, median: median(ms), warm, dims: Array.from(dims) };
}

// ---- wiring ----

let Tensor = null;

// fetch, failing on an HTTP error status.
async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}: ${r.url}`);
  return r;
}

// Runs a card on a file the user chose or dropped (its bytes, or the File
// itself as a Blob for images).
function useFile(f, run, asBytes) {
  run(f.name, async () => (asBytes ? f.arrayBuffer() : f));
}

// Wires a card's file input and drag-and-drop on the card to run; the input
// is cleared after each choice so the same file can be chosen again.
function fileSources(card, input, run, asBytes = false) {
  const inp = $(input), el = $(card);
  inp.onchange = () => {
    const f = inp.files[0];
    inp.value = '';
    if (f) useFile(f, run, asBytes);
  };
  el.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    el.classList.toggle('drop', !inp.disabled);
  });
  el.addEventListener('dragleave', () => el.classList.remove('drop'));
  el.addEventListener('drop', (ev) => {
    ev.preventDefault();
    el.classList.remove('drop');
    const f = ev.dataTransfer && ev.dataTransfer.files[0];
    if (f && !inp.disabled) useFile(f, run, asBytes);
  });
}

// The value of an async function; its error says which file it was about.
async function named(file, work) {
  try {
    return await work();
  } catch (e) {
    throw new Error(`${file}: ${e && e.message ? e.message : e}`);
  }
}

// Runs fn with the card's buttons disabled; errors go to the error box.
function guarded(name, buttons, fn) {
  return async (...args) => {
    buttons.forEach((b) => { $(b).disabled = true; });
    demo.busy++;
    try { await fn(...args); } catch (e) { showError(name, e); } finally {
      demo.busy--;
      buttons.forEach((b) => { $(b).disabled = false; });
    }
  };
}

async function main() {
  let ferry;
  try {
    ferry = await import('./models/ocr-det/ferry.js');
  } catch (e) {
    showError('loading ferry.js', e);
    demo.state = 'error';
    return;
  }
  Tensor = ferry.Tensor;
  const simd = hasSimd();
  demo.backend = { name: 'ferry.wasm', executionProvider: 'wasm', simd, crossOriginIsolated: self.crossOriginIsolated };
  $('backend').textContent = `backend: ferry.wasm (CPU, wasm${simd ? ' SIMD128' : ''}), cross-origin isolated: ${self.crossOriginIsolated ? 'yes' : 'no'}`;
  const t0 = performance.now();
  const [s, dict] = await Promise.all([loadModels(ferry), fetchOk('models/ppocr_keys_v1.txt').then((r) => r.text()).catch((e) => { showError('loading the OCR dictionary', e); return null; })]);
  if (dict) classes = loadDictionary(dict);
  if (MODELS.every((m) => s[m.key])) $('load-progress').value = 1; // also when nothing was downloaded (all cached)
  $('load-text').textContent = `models ready in ${fmtMs(performance.now() - t0)}`;
  const where = Object.values(demo.loads).map((l) => l.backend).filter(Boolean);
  if (where.length) {
    demo.backend.session = where[0];
    $('backend').textContent += `, execution provider: ${[...new Set(where)].join(', ')} in a Web Worker`;
  }
  if (s.det && s.rec && classes) {
    const run = guarded('OCR', ['ocr-sample', 'ocr-file'], async (name, get) => doOcr(s, await named(name, async () => imageFromBlob(await get()))));
    $('ocr-sample').onclick = () => run('sample.png', () => fetchOk('samples/sample.png').then((r) => r.blob()));
    fileSources('ocr', 'ocr-file', run);
    $('ocr-sample').disabled = $('ocr-file').disabled = false;
  }
  if (s.vad) {
    const run = guarded('VAD', ['vad-sample', 'vad-file'], async (name, get) => doVad(s, await named(name, async () => loadMono16k(await get()))));
    $('vad-sample').onclick = () => run('sample.wav', () => fetchOk('samples/sample.wav').then((r) => r.arrayBuffer()));
    fileSources('vad', 'vad-file', run, true);
    $('vad-sample').disabled = $('vad-file').disabled = false;
  }
  if (s.speed) {
    lastImage = await imageFromBlob(await (await fetchOk('samples/sample.png')).blob());
    $('speed-run').onclick = guarded('speed', ['speed-run'], () => doSpeed(s));
    $('speed-run').disabled = false;
  }
  demo.state = demo.errors.length ? 'error' : 'ready';
}

main().catch((e) => {
  showError('demo', e);
  demo.state = 'error';
});
