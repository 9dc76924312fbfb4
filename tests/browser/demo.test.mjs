// demo.test.mjs - the web demo (web-demo/, built by `make web-demo`) in
// headless Debian Chromium, driven by playwright-core (tests/browser/browser.mjs).
//
//   usage: node demo.test.mjs DIST
//   env:   FERRY (cli/ferry), FERRY_TEST_MODELS (npm/ holds the ONNX models),
//          FERRY_TEST_MODELS/browser/node_modules/playwright-core
//
// Checks, in order (each one prints "ok - ..." or fails the run with exit 1):
//   load      the page loads its four models, the progress bar moves through
//             values between 0 and 1 and ends full, the backend is shown, no
//             error; model files were downloaded (requests seen);
//   ocr       "Try the sample" on the OCR card: boxes and recognized text
//             appear; the page's raw detection and recognition inputs, run
//             natively by `ferry run` on the ONNX models, give the page's
//             outputs within rtol 1e-4 (atol 1e-6);
//   vad       "Try the sample" on the VAD card: a probability per frame and
//             speech segments; for a spread of frames the page's feeds run
//             natively give the page's probability and the next frame's state;
//   speed     the speed card runs SqueezeNet 20 times and shows a median;
//   cache     a second load in the same browser context makes no request for
//             ferry.wasm or a bundle file (ferry.js serves them from the
//             Cache API) and the page says "from cache"; the samples given
//             through the upload inputs (and the image dropped on its card)
//             there give the same results, and a
//             PNG given as a WAV shows a visible one-line error naming it;
//   corrupt   a copy of DIST with one byte of a bundle shard flipped: the page
//             shows a visible error naming the integrity failure.
// Exit status: 0 all passed, 1 a check failed, 2 bad usage or setup.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, statSync, cpSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const RTOL = 1e-4, ATOL = 1e-6;
// PaddleOCR det against native ferry: the page runs ferry-relaxed.wasm, whose
// GEMM tiles (4x8) and native AVX2's (6x16) leave different column edges, and
// an edge of one or two columns sums each dot product in an order of its own
// (gemm_ukernel.h's narrow kernel, 4 or 8 lanes); det's 62 convolutions and
// sigmoid carry that rounding to about 1e-4 relative, so it gets
// onnxruntime-level bounds (a wrong kernel is off by far more).
const DET_RTOL = 1e-3, DET_ATOL = 1e-5;

function fail(msg) {
  console.error(`not ok - ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}
const ok = (msg) => console.log(`ok - ${msg}`);
const check = (cond, msg) => (cond ? true : fail(msg));

// ---- .npy in and out (little-endian float32 and int64 only) ----

function writeNpy(path, dtype, dims, bytes) {
  const descr = { float32: '<f4', int64: '<i8' }[dtype];
  if (!descr) throw new Error(`writeNpy: dtype ${dtype}`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), bytes]));
}

function readNpy(path) {
  const b = readFileSync(path);
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (descr !== '<f4') throw new Error(`${path}: dtype ${descr}, expected <f4`);
  const data = b.subarray(start + hlen);
  return { dims, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

// The largest |a-b| beyond the tolerance and where; ok when none.
function compare(got, want, rtol = RTOL, atol = ATOL) {
  let worst = 0, at = -1, maxAbs = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i])) && (at < 0 || d > worst)) { worst = d; at = i; }
    if (!(d <= maxAbs)) maxAbs = d;
  }
  return { ok: at < 0 && got.length === want.length, at, worst, maxAbs };
}

// Runs the ONNX model natively: feeds {name: {dtype, dims, bytes}} -> {name: {dims, data}}.
function ferryRun(model, feeds, outputs, work) {
  const args = ['run', model];
  for (const [name, t] of Object.entries(feeds)) {
    const f = join(work, `in-${name}.npy`);
    writeNpy(f, t.dtype, t.dims, t.bytes);
    args.push('--input', `${name}=${f}`);
  }
  const out = join(work, 'out');
  rmSync(out, { recursive: true, force: true });
  args.push('--output-dir', out);
  const r = spawnSync(process.env.FERRY, args, { encoding: 'utf8', timeout: 120000 });
  check(r.status === 0, `ferry ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Object.fromEntries(outputs.map((n) => [n, readNpy(join(out, `${n}.npy`))]));
}

const f32 = (b64) => { const b = Buffer.from(b64, 'base64'); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };

// ---- server and browser ----

// Starts tests/browser/serve.mjs on dir; resolves to {url, stop}.
function serve(dir) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, 'serve.mjs'), dir, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('serve.mjs did not start in 10 s')), 10000);
    p.on('exit', (code) => reject(new Error(`serve.mjs exited ${code}`)));
    p.stdout.on('data', (d) => {
      buf += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop: () => p.kill() });
      }
    });
  });
}

