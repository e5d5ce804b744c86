import { unsafeEntryReason } from '../archive/tar-extract.js';
import { MalformedRecordError } from '../errors.js';
import { describeBackupIdRule, isValidBackupId } from './backup-id.js';
import { COMPRESSIONS, type EncryptionInfo } from '../archive/stored-format.js';
import { BACKUP_STATES, BACKUP_TYPES, type ArchivedTable, type BackupRecord, type ManifestFile } from './backup-record.js';

/**
 * A catalog record as read from storage is whatever the store holds: an old
 * version's, a hand-edited or a hostile one. It is checked here once, field
 * by field, so that restore, verify and the control plane work on a typed
 * BackupRecord and never on a manifest name like `../../etc/passwd`.
 *
 * Fields this version does not know are tolerated and kept: a record written
 * by a newer version still restores, and rewriting it (DELETE_FAILED) does
 * not lose what that version added.
 *
 * `source` names the record in the error (`catalog/<id>.json in swift
 * storage`); `expected.id`, the id it is stored under: a record copied under
 * another backup's name is not that backup's.
 */
export function parseBackupRecord(value: unknown, source: string, expected: { id?: string } = {}): BackupRecord {
  try {
    RECORD(value, '');
    const record = value as BackupRecord;
    checkDataDirectories(record);
    if (expected.id !== undefined && record.id !== expected.id) throw new Mismatch('id', `'${expected.id}', the id the record is stored under`, record.id);
    return record;
  } catch (err) {
    if (err instanceof Mismatch) throw new MalformedRecordError(`backup record ${source}${err.describe()}`);
    throw err;
  }
}

/** A value that is not what its field must be: where, what was expected, what was found, and why when that is not plain. */
class Mismatch extends Error {
  constructor(
    readonly at: string,
    readonly expected: string,
    readonly found: unknown,
    readonly why?: string,
  ) {
    super(`${at} must be ${expected}`);
  }

  describe(): string {
    const subject = this.at === '' ? ` must be ${this.expected}` : `: ${this.at} must be ${this.expected}`;
    return `${subject}, got ${shown(this.found)}${this.why ? ` (${this.why})` : ''}`;
  }
}

/** A value shown in an error stays short: a record holds no secret, but a field may hold megabytes. */
const SHOWN_LENGTH = 60;

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  // JSON quoting escapes control characters: a hostile value cannot forge a line of the output.
  if (typeof value === 'string') return value.length > SHOWN_LENGTH ? `${JSON.stringify(value.slice(0, SHOWN_LENGTH)).slice(0, -1)}…"` : JSON.stringify(value);
  return String(value);
}

/** Checks the value found at path `at`; throws a Mismatch when it is not what the field must be. */
type Rule = (value: unknown, at: string) => void;
/** One rule per field: adding a field to the type without saying how it is checked does not compile. */
type Rules<T> = { [K in keyof T]-?: Rule };

const leaf =
  (expected: string, test: (value: unknown) => boolean): Rule =>
  (value, at) => {
    if (!test(value)) throw new Mismatch(at, expected, value);
  };

const optional =
  (rule: Rule): Rule =>
  (value, at) => {
    if (value !== undefined) rule(value, at);
  };

const orNull =
  (rule: Rule): Rule =>
  (value, at) => {
    if (value !== null) rule(value, at);
  };

const listOf =
  (item: Rule, expected: string): Rule =>
  (value, at) => {
    if (!Array.isArray(value)) throw new Mismatch(at, expected, value);
    value.forEach((element, i) => item(element, `${at}[${i}]`));
  };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object with these fields; any others are tolerated (see parseBackupRecord). */
function shape<T>(rules: Rules<T>, expected: string): Rule {
  return (value, at) => {
    if (!isObject(value)) throw new Mismatch(at, expected, value);
    for (const [name, rule] of Object.entries<Rule>(rules)) {
      rule(Object.hasOwn(value, name) ? value[name] : undefined, at === '' ? name : `${at}.${name}`);
    }
  };
}

