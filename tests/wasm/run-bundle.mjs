// run-bundle.mjs - runs a .ferry bundle with ferry.wasm (runtime/js/ferry-node.mjs)
// on an ONNX test_data_set folder and compares with its reference outputs.
//
//   node run-bundle.mjs BUNDLE --data DIR [--rtol 1e-3] [--atol 1e-4] [--wasm FERRY_WASM]
//                       [--relaxed-simd]
//
// DIR holds input_K.pb / output_K.pb TensorProto files (matched to the bundle's
// inputs and outputs by name, else by position). ferry.wasm is --wasm, else
// $FERRY_WASM, else runtime/ferry.wasm of an in-source build. Polygraphy's
// rule: an element fails only if |a-b| > atol and |a-b| > rtol*|b| (NaN
// equals NaN). --relaxed-simd lets the module use relaxed SIMD (node 20's V8
// flag: ferry-relaxed.wasm). One line per output; exit 0 when all pass, 1 when any
// differs, 2 on errors (the runtime's message on stderr).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableRelaxedSimd, loadFerry } from '../../runtime/js/ferry-node.mjs';
import { readDataSet, compareValue } from '../ort/tensorproto.mjs';

class UsageError extends Error {}

function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const o = { bundle: null, data: null, rtol: 1e-3, atol: 1e-4, relaxed: false,
    wasm: process.env.FERRY_WASM || path.join(here, '..', '..', 'runtime', 'ferry.wasm') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    const num = (s) => {
      const v = Number(s);
      if (s === '' || Number.isNaN(v)) throw new UsageError(`${a}: '${s}' is not a number`);
      return v;
    };
    if (a === '--data') o.data = next();
    else if (a === '--rtol') o.rtol = num(next());
    else if (a === '--atol') o.atol = num(next());
    else if (a === '--wasm') o.wasm = next();
    else if (a === '--relaxed-simd') o.relaxed = true;
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else if (o.bundle) throw new UsageError(`unexpected argument ${a}`);
    else o.bundle = a;
  }
  if (!o.bundle || !o.data) throw new UsageError('usage: run-bundle.mjs BUNDLE --data DIR [--rtol R] [--atol A] [--wasm FILE] [--relaxed-simd]');
  return o;
}

// ferry-node.mjs's {dtype, dims, data} as tensorproto.mjs's {type, dims, data}
const asType = (v) => (Array.isArray(v) ? v.map(asType) : v && { type: v.dtype, dims: v.dims, data: v.data });

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.relaxed && !enableRelaxedSimd()) throw new Error('this node has no WebAssembly relaxed SIMD');
  const ferry = await loadFerry(o.wasm);
  const s = ferry.openBundle(o.bundle);
  try {
    const io = (l) => [l.map((v) => v.name), l.map((v) => v.kind)];
    const feeds = readDataSet(o.data, 'input', ...io(s.inputs));
    const want = readDataSet(o.data, 'output', ...io(s.outputs));
    const got = s.run(feeds);
    let allOk = true;
    for (const info of s.outputs) {
      const r = compareValue(info.name, asType(got[info.name]), want[info.name], o.rtol, o.atol);
      console.log(r.line);
      allOk &&= r.ok;
    }
    return allOk ? 0 : 1;
  } finally {
    s.close();
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`run-bundle.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
