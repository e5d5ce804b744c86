import type { Progress } from '../util/progress.js';
import { formatBytes, formatDuration } from '../util/format-bytes.js';

const BAR_WIDTH = 24;
const REDRAW_MS = 200;

/**
 * Steps as lines on stderr; on a TTY, byte phases as one redrawn line with
 * bytes, rate and ETA. Never writes to stdout, which belongs to the result.
 */
export function createTerminalProgress(stream: NodeJS.WriteStream, options: { quiet: boolean }): Progress {
  const tty = stream.isTTY === true;
  let phase = '';
  let total = 0;
  let done = 0;
  let startedAt = 0;
  let lastDraw = 0;
  let drawn = false;

  const draw = (force: boolean): void => {
    const now = Date.now();
    if (!tty || (!force && now - lastDraw < REDRAW_MS)) return;
    lastDraw = now;
    const seconds = Math.max((now - startedAt) / 1000, 0.001);
    const rate = done / seconds;
    const fraction = total > 0 ? Math.min(done / total, 1) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const eta = done >= total ? '0s' : rate > 0 ? formatDuration((total - done) / rate) : '--';
    const line = `${phase} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s  ETA ${eta}`;
    stream.write(`\r${line.padEnd(Math.max(line.length, (stream.columns ?? 80) - 1))}`);
    drawn = true;
  };

  return {
    step(message) {
      if (options.quiet) return;
      if (drawn) stream.write('\n');
      drawn = false;
      stream.write(`guest-agent: ${message}\n`);
    },
    begin(name, totalBytes) {
      phase = name;
      total = totalBytes;
      done = 0;
      startedAt = Date.now();
      if (!options.quiet) draw(true);
    },
    advance(bytes) {
      done += bytes;
      if (!options.quiet) draw(false);
    },
    end() {
      if (options.quiet) return;
      draw(true);
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
