import { readFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { ConfigError, errorMessage } from '../errors.js';

/** The parts of cassandra.yaml the agent depends on, with Cassandra's defaults applied. */
export interface CassandraSettings {
  file: string;
  clusterName: string;
  dataFileDirectories: string[];
  commitlogDirectory: string;
  savedCachesDirectory: string;
  hintsDirectory: string;
  incrementalBackups: boolean;
  /** Whether clients must log in (PasswordAuthenticator or another authenticator that requires it). */
  requiresLogin: boolean;
}

/**
 * Reads cassandra.yaml. Unset directories default to `$CASSANDRA_HOME/data/...`
 * as Cassandra itself does (packages set them to /var/lib/cassandra/...).
 */
export async function readCassandraYaml(file: string, cassandraHome: string): Promise<CassandraSettings> {
  let doc: unknown;
  try {
    doc = yaml.load(await readFile(file, 'utf8'), { filename: file });
  } catch (err) {
    throw new ConfigError(`${file}: cannot read cassandra.yaml (key cassandra_yaml): ${errorMessage(err)}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${file}: cassandra.yaml is not a mapping of keys to values`);
  }
  const settings = doc as Record<string, unknown>;
  const dir = (key: string, fallback: string): string => {
    const value = settings[key];
    if (value === undefined || value === null) return path.resolve(cassandraHome, fallback);
    if (typeof value !== 'string' || value === '') throw new ConfigError(`${file}: '${key}' must be a directory path`);
    return path.resolve(path.dirname(file), value);
  };

  const dataDirs = settings.data_file_directories;
  let dataFileDirectories: string[];
  if (dataDirs === undefined || dataDirs === null) {
    dataFileDirectories = [path.resolve(cassandraHome, 'data/data')];
  } else if (Array.isArray(dataDirs) && dataDirs.length > 0 && dataDirs.every((d) => typeof d === 'string' && d !== '')) {
    dataFileDirectories = dataDirs.map((d: string) => path.resolve(path.dirname(file), d));
  } else {
    throw new ConfigError(`${file}: 'data_file_directories' must be a non-empty list of directory paths`);
  }

  const clusterName = settings.cluster_name ?? 'Test Cluster';
  if (typeof clusterName !== 'string') throw new ConfigError(`${file}: 'cluster_name' must be a string`);

  return {
    file,
    clusterName,
    dataFileDirectories,
    commitlogDirectory: dir('commitlog_directory', 'data/commitlog'),
    savedCachesDirectory: dir('saved_caches_directory', 'data/saved_caches'),
    hintsDirectory: dir('hints_directory', 'data/hints'),
    incrementalBackups: settings.incremental_backups === true,
    requiresLogin: typeof settings.authenticator === 'string' && !/(^|\.)AllowAllAuthenticator$/.test(settings.authenticator),
  };
}
