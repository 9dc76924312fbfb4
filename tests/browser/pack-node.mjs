// pack-node.mjs - a `ferry pack` folder's ferry.js in node (>= 20), against
// native `ferry run` outputs (tests/check_pack.c runs it).
//
//   node pack-node.mjs PACKDIR DATASET NATIVE
//
// PACKDIR a pack folder, DATASET a test_data_set folder (input_K.pb), NATIVE
// the --output-dir of `ferry run PACKDIR/model.ferry --input-dir DATASET`.
// Checks, one "PASS name" or "FAIL name: why" line each, exit 1 on a FAIL:
//   create     by path, file:// URL and http URL (serve.mjs); names, metadata,
//              progress up to total
//   outputs    run() outputs equal native ones (rtol 1e-4, atol 1e-5)
//   errors     bad Tensor dims, a wrong dtype, an unknown input name, a
//              corrupted shard (integrity), a missing folder: clear Errors
//   fuzz-manifest  mutated manifest.json files load or are FerryErrors
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasRelaxedSimd } from '../../runtime/js/ferry-wasm.js';
import { compareOutput, readDataSet } from '../ort/tensorproto.mjs';
import { serve } from './serve.mjs';

const [packDir, dataset, nativeDir] = process.argv.slice(2);
if (!nativeDir) {
  console.error('usage: node pack-node.mjs PACKDIR DATASET NATIVE');
  process.exit(2);
}
const ferry = await import(pathToFileURL(path.resolve(packDir, 'ferry.js')).href);
let failed = 0;
const check = (name, ok, why = '') => {
  console.log(ok ? `PASS ${name}` : `FAIL ${name}: ${why}`);
  if (!ok) failed++;
};
async function rejects(name, fn, pattern) {
  try {
    await fn();
    check(name, false, 'no error');
  } catch (e) {
    check(name, pattern.test(e.message), `message: ${e.message}`);
  }
}

const manifest = JSON.parse(readFileSync(path.join(packDir, 'manifest.json'), 'utf8'));

// A fixed-seed fuzz loop over manifest.json (the one parser ferry.js adds):
// truncations, byte changes and wrong-typed or missing fields. create()
// must succeed or reject with a FerryError, never anything else or hang.
async function fuzzManifest(dir) {
  const text = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
  let seed = 7;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const weird = [null, -1, 1e300, 'x', [], {}, true, '../manifest.json', 'http://example.invalid/x', 0.5];
  const fieldMutations = [
    (m) => { m.shards[0].size = weird[rand(weird.length)]; },
    (m) => { m.shards[rand(m.shards.length)].file = weird[rand(weird.length)]; },
    (m) => { m.runtime = weird[rand(weird.length)]; },
    (m) => { m.shards = weird[rand(weird.length)]; },
    (m) => { delete m[Object.keys(m)[rand(Object.keys(m).length)]]; },
    (m) => { m.format_version = weird[rand(weird.length)]; },
    (m) => { m.shards.push({ ...m.shards[0] }); },
    (m) => { m.shards.reverse(); },
    (m) => { m.shards[0].sha256 = m.runtime.sha256; },
  ];
  let bad = '', n = 0;
  for (let i = 0; i < 150 && !bad; i++, n++) {
    let mutated;
    const how = rand(3);
    if (how === 0) mutated = text.slice(0, rand(text.length));
    else if (how === 1) {
      const at = rand(text.length);
      mutated = text.slice(0, at) + String.fromCharCode(32 + rand(95)) + text.slice(at + 1);
    } else {
      const m = JSON.parse(text);
      fieldMutations[rand(fieldMutations.length)](m);
      mutated = JSON.stringify(m);
    }
    writeFileSync(path.join(dir, 'manifest.json'), mutated);
    try {
      const s2 = await ferry.InferenceSession.create(dir);
      await s2.release();
    } catch (e) {
      if (!(e instanceof ferry.FerryError) || !e.message.startsWith('ferry: ')) bad = `${e.stack}\nmanifest: ${mutated}`;
    }
  }
  writeFileSync(path.join(dir, 'manifest.json'), text);
  check('fuzz-manifest', !bad, bad);
  if (!bad) console.log(`  ${n} mutated manifests: each loaded or refused with a FerryError`);
}
const events = [];
const s = await ferry.InferenceSession.create(packDir, { executionProviders: ['wasm'], onProgress: (p) => events.push(p) });
const last = events[events.length - 1];
// ferry.js loads ferry-relaxed.wasm instead of ferry.wasm where node has relaxed SIMD (node 22+)
const runtime = manifest.runtime_relaxed && hasRelaxedSimd() ? manifest.runtime_relaxed : manifest.runtime;
const loadBytes = manifest.total_bytes - manifest.runtime.size + runtime.size;
check('create-progress', events.length >= manifest.shards.length + 1 && last.loaded === last.total &&
  last.total === loadBytes, `events ${JSON.stringify(events.slice(-2))}, runtime and shards ${loadBytes} bytes`);
