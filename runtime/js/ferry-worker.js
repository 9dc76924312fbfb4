// ferry-worker.js - the Web Worker ferry.js runs the model in by default, so
// a long inference never freezes the page. Loaded by ferry.js as a module
// worker from a URL relative to ferry.js itself (import.meta.url), so a pack
// folder works from any sub-path.
//
// Messages in: {id, op, args}; out: {id, ok: true, result} or
// {id, ok: false, message, code}. Ops:
//   open     {wasm: ArrayBuffer, shards: [ArrayBuffer]} -> {inputs, outputs}
//            (the buffers are transferred: no copy)
//   run      {feeds: {name: {type, data, dims}}} -> {name: {type, dims, data}}
//            (output buffers are transferred back)
//   stats    -> ferry_run_stats of the last run
//   release  closes the session
import { loadRuntime } from './ferry-wasm.js';

let session = null;

// Every ArrayBuffer in an output value (tensors, sequences, optionals).
function buffers(v, out = []) {
  if (Array.isArray(v)) v.forEach((item) => buffers(item, out));
  else if (v && v.data) out.push(v.data.buffer);
  return out;
}

const ops = {
  async open({ wasm, shards }) {
    const rt = await loadRuntime(wasm);
    session = rt.open(shards);
    return [{ inputs: session.inputs, outputs: session.outputs }, []];
  },
  async run({ feeds }) {
    if (!session) throw new Error('ferry: no model is open in the worker');
    const out = session.run(feeds);
    return [out, buffers(Object.values(out))];
  },
  async stats() {
    return [session ? session.stats() : null, []];
  },
  async release() {
    if (session) session.close();
    session = null;
    return [null, []];
  },
};

self.onmessage = async (e) => {
  const { id, op, args } = e.data;
  try {
    if (!ops[op]) throw new Error(`ferry: the worker has no operation '${op}'`);
    const [result, transfer] = await ops[op](args ?? {});
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (err) {
    self.postMessage({ id, ok: false, message: String(err && err.message ? err.message : err), code: err && err.code });
  }
};
