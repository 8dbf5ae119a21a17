/**
 * LogStack's own logs: pino JSON lines. Secrets are redacted by path as a second line of defence;
 * the first is that no code logs a token, a header set or the config's secrets in the first place.
 */
import { pino, type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

export interface LoggerOptions {
  /** From the configuration with `pinoLevel(config)` (src/config/load.ts). */
  level: LevelWithSilent;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
}

const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'admin_token',
  '*.admin_token',
  'api_keys',
  '*.api_keys',
  'bearer_token',
  '*.bearer_token',
  'basic_auth',
  '*.basic_auth',
];

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'logstack' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination(1),
  );
}
