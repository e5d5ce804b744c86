import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { swiftTestAccount } from './object-store-env.js';

/** One endpoint of the catalog, as Keystone v3 lists it. */
export interface FakeEndpoint {
  interface: 'public' | 'internal' | 'admin';
  region: string;
  url: string;
}

export interface FakeKeystoneOptions {
  user: string;
  password: string;
  projectName: string;
  /** Default: test, the tempauth account (AUTH_test) of the test Swift. */
  projectId?: string;
  /** Domain of both the user and the project. Default: Default */
  domain?: string;
  /** The catalog's object-store endpoints; default: the test Swift's account among decoys (see defaultEndpoints). */
  endpoints?: FakeEndpoint[];
}

export interface SeenRequest {
  method: string;
  path: string;
  status: number;
  /** Whether X-Auth-Token and X-Subject-Token were both sent and equal. */
  selfValidation: boolean;
}

export interface FakeKeystone {
  /** Keystone's v3 root, e.g. http://127.0.0.1:PORT/v3 */
  url: string;
  seen: SeenRequest[];
  /** A real token of the test Swift, which this Keystone also validates (as a user's token from Trove). */
  issueToken(): Promise<string>;
  /** A token this Keystone validates but Swift does not know (as one that expired in Swift first). */
  tokenSwiftRefuses(): string;
  /** From now on this token is refused (Keystone answers 401, as for an expired token). */
  revoke(token: string): void;
  /** The next password login gets a token Swift refuses. */
  issueRefusedTokenOnce(): void;
  close(): Promise<void>;
}

/** Where nothing listens: a decoy endpoint chosen by mistake fails at once. */
const NOWHERE = 'http://127.0.0.1:1';

/**
 * The test Swift's account (real, public, RegionOne) among decoys that lead
 * nowhere: another project's account listed first, other interfaces, another
 * region. A client that picks the wrong one fails to connect.
 */
export function defaultEndpoints(storageUrl: string): FakeEndpoint[] {
  return [
    { interface: 'public', region: 'RegionOne', url: `${NOWHERE}/v1/AUTH_other` },
    { interface: 'internal', region: 'RegionOne', url: `${NOWHERE}/v1/AUTH_test` },
    { interface: 'admin', region: 'RegionOne', url: `${NOWHERE}/v1/AUTH_test` },
    { interface: 'public', region: 'RegionOne', url: storageUrl },
    { interface: 'public', region: 'RegionTwo', url: `${NOWHERE}/v1/AUTH_test` },
  ];
}

/** A real tempauth token of the test Swift. */
async function swiftToken(): Promise<{ token: string; storageUrl: string }> {
  const response = await fetch(swiftTestAccount.authUrl, {
    headers: { 'X-Auth-User': swiftTestAccount.user, 'X-Auth-Key': swiftTestAccount.key },
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel();
  const token = response.headers.get('x-auth-token');
  const storageUrl = response.headers.get('x-storage-url');
  if (!response.ok || !token || !storageUrl) throw new Error(`fake keystone: the test Swift refused tempauth (HTTP ${response.status})`);
  return { token, storageUrl };
}

/**
 * A Keystone v3 that knows one user in one project and hands out real
 * tokens of the test Swift (tempauth), with a catalog pointing at it:
 * `POST /v3/auth/tokens` (password method, project scope) and
 * `GET /v3/auth/tokens` (validation, with the catalog).
 */
export async function startFakeKeystone(options: FakeKeystoneOptions): Promise<FakeKeystone> {
  const projectId = options.projectId ?? 'test';
  const domain = options.domain ?? 'Default';
  const { storageUrl } = await swiftToken();
  const endpoints = options.endpoints ?? defaultEndpoints(storageUrl);
  const valid = new Set<string>();
  const seen: SeenRequest[] = [];
  let refuseNext = false;

  const tokenBody = () => ({
    token: {
      methods: ['password'],
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      issued_at: new Date().toISOString(),
      user: { id: 'u-1', name: options.user, domain: { id: 'default', name: domain } },
      project: { id: projectId, name: options.projectName, domain: { id: 'default', name: domain } },
      catalog: [
        { type: 'identity', name: 'keystone', id: 's-1', endpoints: [{ id: 'e-0', interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: 'http://127.0.0.1:1/v3' }] },
        {
          type: 'object-store',
          name: 'swift',
          id: 's-2',
          endpoints: endpoints.map((e, i) => ({ id: `e-${i + 1}`, interface: e.interface, region: e.region, region_id: e.region, url: e.url })),
        },
      ],
    },
  });

  const unauthorized = { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } };

  const passwordLogin = async (body: string): Promise<{ status: number; token?: string }> => {
    let auth: {
      identity?: { methods?: string[]; password?: { user?: { name?: string; password?: string; domain?: { name?: string } } } };
      scope?: { project?: { name?: string; domain?: { name?: string } } };
    };
    try {
      auth = (JSON.parse(body) as { auth?: typeof auth }).auth ?? {};
    } catch {
      return { status: 400 };
    }
    const user = auth.identity?.password?.user;
    const project = auth.scope?.project;
    const ok =
      auth.identity?.methods?.includes('password') &&
      user?.name === options.user &&
      user.password === options.password &&
      user.domain?.name === domain &&
      project?.name === options.projectName &&
      project.domain?.name === domain;
    if (!ok) return { status: 401 };
    const token = refuseNext ? `AUTH_tk${randomBytes(16).toString('hex')}` : (await swiftToken()).token;
    refuseNext = false;
    valid.add(token);
    return { status: 201, token };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        const authToken = req.headers['x-auth-token'];
        const subject = req.headers['x-subject-token'];
        const record = (status: number) =>
          seen.push({ method: req.method ?? '', path, status, selfValidation: typeof authToken === 'string' && authToken === subject });
        const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
          record(status);
          res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        };
        try {
          if (path !== '/v3/auth/tokens') return json(404, { error: { code: 404, title: 'Not Found', message: 'no such path' } });
          if (req.method === 'POST') {
            const login = await passwordLogin(Buffer.concat(chunks).toString('utf8'));
            if (!login.token) return json(login.status, login.status === 401 ? unauthorized : { error: { code: 400, title: 'Bad Request' } });
            return json(201, tokenBody(), { 'X-Subject-Token': login.token });
          }
          if (req.method === 'GET') {
            if (typeof authToken !== 'string' || !valid.has(authToken)) return json(401, unauthorized);
            if (typeof subject !== 'string' || !valid.has(subject)) {
              return json(404, { error: { code: 404, title: 'Not Found', message: 'Could not find token.' } });
            }
            return json(200, tokenBody(), { 'X-Subject-Token': subject });
          }
          return json(405, { error: { code: 405, title: 'Method Not Allowed' } });
        } catch (err) {
          json(500, { error: { code: 500, title: 'Internal Server Error', message: String(err) } });
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v3`,
    seen,
    async issueToken() {
      const { token } = await swiftToken();
      valid.add(token);
      return token;
    },
    tokenSwiftRefuses() {
      const token = `AUTH_tk${randomBytes(16).toString('hex')}`;
      valid.add(token);
      return token;
    },
    revoke(token: string) {
      valid.delete(token);
    },
    issueRefusedTokenOnce() {
      refuseNext = true;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
