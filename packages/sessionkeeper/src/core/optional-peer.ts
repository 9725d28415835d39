import { createRequire } from 'node:module';

/** A module needs an optional peer dependency that is not installed. */
export class MissingPeerDependencyError extends Error {
  override readonly name = 'MissingPeerDependencyError';
  readonly code = 'ERR_SESSIONKEEPER_MISSING_PEER';
  constructor(
    readonly peer: string,
    readonly neededBy: string,
    cause: unknown,
  ) {
    super(`${neededBy} needs ${peer}, which is not installed: npm install ${peer}`, { cause });
  }
}

/**
 * Loads an optional peer (a CommonJS package) from the module at `from` (its import.meta.url),
 * turning "Cannot find module" into one line that names the package to install. Synchronous, so
 * the importing module needs no top-level await and can still be `require`d. Any other failure
 * of the peer (a broken native build, say) is rethrown as it is.
 */
export function requirePeer<T>(peer: string, neededBy: string, from: string): T {
  try {
    return createRequire(from)(peer) as T;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : '';
    if (code === 'MODULE_NOT_FOUND' && message.includes(`'${peer}'`)) {
      throw new MissingPeerDependencyError(peer, neededBy, error);
    }
    throw error;
  }
}
