import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { execa } from 'execa';
import { DigestStream } from '../../src/archive/digest-stream.js';
import { sha256 } from '../support/random-data.js';

const MiB = 1024 * 1024;

/** Runs `data` through a DigestStream in chunks of the given sizes (cycled); returns what came out. */
async function digestOf(data: Buffer, chunkSizes: number[]): Promise<{ digest: DigestStream; output: Buffer }> {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = chunkSizes[i % chunkSizes.length]!;
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  const digest = new DigestStream();
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    digest,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    }),
  );
  return { digest, output: Buffer.concat(received) };
}

describe('DigestStream (SHA-256 on a worker thread)', () => {
  for (const [label, size, chunkSizes] of [
    ['nothing', 0, [1]],
    ['one byte', 1, [1]],
    ['exactly one 1 MiB batch', MiB, [65536]],
    ['one batch and a byte', MiB + 1, [65536]],
    ['20 MiB in uneven chunks that straddle batches', 20 * MiB + 12345, [1, 65536, 3 * MiB + 7, 999_983]],
  ] as const) {
    it(`passes ${label} through unchanged and gives its SHA-256 and length`, async () => {
      const data = randomBytes(size);
      const { digest, output } = await digestOf(data, [...chunkSizes]);
      expect(output.equals(data)).to.equal(true);
      expect(digest.digest()).to.equal(sha256(data));
      expect(digest.bytes).to.equal(size);
    });
  }

  it('refuses to give a digest before the stream has ended', () => {
    const digest = new DigestStream();
    expect(() => digest.digest()).to.throw(/before the stream ended/);
    digest.destroy();
  });

  it('stops its thread when the stream is destroyed half-way, so the process can exit', async function () {
    this.timeout(30_000);
    // A leaked worker thread keeps the event loop alive: the child would never exit.
    const module = fileURLToPath(new URL('../../src/archive/digest-stream.js', import.meta.url));
    const script = `
      const { DigestStream } = await import(${JSON.stringify(module)});
      const digest = new DigestStream();
      digest.on('error', () => {});
      digest.resume();
      for (let i = 0; i < 3; i++) digest.write(Buffer.alloc(1024 * 1024, i));
      setTimeout(() => { digest.destroy(new Error('aborted')); console.log('destroyed'); }, 200);
    `;
    const child = await execa('node', ['--input-type=module', '-e', script], { timeout: 20_000, reject: false });
    expect(child.timedOut, 'the child process hung on a live worker thread').to.equal(false);
    expect(child.stdout).to.equal('destroyed');
    expect(child.exitCode).to.equal(0);
  });
});
