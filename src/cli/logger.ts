import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** pino JSON logs; pretty when stdout is a terminal (or WAYMOND_LOG_FORMAT=pretty). */
export function createLogger(level: string): Logger {
  const pretty =
    process.env.WAYMOND_LOG_FORMAT === 'pretty' || (process.stdout.isTTY && process.env.WAYMOND_LOG_FORMAT !== 'json');
  if (pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } });
  }
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
