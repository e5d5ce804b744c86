import { hashPassword, ROLE_MANAGER_CLASS, type AuthenticatedUser, type AuthService } from './auth.js';
import type { CqlBackend, RoleColumns } from './backend.js';
import { isReadableSystemTable, servedTable, VIRTUAL_KEYSPACES, type ColumnDef, type ServedTable } from './catalog.js';
import { deserialize, parseType, typeName, type CqlType } from './cql-types.js';
import { invalidRequest, notSimulated, unauthorized } from './errors.js';
import type { Literal, ParsedStatement, Relation, RoleOptions, Statement, TableRef, Term } from './statements.js';

/**
 * Runs matched statements against the node: resolution of keyspace, table and columns (with
 * Cassandra's InvalidRequest texts), authorisation as ClientState and the role statements do it
 * (Unauthorized texts), then the read or write. Each statement is first planned (what PREPARE
 * returns: bind variables, partition-key indexes, result columns) and then run with its values.
 */
export interface ColumnSpec {
  keyspace: string;
  table: string;
  name: string;
  type: CqlType;
}

export type ResultSet =
  | { kind: 'void' }
  | { kind: 'rows'; columns: ColumnSpec[]; rows: unknown[][] }
  | { kind: 'set_keyspace'; keyspace: string };

/** A connection's state: who logged in and the keyspace of USE. */
export interface Session {
  user: AuthenticatedUser | undefined;
  keyspace: string | undefined;
}

export type BoundValue = Buffer | null | 'unset';

export interface Plan {
  bindSpecs: ColumnSpec[];
  pkIndexes: number[];
  /** Columns of the rows a SELECT returns; undefined for other statements. */
  resultColumns: ColumnSpec[] | undefined;
  run(values: BoundValue[], session: Session): Promise<ResultSet>;
}

const VOID: ResultSet = { kind: 'void' };
const INT = parseType('int');

interface ResolvedTable {
  keyspace: string;
  table: string;
  served: ServedTable | undefined;
}

function spec(t: ResolvedTable, column: ColumnDef): ColumnSpec {
  return { keyspace: t.keyspace, table: t.table, name: column.name, type: column.type };
}

/** Constants.Literal / Sets.Literal assignment checks, with their messages. */
function literalValue(column: ColumnDef, literal: Literal): unknown {
  const type = column.type;
  const native = type.kind === 'native' ? type.name : undefined;
  const bad = (kind: string, text: string): Error => invalidRequest(`Invalid ${kind} constant (${text}) for "${column.name}" of type ${typeName(type)}`);
  switch (literal.type) {
    case 'null':
      return null;
    case 'string':
      if (native === 'text' || native === 'ascii' || native === 'inet' || native === 'uuid' || native === 'timeuuid') return literal.value;
      throw bad('STRING', literal.value);
    case 'integer':
      if (native === 'int') return Number(literal.text);
      if (native === 'bigint') return BigInt(literal.text);
      if (native === 'double') return Number(literal.text);
      throw bad('INTEGER', literal.text);
    case 'float':
      if (native === 'double') return Number(literal.text);
      throw bad('FLOAT', literal.text);
    case 'boolean':
      if (native === 'boolean') return literal.value;
      throw bad('BOOLEAN', String(literal.value));
    case 'set': {
      if (type.kind !== 'set') throw invalidRequest(`Invalid set literal for ${column.name} of type ${typeName(type)}`);
      const element: ColumnDef = { name: column.name, type: type.element, kind: column.kind };
      return [...new Set(literal.items.map((item) => literalValue(element, item)))].sort();
    }
  }
}

export class Executor {
  constructor(
    private readonly backend: CqlBackend,
    private readonly auth: AuthService,
  ) {}

