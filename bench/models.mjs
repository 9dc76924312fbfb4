// models.mjs - one-thread latency of real models in four runtimes, measured in
// the same run: onnxruntime-node, ferry native (bench/ferry_native.c),
// onnxruntime-web (wasm backend in node) and ferry.wasm (runtime/js/ferry-node.mjs),
// plus ferry-relaxed.wasm (relaxed SIMD) when --wasm-relaxed names it.
// Run by bench/models.sh, which installs onnxruntime, converts the models and
// builds ferry_native:
//
//   node bench/models.mjs --models DIR --bundles DIR --ort DIR --native EXE
//        --wasm FERRY_WASM --runs N [--wasm-relaxed FERRY_RELAXED_WASM] [--extra FILE]
//        [--out docs/performance.md] [--command TEXT]
//        [--only REGEX]   (only the models whose names match: a quick look, not for --out)
//
// Every runtime gets the same inputs (fixed-seed LCG: floats uniform in
// [-1, 1), token ids in [0, 100), masks 1). The N timed runs of each are
// taken in ROUNDS (10) rounds that go through the four runtimes in turn (WARMUP
// runs before the first round, one before each later one; WARMUP before every
// round of ferry native, which runs in a new process each time), so a slow
// minute on a shared machine falls on all alike; the times are the
// medians of the N, a ratio the median over the rounds of the round's
// ratio (paired: the machine's slow phases last seconds). Prints a table and writes it (plus --extra lines:
// machine, GEMM, wasm size) to --out atomically (temp file + rename).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { enableRelaxedSimd, loadFerry } from '../runtime/js/ferry-node.mjs';

const WARMUP = 5;
const ROUNDS = 10;
// name, ONNX file (under --models), bundle (default: the ONNX file's name), symbolic dims or fixed shapes
const MODELS = [
  { name: 'squeezenet1_1', onnx: 'squeezenet1_1.onnx' },
  { name: 'mobilenet_v2', onnx: 'mobilenet_v2.onnx' },
  { name: 'resnet18', onnx: 'resnet18.onnx' },
  { name: 'bert_tiny_op13 (seq 128)', onnx: 'bert_tiny_op13.onnx', dims: { batch: 1, sequence: 128 } },
  { name: 'bert_mini_op13 (4x256, seq 128)', onnx: 'bert_mini_op13.onnx', dims: { batch: 1, sequence: 128 } },
  { name: 'gpt_tiny_op13 (seq 128)', onnx: 'gpt_tiny_op13.onnx', dims: { batch: 1, sequence: 128 } },
  { name: 'gpt_tiny_op13 (seq 128), --disable fuse-attention', onnx: 'gpt_tiny_op13.onnx', bundle: 'gpt_tiny_op13_noatt.ferry',
    dims: { batch: 1, sequence: 128 } },
  { name: 'PaddleOCR v4 det 640x640', onnx: 'npm/ch_PP-OCRv4_det_infer.onnx', shapes: { x: [1, 3, 640, 640] } },
  // MatMul chains by constant weights (bench/make-matmul.py): the GEMM alone, in GFLOP/s
  { name: '8 x ([1,128,256] x [256,256]): BERT-mini Q, K, V, output', onnx: 'bench/matmul_chain_256.onnx', flops: 8 * 2 * 128 * 256 * 256 },
  { name: '4 x ([1,128,256] x [256,1024], x [1024,256]): BERT-mini FFN', onnx: 'bench/matmul_chain_ffn.onnx', flops: 8 * 2 * 128 * 256 * 1024 },
];
const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array, float64: Float64Array };

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['models', 'bundles', 'ort', 'native', 'wasm', 'runs'])
  if (!args[k]) throw new Error(`models.mjs: --${k} is required`);
const runs = Number(args.runs);

const median = (t) => {
  t = [...t].sort((a, b) => a - b);
  const n = t.length;
  return n % 2 ? t[(n - 1) / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
};
// n timed runs (ms) after `warm` untimed ones
async function samples(run, n, warm) {
  for (let i = 0; i < warm; i++) await run();
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run();
    t.push(performance.now() - t0);
  }
  return t;
}

// inputs from ferry's view of the model (names, dtypes, dims in run order)
function makeInputs(inputs, m) {
  let seed = 1;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  return inputs.map((inp) => {
    const dims = m.shapes?.[inp.name] ?? inp.dims.map((d) => (typeof d === 'number' ? d : m.dims?.[d] ?? 1));
    const Ctor = ARRAYS[inp.dtype];
    if (!Ctor) throw new Error(`${m.name}: input '${inp.name}': dtype ${inp.dtype} not handled`);
    const n = dims.reduce((a, b) => a * b, 1), data = new Ctor(n);
    const isMask = /mask/i.test(inp.name) || inp.dtype === 'bool';
    for (let i = 0; i < n; i++) {
      if (/float/.test(inp.dtype)) data[i] = rand() * 2 - 1;
      else { const v = isMask ? 1 : Math.floor(rand() * 100); data[i] = Ctor === BigInt64Array ? BigInt(v) : v; }
    }
    return { name: inp.name, dtype: inp.dtype, dims, data };
  });
}

