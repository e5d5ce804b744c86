import { StorageAuthError, StorageError, errorMessage } from '../errors.js';

/** What every Swift request needs: a token and the account's URL. */
export interface SwiftSession {
  token: string;
  /** e.g. http://swift:8080/v1/AUTH_<project id>, without a trailing slash. */
  storageUrl: string;
  /** When Keystone says the token expires (ms since the epoch), when it says. */
  expiresAt?: number;
}

export type EndpointInterface = 'public' | 'internal' | 'admin';

/** Auth v1 (tempauth, swauth): `GET <authUrl>` with X-Auth-User / X-Auth-Key. */
export interface SwiftV1AuthOptions {
  authVersion?: 1;
  /** e.g. http://127.0.0.1:8080/auth/v1.0 */
  authUrl: string;
  /** `account:user` */
  user: string;
  /** Never logged, never in an error. */
  key: string;
}

/** Keystone v3, password method, scoped to a project by name. */
export interface SwiftV3AuthOptions {
  authVersion: 3;
  /** Keystone's URL, ending in /v3 or not (e.g. http://keystone:5000/v3). */
  authUrl: string;
  user: string;
  /** The user's password. Never logged, never in an error. */
  key: string;
  /** Default: Default */
  userDomainName?: string;
  projectName: string;
  /** Default: Default */
  projectDomainName?: string;
  /** Only endpoints of this region; any region when unset. */
  regionName?: string;
  /** Default: public */
  endpointInterface?: EndpointInterface;
}

/**
 * A token issued to someone else (Trove passes the user's own token and
 * project with each request). Keystone is asked only to validate it and hand
 * over its catalog; it cannot be renewed by the agent.
 */
export interface SwiftTokenAuthOptions {
  authVersion: 'token';
  /** Keystone's URL, ending in /v3 or not. */
  authUrl: string;
  /** Never logged, never in an error. */
  token: string;
  /** The project whose object-store endpoint to use; the token's own project when unset. */
  projectId?: string;
  regionName?: string;
  endpointInterface?: EndpointInterface;
}

export type SwiftAuthOptions = SwiftV1AuthOptions | SwiftV3AuthOptions | SwiftTokenAuthOptions;

export interface SwiftAuth {
  /** Logs in (or validates the given token) and finds the storage URL. */
  login(): Promise<SwiftSession>;
  /** False for a token given by the caller: a 401 cannot be fixed by logging in again. */
  readonly renewable: boolean;
  /** The message for a Swift request refused with 401 after what `login` could do. */
  refused(what: string, status: number): string;
}

interface CatalogEndpoint {
  interface?: string;
  region?: string | null;
  region_id?: string | null;
  url?: string;
}

interface CatalogService {
  type?: string;
  name?: string;
  endpoints?: CatalogEndpoint[];
}

interface TokenBody {
  token?: {
    expires_at?: string;
    project?: { id?: string; name?: string };
    catalog?: CatalogService[];
  };
}

/** One of the three ways of getting a Swift session; `timeoutMs` limits each Keystone or auth request. */
export function createSwiftAuth(options: SwiftAuthOptions, timeoutMs: number): SwiftAuth {
  switch (options.authVersion) {
    case undefined:
    case 1:
      return v1Auth(options, timeoutMs);
    case 3:
      return v3PasswordAuth(options, timeoutMs);
    case 'token':
      return tokenAuth(options, timeoutMs);
  }
}

