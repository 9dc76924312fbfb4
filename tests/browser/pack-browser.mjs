// pack-browser.mjs - a `ferry pack` folder in headless Chromium (Debian's,
// driven by playwright-core; tests/check_pack.c runs it).
//
//   FERRY=cli/ferry FERRY_TEST_MODELS=... node pack-browser.mjs ROOT SUBPATH [MORE...]
//
// ROOT is served by serve.mjs; ROOT/SUBPATH is a pack folder (a sub-path, as
// on GitHub Pages); MORE are other pack folders under ROOT, each checked by
// more-outputs-native (symbolic dims batch 1, sequence 8). Checks, one "PASS name" or "FAIL name: why" line each,
// exit 1 on a FAIL:
//   page-loads        index.html loads the model in a Web Worker, runs it, shows
//                     every output
//   page-progress     progress events (one per fetched chunk, so at least one per
//                     file) rise to loaded == total == the bytes of the runtime
//                     and the shards, and the progress bar ends full
//   page-network      the first load fetched the runtime and every shard
//   page-runtime      Chromium has relaxed SIMD, so the page loaded
//                     ferry-relaxed.wasm when the pack has it (else ferry.wasm)
//   page-outputs-native  the page's outputs equal `ferry run` on the page's
//                     inputs (rtol 1e-4, atol 1e-5)
//   cache-second-load a reload makes no request for ferry.wasm or any shard
//                     (counted with page.on('request')), reads them all from the
//                     Cache API and gives the same outputs
//   page-main-thread  ?worker=0 (no Web Worker) gives the same outputs
//   worker-responsive while the worker runs, page timers keep ticking (the gap
//                     is under half the gap the main-thread run causes)
//   error-integrity   a corrupted shard (same size) is refused with a visible
//                     error naming the shard and the integrity check
//   error-http-404    a missing shard is a visible error with the status and URL
//   error-no-simd, error-no-worker  a browser without WebAssembly SIMD or Web
//                     Workers gets an error naming the missing feature
//   more-outputs-native  each MORE page's outputs equal `ferry run` on its inputs
//   api-*             Tensor types in the page; an execution provider ferry
//                     does not have is a clear error
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareOutput, encodeTensorProto, readDataSet, DTYPES } from '../ort/tensorproto.mjs';
import { launchChromium } from './browser.mjs';
import { serve } from './serve.mjs';

const [root, sub, ...more] = process.argv.slice(2);
if (!sub) {
  console.error('usage: node pack-browser.mjs ROOT SUBPATH [MORE_SUBPATH...]');
  process.exit(2);
}
const ferryBin = process.env.FERRY;
if (!ferryBin) {
  console.error('pack-browser.mjs: set FERRY to the ferry command');
  process.exit(2);
}
const packDir = path.join(root, sub);
const manifest = JSON.parse(readFileSync(path.join(packDir, 'manifest.json'), 'utf8'));
// the runtime ferry.js should pick here (this Chromium validates relaxed SIMD)
const runtime = manifest.runtime_relaxed ?? manifest.runtime;
const modelFiles = [runtime, ...manifest.shards].map((f) => f.file);
const loadBytes = [runtime, ...manifest.shards].reduce((a, f) => a + f.size, 0);
const lastShard = manifest.shards[manifest.shards.length - 1].file;
let failed = 0;
const check = (name, ok, why = '') => {
  console.log(ok ? `PASS ${name}` : `FAIL ${name}: ${why}`);
  if (!ok) failed++;
};
const TIMEOUT = 180000;

// A corrupted copy (one byte of the last shard flipped) and one missing it.
cpSync(packDir, path.join(root, 'corrupt'), { recursive: true });
const bytes = readFileSync(path.join(root, 'corrupt', lastShard));
bytes[bytes.length >> 1] ^= 0x5a;
writeFileSync(path.join(root, 'corrupt', lastShard), bytes);
cpSync(packDir, path.join(root, 'missing'), { recursive: true });
unlinkSync(path.join(root, 'missing', lastShard));

const server = await serve(root);
const browser = await launchChromium();
const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-pack-browser-'));

// Opens url in page and waits for index.html to finish; its window.ferryPage.
async function loadPage(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.ferryPage && window.ferryPage.done, null, { timeout: TIMEOUT });
  return page.evaluate(() => window.ferryPage);
}