const oneOf = (values: readonly string[]): Rule => leaf(`one of ${values.join(', ')}`, (v) => typeof v === 'string' && values.includes(v));
const hex = (digits: number, what: string): Rule => {
  const pattern = new RegExp(`^[0-9a-f]{${digits}}$`);
  return leaf(`${what} (${digits} lowercase hex digits)`, (v) => typeof v === 'string' && pattern.test(v));
};

const STRING = leaf('a string', (v) => typeof v === 'string');
const STRINGS = listOf(STRING, 'a list of strings');
const WHOLE_NUMBER = leaf('a whole number >= 0', (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
const BACKUP_ID = leaf(`a backup id (${describeBackupIdRule()})`, (v) => typeof v === 'string' && isValidBackupId(v));

/** The restore's own rule for a TAR entry: a manifest may only name files a restore would write. */
const TAR_NAME: Rule = (value, at) => {
  const expected = 'a relative TAR name <keyspace>/<table-dir>/<file>';
  if (typeof value !== 'string') throw new Mismatch(at, expected, value);
  const why = unsafeEntryReason({ name: value, type: 'file' });
  if (why) throw new Mismatch(at, expected, value, why);
};

const MANIFEST_FILE = shape<ManifestFile>(
  { name: TAR_NAME, dir: WHOLE_NUMBER, size: WHOLE_NUMBER, crc32: hex(8, 'a CRC-32'), stored_in: BACKUP_ID },
  'an object {name, dir, size, crc32, stored_in}',
);

const ARCHIVED_TABLE = shape<ArchivedTable>({ keyspace: STRING, directory: STRING, schema: optional(STRING) }, 'an object {keyspace, directory}');

const ENCRYPTION = shape<EncryptionInfo>({ scheme: STRING, key_id: STRING }, 'an object {scheme, key_id}');

const PARENT = shape<NonNullable<BackupRecord['parent']>>({ id: BACKUP_ID, location: STRING, checksum: STRING }, 'null or an object {id, location, checksum}');

const RING = shape<BackupRecord['ring']>({ text: STRING, tokens: STRINGS }, 'an object {text, tokens}');

/**
 * Optional: what records written before it existed lack (`checksum`,
 * `files` before manifests), and what only some backups have.
 */
const RECORD = shape<BackupRecord>(
  {
    id: BACKUP_ID,
    instance_id: STRING,
    name: STRING,
    created: STRING,
    updated: STRING,
    state: oneOf(BACKUP_STATES),
    type: oneOf(BACKUP_TYPES),
    strategy: STRING,
    parent: orNull(PARENT),
    keyspaces: STRINGS,
    tables: STRINGS,
    archived_tables: listOf(ARCHIVED_TABLE, 'a list of tables {keyspace, directory}'),
    file_count: WHOLE_NUMBER,
    raw_bytes: WHOLE_NUMBER,
    stored_bytes: WHOLE_NUMBER,
    sha256: hex(64, 'a SHA-256 digest'),
    checksum: optional(STRING),
    location: STRING,
    object_key: STRING,
    compression: oneOf(COMPRESSIONS),
    encryption: optional(ENCRYPTION),
    files: optional(listOf(MANIFEST_FILE, 'a list of files {name, dir, size, crc32, stored_in}')),
    full_reason: optional(STRING),
    delete_failed_reason: optional(STRING),
    data_directory_count: WHOLE_NUMBER,
    cassandra_version: STRING,
    cluster_name: STRING,
    ring: RING,
  },
  'a JSON object',
);

/** A file is restored into the data directory it was read from: the record must say the node had that many. */
function checkDataDirectories(record: BackupRecord): void {
  const count = record.data_directory_count;
  record.files?.forEach((file, i) => {
    if (file.dir >= count) throw new Mismatch(`files[${i}].dir`, `a data directory index below data_directory_count (${count})`, file.dir);
  });
}
