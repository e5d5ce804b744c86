import type { KeySpec, SettingsOf } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import type { Storage, StorageLimits } from './storage.js';

/**
 * What one request (Trove's RPC context and backup_info) may say about where
 * and as whom to store; null and empty mean "not given", as Trove sends them.
 */
export interface StorageRequest {
  /** backup_info.swift_container: overrides backup_swift_container (created if missing). */
  swiftContainer?: string | null;
  /** The user's Keystone token: used instead of the configured password, never renewed. */
  authToken?: string | null;
  /** The project whose object-store endpoint to use with authToken; the token's own when unset. */
  projectId?: string | null;
  /** Told when the request's token is not used (the store speaks no Keystone): a line for the log. */
  onTokenIgnored?: (why: string) => void;
}

/**
 * Everything the rest of the agent knows about one storage backend, declared
 * in the backend's own file and registered in backends.ts: the configuration
 * and `storage_strategy` are made from it, createStorage builds from it.
 */
export interface StorageBackend<N extends string = string, K extends Record<string, KeySpec> = Record<string, KeySpec>> {
  /** Its value of storage_strategy, and its Storage's `name`. */
  readonly name: N;
  /**
   * Its configuration keys, as in config-schema.ts (the file and the
   * environment set them like any other key). No two backends share a key.
   */
  readonly keys: K;
  /** Its Storage's `limits`, known without building one. */
  readonly limits: StorageLimits;
  /**
   * The Storage its settings describe, for one request. A combination of
   * settings it cannot work with is refused here, at once and before any
   * request to the store, with an error naming the keys.
   */
  create(settings: SettingsOf<K>, request: StorageRequest): Storage;
}

/** A backend's descriptor, with its key table's literal types kept (they type its settings and AgentConfig). */
export function defineBackend<const N extends string, const K extends Record<string, KeySpec>>(backend: StorageBackend<N, K>): StorageBackend<N, K> {
  return backend;
}

/** Refuses settings that leave any of `keys` empty: they have no default that could work. */
export function requireSettings<S extends Readonly<Record<string, unknown>>>(backend: string, settings: S, keys: readonly (keyof S & string)[]): void {
  const missing = keys.filter((key) => settings[key] === '');
  if (missing.length > 0) {
    throw new ConfigError(`storage_strategy is ${backend} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  }
}
