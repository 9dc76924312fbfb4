// ferry.js - run a `ferry pack` folder in the browser or in node (>= 20).
// An ES module with no build step, shaped like onnxruntime-web's API so an
// app switches with few edits (docs/web.md says why and what differs):
//
//   import * as ferry from './ferry.js';
//   const s = await ferry.InferenceSession.create('models/squeezenet/', {
//     executionProviders: ['wasm'], onProgress: ({ loaded, total }) => ... });
//   s.inputNames, s.outputNames, s.inputMetadata
//   const out = await s.run({ data: new ferry.Tensor('float32', pixels, [1, 3, 224, 224]) });
//   out.squeezenet0_flatten0_reshape0.data   // Float32Array
//   await s.release();
//
// How it fits together:
//   - loading (loadPack): manifest.json names ferry.wasm (and, in packs made
//     where it was built, ferry-relaxed.wasm: the same runtime with relaxed
//     SIMD's fused multiply-add, loaded instead where WebAssembly.validate
//     accepts relaxed SIMD) and the model shards with size and sha256. Each file comes from the Cache API (key:
//     its URL + '?sha256=' + hash, so a second load makes no request for
//     it) or from the network through a streaming reader that reports
//     progress over all files (four files at a time); every file's sha256 is checked
//     (crypto.subtle) before use, cached ones too. In node a path or file://
//     URL is read with node:fs (no cache needed).
//   - backends: a session talks to a backend object {inputs, outputs,
//     run(feeds), stats(), release()}. 'wasm' is the one backend now: in a
//     browser it lives in a Web Worker (ferry-worker.js) unless
//     `worker: false`; in node it runs inline. A 'webgpu' backend will be
//     another entry of BACKENDS.
//   - errors are Errors with one clear line: HTTP status and URL, an
//     integrity mismatch naming the file, a missing browser feature, or the
//     runtime's message (a bad input's dtype or shape).
import { ARRAYS, FerryError, checkWasmFeatures, hasRelaxedSimd, loadRuntime } from './ferry-wasm.js';

export { FerryError };

// What onnxruntime-web's `ort.env` holds, for code that sets it; ferry.wasm
// is single-threaded and has SIMD always.
export const env = { wasm: { numThreads: 1, simd: true, proxy: false }, logLevel: 'warning' };

const CACHE_NAME = 'ferry-v1';
const PARALLEL = 4; // files loaded at once
const IS_NODE = typeof process === 'object' && !!(process.versions && process.versions.node) &&
  typeof window === 'undefined';

// ---- Tensor ----

const TYPE_OF_ARRAY = new Map([
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Uint8Array, 'uint8'],
  [Int16Array, 'int16'], [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'],
]);

// A tensor as onnxruntime-web has it: new Tensor(type, data, dims) or
// new Tensor(data, dims) (type from the typed array). data is the typed
// array of the type (BigInt64Array for 'int64', Uint8Array for 'bool',
// Uint16Array for 'float16' bits) or a plain array, converted.
export class Tensor {
  constructor(type, data, dims) {
    if (typeof type !== 'string') [type, data, dims] = [TYPE_OF_ARRAY.get(type?.constructor), type, data];
    const Ctor = ARRAYS[type];
    if (!Ctor) throw new TypeError(`ferry: unsupported tensor type '${type}'`);
    if (Array.isArray(data)) data = Ctor === BigInt64Array || Ctor === BigUint64Array
      ? Ctor.from(data, (v) => BigInt(v)) : Ctor.from(data, (v) => +v);
    if (!(data instanceof Ctor)) throw new TypeError(`ferry: a '${type}' tensor wants a ${Ctor.name}, got ${data?.constructor?.name}`);
    dims = dims ?? [data.length];
    const size = dims.reduce((a, b) => a * b, 1);
    const expected = /int4$/.test(type) ? Math.ceil(size / 2) : size;
    if (!dims.every((d) => Number.isInteger(d) && d >= 0) || expected !== data.length)
      throw new RangeError(`ferry: dims [${dims}] do not match ${data.length} elements of data`);
    this.type = type;
    this.data = data;
    this.dims = Object.freeze([...dims]);
    this.size = size;
    this.location = 'cpu';
  }

