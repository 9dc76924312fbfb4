// compare.mjs - runs two ONNX models in onnxruntime-node on the same inputs
// and compares every output; ferry's tests use it as an oracle (e.g. a model
// against ferry's re-export of it).
//
//   node compare.mjs A.onnx B.onnx [--data DIR | --random SEED]
//        [--dims batch=2,sequence=7] [--input NAME=SPEC ...]
//        [--rtol 1e-3] [--atol 1e-4]
//
// Inputs come from an ONNX test_data_set folder (input_K.pb TensorProtos) or
// are random (default, seed 1) with A's dtypes and shapes, symbolic dims bound
// by --dims: int64 inputs named like *ids* get values in [0, 100), masks 1s,
// bools true, other integers 0s, floats uniform in [-1, 1).
// --input NAME=SPEC overrides one input: SPEC is zeros, ones, random or a
// number, optionally followed by @SHAPE (1x576; @ alone for a scalar) when
// the model's shape has unnamed dims.
// Polygraphy's rule: an element fails only if |a-b| > atol and |a-b| > rtol*|b|
// (NaN equals NaN). One line per output; exit 0 when all pass, 1 when any
// differs, 2 on errors. onnxruntime-node is found next to this script or in
// $FERRY_ORT (a folder holding node_modules, see setup.sh).
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

// ---- TensorProto reader (protobuf wire format) ----

const DTYPES = {
  1: ['float32', Float32Array], 2: ['uint8', Uint8Array], 3: ['int8', Int8Array],
  4: ['uint16', Uint16Array], 5: ['int16', Int16Array], 6: ['int32', Int32Array],
  7: ['int64', BigInt64Array], 8: ['string', Array], 9: ['bool', Uint8Array],
  10: ['float16', Uint16Array], 11: ['float64', Float64Array], 12: ['uint32', Uint32Array],
  13: ['uint64', BigUint64Array],
};

