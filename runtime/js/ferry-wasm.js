// ferry-wasm.js - the runtime in ferry.wasm behind a small JS object, for
// ferry.js: used on the main thread, in node, and inside ferry-worker.js.
// It wraps the ABI of runtime/js/wasm_api.c (functions of numbers and
// pointers only) and knows nothing of fetching, caching or workers: it gets
// bytes and gives back plain objects that structured clone can carry.
//
//   const rt = await loadRuntime(wasmBytesOrModule);
//   const s = rt.open([shard0, shard1, ...]);  // ArrayBuffers or typed arrays
//   s.inputs, s.outputs   // [{name, kind: 'tensor'|'sequence'|'optional', type, dims}]
//                         // a dim is a number, or a string for a symbolic one
//   const out = s.run({x: {type: 'float32', data: Float32Array, dims: [1, 3]}});
//   out.y                 // {type, dims, data} (a copy); a sequence is an array, an
//                         // optional its value or null
//   s.close();
//
// Errors are FerryError (an Error with `code`: 2 bad input, 3 system) with
// the runtime's one-line message. Every call into wasm that may allocate can
// grow its memory, which detaches views: views are made right before use.

// typed array per dtype name (as ferry_wasm_dtype_name and onnxruntime-web spell them)
export const ARRAYS = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array, float64: Float64Array,
  uint32: Uint32Array, uint64: BigUint64Array, complex64: Float32Array, complex128: Float64Array,
  bfloat16: Uint16Array, float8e4m3fn: Uint8Array, float8e4m3fnuz: Uint8Array, float8e5m2: Uint8Array,
  float8e5m2fnuz: Uint8Array, uint4: Uint8Array, int4: Uint8Array,
};

const KINDS = ['tensor', 'sequence', 'optional', 'map', 'sparse', 'unknown'];

export class FerryError extends Error {
  constructor(message, code = 2) {
    super(message);
    this.name = 'FerryError';
    this.code = code;
  }
}

// A module with one i32x4.splat: valid only where WebAssembly SIMD128 is.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6,
  0, 65, 0, 253, 15, 11]);

// A module with one f32x4.relaxed_madd: valid only where WebAssembly relaxed
// SIMD is (Chromium 114+, node 22+; node 20 behind a V8 flag).
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61,
  1, 59, 0, ...[0, 1, 2].flatMap(() => [253, 12, ...new Array(16).fill(0)]), 253, 133, 2, 11]);

// Whether this engine runs ferry-relaxed.wasm (the build with relaxed SIMD's
// fused multiply-add); ferry.wasm runs everywhere SIMD128 does.
export function hasRelaxedSimd() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE);
}

// The browser or node features ferry.wasm needs; throws naming the missing one.
export function checkWasmFeatures() {
  if (typeof WebAssembly !== 'object') throw new FerryError('ferry: this browser has no WebAssembly', 3);
  if (!WebAssembly.validate(SIMD_PROBE))
    throw new FerryError('ferry: this browser lacks WebAssembly SIMD (128-bit), which ferry.wasm needs', 3);
}

const decoder = new TextDecoder();

