// wasm-ab.mjs - compares two ferry.wasm builds on one bundle in one node process
// (one thread): runs of A and B alternate (ABBA...), so a neighbour's load hits
// both alike; prints the wall and the process CPU time medians of each.
//
//   node bench/wasm-ab.mjs BUNDLE A.wasm B.wasm [RUNS] [NAME=V,...]
//
// Inputs as bench/wasm-run.mjs makes them (floats in [-1, 1), *mask* integers 1,
// other integers small ids); symbolic dims from NAME=V (1 when not given).
import { performance } from 'node:perf_hooks';
import { loadFerry } from '../runtime/js/ferry-node.mjs';
const [bundle, wa, wb, runsS, dimsS] = process.argv.slice(2);
if (!bundle || !wa || !wb) {
  console.error("usage: wasm-ab.mjs BUNDLE A.wasm B.wasm [RUNS] [NAME=V,...]");
  process.exit(2);
}
const runs = Number(runsS || 20), dims = {};
for (const kv of (dimsS || '').split(',').filter(Boolean)) dims[kv.split('=')[0]] = Number(kv.split('=')[1]);
const ARR = { float32: Float32Array, int64: BigInt64Array };
const sa = (await loadFerry(wa)).openBundle(bundle), sb = (await loadFerry(wb)).openBundle(bundle);
let seed = 1; const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
const feeds = {};
for (const inp of sa.inputs) {
  const shape = (inp.dims || []).map((d) => (typeof d === 'number' ? d : dims[d] ?? 1));
  const C = ARR[inp.dtype];
  if (!C) {
    console.error(`wasm-ab.mjs: input '${inp.name}': dtype ${inp.dtype} is not supported here`);
    process.exit(2);
  }
  const n = shape.reduce((a, b) => a * b, 1), data = new C(n);
  for (let i = 0; i < n; i++) data[i] = C === BigInt64Array ? BigInt(/mask/i.test(inp.name) ? 1 : (i * 37) % 200) : rand();
  feeds[inp.name] = { data, dims: shape };
}
for (let i = 0; i < 5; i++) sa.run(feeds), sb.run(feeds);
const T = { a: [], b: [], ca: [], cb: [] };
const one = (s, k, ck) => { const c0 = process.cpuUsage(), t0 = performance.now(); s.run(feeds); T[k].push(performance.now() - t0); const c = process.cpuUsage(c0); T[ck].push((c.user + c.system) / 1000); };
for (let i = 0; i < runs; i++) { if (i % 2) { one(sa, 'a', 'ca'); one(sb, 'b', 'cb'); } else { one(sb, 'b', 'cb'); one(sa, 'a', 'ca'); } }
const med = (v) => { const t = [...v].sort((x, y) => x - y); return t.length % 2 ? t[(t.length - 1) / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2; };
const f = (x) => x.toFixed(3);
console.log(`${bundle.split('/').pop()}: wall median A ${f(med(T.a))} B ${f(med(T.b))} ms (min ${f(Math.min(...T.a))} / ${f(Math.min(...T.b))}); cpu median A ${f(med(T.ca))} B ${f(med(T.cb))} ms`);
