import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { expect } from 'chai';
import type { Compression } from '../../src/archive/stored-format.js';
import { archiveSuffix, createCompressor, createDecompressor } from '../../src/archive/compression.js';
import { createProcessStream } from '../../src/archive/process-stream.js';
import { AgentError, ArchiveError } from '../../src/errors.js';

const MiB = 1024 * 1024;

/** Like an SSTable: mostly incompressible, with runs of repeated text. */
function sampleData(size: number): Buffer {
  const data = randomBytes(size);
  const text = Buffer.from('{"partition":"p-1","status":"SHIPPED"};'.repeat(100));
  for (let at = 0; at + text.length < size; at += 64 * 1024) text.copy(data, at);
  return data;
}

async function collect(stage: Duplex, input: Buffer, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  // Several writes, as a TAR stream arrives.
  const pieces = Array.from({ length: Math.ceil(input.length / (256 * 1024)) }, (_, i) => input.subarray(i * 256 * 1024, (i + 1) * 256 * 1024));
  await pipeline(Readable.from(pieces), stage, sink, ...(signal ? [{ signal }] : []));
  return Buffer.concat(chunks);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  expect.fail('it succeeded');
}

/** This process's children, as /proc shows them (zombies included): pid → command name. */
async function children(): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const match = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (match && Number(match[2]) === process.pid) found.set(Number(name), match[1]!);
  }
  return found;
}

