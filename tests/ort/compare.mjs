// compare.mjs - runs two ONNX models in onnxruntime-node on the same inputs
// and compares every output; ferry's tests use it as an oracle (e.g. a model
// against ferry's re-export of it).
//
//   node compare.mjs A.onnx B.onnx [--data DIR | --random SEED]
//        [--dims batch=2,sequence=7] [--input NAME=SPEC ...]
//        [--rtol 1e-3] [--atol 1e-4] [--save DIR]
//
// Inputs come from an ONNX test_data_set folder (input_K.pb TensorProtos) or
// are random (default, seed 1) with A's dtypes and shapes, symbolic dims bound
// by --dims: int64 inputs named like *ids* get values in [0, 100), masks 1s,
// bools true, other integers 0s, floats uniform in [-1, 1).
// --input NAME=SPEC overrides one input: SPEC is zeros, ones, random or a
// number, optionally followed by @SHAPE (1x576; @ alone for a scalar) when
// the model's shape has unnamed dims.
// --save DIR writes the inputs and A's outputs as an ONNX test_data_set folder
// (DIR/input_K.pb, DIR/output_K.pb in graph order): reference data from
// onnxruntime for ferry's own runtime tests.
// Polygraphy's rule: an element fails only if |a-b| > atol and |a-b| > rtol*|b|
// (NaN equals NaN). One line per output; exit 0 when all pass, 1 when any
// differs, 2 on errors. onnxruntime-node is found next to this script or in
// $FERRY_ORT (a folder holding node_modules, see setup.sh).
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTYPES, readDataSet, compareOutput, encodeTensorProto } from './tensorproto.mjs';

class UsageError extends Error {}

function loadOrt() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dirs = [process.env.FERRY_ORT, here].filter(Boolean);
  for (const d of dirs) {
    if (!existsSync(path.join(d, 'node_modules', 'onnxruntime-node'))) continue;
    return createRequire(path.join(path.resolve(d), 'package.json'))('onnxruntime-node');
  }
  throw new Error(`onnxruntime-node is not installed in ${dirs.join(' or ')} (run tests/ort/setup.sh DIR)`);
}

// ---- arguments ----

function parseArgs(argv) {
  const o = { models: [], seed: 1, dims: {}, inputs: {}, rtol: 1e-3, atol: 1e-4, data: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') o.data = next();
    else if (a === '--save') o.save = next();
    else if (a === '--random') o.seed = num(next(), a);
    else if (a === '--rtol') o.rtol = num(next(), a);
    else if (a === '--atol') o.atol = num(next(), a);
    else if (a === '--dims') parseDims(next(), o.dims);
    else if (a === '--input') parseInput(next(), o.inputs);
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else o.models.push(a);
  }
  if (o.models.length !== 2) throw new UsageError('usage: compare.mjs A.onnx B.onnx [options]');
  return o;
}

function num(s, what) {
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new UsageError(`${what}: '${s}' is not a number`);
  return v;
}

