// conformance.mjs - ONNX's node tests through ferry.wasm: the wasm build must
// fail no test the native runtime passes.
//
//   node conformance.mjs BUNDLES NODE_TESTS ALLOWLIST [--wasm FERRY_WASM] [--relaxed-simd]
//
// BUNDLES holds TEST.ferry for each test folder TEST of NODE_TESTS (ONNX's
// data/node: model.onnx and test_data_set_N); a missing bundle (the
// conversion failed, TEST.error may say why) counts as a failure. Outputs are compared as
// tests/check_conformance.c does, loose passes included: rtol 1e-2,
// atol 1e-5, NaN equal to NaN. ALLOWLIST is tests/conformance-allowlist.txt
// (a test name first on a line). Prints each failure that is not listed and
// a summary; exit 0 when there are none, 1 otherwise, 2 on errors.
// --relaxed-simd turns relaxed SIMD on (node 20's V8 flag) for ferry-relaxed.wasm.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableRelaxedSimd, loadFerry } from '../../runtime/js/ferry-node.mjs';
import { readDataSet, compareValue } from '../ort/tensorproto.mjs';

// ferry-node.mjs's {dtype, dims, data} as tensorproto.mjs's {type, dims, data}
const asType = (v) => (Array.isArray(v) ? v.map(asType) : v && { type: v.dtype, dims: v.dims, data: v.data });

// A quirk of ONNX 1.12's test data (as in tests/check_conformance.c): bfloat16
// tensors are stored as uint16 bits. Where the model declares bfloat16 and the
// file says uint16, read the bits as bfloat16.
function bf16Relabel(values, decl) {
  for (const d of decl)
    if (d.dtype === 'bfloat16' && values[d.name] && values[d.name].type === 'uint16') values[d.name].type = 'bfloat16';
  return values;
}

// bfloat16 outputs match within one bfloat16 step (the reference truncates,
// ferry rounds to nearest even): compare the bits as ordered integers.
function bf16Close(name, got, want) {
  const ord = (b) => (b & 0x8000 ? -(b & 0x7fff) : b);
  if (got.data.length !== want.data.length) return { ok: false, line: `${name}: ${got.data.length} vs ${want.data.length} elements` };
  for (let i = 0; i < got.data.length; i++)
    if (Math.abs(ord(got.data[i]) - ord(want.data[i])) > 1) return { ok: false, line: `${name}[${i}]: bfloat16 bits ${got.data[i]} vs ${want.data[i]}` };
  return { ok: true, line: `${name}: ok` };
}

async function main() {
  const args = process.argv.slice(2);
  let wasm = process.env.FERRY_WASM || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'runtime', 'ferry.wasm');
  const w = args.indexOf('--wasm');
  if (w >= 0) wasm = args.splice(w, 2)[1];
  const r = args.indexOf('--relaxed-simd');
  if (r >= 0 && (args.splice(r, 1), !enableRelaxedSimd())) throw new Error('this node has no WebAssembly relaxed SIMD');
  if (args.length !== 3) throw new Error('usage: conformance.mjs BUNDLES NODE_TESTS ALLOWLIST [--wasm FILE] [--relaxed-simd]');
  const [bundles, tests, allowFile] = args;
  const allowed = new Set(readFileSync(allowFile, 'utf8').split('\n').filter((l) => /^test_/.test(l)).map((l) => l.split(/\s/)[0]));
  const ferry = await loadFerry(wasm);
  let pass = 0, expected = 0, unexpected = 0;
  for (const t of readdirSync(tests).sort()) {
    const b = path.join(bundles, `${t}.ferry`);
    let why = null, s = null;
    try {
      const err = path.join(bundles, `${t}.error`);
      if (!existsSync(b)) throw new Error(`not converted${existsSync(err) ? `: ${readFileSync(err, 'utf8').trim()}` : ''}`);
      s = ferry.openBundle(b);
      for (const ds of readdirSync(path.join(tests, t)).filter((f) => f.startsWith('test_data_set_')).sort()) {
        const dir = path.join(tests, t, ds);
        const io = (l) => [l.map((v) => v.name), l.map((v) => v.kind)];
        const want = bf16Relabel(readDataSet(dir, 'output', ...io(s.outputs)), s.outputs);
        const got = s.run(bf16Relabel(readDataSet(dir, 'input', ...io(s.inputs)), s.inputs));
        for (const o of s.outputs) {
          const g = asType(got[o.name]), wv = want[o.name];
          const r = g && wv && g.type === 'bfloat16' && wv.type === 'bfloat16' ? bf16Close(o.name, g, wv)
                                                                            : compareValue(o.name, g, wv, 1e-2, 1e-5);
          if (!r.ok) throw new Error(`${ds}: ${r.line}`);
        }
      }
    } catch (e) {
      why = e.message;
    }
    if (s) s.close();
    if (!why) pass++;
    else if (allowed.has(t)) { expected++; if (process.env.VERBOSE) console.log(`(listed) ${t}: ${why}`); }
    else {
      unexpected++;
      console.log(`${t}: ${why}`);
    }
  }
  console.log(`wasm conformance: ${pass} passed, ${expected} failed as allow-listed, ${unexpected} failed unexpectedly`);
  return unexpected ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`conformance.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