describe('compression', () => {
  const sizes: [string, number][] = [
    ['an empty stream', 0],
    ['one byte', 1],
    ['a few MiB', 3 * MiB + 17],
  ];

  for (const compression of ['none', 'gzip', 'zstd', 'lz4'] as const) {
    for (const [label, size] of sizes) {
      it(`${compression}: ${label} comes back byte for byte`, async () => {
        const data = sampleData(size);
        const stored = await collect(createCompressor(compression, 1), data);
        expect((await collect(createDecompressor(compression), stored)).equals(data)).to.equal(true);
      });
    }
  }

  for (const [label, size] of sizes) {
    it(`lzop: reads ${label} written by the lzop command`, async () => {
      const data = sampleData(size);
      const { stdout: stored } = await execa('lzop', ['-c'], { input: data, encoding: 'buffer', stripFinalNewline: false });
      expect((await collect(createDecompressor('lzop'), Buffer.from(stored))).equals(data)).to.equal(true);
    });
  }

  it('writes what the zstd and lz4 commands read, at the level asked for', async () => {
    const rows = Array.from({ length: 40_000 }, (_, i) => `${i},sensor-${(i * 7919) % 5000},${((i * 104729) % 10000) / 100},OK\n`);
    const data = Buffer.from(rows.join(''));
    for (const [tool, compression] of [['zstd', 'zstd'], ['lz4', 'lz4']] as const) {
      const fast = await collect(createCompressor(compression, 1), data);
      const small = await collect(createCompressor(compression, 9), data);
      expect(small.length, `${tool} -9 is smaller than -1`).to.be.lessThan(fast.length);
      const { stdout } = await execa(tool, ['-d', '-c'], { input: small, encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.from(stdout).equals(data), `${tool} -d reads it`).to.equal(true);
    }
  });

  it('names objects by their compression', () => {
    const suffixes = (['none', 'gzip', 'zstd', 'lz4', 'lzop'] as Compression[]).map(archiveSuffix);
    expect(suffixes).to.deep.equal(['.tar', '.tar.gz', '.tar.zst', '.tar.lz4', '.tar.lzo']);
  });

  it('refuses to write lzop, which it only reads', () => {
    expect(() => createCompressor('lzop', 1)).to.throw(AgentError, /cannot be written with lzop/);
  });

  for (const compression of ['zstd', 'lz4'] as const) {
    it(`${compression}: a corrupt stream is an ArchiveError naming the codec`, async () => {
      const stored = await collect(createCompressor(compression, 1), sampleData(2 * MiB));
      const middle = Math.floor(stored.length / 2);
      stored[middle] = stored[middle]! ^ 0xff;
      const err = await failure(collect(createDecompressor(compression), stored));
      expect(err).to.be.instanceOf(ArchiveError);
      expect(err.message).to.match(new RegExp(`^the stored backup is truncated or corrupt \\(${compression} decompression failed: ${compression} exited with status \\d+: .*(checksum|Checksum).*\\); restore from another backup$`));
    });

    it(`${compression}: a truncated stream is an ArchiveError, never a short success`, async () => {
      const stored = await collect(createCompressor(compression, 1), sampleData(2 * MiB));
      const err = await failure(collect(createDecompressor(compression), stored.subarray(0, stored.length - 1000)));
      expect(err).to.be.instanceOf(ArchiveError);
      expect(err.message).to.match(new RegExp(`^the stored backup is truncated or corrupt \\(${compression} decompression failed: ${compression} exited with status \\d+: `));
    });
  }

  it('lzop: something else than an lzop stream is an ArchiveError naming the codec', async () => {
    const err = await failure(collect(createDecompressor('lzop'), Buffer.from('not lzop at all')));
    expect(err).to.be.instanceOf(ArchiveError);
    expect(err.message).to.equal('the stored backup is truncated or corrupt (lzop decompression failed: lzop exited with status 1: lzop: <stdin>: not a lzop file); restore from another backup');
  });

  it('names the Debian package to install when the command is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await failure(collect(createCompressor('zstd', 1), Buffer.from('x')));
      expect(err).to.be.instanceOf(AgentError);
      expect(err.message).to.equal("zstd compression failed: the command 'zstd' is not installed; install the Debian package 'zstd' (apt-get install zstd)");
      const restoring = await failure(collect(createDecompressor('lz4'), Buffer.from('x')));
      expect(restoring).to.be.instanceOf(ArchiveError);
      expect(restoring.message).to.equal("lz4 decompression failed: the command 'lz4' is not installed; install the Debian package 'lz4' (apt-get install lz4)");
    } finally {
      process.env.PATH = path;
    }
  });

  for (const compression of ['zstd', 'lz4'] as const) {
    it(`${compression}: an abort kills the process and leaves nothing behind, not even a zombie`, async () => {
      const controller = new AbortController();
      let produced = 0;
      // Endless input: only the abort ends this pipeline.
      const endless = new Readable({
        read() {
          produced += MiB;
          this.push(randomBytes(MiB));
        },
      });
      const before = await children();
      const running = pipeline(endless, createCompressor(compression, 1), new Writable({ write: (_chunk, _encoding, callback) => callback() }), { signal: controller.signal });
      while (produced < 8 * MiB) await sleep(10);
      const during = [...(await children()).entries()].filter(([pid]) => !before.has(pid));
      expect(during.map(([, name]) => name)).to.deep.equal([compression]);
      controller.abort();
      const err = await failure(running);
      expect(err.name).to.equal('AbortError');
      const [[pid]] = during as [[number, string]];
      expect((await children()).has(pid), `process ${pid} is gone from /proc`).to.equal(false);
    });
  }

  describe('a command as a stream stage', () => {
    it('pulls its input only as fast as its output is read', async () => {
      let produced = 0;
      const source = new Readable({
        read() {
          produced += 64 * 1024;
          this.push(produced > 256 * MiB ? null : Buffer.alloc(64 * 1024));
        },
      });
      const stage = createProcessStream('cat', [], { label: 'cat', debianPackage: 'coreutils' });
      source.pipe(stage);
      // Nobody reads the output: pipes and stream buffers fill, then the source is left alone.
      await sleep(500);
      const stalled = produced;
      await sleep(300);
      expect(produced).to.equal(stalled);
      expect(produced).to.be.lessThan(8 * MiB);
      stage.destroy();
      source.destroy();
    });

    it('fails with the exit status and the end of stderr', async () => {
      const stage = createProcessStream('sh', ['-c', 'cat >/dev/null; echo "first line" >&2; echo "what went wrong" >&2; exit 3'], { label: 'shell stage', debianPackage: 'dash' });
      const err = await failure(collect(stage, Buffer.from('input')));
      expect(err).to.be.instanceOf(AgentError);
      expect(err.message).to.equal('shell stage failed: sh exited with status 3: first line / what went wrong');
    });

    it('fails when the command exits successfully before reading all of its input', async () => {
      const stage = createProcessStream('true', [], { label: 'true stage', debianPackage: 'coreutils', toError: (message) => new ArchiveError(message) });
      const err = await failure(collect(stage, Buffer.alloc(4 * MiB)));
      expect(err).to.be.instanceOf(ArchiveError);
      expect(err.message).to.equal('true stage failed: true exited before reading all of its input');
    });
  });
});
