import { readFile, stat } from 'node:fs/promises';
import yaml from 'js-yaml';
import { ConfigError, errorMessage } from '../errors.js';
import { CONFIG_SCHEMA, ENV_PREFIX, type AgentConfig, type ConfigKey, type KeySpec } from './config-schema.js';
import { coerceEnvValue, describeValue, parseValue } from './parse-value.js';

/** Environment variables that are not configuration keys. */
/** The CLI's own variables (the file to read, the log, stack traces on errors): not configuration keys. */
const RESERVED_ENV = new Set([`${ENV_PREFIX}CONFIG`, `${ENV_PREFIX}LOG`, `${ENV_PREFIX}DEBUG`]);

const KEYS = Object.keys(CONFIG_SCHEMA) as ConfigKey[];

/**
 * Reads the YAML file (if any), applies environment overrides, validates every
 * key and returns the typed configuration. Any problem is one ConfigError line
 * naming the file (or variable) and the key.
 */
export async function loadConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  const fromFile = file === undefined ? {} : await readYamlMapping(file);
  const result: Record<string, unknown> = {};

  for (const [key, raw] of Object.entries(fromFile)) {
    const spec = (CONFIG_SCHEMA as Record<string, KeySpec | undefined>)[key];
    if (!spec) throw new ConfigError(`${file}: unknown key '${key}'${suggest(key)}`);
    const parsed = parseValue(spec.type, raw);
    if (!parsed.ok) {
      throw new ConfigError(`${file}: key '${key}': expected ${parsed.expected}, got ${describeValue(raw)}`);
    }
    result[key] = parsed.value;
  }

  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || RESERVED_ENV.has(name) || raw === undefined) continue;
    const key = name.slice(ENV_PREFIX.length).toLowerCase();
    const spec = (CONFIG_SCHEMA as Record<string, KeySpec | undefined>)[key];
    if (!spec) throw new ConfigError(`environment ${name}: unknown key '${key}'${suggest(key)}`);
    const parsed = parseValue(spec.type, coerceEnvValue(spec.type, raw));
    if (!parsed.ok) {
      throw new ConfigError(`environment ${name} (key '${key}'): expected ${parsed.expected}, got ${describeValue(raw)}`);
    }
    result[key] = parsed.value;
  }

  if (file !== undefined) await checkSecretsProtected(file, Object.keys(fromFile).filter((key) => fromFile[key] !== ''));
  for (const key of KEYS) {
    if (!(key in result)) result[key] = CONFIG_SCHEMA[key].default;
  }
  return Object.freeze(result) as AgentConfig;
}

/** A file that holds a secret (a non-empty one) must be readable by its owner only (0600 or 0400). */
async function checkSecretsProtected(file: string, keys: string[]): Promise<void> {
  const secrets = keys.filter((key) => (CONFIG_SCHEMA as Record<string, KeySpec | undefined>)[key]?.secret);
  if (secrets.length === 0) return;
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(`${file}: holds ${secrets.join(', ')} but is readable by others (mode ${(mode & 0o777).toString(8)}); run 'chmod 600 ${file}'`);
  }
}

async function readYamlMapping(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the configuration file: ${errorMessage(err)}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    const reason = err instanceof yaml.YAMLException ? err.reason : errorMessage(err);
    const line = err instanceof yaml.YAMLException ? ` (line ${err.mark.line + 1})` : '';
    throw new ConfigError(`${file}: not valid YAML${line}: ${reason}`, { cause: err });
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`${file}: expected a mapping of keys to values at the top level`);
  }
  return doc as Record<string, unknown>;
}

/** A hint for a mistyped key: the known key with the smallest edit distance. */
function suggest(unknown: string): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of KEYS) {
    const d = editDistance(unknown, key);
    if (d < bestDistance) {
      best = key;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, unknown.length / 4)
    ? ` (did you mean '${best}'?)`
    : ' (see config/guest-agent.yaml for the known keys)';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