function v1Auth(options: SwiftV1AuthOptions, timeoutMs: number): SwiftAuth {
  for (const name of ['authUrl', 'user', 'key'] as const) {
    if (!options[name]) throw new StorageError(`swift storage: option '${name}' is required`);
  }
  return {
    renewable: true,
    refused: (what, status) =>
      `swift: ${what} refused (HTTP ${status}) with a fresh token for user '${options.user}'; check that this user may write to the account`,
    async login() {
      const response = await send(options.authUrl, { headers: { 'X-Auth-User': options.user, 'X-Auth-Key': options.key } }, timeoutMs);
      await response.body?.cancel();
      if (response.status === 401 || response.status === 403) {
        throw new StorageAuthError(
          `swift: authentication refused for user '${options.user}' at ${options.authUrl} (HTTP ${response.status}); check swift_user and swift_key`,
        );
      }
      const token = response.headers.get('x-auth-token');
      const storageUrl = response.headers.get('x-storage-url');
      if (!response.ok || !token || !storageUrl) {
        throw new StorageError(`swift: authentication at ${options.authUrl} failed (HTTP ${response.status})`);
      }
      // tempauth says how long the token lives, in seconds.
      const lifetime = Number(response.headers.get('x-auth-token-expires') ?? NaN);
      return { token, storageUrl: storageUrl.replace(/\/+$/, ''), ...(lifetime > 0 ? { expiresAt: Date.now() + lifetime * 1000 } : {}) };
    },
  };
}

function v3PasswordAuth(options: SwiftV3AuthOptions, timeoutMs: number): SwiftAuth {
  for (const name of ['authUrl', 'user', 'key', 'projectName'] as const) {
    if (!options[name]) throw new StorageError(`swift storage: option '${name}' is required with Keystone v3`);
  }
  const tokensUrl = `${keystoneV3(options.authUrl)}/auth/tokens`;
  const userDomain = options.userDomainName || 'Default';
  const projectDomain = options.projectDomainName || 'Default';
  const who = `user '${options.user}' (domain '${userDomain}') in project '${options.projectName}' (domain '${projectDomain}')`;
  const body = JSON.stringify({
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: options.user, domain: { name: userDomain }, password: options.key } },
      },
      scope: { project: { name: options.projectName, domain: { name: projectDomain } } },
    },
  });
  return {
    renewable: true,
    refused: (what, status) => `swift: ${what} refused (HTTP ${status}) with a fresh Keystone token for ${who}; check the user's roles in that project`,
    async login() {
      const response = await send(tokensUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }, timeoutMs);
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        throw new StorageAuthError(
          `swift: Keystone at ${tokensUrl} refused ${who} (HTTP ${response.status}); check swift_user, swift_key, swift_user_domain_name, swift_project_name and swift_project_domain_name`,
        );
      }
      const token = response.headers.get('x-subject-token');
      const parsed = await tokenBody(response, `authentication of ${who} at ${tokensUrl}`);
      if (!token) throw new StorageError(`swift: Keystone at ${tokensUrl} answered without an X-Subject-Token header`);
      const projectId = parsed.token?.project?.id;
      const storageUrl = objectStoreUrl(parsed, {
        ...selection(options),
        ...(projectId ? { projectId } : {}),
        source: `the catalog Keystone returned for ${who}`,
      });
      return session(token, storageUrl, parsed);
    },
  };
}

function tokenAuth(options: SwiftTokenAuthOptions, timeoutMs: number): SwiftAuth {
  for (const name of ['authUrl', 'token'] as const) {
    if (!options[name]) throw new StorageError(`swift storage: option '${name}' is required with a request token`);
  }
  const tokensUrl = `${keystoneV3(options.authUrl)}/auth/tokens`;
  const project = options.projectId ? ` for project ${options.projectId}` : '';
  return {
    renewable: false,
    refused: (what, status) =>
      `swift: ${what} refused (HTTP ${status}): Swift no longer accepts the token that came with the request${project} (expired or revoked); ` +
      'the agent cannot renew a token it was given: retry the operation with a fresh token',
    async login() {
      // Validating one's own token: it is both the caller's and the subject.
      const response = await send(tokensUrl, { headers: { 'X-Auth-Token': options.token, 'X-Subject-Token': options.token } }, timeoutMs);
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        await response.body?.cancel();
        throw new StorageAuthError(
          `swift: Keystone at ${tokensUrl} refused the token that came with the request${project} (HTTP ${response.status}): it has expired or was revoked; ` +
            'retry the operation with a fresh token',
        );
      }
      const parsed = await tokenBody(response, `validation of the request's token at ${tokensUrl}`);
      const projectId = options.projectId || parsed.token?.project?.id;
      const storageUrl = objectStoreUrl(parsed, {
        ...selection(options),
        ...(projectId ? { projectId } : {}),
        source: `the catalog of the request's token${project}`,
      });
      return session(options.token, storageUrl, parsed);
    },
  };
}