function reader(buf) {
  let p = 0;
  const varint = () => {
    let r = 0n, shift = 0n;
    for (;;) {
      if (p >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  const bytes = () => {
    const n = Number(varint());
    if (p + n > buf.length) throw new Error('truncated protobuf field');
    const s = buf.subarray(p, p + n);
    p += n;
    return s;
  };
  return { varint, bytes, done: () => p >= buf.length, skip: (w) => { p += w; }, pos: () => p };
}

// Fields: 1 dims, 2 data_type, 4 float, 5 int32, 6 string, 7 int64, 8 name,
// 9 raw_data, 10 double, 11 uint64 (repeated numbers packed or not).
function parseTensorProto(buf) {
  const t = { dims: [], dtype: 0, name: '', raw: null, nums: { 4: [], 5: [], 7: [], 10: [], 11: [] }, strs: [] };
  const r = reader(buf);
  while (!r.done()) {
    const key = Number(r.varint()), field = key >>> 3, wire = key & 7;
    if (wire === 2 && field in t.nums) unpackPacked(r.bytes(), field, t.nums[field]);
    else if (wire === 2 && field === 6) t.strs.push(Buffer.from(r.bytes()).toString('utf8'));
    else if (wire === 2 && field === 8) t.name = Buffer.from(r.bytes()).toString('utf8');
    else if (wire === 2 && field === 9) t.raw = r.bytes();
    else if (wire === 2 && field === 1) unpackPacked(r.bytes(), 7, t.dims);
    else if (wire === 2) r.bytes();
    else if (wire === 0) pushVarint(t, field, r.varint());
    else if (wire === 5) pushFixed(t, field, buf, r, 4);
    else if (wire === 1) pushFixed(t, field, buf, r, 8);
    else throw new Error(`bad protobuf wire type ${wire}`);
  }
  t.dims = t.dims.map(Number);
  return t;
}

function pushVarint(t, field, v) {
  if (field === 1) t.dims.push(BigInt.asIntN(64, v));
  else if (field === 2) t.dtype = Number(v);
  else if (field === 5) t.nums[5].push(Number(BigInt.asIntN(32, v)));
  else if (field === 7) t.nums[7].push(BigInt.asIntN(64, v));
  else if (field === 11) t.nums[11].push(BigInt.asUintN(64, v));
}

function pushFixed(t, field, buf, r, w) {
  const at = r.pos();
  r.skip(w);
  const dv = new DataView(buf.buffer, buf.byteOffset + at, w);
  if (field === 4 && w === 4) t.nums[4].push(dv.getFloat32(0, true));
  if (field === 10 && w === 8) t.nums[10].push(dv.getFloat64(0, true));
}

function unpackPacked(b, field, out) {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (field === 4) for (let i = 0; i + 4 <= b.length; i += 4) out.push(dv.getFloat32(i, true));
  else if (field === 10) for (let i = 0; i + 8 <= b.length; i += 8) out.push(dv.getFloat64(i, true));
  else {
    const r = reader(b);
    while (!r.done()) {
      const v = r.varint();
      out.push(field === 5 ? Number(BigInt.asIntN(32, v)) : field === 7 ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));
    }
  }
}

function tensorFromProto(ort, t, file) {
  const d = DTYPES[t.dtype];
  if (!d) throw new Error(`${file}: unsupported dtype ${t.dtype}`);
  const [type, Ctor] = d;
  const n = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (type === 'string') data = t.strs;
  else if (t.raw) {
    const copy = new Uint8Array(t.raw); // aligned copy
    data = new Ctor(copy.buffer, 0, copy.length / Ctor.BYTES_PER_ELEMENT);
  } else {
    const src = { float32: 4, float64: 10, int64: 7, uint64: 11, uint32: 11 }[type] || 5;
    data = Ctor.from(t.nums[src], (v) => (Ctor === BigInt64Array || Ctor === BigUint64Array ? BigInt(v) : Number(v)));
  }
  if (data.length !== n) throw new Error(`${file}: ${data.length} values for shape [${t.dims}]`);
  return new ort.Tensor(type, data, t.dims);
}

function readDataSet(ort, dir, names) {
  const files = readdirSync(dir).filter((f) => /^input_\d+\.pb$/.test(f))
    .sort((a, b) => parseInt(a.slice(6)) - parseInt(b.slice(6)));
  if (files.length !== names.length) throw new Error(`${dir}: ${files.length} inputs, the model has ${names.length}`);
  const feeds = {};
  files.forEach((f, k) => {
    const t = parseTensorProto(readFileSync(path.join(dir, f)));
    feeds[names.includes(t.name) ? t.name : names[k]] = tensorFromProto(ort, t, path.join(dir, f));
  });
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

// ---- comparison ----

function toNumbers(t) {
  if (t.type === 'float16') return Array.from(t.data, halfToFloat);
  return Array.from(t.data, (v) => (typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? +v : v));
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function compareOutput(name, a, b, rtol, atol) {
  if (a.type !== b.type || a.dims.join() !== b.dims.join())
    return { ok: false, line: `${name}: A is ${a.type} [${a.dims}], B is ${b.type} [${b.dims}]  FAIL` };
  if (a.type === 'string') {
    const ok = a.data.every((v, i) => v === b.data[i]);
    return { ok, line: `${name}: string [${a.dims}] ${ok ? 'equal  PASS' : 'differ  FAIL'}` };
  }
  const x = toNumbers(a), y = toNumbers(b);
  let maxAbs = 0, maxRel = 0, bad = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) && Number.isNaN(y[i])) continue;
    if (x[i] === y[i]) continue; // also equal infinities
    const d = Math.abs(x[i] - y[i]), rel = d / Math.abs(y[i]);
    if (!(d <= maxAbs)) maxAbs = d;
    if (!(rel <= maxRel)) maxRel = rel;
    if (!(d <= atol) && !(d <= rtol * Math.abs(y[i]))) bad++;
  }
  const ok = bad === 0;
  return { ok, line: `${name}: ${a.type} [${a.dims}] max abs err ${maxAbs.toExponential(3)}, max rel err ${maxRel.toExponential(3)}, ${bad} of ${x.length} beyond tolerance  ${ok ? 'PASS' : 'FAIL'}` };
}

// ---- main ----

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };
  const sa = await ort.InferenceSession.create(o.models[0], opts);
  const sb = await ort.InferenceSession.create(o.models[1], opts);
  for (const n of Object.keys(o.inputs))
    if (!sa.inputNames.includes(n)) throw new UsageError(`--input: the model has no input '${n}'`);
  let feeds;
  if (o.data) feeds = readDataSet(ort, o.data, sa.inputNames);
  else {
    const rand = mulberry32(o.seed);
    feeds = {};
    for (const m of sa.inputMetadata) feeds[m.name] = makeInput(ort, m, o.dims, o.inputs[m.name], rand);
  }
  for (const n of sb.inputNames) if (!(n in feeds)) throw new Error(`${o.models[1]} has input '${n}', ${o.models[0]} has not`);
  const ra = await sa.run(feeds), rb = await sb.run(feeds);
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
