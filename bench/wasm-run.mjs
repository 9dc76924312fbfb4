// wasm-run.mjs - how long a session run of a .ferry bundle takes in ferry.wasm
// (node, one thread): 5 warm-up runs, then the median of RUNS (default 20).
//
//   node bench/wasm-run.mjs BUNDLE [RUNS] [--dims batch=1,sequence=128] [--wasm FERRY_WASM]
//
// Inputs get the declared dtypes and shapes, symbolic dims from --dims (1 when
// not given): floats uniform in [-1, 1), integer inputs named like *mask* 1s,
// other integers 0s. ferry.wasm is --wasm, else $FERRY_WASM, else
// runtime/ferry.wasm of an in-source build. Prints one line:
//   BUNDLE: median 12.345 ms (min 12.001, max 13.2) over 20 runs, peak arena 3.8 MiB
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadFerry } from '../runtime/js/ferry-node.mjs';

const ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };

async function main() {
  const args = process.argv.slice(2), dims = {};
  let bundle = null, runs = 20;
  let wasm = process.env.FERRY_WASM || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'runtime', 'ferry.wasm');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dims') for (const kv of (args[++i] || '').split(',').filter(Boolean)) dims[kv.split('=')[0]] = Number(kv.split('=')[1]);
    else if (args[i] === '--wasm') wasm = args[++i];
    else if (!bundle) bundle = args[i];
    else runs = Number(args[i]);
  }
  if (!bundle || !(runs > 0)) throw new Error('usage: wasm-run.mjs BUNDLE [RUNS] [--dims NAME=V,...] [--wasm FILE]');
  const s = (await loadFerry(wasm)).openBundle(bundle);
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
  const feeds = {};
  for (const inp of s.inputs) {
    const shape = (inp.dims || []).map((d) => (typeof d === 'number' ? d : dims[d] ?? 1));
    const Ctor = ARRAYS[inp.dtype];
    if (!Ctor) throw new Error(`input '${inp.name}': dtype ${inp.dtype} is not supported here`);
    const n = shape.reduce((a, b) => a * b, 1), data = new Ctor(n);
    const v = /float/.test(inp.dtype) && inp.dtype !== 'float16' ? rand : () => (/mask/i.test(inp.name) || inp.dtype === 'bool' ? 1 : 0);
    for (let i = 0; i < n; i++) data[i] = Ctor === BigInt64Array ? BigInt(v()) : v();
    feeds[inp.name] = { data, dims: shape };
  }
  for (let i = 0; i < 5; i++) s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    s.run(feeds);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const med = runs % 2 ? t[(runs - 1) / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
  const peak = s.stats().peakBytes / 1048576;
  console.log(`${bundle}: median ${med.toFixed(3)} ms (min ${t[0].toFixed(3)}, max ${t[runs - 1].toFixed(3)}) over ${runs} runs, peak arena ${peak.toFixed(1)} MiB`);
  s.close();
}

main().catch((e) => {
  console.error(`wasm-run.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
