import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { expect } from 'chai';
import { StorageError } from '../../src/errors.js';
import { createLocalStorage } from '../../src/storage/local-storage.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

describe('local directory storage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('store');
  });
  afterEach(() => removeDir(dir));

  it('stores, describes, lists, reads and deletes an object', async () => {
    const storage = createLocalStorage({ path: dir });
    const put = await storage.put('b1.tar.gz', Readable.from([Buffer.from('hello '), Buffer.from('world')]), { datastore: 'cassandra' });
    expect(put.size).to.equal(11);
    expect(put.location).to.equal(`file://${path.join(dir, 'b1.tar.gz')}`);
    expect(await storage.head('b1.tar.gz')).to.deep.equal({ key: 'b1.tar.gz', size: 11, meta: { datastore: 'cassandra' } });
    expect(await text(await storage.get('b1.tar.gz'))).to.equal('hello world');
    const listed = [];
    for await (const info of storage.list('')) listed.push(info.key);
    expect(listed).to.deep.equal(['b1.tar.gz']);
    await storage.delete('b1.tar.gz');
    expect(await storage.head('b1.tar.gz')).to.equal(undefined);
  });

  it('leaves no file, final or partial, when the source fails midway', async () => {
    const storage = createLocalStorage({ path: dir });
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('disk read error'));
      },
    });
    try {
      await storage.put('b2.tar.gz', failing, {});
      expect.fail('put succeeded');
    } catch (err) {
      expect((err as Error).message).to.match(/cannot write .*b2\.tar\.gz: disk read error/);
    }
    expect((await readdir(dir)).filter((n) => n !== '.meta')).to.deep.equal([]);
    expect(await storage.head('b2.tar.gz')).to.equal(undefined);
  });

  it('reports a missing object clearly and refuses keys that climb out', async () => {
    const storage = createLocalStorage({ path: dir });
    try {
      await storage.get('nope.tar.gz');
      expect.fail('get succeeded');
    } catch (err) {
      expect(err).to.be.instanceOf(StorageError);
      expect((err as Error).message).to.equal(`local storage: object 'nope.tar.gz' is missing from ${dir}`);
    }
    for (const key of ['../x', '/etc/passwd', 'a/../../b', '.hidden']) {
      try {
        await storage.head(key);
        expect.fail(`${key} accepted`);
      } catch (err) {
        expect((err as Error).message).to.equal(`local storage: '${key}' is not a valid object key`);
      }
    }
  });
});