/** fetch with a time limit; a network failure names the URL (never a header). */
async function send(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new StorageError(`swift: cannot reach ${url}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Keystone's v3 root from an auth URL given with or without the version. */
function keystoneV3(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? base : `${base}/v3`;
}

async function tokenBody(response: Response, what: string): Promise<TokenBody> {
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    throw new StorageError(`swift: ${what} failed (HTTP ${response.status})${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`);
  }
  try {
    return JSON.parse(text) as TokenBody;
  } catch {
    throw new StorageError(`swift: ${what} answered HTTP ${response.status} with a body that is not JSON`);
  }
}

function session(token: string, storageUrl: string, body: TokenBody): SwiftSession {
  const expiresAt = Date.parse(body.token?.expires_at ?? '');
  return { token, storageUrl, ...(Number.isFinite(expiresAt) ? { expiresAt } : {}) };
}

function selection(options: { regionName?: string; endpointInterface?: EndpointInterface }) {
  return { endpointInterface: options.endpointInterface ?? 'public', ...(options.regionName ? { regionName: options.regionName } : {}) };
}

/**
 * The object-store endpoint of the catalog with the wanted interface and
 * region. With a project id, an endpoint whose URL names that project
 * (`.../AUTH_<id>` or `.../<id>`) is preferred; one naming another project's
 * account is never chosen, so a token's catalog listing several accounts
 * cannot send backups to the wrong one. Endpoints naming no account (Ceph
 * RGW style) are used as they are.
 */
function objectStoreUrl(
  body: TokenBody,
  want: { endpointInterface: EndpointInterface; regionName?: string; projectId?: string; source: string },
): string {
  const catalog = body.token?.catalog ?? [];
  const endpoints = catalog.filter((service) => service.type === 'object-store').flatMap((service) => service.endpoints ?? []);
  const candidates = endpoints.filter(
    (endpoint) =>
      endpoint.url &&
      endpoint.interface === want.endpointInterface &&
      (want.regionName === undefined || endpoint.region_id === want.regionName || endpoint.region === want.regionName),
  );
  const segments = (url: string) => new URL(url).pathname.split('/').filter(Boolean);
  const names = (url: string, id: string) => segments(url).some((segment) => segment === id || segment === `AUTH_${id}`);
  const namesAnAccount = (url: string) => segments(url).some((segment) => segment.startsWith('AUTH_'));
  const projectId = want.projectId;
  const chosen = projectId
    ? (candidates.find((endpoint) => names(endpoint.url!, projectId)) ?? candidates.find((endpoint) => !namesAnAccount(endpoint.url!)))
    : candidates[0];
  if (chosen) return chosen.url!.replace(/\/+$/, '');

  const wanted = [
    `interface '${want.endpointInterface}'`,
    want.regionName ? `region '${want.regionName}'` : 'any region',
    ...(projectId ? [`for project ${projectId}`] : []),
  ].join(', ');
  const has =
    endpoints.length > 0
      ? `its object-store endpoints are: ${endpoints.map((e) => `${e.interface ?? '?'} ${e.region_id ?? e.region ?? '(no region)'} ${e.url ?? '(no url)'}`).join('; ')}`
      : `it has no object-store service (service types: ${catalog.map((s) => s.type ?? '?').join(', ') || 'none'})`;
  throw new StorageError(
    `swift: no object-store endpoint with ${wanted} in ${want.source}; ${has}. Check swift_endpoint_interface and swift_region_name`,
  );
}
