import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { readStages, writeFormat } from '../../src/archive/archive-format.js';
import { ENCRYPTION_SCHEME, createDecryptStream, createEncryptStream, parseEncryptionHeader } from '../../src/archive/encryption.js';
import { loadEncryptionKeys, type EncryptionKey } from '../../src/archive/encryption-key.js';
import type { AgentConfig } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ArchiveError, ChecksumMismatchError, ConfigError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TAG = 16;
/** Small chunks, so that a few KiB make many of them. */
const CHUNK = 1000;

const configWith = (env: Record<string, string>): Promise<AgentConfig> => loadConfig(undefined, env);
const hexKey = (): string => randomBytes(32).toString('hex');

async function keyOf(hex: string): Promise<EncryptionKey> {
  const { current } = await loadEncryptionKeys(await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION_KEY: hex }));
  return current!;
}

/** `input` in uneven writes, as a TAR stream arrives. */
function piecesOf(input: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const n = [1, 7, 333, 4096, 65536][i % 5]!;
    pieces.push(input.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

interface Run {
  output: Buffer;
  error?: Error;
}

/** Everything the stages emitted, and how they ended. */
async function run(stages: Duplex[], input: Buffer): Promise<Run> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  try {
    await pipeline([Readable.from(piecesOf(input)), ...stages, sink]);
    return { output: Buffer.concat(chunks) };
  } catch (err) {
    return { output: Buffer.concat(chunks), error: err as Error };
  }
}

async function encrypt(key: EncryptionKey, plain: Buffer, chunkSize = CHUNK, objectId?: string): Promise<Buffer> {
  const result = await run([createEncryptStream(key, { chunkSize, ...(objectId ? { objectId } : {}) })], plain);
  if (result.error) throw result.error;
  return result.output;
}

const decrypt = (key: EncryptionKey, stored: Buffer): Promise<Run> => run([createDecryptStream(key, { label: 'backup b-1' })], stored);

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  expect.fail('it succeeded');
}

