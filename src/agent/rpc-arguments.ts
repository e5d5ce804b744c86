import { describeBackupIdRule, isValidBackupId } from '../catalog/backup-id.js';
import { isObject, type JsonObject } from '../rpc/oslo-message.js';
import { MalformedMessageError } from '../rpc/rpc-errors.js';

/** `create_backup(backup_info)`, validated. */
export interface BackupOrder {
  id: string;
  name: string;
  description: string | null;
  /** The instance the control plane thinks it is talking to. */
  instanceId: string;
  type: 'full' | 'incremental';
  parent: { location: string; checksum: string } | null;
  swiftContainer: string | null;
  /** Our extensions (a Trove control plane sends neither): empty means everything. */
  keyspaces: string[];
  tables: string[];
}

/** `prepare(..., backup_info)`: what to restore. `instanceId` is the SOURCE instance. */
export interface RestoreOrder {
  id: string;
  instanceId: string | null;
  location: string;
  type: 'full' | 'incremental';
  checksum: string | null;
}

export interface PrepareOrder {
  backup: RestoreOrder | null;
  configContents: string | null;
  rootPassword: string | null;
  mountPoint: string | null;
}

export function parseBackupOrder(args: JsonObject, method: string): BackupOrder {
  const info = objectArg(args, 'backup_info', method);
  const field = fieldsOf(info, `${method}: backup_info`);
  const id = field.string('id');
  if (!isValidBackupId(id)) throw new MalformedMessageError(`${method}: backup_info.id '${id}' is not usable: ${describeBackupIdRule()}`);
  const parent = info.parent ?? null;
  let parentRef: BackupOrder['parent'] = null;
  if (parent !== null) {
    const p = fieldsOf(objectValue(parent, `${method}: backup_info.parent`), `${method}: backup_info.parent`);
    parentRef = { location: p.string('location'), checksum: p.string('checksum') };
  }
  const type = field.optionalString('backup_type') ?? (parentRef ? 'incremental' : 'full');
  if (type !== 'full' && type !== 'incremental') throw new MalformedMessageError(`${method}: backup_info.backup_type is '${type}', expected full or incremental`);
  return {
    id,
    name: field.optionalString('name') ?? id,
    description: field.optionalString('description'),
    instanceId: field.string('instance_id'),
    type,
    parent: parentRef,
    swiftContainer: field.optionalString('swift_container'),
    keyspaces: field.stringList('keyspaces'),
    tables: field.stringList('tables'),
  };
}

export function parsePrepareOrder(args: JsonObject, method: string): PrepareOrder {
  const field = fieldsOf(args, method);
  const backupInfo = args.backup_info ?? null;
  let backup: RestoreOrder | null = null;
  if (backupInfo !== null) {
    const info = fieldsOf(objectValue(backupInfo, `${method}: backup_info`), `${method}: backup_info`);
    const id = info.string('id');
    if (!isValidBackupId(id)) throw new MalformedMessageError(`${method}: backup_info.id '${id}' is not usable: ${describeBackupIdRule()}`);
    const type = info.optionalString('type') ?? 'full';
    if (type !== 'full' && type !== 'incremental') throw new MalformedMessageError(`${method}: backup_info.type is '${type}', expected full or incremental`);
    backup = { id, instanceId: info.optionalString('instance_id'), location: info.string('location'), type, checksum: info.optionalString('checksum') };
  }
  return {
    backup,
    configContents: field.optionalString('config_contents'),
    rootPassword: field.optionalString('root_password'),
    mountPoint: field.optionalString('mount_point'),
  };
}

function objectArg(args: JsonObject, name: string, method: string): JsonObject {
  if (!(name in args)) throw new MalformedMessageError(`${method}: argument ${name} is missing`);
  return objectValue(args[name], `${method}: argument ${name}`);
}

function objectValue(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new MalformedMessageError(`${what} is not an object`);
  return value;
}

/** Typed field readers whose errors name the field and what was expected. */
function fieldsOf(object: JsonObject, what: string) {
  const describe = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value);
  return {
    string(name: string): string {
      const value = object[name];
      if (typeof value !== 'string' || value === '') throw new MalformedMessageError(`${what}.${name} must be a non-empty string, got ${describe(value)}`);
      return value;
    },
    optionalString(name: string): string | null {
      const value = object[name];
      if (value === undefined || value === null || value === '') return null;
      if (typeof value !== 'string') throw new MalformedMessageError(`${what}.${name} must be a string or null, got ${describe(value)}`);
      return value;
    },
    stringList(name: string): string[] {
      const value = object[name];
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
        throw new MalformedMessageError(`${what}.${name} must be a list of names, got ${describe(value)}`);
      }
      return value as string[];
    },
  };
}
