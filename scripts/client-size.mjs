// Prints the minified + gzipped size of what a browser app pays for `createSessionClient`.
// Usage: node scripts/client-size.mjs [limitBytes]   (exits 1 above the limit, default 5120)
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const limit = Number(process.argv[2] ?? 5120);
const result = await build({
  stdin: {
    contents: "export { createSessionClient } from './packages/client/src/index.ts';",
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(
  `@sessionkeeper/client: ${code.length} bytes minified, ${gzipped} bytes gzipped (limit ${limit})`,
);
if (gzipped > limit) process.exit(1);
