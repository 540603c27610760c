/**
 * Push trigger: subscribes to an MQTT topic and turns every message into an event at once.
 *
 * Payloads (decided here, documented in the schema):
 * - a bare number (`42`, ` 3.5 `) → `{ value }`;
 * - a JSON object → the object, whose `value` must be a finite number ≥ 0; with
 *   `value_path` the number is read from that dot path instead (`stats.depth`) and put in
 *   `value`. Reshaping beyond that belongs to a connector's JSONata transform;
 * - anything else (text, arrays, a missing or non-numeric value) → an error event, never a
 *   guessed zero;
 * - an empty payload is how MQTT clears a retained message: ignored, not an error.
 * Each event also carries the message's `topic` (useful with wildcards) unless the payload
 * has its own. Retained messages arrive right after subscribing: the last known reading.
 *
 * The mqtt library reconnects by itself (every `reconnect_period`) and we subscribe again
 * on each connect. Connection errors become error events, once per distinct failure until
 * the next successful connect, so an outage does not flood the event store.
 *
 * The mqtt library is loaded by create(), not imported here: most configs have no mqtt
 * trigger, and loading it costs every run of waymond about 17 MiB (startup memory).
 */
import type { MqttClient } from 'mqtt';
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { triggerSchema } from '../core/schema.js';
import type { ComponentContext, EventData, Trigger, TriggerDefinition } from '../core/types.js';
import { readSecretEnv, redactUrl } from './connection-url.js';
import { checkMetricValue, secretFromEnv } from './poller.js';

const schema = triggerSchema('mqtt', {
  url: z
    .string()
    .regex(/^(mqtts?|wss?):\/\/[^/]/, 'expected a URL like "mqtt://host:1883" or "mqtts://host:8883"')
    .describe('Broker URL: `mqtt://host:1883`, `mqtts://` for TLS, `ws://`/`wss://` over WebSocket.'),
  topic: z
    .string()
    .min(1)
    .describe('Topic filter to subscribe to; `+` and `#` wildcards allowed (the event carries the exact `topic`).'),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)])
    .default(1)
    .describe('Subscription QoS: 0 at most once, 1 at least once, 2 exactly once.'),
  username: z.string().min(1).optional().describe('User name, with `password_env`.'),
  password_env: secretFromEnv.optional(),
  client_id: z
    .string()
    .min(1)
    .optional()
    .describe('MQTT client id (default: generated). Two clients with one id knock each other off the broker.'),
  value_path: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'expected a dot path like "stats.depth"')
    .optional()
    .describe(
      'For JSON object payloads: dot path of the number to use as `value` (default: the object must have a numeric `value`).',
    ),
  reconnect_period: duration('Wait this long between reconnect attempts after the broker is lost.').default(5000),
  connect_timeout: duration('Give up one connection attempt after this long.').default(10_000),
});

type MqttConfig = z.output<typeof schema>;

type Parsed = { ok: true; data: EventData } | { ok: false; error: string } | { ok: 'ignore' };

function readPath(object: Record<string, unknown>, path: string): unknown {
  let current: unknown = object;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Turns one payload into event data, or says why it cannot be one. */
export function parsePayload(payload: Buffer, topic: string, valuePath?: string): Parsed {
  const text = payload.toString('utf8').trim();
  if (text === '') return { ok: 'ignore' };
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {
      ok: false,
      error: `payload on "${topic}" is neither a number nor a JSON object: ${JSON.stringify(shown)}`,
    };
  }
  let data: EventData;
  if (typeof parsed === 'number') {
    data = { value: parsed };
  } else if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const object = parsed as Record<string, unknown>;
    data = valuePath ? { ...object, value: readPath(object, valuePath) } : { ...object };
  } else {
    return {
      ok: false,
      error: `payload on "${topic}" is neither a number nor a JSON object: ${JSON.stringify(shown)}`,
    };
  }
  const problem = checkMetricValue(data.value);
  if (problem) {
    const field = valuePath ? `"${valuePath}"` : '"value"';
    return { ok: false, error: `payload on "${topic}": ${field}: ${problem}` };
  }
  if (!('topic' in data)) data.topic = topic;
  return { ok: true, data };
}

export const mqttTrigger: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'mqtt',
  summary: 'Subscribes to an MQTT topic; each message (a number, or a JSON object with a numeric value) is an event.',
  schema,
  acceptsInput: false,
  example: `[[trigger]]
type = "mqtt"
id = "queue_depth"
url = "mqtt://127.0.0.1:1883"
topic = "factory/+/queue_depth"
# username = "waymond"
# password_env = "MQTT_PASSWORD"
# value_path = "stats.depth"`,
  create(config: MqttConfig, ctx) {
    // A missing secret is reported at once, before the mqtt library is loaded.
    const password = readSecretEnv(ctx.address, 'password_env', config.password_env);
    return createMqttTrigger(config, ctx, password);
  },
};

async function createMqttTrigger(
  config: MqttConfig,
  ctx: ComponentContext,
  password: string | undefined,
): Promise<Trigger> {
  const { connect } = await import('mqtt');
  const where = redactUrl(config.url);
  let client: MqttClient | undefined;
  let lastReported: string | undefined;

  const reportOnce = (message: string) => {
    if (message === lastReported) {
      ctx.logger.debug({ err: message }, 'mqtt error (already reported)');
      return;
    }
    lastReported = message;
    ctx.emitError(new Error(message));
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const result = parsePayload(payload, topic, config.value_path);
    if (result.ok === 'ignore') return;
    if (result.ok) ctx.emit(result.data);
    // Malformed payloads are reported every time: each one is a reading that was lost.
    else ctx.emitError(new Error(result.error));
  };

  return {
    start() {
      const c = connect(config.url, {
        reconnectPeriod: config.reconnect_period,
        connectTimeout: config.connect_timeout,
        // We subscribe on every connect ourselves, so a refused subscription is seen each time.
        resubscribe: false,
        clean: true,
        ...(config.client_id ? { clientId: config.client_id } : {}),
        ...(config.username ? { username: config.username } : {}),
        ...(password === undefined ? {} : { password }),
      });
      client = c;
      c.on('message', onMessage);
      // start() resolves once the first subscription is in place or the first attempt failed,
      // so a trigger that cannot reach its broker does not hold up the daemon.
      return new Promise<void>((resolve) => {
        let timer: TimerHandle | undefined;
        const settled = () => {
          timer?.cancel();
          resolve();
        };
        timer = ctx.clock.setTimeout(settled, config.connect_timeout);
        c.on('connect', () => {
          lastReported = undefined;
          c.subscribe(config.topic, { qos: config.qos }, (error, granted) => {
            const refused = granted?.find((g) => g.qos === 128);
            if (error) reportOnce(`cannot subscribe to "${config.topic}" on ${where}: ${errorMessage(error)}`);
            else if (refused) reportOnce(`${where} refused the subscription to "${config.topic}" (not authorised?)`);
            settled();
          });
        });
        c.on('error', (error) => {
          reportOnce(`MQTT broker ${where}: ${errorMessage(error)}`);
          settled();
        });
        c.on('offline', () => ctx.logger.info(`lost ${where}; reconnecting every ${config.reconnect_period} ms`));
      });
    },
    async stop() {
      const c = client;
      client = undefined;
      if (!c) return;
      c.removeListener('message', onMessage);
      await c.endAsync(true).catch(() => undefined);
    },
  };
}
