import { notSimulated, syntaxError } from './errors.js';

/**
 * A small, honest statement matcher for the handful of CQL statement shapes the guest agent, the
 * driver and the tests send: SELECT and UPDATE with equality on the partition key, CREATE / ALTER
 * ROLE, LIST ROLES. It is NOT a CQL engine: anything else that starts like CQL (other statements,
 * clauses, non-string constants, named bind markers) is reported as `unsupported` (answered as a
 * server error saying so), and input that does not start like CQL gets Cassandra's syntax error.
 * Only the leading-token syntax error reproduces Cassandra's text exactly; later syntax errors
 * imitate ANTLR's "mismatched input" wording.
 */

/** A string constant or a `?` bind marker (numbered in order of appearance). */
export type Term = { kind: 'literal'; value: string } | { kind: 'marker'; index: number };

export interface TableRef {
  keyspace?: string;
  table: string;
}

/** `column = term` in a WHERE clause (the only relation the matcher accepts). */
export interface Relation {
  column: string;
  term: Term;
}

export interface RoleOptions {
  password?: string;
  login?: boolean;
  superuser?: boolean;
}

export type Statement =
  | { kind: 'select'; table: TableRef; columns: string[] | '*'; where: Relation[] }
  | { kind: 'update'; table: TableRef; assignments: Relation[]; where: Relation[] }
  | { kind: 'create_role'; role: string; ifNotExists: boolean; options: RoleOptions }
  | { kind: 'alter_role'; role: string; options: RoleOptions }
  | { kind: 'list_roles' }
  | { kind: 'unsupported'; what: string };

type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'marker' | 'punct' | 'eof';

interface Token {
  kind: TokenKind;
  /** Identifier as written, literal value, or punctuation. */
  text: string;
  line: number;
  column: number;
  /** Offset in the query text. */
  start: number;
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const push = (kind: TokenKind, text: string, start: number): void => {
    tokens.push({ kind, text, line, column: start - lineStart, start });
  };
  while (i < query.length) {
    const c = query[i] as string;
    const start = i;
    if (c === '\n') {
      i += 1;
      line += 1;
      lineStart = i;
    } else if (/\s/.test(c)) {
      i += 1;
    } else if (query.startsWith('--', i) || query.startsWith('//', i)) {
      while (i < query.length && query[i] !== '\n') i += 1;
    } else if (query.startsWith('/*', i)) {
      const close = query.indexOf('*/', i + 2);
      i = close === -1 ? query.length : close + 2;
    } else if (c === "'" || c === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= query.length) throw syntaxError(`line ${line}:${start - lineStart} unterminated ${c === "'" ? 'string literal' : 'quoted identifier'}`);
        if (query[i] === c && query[i + 1] === c) {
          value += c;
          i += 2;
        } else if (query[i] === c) {
          i += 1;
          break;
        } else {
          value += query[i];
          i += 1;
        }
      }
      push(c === "'" ? 'string' : 'qident', value, start);
    } else if (query.startsWith('$$', i)) {
      const close = query.indexOf('$$', i + 2);
      if (close === -1) throw syntaxError(`line ${line}:${start - lineStart} unterminated string literal`);
      i = close + 2;
      push('string', query.slice(start + 2, close), start);
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(query[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      i += (NUMBER.exec(query) as RegExpExecArray)[0].length;
      push('number', query.slice(start, i), start);
    } else if (/[a-zA-Z_]/.test(c)) {
      while (i < query.length && /[a-zA-Z0-9_]/.test(query[i] as string)) i += 1;
      push('ident', query.slice(start, i), start);
    } else if (c === '?') {
      i += 1;
      push('marker', '?', start);
    } else if (c === ':' && /[a-zA-Z_]/.test(query[i + 1] ?? '')) {
      throw notSimulated('named bind markers (:name)');
    } else {
      const two = query.slice(i, i + 2);
      const op = ['<=', '>=', '!='].includes(two) ? two : c;
      i += op.length;
      push('punct', op, start);
    }
  }
  tokens.push({ kind: 'eof', text: '<EOF>', line, column: i - lineStart, start: i });
  return tokens;
}

