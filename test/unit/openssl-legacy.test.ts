import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { expect } from 'chai';
import { legacyDecryptOptions, readStages } from '../../src/archive/archive-format.js';
import { GZIP_START, createLegacyDecryptStream, findLegacyKey, legacyScheme, type TroveKdf } from '../../src/archive/openssl-legacy.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ArchiveError, ConfigError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const PASSPHRASE = 'trove-s3cr3t-passphrase';

/** The `openssl enc` options of each key derivation Trove's guests used. */
const OPENSSL_KDF_OPTIONS: Record<TroveKdf, string[]> = {
  md5: ['-md', 'md5'],
  sha256: ['-md', 'sha256'],
  'pbkdf2-sha512': ['-pbkdf2', '-iter', '10000', '-md', 'sha512'],
};

async function run(stages: Duplex[], input: Buffer): Promise<{ output: Buffer; error?: Error }> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  // Uneven pieces, the first smaller than the 32 bytes the derivation is detected from.
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const n = [5, 40, 1, 70_000][i % 4]!;
    pieces.push(input.subarray(at, at + n));
    at += n;
  }
  try {
    await pipeline([Readable.from(pieces), ...stages, sink]);
    return { output: Buffer.concat(chunks) };
  } catch (err) {
    return { output: Buffer.concat(chunks), error: err as Error };
  }
}

