import { ValidationError } from './errors.js';

/** Position in a subject's list (newest first): the last record of the previous page. */
export interface ListPosition {
  createdAtMs: number;
  id: string;
}

/** Opaque to callers; stores share it so a cursor means the same on every store. */
export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.createdAtMs, position.id])).toString('base64url');
}

export function decodeCursor(cursor: string): ListPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string'
    ) {
      return { createdAtMs: value[0], id: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError('cursor', 'is not a cursor this service issued');
}
