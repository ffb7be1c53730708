// Removes the "name" custom section from a .wasm file in place. worker-build asks wasm-opt
// to keep it (for symbolicated panics); this Worker is built not to panic, and the section
// is about a fifth of the module, which every cold start has to fetch and compile.
import { readFileSync, writeFileSync } from 'node:fs';

function readLeb(bytes, offset) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, offset];
  }
}

// `producers` and `target_features` only inform tools; the runtime ignores both.
const STRIPPED = new Set(['name', 'producers', 'target_features']);

const file = process.argv[2];
const wasm = readFileSync(file);
const kept = [wasm.subarray(0, 8)];
let offset = 8;
let removed = 0;
while (offset < wasm.length) {
  const start = offset;
  const id = wasm[offset++];
  const [size, body] = readLeb(wasm, offset);
  const end = body + size;
  let name = null;
  if (id === 0) {
    const [length, at] = readLeb(wasm, body);
    name = wasm.subarray(at, at + length).toString('utf8');
  }
  if (STRIPPED.has(name)) removed += end - start;
  else kept.push(wasm.subarray(start, end));
  offset = end;
}
writeFileSync(file, Buffer.concat(kept));
console.log(`strip-wasm-names: removed ${removed} bytes from ${file}`);
