import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from '../catalog/backup-record.js';

/** Object-name suffix for a TAR stream compressed this way (Trove: `.tar.gz`). */
export function archiveSuffix(compression: Compression): string {
  return compression === 'gzip' ? '.tar.gz' : '.tar';
}

export function createCompressor(compression: Compression, level: number): Transform {
  // Large zlib chunks cut per-call overhead; SSTables are mostly incompressible.
  return compression === 'gzip' ? zlib.createGzip({ level, chunkSize: 256 * 1024 }) : new PassThrough();
}

export function createDecompressor(compression: Compression): Transform {
  return compression === 'gzip' ? zlib.createGunzip({ chunkSize: 256 * 1024 }) : new PassThrough();
}
