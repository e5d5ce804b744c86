import type { SchemaKeySpec } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import type { StorageBackend } from './backend-descriptor.js';
import { localBackend } from './local-backend.js';
import { s3Backend } from './s3-backend.js';
import { swiftBackend } from './swift-backend.js';

/**
 * Every storage backend, one line each: storage_strategy's values, the
 * configuration's storage keys and createStorage all come from this list.
 */
export const BACKENDS = [localBackend, swiftBackend, s3Backend] as const;

type Registered = (typeof BACKENDS)[number];
export type BackendName = Registered['name'];

/** storage_strategy when none is set: it needs no other setting and no service. */
export const DEFAULT_BACKEND: BackendName = localBackend.name;

export const BACKEND_NAMES: readonly BackendName[] = BACKENDS.map((backend) => backend.name);

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** A backend's keys are the storage group's: marked here, so that no descriptor has to say it. */
type InStorageGroup<T> = { readonly [K in keyof T]: T[K] & { readonly group: 'storage' } };

/** Every backend's keys in one table, in the registry's order. */
export const BACKEND_KEYS = mergeKeys(BACKENDS) as InStorageGroup<UnionToIntersection<Registered['keys']>>;

function mergeKeys(backends: readonly StorageBackend[]): Record<string, SchemaKeySpec> {
  const owners = new Map<string, string>();
  for (const backend of backends) {
    for (const key of Object.keys(backend.keys)) {
      const owner = owners.get(key);
      // A programming error, found by any test run: two backends would read one setting.
      if (owner !== undefined) throw new Error(`storage backends ${owner} and ${backend.name} both declare the key ${key}`);
      owners.set(key, backend.name);
    }
  }
  return Object.fromEntries(backends.flatMap((backend) => Object.entries(backend.keys).map(([key, spec]): [string, SchemaKeySpec] => [key, { ...spec, group: 'storage' }])));
}

/** The backend storage_strategy names. */
export function findBackend(name: string): StorageBackend {
  const backend = BACKENDS.find((candidate) => candidate.name === name);
  if (!backend) throw new ConfigError(`storage_strategy '${name}' is not a storage backend: use one of ${BACKEND_NAMES.join(', ')}`);
  return backend;
}
