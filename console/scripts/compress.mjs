// After `vite build`: writes a gzip variant (<file>.gz, level 9, no timestamp) beside each
// compressible file of dist/ when it is smaller. cmake/embed_console.cmake embeds both; tern
// serves the .gz to clients that accept gzip.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const compressible = /\.(html|js|mjs|css|svg|json|txt|webmanifest)$/;
let raw = 0;
let packed = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
      continue;
    }
    if (!compressible.test(name)) continue;
    const body = readFileSync(path);
    const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION });
    raw += body.length;
    if (gz.length < body.length) {
      writeFileSync(path + '.gz', gz);
      packed += gz.length;
    } else {
      packed += body.length;
    }
  }
}
walk(dist);
console.log(`compress: ${(raw / 1024).toFixed(1)} KiB -> ${(packed / 1024).toFixed(1)} KiB gzip`);
