import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ObjectNotFoundError, StorageAuthError } from '../../src/errors.js';
import { createLocalStorage } from '../../src/storage/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { createSwiftStorage } from '../../src/storage/swift-storage.js';
import { swiftTestAccount } from '../support/object-store-env.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const SEGMENT = 64 * 1024;

interface Backend {
  name: string;
  /** A store in a fresh namespace (directory or container). */
  open(options?: { listingPageSize?: number }): Promise<Storage>;
  cleanUp(): Promise<void>;
}

const backends: Backend[] = [
  (() => {
    let dir: string | undefined;
    return {
      name: 'local',
      async open() {
        dir ??= await makeTempDir('contract');
        return createLocalStorage({ path: dir });
      },
      cleanUp: () => removeDir(dir),
    };
  })(),
  (() => {
    const container = `contract-${randomBytes(4).toString('hex')}`;
    return {
      name: 'swift',
      async open(options = {}) {
        return createSwiftStorage({ ...swiftTestAccount, container, segmentSize: SEGMENT, ...options });
      },
      async cleanUp() {
        await run('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container]).catch(() => undefined);
      },
    };
  })(),
];

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A stream of `size` random bytes in uneven chunks, as a pipeline would produce. */
function randomStream(size: number): { stream: Readable; digest: string } {
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < size; ) {
    const length = Math.min(size - offset, 1 + Math.floor(Math.random() * 20_000));
    chunks.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return { stream: Readable.from(chunks), digest: sha256(data) };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

for (const backend of backends) {
  describe(`storage contract: ${backend.name}`, function () {
    this.timeout(120_000);
    let storage: Storage;
    before(async () => {
      storage = await backend.open();
    });
    after(() => backend.cleanUp());

    for (const [label, size] of [
      ['an empty stream', 0],
      ['a 1-byte stream', 1],
      ['exactly one segment', SEGMENT],
      ['many segments', SEGMENT * 5 + 123],
    ] as const) {
      it(`round-trips ${label} with the same SHA-256`, async () => {
        const key = `rt-${size}.tar.gz`;
        const { stream, digest } = randomStream(size);
        const put = await storage.put(key, stream, { datastore: 'cassandra', 'backup-id': 'rt' });
        expect(put.size).to.equal(size);
        expect(put.location).to.match(new RegExp(`${key.replace(/\./g, '\\.')}$`));
        const info = await storage.head(key);
        expect(info?.size).to.equal(size);
        expect(info?.meta.datastore).to.equal('cassandra');
        expect(sha256(await readAll(await storage.get(key)))).to.equal(digest);
      });
    }

    it('lists more than one page of keys', async () => {
      const paged = await backend.open({ listingPageSize: 100 });
      const keys = Array.from({ length: 250 }, (_, i) => `page/${String(i).padStart(4, '0')}.tar`);
      for (let i = 0; i < keys.length; i += 25) {
        await Promise.all(keys.slice(i, i + 25).map((key) => paged.put(key, Readable.from([Buffer.from(key)]), {})));
      }
      const listed: string[] = [];
      for await (const info of paged.list('page/')) listed.push(info.key);
      expect(listed).to.deep.equal(keys);
    });

    it('gives a typed not-found error for a missing key', async () => {
      expect(await storage.head('nope.tar.gz')).to.equal(undefined);
      try {
        await storage.get('nope.tar.gz');
        expect.fail('get of a missing key succeeded');
      } catch (err) {
        expect(err).to.be.instanceOf(ObjectNotFoundError);
      }
    });

    it('deletes an object with everything it is made of', async () => {
      const key = 'gone.tar.gz';
      await storage.put(key, randomStream(SEGMENT * 3 + 7).stream, {});
      await storage.delete(key);
      expect(await storage.head(key)).to.equal(undefined);
      const left: string[] = [];
      for await (const info of storage.list('gone')) left.push(info.key);
      expect(left).to.deep.equal([]);
      await storage.delete(key); // deleting twice is not an error
    });

    it('fails cleanly and leaves nothing when the source fails mid-upload', async () => {
      const key = 'broken.tar.gz';
      // Fails after two and a half segments: two are already stored by then.
      let sent = 0;
      const source = new Readable({
        read() {
          if (sent >= SEGMENT * 2.5) {
            this.destroy(new Error('snapshot file vanished'));
            return;
          }
          sent += 16_384;
          this.push(randomBytes(16_384));
        },
      });
      try {
        await storage.put(key, source, {});
        expect.fail('the upload succeeded');
      } catch (err) {
        expect((err as Error).message).to.match(/snapshot file vanished/);
      }
      expect(await storage.head(key)).to.equal(undefined);
      const left: string[] = [];
      for await (const info of storage.list('broken')) left.push(info.key);
      expect(left).to.deep.equal([]);
    });
  });
}

describe('swift specifics', function () {
  this.timeout(120_000);
  const container = `compat-${randomBytes(4).toString('hex')}`;
  const swiftCli = ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key];
  after(() => run('swift', [...swiftCli, 'delete', container]).catch(() => undefined));

  it('refuses wrong credentials with a clear authentication error that hides the key', async () => {
    const storage = createSwiftStorage({ ...swiftTestAccount, key: 'wrong-secret-key', container, segmentSize: SEGMENT });
    try {
      await storage.head('x');
      expect.fail('wrong credentials were accepted');
    } catch (err) {
      expect(err).to.be.instanceOf(StorageAuthError);
      expect((err as Error).message).to.match(/authentication refused for user 'test:tester' .*check swift_user and swift_key/);
      expect((err as Error).message).not.to.include('wrong-secret-key');
    }
  });

  it('writes a large object in Trove layout that `swift download` reads back, with the SLO ETag as checksum', async () => {
    const storage = createSwiftStorage({ ...swiftTestAccount, container, segmentSize: SEGMENT });
    const { stream, digest } = randomStream(SEGMENT * 3 + 5);
    const put = await storage.put('b-1.tar.gz', stream, {});
    const { stdout: listing } = await run('swift', [...swiftCli, 'list', container]);
    expect(listing.trim().split('\n')).to.deep.equal(['b-1.tar.gz', 'b-1_00000000', 'b-1_00000001', 'b-1_00000002', 'b-1_00000003']);
    const { stdout: stat } = await run('swift', [...swiftCli, 'stat', container, 'b-1.tar.gz']);
    expect(stat).to.match(new RegExp(`ETag: "?${put.storeChecksum}"?`));
    const downloaded = await run('swift', [...swiftCli, 'download', container, 'b-1.tar.gz', '-o', '-'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    expect(sha256(downloaded.stdout)).to.equal(digest);
  });

  it('copies a one-segment stream to its final name and keeps no segment', async () => {
    const storage = createSwiftStorage({ ...swiftTestAccount, container, segmentSize: SEGMENT });
    const { stream } = randomStream(1000);
    const put = await storage.put('small.tar.gz', stream, {});
    const { stdout: listing } = await run('swift', [...swiftCli, 'list', container, '--prefix', 'small']);
    expect(listing.trim()).to.equal('small.tar.gz');
    const { stdout: stat } = await run('swift', [...swiftCli, 'stat', container, 'small.tar.gz']);
    expect(stat).to.match(new RegExp(`ETag: "?${put.storeChecksum}"?`));
  });
});
