/**
 * The pipelines a user would write instead of the agent, on the same data
 * directory, the same server, the same compressor and level and the same
 * segment or part size:
 *
 *   tar -C DATA -cf - . | zstd -1 -c -q | swift upload --use-slo -S SEG --object-name X C -
 *   tar -C DATA -cf - . | zstd -1 -c -q | aws s3 cp - s3://B/X
 *   tar -C DATA -cf - . | zstd -1 -c -q > STORE/X && sync STORE/X
 *
 * and back (swift download C X -o - | zstd -d | tar -x, aws s3 cp s3://B/X -,
 * zstd -d < STORE/X). Restores fsync the extracted files afterwards
 * (`sync FILE...`), as the agent fsyncs each file it writes: a pipeline that
 * returns with the data still in the page cache would not be the same work.
 * Run through bash on purpose: the pipeline is the thing measured.
 * Credentials go through the environment (ST_KEY, AWS_SECRET_ACCESS_KEY),
 * never on a command line.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Compression } from '../src/archive/stored-format.js';
import { s3TestAccount, swiftTestAccount } from '../test/support/object-store-env.js';
import type { Backend } from './bench-options.js';
import { measureTree, type RunOptions, type TreeMeasurement } from './process-tree.js';

/** Single quotes for bash: the commands are recorded in the results as they ran. */
export const quote = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

export interface ShellTarget {
  backend: Backend;
  compression: Compression;
  level: number;
  /** The data directory to archive. */
  dataDir: string;
  /** Where the restore extracts (created, emptied by the caller). */
  restoreDir: string;
  /** Object name (local: a file in localDir). */
  objectName: string;
  localDir: string;
  swiftContainer: string;
  segmentSize: number;
  s3Bucket: string;
  /** The aws CLI configuration (part size, parts in flight) written by awsConfig(). */
  awsConfigFile: string;
  swiftCommand?: string;
  awsCommand?: string;
  /** e.g. ['nice', '-n', '10']: the priority the agent ran its backup at, for a like-for-like backup (restores run as they are). */
  priority: string[];
}

function compressCommand(c: Compression, level: number): string {
  return c === 'none' ? '' : ` | ${c} -${level} -c${c === 'gzip' ? '' : ' -q'}`;
}

function decompressCommand(c: Compression): string {
  return c === 'none' ? '' : ` | ${c} -d -c${c === 'gzip' ? '' : ' -q'}`;
}

/** `sync FILE...` fsyncs each file (coreutils ≥ 8.24). */
const syncTree = (dir: string): string => `find ${quote(dir)} -type f -exec sync -- {} +`;

export function backupScript(t: ShellTarget): string {
  const tar = `tar -C ${quote(t.dataDir)} -cf - .${compressCommand(t.compression, t.level)}`;
  switch (t.backend) {
    case 'local': {
      const file = quote(path.join(t.localDir, t.objectName));
      return `${tar} > ${file} && sync -- ${file}`;
    }
    case 'swift':
      return `${tar} | ${quote(t.swiftCommand ?? 'swift')} upload --use-slo -S ${t.segmentSize} --object-name ${quote(t.objectName)} ${quote(t.swiftContainer)} -`;
    case 's3':
      return `${tar} | ${quote(t.awsCommand ?? 'aws')} --endpoint-url ${quote(s3TestAccount.endpoint)} s3 cp - ${quote(`s3://${t.s3Bucket}/${t.objectName}`)}`;
  }
}

export function restoreScript(t: ShellTarget): string {
  const untar = `${decompressCommand(t.compression)} | tar -C ${quote(t.restoreDir)} -xf - && ${syncTree(t.restoreDir)}`;
  switch (t.backend) {
    case 'local':
      return `cat ${quote(path.join(t.localDir, t.objectName))}${untar}`;
    case 'swift':
      return `${quote(t.swiftCommand ?? 'swift')} download ${quote(t.swiftContainer)} ${quote(t.objectName)} -o -${untar}`;
    case 's3':
      return `${quote(t.awsCommand ?? 'aws')} --endpoint-url ${quote(s3TestAccount.endpoint)} s3 cp ${quote(`s3://${t.s3Bucket}/${t.objectName}`)} -${untar}`;
  }
}

/** The aws CLI's multipart settings, matched to the agent's s3_part_size and s3_queue_size. */
export async function writeAwsConfig(file: string, partSize: number, queueSize: number): Promise<void> {
  await writeFile(
    file,
    `[default]\nregion = ${s3TestAccount.region}\ns3 =\n  multipart_chunksize = ${partSize}\n  multipart_threshold = ${partSize}\n  max_concurrent_requests = ${queueSize}\n  addressing_style = path\n`,
    { mode: 0o600 },
  );
}

/** The test store's credentials for swift and aws, through the environment. */
export function clientEnv(awsConfigFile: string): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    ST_AUTH: swiftTestAccount.authUrl,
    ST_USER: swiftTestAccount.user,
    ST_KEY: swiftTestAccount.key,
    AWS_ACCESS_KEY_ID: s3TestAccount.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3TestAccount.secretAccessKey,
    AWS_DEFAULT_REGION: s3TestAccount.region,
    AWS_CONFIG_FILE: awsConfigFile,
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
  };
}

export interface ShellRun {
  command: string;
  measured: TreeMeasurement;
}

async function runScript(script: string, priority: string[], t: ShellTarget, options: RunOptions): Promise<ShellRun> {
  const measured = await measureTree([...priority, 'bash', '-o', 'pipefail', '-c', script], { ...options, env: clientEnv(t.awsConfigFile) });
  if (measured.exitCode !== 0) {
    const tail = measured.stderrLines.slice(-3).map((l) => l.line).join(' / ');
    throw new Error(`shell pipeline failed (exit ${measured.exitCode}): ${script}: ${tail}`);
  }
  return { command: [...priority, 'bash', '-o', 'pipefail', '-c', quote(script)].join(' '), measured };
}

/** Backs up with the shell pipeline, then restores into restoreDir (emptied first and afterwards). */
export async function runShellPipeline(t: ShellTarget, options: RunOptions): Promise<{ backup: ShellRun; restore: ShellRun }> {
  const backup = await runScript(backupScript(t), t.priority, t, options);
  await rm(t.restoreDir, { recursive: true, force: true });
  await mkdir(t.restoreDir, { recursive: true });
  try {
    const restore = await runScript(restoreScript(t), [], t, options);
    return { backup, restore };
  } finally {
    await rm(t.restoreDir, { recursive: true, force: true });
  }
}
