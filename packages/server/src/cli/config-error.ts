/** Configuration that cannot be used: the CLI prints the message and exits with status 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
