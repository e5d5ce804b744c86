import yaml from 'js-yaml';
import { ConfigError } from '../errors.js';
import { readYamlText, writeYamlText } from './yaml-editor.js';

/**
 * prepare's `config_contents`: the rendered cassandra.yaml the control plane
 * wants this node to run with. Refused unless it parses as a mapping whose
 * known keys have the right shapes; then the file is replaced atomically.
 * Returns the previous text, so a failed prepare can put it back.
 */
export async function applyConfigContents(file: string, contents: string): Promise<string> {
  let doc: unknown;
  try {
    doc = yaml.load(contents);
  } catch (err) {
    throw new ConfigError(`prepare: config_contents is not valid YAML (${(err as Error).message.split('\n')[0]}); cassandra.yaml left unchanged`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError('prepare: config_contents is not a cassandra.yaml mapping of keys to values; cassandra.yaml left unchanged');
  }
  const settings = doc as Record<string, unknown>;
  const dirs = settings.data_file_directories;
  if (dirs !== undefined && dirs !== null && (!Array.isArray(dirs) || dirs.length === 0 || !dirs.every((d) => typeof d === 'string' && d !== ''))) {
    throw new ConfigError('prepare: config_contents has data_file_directories that is not a list of paths; cassandra.yaml left unchanged');
  }
  for (const key of ['cluster_name', 'commitlog_directory', 'saved_caches_directory', 'hints_directory', 'authenticator', 'authorizer']) {
    const value = settings[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new ConfigError(`prepare: config_contents has ${key} that is not a string; cassandra.yaml left unchanged`);
    }
  }
  const previous = await readYamlText(file);
  await writeYamlText(file, contents.endsWith('\n') ? contents : `${contents}\n`);
  return previous;
}
