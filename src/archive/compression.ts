import { PassThrough, type Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from './stored-format.js';
import { AgentError, ArchiveError } from '../errors.js';
import { createProcessStream } from './process-stream.js';

/**
 * One entry per compression a backup may be stored with. gzip is Node's own
 * zlib; zstd, lz4 and lzop are Debian's command-line tools, run as a stream
 * stage (process-stream.ts): as fast as the npm addons wherever the store is
 * the limit, far faster than the WebAssembly builds, and nothing to compile
 * or download at install time (docs/compression.md).
 */
interface Codec {
  /** Object-name suffix of a TAR stream compressed this way (Trove: `.tar.gz`). */
  suffix: string;
  /** Absent for formats the agent only reads (lzop, the seed tool's). */
  compress?: (level: number) => Duplex;
  decompress: () => Duplex;
}

/** Large zlib chunks cut per-call overhead; SSTables are mostly incompressible. */
const ZLIB_CHUNK = 256 * 1024;

/** A Debian tool compressing as a stream stage: `-c` to stdout, `-q` so that only errors reach stderr. */
function compressingTool(command: string, level: number): Duplex {
  return createProcessStream(command, [`-${level}`, '-c', '-q'], { label: `${command} compression`, debianPackage: command });
}

/** The same tool decompressing: its failure, but for a missing command, is a stored archive that does not decode. */
function decompressingTool(command: string): Duplex {
  return createProcessStream(command, ['-d', '-c', '-q'], {
    label: `${command} decompression`,
    debianPackage: command,
    toError: (message, { missing, cause }) =>
      new ArchiveError(missing ? message : `the stored backup is truncated or corrupt (${message}); restore from another backup`, { cause }),
  });
}

const CODECS: Record<Compression, Codec> = {
  none: { suffix: '.tar', compress: () => new PassThrough(), decompress: () => new PassThrough() },
  gzip: {
    suffix: '.tar.gz',
    compress: (level) => zlib.createGzip({ level, chunkSize: ZLIB_CHUNK }),
    decompress: () => zlib.createGunzip({ chunkSize: ZLIB_CHUNK }),
  },
  zstd: { suffix: '.tar.zst', compress: (level) => compressingTool('zstd', level), decompress: () => decompressingTool('zstd') },
  // Levels 1-2 are LZ4's fast mode, 3 and up its much slower high-compression mode.
  lz4: { suffix: '.tar.lz4', compress: (level) => compressingTool('lz4', level), decompress: () => decompressingTool('lz4') },
  lzop: { suffix: '.tar.lzo', decompress: () => decompressingTool('lzop') },
};

/** Object-name suffix for a TAR stream compressed this way (Trove: `.tar.gz`). */
export function archiveSuffix(compression: Compression): string {
  return CODECS[compression].suffix;
}

export function createCompressor(compression: Compression, level: number): Duplex {
  const compress = CODECS[compression].compress;
  if (!compress) throw new AgentError(`backups cannot be written with ${compression}, which the agent only reads; choose another backup_compression`);
  return compress(level);
}

export function createDecompressor(compression: Compression): Duplex {
  return CODECS[compression].decompress();
}
