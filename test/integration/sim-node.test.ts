import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { expect } from 'chai';
import { execa } from 'execa';
import yaml from 'js-yaml';
import { createSimNode, openSimNode, stopAllSimNodes, type NodetoolResult, type SimNode } from '../support/sim-node/index.js';
import { stringifyFileSize } from '../support/sim-node/file-size.js';
import { JavaHashMap } from '../support/sim-node/java-hash-map.js';
import { cassandraFactsDir } from '../support/repo-paths.js';

const fact = (name: string): string => readFileSync(path.join(cassandraFactsDir(), name), 'utf8');
const captured = (name: string): NodetoolResult => ({
  stdout: fact(`nt_${name}.stdout`),
  stderr: fact(`nt_${name}.stderr`),
  exitCode: Number(fact(`nt_${name}.rc`).trim()),
});

/** The simulated start-up time of the test nodes (the default is 150 ms; a real node takes 5-45 s). */
const FAST_START = 20;
const SYSTEM_KEYSPACES = ['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces'];
const COMPONENTS = ['CompressionInfo.db', 'Data.db', 'Digest.crc32', 'Filter.db', 'Index.db', 'Statistics.db', 'Summary.db', 'TOC.txt'];

/** `<keyspace>/<table dir>` of every table directory in a data directory. */
async function tableDirs(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const keyspace of await readdir(dataDir)) {
    for (const table of await readdir(path.join(dataDir, keyspace))) out.push(`${keyspace}/${table}`);
  }
  return out.sort();
}

async function tableDir(node: SimNode, keyspace: string, table: string, dataDirIndex = 0): Promise<string> {
  const dataDir = node.dataDirs[dataDirIndex] as string;
  const name = (await readdir(path.join(dataDir, keyspace))).find((d) => d.startsWith(`${table}-`));
  if (!name) throw new Error(`no directory for ${keyspace}.${table} in ${dataDir}`);
  return path.join(dataDir, keyspace, name);
}

