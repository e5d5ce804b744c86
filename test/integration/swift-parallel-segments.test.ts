import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createSwiftStorage, type SwiftTransferOptions } from '../../src/storage/swift-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { swiftTestAccount } from '../support/object-store-env.js';
import { readAll, randomStream, sha256 } from '../support/random-data.js';

const run = promisify(execFile);
const swiftCli = ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key];
const SEGMENT = 64 * 1024;
const CHUNK = 16 * 1024;

/** A segment PUT the gate holds: its whole body has arrived, Swift has not seen it yet. */
interface HeldSegment {
  index: number;
  /** Sends it on to Swift; resolves once Swift's answer has been passed back to the client. */
  release(): Promise<void>;
  /** Answers the client with this status; Swift never sees the segment. */
  fail(status: number): void;
}

/**
 * A proxy in front of the test Swift that holds every segment PUT
 * (`<stem>_NNNNNNNN`) until the test releases or fails it, so that the test
 * decides the order in which segments finish. Everything else passes
 * through. The Host header is passed on, so tempauth hands out storage URLs
 * through the proxy.
 */
interface SegmentGate {
  url: string;
  /** Segments held now, by index. */
  held: Map<number, HeldSegment>;
  /** Indexes in the order Swift's 201 reached the client. */
  finished: number[];
  /** Indexes whose PUT the client gave up before an answer. */
  abandoned: number[];
  /** The most segment PUTs open at once. */
  maxOpen: number;
  close(): Promise<void>;
}

