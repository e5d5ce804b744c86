import type { SettingsOf, StorageConfig } from '../config/config-schema.js';
import type { StorageBackend, StorageRequest } from './backend-descriptor.js';
import { findBackend } from './backends.js';
import type { Storage } from './storage.js';

export type { StorageRequest } from './backend-descriptor.js';

/** The backend named by storage_strategy, for one request when it says more. */
export function createStorage(config: StorageConfig, request: StorageRequest = {}): Storage {
  const backend = findBackend(config.storage_strategy);
  return backend.create(settingsOf(backend, config), request);
}

/** A backend is given its own keys only. */
function settingsOf(backend: StorageBackend, config: StorageConfig): SettingsOf<StorageBackend['keys']> {
  const values = config as Readonly<Record<string, unknown>>;
  return Object.freeze(Object.fromEntries(Object.keys(backend.keys).map((key) => [key, values[key]]))) as SettingsOf<StorageBackend['keys']>;
}
