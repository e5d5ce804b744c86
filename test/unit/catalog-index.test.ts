import { expect } from 'chai';
import type { BackupSummary } from '../../src/catalog/catalog.js';
import {
  INDEX_NAME_LIMIT,
  INDEX_PREFIX,
  escapeField,
  indexKeyBudget,
  indexKeyOf,
  indexPrefixOf,
  parseIndexKey,
  unescapeField,
} from '../../src/catalog/catalog-index.js';
import { localBackend } from '../../src/storage/local-backend.js';
import { s3Backend } from '../../src/storage/s3-backend.js';
import { swiftBackend } from '../../src/storage/swift-backend.js';

const summary = (extra: Partial<BackupSummary> = {}): BackupSummary => ({
  id: '3f2a9c4e-1b7d-4e0a-9c51-2d6f8a0b7e13',
  instance_id: 'inst-7',
  name: 'nightly',
  created: '2026-11-20T03:00:00.123Z',
  state: 'COMPLETED',
  type: 'incremental',
  parent_id: '0a1b2c3d-0000-4e0a-9c51-2d6f8a0b7e13',
  stored_bytes: 123_456_789_012,
  strategy: 'NodetoolSnapshot',
  location: 'http://127.0.0.1:8080/v1/AUTH_test/database_backups/3f2a9c4e-1b7d-4e0a-9c51-2d6f8a0b7e13.tar.gz',
  checksum: '5d41402abc4b2a76b9719d911017c592',
  ...extra,
});

/** What a listing gets back from the key of `s`'s entry. */
const roundTrip = (s: BackupSummary, budget = 1000) => {
  const key = indexKeyOf(s, 4321, budget);
  expect(key, 'a key').to.be.a('string');
  return { key: key!, entry: parseIndexKey(key!) };
};

/** Characters every backend takes in a key without special handling (S3's "safe" set, no '/' inside the entry). */
const SAFE_KEY = /^catalog-index\/[A-Za-z0-9._-]+$/;

