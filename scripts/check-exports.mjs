// Checks that every entry of every workspace package's export map is shipped by `npm pack` and
// loads from the built package under its public name (the root resolves workspaces by name).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
let failures = 0;
const fail = (message) => {
  console.error(`✗ ${message}`);
  failures++;
};

for (const dir of root.workspaces) {
  const pkg = JSON.parse(readFileSync(new URL(`../${dir}/package.json`, import.meta.url), 'utf8'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: dir,
      encoding: 'utf8',
    }),
  );
  const shipped = new Set(packed[0].files.map((f) => f.path));
  if (!shipped.has('LICENSE')) fail(`${pkg.name}: no LICENSE in the tarball`);
  if (!shipped.has('README.md')) fail(`${pkg.name}: no README.md in the tarball`);
  for (const path of shipped) {
    if (path.endsWith('.map') || path.endsWith('.tsbuildinfo') || path.startsWith('src/')) {
      fail(`${pkg.name}: ships ${path}`);
    }
  }
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (subpath.includes('*') || typeof target === 'string') continue;
    const name = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    for (const file of [target.default, target.types]) {
      if (!shipped.has(file.replace(/^\.\//, ''))) {
        fail(`${name}: ${file} is not in the packed tarball (run npm run build?)`);
      }
    }
    try {
      const names = Object.keys(await import(name));
      if (names.length === 0) throw new Error('exports nothing');
      console.log(`✓ ${name} (${names.length} exports)`);
    } catch (error) {
      fail(`${name}: ${error.message}`);
    }
  }
  for (const [bin, file] of Object.entries(pkg.bin ?? {})) {
    if (!shipped.has(file.replace(/^\.\//, '')))
      fail(`${pkg.name} bin ${bin}: ${file} not shipped`);
  }
}
process.exit(failures === 0 ? 0 : 1);
