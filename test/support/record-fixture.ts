import type { BackupRecord } from '../../src/catalog/backup-record.js';

/**
 * A complete catalog record for tests and benches that write records
 * directly: COMPLETED, full (or incremental when a parent is given), with
 * neutral facts; `fields` says what the test is about.
 */
export function recordFixture(fields: Pick<BackupRecord, 'id' | 'location' | 'object_key' | 'stored_bytes'> & Partial<BackupRecord>, parent?: BackupRecord): BackupRecord {
  const created = fields.created ?? new Date().toISOString();
  return {
    instance_id: 'instance-1',
    name: fields.id,
    created,
    updated: created,
    state: 'COMPLETED',
    type: parent ? 'incremental' : 'full',
    strategy: 'NodetoolSnapshot',
    parent: parent ? { id: parent.id, location: parent.location, checksum: parent.checksum ?? parent.sha256 } : null,
    keyspaces: [],
    tables: [],
    archived_tables: [],
    file_count: 1,
    raw_bytes: fields.stored_bytes,
    sha256: 'c'.repeat(64),
    compression: 'none',
    data_directory_count: 1,
    cassandra_version: '4.0.11',
    cluster_name: 'Test Cluster',
    ring: { text: '', tokens: [] },
    ...fields,
  };
}
