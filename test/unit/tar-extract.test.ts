import { lstat, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { extractArchive } from '../../src/archive/tar-extract.js';
import { ArchiveError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { tarOf, type TestEntry } from '../support/tar-builder.js';

describe('safe TAR extraction', () => {
  let dir: string;
  let target: string;
  beforeEach(async () => {
    dir = await makeTempDir('extract');
    target = path.join(dir, 'data.restore');
    await mkdir(target);
  });
  afterEach(() => removeDir(dir));

  const refused = async (entries: TestEntry[], declaredSize?: (name: string) => number | undefined): Promise<string> => {
    try {
      await extractArchive(tarOf(entries), { targets: [target], ...(declaredSize ? { declaredSize } : {}) });
    } catch (err) {
      expect(err).to.be.instanceOf(ArchiveError);
      return (err as Error).message;
    }
    expect.fail('the archive was extracted');
  };

  const outside = async (): Promise<string[]> => (await readdir(dir)).filter((n) => n !== 'data.restore');

  it('extracts <keyspace>/<table-dir>/<file> entries byte for byte', async () => {
    const result = await extractArchive(tarOf([
      { name: 'shop/orders-5b3c5a40e5d611f1a510f7efc34e21c0/na-1-big-Data.db', body: 'data bytes' },
      { name: 'shop/orders-5b3c5a40e5d611f1a510f7efc34e21c0/manifest.json', body: '{"files":["na-1-big-Data.db"]}' },
    ]), { targets: [target] });
    expect(result).to.deep.equal({ files: 2, bytes: 10 + 30 });
    const body = await readFile(path.join(target, 'shop/orders-5b3c5a40e5d611f1a510f7efc34e21c0/na-1-big-Data.db'), 'utf8');
    expect(body).to.equal('data bytes');
  });

  it("refuses a TAR entry that climbs out of the data directory with '..'", async () => {
    const message = await refused([{ name: 'shop/../../escaped', body: 'x' }]);
    expect(message).to.equal("refusing TAR entry 'shop/../../escaped': its name climbs out of the data directory with '..'");
    expect(await outside()).to.deep.equal([]);
  });

  it('refuses an absolute path', async () => {
    const message = await refused([{ name: `${dir}/abs/file`, body: 'x' }]);
    expect(message).to.match(/its name is an absolute path$/);
    expect(await outside()).to.deep.equal([]);
  });

  it('refuses a symbolic link, even one pointing inside', async () => {
    const message = await refused([{ name: 'shop/t-00000000000000000000000000000000/link', type: 'symlink', linkname: '/etc/passwd' }]);
    expect(message).to.match(/it is a symlink, and only plain files and directories are restored$/);
    expect(await readdir(target)).to.deep.equal([]);
  });

  it('refuses a hard link pointing out of the directory', async () => {
    const message = await refused([{ name: 'shop/t-00000000000000000000000000000000/hard', type: 'link', linkname: '../../../etc/shadow' }]);
    expect(message).to.match(/it is a link, and only plain files/);
  });

  it('refuses device files', async () => {
    expect(await refused([{ name: 'shop/t-00000000000000000000000000000000/dev', type: 'character-device', devmajor: 1, devminor: 3 }]))
      .to.match(/it is a character-device/);
    expect(await refused([{ name: 'shop/t-00000000000000000000000000000000/blk', type: 'block-device', devmajor: 8, devminor: 0 }]))
      .to.match(/it is a block-device/);
    expect(await refused([{ name: 'shop/t-00000000000000000000000000000000/fifo', type: 'fifo' }])).to.match(/it is a fifo/);
  });

  it('refuses an entry not laid out as a data directory', async () => {
    expect(await refused([{ name: 'etc/passwd', body: 'x' }])).to.match(/not laid out as <keyspace>\/<table-dir>\/<file> or <keyspace>\/<table-dir>\/\.<index>\/<file>$/);
    expect(await refused([{ name: 'shop/t-1/other/na-1-big-Data.db', body: 'x' }])).to.match(/not laid out as/);
    expect(await refused([{ name: 'shop/t-1/.orders_by_customer/deeper/na-1-big-Data.db', body: 'x' }])).to.match(/not laid out as/);
  });

  it('refuses, before writing it, an entry past the bytes the record declares, so a lying record cannot fill the disk', async () => {
    const entries = [
      { name: 'ks/t-1/na-1-big-Data.db', body: 'a'.repeat(600) },
      { name: 'ks/t-1/na-2-big-Data.db', body: 'b'.repeat(600) },
    ];
    let message = '';
    await extractArchive(tarOf(entries), { targets: [target], maxBytes: 1000 }).catch((err: Error) => (message = err.message));
    expect(message).to.equal("refusing TAR entry 'ks/t-1/na-2-big-Data.db' (600 bytes): the archive holds more than the 1000 bytes its record declares; the object or its record was damaged or tampered with, restore another backup");
    expect(await readdir(path.join(target, 'ks/t-1'))).to.deep.equal(['na-1-big-Data.db']);
    await removeDir(target);
    await mkdir(target);
    expect(await extractArchive(tarOf(entries), { targets: [target], maxBytes: 1200 })).to.deep.equal({ files: 2, bytes: 1200 });
  });

  it('refuses, before writing it, a file whose size is not the one its manifest declares', async () => {
    const declaredSize = (name: string) => (name === 'ks/t-1/na-1-big-Data.db' ? 10 : undefined);
    expect(await refused([{ name: 'ks/t-1/na-1-big-Data.db', body: 'z'.repeat(5000) }], declaredSize)).to.equal(
      "refusing TAR entry 'ks/t-1/na-1-big-Data.db': it holds 5000 bytes, the manifest says 10; the object or its record was damaged or tampered with, restore another backup",
    );
    expect(await readdir(target), 'nothing written').to.deep.equal([]);
  });

  it('refuses a name with a control character, and prints it escaped so that it cannot forge a line of the log', async () => {
    const message = await refused([{ name: 'ks/t-1/na-1-big-Data.db\nrestore of b1 COMPLETED', body: 'x' }]);
    expect(message).to.equal("refusing TAR entry 'ks/t-1/na-1-big-Data.db\\nrestore of b1 COMPLETED': its name holds a control character, which Cassandra never writes");
    expect(message).not.to.include('\n');
    expect(await refused([{ name: 'ks/t-1/\u001b[2Jna-1-big-Data.db', body: 'x' }])).to.match(/^refusing TAR entry 'ks\/t-1\/\\u001b\[2Jna-1-big-Data\.db': its name holds a control character/);
  });

  describe("Trove 13's tar -P archives (absolute names in the source node's data directory)", () => {
    const T = 'local-7ad54392bcdd35a684174e047860b377';
    const strip = async (entries: TestEntry[]): Promise<string> =>
      extractArchive(tarOf(entries), { targets: [target], stripSourceDataDirectory: true }).then(() => 'extracted', (err: Error) => err.message);

    it('takes the data directory learned from the first member off every name', async () => {
      expect(await strip([
        { name: `/var/lib/cassandra/data/system/${T}/na-1-big-Data.db`, body: 'system' },
        { name: '/var/lib/cassandra/data/shop/o-0123456789abcdef0123456789abcdef/.o_by_c/na-2-big-Data.db', body: 'index' },
      ])).to.equal('extracted');
      expect(await readFile(path.join(target, `system/${T}/na-1-big-Data.db`), 'utf8')).to.equal('system');
      expect(await readFile(path.join(target, 'shop/o-0123456789abcdef0123456789abcdef/.o_by_c/na-2-big-Data.db'), 'utf8')).to.equal('index');
    });

    it('refuses a member outside that directory, a climb with .., and an absolute name that is no data file', async () => {
      expect(await strip([{ name: `/var/lib/cassandra/data/system/${T}/na-1-big-Data.db`, body: 'a' }, { name: `/etc/cron.d/system/${T}/x`, body: 'b' }]))
        .to.equal(`refusing TAR entry '/etc/cron.d/system/${T}/x': it is outside /var/lib/cassandra/data/, the source data directory of the archive's first member`);
      expect(await strip([{ name: `/var/lib/cassandra/data/system/${T}/../../../../../etc/passwd`, body: 'a' }])).to.match(/climbs out of the data directory with '\.\.'$/);
      expect(await strip([{ name: '/etc/passwd', body: 'a' }])).to.match(/an absolute name with no <keyspace>\/<table-dir>\/ in it/);
      expect(await strip([{ name: `system/${T}/na-7-big-Data.db`, body: 'a' }, { name: `/var/lib/cassandra/data/system/${T}/na-8-big-Data.db`, body: 'b' }]))
        .to.match(/an absolute name in an archive whose first members are relative$/);
    });
  });

  it("restores a secondary index's SSTables into the index directory below their table", async () => {
    await extractArchive(tarOf([
      { name: 'shop/orders-1/na-1-big-Data.db', body: 'table' },
      { name: 'shop/orders-1/.orders_by_customer/na-1-big-Data.db', body: 'index' },
    ]), { targets: [target] });
    expect(await readFile(path.join(target, 'shop/orders-1/.orders_by_customer/na-1-big-Data.db'), 'utf8')).to.equal('index');
    expect(await readFile(path.join(target, 'shop/orders-1/na-1-big-Data.db'), 'utf8')).to.equal('table');
  });

  it('never writes through a link already on disk and refuses a file given twice', async () => {
    await mkdir(path.join(target, 'ks/t-1'), { recursive: true });
    await symlink(path.join(dir, 'victim'), path.join(target, 'ks/t-1/f'));
    expect(await refused([{ name: 'ks/t-1/f', body: 'x' }])).to.match(/cannot extract ks\/t-1\/f: the archive holds this file twice/);
    expect((await lstat(path.join(target, 'ks/t-1/f'))).isSymbolicLink()).to.equal(true);
    expect(await outside()).to.deep.equal([]);
  });

  it('reports a truncated archive as truncated or corrupt', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of tarOf([{ name: 'ks/t-1/na-1-big-Data.db', body: 'y'.repeat(5000) }])) chunks.push(chunk as Buffer);
    const whole = Buffer.concat(chunks);
    try {
      await extractArchive(Readable.from([whole.subarray(0, 2048)]), { targets: [target] });
      expect.fail('a truncated archive was accepted');
    } catch (err) {
      expect((err as Error).message).to.match(/^the stored backup is truncated or corrupt/);
    }
  });

  it('routes an entry to the data directory named in its PAX header', async () => {
    const second = path.join(dir, 'data2.restore');
    await mkdir(second);
    await extractArchive(tarOf([
      { name: 'ks/t-1/a', body: 'first' },
      { name: 'ks/t-1/b', body: 'second', pax: { 'CASSANDRA.data_dir_index': '1' } },
    ]), { targets: [target, second] });
    expect(await readFile(path.join(target, 'ks/t-1/a'), 'utf8')).to.equal('first');
    expect(await readFile(path.join(second, 'ks/t-1/b'), 'utf8')).to.equal('second');
  });
});
