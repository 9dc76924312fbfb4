// ferry-node.mjs - run .ferry bundles in node (>= 20) with ferry.wasm, the
// runtime built by `make wasm`. A minimal wrapper of the ABI in
// runtime/js/wasm_api.c; the browser API (ferry.js) builds on the same ABI.
//
//   import { loadFerry } from './ferry-node.mjs';
//   const ferry = await loadFerry('build/runtime/ferry.wasm');
//   const s = ferry.openBundle('model.ferry');        // and model.ferry.1, ... if sharded
//   s.inputs   // [{name, dtype: 'float32', dims: [1, 3, 224, 224]}] ('batch' for a symbolic dim)
//   const out = s.run({ input: { data: Float32Array.from(...), dims: [1, 3, 224, 224] } });
//   out.output // {dtype: 'float32', dims: [1, 1000], data: Float32Array}
//   s.close();
//
// Feeds are keyed by input name (or an array in input order). A tensor is
// {data, dims} (dims may be left out when the declared shape is fixed; dtype
// defaults to the declared one) with data a typed array of its dtype:
// Float32Array, BigInt64Array for int64, Uint8Array for bool, Uint16Array
// for float16 bits. A sequence is an array of tensors; an optional input is
// its value, or null for none. Outputs come back the same way, copied out of
// wasm memory. Errors are thrown as Error with the runtime's one-line
// message and `code` (ferry_base.h: 2 bad input, 3 system).
//
// wasm memory: every call that may allocate can grow the memory, which
// detaches existing views of it; this module makes views right before use.
import { readFileSync, openSync, readSync, fstatSync, closeSync } from 'node:fs';

// typed array per dtype name (as ferry_wasm_dtype_name spells them)
const ARRAYS = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array, float64: Float64Array,
  uint32: Uint32Array, uint64: BigUint64Array, complex64: Float32Array, complex128: Float64Array,
  bfloat16: Uint16Array, float8e4m3fn: Uint8Array, float8e4m3fnuz: Uint8Array, float8e5m2: Uint8Array,
  float8e5m2fnuz: Uint8Array, uint4: Uint8Array, int4: Uint8Array,
};

class FerryError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'FerryError';
    this.code = code;
  }
}

