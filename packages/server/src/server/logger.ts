import { type Level, type Logger, pino } from 'pino';
import { createLogDestination, type LogDestination } from './log-destination.js';

/**
 * Paths pino censors. The server never hands a token or the API key to the logger; this is the
 * second line of defence for a header or body that reaches a log through an error object.
 */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'token',
  '*.token',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  'webhooks.secret',
];

const WARN = 40; // pino's numeric value of `warn`

export type LogLevel = Level | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/**
 * JSON lines on stdout (or `destination`), tokens and credentials censored. The default
 * destination never blocks or fails the process: a closed or broken stdout drops log lines.
 */
export function createServerLogger(
  level: LogLevel = 'info',
  destination: LogDestination = createLogDestination(),
): Logger {
  return pino(
    {
      name: 'sessionkeeper',
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * The logger handed to Fastify: the same sink, but never below `warn`, so Fastify's own info lines
 * (one per listen address) do not duplicate the server's start-up line; its warnings still appear.
 */
export function frameworkLogger(logger: Logger): Logger {
  return logger.levelVal >= WARN ? logger.child({}) : logger.child({}, { level: 'warn' });
}
