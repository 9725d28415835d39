#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error.js';
import { MAIN_HELP, serveHelp } from './help.js';
import { exitOnSignals, StartupError, startService } from './serve.js';
import { parseServeArgs } from './serve-config.js';

/** Exit statuses: 0 success, 1 the service failed to start or run, 2 bad usage or configuration. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      process.stderr.write(MAIN_HELP);
      return 2;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(MAIN_HELP);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'serve': {
      const parsed = parseServeArgs(rest, process.env);
      if (parsed.help) {
        process.stdout.write(serveHelp());
        return 0;
      }
      exitOnSignals(await startService(parsed.config, process.stderr));
      return -1; // keeps running until a signal
    }
    default:
      throw new ConfigError(`unknown command "${command.slice(0, 80)}" (see sessionkeeper --help)`);
  }
}

function version(): string {
  // package.json sits two levels up from both src/cli/main.ts and dist/cli/main.js.
  const pkg: unknown = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  );
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg
    ? String(pkg.version)
    : 'unknown';
}

main(process.argv.slice(2)).then(
  (status) => {
    if (status >= 0) process.exitCode = status;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof StartupError) {
      process.stderr.write(`sessionkeeper: ${error.message}\n`);
    } else {
      process.stderr.write(
        `sessionkeeper: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
    // Exit now rather than wait for handles a half-started store may have left open.
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);
