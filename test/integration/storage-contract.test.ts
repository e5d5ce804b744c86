import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ObjectNotFoundError, StorageAuthError } from '../../src/errors.js';
import { createS3Storage } from '../../src/storage/s3-storage.js';
import type { ObjectInfo, Storage } from '../../src/storage/storage.js';
import { createSwiftStorage } from '../../src/storage/swift-storage.js';
import { s3TestAccount, swiftTestAccount } from '../support/object-store-env.js';
import { repoRoot } from '../support/repo-paths.js';
import { removeS3Bucket, s3TestClient, s3TestOptions, testStores, type TestStore } from '../support/test-stores.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { readAll, randomStream, sha256 } from '../support/random-data.js';

const run = promisify(execFile);

const objectStoreScript = () => path.join(repoRoot(), 'test/services/object-store.sh');

/** Stops the test Swift's proxy server, the one process `object-store.sh up` then restarts. */
async function stopProxy(): Promise<void> {
  const stateDir = process.env.OBJECT_STORE_DIR ?? '/tmp/cga-object-store';
  const [pid] = (await readFile(path.join(stateDir, 'run/proxy-server.pid'), 'utf8')).trim().split(/\s+/);
  process.kill(Number(pid), 'SIGKILL');
}

/**
 * Uploads from a source that stops the server part-way, brings the server back
 * whatever happens, and returns the error the upload failed with.
 */
async function putWhileServerStops(storage: Storage, key: string, source: Readable): Promise<string> {
  try {
    await storage.put(key, source, {});
  } catch (err) {
    return (err as Error).message;
  } finally {
    source.destroy();
    await run('bash', [objectStoreScript(), 'up']);
  }
  expect.fail('the upload succeeded with the server stopped');
}
const SEGMENT = 64 * 1024;
const MiB = 1024 * 1024;

/**
 * Where the server itself returns at most this many keys per listing request
 * whatever the client asks (S3: 1,000), a store with more than that is listed
 * with the backend's default page size. Elsewhere paging is covered with a
 * small listingPageSize: filling one of Swift's 10,000-key default pages
 * would take minutes.
 */
interface ServerPage {
  size: number;
  /** Writes many small objects (each holding its own key) and removes them with one request each, behind the backend's back. */
  write(keys: readonly string[]): Promise<void>;
  remove(keys: readonly string[]): Promise<void>;
}

const s3ServerPage = (bucket: string): ServerPage => ({
  size: 1000,
  async write(keys) {
    const client = s3TestClient();
    await forEachConcurrently(keys, 16, (key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key })));
    client.destroy();
  },
  async remove(keys) {
    const client = s3TestClient();
    await forEachConcurrently(keys, 16, (key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
    client.destroy();
  },
});

const backends: (TestStore & { serverPage?: ServerPage })[] = testStores('contract', SEGMENT).map((store) =>
  store.name === 's3' ? { ...store, serverPage: s3ServerPage(store.namespace!) } : store,
);

