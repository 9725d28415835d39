import type { DataPatch, PatchOutcome, SessionRecord } from './store.js';

/**
 * `dataJson` (a JSON object's text) with `patch` applied, as JSON text, and its size in bytes.
 * Stored keys keep their order (a replaced key stays where it was); new keys follow in `patch.set`
 * order. The patch's value texts are used as they are, never parsed and re-encoded.
 */
export function mergeDataJson(
  dataJson: string,
  patch: DataPatch,
): { dataJson: string; sizeBytes: number } {
  const stored = JSON.parse(dataJson) as Record<string, unknown>;
  const replace = new Map(patch.set);
  const removed = new Set(patch.remove);
  const members: string[] = [];
  for (const key of Object.keys(stored)) {
    if (removed.has(key)) continue;
    const valueJson = replace.get(key);
    members.push(`${JSON.stringify(key)}:${valueJson ?? JSON.stringify(stored[key])}`);
    replace.delete(key);
  }
  for (const [key, valueJson] of replace) members.push(`${JSON.stringify(key)}:${valueJson}`);
  const merged = `{${members.join(',')}}`;
  return { dataJson: merged, sizeBytes: Buffer.byteLength(merged) };
}

/**
 * For stores that merge in JavaScript inside their atomic step: `record` (read in that step, or
 * null when not active) patched, or why not. `write` stores the merged text and returns the
 * record as written.
 */
export function patchRecord(
  record: SessionRecord | null,
  patch: DataPatch,
  maxDataBytes: number,
  write: (dataJson: string) => SessionRecord,
): PatchOutcome {
  if (!record) return { kind: 'inactive' };
  const merged = mergeDataJson(record.dataJson, patch);
  if (merged.sizeBytes > maxDataBytes) return { kind: 'too-large', sizeBytes: merged.sizeBytes };
  return { kind: 'patched', record: write(merged.dataJson) };
}
