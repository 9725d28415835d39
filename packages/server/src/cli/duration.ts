const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `30m`, `24h`, `7d`, `1.5h` or plain seconds (`1800`) -> seconds; null when unreadable or not positive. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([smhd])?$/i.exec(text.trim());
  if (!match?.[1]) return null;
  const seconds = Number(match[1]) * (UNIT_SECONDS[(match[2] ?? 's').toLowerCase()] ?? 1);
  return seconds > 0 && Number.isFinite(seconds) ? seconds : null;
}
