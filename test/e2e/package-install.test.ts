import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { createNodeUnderTest, readCatalogRecord } from '../support/e2e-nodes.js';
import { repoRoot } from '../support/repo-paths.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

/** What `npm pack --json` says about the tarball it wrote. */
interface PackReport {
  filename: string;
  size: number;
  entryCount: number;
  files: { path: string }[];
}

/** Not copied into the packing tree: it gets a link to node_modules, and git has no part in packing. */
const NOT_COPIED = new Set(['node_modules', '.git']);
/** A compiled strategy whose source is gone, left in dist/ by an older build. */
const STALE_STRATEGY = 'retired-strategy.js';
/** Where every file of the tarball must be. */
const SHIPPED = [/^dist\/src\/.+\.js$/, /^dist\/strategies\/[^/]+\.js$/, /^config\/guest-agent\.yaml$/, /^packaging\//, /^docs\/[^/]+\.md$/, /^(README\.md|LICENSE|package\.json)$/];

/**
 * The package as an operator gets it: `npm pack` in a developer's tree (a
 * copy of this one, with `npm run build`'s tests and benchmarks in dist/ and
 * a file an older build left there), `npm install -g` of the tarball into a
 * prefix of its own, then the installed commands, run as a user runs them.
 */
describe('the packed tarball, installed with npm install -g', function () {
  this.timeout(300_000);
  let base: string;
  let prefix: string;
  let pack: PackReport;
  /**
   * For npm and the installed commands: node on PATH, no configuration from the test's own environment,
   * and not the package root that `npm test` exports (npm_config_local_prefix names this tree, not the copy).
   */
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    GUEST_AGENT_CONFIG: undefined,
    DBAAS_CONFIG: undefined,
    npm_config_local_prefix: undefined,
  });
  const installed = (command: string): string => path.join(prefix, 'bin', command);
  const packageDir = (): string => path.join(prefix, 'lib', 'node_modules', 'cassandra-guest-agent');

  before(async () => {
    base = await makeTempDir('package');
    const tree = path.join(base, 'tree');
    await cp(repoRoot(), tree, { recursive: true, filter: (source) => path.dirname(source) !== repoRoot() || !NOT_COPIED.has(path.basename(source)) });
    await symlink(path.join(repoRoot(), 'node_modules'), path.join(tree, 'node_modules'), 'dir');
    // The registry would load it with the real strategies, and every backup would fail.
    await writeFile(path.join(tree, 'dist/strategies', STALE_STRATEGY), "throw new Error('a strategy an older build left behind');\n");
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', base], { cwd: tree, env: env(), reject: false, timeout: 240_000 });
    expect(packed.exitCode, `npm pack failed:\n${packed.stderr}`).to.equal(0);
    pack = (JSON.parse(packed.stdout) as PackReport[])[0]!;
    prefix = path.join(base, 'prefix');
    const install = await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(base, pack.filename)], {
      env: env(),
      reject: false,
      timeout: 240_000,
    });
    expect(install.exitCode, `npm install -g failed:\n${install.stderr}`).to.equal(0);
  });

  after(async () => {
    await stopAllSimNodes();
    await removeDir(base);
  });

  it('holds only what runs: the compiled product, the example configuration, the unit file and the docs', async () => {
    const paths = pack.files.map((f) => f.path).sort();
    expect(paths.filter((p) => !SHIPPED.some((pattern) => pattern.test(p))), 'files outside what the package ships').to.deep.equal([]);
    const strategies = (await readdir(path.join(repoRoot(), 'strategies'))).filter((f) => f.endsWith('.ts')).map((f) => `dist/strategies/${f.replace(/\.ts$/, '.js')}`);
    expect(paths.filter((p) => p.startsWith('dist/strategies/')), 'the strategies folder, whole and alone').to.deep.equal(strategies.sort());
    expect(paths).to.include.members([
      'dist/src/cli/guest-agent.js',
      'dist/src/cli/dbaas.js',
      'config/guest-agent.yaml',
      'packaging/cassandra-guest-agent.service',
      'docs/operations.md',
      'README.md',
      'package.json',
    ]);
    expect(await readdir(path.join(packageDir(), 'dist'))).to.have.members(['src', 'strategies']);
  });

  it('installs guest-agent and dbaas commands that print their usage', async () => {
    const agent = await execa(installed('guest-agent'), ['--help'], { env: env(), reject: false, timeout: 60_000 });
    expect(agent.exitCode, agent.stderr).to.equal(0);
    expect(agent.stdout).to.match(/^Usage: guest-agent <command>/);
    expect(agent.stdout).to.include('backup');
    const dbaas = await execa(installed('dbaas'), ['--help'], { env: env(), reject: false, timeout: 60_000 });
    expect(dbaas.exitCode, dbaas.stderr).to.equal(0);
    expect(dbaas.stdout).to.match(/^Usage: dbaas <command>/);
    expect(dbaas.stdout).to.include('backup-list');
  });

  it('takes a local backup of a node with the installed guest-agent, recorded in the catalog', async () => {
    const storePath = path.join(base, 'store');
    const node = await createNodeUnderTest(path.join(base, 'node'), { storePath }, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 2, bytes: 100_000 }], seed: 7 });
    await node.sim!.start();
    const run = await execa(installed('guest-agent'), ['backup', '--config', node.configFile, '--backup-id', 'installed-1', '--json'], { env: env(), reject: false, stdin: 'ignore', timeout: 120_000 });
    expect(run.exitCode, run.stderr).to.equal(0);
    const summary = JSON.parse(run.stdout) as { ok: boolean; command: string; backup: BackupRecord };
    expect(summary).to.include({ ok: true, command: 'backup' });
    expect(summary.backup).to.include({ id: 'installed-1', state: 'COMPLETED', type: 'full', strategy: 'NodetoolSnapshot' });

    const record = await readCatalogRecord(node.configFile, 'installed-1');
    expect(record).to.include({ state: 'COMPLETED', sha256: summary.backup.sha256, stored_bytes: summary.backup.stored_bytes });
    const stored = await readFile(new URL(record.location).pathname);
    expect(stored.length).to.equal(record.stored_bytes);
    expect(createHash('sha256').update(stored).digest('hex')).to.equal(record.sha256);
    expect(record.file_count).to.be.greaterThan(0);
  });

  it('ships a unit file that systemd-analyze verify accepts, pointed at the installed command', async function () {
    const analyze = await execa('systemd-analyze', ['--version'], { reject: false });
    if (analyze.exitCode !== 0) this.skip();
    const unit = await readFile(path.join(packageDir(), 'packaging/cassandra-guest-agent.service'), 'utf8');
    expect(unit).to.match(/^ExecStart=\/usr\/bin\/guest-agent serve --log-format json$/m);
    // The same unit where this test installed the command: verify checks that ExecStart can run.
    const here = path.join(base, 'unit', 'cassandra-guest-agent.service');
    await mkdir(path.dirname(here));
    await writeFile(here, unit.replace(/^ExecStart=\/usr\/bin\/guest-agent /m, `ExecStart=${installed('guest-agent')} `));
    const verify = await execa('systemd-analyze', ['verify', here], { reject: false, timeout: 60_000 });
    // verify exits 0 even for unknown keys and bad values: any line it prints is a problem.
    expect({ exitCode: verify.exitCode, output: `${verify.stdout}${verify.stderr}` }).to.deep.equal({ exitCode: 0, output: '' });
  });
});