/** Runs `task` on every item, at most `limit` at a time. */
async function forEachConcurrently<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
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

    const serverPage = backend.serverPage;
    if (serverPage) {
      it(`lists more keys than one page of the server (${serverPage.size}) with the backend's default page size`, async () => {
        const keys = Array.from({ length: serverPage.size + 100 }, (_, i) => `many/${String(i).padStart(5, '0')}.tar`);
        try {
          // The first through the backend, which creates the container or bucket.
          await storage.put(keys[0]!, Readable.from([Buffer.from(keys[0]!)]), {});
          await serverPage.write(keys.slice(1));
          const listed: ObjectInfo[] = [];
          for await (const info of storage.list('many/')) listed.push(info);
          expect(listed.map((info) => info.key)).to.deep.equal(keys);
          expect(listed.every((info) => info.size === info.key.length)).to.equal(true);
        } finally {
          await serverPage.remove(keys);
        }
        const left: string[] = [];
        for await (const info of storage.list('many/')) left.push(info.key);
        expect(left).to.deep.equal([]);
      });
    }

    it('lists and reads back keys that need URL encoding, across pages', async () => {
      const paged = await backend.open({ listingPageSize: 2 });
      const keys = ['enc/a b#1.tar', 'enc/50%+more?.tar', 'enc/ünï cödé & co.tar', 'enc/semi;colon=eq.tar', 'enc/tab\ttilde~.tar'];
      for (const key of keys) await paged.put(key, Readable.from([Buffer.from(`bytes of ${key}`)]), {});
      const listed: string[] = [];
      for await (const info of paged.list('enc/')) listed.push(info.key);
      expect([...listed].sort()).to.deep.equal([...keys].sort());
      for (const key of keys) {
        expect((await readAll(await paged.get(key))).toString()).to.equal(`bytes of ${key}`);
        await paged.delete(key);
      }
      expect(await paged.head(keys[0]!)).to.equal(undefined);
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

  it('fails cleanly when the server stops mid-upload, and names the segments it could not remove', async () => {
    const storage = createSwiftStorage({ ...swiftTestAccount, container, segmentSize: SEGMENT, requestTimeoutMs: 5_000 });
    await storage.put('warm-up.tar', Readable.from([Buffer.from('x')]), {}); // container exists before the stop
    let sent = 0;
    const source = new Readable({
      read() {
        sent += 16_384;
        // After two and a half segments, the proxy goes away (as a crashed or restarted server does).
        if (sent === SEGMENT * 2.5) void stopProxy();
        setTimeout(() => this.push(randomBytes(16_384)), sent > SEGMENT * 2 ? 20 : 0);
      },
    });
    const message = await putWhileServerStops(storage, 'cut.tar.gz', source);
    expect(message).to.match(/swift: PUT .*cut_0000000\d failed: .*; 2 segment\(s\) of the failed upload could not be deleted from container compat-[0-9a-f]+: cut_00000000, cut_00000001 \(delete them with 'swift delete/);
    const { stdout: listing } = await run('swift', [...swiftCli, 'list', container, '--prefix', 'cut']);
    expect(listing.trim().split('\n')).to.deep.equal(['cut_00000000', 'cut_00000001']); // exactly the reported ones, no manifest
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

describe('s3 specifics', function () {
  this.timeout(120_000);
  const bucket = `compat-s3-${randomBytes(4).toString('hex')}`;
  let tmp: string | undefined;
  after(async () => {
    await removeS3Bucket(bucket);
    await removeDir(tmp);
  });

  it('round-trips a stream of three multipart parts with the same SHA-256', async () => {
    const storage = createS3Storage(s3TestOptions(bucket));
    const size = 12 * MiB + 3;
    const { stream, digest } = randomStream(size);
    const put = await storage.put('big.tar.gz', stream, { datastore: 'cassandra' });
    expect(put).to.deep.equal({ location: `s3://${bucket}/big.tar.gz`, size });
    const info = await storage.head('big.tar.gz');
    expect(info).to.deep.equal({ key: 'big.tar.gz', size, meta: { datastore: 'cassandra' } });
    // A multipart ETag ends in the number of parts: 5 MiB + 5 MiB + 2 MiB + 3 bytes.
    const client = s3TestClient();
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big.tar.gz' }));
    client.destroy();
    expect(head.ETag).to.match(/-3"?$/);
    expect(sha256(await readAll(await storage.get('big.tar.gz')))).to.equal(digest);
  });

  it('refuses a wrong secret with a clear authentication error that hides the secret', async () => {
    const storage = createS3Storage(s3TestOptions(bucket, { secretAccessKey: 'wrong-secret-key' }));
    for (const attempt of [() => storage.head('x'), () => storage.put('x.tar', Readable.from([Buffer.from('x')]), {})]) {
      try {
        await attempt();
        expect.fail('a wrong secret was accepted');
      } catch (err) {
        expect(err).to.be.instanceOf(StorageAuthError);
        const message = (err as Error).message;
        expect(message).to.include(`bucket '${bucket}'`);
        expect(message).to.include(s3TestAccount.endpoint);
        expect(message).to.match(/check s3_access_key\/s3_secret_key or the instance's credentials/);
        expect(message).not.to.include('wrong-secret-key');
      }
    }
  });

  it('writes objects that `aws s3 cp` reads back byte for byte', async () => {
    const storage = createS3Storage(s3TestOptions(bucket));
    const { stream, digest } = randomStream(6 * MiB + 11);
    await storage.put('cli/b-2.tar.gz', stream, {});
    tmp = await makeTempDir('s3-cli');
    const awsConfig = path.join(tmp, 'aws-config');
    await writeFile(awsConfig, '[default]\ns3 =\n    addressing_style = path\n');
    const downloaded = await run('/usr/bin/aws', ['--endpoint-url', s3TestAccount.endpoint, 's3', 'cp', `s3://${bucket}/cli/b-2.tar.gz`, '-'], {
      encoding: 'buffer',
      maxBuffer: 64 * MiB,
      timeout: 60_000,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: s3TestAccount.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3TestAccount.secretAccessKey,
        AWS_DEFAULT_REGION: s3TestAccount.region,
        AWS_CONFIG_FILE: awsConfig,
      },
    });
    expect(sha256(downloaded.stdout)).to.equal(digest);
  });

  /** Keys with an unfinished multipart upload in the bucket. */
  async function unfinishedUploads(): Promise<string[]> {
    const client = s3TestClient();
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    client.destroy();
    return (page.Uploads ?? []).map((upload) => upload.Key ?? '');
  }

  /** A source that fails with `message` after `limit` bytes. */
  function failingSource(limit: number, message: string): Readable {
    let sent = 0;
    return new Readable({
      read() {
        if (sent >= limit) {
          this.destroy(new Error(message));
          return;
        }
        sent += MiB;
        this.push(randomBytes(MiB));
      },
    });
  }

  it('reports the source error and leaves no parts when the source fails after a whole part', async () => {
    const storage = createS3Storage(s3TestOptions(bucket, { queueSize: 1 }));
    try {
      await storage.put('broken-mp.tar.gz', failingSource(12 * MiB, 'snapshot file vanished'), {});
      expect.fail('the upload succeeded');
    } catch (err) {
      expect((err as Error).message).to.equal('snapshot file vanished');
    }
    expect(await storage.head('broken-mp.tar.gz')).to.equal(undefined);
    expect(await unfinishedUploads()).to.deep.equal([]);
  });

  it('stops an upload on abort and leaves no parts', async () => {
    const storage = createS3Storage(s3TestOptions(bucket, { queueSize: 1 }));
    const controller = new AbortController();
    let sent = 0;
    const source = new Readable({
      read() {
        sent += MiB;
        if (sent === 8 * MiB) controller.abort();
        this.push(randomBytes(MiB));
      },
    });
    try {
      await storage.put('aborted.tar.gz', source, {}, controller.signal);
      expect.fail('the upload succeeded');
    } catch (err) {
      expect((err as Error).name).to.equal('AbortError');
    }
    expect(await storage.head('aborted.tar.gz')).to.equal(undefined);
    // lib-storage aborts the multipart upload once its part in flight settles.
    for (let i = 0; i < 50 && (await unfinishedUploads()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await unfinishedUploads()).to.deep.equal([]);
  });

  it('fails cleanly when the server stops mid-upload, says how to remove the parts left, and delete removes them', async () => {
    const storage = createS3Storage(s3TestOptions(bucket, { queueSize: 1 }));
    let sent = 0;
    const source = new Readable({
      read() {
        sent += MiB;
        // One part is stored; then the server goes away (as a crashed or restarted proxy does).
        if (sent === 7 * MiB) void stopProxy();
        this.push(randomBytes(MiB));
      },
    });
    const message = await putWhileServerStops(storage, 'cut.tar.gz', source);
    expect(message).to.match(/^s3: upload of 'cut\.tar\.gz' in bucket 'compat-s3-[0-9a-f]+' at .* failed: .*; unfinished multipart parts of cut\.tar\.gz may remain in bucket 'compat-s3-[0-9a-f]+': deleting the backup removes them/);
    expect(await storage.head('cut.tar.gz')).to.equal(undefined);
    await storage.delete('cut.tar.gz');
    expect(await unfinishedUploads()).to.deep.equal([]);
  });

  it('deletes the unfinished multipart uploads of a key', async () => {
    const storage = createS3Storage(s3TestOptions(bucket, { prefix: 'p' }));
    await storage.put('left.tar.gz', Readable.from([Buffer.from('x')]), {});
    const client = s3TestClient();
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'p/left.tar.gz' }));
    await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'p/left.tar.gz', UploadId, PartNumber: 1, Body: randomBytes(5 * MiB) }));
    client.destroy();
    expect(await unfinishedUploads()).to.deep.equal(['p/left.tar.gz']);
    await storage.delete('left.tar.gz');
    expect(await storage.head('left.tar.gz')).to.equal(undefined);
    expect(await unfinishedUploads()).to.deep.equal([]);
  });

  it('keeps the same key of two profiles apart', async () => {
    const a = createS3Storage(s3TestOptions(bucket, { prefix: 'cluster-a' }));
    const b = createS3Storage(s3TestOptions(bucket, { prefix: 'cluster-b' }));
    const putA = await a.put('b-1.tar.gz', Readable.from([Buffer.from('from cluster a')]), {});
    await b.put('b-1.tar.gz', Readable.from([Buffer.from('from cluster b, longer')]), {});
    expect(putA.location).to.equal(`s3://${bucket}/cluster-a/b-1.tar.gz`);
    expect((await readAll(await a.get('b-1.tar.gz'))).toString()).to.equal('from cluster a');
    expect((await readAll(await b.get('b-1.tar.gz'))).toString()).to.equal('from cluster b, longer');
    for (const [storage, size] of [[a, 14], [b, 22]] as const) {
      const listed: ObjectInfo[] = [];
      for await (const info of storage.list('')) listed.push(info);
      expect(listed.map((info) => [info.key, info.size])).to.deep.equal([['b-1.tar.gz', size]]);
    }
    await a.delete('b-1.tar.gz');
    expect(await a.head('b-1.tar.gz')).to.equal(undefined);
    expect(await b.head('b-1.tar.gz')).to.deep.include({ key: 'b-1.tar.gz', size: 22 });
  });
});
