import type { Storage, StorageLimits } from './storage.js';

/**
 * A Storage whose driver is built on first use. The S3 driver pulls in the
 * AWS SDK, the heaviest thing the agent loads: building it only when a
 * command actually reads or writes keeps every other command (and every
 * Swift or local installation) from paying for it at start-up.
 */
export function lazyStorage(name: string, limits: StorageLimits, load: () => Promise<Storage>): Storage {
  let loading: Promise<Storage> | undefined;
  const driver = (): Promise<Storage> => {
    loading ??= load().catch((err: unknown) => {
      // A failed load (e.g. a broken install) is tried again by the next call.
      loading = undefined;
      throw err;
    });
    return loading;
  };
  return {
    name,
    limits,
    put: async (key, data, meta, signal) => (await driver()).put(key, data, meta, signal),
    get: async (key, signal) => (await driver()).get(key, signal),
    head: async (key) => (await driver()).head(key),
    async *list(prefix) {
      yield* (await driver()).list(prefix);
    },
    delete: async (key) => (await driver()).delete(key),
  };
}
