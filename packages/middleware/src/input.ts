import { ValidationError } from 'sessionkeeper/internal/errors';
import * as z from 'zod/v4';

/*
 * The holder calls' request shapes, shared by the service and the middleware's holder routes, and
 * the helpers both use to turn a failed check into a `ValidationError` naming the field.
 */

export const leaseBody = z.strictObject({ ttl: z.number() });

export const refreshBody = z.strictObject({
  // Refresh tokens are about 110 characters; the engine tells a wrong one apart (401 invalid-token).
  refreshToken: z.string().min(1, 'must not be empty').max(512, 'is longer than any refresh token'),
});

export const leaseIdParams = z.strictObject({
  // The engine issues UUIDs; anything else cannot name a lease (and never reaches a store as a key).
  leaseId: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      'must be a lease id as returned when the lease was taken',
    ),
});

/** Parses `value` or throws `ValidationError` naming the first offending field. */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  value: unknown,
  where: 'body' | 'query' | 'path',
): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ValidationError(where, 'is not valid');
  if (issue.code === 'unrecognized_keys') {
    throw new ValidationError(issue.keys[0] ?? where, `is not a field of this request's ${where}`);
  }
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : where;
  throw new ValidationError(field, describe(issue.message));
}

function describe(message: string): string {
  if (message.endsWith('received undefined')) return 'is required';
  return message.replace(/^Invalid input: /, '').replace(/\brecord\b/, 'object');
}

/**
 * The engine names its arguments in its own units (`idleTimeoutSeconds`); the wire uses the
 * names in DESIGN.md. This renames the field of a ValidationError raised by the engine.
 */
export function renameFields<T>(
  work: () => Promise<T>,
  names: Readonly<Record<string, string>>,
): Promise<T> {
  return work().catch((error: unknown) => {
    if (error instanceof ValidationError && names[error.field] !== undefined) {
      const detail = error.message.slice(error.field.length + 2);
      throw new ValidationError(names[error.field] ?? error.field, detail);
    }
    throw error;
  });
}
