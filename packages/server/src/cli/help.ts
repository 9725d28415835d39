import { CONFIG_FLAG, envName, SETTINGS, type Setting } from './serve-config.js';

export const MAIN_HELP = `Usage: sessionkeeper <command> [options]

Commands:
  serve      Run the HTTP session service (sessionkeeper serve --help for its options)

Options:
  -h, --help     Show this help
  -v, --version  Show the version
`;

/** `serve --help`, generated from the settings table so it cannot drift from what is parsed. */
export function serveHelp(): string {
  const lines = [
    'Usage: sessionkeeper serve [options]',
    '',
    'Runs the HTTP session service (API v1).',
    '',
    'Options:',
  ];
  const envOnly: Setting<unknown>[] = [];
  for (const setting of Object.values<Setting<unknown>>(SETTINGS)) {
    if (setting.envOnly) {
      envOnly.push(setting);
      continue;
    }
    const shownDefault =
      setting.defaultText === undefined ? '' : ` (default: ${setting.defaultText})`;
    lines.push(
      `  --${setting.flag} <value>${shownDefault}`,
      `      ${setting.help}`,
      `      env: ${envName(setting.flag)}`,
    );
  }
  lines.push(
    `  --${CONFIG_FLAG} <file>`,
    '      A JSON file of settings keyed by their camelCase names, e.g. {"store": "redis://…",',
    '      "idleTimeout": "1h", "webhook": ["https://…"]}; secrets may be kept there too.',
    `      env: ${envName(CONFIG_FLAG)}`,
    '  -h, --help',
    '      Show this help',
    '',
  );
  if (envOnly.length > 0) {
    lines.push('Environment or config file only (secrets: a flag would show in ps):');
    for (const setting of envOnly)
      lines.push(`  ${envName(setting.flag)}=<value>`, `      ${setting.help}`);
    lines.push('');
  }
  lines.push(
    'Flags win over environment variables, which win over the config file, which wins over defaults.',
    'Durations accept 90s, 30m, 24h, 7d or plain seconds.',
    'Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the store or the port cannot be',
    'opened, 2 for an invalid setting.',
    '',
  );
  return lines.join('\n');
}
