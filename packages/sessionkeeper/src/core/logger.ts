import { type Logger, pino } from 'pino';

/**
 * JSON logs on stdout at `SESSIONKEEPER_LOG_LEVEL` (default info). Token-shaped fields are redacted
 * as a second line of defence; the code never passes a token to the logger in the first place.
 */
export function createDefaultLogger(): Logger {
  return pino({
    name: 'sessionkeeper',
    level: process.env.SESSIONKEEPER_LOG_LEVEL ?? 'info',
    redact: {
      paths: ['token', '*.token', 'refreshToken', '*.refreshToken', 'secret', '*.secret'],
      censor: '[redacted]',
    },
  });
}
