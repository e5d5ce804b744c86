import bcrypt from 'bcryptjs';
import type { CqlBackend, RoleRow } from './backend.js';
import { badCredentials } from './errors.js';

/**
 * Authentication and the role facts authorisation needs, as Cassandra 4.0's PasswordAuthenticator,
 * CassandraRoleManager and their caches behave (org.apache.cassandra.auth.*):
 * - SASL PLAIN `\0user\0password`, decoded by PlainTextSaslAuthenticator.decodeCredentials;
 * - the salted hash checked with jBCrypt, which accepts `$2$` and `$2a$` only: a `$2b$`/`$2y$` hash
 *   throws "Invalid salt revision", logged as a warning, and the login fails (05_hash_prefix_tests.txt);
 * - a credentials cache (hash per role) and a roles cache (can_login, is_superuser), each entry
 *   kept for credentials_validity_in_ms / roles_validity_in_ms after it was loaded, which is why a
 *   changed password only takes effect ~2 s later (05_cache_*.txt). Failed look-ups are not cached.
 */
export type AuthenticatorName = 'AllowAllAuthenticator' | 'PasswordAuthenticator';
export type AuthorizerName = 'AllowAllAuthorizer' | 'CassandraAuthorizer';

export interface AuthSettings {
  authenticator: AuthenticatorName;
  authorizer: AuthorizerName;
  credentialsValidityMs: number;
  rolesValidityMs: number;
}

export const PASSWORD_AUTHENTICATOR_CLASS = 'org.apache.cassandra.auth.PasswordAuthenticator';
export const ROLE_MANAGER_CLASS = 'org.apache.cassandra.auth.CassandraRoleManager';

export interface AuthenticatedUser {
  name: string;
  anonymous: boolean;
}

export const ANONYMOUS: AuthenticatedUser = { name: 'anonymous', anonymous: true };

class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; loadedAt: number }>();

  constructor(private readonly validityMs: number) {}

  /** The cached value while fresh, else a fresh load (cached unless the loader throws). */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && Date.now() - entry.loadedAt < this.validityMs) return entry.value;
    const value = await load();
    if (this.validityMs > 0) this.entries.set(key, { value, loadedAt: Date.now() });
    return value;
  }
}

/** A Java exception thrown by jBCrypt, for the warning Cassandra logs with it. */
class BCryptException extends Error {
  constructor(
    readonly javaClass: string,
    message: string,
  ) {
    super(message);
  }
}

/** The checks jBCrypt 0.4's BCrypt.hashpw makes on a stored hash before hashing. */
function validateJbcryptHash(hash: string): void {
  const illegal = (message: string): BCryptException => new BCryptException('java.lang.IllegalArgumentException', message);
  if (hash[0] !== '$' || hash[1] !== '2') throw illegal('Invalid salt version');
  let offset = 3;
  if (hash[2] !== '$') {
    if (hash[2] !== 'a' || hash[3] !== '$') throw illegal('Invalid salt revision');
    offset = 4;
  }
  if (hash.length < offset + 25) {
    throw new BCryptException('java.lang.StringIndexOutOfBoundsException', `begin ${offset + 3}, end ${offset + 25}, length ${hash.length}`);
  }
  if ((hash[offset + 2] as string) > '$') throw illegal('Missing salt rounds');
  const roundsText = hash.slice(offset, offset + 2);
  const rounds = /^\d\d$/.test(roundsText) ? Number(roundsText) : NaN;
  if (Number.isNaN(rounds)) throw new BCryptException('java.lang.NumberFormatException', `For input string: "${roundsText}"`);
  if (rounds < 4 || rounds > 30) throw illegal('Bad number of rounds');
}

/** What CassandraRoleManager stores for a password: BCrypt.hashpw(password, BCrypt.gensalt(10)), a `$2a$10$` hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = (await bcrypt.genSalt(10)).replace(/^\$2b\$/, '$2a$');
  return bcrypt.hash(password, salt);
}

/**
 * Frames of the warning (jBCrypt 0.4 and Cassandra 4.0 line numbers; no real trace was captured,
 * only that the log says "Invalid salt revision").
 */
