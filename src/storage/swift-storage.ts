import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArchiveError, ChecksumMismatchError, ObjectNotFoundError, StorageAuthError, StorageError, errorMessage } from '../errors.js';
import { segmentsOf } from './segment-stream.js';
import { createSwiftAuth, type SwiftAuthOptions, type SwiftSession } from './swift-auth.js';
import type { ObjectInfo, ObjectMeta, ObjectVerifier, PutResult, Storage, StorageLimits } from './storage.js';

/** How uploads, listings and requests behave, whatever the authentication. */
export interface SwiftTransferOptions {
  container: string;
  /** Largest segment; larger streams become a Static Large Object (Trove's layout). */
  segmentSize: number;
  /**
   * Objects per listing page; unset, the server's own maximum (10,000 by
   * default). Listing always goes on until an empty page, so a server that
   * caps pages below the requested size still lists everything.
   */
  listingPageSize?: number;
  /** Time limit of one request's answer (not of a whole upload), ms. */
  requestTimeoutMs?: number;
  /**
   * When segmentSize is at most this many bytes, each segment is held in
   * memory while it is sent, so that a failed PUT (network error, 5xx, ETag
   * mismatch) can be sent again; otherwise segments are streamed, one at a
   * time, and a failure fails the upload. Default 64 MiB; 0 never buffers.
   */
  retryBufferSize?: number;
  /**
   * Buffered segments held in memory at once (default 1): the one being read
   * and those being sent, so memory is uploadConcurrency × segmentSize. With
   * 1, each segment is read, then sent, then the next is read; with more,
   * reading goes on while others are sent, and up to this many PUTs are in
   * flight. Streamed segments always go one at a time.
   */
  uploadConcurrency?: number;
  /** Attempts per buffered segment (default 3). */
  segmentAttempts?: number;
  /** Wait before the second attempt, doubled before each further one (default 1000 ms). */
  retryDelayMs?: number;
}

export type SwiftStorageOptions = SwiftAuthOptions & SwiftTransferOptions;

type RequestBody = string | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);

interface StoredSegment {
  name: string;
  etag: string;
  size: number;
}

/** A segment of a Static Large Object as its manifest lists it. */
interface ManifestSegment {
  container: string;
  name: string;
  /** MD5 of the segment's bytes, as the manifest recorded it when the object was made. */
  hash: string;
  bytes: number;
}

const META_PREFIX = 'x-object-meta-';
/** Swift takes names of 1,024 bytes; a key's first segment during an upload is `<key>_00000000`. */
export const SWIFT_LIMITS: StorageLimits = { indexKeyBudget: 1000 };
/** Buffered segments in memory at once: 1, as measured (more was no faster into one Swift, and costs a segment each). */
export const DEFAULT_UPLOAD_CONCURRENCY = 1;
const MiB = 1024 * 1024;
/** A token this close to its announced expiry is renewed before a request rather than refused during it. */
const RENEW_MARGIN_MS = 120_000;
/** Answers after which sending a buffered segment again can succeed (422: Swift saw a different MD5). */
const RETRYABLE_STATUS = new Set([408, 422, 429, 499]);

/**
 * OpenStack Swift over Node's own fetch, in Trove's layout: object
 * `<key>`, segments `<key-stem>_00000000`, … of segmentSize in the same
 * container, each checked against its MD5; one segment is copied server-side
 * to the final name, several become an SLO manifest. The reported checksum is
 * the object's ETag as Trove computes it. Authentication (v1, Keystone v3 or
 * a token given by the caller) is in swift-auth.ts; with a renewable one, a
 * 401 authenticates again and retries once.
 */
