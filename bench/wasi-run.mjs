// wasi-run.mjs - runs a WASI command module (a wasm32-wasi program linked
// with crt1-command.o, such as `make bench/gemm.wasm`) under node's
// node:wasi, passing the arguments and returning its exit status; the
// module sees no files and no environment, only stdout/stderr.
//
//   node --no-warnings bench/wasi-run.mjs MODULE.wasm [ARGS...]   (node 20 calls WASI experimental)
import fs from 'node:fs';
import { WASI } from 'node:wasi';

async function main() {
  const [file, ...args] = process.argv.slice(2);
  if (!file) throw new Error('usage: wasi-run.mjs MODULE.wasm [ARGS...]');
  const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, returnOnExit: true });
  const mod = await WebAssembly.compile(fs.readFileSync(file));
  const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
  process.exitCode = wasi.start(inst);
}

main().catch((e) => {
  console.error(`wasi-run.mjs: ${e && e.message ? e.message : e}`);
  process.exit(2);
});
