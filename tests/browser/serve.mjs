// serve.mjs - a tiny static file server for `ferry pack` folders, the demo and
// the browser tests (node only, no dependency):
//
//   node tests/browser/serve.mjs ROOT [PORT]    # PORT 0 (default): any free port
//   -> first stdout line: "serving ROOT at http://127.0.0.1:PORT/"
//
// or, from a module: const { url, close } = await serve(root, port).
// It binds 127.0.0.1 only (a secure context for crypto.subtle and the Cache
// API), sends the cross-origin isolation headers (COOP same-origin, COEP
// require-corp, CORP same-origin) that SharedArrayBuffer and threaded wasm
// need, .wasm as application/wasm and .js/.mjs as text/javascript, and
// `Cache-Control: no-cache` so the browser's HTTP cache never hides a
// request (ferry.js caches model files itself, in the Cache API). A folder
// serves its index.html (a folder URL without the trailing slash is
// redirected to it); nothing outside ROOT is served.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.svg': 'image/svg+xml', '.wav': 'audio/wav', '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8', '.onnx': 'application/octet-stream', '.ferry': 'application/octet-stream',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
};

function send(res, status, text) {
  res.writeHead(status, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${status} ${text}\n`);
}

function handle(root, req, res) {
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return send(res, 400, 'Bad Request');
  }
  const file = path.join(root, rel);
  if (file !== root && !file.startsWith(root + path.sep)) return send(res, 403, 'Forbidden');
  let st;
  try {
    st = statSync(file);
  } catch {
    return send(res, 404, 'Not Found');
  }
  if (st.isDirectory()) {
    if (!rel.endsWith('/')) {
      res.writeHead(301, { ...HEADERS, Location: `${rel}/` });
      return res.end();
    }
    return handle(root, { ...req, url: `${rel}index.html` }, res);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method Not Allowed');
  res.writeHead(200, {
    ...HEADERS,
    'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': st.size,
  });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

// Serves `root` on 127.0.0.1:port (0: any free port); resolves to {url, port, close()}.
export function serve(root, port = 0) {
  const abs = path.resolve(root);
  const server = createServer((req, res) => handle(abs, req, res));
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = server.address().port;
      resolve({ url: `http://127.0.0.1:${p}/`, port: p, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [root, port] = process.argv.slice(2);
  if (!root) {
    console.error('usage: node serve.mjs ROOT [PORT]');
    process.exit(2);
  }
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a folder');
  } catch (e) {
    console.error(`serve.mjs: ${root}: ${e.message}`);
    process.exit(2);
  }
  const { url } = await serve(root, Number(port ?? 0));
  console.log(`serving ${root} at ${url}`);
}
