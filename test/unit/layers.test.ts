import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../support/repo-paths.js';

/** The layer table of docs/architecture.md: folders, top layer first. */
async function documentedLayers(): Promise<string[]> {
  const doc = await readFile(path.join(repoRoot(), 'docs/architecture.md'), 'utf8');
  const block = /<!-- layers:[^>]*-->\s*```\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/architecture.md has no layer table (a ``` block after the <!-- layers: --> comment)');
  return block[1]!.split('\n').filter(Boolean).map((line) => line.split(/\s+/)[0]!.replace(/\/$/, ''));
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(path.join(repoRoot(), dir), { withFileTypes: true })) {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await sourceFiles(relative)));
    else if (entry.name.endsWith('.ts')) files.push(relative);
  }
  return files;
}

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

async function importsOf(file: string): Promise<Import[]> {
  const text = await readFile(path.join(repoRoot(), file), 'utf8');
  const found: Import[] = [];
  for (const match of text.matchAll(/^(?:import|export)(\s+type)?\s[^;]*?from\s+'(\.[^']+)'/gm)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), match[2]!)).replace(/\.js$/, '.ts');
    found.push({ from: file, to: target, typeOnly: match[1] !== undefined });
  }
  return found;
}

/** These may be imported from any layer: see docs/architecture.md. */
const SHARED_BY_ALL = 'src/errors.ts';
const TYPES_FOR_ALL = 'src/config/config-schema.ts';

describe('the layers of docs/architecture.md', () => {
  it('hold for every import in src/ and strategies/: a layer imports only itself and the layers below it', async () => {
    const layers = await documentedLayers();
    expect(layers).to.include.members(['src/cli', 'src/runner', 'strategies', 'src/jobs', 'src/storage']);
    const layerOf = (file: string): number => layers.findIndex((layer) => file.startsWith(`${layer}/`));
    const files = [...(await sourceFiles('src')), ...(await sourceFiles('strategies'))];
    const unplaced = files.filter((f) => f !== SHARED_BY_ALL && layerOf(f) < 0);
    expect(unplaced, 'files in no layer of the table').to.deep.equal([]);

    const upward: string[] = [];
    for (const file of files) {
      for (const { from, to, typeOnly } of await importsOf(file)) {
        if (to === SHARED_BY_ALL || (typeOnly && to === TYPES_FOR_ALL)) continue;
        if (layerOf(to) < layerOf(from)) upward.push(`${from} imports ${to}${typeOnly ? ' (types)' : ''}`);
      }
    }
    expect(upward, 'imports that go up the table').to.deep.equal([]);
  });
});