/** Generations of the live SSTables in a table directory. */
async function generations(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((n) => /^na-(\d+)-big-Data\.db$/.exec(n)?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * How a reflective call shows in a Java stack trace depends on how warmed up the JVM is (after 15
 * calls it is a generated accessor instead of the native one), so it differs between runs of a real
 * node too; every other byte of the output is compared.
 */
function accessorAgnostic(text: string): string {
  return text.replace(
    /\tat java\.base\/jdk\.internal\.reflect\.NativeMethodAccessorImpl\.invoke0\(Native Method\)\n\tat java\.base\/jdk\.internal\.reflect\.NativeMethodAccessorImpl\.invoke\(NativeMethodAccessorImpl\.java:77\)\n|\tat (?:java\.base\/)?jdk\.internal\.reflect\.GeneratedMethodAccessor\d+\.invoke\(Unknown Source\)\n/g,
    '\tat <reflective accessor>\n',
  );
}

function expectSameResult(actual: NodetoolResult, expected: NodetoolResult): void {
  expect(actual.stdout, 'stdout').to.equal(expected.stdout);
  expect(accessorAgnostic(actual.stderr), 'stderr').to.equal(accessorAgnostic(expected.stderr));
  expect(actual.exitCode, 'exit code').to.equal(expected.exitCode);
}

async function service(node: SimNode, command: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [file, ...args] = command as [string, ...string[]];
  const result = await execa(file, args, { reject: false, timeout: 60_000 });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

async function setClusterNameInYaml(node: SimNode, name: string): Promise<void> {
  const text = await readFile(node.cassandraYaml, 'utf8');
  await writeFile(node.cassandraYaml, text.replace(/^cluster_name: .*$/m, `cluster_name: '${name}'`));
}

describe('simulated Cassandra 4.0 node', function () {
  this.timeout(60_000);
  let base: string;

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'sim-node-'));
    // Traversable by the unprivileged user the ownership test runs a daemon as.
    await chmod(base, 0o755);
  });

  after(async () => {
    await stopAllSimNodes();
    await rm(base, { recursive: true, force: true });
  });

  describe('formatting shared with nodetool', () => {
    it('prints sizes like FileUtils.stringifyFileSize, rounding half to even', () => {
      expect(stringifyFileSize(13)).to.equal('13 bytes');
      expect(stringifyFileSize(16263)).to.equal('15.88 KiB');
      expect(stringifyFileSize(7578)).to.equal('7.4 KiB');
      expect(stringifyFileSize(1152)).to.equal('1.12 KiB');
      expect(stringifyFileSize(1161)).to.equal('1.13 KiB');
      expect(stringifyFileSize(3 * 1024 ** 3)).to.equal('3 GiB');
    });

    it('orders snapshot names the way the server HashMap iterates them', () => {
      const order = (inserted: string[]): string[] => {
        const map = new JavaHashMap<true>();
        for (const name of inserted) map.set(name, true);
        return map.entries().map(([name]) => name);
      };
      const firstSeen = (listing: string): string[] => [
        ...new Set(
          listing
            .split('\n')
            .slice(2)
            .map((l) => l.split(' ')[0] as string)
            .filter((n) => n !== '' && n !== 'Total'),
        ),
      ];
      // Inserted as the server meets them: system tables (with their truncated-* snapshots) before shop.
      expect(order(['bk1', 'truncated-1795284382164-size_estimates', 'truncated-1795284382382-table_estimates', 'bk2', 'bk3', 'bk4'])).to.deep.equal(firstSeen(captured('listsnapshots').stdout));
      expect(order(['truncated-1795284614103-size_estimates', 'truncated-1795284614221-table_estimates', 'e1'])).to.deep.equal(firstSeen(captured('listsnapshots_e1').stdout));
    });
  });

  describe('a generated data directory', () => {
    let node: SimNode;

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'layout'), seed: 11, startupDelayMs: FAST_START });
    });

    it('has the 40 system tables with the directory names and ids of a real node, each with an empty backups/', async () => {
      const real = fact('01_tree_final.txt')
        .split('\n')
        .map((line) => /^d \S+ +\d+ +\d+ data\/data\/([^/]+\/[^/]+)$/.exec(line)?.[1])
        .filter((d): d is string => d !== undefined && SYSTEM_KEYSPACES.includes(d.split('/')[0] as string))
        .sort();
      expect(real).to.have.length(40);
      const dataDir = node.dataDirs[0] as string;
      const ours = (await tableDirs(dataDir)).filter((d) => SYSTEM_KEYSPACES.includes(d.split('/')[0] as string));
      expect(ours).to.deep.equal(real);
      for (const dir of ours) expect(await readdir(path.join(dataDir, dir, 'backups')), `${dir}/backups`).to.deep.equal([]);
    });

    it('names user table directories <table>-<time-based UUID without dashes>', async () => {
      const user = (await tableDirs(node.dataDirs[0] as string)).filter((d) => !SYSTEM_KEYSPACES.includes(d.split('/')[0] as string));
      expect(user.map((d) => d.replace(/-[0-9a-f]{32}$/, ''))).to.deep.equal(['metrics/events', 'shop/customers', 'shop/orders']);
      for (const dir of user) expect(dir, 'version nibble of a v1 UUID').to.match(/-[0-9a-f]{12}1[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    });

    it('writes SSTables as the eight na-<gen>-big components with a TOC and a real CRC32 digest', async () => {
      const dir = await tableDir(node, 'shop', 'orders');
      expect(await generations(dir)).to.deep.equal([1, 2, 3]);
      const files = (await readdir(dir)).filter((f) => f.startsWith('na-1-big-')).sort();
      expect(files).to.deep.equal(COMPONENTS.map((c) => `na-1-big-${c}`));
      const toc = await readFile(path.join(dir, 'na-1-big-TOC.txt'), 'utf8');
      expect(toc.endsWith('\n')).to.equal(true);
      expect(toc.trimEnd().split('\n').sort()).to.deep.equal([...COMPONENTS].sort());
      const data = await readFile(path.join(dir, 'na-1-big-Data.db'));
      expect(await readFile(path.join(dir, 'na-1-big-Digest.crc32'), 'utf8')).to.equal(String(crc32(data)));
      const sizes = await Promise.all(['Index.db', 'Statistics.db', 'Summary.db'].map(async (c) => (await stat(path.join(dir, `na-1-big-${c}`))).size));
      expect(sizes[0]).to.be.within(data.length / 5, data.length);
      expect(sizes[1]).to.be.within(4000, 8000);
    });

    it('writes mostly incompressible Data.db contents, the same for the same seed', async () => {
      const again = await createSimNode({ root: path.join(base, 'layout-again'), seed: 11, startupDelayMs: FAST_START });
      const other = await createSimNode({ root: path.join(base, 'layout-other'), seed: 12, startupDelayMs: FAST_START });
      const dataOf = async (n: SimNode): Promise<Buffer> => readFile(path.join(await tableDir(n, 'shop', 'orders'), 'na-2-big-Data.db'));
      const mine = await dataOf(node);
      expect((await dataOf(again)).equals(mine)).to.equal(true);
      expect((await dataOf(other)).equals(mine)).to.equal(false);
      const { gzipSync } = await import('node:zlib');
      const ratio = gzipSync(mine).length / mine.length;
      expect(ratio).to.be.within(0.85, 1.01);
    });

    it('writes cassandra.yaml with the keys and values of the captured node', async () => {
      const text = await readFile(node.cassandraYaml, 'utf8');
      for (const line of fact('01_yaml_keys.txt').split('\n')) {
        const m = /^\d+:((?:cluster_name|num_tokens|authenticator|authorizer|role_manager|partitioner|listen_address|rpc_address|incremental_backups|auto_snapshot|endpoint_snitch|roles_validity_in_ms|permissions_validity_in_ms|credentials_validity_in_ms|commitlog_sync|commitlog_sync_period_in_ms): .*)$/.exec(line);
        if (m) expect(text, m[1]).to.include(`\n${m[1]}\n`);
      }
      const doc = yaml.load(text) as Record<string, unknown>;
      // A port of its own instead of the captured 9042: several simulated nodes share this host.
      expect(doc['native_transport_port']).to.equal(node.nativeTransportPort);
      expect(doc['data_file_directories']).to.deep.equal(node.dataDirs);
      expect(doc['commitlog_directory']).to.equal(path.join(node.root, 'data/commitlog'));
      expect(doc['saved_caches_directory']).to.equal(path.join(node.root, 'data/saved_caches'));
      expect(doc['hints_directory']).to.equal(path.join(node.root, 'data/hints'));
    });

    it('leaves one empty 32 MiB commit log segment, like a drained and stopped node', async () => {
      const files = await readdir(node.commitlogDir);
      expect(files).to.have.length(1);
      expect(files[0]).to.match(/^CommitLog-7-\d+\.log$/);
      expect((await stat(path.join(node.commitlogDir, files[0] as string))).size).to.equal(32 * 1024 * 1024);
    });

    it('can be opened again from its root', async () => {
      const reopened = await openSimNode(node.root);
      expect(reopened.dataDirs).to.deep.equal(node.dataDirs);
      expect(reopened.nodetoolCommand).to.deep.equal(node.nodetoolCommand);
    });
  });

  describe('nodetool on a node that is down', () => {
    let node: SimNode;

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'down'), seed: 5, startupDelayMs: FAST_START });
    });

    it('fails every command with the connection error, exit code 1', async () => {
      expectSameResult(await node.nodetool(['status']), captured('down_status'));
      expectSameResult(await node.nodetool(['flush']), captured('down_flush'));
      expectSameResult(await node.nodetool(['snapshot', '-t', 'x']), captured('down_snapshot'));
      expectSameResult(await node.nodetool(['version']), captured('down_version'));
    });

    it('still prints help', async () => {
      expectSameResult(await node.nodetool(['help', 'snapshot']), captured('down_help_snapshot'));
    });

    it('reports argument errors before connecting', async () => {
      expectSameResult(await node.nodetool(['foo']), captured('unknown_cmd'));
    });

    it('refuses writes', async () => {
      let error: Error | undefined;
      await node.write('shop', 'orders', 10).catch((err: Error) => (error = err));
      expect(error?.message).to.match(/not running/);
    });
  });

  describe('nodetool on a running node', () => {
    let node: SimNode;

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'running'), seed: 3, startupDelayMs: FAST_START });
      await node.start();
    });

    it('prints version, unknown-command and help texts byte for byte', async () => {
      expectSameResult(await node.nodetool(['version']), captured('version'));
      expectSameResult(await node.nodetool(['foo']), captured('unknown_cmd'));
      for (const command of ['snapshot', 'clearsnapshot', 'flush', 'listsnapshots']) {
        expectSameResult(await node.nodetool(['help', command]), captured(`help_${command}`));
      }
    });

    it('accepts the global connection options and never echoes the password', async () => {
      const result = await node.nodetool(['-h', '127.0.0.1', '-p', '7199', '-u', 'cassandra', '-pw', 'sekrit-pw', 'version']);
      expectSameResult(result, captured('version'));
      const other = await node.nodetool(['-p', '7198', '-pw', 'sekrit-pw', 'status']);
      expect(other.exitCode).to.equal(1);
      expect(other.stderr).to.equal("nodetool: Failed to connect to '127.0.0.1:7198' - ConnectException: 'Connection refused'.\n");
      expect(other.stdout + other.stderr).not.to.include('sekrit-pw');
    });

    it('prints status in the captured layout with this node’s host id, tokens and load', async () => {
      const result = await node.nodetool(['status']);
      const expected = captured('status').stdout.split('\n');
      const lines = result.stdout.split('\n');
      expect(result.exitCode).to.equal(0);
      expect(lines.slice(0, 4)).to.deep.equal(expected.slice(0, 4));
      expect(lines).to.have.length(expected.length);
      expect(lines[4]).to.match(/^-- {2}Address {4}Load +Tokens {2}Owns \(effective\) {2}Host ID {31}Rack $/);
      expect(lines[5]).to.match(/^UN {2}127\.0\.0\.1 {2}\d+(\.\d+)? KiB {2}16 {6}100\.0% {12}[0-9a-f-]{36} {2}rack1$/);
      expect((lines[4] as string).indexOf('Tokens')).to.equal((lines[5] as string).indexOf('16 '));
    });

    it('prints info, ring and describecluster in the captured layouts', async () => {
      const info = await node.nodetool(['info']);
      const labels = (text: string): string[] => text.split('\n').map((l) => l.split(':')[0] as string);
      expect(labels(info.stdout)).to.deep.equal(labels(captured('info').stdout));
      expect(info.stdout).to.match(/^Gossip active {10}: true$/m);
      const hostId = /^ID +: (\S+)$/m.exec(info.stdout)?.[1];

      const ring = await node.nodetool(['ring']);
      const expectedRing = captured('ring').stdout;
      expect(ring.stdout.split('\n')).to.have.length(expectedRing.split('\n').length);
      expect(ring.stdout.slice(0, 60)).to.equal(expectedRing.slice(0, 60));
      expect(ring.stdout.slice(ring.stdout.indexOf('\n  Warning'))).to.equal(expectedRing.slice(expectedRing.indexOf('\n  Warning')));
      const rows = ring.stdout.split('\n').filter((l) => l.startsWith('127.0.0.1'));
      expect(rows).to.have.length(16);
      for (const row of rows) expect(row).to.match(/^127\.0\.0\.1 {7}rack1 {7}Up {5}Normal {2}\S+ KiB +100\.00% {13}-?\d+ +$/);
      const tokens = rows.map((r) => BigInt((r.trim().split(/ +/).pop() as string)));
      expect(tokens).to.deep.equal([...tokens].sort((a, b) => (a < b ? -1 : 1)));

      const cluster = await node.nodetool(['describecluster']);
      const shape = (text: string): string =>
        text
          .replace(/\t\t[0-9a-f-]{36}: /, '\t\t<version>: ')
          .replace(/\tName: .*/, '\tName: <name>')
          // Each simulated node listens on a storage port of its own (the captured node: 7000).
          .replace(/\[127\.0\.0\.1:\d+\]/, '[127.0.0.1:7000]')
          .split('\nKeyspaces:\n')[0] as string;
      expect(shape(cluster.stdout)).to.equal(shape(captured('describecluster').stdout));
      expect(cluster.stdout).to.include('\tName: Test Cluster\n');
      expect(cluster.stdout).to.include('\tshop -> Replication class: SimpleStrategy {replication_factor=1}\n');
      expect(cluster.stdout).to.include('\tsystem_schema -> Replication class: LocalStrategy {}\n');
      const status = await node.nodetool(['status']);
      expect(status.stdout).to.include(hostId as string);
    });

    it('snapshots every table of every keyspace as hard links plus manifest.json and schema.cql', async () => {
      expectSameResult(await node.nodetool(['snapshot', '-t', 'bk1']), captured('snapshot_bk1'));
      const dataDir = node.dataDirs[0] as string;
      for (const dir of await tableDirs(dataDir)) {
        const snapshot = path.join(dataDir, dir, 'snapshots', 'bk1');
        const live = await generations(path.join(dataDir, dir));
        const files = (await readdir(snapshot)).sort();
        const isSystem = SYSTEM_KEYSPACES.includes(dir.split('/')[0] as string);
        const expectedFiles = [...live.flatMap((g) => COMPONENTS.map((c) => `na-${g}-big-${c}`)), 'manifest.json', ...(isSystem ? [] : ['schema.cql'])].sort();
        expect(files, dir).to.deep.equal(expectedFiles);
        const manifest = await readFile(path.join(snapshot, 'manifest.json'), 'utf8');
        expect(manifest.endsWith('\n') && manifest.split('\n').length === 2, `${dir} manifest is one line`).to.equal(true);
        expect((JSON.parse(manifest) as { files: string[] }).files.sort()).to.deep.equal(live.map((g) => `na-${g}-big-Data.db`).sort());
        expect((await stat(path.join(snapshot, 'manifest.json'))).nlink).to.equal(1);
        for (const g of live) {
          for (const c of COMPONENTS) {
            const linked = await stat(path.join(snapshot, `na-${g}-big-${c}`));
            const original = await stat(path.join(dataDir, dir, `na-${g}-big-${c}`));
            expect(linked.ino, `${dir} na-${g}-big-${c} is a hard link`).to.equal(original.ino);
            expect(linked.nlink).to.be.at.least(2);
          }
        }
      }
      expect(await readFile(path.join(await tableDir(node, 'system', 'IndexInfo'), 'snapshots/bk1/manifest.json'), 'utf8')).to.equal('{"files":[]}\n');
      const orders = await tableDir(node, 'shop', 'orders');
      const schema = await readFile(path.join(orders, 'snapshots/bk1/schema.cql'), 'utf8');
      const id = path.basename(orders).slice('orders-'.length);
      const dashed = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
      expect(schema).to.match(/^CREATE TABLE IF NOT EXISTS shop\.orders \(\n {4}order_id int PRIMARY KEY,\n/);
      expect(schema).to.include(`) WITH ID = ${dashed}\n    AND additional_write_policy = '99p'\n`);
      // With the captured node's table id this is exactly the 936 bytes of its schema.cql.
      expect(Buffer.byteLength(schema)).to.equal(936);
    });

    it('refuses a tag that already exists, after printing the request line', async () => {
      const result = await node.nodetool(['snapshot', '-t', 'bk1']);
      // Early in the node's life, like on the captured node: even the reflective frames are identical.
      expect(result).to.deep.equal(captured('snapshot_bk1_again'));
    });

    it('snapshots listed keyspaces, single tables, and without flushing with -sf', async () => {
      expectSameResult(await node.nodetool(['snapshot', '-t', 'bk2', 'shop']), captured('snapshot_bk2_shop'));
      expect(existsSync(path.join(await tableDir(node, 'shop', 'customers'), 'snapshots/bk2'))).to.equal(true);
      expect(existsSync(path.join(await tableDir(node, 'metrics', 'events'), 'snapshots/bk2'))).to.equal(false);
      expect(existsSync(path.join(await tableDir(node, 'system', 'local'), 'snapshots/bk2'))).to.equal(false);

      expectSameResult(await node.nodetool(['snapshot', '-kt', 'shop.orders', '-t', 'bk3']), captured('snapshot_bk3_kt'));
      expect(existsSync(path.join(await tableDir(node, 'shop', 'orders'), 'snapshots/bk3'))).to.equal(true);
      expect(existsSync(path.join(await tableDir(node, 'shop', 'customers'), 'snapshots/bk3'))).to.equal(false);

      const customers = await tableDir(node, 'shop', 'customers');
      const before = await generations(customers);
      await node.write('shop', 'customers', 5000);
      expectSameResult(await node.nodetool(['snapshot', '-sf', '-t', 'bk4', 'shop']), captured('snapshot_bk4_skipflush'));
      expect(await generations(customers), 'no flush with -sf').to.deep.equal(before);
      expectSameResult(await node.nodetool(['snapshot', '-t', 'bk5', '-cf', 'orders', 'shop']), captured('snapshot_cf'));
      expect(await generations(customers), 'a -cf snapshot flushes only its table').to.deep.equal(before);
      await node.nodetool(['flush', 'shop', 'customers']);
      expect(await generations(customers)).to.have.length(before.length + 1);
    });

    it('names a snapshot after the epoch milliseconds when no tag is given', async () => {
      const started = Date.now();
      const result = await node.nodetool(['snapshot', 'shop']);
      const tag = /snapshot name \[(\d+)\]/.exec(result.stdout)?.[1];
      expect(Number(tag)).to.be.within(started, Date.now());
      expect(result.stdout).to.equal(`Requested creating snapshot(s) for [shop] with snapshot name [${tag}] and options {skipFlush=false}\nSnapshot directory: ${tag}\n`);
      await node.nodetool(['clearsnapshot', '-t', tag as string]);
    });

    it('reports unknown keyspaces and tables with the captured messages and exit codes', async () => {
      expectSameResult(await node.nodetool(['snapshot', '-t', 'x1', 'nosuchks']), captured('snapshot_nosuchks'));
      expectSameResult(await node.nodetool(['snapshot', '-kt', 'shop.nosuch', '-t', 'x2']), captured('snapshot_kt_nosuchtable'));
      expectSameResult(await node.nodetool(['snapshot', '-kt', 'shop.orders', '-t', 'x3', 'shop']), captured('snapshot_kt_and_ks'));
      expectSameResult(await node.nodetool(['flush', 'nosuchks']), captured('flush_nosuchks'));
      expectSameResult(await node.nodetool(['flush', 'shop', 'nosuchtable']), captured('flush_nosuchtable'));
    });

    it('lists snapshots with true size, size on disk and the total outside the local system keyspaces', async () => {
      const result = await node.nodetool(['listsnapshots']);
      const lines = result.stdout.split('\n');
      expect(lines[0]).to.equal('Snapshot Details: ');
      expect(lines[1]).to.match(/^Snapshot name +Keyspace name +Column family name +True size +Size on disk$/);
      const tableLines = lines.slice(1, lines.indexOf(''));
      for (const line of tableLines) expect(line.length, line).to.equal((lines[1] as string).length);
      expect(lines.slice(lines.indexOf(''))).to.deep.equal(['', `Total TrueDiskSpaceUsed: ${/Total TrueDiskSpaceUsed: (.*)/.exec(result.stdout)?.[1]}`, '', '']);

      const orders = await tableDir(node, 'shop', 'orders');
      const files = await readdir(path.join(orders, 'snapshots/bk2'));
      let sstableBytes = 0;
      let allBytes = 0;
      for (const f of files) {
        const size = (await stat(path.join(orders, 'snapshots/bk2', f))).size;
        allBytes += size;
        if (f.startsWith('na-')) sstableBytes += size;
      }
      const row = tableLines.find((l) => /^bk2 +shop +orders /.test(l));
      expect(row?.trim().split(/ {1,}/).slice(3).join(' ')).to.equal(`${stringifyFileSize(sstableBytes)} ${stringifyFileSize(allBytes)}`);
      expect(tableLines.filter((l) => l.startsWith('bk1 ')).map((l) => l.split(/ +/)[1])).to.include.members(SYSTEM_KEYSPACES);
      expect(tableLines.some((l) => /^truncated-\d+-size_estimates +system +size_estimates /.test(l))).to.equal(true);
    });

    it('clears snapshots by tag, by keyspace, or all of them', async () => {
      expectSameResult(await node.nodetool(['clearsnapshot']), captured('clearsnapshot_notag'));
      expectSameResult(await node.nodetool(['clearsnapshot', '--all', '-t', 'bk1']), captured('clearsnapshot_all_and_tag'));
      expectSameResult(await node.nodetool(['clearsnapshot', '-t', 'nosuchtag']), captured('clearsnapshot_t_nonexistent'));
      const orders = await tableDir(node, 'shop', 'orders');
      expectSameResult(await node.nodetool(['clearsnapshot', '-t', 'bk2', 'shop']), captured('clearsnapshot_t_bk2_shop'));
      expect(existsSync(path.join(orders, 'snapshots/bk2'))).to.equal(false);
      expect(existsSync(path.join(orders, 'snapshots/bk1'))).to.equal(true);
      expectSameResult(await node.nodetool(['clearsnapshot', '-t', 'bk1']), captured('clearsnapshot_t_bk1'));
      expect(existsSync(path.join(await tableDir(node, 'system', 'local'), 'snapshots/bk1'))).to.equal(false);
      expect(existsSync(path.join(orders, 'snapshots')), 'snapshots/ stays after clearing a tag').to.equal(true);
      expectSameResult(await node.nodetool(['clearsnapshot', '--all']), captured('clearsnapshot_all'));
      expect(existsSync(path.join(await tableDir(node, 'system', 'size_estimates'), 'snapshots')), '--all also removes truncated-*').to.equal(false);
      expectSameResult(await node.nodetool(['listsnapshots']), captured('listsnapshots_empty'));
    });

    it('links each newly flushed SSTable into backups/ while incremental backups are on, and never compaction output', async () => {
      const orders = await tableDir(node, 'shop', 'orders');
      expectSameResult(await node.nodetool(['statusbackup']), captured('statusbackup_off'));
      expectSameResult(await node.nodetool(['enablebackup']), captured('enablebackup'));
      expectSameResult(await node.nodetool(['statusbackup']), captured('statusbackup_on'));
      const before = await generations(orders);
      await node.write('shop', 'orders', 20_000);
      expectSameResult(await node.nodetool(['flush', 'shop', 'orders']), captured('flush_shop_orders'));
      const flushed = (await generations(orders)).filter((g) => !before.includes(g));
      expect(flushed).to.have.length(1);
      const backups = (await readdir(path.join(orders, 'backups'))).sort();
      expect(backups).to.deep.equal(COMPONENTS.map((c) => `na-${flushed[0]}-big-${c}`).sort());
      expect((await stat(path.join(orders, 'backups', `na-${flushed[0]}-big-Data.db`))).ino).to.equal((await stat(path.join(orders, `na-${flushed[0]}-big-Data.db`))).ino);

      expectSameResult(await node.nodetool(['compact', 'shop', 'orders']), captured('compact_shop_orders'));
      const compacted = await generations(orders);
      expect(compacted).to.have.length(1);
      expect(compacted[0]).to.be.greaterThan(flushed[0] as number);
      expect((await readdir(path.join(orders, 'backups'))).sort(), 'compaction output is not backed up').to.deep.equal(backups);
      expect((await stat(path.join(orders, 'backups', `na-${flushed[0]}-big-Data.db`))).nlink, 'live file gone, backup stays').to.equal(1);

      expectSameResult(await node.nodetool(['disablebackup']), captured('disablebackup'));
      await node.write('shop', 'orders', 1000);
      await node.nodetool(['flush', 'shop', 'orders']);
      expect((await readdir(path.join(orders, 'backups'))).sort()).to.deep.equal(backups);
    });

    it('after drain, fails flush and snapshot with the captured errors but still reports the node up', async () => {
      expectSameResult(await node.nodetool(['drain']), captured('drain'));
      expectSameResult(await node.nodetool(['flush']), captured('flush_after_drain'));
      expectSameResult(await node.nodetool(['snapshot', '-t', 'afterdrain', 'shop']), captured('snapshot_after_drain'));
      expect((await node.nodetool(['status'])).stdout).to.match(/^UN {2}127\.0\.0\.1 /m);
      const info = await node.nodetool(['info']);
      expect(info.stdout).to.include('Gossip active          : false\nNative Transport active: false\n');
      expect(info.stdout).to.include('Generation No          : 0\n');
      expectSameResult(await node.nodetool(['drain']), captured('drain_again'));
      const commitlog = await readdir(node.commitlogDir);
      expect(commitlog, 'a drained node keeps one commit log segment').to.have.length(1);
    });
  });

  describe('service control and start-up', () => {
    describe('of a healthy node', () => {
      let node: SimNode;

      before(async () => {
        node = await createSimNode({ root: path.join(base, 'service'), seed: 21, startupDelayMs: FAST_START });
      });

      it('starts and stops idempotently with LSB status codes', async () => {
        expect((await service(node, node.serviceStatusCommand)).exitCode).to.equal(3);
        expect((await service(node, node.serviceStartCommand)).exitCode).to.equal(0);
        const log = await readFile(node.systemLog, 'utf8');
        expect(log).to.match(/^INFO {2}\[main\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} PipelineConfigurator\.java:125 - Starting listening for CQL clients on \/127\.0\.0\.1:(\d+) \(unencrypted\)\.\.\.$/m);
        expect(/CQL clients on \/127\.0\.0\.1:(\d+)/.exec(log)?.[1]).to.equal(String(node.nativeTransportPort));
        expect(log).to.match(/CassandraDaemon\.java:780 - Startup complete$/m);
        expect((await service(node, node.serviceStartCommand)).exitCode, 'start while running').to.equal(0);
        expect((await service(node, node.serviceStatusCommand)).exitCode).to.equal(0);
        expect(await node.isRunning()).to.equal(true);
        expect((await service(node, node.serviceStopCommand)).exitCode).to.equal(0);
        expect((await service(node, node.serviceStatusCommand)).exitCode).to.equal(3);
        expect((await service(node, node.serviceStopCommand)).exitCode, 'stop while stopped').to.equal(0);
        expectSameResult(await node.nodetool(['status']), captured('down_status'));
      });

      it('truncates the size estimates at every start, leaving truncated-<ms>-* snapshots', async () => {
        const estimates = await tableDir(node, 'system', 'size_estimates');
        const before = await readdir(path.join(estimates, 'snapshots'));
        const liveBefore = await generations(estimates);
        expect(liveBefore, 'estimates recorded while the node ran').to.have.length(1);
        await node.start();
        const added = (await readdir(path.join(estimates, 'snapshots'))).filter((s) => !before.includes(s));
        expect(added).to.have.length(1);
        expect(added[0]).to.match(/^truncated-\d{13}-size_estimates$/);
        const manifest = JSON.parse(await readFile(path.join(estimates, 'snapshots', added[0] as string, 'manifest.json'), 'utf8')) as { files: string[] };
        expect(manifest.files).to.deep.equal(liveBefore.map((g) => `na-${g}-big-Data.db`));
        expect(await generations(estimates), 'the truncated SSTable is gone').to.not.include(liveBefore[0]);
        await node.stop();
      });

      it('flushes pending writes when stopped and replays the commit log after a crash', async () => {
        const orders = await tableDir(node, 'shop', 'orders');
        await node.start();
        const initial = await generations(orders);
        await node.write('shop', 'orders', 30_000);
        await node.stop();
        const afterStop = await generations(orders);
        expect(afterStop).to.have.length(initial.length + 1);
        const newest = afterStop[afterStop.length - 1] as number;
        expect((await stat(path.join(orders, `na-${newest}-big-Data.db`))).size).to.equal(30_000);

        await node.start();
        await node.write('shop', 'orders', 40_000);
        await node.kill();
        expect(await generations(orders), 'nothing flushed by a crash').to.deep.equal(afterStop);
        const beforeRestart = await readFile(node.systemLog, 'utf8');
        await node.start();
        const log = (await readFile(node.systemLog, 'utf8')).slice(beforeRestart.length);
        expect(log).to.match(/CommitLog\.java:174 - Replaying .*CommitLog-7-\d+\.log/);
        expect(log).to.match(/Log replay complete, [1-9]\d* replayed mutations/);
        const replayed = (await generations(orders)).filter((g) => !afterStop.includes(g));
        expect(replayed).to.have.length(1);
        expect((await stat(path.join(orders, `na-${replayed[0]}-big-Data.db`))).size).to.equal(40_000);
        await node.stop();
      });
    });

    describe('and the cluster name', () => {
      let node: SimNode;

      before(async () => {
        node = await createSimNode({ root: path.join(base, 'cluster-name'), seed: 23, startupDelayMs: FAST_START });
      });

      it('refuses to start when cluster_name differs from the one saved in system.local (exit 100)', async () => {
        await setClusterNameInYaml(node, 'Other Cluster');
        const result = await service(node, node.serviceStartCommand);
        expect(result.exitCode).to.equal(Number(/rc=(\d+)/.exec(fact('04_cluster_name_mismatch_rc.txt'))?.[1]));
        const stripTimestamp = (line: string): string => line.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} /, '');
        const real = fact('04_cluster_name_mismatch.log').split('\n');
        const errorAt = real.findIndex((l) => l.startsWith('ERROR'));
        const stderr = result.stderr.split('\n');
        expect(stderr.slice(0, 9).map(stripTimestamp)).to.deep.equal(real.slice(errorAt, errorAt + 9).map(stripTimestamp));
        expect(await node.isRunning()).to.equal(false);
      });

      it('starts under a new name once system.local holds it (update, flush, edit cassandra.yaml, restart)', async () => {
        await setClusterNameInYaml(node, 'Test Cluster');
        await node.start();
        await node.updateSavedClusterName('x');
        expect((await node.nodetool(['describecluster'])).stdout, 'the running name stays').to.include('\tName: Test Cluster\n');
        await node.nodetool(['flush', 'system']);
        await node.nodetool(['drain']);
        await node.stop();
        await setClusterNameInYaml(node, 'x');
        await node.start();
        const renamed = await node.nodetool(['describecluster']);
        expect(renamed.stdout.split('\n')[1]).to.equal(captured('describecluster_renamed').stdout.split('\n')[1]);
        await node.stop();
      });
    });

    describe('with unusable directories', () => {
      let node: SimNode;

      before(async () => {
        node = await createSimNode({ root: path.join(base, 'readonly'), seed: 25, startupDelayMs: FAST_START });
      });

      it('refuses to start when a data directory is not writable (exit 3)', async () => {
        const dataDir = node.dataDirs[0] as string;
        await chmod(dataDir, 0o555);
        try {
          const result = await service(node, node.serviceStartCommand);
          expect(result.exitCode).to.equal(Number(/rc=(\d+)/.exec(fact('04_datadir_not_writable_rc.txt'))?.[1]));
          expect(result.stderr).to.match(new RegExp(`ERROR \\[main\\] .* Directories\\.java:124 - Doesn't have write permissions for ${dataDir} directory\n`));
          expect(result.stderr).to.match(new RegExp(`ERROR \\[main\\] .* CassandraDaemon\\.java:909 - Insufficient permissions on directory ${dataDir}$`, 'm'));
          expect(await node.isRunning()).to.equal(false);
        } finally {
          await chmod(dataDir, 0o755);
        }
      });

      it('exits 100 when the commit log directory is not writable', async () => {
        await chmod(node.commitlogDir, 0o555);
        try {
          const result = await service(node, node.serviceStartCommand);
          expect(result.exitCode).to.equal(Number(/rc=(\d+)/.exec(fact('04_commitlog_not_writable_rc.txt'))?.[1]));
          expect(result.stderr).to.include('Exiting due to error while processing commit log during initialization.');
          expect(await node.isRunning()).to.equal(false);
        } finally {
          await chmod(node.commitlogDir, 0o755);
        }
      });

      it('initialises a new node when started over an empty data directory', async () => {
        await writeFile(node.cassandraYaml, (await readFile(node.cassandraYaml, 'utf8')).replace(/^cluster_name: .*$/m, "cluster_name: 'Fresh Cluster'"));
        await rm(node.dataDirs[0] as string, { recursive: true });
        await rm(node.commitlogDir, { recursive: true });
        await node.start();
        const log = await readFile(node.systemLog, 'utf8');
        expect(log).to.match(/WARN {2}\[main\] .* SystemKeyspace\.java:1118 - No host ID found, created [0-9a-f-]{36} \(Note: This should happen exactly once per node\)\./);
        expect(log).to.include('No commitlog files found; skipping replay');
        expect((await node.nodetool(['describecluster'])).stdout).to.include('\tName: Fresh Cluster\n');
        expect((await node.nodetool(['info'])).stdout).to.match(/^ID +: [0-9a-f-]{36}$/m);
        const user = (await tableDirs(node.dataDirs[0] as string)).filter((d) => !SYSTEM_KEYSPACES.includes(d.split('/')[0] as string));
        expect(user, 'user tables are gone with the data directory').to.deep.equal([]);
        expect(await tableDirs(node.dataDirs[0] as string)).to.have.length(40);
        await node.stop();
      });
    });

    it('links flushed SSTables into backups/ from the start when cassandra.yaml enables incremental backups', async () => {
      const node = await createSimNode({ root: path.join(base, 'backups-yaml'), seed: 29, startupDelayMs: FAST_START, incrementalBackups: true });
      const orders = await tableDir(node, 'shop', 'orders');
      expect((await readdir(path.join(orders, 'backups'))).filter((f) => f.endsWith('-Data.db'))).to.have.length(3);
      await node.start();
      expectSameResult(await node.nodetool(['statusbackup']), captured('statusbackup_yaml_true'));
      const local = await tableDir(node, 'system', 'local');
      expect((await readdir(path.join(local, 'backups'))).length, 'system tables are backed up too').to.be.greaterThan(0);
      await node.stop();
    });
  });

  describe('several data directories', () => {
    let node: SimNode;

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'jbod'), seed: 31, startupDelayMs: FAST_START, dataDirCount: 3, tables: [{ keyspace: 'shop', table: 'orders', sstables: 6, bytes: 120_000 }] });
      await node.start();
    });

    it('lists every data directory in cassandra.yaml and spreads user SSTables over them', async () => {
      expect(node.dataDirs).to.deep.equal([1, 2, 3].map((i) => path.join(node.root, 'data', i === 1 ? 'data' : `data${i}`)));
      for (let i = 0; i < 3; i++) expect(await generations(await tableDir(node, 'shop', 'orders', i)), `data dir ${i}`).to.have.length(2);
    });

    it('keeps the local system tables in the first data directory only (except those split across disks)', async () => {
      const second = await tableDirs(node.dataDirs[1] as string);
      expect(second.filter((d) => d.startsWith('system/')).map((d) => d.split('-')[0])).to.deep.equal([
        'system/batches',
        'system/compaction_history',
        'system/paxos',
        'system/prepared_statements',
        'system/repairs',
      ]);
      expect(second.some((d) => d.startsWith('system_schema/'))).to.equal(false);
      expect(second.some((d) => d.startsWith('system_auth/roles-'))).to.equal(true);
    });

    it('links each SSTable beside itself and writes one manifest.json and schema.cql in one data directory', async () => {
      expect((await node.nodetool(['snapshot', '-t', 'multi', 'shop'])).exitCode).to.equal(0);
      const dirs = await Promise.all([0, 1, 2].map((i) => tableDir(node, 'shop', 'orders', i)));
      const manifests = dirs.filter((d) => existsSync(path.join(d, 'snapshots/multi/manifest.json')));
      expect(manifests).to.have.length(1);
      expect(existsSync(path.join(manifests[0] as string, 'snapshots/multi/schema.cql'))).to.equal(true);
      const listed = (JSON.parse(await readFile(path.join(manifests[0] as string, 'snapshots/multi/manifest.json'), 'utf8')) as { files: string[] }).files;
      const all: string[] = [];
      for (const dir of dirs) {
        const live = await generations(dir);
        all.push(...live.map((g) => `na-${g}-big-Data.db`));
        for (const g of live) {
          expect((await stat(path.join(dir, 'snapshots/multi', `na-${g}-big-Data.db`))).ino).to.equal((await stat(path.join(dir, `na-${g}-big-Data.db`))).ino);
        }
      }
      expect(listed.sort()).to.deep.equal(all.sort());
      const row = (await node.nodetool(['listsnapshots'])).stdout.split('\n').find((l) => l.startsWith('multi '));
      expect(row, 'sizes summed over the data directories').to.match(/^multi +shop +orders +\d+\.?\d* KiB +\d+\.?\d* KiB +$/);
    });
  });

  describe('ownership', () => {
    it('creates the tree owned by the given user and runs the daemon as that user', async function () {
      if (process.getuid?.() !== 0) this.skip();
      const owner = { uid: 65534, gid: 65534 };
      const node = await createSimNode({ root: path.join(base, 'owned'), seed: 41, startupDelayMs: FAST_START, owner });
      for (const file of [node.root, node.cassandraYaml, await tableDir(node, 'shop', 'orders'), path.join(await tableDir(node, 'shop', 'orders'), 'na-1-big-Data.db'), node.commitlogDir]) {
        const info = await stat(file);
        expect([info.uid, info.gid], file).to.deep.equal([owner.uid, owner.gid]);
      }
      await node.start();
      await node.write('shop', 'orders', 2000);
      await node.nodetool(['flush', 'shop', 'orders']);
      const orders = await tableDir(node, 'shop', 'orders');
      const newest = (await generations(orders)).pop();
      expect((await stat(path.join(orders, `na-${newest}-big-Data.db`))).uid, 'written by the daemon as the owner').to.equal(owner.uid);
      await node.stop();
    });
  });
});
