import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ObjectNotFoundError, StorageAuthError, StorageError, errorMessage } from '../errors.js';
import { segmentsOf } from './segment-stream.js';
import type { ObjectInfo, ObjectMeta, PutResult, Storage } from './storage.js';

export interface SwiftStorageOptions {
  /** Auth v1 (tempauth) endpoint, e.g. http://127.0.0.1:8080/auth/v1.0 */
  authUrl: string;
  /** `account:user` */
  user: string;
  /** Never logged, never in an error. */
  key: string;
  container: string;
  /** Largest segment; larger streams become a Static Large Object (Trove's layout). */
  segmentSize: number;
  /** Objects per listing page. */
  listingPageSize?: number;
  /** Time limit of one request's answer (not of a whole upload), ms. */
  requestTimeoutMs?: number;
}

interface Session {
  token: string;
  storageUrl: string;
}

const META_PREFIX = 'x-object-meta-';

/**
 * OpenStack Swift over Node's own fetch, in Trove's layout: object
 * `<key>`, segments `<key-stem>_00000000`, … of segmentSize in the same
 * container, each checked against its MD5; one segment is copied server-side
 * to the final name, several become an SLO manifest. The reported checksum is
 * the object's ETag as Trove computes it. Re-authenticates once on a 401.
 */