export function createSwiftStorage(options: SwiftStorageOptions): Storage {
  if (!options.container) throw new StorageError("swift storage: option 'container' is required");
  if (!Number.isSafeInteger(options.segmentSize) || options.segmentSize <= 0) {
    throw new StorageError("swift storage: option 'segmentSize' must be a positive integer");
  }
  const timeoutMs = options.requestTimeoutMs ?? 120_000;
  const auth = createSwiftAuth(options, timeoutMs);
  const buffered = options.segmentSize <= (options.retryBufferSize ?? 64 * MiB);
  const attempts = Math.max(1, options.segmentAttempts ?? 3);
  const concurrency = options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new StorageError("swift storage: option 'uploadConcurrency' must be a positive integer");
  }
  const retryDelayMs = options.retryDelayMs ?? 1000;
  let session: Promise<SwiftSession> | undefined;
  let storageUrl: string | undefined;
  let containerReady: Promise<void> | undefined;

  const pathOf = (container: string, key: string) => `${encodeURIComponent(container)}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const objectPath = (key: string) => pathOf(options.container, key);

  /**
   * One request with the session token. A 401 with a renewable session
   * authenticates again and retries once, if the body can be sent again (a
   * string, or a function giving the same bytes anew); otherwise it is a
   * StorageAuthError that says why. The time limit covers waiting for the
   * response headers, not reading a large body; uploads of a stream have
   * none (the server answers only once the whole body is sent).
   */
  const request = async (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: RequestBody; signal?: AbortSignal } = {},
  ): Promise<Response> => {
    const streamed = init.body !== undefined && typeof init.body !== 'string';
    const replayable = init.body === undefined || typeof init.body === 'string' || typeof init.body === 'function';
    const what = `${method} ${decodeURIComponent(path)}`;
    let renewed = false;
    let relogged = false;
    for (;;) {
      const used = (session ??= auth.login());
      let current: SwiftSession;
      try {
        current = await used;
      } catch (err) {
        if (session === used) session = undefined;
        throw err;
      }
      storageUrl = current.storageUrl;
      if (auth.renewable && !renewed && current.expiresAt !== undefined && current.expiresAt - Date.now() < RENEW_MARGIN_MS) {
        renewed = true;
        if (session === used) session = undefined;
        continue;
      }
      const body = typeof init.body === 'function' ? init.body() : init.body;
      const deadline = new AbortController();
      const timer = streamed ? undefined : setTimeout(() => deadline.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      let response: Response;
      try {
        response = await fetch(`${current.storageUrl}/${path}`, {
          method,
          headers: { 'X-Auth-Token': current.token, ...init.headers },
          body: body as RequestInit['body'],
          signal: init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal,
          ...(streamed ? { duplex: 'half' } : {}),
          // Without these, Node 20's fetch keeps a copy of a streamed body in
          // case it must follow a redirect (undici #4058): a 2 GiB segment
          // cost 2 GiB of memory. Swift never redirects what we ask of it.
          redirect: 'error',
          window: null,
        } as RequestInit);
      } catch (err) {
        throw new StorageError(`swift: ${what} failed: ${errorMessage(err)}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
      if (response.status !== 401) return response;
      await response.body?.cancel();
      if (!auth.renewable) throw new StorageAuthError(auth.refused(what, response.status));
      if (session === used) session = undefined;
      if (!relogged && replayable) {
        relogged = true;
        continue;
      }
      if (!replayable) {
        throw new StorageAuthError(
          `swift: ${what} refused (HTTP 401): the token expired or was revoked during the upload, and a streamed segment cannot be sent again; ` +
            'retry the backup, or set swift_retry_buffer_size to at least backup_segment_max_size so that segments can be resent',
        );
      }
      throw new StorageAuthError(auth.refused(what, response.status));
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

  /**
   * Sends a segment as it is read: fastest, but it cannot be sent again.
   * `written` gets the name of every segment Swift stored or may have stored
   * (a PUT cut short without an answer), good or not, so that a failed
   * upload can remove them.
   */
  const putStreamedSegment = async (name: string, segment: AsyncIterable<Uint8Array>, written: Set<string>, signal?: AbortSignal): Promise<StoredSegment> => {
    const md5 = createHash('md5');
    let size = 0;
    const body = (async function* () {
      for await (const chunk of segment) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    })();
    let response: Response;
    try {
      response = await request('PUT', objectPath(name), { body, ...(signal ? { signal } : {}), headers: { 'Content-Type': 'application/octet-stream' } });
    } catch (err) {
      if (mayHaveStored(err)) written.add(name);
      throw err;
    }
    if (response.status !== 201) throw await failure(`upload of segment ${name}`, response);
    written.add(name);
    await response.body?.cancel();
    const digest = md5.digest('hex');
    const etag = (response.headers.get('etag') ?? '').replace(/"/g, '');
    if (etag !== digest) throw new StorageError(`swift: segment ${name} was stored with ETag ${etag}, expected MD5 ${digest}`);
    return { name, etag, size };
  };

  /**
   * Sends a segment held in memory with its length and MD5, so that Swift
   * itself refuses altered bytes (422), and sends it again after a network
   * error, a 5xx or an ETag mismatch, waiting longer each time.
   */
  const putBufferedSegment = async (name: string, segment: BufferedSegment, written: Set<string>, signal: AbortSignal): Promise<StoredSegment> => {
    const { chunks, size, digest } = segment;
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size), ETag: digest };
    const body = async function* () {
      yield* chunks;
    };
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      let response: Response | undefined;
      try {
        response = await request('PUT', objectPath(name), { body, headers, signal });
      } catch (err) {
        if (mayHaveStored(err)) written.add(name);
        if (signal.aborted || err instanceof StorageAuthError) throw err;
        problem = errorMessage(err);
      }
      if (response) {
        if (response.status === 201) {
          written.add(name);
          await response.body?.cancel();
          const etag = (response.headers.get('etag') ?? '').replace(/"/g, '');
          if (etag === digest) return { name, etag, size };
          problem = `swift: segment ${name} was stored with ETag ${etag}, expected MD5 ${digest}`;
        } else if (response.status >= 500 || RETRYABLE_STATUS.has(response.status)) {
          problem = (await failure(`upload of segment ${name}`, response)).message;
        } else {
          throw await failure(`upload of segment ${name}`, response);
        }
      }
      if (attempt >= attempts) {
        throw new StorageError(`${problem!} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`);
      }
      await sleep(retryDelayMs * 2 ** (attempt - 1), undefined, { signal });
    }
  };

  /** The segments an SLO's manifest lists, refusing what neither swift upload nor Trove makes (nested manifests, ranges). */
  const manifestOf = async (key: string): Promise<ManifestSegment[]> => {
    const response = await request('GET', `${objectPath(key)}?multipart-manifest=get`);
    if (!response.ok) throw await failure(`reading the manifest of ${key}`, response);
    const entries = (await response.json().catch(() => undefined)) as unknown;
    if (!Array.isArray(entries) || entries.length === 0) throw new ArchiveError(`swift: the manifest of ${key} is not a list of segments`);
    return entries.map((item: unknown, i) => {
      const what = `segment ${i + 1} in the manifest of ${key}`;
      if (typeof item !== 'object' || item === null) throw new ArchiveError(`swift: ${what} is not an object`);
      const entry = item as Record<string, unknown>;
      if (entry.sub_slo) throw new ArchiveError(`swift: ${what} is itself a Static Large Object; nested manifests are not read (swift upload and Trove never make them)`);
      if (entry.range !== undefined) throw new ArchiveError(`swift: ${what} uses only the range ${String(entry.range)} of its object; ranged segments are not read (swift upload and Trove never make them)`);
      const path = typeof entry.name === 'string' ? /^\/([^/]+)\/(.+)$/.exec(entry.name) : null;
      if (!path || typeof entry.hash !== 'string' || !/^[0-9a-f]{32}$/.test(entry.hash) || !Number.isSafeInteger(entry.bytes)) {
        throw new ArchiveError(`swift: ${what} lacks a name, an MD5 hash or a size`);
      }
      return { container: path[1]!, name: path[2]!, hash: entry.hash, bytes: entry.bytes as number };
    });
  };

  /** An object stored whole: its ETag is the MD5 of its bytes. */
  async function* readWhole(key: string, etag: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const response = await request('GET', objectPath(key), signal ? { signal } : {});
    if (response.status !== 200 || !response.body) throw await failure(`download of ${key}`, response);
    const now = unquote(response.headers.get('etag'));
    if (now !== etag) {
      await response.body.cancel();
      throw new ChecksumMismatchError(`swift: ${key} was replaced while it was being restored: its ETag is now ${now}, it was ${etag}`);
    }
    const { digest, bytes } = yield* withMd5(response.body);
    if (digest !== etag) throw new ChecksumMismatchError(`swift: the ${bytes} bytes read of ${key} have MD5 ${digest}, but its ETag is ${etag}; the stored object is corrupt`);
  }

  /**
   * An SLO read segment by segment rather than through the manifest: Swift
   * itself cuts the download short at a segment that no longer matches,
   * without saying which; read one by one, the segment can be named.
   */
  async function* readSegments(key: string, etag: string, segments: ManifestSegment[], signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const md5s: string[] = [];
    for (const [i, segment] of segments.entries()) {
      const label = `segment ${i + 1} of ${segments.length} of ${key} (${segment.container}/${segment.name})`;
      const response = await request('GET', pathOf(segment.container, segment.name), signal ? { signal } : {});
      if (response.status === 404) {
        await response.body?.cancel();
        throw new ArchiveError(`swift: ${label} is missing; the archive cannot be restored`);
      }
      if (response.status !== 200 || !response.body) throw await failure(`download of ${label}`, response);
      const stored = unquote(response.headers.get('etag'));
      if (stored !== segment.hash) {
        await response.body.cancel();
        throw new ChecksumMismatchError(`swift: ${label} was replaced after the upload: its ETag is ${stored}, the manifest recorded ${segment.hash}`);
      }
      const { digest, bytes } = yield* withMd5(response.body);
      if (digest !== segment.hash || bytes !== segment.bytes) {
        throw new ChecksumMismatchError(`swift: ${label}: its ${bytes} bytes have MD5 ${digest}, the manifest recorded ${segment.bytes} bytes with MD5 ${segment.hash}`);
      }
      md5s.push(digest);
    }
    const combined = md5Hex(md5s.join(''));
    if (combined !== etag) throw new ChecksumMismatchError(`swift: the segment MD5s of ${key} combine to ${combined}, but its ETag is ${etag}`);
  }

  return {
    name: 'swift',
    limits: SWIFT_LIMITS,

    async put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult> {
      await ensureContainer();
      const stem = key.replace(/\.tar(\.[a-z0-9]+)*$/, '');
      const segments: StoredSegment[] = [];
      const written = new Set<string>();
      // fetch reports a failing body as "fetch failed": keep the real reason.
      let sourceError: unknown;
      const source = (async function* () {
        try {
          for await (const chunk of data) yield chunk as Uint8Array;
        } catch (err) {
          sourceError = err;
          throw err;
        }
      })();
      // A segment that fails for good stops the others and the reading at once.
      const stop = new AbortController();
      const uploading = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
      // Buffered segments being sent; each settles without rejecting, freeing its place.
      const inFlight = new Set<Promise<void>>();
      let segmentError: unknown;
      try {
        const cutter = segmentsOf(source, options.segmentSize)[Symbol.asyncIterator]();
        for (let index = 0; ; index++) {
          // At most `concurrency` segments in memory, the one being read included:
          // the next is read only once one of those being sent has been stored.
          while (inFlight.size >= concurrency) await unlessAborted(Promise.race(inFlight), uploading);
          const next = await unlessAborted(cutter.next(), uploading);
          if (next.done) break;
          const name = `${stem}_${String(index).padStart(8, '0')}`;
          if (!buffered) {
            segments[index] = await putStreamedSegment(name, next.value, written, uploading);
            continue;
          }
          const segment = await bufferSegment(next.value, uploading);
          const sent: Promise<void> = putBufferedSegment(name, segment, written, uploading)
            .then(
              (stored) => {
                segments[index] = stored;
              },
              (err: unknown) => {
                // The first failure is the one to report: the others are only aborted by it.
                if (!uploading.aborted) segmentError = err;
                stop.abort(err);
              },
            )
            .finally(() => inFlight.delete(sent));
          inFlight.add(sent);
        }
        while (inFlight.size > 0) await unlessAborted(Promise.race(inFlight), uploading);
        uploading.throwIfAborted();

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
            // The object's type (what a download shows), as Trove's own manifests have it; Swift reads the body as JSON anyway.
            headers: { 'Content-Type': 'application/octet-stream', ...metaHeaders(meta) },
            ...(signal ? { signal } : {}),
          });
          if (response.status !== 201) throw await failure(`SLO manifest of ${key}`, response);
          await response.body?.cancel();
          checksum = createHash('md5').update(segments.map((s) => s.etag).join('')).digest('hex');
          const etag = (response.headers.get('etag') ?? '').replace(/"/g, '');
          if (etag && etag !== checksum) throw new StorageError(`swift: manifest of ${key} has ETag ${etag}, expected ${checksum}`);
        }
        return {
          location: `${storageUrl}/${objectPath(key)}`,
          size: segments.reduce((sum, s) => sum + s.size, 0),
          storeChecksum: checksum,
        };
      } catch (err) {
        // Leave no segment behind: a backup that failed does not exist. The
        // segments still being sent are stopped first, so that none is stored
        // after the clean-up. When the store cannot be reached to delete
        // them, say which are left.
        stop.abort(err);
        await Promise.all([...inFlight]);
        const left: string[] = [];
        for (const name of written) {
          if (!(await deleteQuietly(objectPath(name)))) left.push(name);
        }
        const cause = segmentError ?? sourceError ?? err;
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
        const query = new URLSearchParams({ format: 'json', prefix, marker });
        if (options.listingPageSize) query.set('limit', String(options.listingPageSize));
        const response = await request('GET', `${encodeURIComponent(options.container)}?${query}`);
        if (response.status === 404 || response.status === 204) {
          await response.body?.cancel();
          return;
        }
        if (!response.ok) throw await failure(`listing of ${options.container}`, response);
        const page = (await response.json()) as { name: string; bytes: number }[];
        // A short page is not the end: servers cap pages below what was asked
        // for (container_listing_limit). Only an empty page is.
        if (page.length === 0) return;
        for (const object of page) yield { key: object.name, size: object.bytes, meta: {} };
        marker = page[page.length - 1]!.name;
      }
    },

    /**
     * Trove checks a backup by the ETag: the MD5 of an object stored whole,
     * or of the concatenated segment MD5s of a Static Large Object, whose
     * manifest gives each segment's MD5 to check its bytes against.
     */
    async verifier(key: string): Promise<ObjectVerifier | undefined> {
      const head = await request('HEAD', objectPath(key));
      await head.body?.cancel();
      if (head.status === 404) return undefined;
      if (!head.ok) throw await failure(`HEAD of ${key}`, head);
      const location = `${storageUrl}/${objectPath(key)}`;
      const size = Number(head.headers.get('content-length') ?? 0);
      const etag = unquote(head.headers.get('etag'));
      const dynamic = head.headers.get('x-object-manifest');
      if (dynamic) {
        throw new ArchiveError(
          `swift: ${key} is a Dynamic Large Object (segments ${dynamic}), whose ETag does not vouch for a fixed set of segments; upload it again with 'swift upload --use-slo'`,
        );
      }
      if (!/^[0-9a-f]{32}$/.test(etag)) throw new ArchiveError(`swift: ${key} has no MD5 ETag (${etag || 'none'}) to check it against`);
      if (head.headers.get('x-static-large-object') !== 'True') {
        return { location, size, algorithm: 'the MD5 of the object', expected: etag, read: async (signal) => Readable.from(readWhole(key, etag, signal), { objectMode: false }) };
      }
      const segments = await manifestOf(key);
      const combined = md5Hex(segments.map((s) => s.hash).join(''));
      const total = segments.reduce((sum, s) => sum + s.bytes, 0);
      if (combined !== etag || total !== size) {
        throw new ChecksumMismatchError(
          `swift: the manifest of ${key} lists ${segments.length} segments of ${total} bytes whose MD5s combine to ${combined}, but the object has ETag ${etag} and ${size} bytes; the manifest was replaced`,
        );
      }
      return {
        location,
        size,
        algorithm: `the MD5 of the ${segments.length} segment MD5s of a Static Large Object`,
        expected: etag,
        read: async (signal) => Readable.from(readSegments(key, etag, segments, signal), { objectMode: false }),
      };
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

const unquote = (etag: string | null): string => (etag ?? '').replace(/"/g, '');

const md5Hex = (text: string): string => createHash('md5').update(text).digest('hex');

/** Passes a download's chunks on and returns, at its end, their MD5 and byte count. */
async function* withMd5(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, { digest: string; bytes: number }> {
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of body) {
    md5.update(chunk);
    bytes += chunk.length;
    yield chunk;
  }
  return { digest: md5.digest('hex'), bytes };
}

/** Errors of a connection that was never made: the request surely stored nothing. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a PUT that failed without an answer may still have been stored: one
 * cut short (our abort, a reset, a timeout) after Swift had the whole body
 * may be, so its segment is deleted with the others.
 */
function mayHaveStored(err: unknown): boolean {
  for (let cause = err; cause instanceof Error; cause = cause.cause) {
    if (NOT_CONNECTED.has((cause as NodeJS.ErrnoException).code ?? '')) return false;
  }
  return true;
}

/** A segment read into memory (the source's own chunks, not copied), with its MD5. */
interface BufferedSegment {
  chunks: Uint8Array[];
  size: number;
  digest: string;
}

/** Reads a whole segment, giving up as soon as `signal` aborts (another segment failed). */
async function bufferSegment(segment: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<BufferedSegment> {
  const iterator = segment[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  const md5 = createHash('md5');
  let size = 0;
  for (;;) {
    const next = await unlessAborted(iterator.next(), signal);
    if (next.done) break;
    chunks.push(next.value);
    md5.update(next.value);
    size += next.value.length;
  }
  return { chunks, size, digest: md5.digest('hex') };
}

/**
 * The promise's outcome, or the signal's reason as soon as it aborts. A
 * listener per wait rather than a race with one long-lived promise, which
 * would keep every chunk it ever raced with reachable until the upload ends.
 */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
