import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { execa } from 'execa';
import { createThrottle } from '../../src/archive/throttle.js';
import { sha256 } from '../support/random-data.js';

const MiB = 1024 * 1024;

/** A sink that keeps every chunk it is given. */
function collector(): { sink: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, chunks };
}

describe('throttle (max_bandwidth)', () => {
  it('passes 2 MiB through a 1 MiB/s throttle in about two seconds, unchanged, never more than a tenth of a second at once', async function () {
    this.timeout(20_000);
    const data = randomBytes(2 * MiB);
    const throttle = createThrottle(MiB)!;
    const { sink, chunks } = collector();
    const started = performance.now();
    // Chunks far larger than the burst: the throttle must slice them.
    await pipeline(Readable.from([data.subarray(0, 1.5 * MiB), data.subarray(1.5 * MiB)]), throttle, sink);
    const seconds = (performance.now() - started) / 1000;
    // A tenth of a second's burst passes at once, the rest at the rate: 1.9 s.
    expect(seconds).to.be.at.least(1.8);
    expect(seconds).to.be.below(5);
    expect(sha256(Buffer.concat(chunks))).to.equal(sha256(data));
    expect(Math.max(...chunks.map((c) => c.length))).to.be.at.most(Math.ceil(MiB / 10));
  });

  it('adds no stage at all for 0 (unlimited), and refuses a negative or fractional rate', () => {
    expect(createThrottle(0)).to.equal(undefined);
    expect(() => createThrottle(-1)).to.throw(RangeError, /whole number of bytes per second, 0 for unlimited; got -1/);
    expect(() => createThrottle(1.5)).to.throw(RangeError, /got 1.5/);
  });

  it('holds its source back while the reader is behind, instead of buffering', async () => {
    let pulled = 0;
    const block = randomBytes(64 * 1024);
    // 64 MiB on offer, fast enough (1 GiB/s) that only backpressure can stop it.
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 1024; i++) {
          pulled += block.length;
          yield block;
        }
      })(),
      { objectMode: false, highWaterMark: 64 * 1024 },
    );
    const stalled = new Writable({
      highWaterMark: 64 * 1024,
      write(_chunk, _encoding, _callback) {
        // Never done: the reader is stuck.
      },
    });
    const done = pipeline(source, createThrottle(1024 * MiB)!, stalled).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The stream buffers (16 KiB each side, one chunk in the sink) and a few 64 KiB chunks, not 64 MiB.
    expect(pulled).to.be.at.most(1 * MiB);
    expect(pulled).to.be.at.least(64 * 1024);
    stalled.destroy();
    await done;
  });

  it('stops at once when its pipeline is aborted', async function () {
    this.timeout(10_000);
    const throttle = createThrottle(1024)!;
    const abort = new AbortController();
    const started = performance.now();
    setTimeout(() => abort.abort(), 200);
    let error: unknown;
    try {
      await pipeline(Readable.from([randomBytes(MiB)]), throttle, collector().sink, { signal: abort.signal });
    } catch (err) {
      error = err;
    }
    expect((error as Error | undefined)?.name).to.equal('AbortError');
    // 1 MiB at 1 KiB/s would take 17 minutes.
    expect(performance.now() - started).to.be.below(2000);
    expect(throttle.destroyed).to.equal(true);
  });

  it('releases its timer when destroyed, so that the process can exit', async function () {
    this.timeout(30_000);
    const module = fileURLToPath(new URL('../../src/archive/throttle.js', import.meta.url));
    // 64 bytes at 1 byte/s: the first passes, the timer for the second is a second away when it is destroyed.
    const script = `
      import { createThrottle } from ${JSON.stringify(module)};
      const throttle = createThrottle(1);
      throttle.on('data', () => {});
      throttle.write(Buffer.alloc(64));
      setTimeout(() => {
        const before = process.getActiveResourcesInfo();
        throttle.destroy();
        setImmediate(() => console.log(JSON.stringify({ before, after: process.getActiveResourcesInfo() })));
      }, 150);
    `;
    const child = await execa(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, reject: false });
    expect(child.timedOut, 'the process was kept alive').to.equal(false);
    expect(child.exitCode, child.stderr).to.equal(0);
    const { before, after } = JSON.parse(child.stdout) as { before: string[]; after: string[] };
    expect(before).to.include('Timeout');
    expect(after).not.to.include('Timeout');
  });
});
