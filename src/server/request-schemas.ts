import * as z from 'zod/v4';
import { ValidationError } from '../core/errors.js';
import { isValidSessionId } from '../core/token.js';

/*
 * Request shapes, checked with zod (the v4 API shipped in zod@3.25, whose toJSONSchema will feed
 * /openapi.json). Zod checks shapes and types; the engine checks meaning (subject rules, ranges,
 * data size) and names the field itself. Objects are strict so a misspelt field is reported,
 * not silently ignored.
 */

const jsonObject = z.record(z.string(), z.unknown());
const digits = z
  .string()
  .regex(/^\d{1,6}$/, 'must be a whole number')
  .transform(Number);

export const createSessionBody = z.strictObject({
  subject: z.string(),
  data: jsonObject.optional(),
  idleTimeout: z.number().optional(),
  absoluteTimeout: z.number().optional(),
});

export const updateSessionBody = z.strictObject({ data: jsonObject });

export const leaseBody = z.strictObject({ ttl: z.number() });

export const refreshBody = z.strictObject({
  // Refresh tokens are about 110 characters; the engine tells a wrong one apart (401 invalid-token).
  refreshToken: z.string().min(1, 'must not be empty').max(512, 'is longer than any refresh token'),
});

export const listQuery = z.strictObject({
  subject: z.string(),
  limit: digits.optional(),
  cursor: z.string().max(512).optional(),
});

export const revokeQuery = z.strictObject({ reason: z.string().optional() });

export const sessionIdParams = z.strictObject({
  id: z
    .string()
    .refine(
      isValidSessionId,
      'must be a session id (8 to 64 characters of A-Z, a-z, 0-9, _ and -)',
    ),
});

export const subjectParams = z.strictObject({ subject: z.string() });

export const leaseIdParams = z.strictObject({
  // The engine issues UUIDs; anything else cannot name a lease (and never reaches a store as a key).
  leaseId: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      'must be a lease id as returned when the lease was taken',
    ),
});

export const slugParams = z.strictObject({ slug: z.string() });

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