  getData() { return Promise.resolve(this.data); }
  dispose() {}
}

// ---- loading a pack folder ----

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(bytes) {
  if (!globalThis.crypto || !crypto.subtle)
    throw new FerryError('ferry: this page lacks crypto.subtle (serve it over https or from localhost) to check the model\'s integrity', 3);
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

// The folder URL (ending in '/') and manifest URL of `src`: a folder, with or
// without its trailing slash, or its manifest.json.
function packURLs(src) {
  let base;
  if (src instanceof URL) base = new URL(src.href);
  else if (IS_NODE && !/^[a-z][a-z0-9+.-]*:/i.test(src)) return null; // a node path
  else base = new URL(src, globalThis.document?.baseURI ?? globalThis.location?.href);
  if (base.pathname.endsWith('.json')) return { manifest: base, folder: new URL('.', base) };
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return { manifest: new URL('manifest.json', base), folder: base };
}

async function fetchOK(url, init) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new FerryError(`ferry: cannot fetch ${url}: ${e.message}`, 3);
  }
  if (!r.ok) throw new FerryError(`ferry: HTTP ${r.status}${r.statusText ? ' ' + r.statusText : ''}: ${url}`, 3);
  return r;
}

// A response body read chunk by chunk into one buffer, reporting each chunk.
async function readBody(r, size, onChunk) {
  if (!r.body || !r.body.getReader) {
    const b = new Uint8Array(await r.arrayBuffer());
    onChunk(b.length);
    return b;
  }
  let buf = new Uint8Array(size), at = 0;
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > buf.length) { // more than the manifest said: grow (the hash will fail)
      const more = new Uint8Array(Math.max(buf.length * 2, at + value.length));
      more.set(buf.subarray(0, at));
      buf = more;
    }
    buf.set(value, at);
    at += value.length;
    onChunk(value.length);
  }
  return at === buf.length ? buf : buf.slice(0, at);
}