const req = createRequire(path.join(path.resolve(args.ort), 'package.json'));
const ortNode = req('onnxruntime-node');
const ortWeb = await import(pathToFileURL(req.resolve('onnxruntime-web')).href);
ortWeb.env.wasm.numThreads = 1; // before the first session; intraOpNumThreads is ignored by the web backend
ortWeb.env.wasm.simd = true;
ortWeb.env.wasm.proxy = false;
const ferry = await loadFerry(args.wasm);
// node 20 has relaxed SIMD behind a V8 flag (on from node 22, and in Chromium
// since 114): turned on in this process only for ferry-relaxed.wasm;
// onnxruntime-web's module uses none of it
if (args['wasm-relaxed'] && !enableRelaxedSimd()) throw new Error('models.mjs: this node has no relaxed SIMD');
const relaxed = args['wasm-relaxed'] ? await loadFerry(args['wasm-relaxed']) : null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));

const rows = [];
try {
  for (const m of MODELS.filter((m) => !args.only || new RegExp(args.only).test(m.name))) {
    const onnx = path.join(args.models, m.onnx);
    const bundle = path.join(args.bundles, m.bundle ?? path.basename(m.onnx, '.onnx') + '.ferry');
    const fs_ = ferry.openBundle(bundle), fr = relaxed?.openBundle(bundle);
    const ins = makeInputs(fs_.inputs, m);
    process.stderr.write(`${m.name}: ${ROUNDS} rounds of ORT-node, ferry native, ORT-web, ferry wasm${fr ? ', ferry wasm relaxed' : ''}\n`);
    const sNode = await ortNode.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    const feedsNode = Object.fromEntries(ins.map((x) => [x.name, new ortNode.Tensor(x.dtype, x.data, x.dims)]));
    const sWeb = await ortWeb.InferenceSession.create(new Uint8Array(fs.readFileSync(onnx)), { executionProviders: ['wasm'], executionMode: 'sequential' });
    const feedsWeb = Object.fromEntries(ins.map((x) => [x.name, new ortWeb.Tensor(x.dtype, x.data, x.dims)]));
    const feedsWasm = Object.fromEntries(ins.map((x) => [x.name, { data: x.data, dims: x.dims }]));
    const specs = ins.map((x, i) => {
      const f = path.join(tmp, `in${i}.bin`);
      fs.writeFileSync(f, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
      return `${f}:${x.dims.join('x')}`;
    });
    // ferry_native runs in a process of its own: n runs after `warm`, each time printed
    const native = (n, warm) => {
      const r = spawnSync(args.native, [bundle, String(n), String(warm), ...specs], { encoding: 'utf8' });
      const got = /times ([0-9. ]+)/.exec(r.stdout || '');
      if (r.status !== 0 || !got) throw new Error(`ferry_native on ${bundle}: ${r.stderr || r.stdout}`);
      return got[1].trim().split(' ').map(Number);
    };
    const t = { ortNode: [], ferryNative: [], ortWeb: [], ferryWasm: [], ...(fr ? { ferryRelaxed: [] } : {}) };
    const perRound = Object.fromEntries(Object.keys(t).map((k) => [k, []])); // each round's median
    const add = (k, s) => { t[k].push(...s); perRound[k].push(median(s)); };
    for (let r = 0; r < ROUNDS; r++) {
      const n = Math.floor(runs / ROUNDS) + (r < runs % ROUNDS ? 1 : 0), warm = r ? 1 : WARMUP;
      add('ortNode', await samples(() => sNode.run(feedsNode), n, warm));
      add('ferryNative', native(n, WARMUP)); // a new process each round: warmed up as at the start
      add('ortWeb', await samples(() => sWeb.run(feedsWeb), n, warm));
      add('ferryWasm', await samples(() => fs_.run(feedsWasm), n, warm));
      if (fr) add('ferryRelaxed', await samples(() => fr.run(feedsWasm), n, warm));
    }
    await sNode.release?.();
    await sWeb.release?.();
    fs_.close();
    fr?.close();
    const row = { name: m.name, flops: m.flops };
    for (const k of Object.keys(t)) row[k] = median(t[k]);
    // ratio ORT / ferry: the median over the rounds of each round's ratio
    const paired = (a, b) => median(perRound[a].map((v, i) => v / perRound[b][i]));
    row.ratio = { ferryNative: paired('ortNode', 'ferryNative'), ferryWasm: paired('ortWeb', 'ferryWasm'),
      ...(fr ? { ferryRelaxed: paired('ortWeb', 'ferryRelaxed') } : {}) };
    rows.push(row);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const f = (v) => v.toFixed(v < 10 ? 2 : 1);
const r = (x, k) => x.ratio[k].toFixed(2);
const models = rows.filter((x) => !x.flops), gemms = rows.filter((x) => x.flops);
const table = [
  '| model | ORT-node ms | ferry native ms | ratio | ORT-web ms | ferry wasm ms | ratio |' +
    (relaxed ? ' ferry wasm relaxed ms | ratio |' : ''),
  '|---|---:|---:|---:|---:|---:|---:|' + (relaxed ? '---:|---:|' : ''),
  ...models.map((x) => `| ${x.name} | ${f(x.ortNode)} | ${f(x.ferryNative)} | ${r(x, 'ferryNative')} | ${f(x.ortWeb)} | ${f(x.ferryWasm)} | ${r(x, 'ferryWasm')} |` +
    (relaxed ? ` ${f(x.ferryRelaxed)} | ${r(x, 'ferryRelaxed')} |` : '')),
];
// the single MatMuls in GFLOP/s (ratios as above: ORT time / ferry time)
const gf = (x, k) => (x.flops / x[k] / 1e6).toFixed(1);
const gemmTable = gemms.length ? [
  '| MatMuls by constant weights | ORT-node GFLOP/s | ferry native GFLOP/s | ratio | ORT-web GFLOP/s | ferry wasm GFLOP/s | ratio |' +
    (relaxed ? ' ferry wasm relaxed GFLOP/s | ratio |' : ''),
  '|---|---:|---:|---:|---:|---:|---:|' + (relaxed ? '---:|---:|' : ''),
  ...gemms.map((x) => `| ${x.name} | ${gf(x, 'ortNode')} | ${gf(x, 'ferryNative')} | ${r(x, 'ferryNative')} | ${gf(x, 'ortWeb')} | ${gf(x, 'ferryWasm')} | ${r(x, 'ferryWasm')} |` +
    (relaxed ? ` ${gf(x, 'ferryRelaxed')} | ${r(x, 'ferryRelaxed')} |` : '')),
] : [];
const extra = args.extra ? fs.readFileSync(args.extra, 'utf8').trimEnd() : '';
console.log(table.join('\n'));
if (gemmTable.length) console.log('\n' + gemmTable.join('\n'));
if (extra) console.log('\n' + extra);
if (args.out) {
  const doc = [
    '# Performance',
    '',
    `Produced by \`${args.command || 'bench/models.sh'}\`; numbers are medians on this machine (one thread, batch 1;`,
    `${runs} runs taken in ${ROUNDS} rounds that alternate the runtimes, after ${WARMUP} warm-up runs), not targets:`,
    'rerun the command to compare on another machine.',
    'Ratios are ORT/ferry: above 1 means ferry is faster. Each is the median over the rounds of that round\'s ratio',
    '(the median time of ORT\'s runs in the round over ferry\'s): a round takes both within a second or so, and this',
    'machine\'s speed comes in phases of seconds (the same binary at 10 and 16 ms a run), which a ratio of medians',
    'taken over all rounds mixes in. ORT-node is onnxruntime-node 1.30.0 (intraOpNumThreads 1,',
    'sequential), ORT-web is onnxruntime-web 1.30.0 on its wasm backend in node (numThreads 1, SIMD), ferry native',
    'is bench/ferry_native.c timing ferry_session_run in a loop, ferry wasm is runtime/ferry.wasm through',
    'runtime/js/ferry-node.mjs. All get the same fixed-seed random inputs.',
    ...(relaxed ? ['ferry wasm relaxed is runtime/ferry-relaxed.wasm, the same runtime built with WebAssembly relaxed SIMD',
      '(its GEMM on f32x4.relaxed_madd, one fused multiply-add on this CPU), in the same node process with V8\'s',
      '--experimental-wasm-relaxed-simd turned on (node 20 ships relaxed SIMD behind that flag; node 22 and',
      'Chromium 114+ have it on by default, and ferry.js picks that build where WebAssembly.validate accepts it).',
      'onnxruntime-web\'s module uses no relaxed SIMD, so the flag does not change its column.'] : []),
    '',
    ...table,
    '',
    ...(gemmTable.length ? ['The GEMM alone: chains of MatMuls of a [1, 128, K] activation by constant weights at BERT-mini\'s',
      'shapes (bench/make-matmul.py), timed as above, in GFLOP/s (2 M N K per product over the run\'s time, the',
      'copies of input and output included). A model whose time is mostly such products (BERT-mini: docs/kernels.md)',
      'cannot reach a higher ratio than these rows, and no runtime passes the SIMD peaks bench/gemm measures below:',
      'f32x4 mul+add bounds ferry.wasm (SIMD128 has no fused multiply-add), f32x4 FMA bounds ferry-relaxed.wasm;',
      'in V8, the mul+add peak loop itself runs slower than natively (bench/gemm.wasm below).',
      '', ...gemmTable, ''] : []),
    extra,
    '',
  ].join('\n');
  const tmpOut = `${args.out}.tmp.${process.pid}`;
  fs.writeFileSync(tmpOut, doc);
  fs.renameSync(tmpOut, args.out);
}