export function createSwiftStorage(options: SwiftStorageOptions): Storage {
  for (const name of ['authUrl', 'user', 'key', 'container'] as const) {
    if (!options[name]) throw new StorageError(`swift storage: option '${name}' is required`);
  }
  const pageSize = options.listingPageSize ?? 10_000;
  const timeoutMs = options.requestTimeoutMs ?? 120_000;
  let session: Promise<Session> | undefined;
  let containerReady: Promise<void> | undefined;

  const authenticate = async (): Promise<Session> => {
    let response: Response;
    try {
      response = await fetch(options.authUrl, {
        headers: { 'X-Auth-User': options.user, 'X-Auth-Key': options.key },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new StorageError(`swift: cannot reach ${options.authUrl}: ${errorMessage(err)}`, { cause: err });
    }
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) {
      throw new StorageAuthError(`swift: authentication refused for user '${options.user}' at ${options.authUrl} (HTTP ${response.status}); check swift_user and swift_key`);
    }
    const token = response.headers.get('x-auth-token');
    const storageUrl = response.headers.get('x-storage-url');
    if (!response.ok || !token || !storageUrl) {
      throw new StorageError(`swift: authentication at ${options.authUrl} failed (HTTP ${response.status})`);
    }
    return { token, storageUrl };
  };

  const objectPath = (key: string) => `${encodeURIComponent(options.container)}/${key.split('/').map(encodeURIComponent).join('/')}`;

  /**
   * One request with the session token; on 401, authenticate again and retry
   * once (a streamed body cannot be retried). The time limit covers waiting
   * for the response headers, not reading a large body; streamed uploads have
   * none (the server answers only once the whole body is sent).
   */
  const request = async (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string | AsyncIterable<Uint8Array>; signal?: AbortSignal } = {},
  ): Promise<Response> => {
    const streamed = init.body !== undefined && typeof init.body !== 'string';
    for (let attempt = 0; ; attempt++) {
      session ??= authenticate();
      let current: Session;
      try {
        current = await session;
      } catch (err) {
        session = undefined;
        throw err;
      }
      const deadline = new AbortController();
      const timer = streamed ? undefined : setTimeout(() => deadline.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      let response: Response;
      try {
        response = await fetch(`${current.storageUrl}/${path}`, {
          method,
          headers: { 'X-Auth-Token': current.token, ...init.headers },
          body: init.body as RequestInit['body'],
          signal: init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal,
          ...(streamed ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        throw new StorageError(`swift: ${method} ${decodeURIComponent(path)} failed: ${errorMessage(err)}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
      if (response.status === 401 && attempt === 0 && !streamed) {
        await response.body?.cancel();
        session = undefined;
        continue;
      }
      return response;
    }
  };

  const failure = async (what: string, response: Response): Promise<StorageError> => {
    const text = (await response.text().catch(() => '')).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
    const message = `swift: ${what} failed (HTTP ${response.status})${text ? `: ${text}` : ''}`;
    if (response.status === 404) return new ObjectNotFoundError(message);
    if (response.status === 401 || response.status === 403) return new StorageAuthError(message);
    return new StorageError(message);
  };

  const ensureContainer = (): Promise<void> => {
    containerReady ??= (async () => {
      const response = await request('PUT', encodeURIComponent(options.container));
      await response.body?.cancel();
      if (![201, 202, 204].includes(response.status)) {
        containerReady = undefined;
        throw await failure(`creating container ${options.container}`, response);
      }
    })();
    return containerReady;
  };

  const metaHeaders = (meta: ObjectMeta): Record<string, string> =>
    Object.fromEntries(Object.entries(meta).map(([k, v]) => [`X-Object-Meta-${k}`, encodeURIComponent(v)]));

  /** Deletes an object; false when the store did not confirm it. */
  const deleteQuietly = async (path: string): Promise<boolean> => {
    const response = await request('DELETE', path).catch(() => undefined);
    await response?.body?.cancel();
    return response !== undefined && [200, 204, 404].includes(response.status);
  };

  return {
    name: 'swift',

    async put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult> {
      await ensureContainer();
      const stem = key.replace(/\.tar(\.[a-z0-9]+)*$/, '');
      const segments: { name: string; etag: string; size: number }[] = [];
      // fetch reports a failing body as "fetch failed": keep the real reason.
      let sourceError: unknown;
      try {
        let index = 0;
        for await (const segment of segmentsOf(data, options.segmentSize)) {
          const name = `${stem}_${String(index).padStart(8, '0')}`;
          const md5 = createHash('md5');
          let size = 0;
          const body = (async function* () {
            try {
              for await (const chunk of segment) {
                md5.update(chunk);
                size += chunk.length;
                yield chunk;
              }
            } catch (err) {
              sourceError = err;
              throw err;
            }
          })();
          const response = await request('PUT', objectPath(name), { body, ...(signal ? { signal } : {}), headers: { 'Content-Type': 'application/octet-stream' } });
          if (response.status !== 201) throw await failure(`upload of segment ${name}`, response);
          await response.body?.cancel();
          const digest = md5.digest('hex');
          const etag = (response.headers.get('etag') ?? '').replace(/"/g, '');
          if (etag !== digest) throw new StorageError(`swift: segment ${name} was stored with ETag ${etag}, expected MD5 ${digest}`);
          segments.push({ name, etag, size });
          index += 1;
        }

        let checksum: string;
        if (segments.length === 1) {
          const only = segments[0]!;
          const copy = await request('PUT', objectPath(key), {
            headers: { 'X-Copy-From': `/${objectPath(only.name)}`, 'Content-Length': '0', ...metaHeaders(meta) },
            ...(signal ? { signal } : {}),
          });
          if (copy.status !== 201) throw await failure(`copy of ${only.name} to ${key}`, copy);
          await copy.body?.cancel();
          await deleteQuietly(objectPath(only.name));
          checksum = only.etag;
        } else {
          const manifest = segments.map((s) => ({ path: `/${options.container}/${s.name}`, etag: s.etag, size_bytes: s.size }));
          const response = await request('PUT', `${objectPath(key)}?multipart-manifest=put`, {
            body: JSON.stringify(manifest),
            headers: { 'Content-Type': 'application/json', ...metaHeaders(meta) },
            ...(signal ? { signal } : {}),
          });
          if (response.status !== 201) throw await failure(`SLO manifest of ${key}`, response);
          await response.body?.cancel();
          checksum = createHash('md5').update(segments.map((s) => s.etag).join('')).digest('hex');
          const etag = (response.headers.get('etag') ?? '').replace(/"/g, '');
          if (etag && etag !== checksum) throw new StorageError(`swift: manifest of ${key} has ETag ${etag}, expected ${checksum}`);
        }
        const { storageUrl } = await session!;
        return {
          location: `${storageUrl}/${objectPath(key)}`,
          size: segments.reduce((sum, s) => sum + s.size, 0),
          storeChecksum: checksum,
        };
      } catch (err) {
        // Leave no segment behind: a backup that failed does not exist. When
        // the store cannot be reached to delete them, say which are left.
        const left: string[] = [];
        for (const segment of segments) {
          if (!(await deleteQuietly(objectPath(segment.name)))) left.push(segment.name);
        }
        const cause = sourceError ?? err;
        if (left.length === 0) throw cause;
        throw new StorageError(
          `${errorMessage(cause)}; ${left.length} segment(s) of the failed upload could not be deleted from container ${options.container}: ${left.join(', ')} (delete them with 'swift delete ${options.container} ${left.join(' ')}')`,
          { cause },
        );
      }
    },

    async get(key: string, signal?: AbortSignal): Promise<Readable> {
      const response = await request('GET', objectPath(key), signal ? { signal } : {});
      if (response.status !== 200 || !response.body) throw await failure(`download of ${key}`, response);
      return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      const response = await request('HEAD', objectPath(key));
      await response.body?.cancel();
      if (response.status === 404) return undefined;
      if (!response.ok) throw await failure(`HEAD of ${key}`, response);
      const meta: ObjectMeta = {};
      response.headers.forEach((value, name) => {
        if (name.startsWith(META_PREFIX)) meta[name.slice(META_PREFIX.length)] = decodeURIComponent(value);
      });
      return { key, size: Number(response.headers.get('content-length') ?? 0), meta };
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      let marker = '';
      for (;;) {
        const query = new URLSearchParams({ format: 'json', limit: String(pageSize), prefix, marker });
        const response = await request('GET', `${encodeURIComponent(options.container)}?${query}`);
        if (response.status === 404) {
          await response.body?.cancel();
          return;
        }
        if (!response.ok) throw await failure(`listing of ${options.container}`, response);
        const page = (await response.json()) as { name: string; bytes: number }[];
        for (const object of page) yield { key: object.name, size: object.bytes, meta: {} };
        if (page.length < pageSize) return;
        marker = page[page.length - 1]!.name;
      }
    },

    async delete(key: string): Promise<void> {
      const head = await request('HEAD', `${objectPath(key)}?multipart-manifest=get`);
      await head.body?.cancel();
      if (head.status === 404) return;
      const isSlo = head.headers.get('x-static-large-object') === 'True';
      const response = await request('DELETE', isSlo ? `${objectPath(key)}?multipart-manifest=delete` : objectPath(key));
      if (![200, 204, 404].includes(response.status)) throw await failure(`delete of ${key}`, response);
      await response.body?.cancel();
    },
  };
}
