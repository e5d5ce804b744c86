import { chown, readFile, stat } from 'node:fs/promises';
import yaml from 'js-yaml';
import { ConfigError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';

/** Top-level scalar settings to write into cassandra.yaml. */
export type YamlScalars = Record<string, string>;

/**
 * Changes top-level scalar keys of cassandra.yaml in place, line by line, so
 * that the operator's comments and layout survive (a YAML round trip would
 * drop them). The file is replaced atomically with its mode and owner kept;
 * the result is parsed back and checked before it is written.
 */
export async function setYamlScalars(file: string, values: YamlScalars): Promise<void> {
  const text = await readYamlText(file);
  await writeYamlText(file, withScalars(text, values));
}

export function withScalars(text: string, values: YamlScalars): string {
  let lines = text.split('\n');
  for (const [key, value] of Object.entries(values)) {
    const rendered = `${key}: ${quote(value)}`;
    const pattern = new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`);
    const at = lines.findIndex((line) => pattern.test(line));
    if (at === -1) {
      if (lines.at(-1) === '') lines.splice(lines.length - 1, 0, rendered);
      else lines.push(rendered);
      continue;
    }
    // A value continued on indented lines (a block scalar) goes with its key.
    let end = at + 1;
    while (end < lines.length && /^\s+\S/.test(lines[end]!) && !/^\s*#/.test(lines[end]!)) end += 1;
    lines = [...lines.slice(0, at), rendered, ...lines.slice(end)];
  }
  const result = lines.join('\n');
  const doc = yaml.load(result) as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    if (String(doc[key]) !== value) throw new ConfigError(`cassandra.yaml: could not set ${key} (it reads back as ${JSON.stringify(doc[key])})`);
  }
  return result;
}

export async function readYamlText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file} (cassandra_yaml): ${errorMessage(err)}`, { cause: err });
  }
}

/** Replaces the whole file atomically, keeping its mode and owner. */
export async function writeYamlText(file: string, text: string): Promise<void> {
  const info = await stat(file);
  await writeFileAtomic(file, text, info.mode & 0o7777);
  if (process.getuid?.() === 0) await chown(file, info.uid, info.gid);
}

/** Single-quoted YAML scalar: safe for any cluster name (quotes doubled). */
function quote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
