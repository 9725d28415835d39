import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './config-error.js';

/** A config file's settings as raw text, keyed like `SETTINGS`, before each setting parses it. */
export interface ConfigFile {
  /** As the user gave it, for messages. */
  path: string;
  values: Map<string, string>;
}

/**
 * Reads a JSON config file: an object whose keys are the settings' names in camelCase
 * (`idleTimeout`, `store`, `webhook`…) and whose values are what the flag would take (a string, a
 * number or a boolean; a list for the repeatable ones). Anything else, an unknown key included,
 * stops start-up with a message that names the file and the key.
 */
export function readConfigFile(path: string, known: ReadonlySet<string>): ConfigFile {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file ${path} does not exist`
        : `config file ${path} cannot be read (${code ?? String(error)})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object of settings`);
  }
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '$schema') continue; // editors' hint, not a setting
    if (!known.has(key)) {
      throw new ConfigError(
        `config file ${path}: unknown setting "${key.slice(0, 80)}" (known: ${[...known].join(', ')})`,
      );
    }
    const raw = rawText(value);
    if (raw === null) {
      throw new ConfigError(
        `config file ${path}: "${key}" must be a string, a number, a boolean or a list of strings`,
      );
    }
    values.set(key, raw);
  }
  return { path, values };
}

function rawText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string'))
    return value.join(',');
  return null;
}
