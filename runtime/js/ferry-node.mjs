// ferry-node.mjs - run .ferry bundle files in node (>= 20) with ferry.wasm:
// the tests' and benchmarks' view of the runtime. A thin layer over
// ferry-wasm.js (the same code ferry.js runs in browsers) that reads the
// bundle and its shards from files and speaks in numpy-style names.
//
//   import { loadFerry } from './ferry-node.mjs';
//   const ferry = await loadFerry('build/runtime/ferry.wasm');
//   const s = ferry.openBundle('model.ferry');        // and model.ferry.1, ... if sharded
//   s.inputs   // [{name, kind: 0, dtype: 'float32', dims: [1, 3, 224, 224]}] ('batch' for a symbolic dim)
//   const out = s.run({ input: { data: Float32Array.from(...), dims: [1, 3, 224, 224] } });
//   out.output // {dtype: 'float32', dims: [1, 1000], data: Float32Array}
//   s.close();
//
// Feeds are keyed by input name (or an array in input order); a tensor is
// {data, dims, dtype?} as ferry-wasm.js takes it (dims and dtype default to
// the declared ones). kind is ferry_tview's number (0 tensor, 1 sequence,
// 2 optional). Errors are ferry-wasm.js's FerryError (message and `code`).
import { existsSync, readFileSync } from 'node:fs';

import v8 from 'node:v8';
import { FerryError, hasRelaxedSimd, loadRuntime } from './ferry-wasm.js';

export { FerryError, hasRelaxedSimd };

// Lets this process run ferry-relaxed.wasm: node 20's V8 has relaxed SIMD
// behind --experimental-wasm-relaxed-simd (on by default from node 22), so
// tests and benchmarks turn the flag on here when the engine lacks it.
// Returns whether relaxed SIMD is available afterwards.
export function enableRelaxedSimd() {
  if (!hasRelaxedSimd()) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return hasRelaxedSimd();
}

const KINDS = ['tensor', 'sequence', 'optional'];
const kindNumber = (k) => (KINDS.includes(k) ? KINDS.indexOf(k) : 5);
const info = ({ name, kind, type, dims }) => ({ name, kind: kindNumber(kind), dtype: type, dims });
const asDtype = (v) => (Array.isArray(v) ? v.map(asDtype) : v && { dtype: v.type, dims: v.dims, data: v.data });

// Wraps one ferry-wasm.js session.
function session(s) {
  const inputs = s.inputs.map(info);
  return {
    inputs,
    outputs: s.outputs.map(info),
    run(feeds) {
      const f = Array.isArray(feeds) ? Object.fromEntries(inputs.map((d, i) => [d.name, feeds[i]])) : feeds;
      const out = s.run(f);
      for (const k of Object.keys(out)) out[k] = asDtype(out[k]);
      return out;
    },
    stats: () => s.stats(),
    close: () => s.close(),
  };
}

// Compiles and instantiates ferry.wasm (a path, or its bytes).
// Returns {openBundle(path, opts), open(bytes, shards, opts)}.
export async function loadFerry(wasm) {
  const rt = await loadRuntime(typeof wasm === 'string' ? readFileSync(wasm) : wasm);
  return {
    // A bundle file; its shards are PATH.1, PATH.2, ... while they exist.
    openBundle(file, opts) {
      const shards = [readFileSync(file)];
      while (existsSync(`${file}.${shards.length}`)) shards.push(readFileSync(`${file}.${shards.length}`));
      return session(rt.open(shards, opts));
    },
    // A bundle's bytes; shards[k-1] is shard k.
    open: (bytes, shards = [], opts) => session(rt.open([bytes, ...shards], opts)),
  };
}
