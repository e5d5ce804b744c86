/**
 * Structured logs: one JSON object per line for machines, or a short line for
 * people on a terminal. Fields whose names say they hold a secret are masked
 * here as a last line of defence; callers still never pass secrets.
 */
export type LogFields = Record<string, unknown>;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
}

export interface LoggerOptions {
  format: 'json' | 'text' | 'auto';
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  debug?: boolean;
}

const SECRET_FIELD = /pass(word)?|secret|token|(^|_)key$|encr_key|transport_url|salted_hash/i;

export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const format = options.format === 'auto' ? (stream.isTTY ? 'text' : 'json') : options.format;

  const write = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    if (level === 'debug' && !options.debug) return;
    const all = maskSecrets({ ...base, ...fields });
    const time = new Date().toISOString();
    const line =
      format === 'json'
        ? JSON.stringify({ time, level, event, ...all })
        : `${time} ${level.toUpperCase().padEnd(5)} ${event}${Object.entries(all)
            .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join('')}`;
    stream.write(`${line}\n`);
  };

  return {
    debug: (event, fields) => write('debug', event, fields),
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
    with: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

function maskSecrets(fields: LogFields): LogFields {
  return Object.fromEntries(
    Object.entries(fields).map(([k, v]) => {
      if (SECRET_FIELD.test(k) && v !== null && v !== undefined && v !== '') return [k, '***'];
      if (v instanceof Error) return [k, v.message];
      return [k, v];
    }),
  );
}