// Compiles and instantiates ferry.wasm (a path, or its bytes); the module
// has no imports. Returns {openBundle(path), open(bytes, shards), exports}.
export async function loadFerry(wasm) {
  const bytes = typeof wasm === 'string' ? readFileSync(wasm) : wasm;
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const x = instance.exports;
  x._initialize();
  const mem = () => new Uint8Array(x.memory.buffer);
  const cstr = (p) => {
    p >>>= 0; // pointers come back as i32
    if (!p) return null;
    const m = mem();
    let e = p;
    while (m[e]) e++;
    return Buffer.from(m.subarray(p, e)).toString('utf8');
  };
  const dtypeName = (d) => cstr(x.ferry_wasm_dtype_name(d));
  const dtypeNum = {};
  for (let d = 1; dtypeName(d) !== '?'; d++) dtypeNum[dtypeName(d)] = d;
  const fail = (code) => { throw new FerryError(cstr(x.ferry_wasm_last_error()), code); };

  // Copies `len` bytes into a 64-byte aligned buffer of wasm memory; `fill`
  // writes them into a Uint8Array view. The caller owns the pointer.
  function place(len, fill) {
    const p = x.aligned_alloc(64, Math.ceil(Math.max(len, 1) / 64) * 64) >>> 0;
    if (!p) throw new FerryError(`out of wasm memory for ${len} bytes`, 3);
    try {
      fill(new Uint8Array(x.memory.buffer, p, len));
    } catch (e) {
      x.free(p);
      throw e;
    }
    return p;
  }
  const placeFile = (file) => {
    const fd = openSync(file, 'r');
    try {
      const len = fstatSync(fd).size;
      const p = place(len, (view) => {
        for (let at = 0; at < len;) {
          const n = readSync(fd, view, at, len - at, at);
          if (n <= 0) throw new Error(`${file}: short read`);
          at += n;
        }
      });
      return [p, len];
    } finally {
      closeSync(fd);
    }
  };
  const placeBytes = (b) => [place(b.byteLength, (view) => view.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))), b.byteLength];

  // Opens a bundle from shard 0's bytes ([p, len] in wasm memory, owned by
  // the session from here on) and adds the other shards via shard(k).
  function openPlaced([p, len], shard, opts = {}) {
    const h = x.ferry_wasm_open(p, len, opts.skipDataCrc ? 1 : 0);
    if (!h) fail(2);
    try {
      for (let k; (k = x.ferry_wasm_missing_shard(h)) >= 0;) {
        const [sp, slen] = shard(k);
        const rc = x.ferry_wasm_add_shard(h, k, sp, slen);
        if (rc) fail(rc);
      }
    } catch (e) {
      x.ferry_wasm_close(h);
      throw e;
    }
    return new Session(h);
  }

  // Describes input value v from feed f: an array is a sequence, anything
  // else a tensor {data, dims, dtype?} (dims default to the declared ones).
  function items(h, v, kind, dtype, n) {
    const rc = x.ferry_wasm_value_items(h, v, kind, dtypeNum[dtype] ?? 0, n);
    if (rc) fail(rc);
  }
  function describe(h, v, f, info, name) {
    if (Array.isArray(f)) {
      items(h, v, 1, info.dtype, f.length);
      f.forEach((item, k) => describe(h, x.ferry_wasm_value_item(v, k), item, { dtype: info.dtype, dims: null }, `${name}[${k}]`));
      return;
    }
    if (!f || !f.data) throw new FerryError(`input '${name}' is missing`, 2);
    const dims = f.dims ?? info.dims;
    if (!dims || dims.some((d) => typeof d !== 'number')) throw new FerryError(`input '${name}': dims needed`, 2);
    const dtype = f.dtype ?? f.type ?? (info.dtype !== '?' ? info.dtype : null);
    const d = dtypeNum[dtype];
    if (!d) throw new FerryError(`input '${name}': dtype ${dtype} is not supported`, 2);
    const numel = dims.reduce((a, b) => a * b, 1), size = x.ferry_wasm_dtype_size(d);
    if (size === 0 && !/int4$/.test(dtype)) throw new FerryError(`input '${name}': ${dtype} tensors are not supported`, 2);
    const nbytes = size > 0 ? numel * size : Math.ceil(numel / 2); // 4-bit: two per byte
    const src = f.data;
    if (!ArrayBuffer.isView(src) || src.byteLength !== nbytes)
      throw new FerryError(`input '${name}': ${src.byteLength ?? 'no'} bytes of data for ${dtype} [${dims}] (${nbytes} expected)`, 2);
    const p = x.ferry_wasm_value_tensor(h, v, d, dims.length, nbytes) >>> 0;
    if (!p) fail(2);
    dims.forEach((n, k) => x.ferry_wasm_value_set_dim(v, k, n));
    mem().set(new Uint8Array(src.buffer, src.byteOffset, nbytes), p); // view made after the allocation
  }

  // An output value as JS: a tensor {dtype, dims, data} (a copy), a
  // sequence as an array, an optional as its item or null.
  function read(v) {
    const kind = x.ferry_wasm_value_kind(v);
    if (kind === 1) return Array.from({ length: x.ferry_wasm_value_n_items(v) }, (_, k) => read(x.ferry_wasm_value_item(v, k)));
    if (kind === 2) return x.ferry_wasm_value_n_items(v) ? read(x.ferry_wasm_value_item(v, 0)) : null;
    const dtype = dtypeName(x.ferry_wasm_value_dtype(v));
    const dims = Array.from({ length: x.ferry_wasm_value_rank(v) }, (_, d) => x.ferry_wasm_value_dim(v, d));
    const nbytes = x.ferry_wasm_value_nbytes(v), p = x.ferry_wasm_value_data(v) >>> 0;
    const Ctor = ARRAYS[dtype] ?? Uint8Array;
    const data = new Ctor(nbytes / Ctor.BYTES_PER_ELEMENT);
    new Uint8Array(data.buffer).set(mem().subarray(p, p + nbytes));
    return { dtype, dims, data };
  }

  class Session {
    constructor(h) {
      this.h = h;
      const io = (which) => Array.from({ length: x.ferry_wasm_count(h, which) }, (_, i) => {
        const rank = x.ferry_wasm_io_rank(h, which, i);
        const dims = rank < 0 ? null : Array.from({ length: rank }, (_, d) => {
          const v = x.ferry_wasm_io_dim(h, which, i, d);
          return v >= 0 ? v : cstr(x.ferry_wasm_io_dim_name(h, which, i, d)) ?? '?';
        });
        const kind = x.ferry_wasm_io_kind(h, which, i);
        return { name: cstr(x.ferry_wasm_io_name(h, which, i)), dtype: dtypeName(x.ferry_wasm_io_dtype(h, which, i)), dims, kind };
      });
      this.inputs = io(0);
      this.outputs = io(1);
    }

    // feeds: {name: value} or an array in input order (see the top of this file).
    run(feeds) {
      const h = this.h;
      if (!h) throw new FerryError('session is closed', 2);
      this.inputs.forEach((info, i) => {
        const f = Array.isArray(feeds) ? feeds[i] : feeds[info.name];
        const v = x.ferry_wasm_input(h, i);
        if (!v) fail(2);
        if (info.kind === 2) { // optional: null or undefined for none
          items(h, v, 2, info.dtype, f == null ? 0 : 1);
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
      return { peakBytes: s(0), valuesBytes: s(1), scratchBytes: s(2), plans: s(3), steps: s(4), dynamicSteps: s(5), threads: s(6) };
    }

    close() {
      if (this.h) x.ferry_wasm_close(this.h);
      this.h = 0;
    }
  }

  return {
    exports: x,
    // A bundle file; shards are read from PATH.1, PATH.2, ...
    openBundle: (file, opts) => openPlaced(placeFile(file), (k) => placeFile(`${file}.${k}`), opts),
    // A bundle's bytes (Uint8Array or Buffer); shards[k-1] is shard k.
    open: (bytes, shards = [], opts) => openPlaced(placeBytes(bytes), (k) => {
      if (!shards[k - 1]) throw new FerryError(`shard ${k} of the bundle is missing`, 2);
      return placeBytes(shards[k - 1]);
    }, opts),
  };
}
