// wasm-profile.mjs - where a bundle's time goes in ferry.wasm, by function: runs
// the bundle under V8's sampling profiler (node:inspector, in this process)
// and prints each function's share of the samples taken during the runs
// (warm-up and bundle loading are not sampled).
//
//   make bench/wasm-names     (the two modules with their function names)
//   node bench/wasm-profile.mjs BUNDLE [RUNS] [--dims NAME=V,...] [--wasm FILE] [--top N]
//   node --experimental-wasm-relaxed-simd bench/wasm-profile.mjs BUNDLE ... \
//        --wasm bench/ferry-relaxed-names.wasm     (node 20; on by default from node 22)
//
// --wasm defaults to bench/ferry-names.wasm. The shipped runtime/ferry.wasm has
// no names (wasm-ld --strip-all): its functions show up as their indexes.
// Inputs as bench/wasm-run.mjs makes them (floats in [-1, 1), *mask* integers
// 1, other integers small ids; symbolic dims from --dims, 1 when not given).
// Prints the median run time, then the top N (default 25) functions:
//   ukernel_generic              82.4%
// and the share of everything named ukernel_* (the GEMM's micro-kernel).
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadFerry } from '../runtime/js/ferry-node.mjs';

const ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };

function parseArgs(argv) {
  const a = { bundle: null, runs: 50, dims: {}, top: 25,
    wasm: path.join(path.dirname(fileURLToPath(import.meta.url)), 'ferry-names.wasm') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dims') for (const kv of (argv[++i] || '').split(',').filter(Boolean)) a.dims[kv.split('=')[0]] = Number(kv.split('=')[1]);
    else if (argv[i] === '--wasm') a.wasm = argv[++i];
    else if (argv[i] === '--top') a.top = Number(argv[++i]);
    else if (!a.bundle) a.bundle = argv[i];
    else a.runs = Number(argv[i]);
  }
  if (!a.bundle || !(a.runs > 0) || !(a.top > 0))
    throw new Error('usage: wasm-profile.mjs BUNDLE [RUNS] [--dims NAME=V,...] [--wasm FILE] [--top N]');
  return a;
}

function makeFeeds(inputs, dims) {
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
  const feeds = {};
  for (const inp of inputs) {
    const shape = (inp.dims || []).map((d) => (typeof d === 'number' ? d : dims[d] ?? 1));
    const C = ARRAYS[inp.dtype];
    if (!C) throw new Error(`input '${inp.name}': dtype ${inp.dtype} is not supported here`);
    const n = shape.reduce((x, y) => x * y, 1), data = new C(n);
    for (let i = 0; i < n; i++) {
      if (C === Float32Array || C === Float64Array) data[i] = rand();
      else { const v = /mask/i.test(inp.name) ? 1 : (i * 37) % 100; data[i] = C === BigInt64Array ? BigInt(v) : v; }
    }
    feeds[inp.name] = { data, dims: shape };
  }
  return feeds;
}

// self samples per function name over a profile's nodes
function selfShares(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    counts.set(name, (counts.get(name) || 0) + 1);
  }
  const total = profile.samples.length;
  return { total, rows: [...counts].sort((x, y) => y[1] - x[1]).map(([name, c]) => [name, c / total]) };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const s = (await loadFerry(a.wasm)).openBundle(a.bundle);
  const feeds = makeFeeds(s.inputs, a.dims);
  for (let i = 0; i < 5; i++) s.run(feeds);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 }); // microseconds
  await session.post('Profiler.start');
  const t = [];
  for (let i = 0; i < a.runs; i++) {
    const t0 = performance.now();
    s.run(feeds);
    t.push(performance.now() - t0);
  }
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  s.close();
  t.sort((x, y) => x - y);
  const { total, rows } = selfShares(profile);
  const pct = (v) => `${(100 * v).toFixed(1).padStart(5)}%`;
  console.log(`${path.basename(a.bundle)}: median ${t[t.length >> 1].toFixed(3)} ms over ${a.runs} runs ` +
    `(${path.basename(a.wasm)}); ${total} samples, self time by function:`);
  for (const [name, v] of rows.slice(0, a.top)) console.log(`  ${name.padEnd(32)} ${pct(v)}`);
  const gemm = rows.filter(([n]) => n.startsWith('ukernel_')).reduce((x, [, v]) => x + v, 0);
  console.log(`  GEMM micro-kernel (ukernel_*)    ${pct(gemm)}`);
}

main().catch((e) => {
  console.error(`wasm-profile.mjs: ${e.message}`);
  process.exit(1);
});
