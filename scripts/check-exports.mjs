// Checks that every entry of package.json's export map is shipped by `npm pack` and loads from
// the built package under its public name (a package may import itself by name in Node).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' }),
);
const shipped = new Set(packed[0].files.map((f) => f.path));
let failures = 0;
const needsTestRunner = new Set(['./testing']);

for (const [subpath, target] of Object.entries(pkg.exports)) {
  const name = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
  for (const file of [target.import, target.types]) {
    if (!shipped.has(file.replace(/^\.\//, ''))) {
      console.error(`✗ ${name}: ${file} is not in the packed tarball (run npm run build?)`);
      failures++;
    }
  }
  try {
    if (needsTestRunner.has(subpath)) {
      // It registers vitest suites when loaded, so outside vitest it can only be resolved.
      import.meta.resolve(name);
      console.log(`✓ ${name} (resolves; loads inside vitest)`);
      continue;
    }
    const mod = await import(name);
    const names = Object.keys(mod);
    if (names.length === 0) throw new Error('exports nothing');
    console.log(`✓ ${name} (${names.length} exports)`);
  } catch (error) {
    console.error(`✗ ${name}: ${error.message}`);
    failures++;
  }
}
for (const [bin, file] of Object.entries(pkg.bin ?? {})) {
  if (!shipped.has(file.replace(/^\.\//, ''))) {
    console.error(`✗ bin ${bin}: ${file} is not in the packed tarball`);
    failures++;
  }
}
process.exit(failures === 0 ? 0 : 1);