const isModelFile = (u) => /\/models\/[^?]*(\.wasm|\.ferry(\.\d+)?)(\?|$)/.test(u);

async function openDemo(context, url) {
  const page = await context.newPage();
  const requests = [];
  const consoleLines = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => consoleLines.push(m.text()));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(url);
  try {
    await page.waitForFunction(() => window.__demo && window.__demo.state !== 'loading', null, { timeout: 180000 });
  } catch (e) {
    fail(`the page did not finish loading: ${e.message}\nconsole:\n${consoleLines.join('\n')}`);
  }
  return { page, requests, consoleLines };
}

// Clicks a card's button and waits until the page has its result in __demo[key].
async function runCard(page, button, key) {
  await page.evaluate((k) => { window.__demo[k] = null; }, key);
  await page.click(button);
  await page.waitForFunction((k) => (window.__demo[k] !== null || window.__demo.errors.length > 0) && window.__demo.busy === 0, key, { timeout: 180000 });
  const errors = await page.evaluate(() => window.__demo.errors);
  check(errors.length === 0, `${button}: the page reports ${errors.join('; ')}`);
}

// ---- the checks ----

async function checkLoad(page, requests) {
  const d = await page.evaluate(() => ({ state: __demo.state, errors: __demo.errors, progress: __demo.progress, loads: __demo.loads,
    bar: document.getElementById('load-progress').value, backend: document.getElementById('backend').textContent }));
  check(d.state === 'ready', `page state ${d.state}: ${d.errors.join('; ')}`);
  check(d.bar === 1, `the progress bar ends at ${d.bar}, not 1`);
  const between = d.progress.filter((p) => p.value > 0 && p.value < 1).length;
  check(between >= 2, `the progress bar took ${between} values between 0 and 1 (of ${d.progress.length} updates)`);
  check(d.progress.every((p, i) => i === 0 || p.value >= d.progress[i - 1].value), 'the progress bar went backwards');
  check(/ferry\.wasm/.test(d.backend), `backend badge says "${d.backend}"`);
  check(Object.keys(d.loads).length === 4 && Object.values(d.loads).every((l) => !l.cached), `first load: ${JSON.stringify(d.loads)}`);
  const model = requests.filter(isModelFile);
  check(model.some((u) => /\.wasm/.test(u)) && model.some((u) => /\.ferry/.test(u)), `first load requested no model files: ${requests.join(' ')}`);
  ok(`load: 4 models, progress bar through ${between} values between 0 and 1, ${model.length} model file requests, backend "${d.backend}"`);
}

async function checkOcr(page, npm, work) {
  await runCard(page, '#ocr-sample', 'ocr');
  const r = await page.evaluate(() => {
    const o = __demo.ocr, b = __demo.b64;
    const t = (x) => ({ dims: x.dims, b64: b(x.data) });
    return { lines: o.lines, det: { feeds: { x: t(o.det.feeds.x) }, output: t(o.det.output) },
      rec: o.rec.map((r) => ({ feeds: { x: t(r.feeds.x) }, output: t(r.output) })),
      items: [...document.querySelectorAll('#ocr-text li')].map((li) => li.textContent) };
  });
  check(r.lines.length >= 2, `OCR found ${r.lines.length} boxes on the sample`);
  check(r.items.length === r.lines.length, `the page lists ${r.items.length} texts for ${r.lines.length} boxes`);
  const texts = r.lines.map((l) => l.text);
  check(texts.some((t) => t.includes('BROWSER')), `no recognized line contains BROWSER: ${JSON.stringify(texts)}`);
  const runs = [['det', `${npm}/ch_PP-OCRv4_det_infer.onnx`, 'sigmoid_0.tmp_0', r.det],
    ...r.rec.map((x, i) => [`rec ${i}`, `${npm}/ch_PP-OCRv4_rec_infer.onnx`, 'softmax_11.tmp_0', x])];
  const notes = [];
  for (const [what, model, outName, x] of runs) {
    const feeds = { x: { dtype: 'float32', dims: x.feeds.x.dims, bytes: Buffer.from(x.feeds.x.b64, 'base64') } };
    const want = ferryRun(model, feeds, [outName], work)[outName];
    const got = f32(x.output.b64);
    check(JSON.stringify(want.dims) === JSON.stringify(x.output.dims), `${what}: page dims ${x.output.dims}, native ${want.dims}`);
    const c = what === 'det' ? compare(got, want.data, DET_RTOL, DET_ATOL) : compare(got, want.data);
    check(c.ok, `${what}: page output differs from native ferry run at ${c.at}: ${got[c.at]} vs ${want.data[c.at]}`);
    notes.push(`${what} ${x.feeds.x.dims.join('x')} max |diff| ${c.maxAbs.toExponential(1)}`);
  }
  ok(`ocr: ${r.lines.length} boxes, text ${JSON.stringify(texts)}; equal to native: ${notes.join(', ')}`);
}

