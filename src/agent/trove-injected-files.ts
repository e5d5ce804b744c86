import { readFile } from 'node:fs/promises';
import type { JobConfig, RpcConfig } from '../config/config-schema.js';
import { ConfigError, errorMessage } from '../errors.js';

/** The values Trove injects into a guest that the agent needs. */
export interface TroveInjectedValues {
  guestId?: string;
  rpcKey?: string;
  transportUrl?: string;
}

/**
 * Reads Trove's injected INI files (`guest_info.conf`: guest_id,
 * instance_rpc_encr_key; `trove-guestagent.conf`: transport_url) when the
 * configuration points at them. Values set in our own configuration win,
 * except the instance id: in a Trove deployment guest_id is the truth.
 */
export async function withTroveInjectedFiles<C extends RpcConfig & Pick<JobConfig, 'instance_id'>>(config: C): Promise<C> {
  const values: TroveInjectedValues = {};
  if (config.trove_guest_info_file) {
    const ini = await readIni(config.trove_guest_info_file, 'trove_guest_info_file');
    values.guestId = ini.get('DEFAULT.guest_id');
    values.rpcKey = ini.get('DEFAULT.instance_rpc_encr_key');
    if (!values.guestId) throw new ConfigError(`${config.trove_guest_info_file} (trove_guest_info_file) has no guest_id in [DEFAULT]`);
  }
  if (config.trove_guestagent_conf_file) {
    const ini = await readIni(config.trove_guestagent_conf_file, 'trove_guestagent_conf_file');
    values.transportUrl = ini.get('DEFAULT.transport_url');
  }
  return {
    ...config,
    instance_id: values.guestId ?? config.instance_id,
    instance_rpc_encr_key: config.instance_rpc_encr_key || values.rpcKey || '',
    transport_url: config.transport_url || values.transportUrl || '',
  };
}

/** oslo.config's INI dialect, as far as these files use it: sections, `key = value`, `#`/`;` comments. */
export async function readIni(file: string, key: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file} (${key}): ${errorMessage(err)}`, { cause: err });
  }
  const values = new Map<string, string>();
  let section = 'DEFAULT';
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      continue;
    }
    const separator = line.search(/[=:]/);
    if (separator <= 0) continue;
    values.set(`${section}.${line.slice(0, separator).trim()}`, line.slice(separator + 1).trim());
  }
  return values;
}
