import { hashPassword, ROLE_MANAGER_CLASS, type AuthenticatedUser, type AuthService } from './auth.js';
import type { CqlBackend, RoleColumns } from './backend.js';
import { isReadableSystemTable, servedTable, VIRTUAL_KEYSPACES, type ColumnDef, type ServedTable } from './catalog.js';
import { deserialize, parseType, typeName, type CqlType } from './cql-types.js';
import { invalidRequest, notSimulated, unauthorized } from './errors.js';
import type { Relation, RoleOptions, Statement, TableRef, Term } from './statements.js';

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

export type ResultSet = { kind: 'void' } | { kind: 'rows'; columns: ColumnSpec[]; rows: unknown[][] };

/** A connection's state: who logged in. */
export interface Session {
  user: AuthenticatedUser | undefined;
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

interface ResolvedTable {
  keyspace: string;
  table: string;
  served: ServedTable | undefined;
}

function spec(t: ResolvedTable, column: ColumnDef): ColumnSpec {
  return { keyspace: t.keyspace, table: t.table, name: column.name, type: column.type };
}

/** Constants.Literal's assignment check of a string constant, with its message. */
function literalValue(column: ColumnDef, value: string): string {
  const type = column.type;
  if (type.kind === 'native' && (type.name === 'text' || type.name === 'inet')) return value;
  throw invalidRequest(`Invalid STRING constant (${value}) for "${column.name}" of type ${typeName(type)}`);
}

export class Executor {
  constructor(
    private readonly backend: CqlBackend,
    private readonly auth: AuthService,
  ) {}

  async plan(s: Statement): Promise<Plan> {
    switch (s.kind) {
      case 'select':
        return this.planSelect(s);
      case 'update':
        return this.planUpdate(s.table, s.assignments, s.where);
      case 'create_role':
        return this.fixed((sess) => this.createRole(s, sess));
      case 'alter_role':
        return this.fixed((sess) => this.alterRole(s, sess));
      case 'list_roles':
        return this.fixed((sess) => this.listRoles(sess));
      case 'unsupported':
        throw notSimulated(s.what);
    }
  }

  /** A statement without bind variables. */
  private fixed(run: (session: Session) => Promise<ResultSet>): Plan {
    return { bindSpecs: [], pkIndexes: [], resultColumns: undefined, run: (_values, session) => run(session) };
  }

  /** Schema.validateTable: the keyspace, then the table, must exist. */
  private async resolve(ref: TableRef): Promise<ResolvedTable> {
    const keyspace = ref.keyspace;
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
    if (term.kind === 'literal') return literalValue(column, term.value);
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

  private markerSpecs(t: ResolvedTable, table: ServedTable, bindings: Relation[]): { bindSpecs: ColumnSpec[]; pkIndexes: number[] } {
    const bound = bindings
      .filter((b) => b.term.kind === 'marker')
      .map((b) => ({ index: (b.term as { index: number }).index, column: this.column(table, b.column) }));
    const bindSpecs = bound.sort((a, b) => a.index - b.index).map((b) => spec(t, b.column));
    const pkIndexes = bound.filter((b) => b.column.kind === 'partition_key').map((b) => b.index);
    return { bindSpecs, pkIndexes };
  }

  private async authorizeData(session: Session, permission: 'SELECT' | 'MODIFY', t: ResolvedTable): Promise<void> {
    const user = session.user;
    if (!user) throw unauthorized('You have not logged in');
    if (permission === 'SELECT' && isReadableSystemTable(t.keyspace, t.table)) return;
    if (!this.auth.requireAuthorization || (await this.auth.isSuper(user))) return;
    throw unauthorized(`User ${user.name} has no ${permission} permission on <table ${t.keyspace}.${t.table}> or any of its parents`);
  }

  private async planSelect(s: Extract<Statement, { kind: 'select' }>): Promise<Plan> {
    const t = await this.resolve(s.table);
    const table = t.served;
    if (!table) throw notSimulated(`reading ${t.keyspace}.${t.table} (the simulated node keeps no rows for it)`);
    const selected = s.columns === '*' ? table.columns : s.columns.map((name) => this.column(table, name));
    for (const r of s.where) {
      if (this.column(table, r.column).kind !== 'partition_key') {
        throw invalidRequest(
          'Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING',
        );
      }
    }
    const { bindSpecs, pkIndexes } = this.markerSpecs(t, table, s.where);
    const resultColumns = selected.map((column) => spec(t, column));
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
        return { kind: 'rows', columns: resultColumns, rows: rows.map((row) => selected.map((column) => row[column.name] ?? null)) };
      },
    };
  }

  private writableTable(t: ResolvedTable): ServedTable & Required<Pick<ServedTable, 'write'>> {
    const table = t.served;
    if (!table?.write) throw notSimulated(`UPDATE on ${t.keyspace}.${t.table}`);
    return table as ServedTable & Required<Pick<ServedTable, 'write'>>;
  }

  private checkAssignments(t: ResolvedTable, table: ServedTable, assignments: Relation[]): void {
    const seen = new Set<string>();
    for (const a of assignments) {
      const column = this.column(table, a.column);
      if (column.kind !== 'regular') throw invalidRequest(`PRIMARY KEY part ${a.column} found in SET part`);
      if (seen.has(a.column)) throw invalidRequest(`Multiple definitions found for column ${a.column}`);
      seen.add(a.column);
      if (!table.writable?.includes(a.column)) throw notSimulated(`writing ${t.keyspace}.${t.table}.${a.column}`);
    }
  }

  private async applyWrite(table: ServedTable & Required<Pick<ServedTable, 'write'>>, key: string, assignments: Relation[], values: BoundValue[]): Promise<void> {
    const cells: Record<string, unknown> = {};
    for (const a of assignments) {
      const v = this.value(a.term, this.column(table, a.column), values);
      if (v !== 'unset') cells[a.column] = v;
    }
    if (Object.keys(cells).length > 0) await table.write(this.backend, key, cells);
  }

  private async planUpdate(ref: TableRef, assignments: Relation[], where: Relation[]): Promise<Plan> {
    const t = await this.resolve(ref);
    const table = this.writableTable(t);
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

  private async listRoles(session: Session): Promise<ResultSet> {
    this.ensureNotAnonymous(session);
    const user = this.user(session);
    const seesAll = !this.auth.requireAuthorization || (await this.auth.isSuper(user));
    const wanted = seesAll ? undefined : user.name;
    const roles = (await this.backend.roles()).filter((r) => wanted === undefined || r.role === wanted).sort((a, b) => (a.role < b.role ? -1 : 1));
    const column = (name: string, type: string): ColumnSpec => ({ keyspace: 'system_auth', table: 'roles', name, type: parseType(type) });
    return {
      kind: 'rows',
      columns: [column('role', 'text'), column('super', 'boolean'), column('login', 'boolean'), column('options', 'map<text, text>'), column('datacenters', 'text')],
      rows: roles.map((r) => [r.role, r.is_superuser === true, r.can_login === true, new Map(), 'ALL']),
    };
  }
}
