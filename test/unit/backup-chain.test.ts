import { expect } from 'chai';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { BackupNotFoundError } from '../../src/errors.js';
import { resolveChain, walkChain } from '../../src/jobs/backup-chain.js';
import { recordFixture } from '../support/record-fixture.js';

const sha = (c: string): string => c.repeat(64);

function record(id: string, parent: BackupRecord | null, fields: Partial<BackupRecord> = {}): BackupRecord {
  const digest = sha(id.at(-1)!);
  return recordFixture({ id, location: `file:///store/${id}.tar`, object_key: `${id}.tar`, stored_bytes: 0, sha256: digest, checksum: digest, ...fields }, parent ?? undefined);
}

/** The catalog interface over a map: the records as a store would hold them. */
function catalogOf(...records: BackupRecord[]): Catalog {
  const byId = new Map(records.map((r) => [r.id, r]));
  return {
    description: 'test catalog',
    get: async (id) => byId.get(id),
    put: async (r) => void byId.set(r.id, r),
    async *list() {
      yield* byId.values();
    },
    delete: async (id) => void byId.delete(id),
  };
}

describe('backup chains (walkChain, resolveChain)', () => {
  const full = record('b0', null);
  const one = record('b1', full);
  const two = record('b2', one);

  it('resolves a chain full first', async () => {
    expect((await resolveChain(catalogOf(full, one, two), two)).map((r) => r.id)).to.deep.equal(['b0', 'b1', 'b2']);
  });

  it('names the missing ancestor and the backup that needs it', async () => {
    const walk = await walkChain(catalogOf(full, two), two);
    expect(walk.members.map((r) => r.id)).to.deep.equal(['b2']);
    expect(walk.breaks).to.deep.equal([{ kind: 'missing', id: 'b1', child: 'b2' }]);
    try {
      await resolveChain(catalogOf(full, two), two);
      expect.fail('a chain with a missing ancestor was resolved');
    } catch (err) {
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect((err as Error).message).to.equal('backup b2 needs its ancestor b1 (parent of b2), which is not in the catalog (test catalog); the chain cannot be restored, restore an older full backup');
    }
  });

  it('refuses to restore a chain whose ancestor was replaced after its child was taken on it', async () => {
    const replaced = record('b1', full, { sha256: sha('9'), checksum: sha('9') });
    const walk = await walkChain(catalogOf(full, replaced, two), two);
    // The walk goes on (verify reports every problem); the restore stops.
    expect(walk.members.map((r) => r.id)).to.deep.equal(['b2', 'b1', 'b0']);
    expect(walk.breaks).to.deep.equal([{ kind: 'replaced', id: 'b1', child: 'b2', linked: sha('1'), now: sha('9') }]);
    try {
      await resolveChain(catalogOf(full, replaced, two), two);
      expect.fail('a chain with a replaced ancestor was resolved');
    } catch (err) {
      expect((err as Error).message).to.match(/^backup b2 needs its ancestor b1, but b2 was taken on b1 with checksum 1{64} and b1 now has checksum 9{64}: it was replaced/);
    }
  });

  it('stops at a loop of parents and at an incomplete ancestor', async () => {
    const looping = record('b1', two);
    expect((await walkChain(catalogOf(looping, two), two)).breaks).to.deep.equal([{ kind: 'loop', id: 'b2' }]);
    const failed = record('b1', full, { state: 'FAILED' });
    expect((await walkChain(catalogOf(full, failed, two), two)).breaks).to.deep.equal([{ kind: 'incomplete', id: 'b1', reason: 'its state is FAILED, not COMPLETED' }]);
  });

  it('refuses a chain whose oldest member is an incremental backup without a parent', async () => {
    const orphan = record('b1', null, { type: 'incremental' });
    const child = record('b2', orphan);
    expect((await walkChain(catalogOf(orphan, child), child)).breaks).to.deep.equal([{ kind: 'no-full', oldest: 'b1' }]);
  });
});