  async plan(parsed: ParsedStatement, session: Session): Promise<Plan> {
    const s = parsed.statement;
    switch (s.kind) {
      case 'select':
        return this.planSelect(s, session);
      case 'update':
        return this.planWrite(s.table, s.assignments, s.where, session, 'UPDATE');
      case 'insert': {
        if (s.columns.length !== s.values.length) throw invalidRequest('Unmatched column names/values');
        const pairs = s.columns.map((column, i) => ({ column, term: s.values[i] as Term }));
        return this.planInsert(s.table, pairs, session);
      }
      case 'delete':
        return this.planDelete(s.table, s.where, session);
      case 'use':
        return this.fixed(async (sess) => {
          if (!(await this.keyspaceNames()).includes(s.keyspace)) throw invalidRequest(`Keyspace '${s.keyspace}' does not exist`);
          sess.keyspace = s.keyspace;
          return { kind: 'set_keyspace', keyspace: s.keyspace };
        });
      case 'create_role':
        return this.fixed((sess) => this.createRole(s, sess));
      case 'alter_role':
        return this.fixed((sess) => this.alterRole(s, sess));
      case 'drop_role':
        return this.fixed((sess) => this.dropRole(s, sess));
      case 'list_roles':
        return this.fixed((sess) => this.listRoles(s, sess));
      case 'unsupported':
        throw notSimulated(s.what);
    }
  }

  /** A statement without bind variables. */
  private fixed(run: (session: Session) => Promise<ResultSet>): Plan {
    return { bindSpecs: [], pkIndexes: [], resultColumns: undefined, run: (_values, session) => run(session) };
  }

  private async keyspaceNames(): Promise<string[]> {
    return [...(await this.backend.keyspaces()).map((k) => k.name), ...VIRTUAL_KEYSPACES];
  }

