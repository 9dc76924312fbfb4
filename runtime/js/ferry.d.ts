// ferry.d.ts - types of ferry.js (the `ferry pack` folder's JS API), shaped
// like onnxruntime-web's so that code written for it type-checks with few edits.

export type TensorType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'int16' | 'uint16'
  | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'int4' | 'uint4';

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export declare class Tensor {
  /** new Tensor('float32', data, [1, 3]) or new Tensor(data, dims) (type from the array). */
  constructor(type: TensorType, data: TensorData | readonly number[] | readonly bigint[], dims?: readonly number[]);
  constructor(data: TensorData, dims?: readonly number[]);
  readonly type: TensorType;
  readonly data: TensorData;
  readonly dims: readonly number[];
  readonly size: number;
  readonly location: 'cpu';
  getData(): Promise<TensorData>;
  dispose(): void;
}

/** An input's or output's declaration; a symbolic dim is its name ('batch'). */
export interface ValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly kind: 'tensor' | 'sequence' | 'optional' | 'map' | 'sparse' | 'unknown';
  readonly type: string;
  readonly shape: ReadonlyArray<number | string> | null;
}

export interface LoadProgress {
  /** bytes of ferry.wasm and model shards loaded so far, from the network or the cache */
  loaded: number;
  /** bytes of them all (from manifest.json) */
  total: number;
  /** the file the last bytes belong to */
  file: string;
}

export interface SessionOptions {
  /** backends in order of preference; 'wasm' is the one this version has */
  executionProviders?: ReadonlyArray<string | { name: string }>;
  onProgress?: (p: LoadProgress) => void;
  /** browsers: run the model in a Web Worker (default true); node always runs inline */
  worker?: boolean;
}

export interface PackFile { file: string; size: number; sha256: string }

export interface Manifest {
  format: 'ferry-pack';
  format_version: number;
  ferry_version: string;
  bundle_format: string;
  bundle_id: string;
  source_sha256: string;
  model: string;
  source_file: string;
  compressed: boolean;
  runtime: PackFile;
  /** ferry-relaxed.wasm (relaxed SIMD), loaded instead of `runtime` where the engine has it */
  runtime_relaxed?: PackFile;
  shards: PackFile[];
  /** ferry.wasm plus every shard */
  total_bytes: number;
  inputs: Array<{ name: string; kind: string; dtype: string; shape: Array<number | string> | null }>;
  outputs: Array<{ name: string; kind: string; dtype: string; shape: Array<number | string> | null }>;
  encodings: string[];
  features: string[];
}

export interface RunStats {
  peakBytes: number; valuesBytes: number; scratchBytes: number; plans: number; steps: number; dynamicSteps: number;
}

export declare class InferenceSession {
  /** The URL of a `ferry pack` folder (or its manifest.json), relative to the page; in node also a path. */
  static create(src: string | URL, options?: SessionOptions): Promise<InferenceSession>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  readonly manifest: Manifest;
  /** where each file came from: 'network', 'cache' or 'file' (node); files[0] is the runtime that was
   * loaded (ferry.wasm, or ferry-relaxed.wasm where the engine has relaxed SIMD) */
  readonly loadInfo: { files: Array<{ file: string; bytes: number; source: 'network' | 'cache' | 'file' }>; backend: string };
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  stats(): Promise<RunStats | null>;
  release(): Promise<void>;
}

export declare class FerryError extends Error {
  /** 2 bad input, 3 system (runtime/ferry_base.h) */
  readonly code: number;
}

export declare const env: { wasm: { numThreads: number; simd: boolean; proxy: boolean }; logLevel: string };
