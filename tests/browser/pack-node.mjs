// pack-node.mjs - a `ferry pack` folder's ferry.js in node (>= 20), against
// native `ferry run` outputs (tests/check_pack.c runs it).
//
//   node pack-node.mjs PACKDIR DATASET NATIVE
//
// PACKDIR a pack folder, DATASET a test_data_set folder (input_K.pb), NATIVE
// the --output-dir of `ferry run PACKDIR/model.ferry --input-dir DATASET`.
// Checks, one "PASS name" or "FAIL name: why" line each, exit 1 on a FAIL:
//   create     by path and by file:// URL; names, metadata, progress up to total
//   outputs    run() outputs equal native ones (rtol 1e-4, atol 1e-5)
//   errors     bad Tensor dims, a wrong dtype, an unknown input name, a
//              corrupted shard (integrity), a missing folder: clear Errors
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compareOutput, readDataSet } from '../ort/tensorproto.mjs';

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
const events = [];
const s = await ferry.InferenceSession.create(packDir, { executionProviders: ['wasm'], onProgress: (p) => events.push(p) });
const last = events[events.length - 1];
check('create-progress', events.length >= manifest.shards.length + 1 && last.loaded === last.total &&
  last.total === manifest.total_bytes, `events ${JSON.stringify(events.slice(-2))}, total_bytes ${manifest.total_bytes}`);
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

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-pack-node-'));
try {
  cpSync(packDir, tmp, { recursive: true });
  const victim = manifest.shards[manifest.shards.length - 1].file;
  const bytes = readFileSync(path.join(tmp, victim));
  bytes[bytes.length >> 1] ^= 0x5a;
  writeFileSync(path.join(tmp, victim), bytes);
  await rejects('errors-integrity', () => ferry.InferenceSession.create(tmp), new RegExp(`integrity check failed for ${victim.replace(/\./g, '\\.')}`));
  await rejects('errors-missing-folder', () => ferry.InferenceSession.create(path.join(tmp, 'nothere')), /nothere.manifest\.json: no such file/);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failed ? 'FAILED' : 'ok'}: pack-node ${failed} failed`);
process.exit(failed ? 1 : 0);