  /** Schema.validateTable: the keyspace, then the table, must exist. */
  private async resolve(ref: TableRef, session: Session): Promise<ResolvedTable> {
    const keyspace = ref.keyspace ?? session.keyspace;
    if (keyspace === undefined) throw invalidRequest('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
    const served = servedTable(keyspace, ref.table);
    if (VIRTUAL_KEYSPACES.includes(keyspace)) {
      if (!served) throw notSimulated(`the virtual table ${keyspace}.${ref.table}`);
      return { keyspace, table: ref.table, served };
    }
    const ks = (await this.backend.keyspaces()).find((k) => k.name === keyspace);
    if (!ks) throw invalidRequest(`keyspace ${keyspace} does not exist`);
    if (!ks.tables.includes(ref.table)) throw invalidRequest(`unconfigured table ${ref.table}`);
    return { keyspace, table: ref.table, served };
  }

  private column(table: ServedTable, name: string): ColumnDef {
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw invalidRequest(`Undefined column name ${name}`);
    return column;
  }

  /** The partition key of a WHERE clause that must be exactly `pk = term`. */
  private keyRelation(t: ResolvedTable, table: ServedTable, where: Relation[]): Relation {
    const strangers = where.filter((r) => this.column(table, r.column).kind !== 'partition_key');
    if (strangers.length > 0) throw invalidRequest(`Non PRIMARY KEY columns found in where clause: ${strangers.map((r) => r.column).join(', ')}`);
    const key = where.find((r) => r.column === table.partitionKey);
    if (!key) throw invalidRequest(`Some partition key parts are missing: ${table.partitionKey}`);
    if (where.length > 1) throw notSimulated(`several relations on the partition key of ${t.keyspace}.${t.table}`);
    return key;
  }

  /** The value of a term for a column: a literal checked against the type, or a decoded bound value. */
  private value(term: Term, column: ColumnDef, values: BoundValue[]): unknown {
    if (term.kind === 'literal') return literalValue(column, term.literal);
    const raw = values[term.index];
    if (raw === undefined || raw === 'unset') return 'unset';
    if (raw === null) return null;
    return deserialize(column.type, raw);
  }

  private keyValue(term: Term, column: ColumnDef, values: BoundValue[]): string {
    const v = this.value(term, column, values);
    if (v === 'unset') throw invalidRequest(`Invalid unset value for column ${column.name}`);
    if (v === null) throw invalidRequest(`Invalid null value in condition for column ${column.name}`);
    return String(v);
  }

  private markerSpecs(t: ResolvedTable, table: ServedTable, bindings: Array<{ column: string; term: Term }>, extra: ColumnSpec[] = []): { bindSpecs: ColumnSpec[]; pkIndexes: number[] } {
    const bound = bindings
      .filter((b) => b.term.kind === 'marker')
      .map((b) => ({ index: (b.term as { index: number }).index, name: (b.term as { name?: string }).name, column: this.column(table, b.column) }));
    const bindSpecs = bound.sort((a, b) => a.index - b.index).map((b) => ({ ...spec(t, b.column), name: b.name ?? b.column.name }));
    const pkIndexes = bound.filter((b) => b.column.kind === 'partition_key').map((b) => b.index);
    return { bindSpecs: [...bindSpecs, ...extra], pkIndexes };
  }

  private async authorizeData(session: Session, permission: 'SELECT' | 'MODIFY', t: ResolvedTable): Promise<void> {
    const user = session.user;
    if (!user) throw unauthorized('You have not logged in');
    if (permission === 'SELECT' && isReadableSystemTable(t.keyspace, t.table)) return;
    if (!this.auth.requireAuthorization || (await this.auth.isSuper(user))) return;
    throw unauthorized(`User ${user.name} has no ${permission} permission on <table ${t.keyspace}.${t.table}> or any of its parents`);
  }

  private async planSelect(s: Extract<Statement, { kind: 'select' }>, session: Session): Promise<Plan> {
    const t = await this.resolve(s.table, session);
    const table = t.served;
    if (!table) throw notSimulated(`reading ${t.keyspace}.${t.table} (the simulated node keeps no rows for it)`);
    const selected = s.selectors === '*' ? table.columns.map((c) => ({ column: c, label: c.name })) : s.selectors.map((sel) => ({ column: this.column(table, sel.column), label: sel.alias ?? sel.column }));
    for (const r of s.where) {
      if (this.column(table, r.column).kind !== 'partition_key' && !s.allowFiltering) {
        throw invalidRequest(
          'Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING',
        );
      }
    }
    if (s.where.some((r) => r.column !== table.partitionKey)) throw notSimulated(`filtering ${t.keyspace}.${t.table} on a column other than ${table.partitionKey}`);
    const limitSpec: ColumnSpec[] = s.limit?.kind === 'marker' ? [{ keyspace: t.keyspace, table: t.table, name: '[limit]', type: INT }] : [];
    const { bindSpecs, pkIndexes } = this.markerSpecs(t, table, s.where, limitSpec);
    const resultColumns = selected.map((x) => ({ ...spec(t, x.column), name: x.label }));
    return {
      bindSpecs,
      pkIndexes,
      resultColumns,
      run: async (values, sess) => {
        await this.authorizeData(sess, 'SELECT', t);
        let rows = await table.rows(this.backend);
        for (const r of s.where) {
          const key = this.keyValue(r.term, this.column(table, r.column), values);
          rows = rows.filter((row) => String(row[r.column]) === key);
        }
        if (s.limit) {
          const limit = this.value(s.limit, { name: '[limit]', type: INT, kind: 'regular' }, values);
          if (typeof limit !== 'number' || limit <= 0) throw invalidRequest('LIMIT must be strictly positive');
          rows = rows.slice(0, limit);
        }
        return { kind: 'rows', columns: resultColumns, rows: rows.map((row) => selected.map((x) => row[x.column.name] ?? null)) };
      },
    };
  }

  private writableTable(t: ResolvedTable, verb: string): ServedTable & Required<Pick<ServedTable, 'write'>> {
    const table = t.served;
    if (!table?.write) throw notSimulated(`${verb} on ${t.keyspace}.${t.table}`);
    return table as ServedTable & Required<Pick<ServedTable, 'write'>>;
  }

  private checkAssignments(t: ResolvedTable, table: ServedTable, assignments: Array<{ column: string; term: Term }>): void {
    const seen = new Set<string>();
    for (const a of assignments) {
      const column = this.column(table, a.column);
      if (column.kind !== 'regular') throw invalidRequest(`PRIMARY KEY part ${a.column} found in SET part`);
      if (seen.has(a.column)) throw invalidRequest(`Multiple definitions found for column ${a.column}`);
      seen.add(a.column);
      if (!table.writable?.includes(a.column)) throw notSimulated(`writing ${t.keyspace}.${t.table}.${a.column}`);
    }
  }

  private async applyWrite(table: ServedTable & Required<Pick<ServedTable, 'write'>>, key: string, assignments: Array<{ column: string; term: Term }>, values: BoundValue[]): Promise<void> {
    const cells: Record<string, unknown> = {};
    for (const a of assignments) {
      const v = this.value(a.term, this.column(table, a.column), values);
      if (v !== 'unset') cells[a.column] = v;
    }
    if (Object.keys(cells).length > 0) await table.write(this.backend, key, cells);
  }

  private async planWrite(ref: TableRef, assignments: Relation[], where: Relation[], session: Session, verb: string): Promise<Plan> {
    const t = await this.resolve(ref, session);
    const table = this.writableTable(t, verb);
    this.checkAssignments(t, table, assignments);
    const key = this.keyRelation(t, table, where);
    const { bindSpecs, pkIndexes } = this.markerSpecs(t, table, [...assignments, ...where]);
    return {
      bindSpecs,
      pkIndexes,
      resultColumns: undefined,
      run: async (values, sess) => {
        await this.authorizeData(sess, 'MODIFY', t);
        const keyValue = this.keyValue(key.term, this.column(table, key.column), values);
        await this.applyWrite(table, keyValue, assignments, values);
        return VOID;
      },
    };
  }

  private async planInsert(ref: TableRef, pairs: Array<{ column: string; term: Term }>, session: Session): Promise<Plan> {
    const t = await this.resolve(ref, session);
    const table = this.writableTable(t, 'INSERT');
    for (const p of pairs) this.column(table, p.column);
    const key = pairs.find((p) => p.column === table.partitionKey);
    if (!key) throw invalidRequest(`Some partition key parts are missing: ${table.partitionKey}`);
    const assignments = pairs.filter((p) => p !== key);
    this.checkAssignments(t, table, assignments);
    const { bindSpecs, pkIndexes } = this.markerSpecs(t, table, pairs);
    return {
      bindSpecs,
      pkIndexes,
      resultColumns: undefined,
      run: async (values, sess) => {
        await this.authorizeData(sess, 'MODIFY', t);
        await this.applyWrite(table, this.keyValue(key.term, this.column(table, key.column), values), assignments, values);
        return VOID;
      },
    };
  }

  private async planDelete(ref: TableRef, where: Relation[], session: Session): Promise<Plan> {
    const t = await this.resolve(ref, session);
    const table = t.served;
    if (!table?.delete) throw notSimulated(`DELETE on ${t.keyspace}.${t.table}`);
    const remove = table.delete;
    const key = this.keyRelation(t, table, where);
    const { bindSpecs, pkIndexes } = this.markerSpecs(t, table, where);
    return {
      bindSpecs,
      pkIndexes,
      resultColumns: undefined,
      run: async (values, sess) => {
        await this.authorizeData(sess, 'MODIFY', t);
        await remove(this.backend, this.keyValue(key.term, this.column(table, key.column), values));
        return VOID;
      },
    };
  }

  // Role statements: authorize() then validate() then execute(), as QueryProcessor.processStatement runs them.

  private user(session: Session): AuthenticatedUser {
    if (!session.user) throw unauthorized('You have not logged in');
    return session.user;
  }

  private ensureNotAnonymous(session: Session): void {
    if (this.user(session).anonymous) throw unauthorized('You have to be logged in and not anonymous to perform this request');
  }

  /** AuthenticationStatement.checkPermission (no permissions are ever granted here: superusers only). */
  private async checkRolePermission(session: Session): Promise<void> {
    const user = this.user(session);
    if (!this.auth.requireAuthorization || (await this.auth.isSuper(user))) return;
    throw unauthorized(`User ${user.name} does not have sufficient privileges to perform the requested operation`);
  }

  /** RoleOptions.validate against CassandraRoleManager.supportedOptions(). */
  private validateOptions(options: RoleOptions): void {
    if (options.password !== undefined && !this.auth.supportsPassword) throw invalidRequest(`${ROLE_MANAGER_CLASS} doesn't support PASSWORD`);
  }

  private async roleExists(name: string): Promise<boolean> {
    return (await this.auth.role(name)) !== undefined;
  }

  private async createRole(s: Extract<Statement, { kind: 'create_role' }>, session: Session): Promise<ResultSet> {
    await this.checkRolePermission(session);
    if (s.options.superuser === true && !(await this.auth.isSuper(this.user(session)))) {
      throw unauthorized('Only superusers can create a role with superuser status');
    }
    this.validateOptions(s.options);
    if (s.role === '') throw invalidRequest("Role name can't be an empty string");
    this.ensureNotAnonymous(session);
    const exists = await this.roleExists(s.role);
    if (exists && !s.ifNotExists) throw invalidRequest(`${s.role} already exists`);
    if (exists) return VOID;
    const columns: RoleColumns = { is_superuser: s.options.superuser ?? false, can_login: s.options.login ?? false };
    if (s.options.password !== undefined) columns.salted_hash = await hashPassword(s.options.password);
    await this.backend.writeRole(s.role, columns);
    return VOID;
  }

  private async alterRole(s: Extract<Statement, { kind: 'alter_role' }>, session: Session): Promise<ResultSet> {
    const user = this.user(session);
    const isSuper = await this.auth.isSuper(user);
    if (s.options.superuser !== undefined && !user.anonymous && user.name === s.role) {
      throw unauthorized("You aren't allowed to alter your own superuser status or that of a role granted to you");
    }
    if (s.options.superuser !== undefined && !isSuper) throw unauthorized('Only superusers are allowed to alter superuser status');
    if (!isSuper) {
      if (!user.anonymous && user.name === s.role) {
        // CassandraRoleManager.alterableOptions(): a role may change its own password, nothing else.
        if (s.options.login !== undefined) throw unauthorized("You aren't allowed to alter LOGIN");
        if (s.options.password !== undefined && !this.auth.supportsPassword) throw unauthorized("You aren't allowed to alter PASSWORD");
      } else {
        await this.checkRolePermission(session);
      }
    }
    this.validateOptions(s.options);
    if (Object.keys(s.options).length === 0) throw invalidRequest("ALTER [ROLE|USER] can't be empty");
    this.ensureNotAnonymous(session);
    if (!(await this.roleExists(s.role))) throw invalidRequest(`${s.role} doesn't exist`);
    const columns: RoleColumns = {};
    if (s.options.superuser !== undefined) columns.is_superuser = s.options.superuser;
    if (s.options.login !== undefined) columns.can_login = s.options.login;
    if (s.options.password !== undefined) columns.salted_hash = await hashPassword(s.options.password);
    await this.backend.writeRole(s.role, columns);
    return VOID;
  }

  private async dropRole(s: Extract<Statement, { kind: 'drop_role' }>, session: Session): Promise<ResultSet> {
    await this.checkRolePermission(session);
    const existing = await this.auth.role(s.role);
    if (existing?.is_superuser === true && !(await this.auth.isSuper(this.user(session)))) {
      throw unauthorized('Only superusers can drop a role with superuser status');
    }
    this.ensureNotAnonymous(session);
    if (!existing && !s.ifExists) throw invalidRequest(`${s.role} doesn't exist`);
    if (this.user(session).name === s.role) throw invalidRequest('Cannot DROP primary role for current login');
    if (existing) await this.backend.deleteRole(s.role);
    return VOID;
  }

  private async listRoles(s: Extract<Statement, { kind: 'list_roles' }>, session: Session): Promise<ResultSet> {
    this.ensureNotAnonymous(session);
    if (s.of !== undefined && !(await this.roleExists(s.of))) throw invalidRequest(`${s.of} doesn't exist`);
    const user = this.user(session);
    const seesAll = !this.auth.requireAuthorization || (await this.auth.isSuper(user));
    const wanted = s.of ?? (seesAll ? undefined : user.name);
    const roles = (await this.backend.roles()).filter((r) => wanted === undefined || r.role === wanted).sort((a, b) => (a.role < b.role ? -1 : 1));
    const column = (name: string, type: string): ColumnSpec => ({ keyspace: 'system_auth', table: 'roles', name, type: parseType(type) });
    return {
      kind: 'rows',
      columns: [column('role', 'text'), column('super', 'boolean'), column('login', 'boolean'), column('options', 'map<text, text>'), column('datacenters', 'text')],
      rows: roles.map((r) => [r.role, r.is_superuser === true, r.can_login === true, new Map(), 'ALL']),
    };
  }
}
