import { describe, expect, it } from 'vitest';
import { capEventData, MAX_EVENT_DATA_BYTES } from '../../src/core/event-cap.js';

describe('capEventData', () => {
  it('returns small data as it is', () => {
    const data = { desired: 3, asg_name: 'ci', tags: { team: 'a' } };
    expect(capEventData(data)).toBe(data);
  });

  it('keeps the small fields, cuts the big ones with a note, and stays under the limit', () => {
    const data = { desired: 4, reason: 'r'.repeat(1_000_000), asg_name: 'ci', blob: { x: 'y'.repeat(20_000) } };
    const capped = capEventData(data);
    expect(capped.desired).toBe(4);
    expect(capped.asg_name).toBe('ci');
    expect(capped.reason).toBe('[cut: 1000002 bytes]');
    expect(capped.blob).toMatch(/^\[cut: \d+ bytes\]$/);
    expect(capped._truncated).toContain('reason, blob cut');
    expect(Buffer.byteLength(JSON.stringify(capped))).toBeLessThan(MAX_EVENT_DATA_BYTES);
  });

  it('cuts what cannot be JSON at all', () => {
    const cyclic: Record<string, unknown> = { desired: 1 };
    cyclic.self = cyclic;
    const capped = capEventData(cyclic);
    expect(capped.self).toBe('[cut: not JSON]');
    expect(capped._truncated).toContain('not JSON');
  });
});