check('create-names', JSON.stringify(s.inputNames) === JSON.stringify(manifest.inputs.map((i) => i.name)) &&
  JSON.stringify(s.outputNames) === JSON.stringify(manifest.outputs.map((o) => o.name)),
`${s.inputNames} / ${s.outputNames}`);
check('create-metadata', s.inputMetadata.every((m, k) => m.type === manifest.inputs[k].dtype &&
  JSON.stringify(m.shape) === JSON.stringify(manifest.inputs[k].shape)), JSON.stringify(s.inputMetadata));
check('create-files', s.loadInfo.files.length === manifest.shards.length + 1 &&
  s.loadInfo.files.every((f) => f.source === 'file'), JSON.stringify(s.loadInfo.files));

const inputs = readDataSet(dataset, 'input', s.inputNames);
const feeds = {};
for (const [name, t] of Object.entries(inputs)) feeds[name] = new ferry.Tensor(t.type, t.data, t.dims);
const out = await s.run(feeds);
const native = readDataSet(nativeDir, 'output', s.outputNames);
for (const name of s.outputNames) {
  const t = out[name];
  const c = compareOutput(name, { type: t.type, dims: [...t.dims], data: t.data }, native[name], 1e-4, 1e-5);
  console.log(`  ${c.line}`);
  check(`outputs-${name}`, c.ok && t instanceof ferry.Tensor && t.size === t.data.length, c.line);
}
const again = await s.run(feeds, [s.outputNames[0]]);
check('outputs-fetches', Object.keys(again).length === 1 &&
  again[s.outputNames[0]].data.every((v, i) => Object.is(v, out[s.outputNames[0]].data[i])), 'a second run differs');

const first = s.inputMetadata[0];
await rejects('errors-tensor-dims', async () => new ferry.Tensor('float32', new Float32Array(5), [2, 3]), /dims \[2,3\] do not match 5/);
await rejects('errors-dtype', () => s.run({ ...feeds, [first.name]: new ferry.Tensor('int32', new Int32Array(feeds[first.name].size), feeds[first.name].dims) }),
  new RegExp(`${first.name}|int32|dtype`));
await rejects('errors-unknown-input', () => s.run({ ...feeds, nosuchinput: feeds[first.name] }), /'nosuchinput' is not an input/);
await s.release();
await rejects('errors-released', () => s.run(feeds), /released/);

const byURL = await ferry.InferenceSession.create(pathToFileURL(path.resolve(packDir)).href);
const viaURL = await byURL.run(feeds);
check('create-file-url', viaURL[s.outputNames[0]].data.every((v, i) => Object.is(v, out[s.outputNames[0]].data[i])), 'outputs differ');
await byURL.release();

// an http URL in node: fetched (no Cache API there), same outputs
const server = await serve(path.resolve(packDir, '..'));
try {
  const byHTTP = await ferry.InferenceSession.create(`${server.url}${path.basename(path.resolve(packDir))}/`);
  const viaHTTP = await byHTTP.run(feeds);
  check('create-http-url', byHTTP.loadInfo.files.every((f) => f.source === 'network') &&
    viaHTTP[s.outputNames[0]].data.every((v, i) => Object.is(v, out[s.outputNames[0]].data[i])), JSON.stringify(byHTTP.loadInfo));
  await byHTTP.release();
} finally {
  await server.close();
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-pack-node-'));
try {
  cpSync(packDir, tmp, { recursive: true });
  const victim = manifest.shards[manifest.shards.length - 1].file;
  const bytes = readFileSync(path.join(tmp, victim));
  bytes[bytes.length >> 1] ^= 0x5a;
  writeFileSync(path.join(tmp, victim), bytes);
  await rejects('errors-integrity', () => ferry.InferenceSession.create(tmp), new RegExp(`integrity check failed for ${victim.replace(/\./g, '\\.')}`));
  await rejects('errors-missing-folder', () => ferry.InferenceSession.create(path.join(tmp, 'nothere')), /nothere.manifest\.json: no such file/);
  writeFileSync(path.join(tmp, victim), readFileSync(path.join(packDir, victim)));
  await fuzzManifest(tmp);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failed ? 'FAILED' : 'ok'}: pack-node ${failed} failed`);
process.exit(failed ? 1 : 0);