function parseDims(s, dims) {
  for (const kv of s.split(',').filter(Boolean)) {
    const eq = kv.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--dims: '${kv}' is not NAME=VALUE`);
    const v = num(kv.slice(eq + 1), '--dims');
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`--dims: '${kv}' is not a size`);
    dims[kv.slice(0, eq)] = v;
  }
}

function parseInput(s, inputs) {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new UsageError(`--input: '${s}' is not NAME=SPEC`);
  let spec = s.slice(eq + 1), shape = null;
  const at = spec.indexOf('@');
  if (at >= 0) {
    const t = spec.slice(at + 1);
    shape = t === '' ? [] : t.split('x').map((d) => num(d, '--input shape'));
    spec = spec.slice(0, at);
  }
  if (!['zeros', 'ones', 'random'].includes(spec)) num(spec, '--input');
  inputs[s.slice(0, eq)] = { spec, shape };
}

// ---- test data (TensorProto files, tensorproto.mjs) ----

function readFeeds(ort, dir, names) {
  const feeds = {};
  for (const [n, t] of Object.entries(readDataSet(dir, 'input', names))) feeds[n] = new ort.Tensor(t.type, t.data, t.dims);
  return feeds;
}

// ---- random inputs ----

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bindShape(meta, dims) {
  return meta.shape.map((d) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (typeof d === 'string' && d in dims) return dims[d];
    throw new UsageError(`input '${meta.name}': dim ${d === '' ? '(unnamed)' : `'${d}'`} is not bound (use --dims or --input NAME=SPEC@SHAPE)`);
  });
}

const CTORS = Object.fromEntries(Object.values(DTYPES).map(([n, c]) => [n, c]));

function fillValue(meta, spec, rand) {
  const t = meta.type, name = meta.name.toLowerCase();
  if (spec === 'zeros') return () => 0;
  if (spec === 'ones') return () => 1;
  if (spec !== 'random') return () => Number(spec);
  if (t === 'bool') return () => 1;
  if (t.startsWith('float')) return () => rand() * 2 - 1;
  if (name.includes('mask')) return () => 1;
  if (t === 'int64' && name.includes('ids')) return () => Math.floor(rand() * 100);
  return () => 0;
}

function makeInput(ort, meta, dims, over, rand) {
  if (!meta.isTensor) throw new UsageError(`input '${meta.name}' is not a tensor`);
  const shape = over && over.shape ? over.shape : bindShape(meta, dims);
  const n = shape.reduce((a, b) => a * b, 1);
  const Ctor = CTORS[meta.type];
  if (!Ctor || meta.type === 'string') throw new UsageError(`input '${meta.name}': dtype ${meta.type} is not supported`);
  const f = fillValue(meta, over ? over.spec : 'random', rand);
  const data = new Ctor(n);
  const big = Ctor === BigInt64Array || Ctor === BigUint64Array;
  for (let i = 0; i < n; i++) {
    let v = f();
    if (meta.type === 'float16') v = f16bits(v);
    data[i] = big ? BigInt(Math.trunc(v)) : v;
  }
  return new ort.Tensor(meta.type, data, shape);
}

function f16bits(v) {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer)[0];
  const s = (u >>> 16) & 0x8000, e = ((u >>> 23) & 0xff) - 112, m = (u >>> 13) & 0x3ff;
  if (e <= 0) return s;
  if (e >= 31) return s | 0x7c00;
  return s | (e << 10) | m;
}

// ---- main ----

function saveDataSet(dir, s, feeds, outs) {
  mkdirSync(dir, { recursive: true });
  s.inputNames.forEach((n, k) =>
    writeFileSync(path.join(dir, `input_${k}.pb`), encodeTensorProto(n, feeds[n].type, feeds[n].dims, feeds[n].data)));
  s.outputNames.forEach((n, k) =>
    writeFileSync(path.join(dir, `output_${k}.pb`), encodeTensorProto(n, outs[n].type, outs[n].dims, outs[n].data)));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };
  const sa = await ort.InferenceSession.create(o.models[0], opts);
  const sb = await ort.InferenceSession.create(o.models[1], opts);
  for (const n of Object.keys(o.inputs))
    if (!sa.inputNames.includes(n)) throw new UsageError(`--input: the model has no input '${n}'`);
  let feeds;
  if (o.data) feeds = readFeeds(ort, o.data, sa.inputNames);
  else {
    const rand = mulberry32(o.seed);
    feeds = {};
    for (const m of sa.inputMetadata) feeds[m.name] = makeInput(ort, m, o.dims, o.inputs[m.name], rand);
  }
  for (const n of sb.inputNames) if (!(n in feeds)) throw new Error(`${o.models[1]} has input '${n}', ${o.models[0]} has not`);
  const ra = await sa.run(feeds), rb = await sb.run(feeds);
  if (o.save) saveDataSet(o.save, sa, feeds, ra);
  let allOk = true;
  for (const n of sa.outputNames) {
    if (!(n in rb)) {
      console.log(`${n}: missing from ${o.models[1]}  FAIL`);
      allOk = false;
      continue;
    }
    const r = compareOutput(n, ra[n], rb[n], o.rtol, o.atol);
    console.log(r.line);
    allOk &&= r.ok;
  }
  for (const n of sb.outputNames) if (!(n in ra)) {
    console.log(`${n}: missing from ${o.models[0]}  FAIL`);
    allOk = false;
  }
  return allOk ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`compare.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
