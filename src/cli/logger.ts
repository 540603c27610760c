import pino, { type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from '../core/redact.js';

export { LOG_LEVELS } from './choices.js';

/**
 * pino JSON logs; pretty when stdout is a terminal (or WAYMOND_LOG_FORMAT=pretty). Every
 * line passes through redactSecrets just before it is written, whatever logged it (a
 * library's error quoting a connection URL included): no password reaches a log.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const hooks = { streamWrite: redactSecrets };
  const pretty =
    !destination &&
    (process.env.WAYMOND_LOG_FORMAT === 'pretty' ||
      (process.stdout.isTTY && process.env.WAYMOND_LOG_FORMAT !== 'json'));
  if (pretty) {
    return pino({
      level,
      hooks,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, hooks, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