// Instantiates ferry.wasm (bytes or a compiled WebAssembly.Module; no imports).
export async function loadRuntime(wasm) {
  checkWasmFeatures();
  const instance = wasm instanceof WebAssembly.Module ? await WebAssembly.instantiate(wasm, {})
    : (await WebAssembly.instantiate(wasm, {})).instance;
  const x = instance.exports;
  x._initialize();
  const mem = () => new Uint8Array(x.memory.buffer);
  const cstr = (p) => {
    p >>>= 0; // pointers come back as i32
    if (!p) return null;
    const m = mem();
    let e = p;
    while (m[e]) e++;
    return decoder.decode(m.subarray(p, e));
  };
  const dtypeName = (d) => cstr(x.ferry_wasm_dtype_name(d));
  const dtypeNum = {};
  for (let d = 1; dtypeName(d) !== '?'; d++) dtypeNum[dtypeName(d)] = d;
  const fail = (code) => { throw new FerryError(`ferry: ${cstr(x.ferry_wasm_last_error())}`, code); };

  // Copies bytes into a 64-byte aligned block of wasm memory (owned by the caller).
  function place(bytes) {
    const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const p = x.aligned_alloc(64, Math.ceil(Math.max(b.length, 1) / 64) * 64) >>> 0;
    if (!p) throw new FerryError(`ferry: out of wasm memory for ${b.length} bytes`, 3);
    mem().set(b, p);
    return [p, b.length];
  }

  function items(h, v, kind, dtype, n) {
    const rc = x.ferry_wasm_value_items(h, v, kind, dtypeNum[dtype] ?? 0, n);
    if (rc) fail(rc);
  }

  // Describes input value v from feed f (a tensor {type, data, dims}, or an
  // array for a sequence).
  function describe(h, v, f, info, name) {
    if (Array.isArray(f)) {
      items(h, v, 1, info.type, f.length);
      f.forEach((item, k) => describe(h, x.ferry_wasm_value_item(v, k), item, { type: info.type, dims: null }, `${name}[${k}]`));
      return;
    }
    if (!f || !f.data) throw new FerryError(`ferry: input '${name}' is missing`, 2);
    const dims = f.dims ?? info.dims;
    if (!dims || dims.some((d) => typeof d !== 'number' || !(d >= 0)))
      throw new FerryError(`ferry: input '${name}': dims [${dims}] are not sizes`, 2);
    const type = f.type ?? f.dtype ?? info.type;
    const d = dtypeNum[type];
    if (!d) throw new FerryError(`ferry: input '${name}': type ${type} is not supported`, 2);
    const numel = dims.reduce((a, b) => a * b, 1), size = x.ferry_wasm_dtype_size(d);
    if (size === 0 && !/int4$/.test(type)) throw new FerryError(`ferry: input '${name}': ${type} tensors are not supported`, 2);
    const nbytes = size > 0 ? numel * size : Math.ceil(numel / 2); // 4-bit: two per byte
    const src = f.data;
    if (!ArrayBuffer.isView(src) || src.byteLength !== nbytes)
      throw new FerryError(`ferry: input '${name}': ${src.byteLength ?? 'no'} bytes of data for ${type} [${dims}] (${nbytes} expected)`, 2);
    const p = x.ferry_wasm_value_tensor(h, v, d, dims.length, nbytes) >>> 0;
    if (!p) fail(2);
    dims.forEach((n, k) => x.ferry_wasm_value_set_dim(v, k, n));
    mem().set(new Uint8Array(src.buffer, src.byteOffset, nbytes), p); // view made after the allocation
  }

  // An output value: {type, dims, data} (a copy), an array, or null.
  function read(v) {
    const kind = x.ferry_wasm_value_kind(v);
    if (kind === 1) return Array.from({ length: x.ferry_wasm_value_n_items(v) }, (_, k) => read(x.ferry_wasm_value_item(v, k)));
    if (kind === 2) return x.ferry_wasm_value_n_items(v) ? read(x.ferry_wasm_value_item(v, 0)) : null;
    const type = dtypeName(x.ferry_wasm_value_dtype(v));
    const dims = Array.from({ length: x.ferry_wasm_value_rank(v) }, (_, d) => x.ferry_wasm_value_dim(v, d));
    const nbytes = x.ferry_wasm_value_nbytes(v), p = x.ferry_wasm_value_data(v) >>> 0;
    const Ctor = ARRAYS[type] ?? Uint8Array, n = nbytes / Ctor.BYTES_PER_ELEMENT;
    // one copy out of wasm memory (slice), not a zeroed array then a byte copy
    const data = p % Ctor.BYTES_PER_ELEMENT === 0 ? new Ctor(x.memory.buffer, p, n).slice()
      : new Ctor(x.memory.buffer.slice(p, p + nbytes));
    return { type, dims, data };
  }

  function io(h, which) {
    return Array.from({ length: x.ferry_wasm_count(h, which) }, (_, i) => {
      const rank = x.ferry_wasm_io_rank(h, which, i);
      const dims = rank < 0 ? null : Array.from({ length: rank }, (_, d) => {
        const v = x.ferry_wasm_io_dim(h, which, i, d);
        return v >= 0 ? v : cstr(x.ferry_wasm_io_dim_name(h, which, i, d)) ?? '?';
      });
      return {
        name: cstr(x.ferry_wasm_io_name(h, which, i)), kind: KINDS[x.ferry_wasm_io_kind(h, which, i)] ?? 'unknown',
        type: dtypeName(x.ferry_wasm_io_dtype(h, which, i)), dims,
      };
    });
  }

  class Session {
    constructor(h) {
      this.h = h;
      this.inputs = io(h, 0);
      this.outputs = io(h, 1);
    }

    // feeds: {name: value}, every input given.
    run(feeds) {
      const h = this.h;
      if (!h) throw new FerryError('ferry: the session was released', 2);
      this.inputs.forEach((info, i) => {
        const f = feeds[info.name];
        const v = x.ferry_wasm_input(h, i);
        if (!v) fail(2);
        if (info.kind === 'optional') {
          items(h, v, 2, info.type, f == null ? 0 : 1);
          if (f != null) describe(h, x.ferry_wasm_value_item(v, 0), f, info, info.name);
        } else describe(h, v, f, info, info.name);
      });
      const rc = x.ferry_wasm_run(h);
      if (rc) fail(rc);
      const out = {};
      this.outputs.forEach((info, i) => { out[info.name] = read(x.ferry_wasm_output(h, i)); });
      return out;
    }

    // ferry_run_stats of the last run
    stats() {
      const s = (k) => x.ferry_wasm_stat(this.h, k);
      return { peakBytes: s(0), valuesBytes: s(1), scratchBytes: s(2), plans: s(3), steps: s(4), dynamicSteps: s(5) };
    }

    close() {
      if (this.h) x.ferry_wasm_close(this.h);
      this.h = 0;
    }
  }

  return {
    // Opens a bundle from its shards' bytes (shards[k] is NAME.ferry.k; shard 0 first).
    open(shards, opts = {}) {
      if (!shards.length) throw new FerryError('ferry: no model bytes', 2);
      const h = x.ferry_wasm_open(...place(shards[0]), opts.skipDataCrc ? 1 : 0);
      if (!h) fail(2);
      try {
        for (let k; (k = x.ferry_wasm_missing_shard(h)) >= 0;) {
          if (!shards[k]) throw new FerryError(`ferry: shard ${k} of the bundle is missing`, 2);
          const rc = x.ferry_wasm_add_shard(h, k, ...place(shards[k]));
          if (rc) fail(rc);
        }
      } catch (e) {
        x.ferry_wasm_close(h);
        throw e;
      }
      return new Session(h);
    },
    memoryBytes: () => x.memory.buffer.byteLength,
  };
}