describe("restoring Trove's openssl-encrypted archives (openssl enc -aes-256-cbc -salt)", () => {
  let dir: string;
  let plain: Buffer;
  let gzipped: Buffer;
  const archives = new Map<TroveKdf, Buffer>();

  /** `openssl enc -aes-256-cbc -salt -pass pass:KEY [kdf options]` of a file, as Trove's pipeline ran it. */
  async function opensslEncrypt(input: string, kdfOptions: string[], extra: string[] = []): Promise<Buffer> {
    const output = `${input}.${archives.size}-${Date.now()}.enc`;
    await execa('openssl', ['enc', '-aes-256-cbc', '-salt', ...kdfOptions, ...extra, '-pass', `pass:${PASSPHRASE}`, '-in', input, '-out', output], { timeout: 60_000 });
    return readFile(output);
  }

  before(async () => {
    dir = await makeTempDir('openssl');
    // Like SSTables: mostly random, some text; large enough for many reads.
    plain = Buffer.concat([randomBytes(1_500_000), Buffer.from('shop/orders-1a2b/nb-1-big-Data.db\n'.repeat(20_000))]);
    const input = path.join(dir, 'archive.tar');
    await writeFile(input, plain);
    await execa('gzip', ['-k', '-1', input], { timeout: 60_000 });
    gzipped = await readFile(`${input}.gz`);
    for (const [kdf, options] of Object.entries(OPENSSL_KDF_OPTIONS) as [TroveKdf, string[]][]) {
      archives.set(kdf, await opensslEncrypt(`${input}.gz`, options));
    }
  });
  after(() => removeDir(dir));

  const options = (kdf: TroveKdf | 'auto', passphrase = PASSPHRASE) => ({
    passphrase: Buffer.from(passphrase),
    passphraseName: 'trove_backup_aes_cbc_key',
    kdf,
    plaintextStart: GZIP_START,
    label: 'backup t-1: t-1.gz.enc',
  });

  for (const kdf of Object.keys(OPENSSL_KDF_OPTIONS) as TroveKdf[]) {
    it(`decrypts an archive made with ${OPENSSL_KDF_OPTIONS[kdf].join(' ')}, finding the derivation by itself, streaming into gunzip`, async () => {
      const archive = archives.get(kdf)!;
      expect(archive.subarray(0, 8).toString('latin1')).to.equal('Salted__');
      expect((await findLegacyKey(archive.subarray(0, 32), options('auto'))).kdf).to.equal(kdf);
      const decrypted = await run([createLegacyDecryptStream(options('auto'))], archive);
      expect(decrypted.error).to.equal(undefined);
      expect(decrypted.output.equals(gzipped), 'the gzip file openssl was given').to.equal(true);
      const unpacked = await run([createLegacyDecryptStream(options(kdf)), zlib.createGunzip()], archive);
      expect(unpacked.output.equals(plain), 'the TAR inside').to.equal(true);
    });
  }

  it('builds the decryption from a record through readStages, with the passphrase from the environment', async () => {
    const config = await loadConfig(undefined, { GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY: PASSPHRASE });
    const record = { id: 't-2', compression: 'gzip' as const, encryption: { scheme: legacyScheme('pbkdf2-sha512'), key_id: 'trove_backup_aes_cbc_key' } };
    const result = await run(await readStages(record, config), archives.get('pbkdf2-sha512')!);
    expect(result.error).to.equal(undefined);
    expect(result.output.equals(plain)).to.equal(true);
  });

  it('refuses a wrong passphrase on the first block, saying what was tried and never the passphrase', async () => {
    const wrong = 'not-the-passphrase';
    const err = await findLegacyKey(archives.get('sha256')!.subarray(0, 32), options('auto', wrong)).then(
      () => expect.fail('a wrong passphrase was accepted'),
      (e: unknown) => e as Error,
    );
    expect(err).to.be.instanceOf(ArchiveError);
    expect(err.message).to.equal(
      'backup t-1: t-1.gz.enc: trove_backup_aes_cbc_key does not decrypt it (tried EVP_BytesToKey with MD5, EVP_BytesToKey with SHA-256, PBKDF2-HMAC-SHA512 with 10000 iterations): ' +
        'the passphrase is wrong; set trove_backup_aes_cbc_key to the backup_aes_cbc_key of the Trove that made the backup. Nothing of it was used',
    );
    expect(err.message).not.to.include(wrong);
    const streamed = await run([createLegacyDecryptStream(options('auto', wrong))], archives.get('md5')!);
    expect(streamed.error?.message).to.match(/does not decrypt it/);
    expect(streamed.output.length, 'nothing decrypted with a wrong key is passed on').to.equal(0);
  });

  it('refuses an archive made with another derivation than the one trove_backup_kdf names', async () => {
    const result = await run([createLegacyDecryptStream(options('md5'))], archives.get('sha256')!);
    expect(result.error).to.be.instanceOf(ArchiveError);
    expect(result.error!.message).to.match(/does not decrypt it with EVP_BytesToKey with MD5 \(trove_backup_kdf: md5\): the passphrase is wrong, or the archive was made with another derivation \(trove_backup_kdf: auto tries them all\)/);
  });

  it('refuses a truncated archive: cut inside a block, or whole blocks missing at the end', async () => {
    const archive = archives.get('sha256')!;
    const midBlock = await run([createLegacyDecryptStream(options('auto'))], archive.subarray(0, archive.length - 7));
    expect(midBlock.error).to.be.instanceOf(ArchiveError);
    expect(midBlock.error!.message).to.equal(
      "backup t-1: t-1.gz.enc: the encrypted archive does not end as 'openssl enc' ends one (its length is not a whole number of 16-byte blocks): it is truncated or was altered; restore from another backup",
    );
    // Cut at a block boundary the padding check may pass by chance (1 in 256); gunzip then finds the gzip stream cut short.
    const atBoundary = await run([createLegacyDecryptStream(options('auto')), zlib.createGunzip()], archive.subarray(0, archive.length - 4096));
    expect(atBoundary.error).to.be.instanceOf(Error);
    expect(atBoundary.error!.message).to.match(/does not end as 'openssl enc' ends one|unexpected end of file/);
    const tiny = await run([createLegacyDecryptStream(options('auto'))], archive.subarray(0, 20));
    expect(tiny.error!.message).to.match(/only 20 bytes, too short for an encrypted archive .* truncated/);
  });

  it('refuses something that is not openssl enc output', async () => {
    const result = await run([createLegacyDecryptStream(options('auto'))], gzipped);
    expect(result.error).to.be.instanceOf(ArchiveError);
    expect(result.error!.message).to.match(/^backup t-1: t-1\.gz\.enc: not an 'openssl enc -salt' archive \(it does not start with 'Salted__'\)/);
  });

  it('needs trove_backup_aes_cbc_key: without it, a ConfigError saying what to set', async () => {
    let err: unknown;
    try {
      legacyDecryptOptions('backup t-3', await loadConfig(undefined, {}), 'auto');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/^backup t-3 is encrypted by Trove's old strategy \(openssl enc -aes-256-cbc\) but trove_backup_aes_cbc_key is not set: set it \(or GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY\)/);
  });
});