async function checkVad(page, npm, work) {
  await runCard(page, '#vad-sample', 'vad');
  const n = await page.evaluate(() => __demo.vad.probs.length);
  const v = await page.evaluate(() => ({ probs: __demo.vad.probs, segments: __demo.vad.segments,
    items: document.querySelectorAll('#vad-segments li').length }));
  check(n > 100 && v.probs.every((p) => p >= 0 && p <= 1), `VAD gave ${n} frame probabilities`);
  check(v.segments.length >= 1 && v.items === v.segments.length, `VAD: ${v.segments.length} segments, ${v.items} listed`);
  let top = 0;
  v.probs.forEach((p, k) => { if (p > v.probs[top]) top = k; });
  const picks = [...new Set([0, 1, top, Math.floor(n / 4), Math.floor(n / 2), Math.floor((3 * n) / 4), n - 2])].sort((a, b) => a - b);
  let worst = 0;
  for (const k of picks) {
    const fr = await page.evaluate(([k]) => {
      const b = __demo.b64, f = __demo.vad.frames;
      const t = (x) => ({ dims: x.dims, b64: b(x.data) });
      return { input: t(f[k].feeds.input), state: t(f[k].feeds.state), sr: t(f[k].feeds.sr), output: t(f[k].output), next: t(f[k + 1].feeds.state) };
    }, [k]);
    const feeds = Object.fromEntries(['input', 'state', 'sr'].map((name) => [name, {
      dtype: name === 'sr' ? 'int64' : 'float32', dims: fr[name].dims, bytes: Buffer.from(fr[name].b64, 'base64') }]));
    const want = ferryRun(`${npm}/silero_vad_v5.onnx`, feeds, ['output', 'stateN'], work);
    for (const [what, got, w] of [['output', f32(fr.output.b64), want.output.data], ['stateN', f32(fr.next.b64), want.stateN.data]]) {
      const c = compare(got, w);
      check(c.ok, `VAD frame ${k} ${what}: page differs from native ferry run at ${c.at}: ${got[c.at]} vs ${w[c.at]}`);
      worst = Math.max(worst, c.maxAbs);
    }
  }
  ok(`vad: ${n} frames, segments ${v.segments.map((s) => `${s.start.toFixed(2)}-${s.end.toFixed(2)}s`).join(' ')}; `
    + `frames ${picks.join(',')} equal to native (probability and next state, max |diff| ${worst.toExponential(1)})`);
}

async function checkSpeed(page) {
  await runCard(page, '#speed-run', 'speed');
  const s = await page.evaluate(() => ({ ...__demo.speed, text: document.getElementById('speed-latency').textContent }));
  check(s.ms.length === 20 && s.median > 0 && /median/.test(s.text), `speed card: ${JSON.stringify(s)}`);
  ok(`speed: SqueezeNet median ${s.median.toFixed(1)} ms over ${s.ms.length} runs ("${s.text}")`);
}