async function startSegmentGate(target = 'http://127.0.0.1:8080'): Promise<SegmentGate> {
  const upstream = new URL(target);
  const gate: Omit<SegmentGate, 'url' | 'close'> = { held: new Map(), finished: [], abandoned: [], maxOpen: 0 };
  let open = 0;

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): Promise<number> =>
    new Promise((resolve) => {
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        res.on('finish', () => resolve(answer.statusCode ?? 502));
      });
      out.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(`gate: ${err.message}`);
        resolve(502);
      });
      if (body) out.end(body);
      else req.pipe(out);
    });

  const server = http.createServer((req, res) => {
    const segment = req.method === 'PUT' ? /_(\d{8})$/.exec(req.url ?? '') : null;
    if (!segment) {
      void forward(req, res);
      return;
    }
    const index = Number(segment[1]);
    open += 1;
    gate.maxOpen = Math.max(gate.maxOpen, open);
    let answered = false;
    res.on('close', () => {
      open -= 1;
      gate.held.delete(index);
      if (!answered) gate.abandoned.push(index);
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (res.destroyed) return;
      gate.held.set(index, {
        index,
        release: async () => {
          answered = true;
          const status = await forward(req, res, Buffer.concat(chunks));
          if (status === 201) gate.finished.push(index);
        },
        fail: (status) => {
          answered = true;
          res.writeHead(status, { 'Content-Type': 'text/plain' });
          res.end(`refused by the test gate: HTTP ${status}\n`);
        },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(gate, {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** Waits until `condition` holds, checking every 20 ms; fails the test after `ms`. */
async function until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) expect.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A source of `size` random bytes in CHUNK-sized pieces, read ahead by at most one chunk, that counts what was taken from it. */
function countingSource(size: number): { stream: Readable; pulled: () => number; digest: () => string } {
  const data = randomBytes(size);
  let pulled = 0;
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (pulled >= size) {
        this.push(null);
        return;
      }
      const chunk = data.subarray(pulled, pulled + CHUNK);
      pulled += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, pulled: () => pulled, digest: () => sha256(data) };
}

/** Waits until the source has stopped being read: nothing more taken for 300 ms. */
async function settled(pulled: () => number): Promise<number> {
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const now = pulled();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 300) {
      return now;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The error a promise is rejected with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a failure');
}

async function keysIn(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of storage.list(prefix)) keys.push(info.key);
  return keys;
}

/** A request straight to the test Swift, behind the backend's back. */
async function swiftRequest(method: string, pathAndQuery: string): Promise<Response> {
  const login = await fetch(swiftTestAccount.authUrl, { headers: { 'X-Auth-User': swiftTestAccount.user, 'X-Auth-Key': swiftTestAccount.key } });
  const token = login.headers.get('x-auth-token')!;
  const storageUrl = login.headers.get('x-storage-url')!;
  return fetch(`${storageUrl}/${pathAndQuery}`, { method, headers: { 'X-Auth-Token': token } });
}

/** The segment paths a Static Large Object's manifest lists, in its order, read straight from Swift. */
async function manifestPaths(container: string, key: string): Promise<string[]> {
  const response = await swiftRequest('GET', `${container}/${key}?multipart-manifest=get`);
  expect(response.status).to.equal(200);
  return ((await response.json()) as { name: string }[]).map((s) => s.name);
}

describe('swift: segments sent in parallel', function () {
  this.timeout(120_000);
  const container = `par-${randomBytes(4).toString('hex')}`;
  let gate: SegmentGate;
  beforeEach(async () => {
    gate = await startSegmentGate();
  });
  afterEach(() => gate?.close());
  after(() => run('swift', [...swiftCli, 'delete', container]).catch(() => undefined));

  const throughGate = (options: Partial<SwiftTransferOptions> = {}) =>
    createSwiftStorage({
      authUrl: `${gate.url}/auth/v1.0`,
      user: swiftTestAccount.user,
      key: swiftTestAccount.key,
      container,
      segmentSize: SEGMENT,
      retryDelayMs: 20,
      ...options,
    });

  it('lists the segments in order in the manifest when they finish out of order, and the object reads back byte for byte', async () => {
    const storage = throughGate({ uploadConcurrency: 3 });
    const size = SEGMENT * 7 + 1234; // 8 segments, the last one short
    const { stream, digest } = randomStream(size);
    const put = storage.put('ooo.tar', stream, {});
    // Each batch of three finishes last-first.
    for (let done = 0; done < 8; ) {
      const batch = Math.min(3, 8 - done);
      await until(() => gate.held.size === batch, `${batch} segments are held`);
      const held = [...gate.held.values()].sort((a, b) => b.index - a.index);
      for (const segment of held) await segment.release();
      done += batch;
    }
    const result = await put;
    expect(gate.finished).to.deep.equal([2, 1, 0, 5, 4, 3, 7, 6]);
    expect(gate.maxOpen).to.equal(3);
    expect(result.size).to.equal(size);
    expect(await manifestPaths(container, 'ooo.tar')).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7].map((i) => `/${container}/ooo_0000000${i}`));
    // What a download shows, as for Trove's own backups.
    expect((await swiftRequest('HEAD', `${container}/ooo.tar`)).headers.get('content-type')).to.equal('application/octet-stream');
    expect(sha256(await readAll(await storage.get('ooo.tar')))).to.equal(digest);
  });

  for (const concurrency of [1, 3]) {
    it(`holds at most ${concurrency} segment(s) in memory, those in flight and the one being read (uploadConcurrency ${concurrency})`, async () => {
      const storage = throughGate({ uploadConcurrency: concurrency });
      const source = countingSource(SEGMENT * 10);
      const key = `bound-${concurrency}.tar`;
      const put = storage.put(key, source.stream, {});
      await until(() => gate.held.size === concurrency, `${concurrency} segments are held`);
      // Nothing is stored, so nothing more may be read than the segments in flight
      // (the source itself reads one chunk ahead).
      const pulled = await settled(source.pulled);
      expect(pulled).to.be.at.least(concurrency * SEGMENT);
      expect(pulled).to.be.at.most(concurrency * SEGMENT + 2 * CHUNK);
      expect(gate.held.size).to.equal(concurrency);
      // Then everything goes through, in order.
      for (let released = 0; released < 10; released++) {
        await until(() => gate.held.has(released), `segment ${released} is held`);
        await gate.held.get(released)!.release();
      }
      await put;
      expect(gate.maxOpen).to.equal(concurrency);
      expect(sha256(await readAll(await storage.get(key)))).to.equal(source.digest());
    });
  }

  it('stops the other segments and the reading when one fails, and leaves no segment behind', async () => {
    const storage = throughGate({ uploadConcurrency: 3, segmentAttempts: 1 });
    const source = countingSource(SEGMENT * 20);
    const put = storage.put('broken.tar', source.stream, {});
    const failed = rejection(put);
    await until(() => gate.held.size === 3, 'three segments are held');
    await gate.held.get(0)!.release(); // stored in Swift: the clean-up must remove it
    await until(() => gate.held.has(1) && gate.held.has(2) && gate.held.has(3), 'segments 1, 2 and 3 are held');
    gate.held.get(2)!.fail(400);
    const err = await failed;
    expect(err.message).to.equal('swift: upload of segment broken_00000002 failed (HTTP 400): refused by the test gate: HTTP 400');
    // The segments in flight were given up, never sent on, and the source was not read to its end.
    await until(() => gate.abandoned.length === 2, 'the client gives up segments 1 and 3');
    expect(gate.abandoned.sort()).to.deep.equal([1, 3]);
    expect(gate.finished).to.deep.equal([0]);
    expect(source.pulled()).to.be.at.most(4 * SEGMENT + 2 * CHUNK);
    expect(await storage.head('broken.tar')).to.equal(undefined);
    expect(await keysIn(storage, 'broken')).to.deep.equal([]);
  });

  it('stops the segments in flight when the caller aborts, and leaves no segment behind', async () => {
    const storage = throughGate({ uploadConcurrency: 2 });
    const source = countingSource(SEGMENT * 10);
    const abort = new AbortController();
    const failed = rejection(storage.put('aborted.tar', source.stream, {}, abort.signal));
    await until(() => gate.held.size === 2, 'two segments are held');
    await gate.held.get(0)!.release();
    await until(() => gate.held.has(1) && gate.held.has(2), 'segments 1 and 2 are held');
    abort.abort(new Error('backup cancelled'));
    const err = await failed;
    expect(err.message).to.match(/backup cancelled/);
    await until(() => gate.abandoned.length === 2, 'the client gives up segments 1 and 2');
    expect(await keysIn(storage, 'aborted')).to.deep.equal([]);
  });
});