const CHECKPW_FRAMES = [
  '\tat org.mindrot.jbcrypt.BCrypt.hashpw(BCrypt.java:665)',
  '\tat org.mindrot.jbcrypt.BCrypt.checkpw(BCrypt.java:764)',
  '\tat org.apache.cassandra.auth.PasswordAuthenticator.checkpw(PasswordAuthenticator.java:82)',
  '\tat org.apache.cassandra.auth.PasswordAuthenticator.authenticate(PasswordAuthenticator.java:95)',
  '\tat org.apache.cassandra.auth.PasswordAuthenticator$PlainTextSaslAuthenticator.getAuthenticatedUser(PasswordAuthenticator.java:213)',
  '\tat org.apache.cassandra.transport.messages.AuthResponse.execute(AuthResponse.java:80)',
  '\tat org.apache.cassandra.transport.Message$Request.execute(Message.java:253)',
  '\tat org.apache.cassandra.transport.Dispatcher.processRequest(Dispatcher.java:86)',
  '\tat java.base/java.lang.Thread.run(Thread.java:840)',
];

/** PlainTextSaslAuthenticator.decodeCredentials: scan from the end for the two NUL separators. */
function decodePlain(token: Buffer): { username: string; password: string } {
  let user: Buffer | undefined;
  let pass: Buffer | undefined;
  let end = token.length;
  for (let i = token.length - 1; i >= 0; i -= 1) {
    if (token[i] !== 0) continue;
    if (pass === undefined) pass = token.subarray(i + 1, end);
    else if (user === undefined) user = token.subarray(i + 1, end);
    else throw badCredentials('Credential format error: username or password is empty or contains NUL(\\0) character');
    end = i;
  }
  if (!pass || pass.length === 0) throw badCredentials('Password must not be null');
  if (!user || user.length === 0) throw badCredentials('Authentication ID must not be null');
  return { username: user.toString('utf8'), password: pass.toString('utf8') };
}

interface RoleFacts {
  canLogin: boolean;
  isSuper: boolean;
}

export class AuthService {
  private readonly credentials: ExpiringCache<string>;
  private readonly roleFacts: ExpiringCache<RoleFacts>;

  constructor(
    readonly settings: AuthSettings,
    private readonly backend: CqlBackend,
  ) {
    this.credentials = new ExpiringCache(settings.credentialsValidityMs);
    this.roleFacts = new ExpiringCache(settings.rolesValidityMs);
  }

  get requireAuthentication(): boolean {
    return this.settings.authenticator === 'PasswordAuthenticator';
  }

  get requireAuthorization(): boolean {
    return this.settings.authorizer === 'CassandraAuthorizer';
  }

  /** CassandraRoleManager.supportedOptions(): PASSWORD only with PasswordAuthenticator. */
  get supportsPassword(): boolean {
    return this.requireAuthentication;
  }

  /** The role's row, read directly (CassandraRoleManager.getRole, not cached). */
  async role(name: string): Promise<RoleRow | undefined> {
    return (await this.backend.roles()).find((r) => r.role === name);
  }

  /** Roles.hasSuperuserStatus through the roles cache; the anonymous user never is one. */
  async isSuper(user: AuthenticatedUser): Promise<boolean> {
    if (user.anonymous) return false;
    return (await this.facts(user.name)).isSuper;
  }

  private facts(name: string): Promise<RoleFacts> {
    return this.roleFacts.get(name, async () => {
      const row = await this.role(name);
      return { canLogin: row?.can_login === true, isSuper: row?.is_superuser === true };
    });
  }

  /** AUTH_RESPONSE with PasswordAuthenticator: the logged-in user, or a 0x0100 error. */
  async login(token: Buffer): Promise<AuthenticatedUser> {
    const { username, password } = decodePlain(token);
    const incorrect = (): Error => badCredentials(`Provided username ${username} and/or password are incorrect`);
    const hash = await this.credentials.get(username, async () => {
      const row = await this.role(username);
      if (!row || typeof row.salted_hash !== 'string') throw incorrect();
      return row.salted_hash;
    });
    if (!(await this.checkpw(password, hash))) throw incorrect();
    // ClientState.login: the role must be allowed to log in (roles cache).
    if (!(await this.facts(username)).canLogin) throw badCredentials(`${username} is not permitted to log in`);
    return { name: username, anonymous: false };
  }

  /** PasswordAuthenticator.checkpw: a malformed hash is a failed login plus a warning in the log. */
  private async checkpw(password: string, hash: string): Promise<boolean> {
    try {
      validateJbcryptHash(hash);
      return await bcrypt.compare(password, hash);
    } catch (err) {
      const javaClass = err instanceof BCryptException ? err.javaClass : 'java.lang.IllegalArgumentException';
      this.backend.log.warn(
        'PasswordAuthenticator.java:82',
        'Error: invalid password hash encountered, rejecting user',
        [`${javaClass}: ${(err as Error).message}`, ...CHECKPW_FRAMES],
        'Native-Transport-Requests-1',
      );
      return false;
    }
  }
}