// The second load, from the cache; there the samples go in through the
// upload inputs and must give the first load's results.
async function checkCache(context, url, dist, first) {
  const { page, requests } = await openDemo(context, url);
  const d = await page.evaluate(() => ({ state: __demo.state, errors: __demo.errors, loads: __demo.loads,
    table: document.getElementById('model-table').textContent, bar: document.getElementById('load-progress').value }));
  check(d.bar === 1, `second load: the progress bar ends at ${d.bar}`);
  check(d.state === 'ready', `second load: state ${d.state}: ${d.errors.join('; ')}`);
  const model = requests.filter(isModelFile);
  check(model.length === 0, `second load requested model files: ${model.join(' ')}`);
  check(Object.values(d.loads).every((l) => l.cached) && /from cache/.test(d.table), `second load: ${JSON.stringify(d.loads)}`);
  await page.setInputFiles('#ocr-file', join(dist, 'samples', 'sample.png'));
  await page.waitForFunction(() => (window.__demo.ocr !== null || window.__demo.errors.length > 0) && window.__demo.busy === 0, null, { timeout: 180000 });
  await page.setInputFiles('#vad-file', join(dist, 'samples', 'sample.wav'));
  await page.waitForFunction(() => (window.__demo.vad !== null || window.__demo.errors.length > 0) && window.__demo.busy === 0, null, { timeout: 180000 });
  const up = await page.evaluate(() => ({ errors: __demo.errors, texts: __demo.ocr.lines.map((l) => l.text), probs: __demo.vad.probs }));
  check(up.errors.length === 0, `uploads: ${up.errors.join('; ')}`);
  check(JSON.stringify(up.texts) === JSON.stringify(first.texts), `uploaded image read as ${JSON.stringify(up.texts)}, the sample button gave ${JSON.stringify(first.texts)}`);
  check(JSON.stringify(up.probs) === JSON.stringify(first.probs), 'the uploaded WAV gave other VAD probabilities than the sample button');
  await page.evaluate(async () => { // drag and drop of the sample image on the OCR card
    __demo.ocr = null;
    const dt = new DataTransfer();
    dt.items.add(new File([await (await fetch('samples/sample.png')).blob()], 'dropped.png', { type: 'image/png' }));
    document.getElementById('ocr').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => (window.__demo.ocr !== null || window.__demo.errors.length > 0) && window.__demo.busy === 0, null, { timeout: 180000 });
  const dropped = await page.evaluate(() => ({ errors: __demo.errors, texts: __demo.ocr && __demo.ocr.lines.map((l) => l.text) }));
  check(dropped.errors.length === 0 && JSON.stringify(dropped.texts) === JSON.stringify(first.texts), `dropped image: ${JSON.stringify(dropped)}`);
  await page.setInputFiles('#vad-file', join(dist, 'samples', 'sample.png'));
  await page.waitForFunction(() => window.__demo.errors.length > 0 && window.__demo.busy === 0, null, { timeout: 30000 });
  const bad = await page.locator('#error').textContent();
  check(await page.locator('#error').isVisible() && /sample\.png: not a WAV file/.test(bad), `a PNG given as WAV: the page says "${bad}"`);
  check(!(await page.locator('#vad-sample').isDisabled()), 'after a bad upload the VAD card stays usable');
  ok(`cache: second load made no model file requests (${requests.length} requests in all: page, scripts, manifests); `
    + `uploading the samples there (input and drag and drop) gives the same text and probabilities; a PNG as WAV shows "${bad.trim()}"`);
  await page.close();
}

function biggestShard(dir) {
  const files = readdirSync(dir).filter((f) => /\.ferry(\.\d+)?$/.test(f));
  files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size);
  return join(dir, files[0]);
}

async function checkCorrupt(browser, dist, work) {
  const copy = join(work, 'dist-corrupt');
  cpSync(dist, copy, { recursive: true });
  const shard = biggestShard(join(copy, 'models', 'ocr-rec'));
  const bytes = readFileSync(shard);
  bytes[bytes.length >> 1] ^= 0x5a;
  writeFileSync(shard, bytes);
  const server = await serve(copy);
  const context = await browser.newContext();
  try {
    const { page } = await openDemo(context, server.url);
    const d = await page.evaluate(() => ({ state: __demo.state, errors: __demo.errors }));
    check(d.state === 'error', `corrupted shard: page state ${d.state}`);
    const box = page.locator('#error');
    check(await box.isVisible(), 'corrupted shard: the error box is not visible');
    const text = await box.textContent();
    check(/integrity|sha256/i.test(text) && /ocr-rec|recognition/.test(text), `corrupted shard: the page says "${text}"`);
    check(await page.locator('#ocr-sample').isDisabled(), 'corrupted shard: OCR can still be started');
    ok(`corrupt: ${shard.slice(copy.length + 1)} with one byte flipped is refused: "${text.trim()}"`);
  } finally {
    await context.close();
    server.stop();
  }
}

async function main() {
  const dist = process.argv[2];
  if (!dist || !existsSync(join(dist, 'index.html'))) {
    console.error('usage: demo.test.mjs DIST (a folder built by web-demo/build.sh)');
    process.exit(2);
  }
  for (const v of ['FERRY', 'FERRY_TEST_MODELS']) if (!process.env[v]) { console.error(`demo.test.mjs: set ${v}`); process.exit(2); }
  const npm = join(process.env.FERRY_TEST_MODELS, 'npm');
  const work = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  const server = await serve(dist);
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const first = await openDemo(context, server.url);
    await checkLoad(first.page, first.requests);
    await checkOcr(first.page, npm, work);
    await checkVad(first.page, npm, work);
    await checkSpeed(first.page);
    const results = await first.page.evaluate(() => ({ texts: __demo.ocr.lines.map((l) => l.text), probs: __demo.vad.probs }));
    await first.page.close();
    await checkCache(context, server.url, dist, results);
    await context.close();
    await checkCorrupt(browser, dist, work);
  } finally {
    await browser.close();
    server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  if (!process.exitCode) console.error(`not ok - ${e.stack || e.message}`);
  process.exit(1);
});
