import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import type { SessionKind } from './kind.js';
import { resolvePoolOptions } from './options.js';

const kind: SessionKind<object> = {
  name: 'test',
  concurrency: 1,
  create: async () => ({}),
  probe: async () => undefined,
  destroy: async () => {},
};

describe('pool options', () => {
  it('fills the documented defaults (durations in seconds)', () => {
    expect(resolvePoolOptions({ kind })).toMatchObject({
      sessionsPerKey: 1,
      maxSessions: 50,
      acquireTimeoutSeconds: 30,
      maxAttempts: 3,
      checkIntervalSeconds: 20,
      refreshIntervalSeconds: 120,
      probeAfterIdleSeconds: undefined,
      maxAgeSeconds: undefined,
      maxUses: undefined,
      jitter: 0.1,
      loginTimeoutSeconds: 60,
      failureThreshold: 5,
      cooldownSeconds: 10,
      background: true,
      name: 'default',
    });
    expect(resolvePoolOptions({ kind }).detectors).toHaveLength(3);
  });

  it.each([
    [{ kind: { ...kind, probe: undefined } }, 'kind'],
    [{ kind: { ...kind, concurrency: 0 } }, 'kind.concurrency'],
    [{ kind, sessionsPerKey: 1.5 }, 'sessionsPerKey'],
    [{ kind, checkIntervalSeconds: 0 }, 'checkIntervalSeconds'],
    [{ kind, maxAgeSeconds: -1 }, 'maxAgeSeconds'],
    [{ kind, jitter: 1 }, 'jitter'],
    [{ kind, breaker: { cooldownSeconds: Number.NaN } }, 'breaker.cooldownSeconds'],
    [{ kind, detectors: ['status'] }, 'detectors'],
  ])('refuses %o naming %s', (options, field) => {
    expect(() => resolvePoolOptions(options as never)).toThrow(ValidationError);
    try {
      resolvePoolOptions(options as never);
    } catch (error) {
      expect((error as ValidationError).field).toBe(field);
    }
  });
});
