// browser.mjs - one-thread latency of ferry.wasm (a `ferry pack` folder's
// ferry.js) and of onnxruntime-web's wasm backend, both in the same headless
// Chromium on the same page, same models, same inputs. Run by
// bench/browser.sh, which installs the packages, packs the models and lays
// out the served folder:
//
//   ROOT/ferry/NAME/   `ferry pack` of each model     ROOT/onnx/NAME.onnx
//   ROOT/ort/          onnxruntime-web's dist files   ROOT/bench.html (blank)
//
//   node bench/browser.mjs --root ROOT --runs N [--out FILE] [--extra FILE] [--command TEXT]
//
// Both run on the page's thread (ferry: worker: false; onnxruntime-web:
// proxy off, numThreads 1), inputs as bench/models.mjs makes them (fixed-seed
// LCG: floats uniform in [-1, 1), token ids in [0, 100), masks 1), WARMUP (5)
// runs then the median of N, the two runtimes' runs alternating. The first outputs of both are compared (max
// abs difference), so the two computed the same thing. Prints a table (and
// writes it, with --extra lines, to --out atomically).
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium } from '../tests/browser/browser.mjs';
import { serve } from '../tests/browser/serve.mjs';

const WARMUP = 5;
const MODELS = [
  { name: 'squeezenet1_1', file: 'squeezenet1_1' },
  { name: 'mobilenet_v2', file: 'mobilenet_v2' },
  { name: 'resnet18', file: 'resnet18' },
  { name: 'bert_tiny_op13 (seq 128)', file: 'bert_tiny_op13', dims: { batch: 1, sequence: 128 } },
  { name: 'bert_mini_op13 (4x256, seq 128)', file: 'bert_mini_op13', dims: { batch: 1, sequence: 128 } },
  { name: 'gpt_tiny_op13 (seq 128)', file: 'gpt_tiny_op13', dims: { batch: 1, sequence: 128 } },
  { name: 'PaddleOCR v4 det 640x640', file: 'ch_PP-OCRv4_det_infer', shapes: { x: [1, 3, 640, 640] } },
];

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['root', 'runs']) if (!args[k]) throw new Error(`browser.mjs: --${k} is required`);
const runs = Number(args.runs);

// In the page: times ferry.js and onnxruntime-web on model m; {ferry, ort, diff}.
// After the warm-up runs of both, their timed runs alternate (ferry, ORT,
// ferry, ...), so load from other work on the machine hits both alike.
async function inPage(m, runs, warmup) {
  const median = (t) => {
    t = [...t].sort((a, b) => a - b);
    const n = t.length;
    return n % 2 ? t[(n - 1) / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
  };
  const ferry = await import(`/ferry/${m.file}/ferry.js`);
  const ort = await import('/ort/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = '/ort/';
  const fs_ = await ferry.InferenceSession.create(`/ferry/${m.file}/`, { worker: false });
  const runtime = fs_.loadInfo.files[0].file; // ferry-relaxed.wasm where Chromium has relaxed SIMD
  const os_ = await ort.InferenceSession.create(`/onnx/${m.file}.onnx`, { executionProviders: ['wasm'], executionMode: 'sequential' });
  let seed = 1;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const ARR = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };
  const inputs = fs_.inputMetadata.map((inp) => {
    const dims = m.shapes?.[inp.name] ?? inp.shape.map((d) => (typeof d === 'number' ? d : m.dims?.[d] ?? 1));
    const Ctor = ARR[inp.type];
    const n = dims.reduce((a, b) => a * b, 1), data = new Ctor(n);
    const isMask = /mask/i.test(inp.name) || inp.type === 'bool';
    for (let i = 0; i < n; i++) {
      if (/float/.test(inp.type)) data[i] = rand() * 2 - 1;
      else { const v = isMask ? 1 : Math.floor(rand() * 100); data[i] = Ctor === BigInt64Array ? BigInt(v) : v; }
    }
    return { name: inp.name, type: inp.type, dims, data };
  });
  const ferryFeeds = Object.fromEntries(inputs.map((x) => [x.name, new ferry.Tensor(x.type, x.data, x.dims)]));
  const ortFeeds = Object.fromEntries(inputs.map((x) => [x.name, new ort.Tensor(x.type, x.data, x.dims)]));
  const first = fs_.outputNames[0];
  const ferryOut = (await fs_.run(ferryFeeds))[first].data;
  const ortOut = (await os_.run(ortFeeds))[first]?.data;
  for (let i = 1; i < warmup; i++) {
    await fs_.run(ferryFeeds);
    await os_.run(ortFeeds);
  }
  const tf = [], to = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await fs_.run(ferryFeeds);
    tf.push(performance.now() - t0);
    t0 = performance.now();
    await os_.run(ortFeeds);
    to.push(performance.now() - t0);
  }
  await fs_.release();
  await os_.release();
  let diff = ortOut ? 0 : NaN;
  if (ortOut) for (let i = 0; i < ortOut.length; i++) diff = Math.max(diff, Math.abs(Number(ortOut[i]) - Number(ferryOut[i])));
  // the ratio: the median of each pair's (runs next to each other: this
  // machine's slow phases last seconds and hit both runs of a pair)
  return { ferry: median(tf), ort: median(to), ratio: median(to.map((t, i) => t / tf[i])), diff, runtime };
}

const server = await serve(args.root);
const browser = await launchChromium();
const rows = [];
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}bench.html`);
  for (const m of MODELS) {
    process.stderr.write(`${m.name}\n`);
    rows.push({ name: m.name, ...await page.evaluate(`(${inPage})(${JSON.stringify(m)}, ${runs}, ${WARMUP})`) });
  }
} finally {
  await browser.close();
  await server.close();
}

const f = (v) => v.toFixed(v < 10 ? 2 : 1);
const table = [
  '| model | onnxruntime-web ms | ferry ms | ratio | max abs diff of the first output | ferry\'s runtime |',
  '|---|---:|---:|---:|---:|---|',
  ...rows.map((x) => `| ${x.name} | ${f(x.ort)} | ${f(x.ferry)} | ${x.ratio.toFixed(2)} | ${x.diff.toExponential(1)} | ${x.runtime} |`),
];
const extra = args.extra ? fs.readFileSync(args.extra, 'utf8').trimEnd() : '';
console.log(table.join('\n'));
if (extra) console.log('\n' + extra);
if (args.out) {
  const doc = [
    '# ferry.wasm and onnxruntime-web in Chromium',
    '',
    `Produced by \`${args.command || 'bench/browser.sh'}\`: medians on this machine in headless Chromium`,
    `(Debian's, driven by playwright-core), one thread, batch 1, ${WARMUP} warm-up runs then the median of ${runs};`,
    'not targets: rerun the command to compare. Both run on the page\'s thread, on the same page and the same',
    'fixed-seed inputs: ferry through a `ferry pack` folder\'s ferry.js (`worker: false`, which loads',
    'ferry-relaxed.wasm, the build with relaxed SIMD\'s fused multiply-add, where the browser validates it, else',
    'ferry.wasm; the last column says which ran), onnxruntime-web',
    '(bench/package.json) on its wasm backend (numThreads 1, SIMD, no proxy worker); their timed runs',
    'alternate, so load from other work hits both alike. The ratio is',
    'onnxruntime-web / ferry, the median of each pair of runs\' (next to each other: this machine\'s slow',
    'phases last seconds): above 1 means ferry is faster.',
    '',
    ...table,
    '',
    extra,
    '',
  ].join('\n');
  const tmp = `${args.out}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, doc);
  fs.renameSync(tmp, args.out);
}
