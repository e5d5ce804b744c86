import { serialize, writeTypeOption } from './cql-types.js';
import { ProtocolError, type CqlError } from './errors.js';
import type { BoundValue, ColumnSpec, Plan, ResultSet } from './executor.js';
import { BodyReader, BodyWriter } from './wire.js';

/**
 * Bodies of the messages the server reads and writes (native_protocol_v4.spec section 4):
 * query parameters of QUERY and EXECUTE, RESULT of each kind, ERROR, SUPPORTED.
 */
export interface QueryParameters {
  values: BoundValue[];
  /** Names of the values when the client sent them by name (flag 0x40). */
  names: string[] | undefined;
  skipMetadata: boolean;
}

const QueryFlag = { VALUES: 0x01, SKIP_METADATA: 0x02, PAGE_SIZE: 0x04, PAGING_STATE: 0x08, SERIAL_CONSISTENCY: 0x10, TIMESTAMP: 0x20, NAMES: 0x40 } as const;

export function readQueryParameters(reader: BodyReader, version: number): QueryParameters {
  reader.short(); // consistency
  const flags = reader.byte();
  const values: BoundValue[] = [];
  let names: string[] | undefined;
  if (flags & QueryFlag.VALUES) {
    const count = reader.short();
    if (flags & QueryFlag.NAMES) names = [];
    for (let i = 0; i < count; i += 1) {
      if (names) names.push(reader.string().toLowerCase());
      const value = reader.value();
      if (value === 'unset' && version < 4) throw new ProtocolError('Unset values are not supported before protocol version 4');
      values.push(value);
    }
  }
  if (flags & QueryFlag.PAGE_SIZE) reader.int();
  if (flags & QueryFlag.PAGING_STATE) reader.bytes();
  if (flags & QueryFlag.SERIAL_CONSISTENCY) reader.short();
  if (flags & QueryFlag.TIMESTAMP) reader.long();
  return { values, names, skipMetadata: (flags & QueryFlag.SKIP_METADATA) !== 0 };
}

const ResultKind = { VOID: 0x0001, ROWS: 0x0002, PREPARED: 0x0004 } as const;
const MetadataFlag = { GLOBAL_TABLES_SPEC: 0x0001, NO_METADATA: 0x0004 } as const;

function sameTable(columns: ColumnSpec[]): boolean {
  const first = columns[0];
  return first !== undefined && columns.every((c) => c.keyspace === first.keyspace && c.table === first.table);
}

function writeColumnSpecs(out: BodyWriter, columns: ColumnSpec[], global: boolean): void {
  const first = columns[0];
  if (global && first) out.string(first.keyspace).string(first.table);
  for (const c of columns) {
    if (!global) out.string(c.keyspace).string(c.table);
    out.string(c.name);
    writeTypeOption(out, c.type);
  }
}

function writeRowsMetadata(out: BodyWriter, columns: ColumnSpec[] | undefined, skipMetadata: boolean): void {
  if (!columns || skipMetadata) {
    out.int(MetadataFlag.NO_METADATA).int(columns?.length ?? 0);
    return;
  }
  const global = sameTable(columns);
  out.int(global ? MetadataFlag.GLOBAL_TABLES_SPEC : 0).int(columns.length);
  writeColumnSpecs(out, columns, global);
}

export function resultBody(result: ResultSet, skipMetadata: boolean): Buffer {
  const out = new BodyWriter();
  switch (result.kind) {
    case 'void':
      return out.int(ResultKind.VOID).build();
    case 'rows':
      out.int(ResultKind.ROWS);
      writeRowsMetadata(out, result.columns, skipMetadata);
      out.int(result.rows.length);
      for (const row of result.rows) result.columns.forEach((c, i) => out.bytes(serialize(c.type, row[i])));
      return out.build();
  }
}

/** RESULT Prepared: id, bind-variable metadata (with partition-key indexes from v4), result metadata. */
export function preparedBody(id: Buffer, plan: Plan, version: number): Buffer {
  const out = new BodyWriter().int(ResultKind.PREPARED).shortBytes(id);
  const global = sameTable(plan.bindSpecs);
  out.int(global ? MetadataFlag.GLOBAL_TABLES_SPEC : 0).int(plan.bindSpecs.length);
  if (version >= 4) {
    out.int(plan.pkIndexes.length);
    for (const index of plan.pkIndexes) out.short(index);
  }
  writeColumnSpecs(out, plan.bindSpecs, global);
  writeRowsMetadata(out, plan.resultColumns, false);
  return out.build();
}

/** A [string] holds at most 65535 bytes; a message quoting a huge query is cut to fit. */
function fitString(text: string): string {
  let fitted = text;
  while (Buffer.byteLength(fitted, 'utf8') > 65_535) fitted = fitted.slice(0, Math.floor(fitted.length * 0.9));
  return fitted;
}

export function errorBody(error: CqlError): Buffer {
  const out = new BodyWriter().int(error.code).string(fitString(error.message));
  if (error.extra?.unpreparedId) out.shortBytes(error.extra.unpreparedId);
  return out.build();
}

/** SUPPORTED as Cassandra 4.0 answers OPTIONS (06_proxy_default.log), whatever this server implements. */
export function supportedBody(): Buffer {
  return new BodyWriter()
    .stringMultimap([
      ['PROTOCOL_VERSIONS', ['3/v3', '4/v4', '5/v5', '6/v6-beta']],
      ['COMPRESSION', ['snappy', 'lz4']],
      ['CQL_VERSION', ['3.4.5']],
    ])
    .build();
}
