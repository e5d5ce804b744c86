import { appendFileSync } from 'node:fs';

/**
 * logs/system.log in Cassandra's logback layout:
 * `INFO  [main] 2026-11-21 18:06:22,414 StorageService.java:734 - Cassandra version: 4.0-rc1-SNAPSHOT`.
 * Lines are appended synchronously so a crash never loses the line that explains it.
 */
export type Level = 'INFO' | 'WARN' | 'ERROR';

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function logTimestamp(date: Date): string {
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())},${String(date.getMilliseconds()).padStart(3, '0')}`
  );
}

export class SystemLog {
  constructor(private readonly path: string | undefined) {}

  write(level: Level, thread: string, source: string, message: string, detail: string[] = []): void {
    if (!this.path) return;
    const line = `${level.padEnd(5)} [${thread}] ${logTimestamp(new Date())} ${source} - ${message}\n`;
    appendFileSync(this.path, line + detail.map((d) => `${d}\n`).join(''));
  }

  info(source: string, message: string, thread = 'main'): void {
    this.write('INFO', thread, source, message);
  }

  warn(source: string, message: string, thread = 'main'): void {
    this.write('WARN', thread, source, message);
  }

  error(source: string, message: string, detail: string[] = [], thread = 'main'): void {
    this.write('ERROR', thread, source, message, detail);
  }
}

/** A log that discards everything (the offline data generator). */
export const SILENT_LOG = new SystemLog(undefined);

/** `(0.661KiB)` as SSTableReaderBuilder and Memtable print sizes. */
export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(3)}KiB`;
}
