// Generates src/api/schema.d.ts from Tern's own OpenAPI document.
//   node scripts/gen-types.mjs http://127.0.0.1:8025/api/v1/openapi.json   (a running tern)
//   node scripts/gen-types.mjs path/to/openapi.json
// The browser suite (test/e2e.test.mjs, "types match the server") regenerates the types from the
// tern it tests and fails when they differ from the committed file: run this and commit.
import { writeFileSync, readFileSync } from 'node:fs';
import { schemaText } from './schema-text.mjs';

const src = process.argv[2];
if (!src) {
  console.error('usage: node scripts/gen-types.mjs <openapi.json URL or file>');
  process.exit(2);
}
const doc = src.startsWith('http')
  ? await (await fetch(src)).json()
  : JSON.parse(readFileSync(src, 'utf8'));
const out = new URL('../src/api/schema.d.ts', import.meta.url).pathname;
writeFileSync(out, await schemaText(doc));
console.log(`wrote ${out}`);