// Where pack files come from: {manifest(), file(entry, onChunk) -> bytes,
// source} over fetch (+ Cache API) or node:fs.
async function openSource(src) {
  const urls = packURLs(src);
  if (!urls || (IS_NODE && urls.folder.protocol === 'file:')) {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const given = urls ? fileURLToPath(urls.manifest) : String(src);
    const manifestPath = given.endsWith('.json') ? given : path.join(given, 'manifest.json');
    const folder = path.dirname(manifestPath);
    const readOrFail = async (p) => {
      try {
        return await fs.readFile(p);
      } catch (e) {
        throw new FerryError(`ferry: ${p}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, e.code === 'ENOENT' ? 2 : 3);
      }
    };
    return {
      where: manifestPath,
      manifest: async () => parseManifest(await readOrFail(manifestPath), manifestPath),
      file: async (entry, onChunk) => {
        const b = await readOrFail(path.join(folder, entry.file));
        onChunk(b.length);
        return { bytes: b, source: 'file' };
      },
      fileName: (entry) => path.join(folder, entry.file),
    };
  }
  if (typeof fetch !== 'function') throw new FerryError('ferry: this browser lacks fetch', 3);
  const cache = globalThis.caches ? await caches.open(CACHE_NAME).catch(() => null) : null;
  return {
    where: urls.manifest.href,
    manifest: async () => {
      const r = await fetchOK(urls.manifest, { cache: 'no-cache' });
      return parseManifest(new Uint8Array(await r.arrayBuffer()), urls.manifest.href);
    },
    file: async (entry, onChunk) => {
      const url = new URL(entry.file, urls.folder);
      const key = `${url.href}?sha256=${entry.sha256}`;
      const hit = cache && await cache.match(key);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        if (bytes.length === entry.size && await sha256(bytes) === entry.sha256) {
          onChunk(bytes.length);
          return { bytes, source: 'cache' };
        }
        await cache.delete(key); // damaged in the cache: fetch it again
      }
      // no-store: the Cache API keeps the checked copy; the HTTP cache would
      // only hold a second one (or a stale one after the pack changed)
      const bytes = await readBody(await fetchOK(url, { cache: 'no-store' }), entry.size, onChunk);
      return { bytes, source: 'network', store: () => cache && cache.put(key, new Response(bytes)).catch(() => {}) };
    },
    fileName: (entry) => new URL(entry.file, urls.folder).href,
  };
}

function parseManifest(bytes, where) {
  let m;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FerryError(`ferry: ${where}: not JSON (${e.message})`, 2);
  }
  if (!m || m.format !== 'ferry-pack') throw new FerryError(`ferry: ${where}: not a ferry pack manifest`, 2);
  if (!Number.isInteger(m.format_version) || m.format_version < 1) throw new FerryError(`ferry: ${where}: no format_version`, 2);
  if (m.format_version > 1) throw new FerryError(`ferry: ${where}: made by a newer ferry (format ${m.format_version})`, 2);
  // a file name inside the folder: no scheme, no absolute path, no '..'
  const ok = (f) => f && typeof f.file === 'string' && /^[A-Za-z0-9._-]+$/.test(f.file) && !f.file.startsWith('.') &&
    Number.isSafeInteger(f.size) && f.size >= 0 && /^[0-9a-f]{64}$/.test(f.sha256);
  if (!ok(m.runtime) || (m.runtime_relaxed !== undefined && !ok(m.runtime_relaxed)) ||
      !Array.isArray(m.shards) || !m.shards.length || !m.shards.every(ok))
    throw new FerryError(`ferry: ${where}: the runtime or shard list is malformed`, 2);
  return m;
}

// Loads the runtime (ferry-relaxed.wasm where the engine has relaxed SIMD and
// the pack has it, else ferry.wasm) and every shard, checked;
// {manifest, wasm, shards, files}.
async function loadPack(src, options) {
  const source = await openSource(src);
  const manifest = await source.manifest();
  const runtime = manifest.runtime_relaxed && hasRelaxedSimd() ? manifest.runtime_relaxed : manifest.runtime;
  const entries = [runtime, ...manifest.shards];
  const total = entries.reduce((a, e) => a + e.size, 0);
  let loaded = 0;
  const progress = (file) => (n) => {
    loaded += n;
    if (options.onProgress) options.onProgress({ loaded, total, file });
  };
  const files = new Array(entries.length);
  const bytes = new Array(entries.length);
  const loadOne = async (k) => {
    const entry = entries[k];
    const got = await source.file(entry, progress(entry.file));
    if (got.source !== 'cache') {
      const h = await sha256(got.bytes);
      if (got.bytes.length !== entry.size || h !== entry.sha256)
        throw new FerryError(`ferry: integrity check failed for ${entry.file}: ${got.bytes.length} bytes with sha256 ${h}, ` +
          `the manifest says ${entry.size} bytes with sha256 ${entry.sha256} (${source.fileName(entry)})`, 2);
      if (got.store) await got.store();
    }
    files[k] = { file: entry.file, bytes: entry.size, source: got.source };
    bytes[k] = got.bytes;
  };
  // PARALLEL files at a time (browsers open about six connections per host)
  let next = 0;
  const lane = async () => { while (next < entries.length) await loadOne(next++); };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, entries.length) }, lane));
  return { manifest, wasm: bytes[0], shards: bytes.slice(1), files };
}

// ---- backends: the boundary a session talks to ----

// The wasm backend run inline (node, or `worker: false`).
async function inlineWasm(pack) {
  const rt = await loadRuntime(pack.wasm);
  const s = rt.open(pack.shards);
  return {
    inputs: s.inputs,
    outputs: s.outputs,
    run: async (feeds) => s.run(feeds),
    stats: async () => s.stats(),
    release: async () => s.close(),
  };
}

// The wasm backend in a module Web Worker (ferry-worker.js), by request id.
async function workerWasm(pack) {
  if (typeof Worker !== 'function') throw new FerryError('ferry: this browser lacks Web Workers (pass worker: false to run on the page)', 3);
  const worker = new Worker(new URL('./ferry-worker.js', import.meta.url), { type: 'module', name: 'ferry' });
  const pending = new Map();
  let next = 1, dead = null;
  const failAll = (err) => {
    dead = err;
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };
  worker.onmessage = (e) => {
    const { id, ok, result, message, code } = e.data;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (ok) p.resolve(result);
    else p.reject(new FerryError(message, code ?? 2));
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    failAll(new FerryError(`ferry: the worker failed: ${e.message || 'it could not be loaded (ferry-worker.js)'}`, 3));
  };
  const call = (op, args, transfer = []) => new Promise((resolve, reject) => {
    if (dead) return reject(dead);
    const id = next++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args }, transfer);
  });
  const buffers = [pack.wasm, ...pack.shards].map((b) => b.buffer);
  let io;
  try {
    io = await call('open', { wasm: pack.wasm, shards: pack.shards }, buffers);
  } catch (e) {
    worker.terminate();
    throw e;
  }
  return {
    inputs: io.inputs,
    outputs: io.outputs,
    run: (feeds) => call('run', { feeds }),
    stats: () => call('stats'),
    release: async () => {
      try { await call('release'); } finally { worker.terminate(); failAll(new FerryError('ferry: the session was released', 2)); }
    },
  };
}

const BACKENDS = {
  wasm: {
    check: checkWasmFeatures,
    create: (pack, options) => (IS_NODE || options.worker === false ? inlineWasm(pack) : workerWasm(pack)),
  },
};

// The first of options.executionProviders ferry has ('wasm' by default).
function pickBackend(options) {
  const wanted = (options.executionProviders ?? ['wasm']).map((p) => (typeof p === 'string' ? p : p?.name));
  for (const name of wanted) if (BACKENDS[name]) return [name, BACKENDS[name]];
  throw new FerryError(`ferry: none of the execution providers [${wanted}] is available; this ferry has: ${Object.keys(BACKENDS)}`, 2);
}

// ---- sessions ----

function wrap(v) {
  if (Array.isArray(v)) return v.map(wrap);
  return v == null ? null : new Tensor(v.type, v.data, v.dims);
}

export class InferenceSession {
  constructor(backend, pack, name) {
    this._b = backend;
    this.inputNames = backend.inputs.map((i) => i.name);
    this.outputNames = backend.outputs.map((o) => o.name);
    const meta = (i) => ({ name: i.name, isTensor: i.kind === 'tensor', kind: i.kind, type: i.type, shape: i.dims });
    this.inputMetadata = backend.inputs.map(meta);
    this.outputMetadata = backend.outputs.map(meta);
    this.manifest = pack.manifest;
    this.loadInfo = { files: pack.files, backend: name };
  }

  // src: the pack folder's URL (relative to the page) or its manifest.json;
  // in node also a path. options: executionProviders (['wasm']), onProgress
  // ({loaded, total, file}), worker (browser: true, run in a Web Worker).
  static async create(src, options = {}) {
    if (typeof src !== 'string' && !(src instanceof URL))
      throw new TypeError('ferry: InferenceSession.create wants the URL or path of a `ferry pack` folder');
    const [name, backend] = pickBackend(options);
    backend.check();
    const pack = await loadPack(src, options);
    return new InferenceSession(await backend.create(pack, options), pack, name);
  }

  // feeds: {inputName: Tensor} (every input); fetches: optional array of
  // output names. Resolves to {outputName: Tensor}.
  async run(feeds, fetches) {
    if (!this._b) throw new FerryError('ferry: the session was released', 2);
    if (!feeds || typeof feeds !== 'object') throw new TypeError('ferry: run wants {inputName: Tensor}');
    for (const k of Object.keys(feeds))
      if (!this.inputNames.includes(k)) throw new FerryError(`ferry: '${k}' is not an input of the model (inputs: ${this.inputNames.join(', ')})`, 2);
    const plain = {};
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (t === undefined) throw new FerryError(`ferry: input '${name}' is missing in feeds`, 2);
      plain[name] = t === null || Array.isArray(t) ? t : { type: t.type, data: t.data, dims: [...t.dims] };
    }
    const out = await this._b.run(plain);
    const names = Array.isArray(fetches) ? fetches : this.outputNames;
    const result = {};
    for (const name of names) {
      if (!(name in out)) throw new FerryError(`ferry: '${name}' is not an output of the model`, 2);
      result[name] = wrap(out[name]);
    }
    return result;
  }

  // Memory and plan statistics of the last run (ferry_run_stats).
  stats() { return this._b ? this._b.stats() : Promise.resolve(null); }

  async release() {
    const b = this._b;
    this._b = null;
    if (b) await b.release();
  }
}
