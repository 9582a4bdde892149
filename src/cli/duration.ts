// Durations on the command line: 0, 90s, 30m, 1h, 2d, 500ms, or combined (1h30m).
// A bare number is seconds.

import { UsageError } from './cli-io.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Milliseconds for `text`, or a UsageError naming `option`. */
export function parseDuration(text: string | boolean | undefined, option: string, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  if (typeof text !== 'string' || text === '') throw new UsageError(`${option} needs a duration such as 0, 90s, 30m, 1h or 2d`);
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) throw new UsageError(`${option}: '${text}' is not a duration (use 0, 90s, 30m, 1h, 2d or 1h30m)`);
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) throw new UsageError(`${option}: '${text}' is too long`);
  return Math.round(ms);
}

/** A short human form: 45s, 12m, 3h 5m, 2d 4h. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}
