import { isValidSessionId } from 'sessionkeeper/internal/token';
import * as z from 'zod/v4';

// The holder calls' shapes and the parsing helpers are shared with the middleware's holder routes.
export {
  leaseBody,
  leaseIdParams,
  parseInput,
  refreshBody,
  renameFields,
} from '@sessionkeeper/middleware/internal/input';

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

export const slugParams = z.strictObject({ slug: z.string() });