describe('catalog index keys', () => {
  it('carry the whole summary and the record size, and give them back', () => {
    const { key, entry } = roundTrip(summary());
    expect(key).to.match(SAFE_KEY);
    expect(key.startsWith(indexPrefixOf(summary().id))).to.equal(true);
    expect(entry).to.deep.include({ kind: 'summary', id: summary().id, recordBytes: 4321 });
    expect(entry?.kind === 'summary' && entry.summary).to.deep.equal(summary());
  });

  it('keep a full backup without a parent, and a record without a name', () => {
    const s = summary({ type: 'full', parent_id: null, name: null, state: 'DELETE_FAILED', stored_bytes: 0 });
    const { entry } = roundTrip(s);
    expect(entry?.kind === 'summary' && entry.summary).to.deep.equal(s);
  });

  it('give back names with odd characters exactly', () => {
    for (const name of ['a.b_c-d', 'with space/slash\\back', 'ünïcödé 名前 🎉', '%2F_2e..', '', 'tab\there\nnewline', 'quote"\'<>&|~']) {
      const { key, entry } = roundTrip(summary({ name }));
      expect(key, name).to.match(SAFE_KEY);
      expect(entry?.kind === 'summary' && entry.summary.name, name).to.equal(name);
    }
  });

  it('give back ids, instances and strategies with dots and underscores, and a created time that is not toISOString()', () => {
    const s = summary({ id: 'my.backup_1', instance_id: 'a:b.c_d', strategy: 'x.y_z', parent_id: 'p_1.2', created: '2026-11-20T03:00:00+02:00' });
    const { key, entry } = roundTrip(s);
    expect(key.startsWith(`${INDEX_PREFIX}my_2ebackup_5f1.`)).to.equal(true);
    expect(entry?.kind === 'summary' && entry.summary).to.deep.equal(s);
  });

  it(`shorten a long name to ${INDEX_NAME_LIMIT} characters, marked with '…'`, () => {
    const name = 'x'.repeat(300);
    const { key, entry } = roundTrip(summary({ name }));
    expect(key.length).to.be.at.most(1000);
    expect(entry?.kind === 'summary' && entry.summary.name).to.equal(`${'x'.repeat(INDEX_NAME_LIMIT)}…`);
  });

  it('shorten a name further to fit the budget, never cutting a character in two', () => {
    const name = '名前'.repeat(40);
    const full = indexKeyOf(summary({ name: '' }), 4321, 1000)!;
    // Room for 10 escaped three-byte characters (9 bytes each) and a bit.
    const budget = full.length + 10 * 9 + 4;
    const key = indexKeyOf(summary({ name }), 4321, budget)!;
    expect(key.length).to.be.at.most(budget);
    const entry = parseIndexKey(key);
    expect(entry?.kind === 'summary' && entry.summary.name).to.equal(`${'名前'.repeat(5)}…`);
  });

  it('fall back to a reference when even the summary without a name does not fit, and to nothing when that does not either', () => {
    const s = summary();
    const key = indexKeyOf(s, 4321, indexKeyBudget(localBackend))!;
    expect(key.length).to.be.at.most(indexKeyBudget(localBackend));
    expect(parseIndexKey(key)).to.deep.equal({ kind: 'reference', key, id: s.id, recordBytes: 4321 });
    expect(indexKeyOf(summary({ id: `a${'._'.repeat(63)}` }), 4321, 220)).to.equal(undefined);
  });

  it('stay within 1,024 bytes for the longest ids, instance ids and locations on Swift and S3', () => {
    const s = summary({ id: 'i'.repeat(128), instance_id: 'j'.repeat(255), parent_id: 'p'.repeat(128), location: `http://swift/${'ü'.repeat(200)}`, name: '🎉'.repeat(100) });
    for (const backend of [swiftBackend, s3Backend]) {
      const key = indexKeyOf(s, 4321, indexKeyBudget(backend))!;
      expect(Buffer.byteLength(key), backend.name).to.be.at.most(1000);
      expect(parseIndexKey(key)?.id).to.equal(s.id);
    }
  });

  it('are not mistaken for keys that are not whole entries', () => {
    const { key } = roundTrip(summary());
    // Swift's temporary segment of the entry while it is uploaded.
    expect(parseIndexKey(`${key}_00000000`)).to.equal(undefined);
    expect(parseIndexKey(key.replace('.1.', '.2.'))).to.equal(undefined);
    expect(parseIndexKey(key.replace('COMPLETED', 'VANISHED'))).to.equal(undefined);
    expect(parseIndexKey(key.slice(0, -2))).to.equal(undefined);
    expect(parseIndexKey('catalog-index/readme.txt')).to.equal(undefined);
    expect(parseIndexKey(`catalog/${key.slice(INDEX_PREFIX.length)}`)).to.equal(undefined);
    // An escape that escapeField would not write (upper-case hex, an escaped safe character, a broken UTF-8 sequence).
    expect(unescapeField('a_2E')).to.equal(undefined);
    expect(unescapeField('_41')).to.equal(undefined);
    expect(unescapeField('_c3')).to.equal(undefined);
    expect(unescapeField('a.b')).to.equal(undefined);
  });

  it('put one backup\'s entries under a prefix no other id shares', () => {
    expect(indexPrefixOf('abc')).to.equal('catalog-index/abc.');
    expect(indexKeyOf(summary({ id: 'abcd' }), 1, 1000)!.startsWith(indexPrefixOf('abc'))).to.equal(false);
    expect(indexKeyOf(summary({ id: 'abc.d' }), 1, 1000)!.startsWith(indexPrefixOf('abc'))).to.equal(false);
  });

  it('escape every byte but letters, digits and "-", reversibly', () => {
    expect(escapeField('a-Z9')).to.equal('a-Z9');
    expect(escapeField('a.b_c/d é')).to.equal('a_2eb_5fc_2fd_20_c3_a9');
    expect(unescapeField('a_2eb_5fc_2fd_20_c3_a9')).to.equal('a.b_c/d é');
  });
});