/** Keywords that begin a CQL statement Cassandra 4.0 knows. */
const STATEMENT_KEYWORDS = new Set(['select', 'insert', 'update', 'delete', 'batch', 'begin', 'apply', 'use', 'truncate', 'create', 'alter', 'drop', 'grant', 'revoke', 'list', 'describe', 'desc']);

class Parser {
  private pos = 0;
  private markers = 0;

  constructor(
    private readonly query: string,
    private readonly tokens: Token[],
  ) {}

  private get token(): Token {
    return this.tokens[this.pos] as Token;
  }

  private fail(expecting: string): never {
    const t = this.token;
    const before = this.query.slice(Math.max(0, t.start - 40), t.start).trimStart();
    throw syntaxError(`line ${t.line}:${t.column} mismatched input '${t.text}' expecting ${expecting} (${before}[${t.text}]...)`);
  }

  private isKeyword(word: string): boolean {
    return this.token.kind === 'ident' && this.token.text.toLowerCase() === word;
  }

  private accept(word: string): boolean {
    if (!this.isKeyword(word)) return false;
    this.pos += 1;
    return true;
  }

  private expect(word: string): void {
    if (!this.accept(word)) this.fail(`K_${word.toUpperCase()}`);
  }

  private acceptPunct(p: string): boolean {
    if (this.token.kind !== 'punct' || this.token.text !== p) return false;
    this.pos += 1;
    return true;
  }

  private expectPunct(p: string): void {
    if (!this.acceptPunct(p)) this.fail(`'${p}'`);
  }

  /** An identifier: unquoted ones are case-insensitive (lower-cased), quoted ones kept as written. */
  private identifier(): string {
    const t = this.token;
    if (t.kind === 'ident') {
      this.pos += 1;
      return t.text.toLowerCase();
    }
    if (t.kind === 'qident') {
      this.pos += 1;
      return t.text;
    }
    return this.fail('IDENT');
  }

  /** userOrRoleName: an identifier or a string literal. */
  private roleName(): string {
    if (this.token.kind === 'string') {
      const name = this.token.text;
      this.pos += 1;
      return name;
    }
    return this.identifier();
  }

  private tableRef(): TableRef {
    const first = this.identifier();
    if (this.acceptPunct('.')) return { keyspace: first, table: this.identifier() };
    return { table: first };
  }

  private term(): Term {
    const t = this.token;
    if (t.kind === 'marker') {
      this.pos += 1;
      return { kind: 'marker', index: this.markers++ };
    }
    if (t.kind === 'string') {
      this.pos += 1;
      return { kind: 'literal', value: t.text };
    }
    if (t.kind === 'number' || (t.kind === 'punct' && t.text === '{') || (t.kind === 'ident' && ['true', 'false', 'null'].includes(t.text.toLowerCase()))) {
      throw notSimulated(`the constant ${t.text} (only string constants are modelled)`);
    }
    return this.fail('a constant');
  }

  /** `col = term (AND col = term)*`; other operators are outside what the matcher models. */
  private relations(): Relation[] | undefined {
    const out: Relation[] = [];
    do {
      const column = this.identifier();
      if (!this.acceptPunct('=')) return undefined;
      out.push({ column, term: this.term() });
    } while (this.accept('and'));
    return out;
  }

  private end(): void {
    this.acceptPunct(';');
    if (this.token.kind !== 'eof') this.fail('EOF');
  }

  parse(): Statement {
    const first = this.token;
    const keyword = first.kind === 'ident' ? first.text.toLowerCase() : '';
    if (!STATEMENT_KEYWORDS.has(keyword)) {
      throw syntaxError(`line ${first.line}:${first.column} no viable alternative at input '${first.text}' ([${first.text}]...)`);
    }
    const statement = this.statement(keyword);
    if (statement.kind !== 'unsupported') this.end();
    return statement;
  }

  private unsupported(): Statement {
    const words = this.query.trim().split(/\s+/).slice(0, 3).join(' ');
    return { kind: 'unsupported', what: `${words} ...` };
  }