describe('encryption (aes-256-gcm-chunked-v1)', () => {
  let key: EncryptionKey;
  let keyHex: string;
  before(async () => {
    keyHex = hexKey();
    key = await keyOf(keyHex);
  });

  describe('round trip', () => {
    const sizes: [string, number, number][] = [
      ['an empty stream', 0, CHUNK],
      ['one byte', 1, CHUNK],
      ['one byte short of a chunk', CHUNK - 1, CHUNK],
      ['exactly one chunk', CHUNK, CHUNK],
      ['one byte over a chunk', CHUNK + 1, CHUNK],
      ['exactly five chunks', 5 * CHUNK, CHUNK],
      ['many uneven chunks', 37 * CHUNK + 123, CHUNK],
      ['5 MiB in default 1 MiB chunks', 5 * MiB + 17, 1 * MiB],
      ['exactly 4 MiB in default 1 MiB chunks', 4 * MiB, 1 * MiB],
    ];
    for (const [what, size, chunkSize] of sizes) {
      it(`gives back ${what} byte for byte, ${size} bytes in ${Math.floor(size / chunkSize) + 1} chunks`, async () => {
        const plain = randomBytes(size);
        const stored = await encrypt(key, plain, chunkSize);
        const header = parseEncryptionHeader(stored);
        // Every chunk but the last is full; the last is short (empty for an exact multiple): one tag each.
        const chunks = Math.floor(size / chunkSize) + 1;
        expect(stored.length).to.equal(header.length + size + chunks * TAG);
        expect(header).to.include({ scheme: ENCRYPTION_SCHEME, keyId: key.id, chunkSize });
        const back = await decrypt(key, stored);
        expect(back.error).to.equal(undefined);
        expect(back.output.equals(plain), 'same bytes').to.equal(true);
      });
    }

    it('stores no plaintext, and never the same bytes twice for the same input', async () => {
      const plain = Buffer.from('shop/orders-1a2b/nb-1-big-Data.db '.repeat(200));
      const first = await encrypt(key, plain);
      const second = await encrypt(key, plain);
      expect(first.includes(Buffer.from('shop/orders'))).to.equal(false);
      expect(first.length).to.equal(second.length);
      expect(first.subarray(-64).equals(second.subarray(-64)), 'a fresh salt per object').to.equal(false);
    });
  });

  describe('refuses a stored object that was altered, and emits nothing it has not verified', () => {
    let plain: Buffer;
    let stored: Buffer;
    let headerLength: number;
    const record = CHUNK + TAG;
    /** Byte offset of chunk i (0-based) in the stored object. */
    const chunkAt = (i: number) => headerLength + i * record;

    before(async () => {
      plain = randomBytes(4 * CHUNK + 500); // chunks 1-4 full, chunk 5 short
      stored = await encrypt(key, plain);
      headerLength = parseEncryptionHeader(stored).length;
    });

    const flipped = (at: number): Buffer => {
      const copy = Buffer.from(stored);
      copy[at]! ^= 0x01;
      return copy;
    };

    const expectRefused = async (bytes: Buffer, message: RegExp, verifiedChunks: number): Promise<Error> => {
      const result = await decrypt(key, bytes);
      expect(result.error, 'refused').to.be.instanceOf(ArchiveError);
      expect(result.error!.message).to.match(message);
      expect(result.error!.message).to.match(/the stored backup was (altered|truncated)/);
      // Only the chunks before the bad one came out, each whole and genuine.
      expect(result.output.equals(plain.subarray(0, verifiedChunks * CHUNK)), `output is exactly the ${verifiedChunks} verified chunks`).to.equal(true);
      return result.error!;
    };

    it('a flipped bit anywhere in the header', async () => {
      for (let at = 0; at < headerLength; at++) {
        const result = await decrypt(key, flipped(at));
        expect(result.error, `flip at header byte ${at}`).to.be.instanceOf(ArchiveError);
        expect(result.error!.message, `flip at header byte ${at}`).to.match(/backup b-1: .*the stored backup was altered/);
        expect(result.output.length, `nothing emitted after a flip at header byte ${at}`).to.equal(0);
      }
    });

    it('a flipped bit inside a chunk', async () => {
      const err = await expectRefused(flipped(chunkAt(2) + 10), /chunk 3 of the stored object \(bytes \d+-\d+\) fails authentication/, 2);
      expect(err).to.be.instanceOf(ChecksumMismatchError);
    });

    it("a flipped bit in a chunk's tag", async () => {
      await expectRefused(flipped(chunkAt(1) + CHUNK + 3), /chunk 2 of the stored object .* fails authentication/, 1);
    });

    it('a flipped bit in the last, short chunk', async () => {
      await expectRefused(flipped(stored.length - TAG - 1), /chunk 5 of the stored object .* fails authentication/, 4);
    });

    it('a stream cut at a chunk boundary (the final chunk dropped)', async () => {
      await expectRefused(stored.subarray(0, chunkAt(4)), /ends after chunk 4 without its final chunk; the stored backup was truncated/, 4);
      await expectRefused(stored.subarray(0, chunkAt(1)), /ends after chunk 1 without its final chunk/, 1);
    });

    it('a stream cut right after the header', async () => {
      await expectRefused(stored.subarray(0, headerLength), /ends after chunk 0 without its final chunk/, 0);
    });

    it('a stream cut inside a chunk, before or after its tag would start', async () => {
      await expectRefused(stored.subarray(0, chunkAt(2) + 5), /ends 5 bytes into chunk 3, before its authentication tag; the stored backup was truncated/, 2);
      await expectRefused(stored.subarray(0, chunkAt(2) + 600), /chunk 3 of the stored object .* fails authentication/, 2);
    });

    it('a stream cut inside the header, or empty', async () => {
      await expectRefused(stored.subarray(0, headerLength - 1), /ends inside its encryption header/, 0);
      await expectRefused(Buffer.alloc(0), /the stored object is empty/, 0);
    });

    it('two chunks swapped', async () => {
      const swapped = Buffer.concat([stored.subarray(0, chunkAt(1)), stored.subarray(chunkAt(2), chunkAt(3)), stored.subarray(chunkAt(1), chunkAt(2)), stored.subarray(chunkAt(3))]);
      expect(swapped.length).to.equal(stored.length);
      await expectRefused(swapped, /chunk 2 of the stored object .* fails authentication/, 1);
    });

    it('a chunk duplicated', async () => {
      const duplicated = Buffer.concat([stored.subarray(0, chunkAt(2)), stored.subarray(chunkAt(1), chunkAt(2)), stored.subarray(chunkAt(2))]);
      await expectRefused(duplicated, /chunk 3 of the stored object .* fails authentication/, 2);
    });

    it('a chunk dropped from the middle', async () => {
      const dropped = Buffer.concat([stored.subarray(0, chunkAt(1)), stored.subarray(chunkAt(2))]);
      await expectRefused(dropped, /chunk 2 of the stored object .* fails authentication/, 1);
    });

    it('bytes appended after the final chunk', async () => {
      await expectRefused(Buffer.concat([stored, Buffer.from('extra')]), /chunk 5 of the stored object .* fails authentication/, 4);
    });

    it('a chunk taken from another object made with the same key', async () => {
      const other = await encrypt(key, randomBytes(plain.length));
      const spliced = Buffer.concat([stored.subarray(0, chunkAt(1)), other.subarray(chunkAt(1), chunkAt(2)), stored.subarray(chunkAt(2))]);
      await expectRefused(spliced, /chunk 2 of the stored object .* fails authentication/, 1);
    });

    it('an object written with another key: its header names that key', async () => {
      const otherKey = await keyOf(hexKey());
      const result = await decrypt(key, await encrypt(otherKey, plain));
      expect(result.error).to.be.instanceOf(ChecksumMismatchError);
      expect(result.error!.message).to.equal(
        `backup b-1: the stored object's encryption header names key id ${otherKey.id}, but its record says ${key.id}; the stored backup was altered or replaced: restore from another backup`,
      );
      expect(result.output.length).to.equal(0);
    });

    it('something that is not encrypted at all', async () => {
      await expectRefused(zlib.gzipSync(plain), /does not start with this agent's encryption header/, 0);
    });
  });

  describe('the format on disk, as documented (an independent reading of it, so that old backups stay readable)', () => {
    /** The chunk key and nonce prefix, as the module comment specifies them. */
    const specKeys = (salt: Buffer) => {
      const okm = Buffer.from(hkdfSync('sha256', Buffer.from(keyHex, 'hex'), salt, `cassandra-guest-agent ${ENCRYPTION_SCHEME} chunk key`, 36));
      return { key: okm.subarray(0, 32), prefix: okm.subarray(32) };
    };
    const nonce = (prefix: Buffer, i: number) => Buffer.concat([prefix, Buffer.from(BigInt(i).toString(16).padStart(16, '0'), 'hex')]);
    const aad = (header: Buffer, i: number, last: boolean) => Buffer.concat([header, Buffer.from(BigInt(i).toString(16).padStart(16, '0'), 'hex'), Buffer.from([last ? 1 : 0])]);

    it('is the header, then AES-256-GCM chunks under HKDF keys with the counter and the last-chunk flag in nonce and AAD', async () => {
      const plain = randomBytes(3 * CHUNK + 10);
      const stored = await encrypt(key, plain);
      expect(stored.subarray(0, 9).equals(Buffer.from('\x89CGAENC\n\x01', 'latin1'))).to.equal(true);
      const headerLength = stored.readUInt16BE(9);
      const header = stored.subarray(0, headerLength);
      expect(header.subarray(11, 12 + ENCRYPTION_SCHEME.length).toString('latin1')).to.equal(`${String.fromCharCode(ENCRYPTION_SCHEME.length)}${ENCRYPTION_SCHEME}`);
      const { key: chunkKey, prefix } = specKeys(header.subarray(headerLength - 32));
      const out: Buffer[] = [];
      for (let i = 0, at = headerLength; at < stored.length; i++, at += CHUNK + TAG) {
        const sealed = stored.subarray(at, Math.min(at + CHUNK + TAG, stored.length));
        const decipher = createDecipheriv('aes-256-gcm', chunkKey, nonce(prefix, i));
        decipher.setAAD(aad(header, i, sealed.length < CHUNK + TAG));
        decipher.setAuthTag(sealed.subarray(-TAG));
        out.push(decipher.update(sealed.subarray(0, -TAG)), decipher.final());
      }
      expect(Buffer.concat(out).equals(plain)).to.equal(true);
    });

    it('refuses a final chunk sealed as not the last, or a middle one sealed as the last', async () => {
      const plain = randomBytes(2 * CHUNK + 10);
      const stored = await encrypt(key, plain);
      const headerLength = parseEncryptionHeader(stored).length;
      const header = stored.subarray(0, headerLength);
      const { key: chunkKey, prefix } = specKeys(header.subarray(headerLength - 32));
      const reseal = (i: number, last: boolean): Buffer => {
        const at = headerLength + i * (CHUNK + TAG);
        const size = Math.min(CHUNK, stored.length - at - TAG);
        const cipher = createCipheriv('aes-256-gcm', chunkKey, nonce(prefix, i));
        cipher.setAAD(aad(header, i, last));
        const sealed = Buffer.concat([cipher.update(plain.subarray(i * CHUNK, i * CHUNK + size)), cipher.final(), cipher.getAuthTag()]);
        return Buffer.concat([stored.subarray(0, at), sealed, stored.subarray(at + size + TAG)]);
      };
      expect((await decrypt(key, reseal(2, true))).output.equals(plain), 'resealed exactly as the writer seals').to.equal(true);
      const notLast = await decrypt(key, reseal(2, false));
      expect(notLast.error?.message).to.match(/chunk 3 of the stored object .* fails authentication/);
      expect(notLast.output.equals(plain.subarray(0, 2 * CHUNK))).to.equal(true);
      const middleAsLast = await decrypt(key, reseal(1, true));
      expect(middleAsLast.error?.message).to.match(/chunk 2 of the stored object .* fails authentication/);
    });
  });

  it('holds back a producer when the consumer stalls (memory bounded by the chunk size, not the data)', async () => {
    let produced = 0;
    const source = new Readable({
      read() {
        produced += 64 * KiB;
        this.push(randomBytes(64 * KiB));
      },
    });
    const stalled = new Writable({ highWaterMark: 64 * KiB, write: () => undefined }); // never calls back
    const flow = pipeline(source, createEncryptStream(key), createDecryptStream(key, { label: 'backup b-1' }), stalled).catch(() => undefined);
    await sleep(300);
    // Each stage buffers at most about a chunk (1 MiB) plus its stream high-water marks.
    expect(produced, `bytes produced while nothing was consumed: ${produced}`).to.be.below(8 * MiB);
    source.destroy();
    stalled.destroy();
    await flow;
  });

  describe('keys', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await makeTempDir('keys');
    });
    afterEach(() => removeDir(dir));

    const keyFile = async (name: string, content: Buffer | string, mode = 0o600): Promise<string> => {
      const file = path.join(dir, name);
      await writeFile(file, content, { mode });
      await chmod(file, mode);
      return file;
    };
    const withFile = (file: string, extra: Record<string, string> = {}) =>
      configWith({ GUEST_AGENT_BACKUP_ENCRYPTION: 'aes-256-gcm', GUEST_AGENT_BACKUP_ENCRYPTION_KEY_FILE: file, ...extra });

    it('reads a key file of 32 raw bytes or 64 hex characters, the same key giving the same short id', async () => {
      const raw = Buffer.from(keyHex, 'hex');
      const fromRaw = (await loadEncryptionKeys(await withFile(await keyFile('raw.key', raw)))).current!;
      const fromHex = (await loadEncryptionKeys(await withFile(await keyFile('hex.key', `${keyHex}\n`)))).current!;
      expect(fromRaw.id).to.match(/^[0-9a-f]{16}$/);
      expect(fromHex.id).to.equal(fromRaw.id);
      expect(fromRaw.id).to.equal(key.id);
      expect(keyHex).not.to.include(fromRaw.id);
      expect(fromRaw.source).to.equal(`backup_encryption_key_file ${path.join(dir, 'raw.key')}`);
      // The same key read from the file decrypts what the environment's key encrypted.
      const plain = randomBytes(3000);
      expect((await decrypt(fromRaw, await encrypt(key, plain))).output.equals(plain)).to.equal(true);
      expect((await keyOf(hexKey())).id).not.to.equal(key.id);
    });

    it('refuses a key file that others can read, saying how to fix it', async () => {
      const file = await keyFile('open.key', `${keyHex}\n`, 0o644);
      const err = await rejection(loadEncryptionKeys(await withFile(file)));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.equal(`backup_encryption_key_file ${file}: the key file is readable by others (mode 644); run 'chmod 600 ${file}'`);
      await chmod(file, 0o400);
      expect((await loadEncryptionKeys(await withFile(file))).current!.id).to.equal(key.id);
    });

    it('refuses a key of the wrong length, saying what it found and never what the key is', async () => {
      const cases: [string, Buffer | string, RegExp][] = [
        ['short.key', randomBytes(31), /found 31 bytes that are not hexadecimal/],
        ['long.key', randomBytes(33), /found 33 bytes that are not hexadecimal/],
        ['hex62.key', `${keyHex.slice(0, 62)}\n`, /found 62 hexadecimal characters \(248 bits\)/],
        ['hex32.key', keyHex.slice(0, 32), /found 32 hexadecimal characters \(128 bits\)/],
      ];
      for (const [name, content, found] of cases) {
        const err = await rejection(loadEncryptionKeys(await withFile(await keyFile(name, content))));
        expect(err, name).to.be.instanceOf(ConfigError);
        expect(err.message, name).to.match(new RegExp(`^backup_encryption_key_file ${path.join(dir, name)}: expected a 256-bit key, as 32 raw bytes or 64 hexadecimal characters; `));
        expect(err.message, name).to.match(found);
        expect(err.message, name).not.to.include(keyHex.slice(0, 32));
      }
      const fromEnv = await rejection(loadEncryptionKeys(await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex.slice(0, 63) })));
      expect(fromEnv.message).to.equal(
        "backup_encryption_key (GUEST_AGENT_BACKUP_ENCRYPTION_KEY): expected 64 hexadecimal characters (a 256-bit key); found 63 hexadecimal characters; make one with 'openssl rand -hex 32'",
      );
    });

    it('refuses a key in both a file and the environment', async () => {
      const file = await keyFile('k.key', `${keyHex}\n`);
      const err = await rejection(loadEncryptionKeys(await withFile(file, { GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex })));
      expect(err.message).to.match(/both backup_encryption_key_file .* and backup_encryption_key \(GUEST_AGENT_BACKUP_ENCRYPTION_KEY\) are set; set only one/);
      expect(err.message).not.to.include(keyHex);
    });

    it('refuses to write encrypted backups without a key', async () => {
      const err = await rejection(writeFormat(await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION: 'aes-256-gcm' })));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.match(/^backup_encryption is aes-256-gcm but no key is configured: set backup_encryption_key_file .* or set GUEST_AGENT_BACKUP_ENCRYPTION_KEY/);
    });
  });

  describe('the archive format seam', () => {
    it('writes gzip then encryption as <id>.tar.gz.enc, and reads it back with the key the record names', async () => {
      const config = await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION: 'aes-256-gcm', GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex, GUEST_AGENT_BACKUP_COMPRESSION: 'gzip' });
      const format = await writeFormat(config);
      expect(format.suffix).to.equal('.tar.gz.enc');
      expect(format.encryption).to.deep.equal({ scheme: ENCRYPTION_SCHEME, key_id: key.id });
      const plain = Buffer.from('a TAR stream '.repeat(5000));
      const stored = (await run(format.stages('b-1'), plain)).output;
      expect(stored.length, 'compressed before it was encrypted').to.be.below(plain.length / 10);
      const back = await run(await readStages({ id: 'b-1', compression: format.compression, encryption: format.encryption! }, config), stored);
      expect(back.error).to.equal(undefined);
      expect(back.output.equals(plain)).to.equal(true);

      const swapped = await run(await readStages({ id: 'b-2', compression: format.compression, encryption: format.encryption! }, config), stored);
      expect(swapped.error?.message, 'an object is bound to its backup id').to.match(/backup b-2: chunk 1 of the stored object .* fails authentication: .*or is another backup's object/);
      expect(swapped.output.length, 'nothing of it is used').to.equal(0);

      const plainFormat = await writeFormat(await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex }));
      expect(plainFormat.suffix, 'backup_encryption none: the key is not used').to.equal('.tar');
      expect(plainFormat.encryption).to.equal(undefined);
      expect((await writeFormat(await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION: 'aes-256-gcm', GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex }))).suffix).to.equal('.tar.enc');
    });

    it('refuses, before reading anything, a record whose key id is not the configured key, naming both ids', async () => {
      const other = await keyOf(hexKey());
      const config = await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex });
      const err = await rejection(readStages({ id: 'b-7', compression: 'none', encryption: { scheme: ENCRYPTION_SCHEME, key_id: other.id } }, config));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.equal(
        `backup b-7 was encrypted with key id ${other.id}, but the configured key has id ${key.id} (backup_encryption_key (GUEST_AGENT_BACKUP_ENCRYPTION_KEY)): ` +
          'set backup_encryption_key_file (or GUEST_AGENT_BACKUP_ENCRYPTION_KEY) to that key, or add its file to backup_encryption_old_key_files',
      );
      expect(err.message).not.to.include(keyHex);
    });

    it('refuses an encrypted record when no key is configured', async () => {
      const err = await rejection(readStages({ id: 'b-8', compression: 'none', encryption: { scheme: ENCRYPTION_SCHEME, key_id: key.id } }, await configWith({})));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.match(new RegExp(`^backup b-8 is encrypted \\(${ENCRYPTION_SCHEME}, key id ${key.id}\\) but no backup encryption key is configured`));
    });

    it('refuses an unknown scheme', async () => {
      const err = await rejection(readStages({ id: 'b-9', compression: 'none', encryption: { scheme: 'rot13', key_id: 'x' } }, await configWith({})));
      expect(err).to.be.instanceOf(ArchiveError);
      expect(err.message).to.match(/backup b-9 is encrypted with scheme 'rot13', which this agent does not know/);
    });

    it('reads a backup made before a key rotation with the old key file', async () => {
      const dir = await makeTempDir('rotation');
      try {
        const oldHex = hexKey();
        const oldKey = await keyOf(oldHex);
        const oldFile = path.join(dir, 'old.key');
        await writeFile(oldFile, `${oldHex}\n`, { mode: 0o600 });
        const plain = randomBytes(5000);
        const stored = await encrypt(oldKey, plain, CHUNK, 'b-old');
        const rotated = await configWith({ GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex, GUEST_AGENT_BACKUP_ENCRYPTION_OLD_KEY_FILES: `${oldFile}, ` });
        const record = { id: 'b-old', compression: 'none' as const, encryption: { scheme: ENCRYPTION_SCHEME, key_id: oldKey.id } };
        const back = await run(await readStages(record, rotated), stored);
        expect(back.output.equals(plain)).to.equal(true);
        // New backups are still written with the current key, never the old one.
        expect((await writeFormat({ ...rotated, backup_encryption: 'aes-256-gcm' })).encryption!.key_id).to.equal(key.id);
      } finally {
        await removeDir(dir);
      }
    });
  });
});