// The page's tensors {type, dims, data: numbers} as {type, dims, data: typed array}.
function typed(t) {
  const Ctor = Object.values(DTYPES).find(([n]) => n === t.type)[1];
  const data = Ctor === BigInt64Array || Ctor === BigUint64Array ? Ctor.from(t.data, BigInt) : Ctor.from(t.data);
  return { type: t.type, dims: t.dims, data };
}

// check `name`: the outputs of page state st equal `ferry run` of dir's
// bundle on the page's inputs (rtol 1e-4, atol 1e-5).
function nativeCheck(name, st, dir) {
  if (!st.inputs || !st.outputs) return check(name, false, st.error ?? 'the page has no outputs');
  const tag = name.replace(/[^A-Za-z0-9_-]/g, '_');
  const out = path.join(work, `native-${tag}`);
  const args = ['run', path.join(dir, 'model.ferry'), '--output-dir', out];
  Object.entries(st.inputs).forEach(([input, t], k) => {
    const file = path.join(work, `${tag}-input_${k}.pb`);
    const x = typed(t);
    writeFileSync(file, encodeTensorProto(input, x.type, x.dims, x.data));
    args.push('--input', `${input}=${file}`);
  });
  execFileSync(ferryBin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const native = readDataSet(out, 'output', Object.keys(st.outputs));
  const lines = Object.entries(st.outputs).map(([o, t]) => compareOutput(o, typed(t), native[o], 1e-4, 1e-5));
  lines.forEach((c) => console.log(`  ${c.line}`));
  check(name, lines.every((c) => c.ok), lines.map((c) => c.line).join('; '));
}

const sameOutputs = (a, b) => Object.keys(a).length === Object.keys(b).length &&
  Object.keys(a).every((k) => a[k].data.length === b[k].data.length && a[k].data.every((v, i) => Object.is(v, b[k].data[i])));

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
  const url = `${server.url}${sub.replace(/\/?$/, '/')}`;

  // first load: network
  const first = await loadPage(page, url);
  const rows = await page.locator('#outputs tbody tr').count();
  check('page-loads', !first.error && first.outputs && rows === manifest.outputs.length &&
    await page.locator('#outputs').isVisible(), first.error ?? `${rows} output rows`);
  const p = first.progress, last = p[p.length - 1];
  const bar = await page.evaluate(() => [document.getElementById('progress').value, document.getElementById('progress').max]);
  check('page-progress', p.length >= modelFiles.length && p.every((e, k) => !k || e.loaded >= p[k - 1].loaded) &&
    last.loaded === last.total && last.total === loadBytes && bar[0] === bar[1] && bar[1] === last.total,
  `${p.length} events, last ${JSON.stringify(last)}, bar ${bar}, runtime and shards ${loadBytes} bytes`);
  const fetched = modelFiles.filter((f) => requests.some((r) => r.endsWith(`/${f}`)));
  check('page-network', fetched.length === modelFiles.length && first.files.every((f) => f.source === 'network'),
    `fetched ${fetched}, sources ${first.files.map((f) => f.source)}`);
  check('page-runtime', first.files[0]?.file === runtime.file, `loaded ${first.files[0]?.file}, expected ${runtime.file}`);

  // the page's inputs through native `ferry run`
  nativeCheck('page-outputs-native', first, packDir);

  // second load: the Cache API, no request for model files
  requests.length = 0;
  const second = await loadPage(page, url);
  const modelRequests = requests.filter((r) => modelFiles.some((f) => r.endsWith(`/${f}`)));
  check('cache-second-load', !second.error && modelRequests.length === 0 &&
    second.files.every((f) => f.source === 'cache') && sameOutputs(first.outputs, second.outputs),
  second.error ?? `requests ${modelRequests}, sources ${second.files.map((f) => f.source)}`);

  // the page thread instead of the worker
  const inline = await loadPage(page, `${url}?worker=0`);
  check('page-main-thread', !inline.error && sameOutputs(first.outputs, inline.outputs), inline.error ?? 'outputs differ');

  // timers on the page keep running while the worker computes
  // (up to three tries: a loaded machine can stall any thread once; a worker
  // that blocks the page fails every time)
  let gaps;
  for (let attempt = 0; attempt < 3; attempt++) {
    gaps = await page.evaluate(async () => {
      const ferry = await import('./ferry.js');
      const gapWhile = async (worker) => {
        const s = await ferry.InferenceSession.create('./', { worker });
        const feeds = {};
        for (const m of s.inputMetadata) {
          const dims = m.shape.map((d) => (typeof d === 'number' ? d : 1));
          const n = dims.reduce((a, b) => a * b, 1);
          feeds[m.name] = m.type === 'int64' ? new ferry.Tensor('int64', new BigInt64Array(n), dims)
            : new ferry.Tensor(m.type, new (m.type === 'float32' ? Float32Array : Uint8Array)(n), dims);
        }
        await s.run(feeds); // warm up (plans)
        let lastTick = performance.now(), gap = 0;
        const timer = setInterval(() => { const t = performance.now(); gap = Math.max(gap, t - lastTick); lastTick = t; }, 5);
        await new Promise((r) => setTimeout(r, 20));
        const t0 = performance.now();
        for (let k = 0; k < 3; k++) await s.run(feeds);
        const ms = (performance.now() - t0) / 3;
        await new Promise((r) => setTimeout(r, 20));
        clearInterval(timer);
        await s.release();
        return { gap, ms };
      };
      return { worker: await gapWhile(true), page: await gapWhile(false) };
    });
    console.log(`  timer gaps: ${JSON.stringify(gaps)}`);
    if (gaps.worker.gap < gaps.page.gap / 2) break;
  }
  check('worker-responsive', gaps.worker.gap < gaps.page.gap / 2, JSON.stringify(gaps));

  // API details in the page
  const api = await page.evaluate(async () => {
    const ferry = await import('./ferry.js');
    const r = {};
    const t = new ferry.Tensor('int64', [1, 2, 3, 4, 5, 6], [2, 3]);
    r.int64 = t.data instanceof BigInt64Array && t.size === 6 && t.dims.join() === '2,3';
    const u = new ferry.Tensor(new Float32Array(4), [2, 2]);
    r.inferred = u.type === 'float32';
    try {
      await ferry.InferenceSession.create('./', { executionProviders: ['webgpu'] });
      r.provider = 'no error';
    } catch (e) { r.provider = e.message; }
    return r;
  });
  check('api-tensor', api.int64 && api.inferred, JSON.stringify(api));
  check('api-provider-error', /none of the execution providers \[webgpu\]/.test(api.provider), api.provider);
  await context.close();

  // more models: symbolic dims bound by the page's query, outputs equal native
  for (const other of more) {
    const ctx = await browser.newContext();
    const st = await loadPage(await ctx.newPage(), `${server.url}${other.replace(/\/?$/, '/')}?dim.batch=1&dim.sequence=8`);
    nativeCheck(`more-outputs-native ${other}`, st, path.join(root, other));
    await ctx.close();
  }

  // a corrupted shard, a missing one, a browser without wasm SIMD or Web
  // Workers (simulated before the page's scripts run): fresh contexts
  const escaped = lastShard.replace(/\./g, '\\.');
  for (const [name, folder, pattern, init] of [
    ['error-integrity', 'corrupt', new RegExp(`integrity check failed for ${escaped}`)],
    ['error-http-404', 'missing', new RegExp(`HTTP 404[^:]*: ${server.url}missing/${escaped}`)],
    ['error-no-simd', sub, /lacks WebAssembly SIMD/, 'WebAssembly.validate = () => false;'],
    ['error-no-worker', sub, /lacks Web Workers/, 'delete window.Worker;'],
  ]) {
    const ctx = await browser.newContext();
    const pg = await ctx.newPage();
    if (init) await pg.addInitScript(init);
    const st = await loadPage(pg, `${server.url}${folder.replace(/\/?$/, '/')}`);
    const shown = await pg.locator('#error').isVisible() ? await pg.locator('#error').textContent() : '(no visible error)';
    check(name, pattern.test(shown) && !st.outputs, shown);
    await ctx.close();
  }
} catch (e) {
  check('browser-run', false, e.stack || e.message);
} finally {
  await browser.close();
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${failed ? 'FAILED' : 'ok'}: pack-browser ${failed} failed`);
process.exit(failed ? 1 : 0);
