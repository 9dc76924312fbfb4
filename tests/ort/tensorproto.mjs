// tensorproto.mjs - ONNX TensorProto files (input_K.pb / output_K.pb of a
// test_data_set folder) as plain {type, dims, data} tensors, and the output
// comparison the JS test tools share (compare.mjs, tests/wasm/run-bundle.mjs).
//
//   readTensorFile(path)        -> {name, type, dims, data}
//   readDataSet(dir, 'input', names[, kinds]) -> {name: value} (by the file's
//                                  tensor name when it is one of `names`, else
//                                  by position; kinds[k]: file k is a tensor (0),
//                                  a SequenceProto (1) or an OptionalProto (2))
//   encodeTensorProto(name, type, dims, data) -> Buffer (raw_data form)
//   compareOutput(name, a, b, rtol, atol) -> {ok, line}
//   compareValue(name, a, b, rtol, atol)  -> {ok, line}, also for sequences
//                                  (arrays of values) and optionals (null: none)
//
// type is the numpy/onnxruntime-web name ('float32', 'int64', 'bool', ...);
// data is a typed array (BigInt64Array for int64, Uint8Array for bool,
// Uint16Array for float16 bits) or an array of strings.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const DTYPES = {
  1: ['float32', Float32Array], 2: ['uint8', Uint8Array], 3: ['int8', Int8Array],
  4: ['uint16', Uint16Array], 5: ['int16', Int16Array], 6: ['int32', Int32Array],
  7: ['int64', BigInt64Array], 8: ['string', Array], 9: ['bool', Uint8Array],
  10: ['float16', Uint16Array], 11: ['float64', Float64Array], 12: ['uint32', Uint32Array],
  13: ['uint64', BigUint64Array],
};

// ---- protobuf wire format ----

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
export function parseTensorProto(buf) {
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

// A parsed TensorProto as {name, type, dims, data}; `file` names it in errors.
export function tensorFromProto(t, file) {
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
  return { name: t.name, type, dims: t.dims, data };
}

export function readTensorFile(file) {
  return tensorFromProto(parseTensorProto(readFileSync(file)), file);
}

// A SequenceProto (kind 1: an array of values) or OptionalProto (kind 2: the
// value or null) or TensorProto (kind 0); fields 1 name, 3 tensor(s), 5
// sequence(s), 7 optional(s); maps and sparse tensors are refused.
function parseValue(buf, kind, file) {
  if (kind === 0) return tensorFromProto(parseTensorProto(buf), file);
  const r = reader(buf), items = [];
  let name = '';
  while (!r.done()) {
    const key = Number(r.varint()), field = key >>> 3, wire = key & 7;
    if (wire === 0) r.varint();
    else if (wire !== 2) throw new Error(`${file}: bad protobuf wire type ${wire}`);
    else if (field === 1) name = Buffer.from(r.bytes()).toString('utf8');
    else if (field === 3) items.push(tensorFromProto(parseTensorProto(r.bytes()), file));
    else if (field === 5) items.push(parseValue(r.bytes(), 1, file).value);
    else if (field === 7) items.push(parseValue(r.bytes(), 2, file).value);
    else if (field === 4 || field === 6) throw new Error(`${file}: sparse tensors and maps are not supported`);
    else r.bytes();
  }
  return { name, value: kind === 1 ? items : items.length ? items[0] : null };
}

// The `kind` ('input' or 'output') files of a test_data_set folder, keyed by
// the tensor's name when it is one of `names`, else by position.
export function readDataSet(dir, kind, names, kinds = []) {
  const re = new RegExp(`^${kind}_\\d+\\.pb$`);
  const files = readdirSync(dir).filter((f) => re.test(f))
    .sort((a, b) => parseInt(a.slice(kind.length + 1)) - parseInt(b.slice(kind.length + 1)));
  if (files.length !== names.length) throw new Error(`${dir}: ${files.length} ${kind}s, the model has ${names.length}`);
  const out = {};
  files.forEach((f, k) => {
    const file = path.join(dir, f), vk = kinds[k] || 0;
    const t = parseValue(readFileSync(file), vk, file);
    out[names.includes(t.name) ? t.name : names[k]] = vk ? t.value : t;
  });
  return out;
}

// ---- comparison ----

export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function toNumbers(t) {
  if (t.type === 'float16') return Array.from(t.data, halfToFloat);
  return Array.from(t.data, (v) => (typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? +v : v));
}

// Polygraphy's rule: an element fails only if |a-b| > atol and |a-b| > rtol*|b|
// (NaN equals NaN); a and b are {type, dims, data}, b the reference.
export function compareOutput(name, a, b, rtol, atol) {
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

// compareOutput for values of every kind: sequences (arrays) item by item,
// optionals (null for none).
export function compareValue(name, a, b, rtol, atol) {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length)
      return { ok: false, line: `${name}: A is ${desc(a)}, B is ${desc(b)}  FAIL` };
    for (let k = 0; k < a.length; k++) {
      const r = compareValue(`${name}[${k}]`, a[k], b[k], rtol, atol);
      if (!r.ok) return r;
    }
    return { ok: true, line: `${name}: sequence of ${a.length}  PASS` };
  }
  if (a === null || b === null)
    return a === b ? { ok: true, line: `${name}: none  PASS` } : { ok: false, line: `${name}: A is ${desc(a)}, B is ${desc(b)}  FAIL` };
  return compareOutput(name, a, b, rtol, atol);
}

function desc(v) {
  return Array.isArray(v) ? `a sequence of ${v.length}` : v === null ? 'none' : `${v.type} [${v.dims}]`;
}

// ---- writing ----

function varintBytes(v) {
  const out = [];
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

// A TensorProto with dims (1), data_type (2), name (8) and raw_data (9).
export function encodeTensorProto(name, type, dims, data) {
  const code = Number(Object.keys(DTYPES).find((k) => DTYPES[k][0] === type));
  if (!code || type === 'string') throw new Error(`cannot write a ${type} tensor`);
  const parts = [];
  for (const d of dims) parts.push(Buffer.from([0x08, ...varintBytes(d)]));
  parts.push(Buffer.from([0x10, ...varintBytes(code)]));
  const nm = Buffer.from(name, 'utf8');
  parts.push(Buffer.from([0x42, ...varintBytes(nm.length)]), nm);
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  parts.push(Buffer.from([0x4a, ...varintBytes(raw.length)]), raw);
  return Buffer.concat(parts);
}
