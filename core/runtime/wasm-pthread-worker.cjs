'use strict';
/**
 * Entry script of every pthread worker of the threaded tfjs wasm build when it
 * runs in Node (see wasm-threads.ts, which hands this path to emscripten as the
 * `*.worker.js` file).
 *
 * tfjs ships the emscripten pthread worker only as a string
 * (`wasmWorkerContents` in wasm-out/tfjs-backend-wasm-threaded-simd.worker.js)
 * that the browser build turns into a blob: URL, which Node's worker_threads
 * refuses. That script already has a Node branch (parentPort adapter,
 * self/importScripts/postMessage shims); it only expects to run as a classic
 * script with CommonJS `require` and `__filename` in scope. So: read it from
 * the installed package at run time, give it those two globals, and evaluate it
 * in this worker's global scope. The main thread then posts {cmd: 'load'} with
 * the path of the glue file (wasm-out/tfjs-backend-wasm-threaded-simd.js), which
 * the script loads with its importScripts shim.
 */
const { runInThisContext } = require('node:vm');

const contentsPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
const { wasmWorkerContents } = require(contentsPath);
if (typeof wasmWorkerContents !== 'string') {
  throw new Error(`wasm-pthread-worker: ${contentsPath} exports no wasmWorkerContents string (tfjs-backend-wasm layout changed?)`);
}
globalThis.require = require;
globalThis.__filename = __filename;
// The string came out of a template literal, so its "\n" escapes are real
// newlines inside string literals; escape them back (tfjs does the same before
// making its blob).
runInThisContext(wasmWorkerContents.replace(/\n/g, '\\n'), { filename: contentsPath });