  private statement(keyword: string): Statement {
    this.pos += 1;
    switch (keyword) {
      case 'select':
        return this.select();
      case 'update':
        return this.update();
      case 'create':
        return this.accept('role') ? this.createRole() : this.unsupported();
      case 'alter':
        return this.accept('role') ? this.alterRole() : this.unsupported();
      case 'list':
        // LIST ROLES OF <role> and NORECURSIVE are outside the matcher.
        return this.accept('roles') && !this.isKeyword('of') && !this.isKeyword('norecursive') ? { kind: 'list_roles' } : this.unsupported();
      default:
        return this.unsupported();
    }
  }

  private select(): Statement {
    if (this.isKeyword('json') || this.isKeyword('distinct')) return this.unsupported();
    let columns: string[] | '*';
    if (this.acceptPunct('*')) {
      columns = '*';
    } else {
      columns = [];
      do {
        columns.push(this.identifier());
        // Functions (`count(*)`) and aliases (`AS`) are outside the matcher.
        if ((this.token.kind === 'punct' && this.token.text === '(') || this.isKeyword('as')) return this.unsupported();
      } while (this.acceptPunct(','));
    }
    this.expect('from');
    const table = this.tableRef();
    let where: Relation[] = [];
    if (this.accept('where')) {
      const relations = this.relations();
      if (!relations) return this.unsupported();
      where = relations;
    }
    if (['order', 'per', 'group', 'limit', 'allow'].some((k) => this.isKeyword(k))) return this.unsupported();
    return { kind: 'select', table, columns, where };
  }

  private update(): Statement {
    const table = this.tableRef();
    if (this.isKeyword('using')) return this.unsupported();
    this.expect('set');
    const assignments: Relation[] = [];
    do {
      const column = this.identifier();
      this.expectPunct('=');
      const t = this.token;
      // `col = col + ...` (collection and counter operations) is outside the matcher.
      if (t.kind === 'ident' && !['true', 'false', 'null'].includes(t.text.toLowerCase())) return this.unsupported();
      assignments.push({ column, term: this.term() });
    } while (this.acceptPunct(','));
    this.expect('where');
    const where = this.relations();
    if (!where || this.isKeyword('if')) return this.unsupported();
    return { kind: 'update', table, assignments, where };
  }

  private roleOptions(): RoleOptions | undefined {
    const options: RoleOptions = {};
    const once = (name: 'password' | 'login' | 'superuser'): void => {
      if (options[name] !== undefined) throw syntaxError(`Multiple definition for property '${name.toUpperCase()}'`);
    };
    do {
      if (this.accept('password')) {
        once('password');
        this.expectPunct('=');
        if (this.token.kind !== 'string') this.fail('STRING_LITERAL');
        options.password = this.token.text;
        this.pos += 1;
      } else if (this.isKeyword('login') || this.isKeyword('superuser')) {
        const name = this.token.text.toLowerCase() as 'login' | 'superuser';
        this.pos += 1;
        once(name);
        this.expectPunct('=');
        const value = this.token.text.toLowerCase();
        if (this.token.kind !== 'ident' || !['true', 'false'].includes(value)) this.fail('BOOLEAN');
        this.pos += 1;
        options[name] = value === 'true';
      } else {
        // OPTIONS = {...}, ACCESS TO DATACENTERS ...
        return undefined;
      }
    } while (this.accept('and'));
    return options;
  }

  private createRole(): Statement {
    let ifNotExists = false;
    if (this.accept('if')) {
      this.expect('not');
      this.expect('exists');
      ifNotExists = true;
    }
    const role = this.roleName();
    let options: RoleOptions = {};
    if (this.accept('with')) {
      const parsed = this.roleOptions();
      if (!parsed) return this.unsupported();
      options = parsed;
    }
    return { kind: 'create_role', role, ifNotExists, options };
  }

  private alterRole(): Statement {
    const role = this.roleName();
    let options: RoleOptions = {};
    if (this.accept('with')) {
      const parsed = this.roleOptions();
      if (!parsed) return this.unsupported();
      options = parsed;
    }
    return { kind: 'alter_role', role, options };
  }
}

export function parseStatement(query: string): Statement {
  return new Parser(query, tokenize(query)).parse();
}
