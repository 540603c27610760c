/**
 * A bound on event data that is kept (the recent events behind /api/events, a scaler's saved
 * input data): one webhook may carry a megabyte, and keeping it would grow memory and the
 * state file by as much. Small fields are what components read (desired, asg_name, tags,
 * queue); big ones are payload nobody reads back. So the data keeps its fields in order
 * while they fit in the budget, and every field that does not is replaced by a short note,
 * with `_truncated` saying what was cut.
 */
import type { EventData } from './types.js';

/** Stored event data is at most this many bytes of JSON (plus the notes). */
export const MAX_EVENT_DATA_BYTES = 16 * 1024;

function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch {
    // A cycle or a BigInt: it cannot be kept as JSON at all.
    return Number.POSITIVE_INFINITY;
  }
}

/** `data` itself when it fits in `limit` bytes of JSON; otherwise a copy with the big fields cut. */
export function capEventData(data: EventData, limit = MAX_EVENT_DATA_BYTES): EventData {
  const total = jsonBytes(data);
  if (total <= limit) return data;
  const kept: EventData = {};
  const cut: string[] = [];
  let used = 2;
  for (const [key, value] of Object.entries(data)) {
    const size = jsonBytes(value) + Buffer.byteLength(key) + 4;
    if (used + size <= limit) {
      kept[key] = value;
      used += size;
    } else {
      const bytes = jsonBytes(value);
      kept[key] = Number.isFinite(bytes) ? `[cut: ${bytes} bytes]` : '[cut: not JSON]';
      cut.push(key);
    }
  }
  const size = Number.isFinite(total) ? `${total} bytes` : 'not JSON';
  kept._truncated = `event data was ${size}, over the ${limit} byte limit: ${cut.join(', ')} cut`;
  return kept;
}
