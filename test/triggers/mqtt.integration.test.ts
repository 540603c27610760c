import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Trigger, WaymondEvent } from '../../src/core/types.js';
import { mqttTrigger as definition, parsePayload } from '../../src/triggers/mqtt.js';
import { type TestContext, testContext } from '../helpers/context.js';
import { canConnect, requireService } from '../helpers/services.js';

const URL = 'mqtt://127.0.0.1:1883';
const available = await requireService('Mosquitto at 127.0.0.1:1883', () => canConnect(1883));

describe.skipIf(!available)('mqtt trigger (real Mosquitto)', () => {
  let publisher: MqttClient;
  const retained: string[] = [];
  const running: { trigger: Trigger; t: TestContext }[] = [];

  beforeAll(async () => {
    publisher = await mqtt.connectAsync(URL);
  });
  afterEach(async () => {
    for (const { trigger, t } of running.splice(0)) {
      await trigger.stop();
      t.close();
    }
    // An empty retained message deletes the retained one.
    for (const topic of retained.splice(0)) await publisher.publishAsync(topic, '', { retain: true, qos: 1 });
  });
  afterAll(async () => {
    await publisher.endAsync();
  });

  const base = () => `waymond-test/${randomUUID()}`;

  async function start(config: Record<string, unknown>) {
    const t = testContext('trigger', 'mq');
    const trigger = await definition.create(
      definition.schema.parse({ type: 'mqtt', id: 'mq', url: URL, ...config }),
      t.ctx,
    );
    running.push({ trigger, t });
    await trigger.start();
    return t;
  }

  /** Waits until the trigger has emitted `count` events (outputs and errors alike). */
  async function until(t: TestContext, count: number): Promise<WaymondEvent[]> {
    await expect.poll(() => t.events.length, { timeout: 5000 }).toBeGreaterThanOrEqual(count);
    return t.events;
  }

  it('a bare number is {value}; a JSON object is emitted as is, with the exact topic', async () => {
    const topic = `${base()}/depth`;
    const t = await start({ topic });
    await publisher.publishAsync(topic, '42', { qos: 1 });
    await publisher.publishAsync(topic, JSON.stringify({ value: 7, queue: 'builds' }), { qos: 1 });
    const [first, second] = await until(t, 2);
    expect(first?.topic).toBe('trigger.mq.output');
    expect(first?.data).toEqual({ value: 42, topic });
    expect(second?.data).toEqual({ value: 7, queue: 'builds', topic });
  });

  it('value_path reads the number from a nested field; wildcard subscriptions report the topic', async () => {
    const prefix = base();
    const t = await start({ topic: `${prefix}/+/stats`, value_path: 'stats.depth' });
    await publisher.publishAsync(`${prefix}/line-3/stats`, JSON.stringify({ stats: { depth: 5 } }), { qos: 1 });
    const [event] = await until(t, 1);
    expect(event?.data).toMatchObject({ value: 5, topic: `${prefix}/line-3/stats`, stats: { depth: 5 } });
  });

  it('malformed payloads are error events, each one, and later good messages still arrive', async () => {
    const topic = `${base()}/depth`;
    const t = await start({ topic });
    for (const payload of ['lots', '[1,2]', JSON.stringify({ depth: 3 }), '-4', JSON.stringify({ value: '9' })]) {
      await publisher.publishAsync(topic, payload, { qos: 1 });
    }
    await publisher.publishAsync(topic, '11', { qos: 1 });
    const events = await until(t, 6);
    expect(events.map((e) => e.topic)).toEqual([...Array(5).fill('trigger.mq.error'), 'trigger.mq.output']);
    expect(String(events[0]?.data.error)).toContain('is neither a number nor a JSON object: "lots"');
    expect(String(events[2]?.data.error)).toContain('"value": expected a finite number as value, found nothing');
    expect(String(events[3]?.data.error)).toContain('expected a value >= 0, found -4');
    expect(events[5]?.data.value).toBe(11);
  });

  it('a retained reading is delivered as soon as the trigger subscribes', async () => {
    const topic = `${base()}/depth`;
    retained.push(topic);
    await publisher.publishAsync(topic, '13', { retain: true, qos: 1 });
    const t = await start({ topic });
    const [event] = await until(t, 1);
    expect(event?.data).toEqual({ value: 13, topic });
  });

  it('an unreachable broker (a closed port): start returns, one error event, no values', async () => {
    const t = await start({ topic: 'x', url: 'mqtt://user:pw-secret@127.0.0.1:1', reconnect_period: '100ms' });
    await expect.poll(() => t.events.length, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
    expect(t.events.every((e) => e.topic === 'trigger.mq.error')).toBe(true);
    expect(String(t.events[0]?.data.error)).toMatch(/MQTT broker mqtt:\/\/user:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/);
    expect(JSON.stringify(t.events)).not.toContain('pw-secret');
  });
});

describe('mqtt payload rules', () => {
  const topic = 't';
  it.each([
    ['42', undefined, { ok: true, data: { value: 42, topic } }],
    [' 3.5\n', undefined, { ok: true, data: { value: 3.5, topic } }],
    ['{"value":0,"topic":"own"}', undefined, { ok: true, data: { value: 0, topic: 'own' } }],
    ['{"a":{"b":2}}', 'a.b', { ok: true, data: { value: 2, a: { b: 2 }, topic } }],
    ['', undefined, { ok: 'ignore' }],
  ])('%j (value_path %s) is read', (payload, path, expected) => {
    expect(parsePayload(Buffer.from(payload), topic, path)).toEqual(expected);
  });

  it.each([['NaN'], ['null'], ['"5"'], ['1e13'], ['{"value":null}']])('%j is refused', (payload) => {
    expect(parsePayload(Buffer.from(payload), topic).ok).toBe(false);
  });

  it('a value_path that leads nowhere is refused, naming the path', () => {
    const result = parsePayload(Buffer.from('{"a":1}'), topic, 'a.b');
    expect(result).toEqual({
      ok: false,
      error: 'payload on "t": "a.b": expected a finite number as value, found nothing',
    });
  });
});
