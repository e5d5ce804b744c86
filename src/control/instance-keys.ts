import { readFile, stat } from 'node:fs/promises';
import yaml from 'js-yaml';
import { ConfigError, errorMessage } from '../errors.js';
import { RpcKey } from '../rpc/secure-serializer.js';

/** Trove's instance keys are 32 characters (crypto_utils.generate_random_key). */
const KEY_LENGTH = 32;

/**
 * The instances' RPC keys a control plane knows: a keys file (instance id →
 * key) and at most one key given for the instance a command is about. Keys
 * come from files that only their owner can read, or from the environment;
 * never from a command-line value, which other users see in `ps`.
 */
export class InstanceKeys {
  readonly #fromFile: ReadonlyMap<string, RpcKey>;
  readonly #forCommand: { instanceId: string; key: RpcKey } | undefined;

  private constructor(fromFile: ReadonlyMap<string, RpcKey>, forCommand: { instanceId: string; key: RpcKey } | undefined) {
    this.#fromFile = fromFile;
    this.#forCommand = forCommand;
  }

  static empty(): InstanceKeys {
    return new InstanceKeys(new Map(), undefined);
  }

  /** `keysFile`: a YAML mapping of instance id to key, mode 0600. `commandKey`: one instance's key, which wins over the file. */
  static async load(options: { keysFile?: string; commandKey?: { instanceId: string; key: RpcKey } }): Promise<InstanceKeys> {
    const fromFile = options.keysFile ? await readInstanceKeysFile(options.keysFile) : new Map<string, RpcKey>();
    return new InstanceKeys(fromFile, options.commandKey);
  }

  /** The same keys, with `key` for `instanceId` winning over the file's. */
  withCommandKey(instanceId: string, key: RpcKey): InstanceKeys {
    return new InstanceKeys(this.#fromFile, { instanceId, key });
  }

  keyOf(instanceId: string): RpcKey | undefined {
    if (this.#forCommand?.instanceId === instanceId) return this.#forCommand.key;
    return this.#fromFile.get(instanceId);
  }
}

/** A file holding one instance's key (Trove's instance_rpc_encr_key), mode 0600. */
export async function readInstanceKeyFile(file: string): Promise<RpcKey> {
  const text = await readProtected(file, 'an instance key');
  return parseInstanceKey(text.replace(/\r?\n$/, ''), file);
}

/** The instance key from an environment variable; undefined when unset or empty. */
export function instanceKeyFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): RpcKey | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  return parseInstanceKey(value, `environment ${name}`);
}

/** YAML: `<instance id>: <key>` per line; mode 0600. */
export async function readInstanceKeysFile(file: string): Promise<Map<string, RpcKey>> {
  const text = await readProtected(file, 'instance keys');
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    const line = err instanceof yaml.YAMLException ? ` (line ${err.mark.line + 1})` : '';
    // The YAML error's own text may quote the line, and the line holds a key.
    throw new ConfigError(`${file}: not valid YAML${line}; expected '<instance id>: <key>' per line`, { cause: err });
  }
  if (doc === undefined || doc === null) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`${file}: expected a mapping of instance id to key ('<instance id>: <key>' per line)`);
  }
  const keys = new Map<string, RpcKey>();
  for (const [instanceId, value] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new ConfigError(`${file}: the key of instance '${instanceId}' is not a string`);
    keys.set(instanceId, parseInstanceKey(value, `${file}, instance '${instanceId}'`));
  }
  return keys;
}

/** Checks the shape of a key without ever echoing it. */
export function parseInstanceKey(text: string, source: string): RpcKey {
  if (text.length !== KEY_LENGTH || /\s/.test(text)) {
    throw new ConfigError(
      `${source}: expected the instance's ${KEY_LENGTH}-character RPC key (Trove's instance_rpc_encr_key) and nothing else, found ${text.length} characters${/\s/.test(text) ? ' with white space' : ''}`,
    );
  }
  return new RpcKey(text);
}

async function readProtected(file: string, what: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (err) {
    throw new ConfigError(`${file}: cannot read ${what}: ${errorMessage(err)}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(`${file}: holds ${what} but is readable by others (mode ${(mode & 0o777).toString(8)}); run 'chmod 600 ${file}'`);
  }
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read ${what}: ${errorMessage(err)}`, { cause: err });
  }
}
