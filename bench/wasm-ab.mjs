// wasm-ab.mjs - two ferry.wasm builds timed on one bundle in the same node
// process, runs interleaved (A B, B A, A B, ...) so that both see the same
// load: on a shared machine this compares builds far more steadily than
// separate wasm-run.mjs processes minutes apart. 5 warm-up runs each, then
// RUNS pairs; prints each build's median and min and the median of the
// per-pair ratios B/A.
//
//   node bench/wasm-ab.mjs BUNDLE A.wasm B.wasm [RUNS] [--dims batch=1,sequence=128]
//
// Inputs as bench/wasm-run.mjs makes them: floats uniform in [-1, 1) from a
// fixed seed, integer inputs named like *mask* 1s, other integers 0s.
import { performance } from 'node:perf_hooks';
import { loadFerry } from '../runtime/js/ferry-node.mjs';

const ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };

function makeFeeds(s, dims) {
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
  return feeds;
}

const median = (t) => {
  const s = [...t].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

async function main() {
  const args = process.argv.slice(2), dims = {}, pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dims') for (const kv of (args[++i] || '').split(',').filter(Boolean)) dims[kv.split('=')[0]] = Number(kv.split('=')[1]);
    else pos.push(args[i]);
  }
  const [bundle, wa, wb, r] = pos, runs = r === undefined ? 20 : Number(r);
  if (!bundle || !wa || !wb || !(runs > 0)) throw new Error('usage: wasm-ab.mjs BUNDLE A.wasm B.wasm [RUNS] [--dims NAME=V,...]');
  const sa = (await loadFerry(wa)).openBundle(bundle), sb = (await loadFerry(wb)).openBundle(bundle);
  const fa = makeFeeds(sa, dims), fb = makeFeeds(sb, dims);
  for (let i = 0; i < 5; i++) sa.run(fa), sb.run(fb);
  const ta = [], tb = [], ratio = [];
  const time = (s, feeds) => {
    const t0 = performance.now();
    s.run(feeds);
    return performance.now() - t0;
  };
  for (let i = 0; i < runs; i++) { /* A first in even pairs, B first in odd ones */
    const a = i % 2 ? 0 : time(sa, fa), b = time(sb, fb);
    ta.push(i % 2 ? time(sa, fa) : a), tb.push(b), ratio.push(tb[i] / ta[i]);
  }
  const f = (t) => `median ${median(t).toFixed(3)} ms (min ${Math.min(...t).toFixed(3)})`;
  console.log(`${bundle}: A ${f(ta)}, B ${f(tb)}, B/A median of pairs ${median(ratio).toFixed(3)} over ${runs} pairs`);
  sa.close(), sb.close();
}

main().catch((e) => {
  console.error(`wasm-ab.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
