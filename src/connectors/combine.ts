/**
 * The combine connector: several sources in, one metric out. Each source's latest reading
 * (its `metric` expression over its latest event, or its latest error) is kept by name; each
 * new event or error re-combines them with `combineInputs` (src/policy/combine.ts):
 * max (default), min, sum, avg, or a JSONata `formula` over the sources by name.
 *
 * A source's name is the id of its address (`queue` for trigger.queue), so a formula reads
 * `queue + running * 0.5`. A source older than `stale_after` or failing drops out; when none
 * is left, nothing is emitted (whatever reads this holds) and an error event on
 * `connector.<id>.error` says why, so a policy reading from here applies its on_error.
 *
 * Output: `{ value, reason }`, read by a policy with `from = "connector.<id>"`. Readings are
 * kept in memory only: after a restart each source counts once it reports again.
 */
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { connectorSchema } from '../core/schema.js';
import type { ConnectorDefinition, EventData, WaymondEvent } from '../core/types.js';
import { combineInputs, combineSchemaShape, type SourceReading } from '../policy/index.js';
import { metricField, readingFrom } from './policy.js';
import { type CompiledJsonata, compileJsonata } from './transforms/jsonata.js';

const ADDRESS = /^(trigger|connector)\.[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** The name a source goes by in formulas and reasons: its address's id. */
export function sourceName(address: string): string {
  return address.slice(address.indexOf('.') + 1);
}

const METRIC = z
  .union([
    metricField('JSONata expression over each event giving its source’s number (default `value`).'),
    z
      .record(z.string(), metricField('JSONata expression over this source’s events.'))
      .describe('Per source, by name: `{ queue = "jobs.waiting", running = "value" }`; unnamed ones read `value`.'),
  ])
  .default('value')
  .describe(
    'How to read each source’s number: one JSONata expression for all (default `value`), or a table by source name.',
  );

// `from` is narrowed with extend (a key repeated in the shape would not narrow the type).
const schema = connectorSchema('combine', {
  metric: METRIC,
  ...combineSchemaShape,
})
  .extend({
    to: z
      .string()
      .regex(/^trigger\.[A-Za-z0-9_][A-Za-z0-9_-]*$|^scaler\./, 'expected an address like "trigger.<id>"')
      .optional()
      .describe(
        'Usually absent: a policy reads the combined metric with `from = "connector.<id>"`. Or a trigger that accepts input.',
      ),
    from: z
      .array(z.string().regex(ADDRESS, 'expected an address like "trigger.<id>" or "connector.<id>"'))
      .min(1)
      .describe(
        'The sources to combine. Each goes by the id of its address in formulas and reasons (`queue` for trigger.queue), so ids must differ.',
      ),
  })
  .superRefine((config, ctx) => {
    const names = config.from.map(sourceName);
    const seen = new Set<string>();
    for (const [i, name] of names.entries()) {
      if (seen.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['from', i],
          message: `two sources are both named "${name}": a source goes by its id, so ids must differ`,
        });
      }
      seen.add(name);
    }
    if (typeof config.metric === 'object') {
      for (const name of Object.keys(config.metric)) {
        if (!seen.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['metric', name],
            message: `"${name}" is not a source; sources are ${names.map((n) => `"${n}"`).join(', ')}`,
          });
        }
      }
    }
    if (config.mode === 'formula' && config.formula === undefined) {
      ctx.addIssue({ code: 'custom', path: ['formula'], message: 'mode = "formula" needs `formula`' });
    }
    if (config.mode !== 'formula' && config.formula !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['formula'], message: `\`formula\` is set but mode is "${config.mode}"` });
    }
    if (config.to?.startsWith('scaler.')) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `combine emits a metric, not a count: read it with a policy (from = "connector.${config.id}", to = "${config.to}")`,
      });
    }
  });

type Config = z.output<typeof schema>;

export const combine: ConnectorDefinition<typeof schema> = {
  kind: 'connector',
  type: 'combine',
  summary:
    'Combines the metrics of several sources into one (max, min, sum, avg or a JSONata formula by source name), dropping stale and failing ones; a policy reads it.',
  schema,
  example: `[[connect]]
type = "combine"
id = "load"
from = ["trigger.queue", "trigger.running"]
mode = "formula"
formula = "queue + running"
stale_after = "1m"
[connect.metric]
queue = "jobs.waiting"`,
  create(config, ctx) {
    const readers = new Map<string, CompiledJsonata>();
    for (const address of config.from) readers.set(address, compileJsonata(metricFor(config, sourceName(address))));
    const readings = new Map<string, SourceReading>();

    const combineNow = async (event: WaymondEvent): Promise<EventData[]> => {
      const now = ctx.clock.now();
      const inputs: Record<string, SourceReading> = {};
      const waiting: string[] = [];
      for (const address of config.from) {
        const reading = readings.get(address);
        if (reading) inputs[sourceName(address)] = reading;
        else waiting.push(sourceName(address));
      }
      const combined = await combineInputs(
        inputs,
        { mode: config.mode, formula: config.formula, stale_after: config.stale_after },
        now,
      );
      const pending = waiting.length > 0 ? ` (no reading yet from ${waiting.join(', ')})` : '';
      const reason = `${combined.reason}${pending}`;
      if (combined.value === null) {
        ctx.emitError(new Error(reason), { event_id: event.id, from: event.source });
        return [];
      }
      return [{ value: combined.value, reason }];
    };

    return {
      async handle(event) {
        const read = readers.get(event.source);
        // Only subscribed sources reach here; a stray source is ignored rather than named.
        if (!read) return [];
        let reading: SourceReading;
        try {
          const value = readingFrom(await read(event.data), metricFor(config, sourceName(event.source)));
          reading =
            'error' in value ? { time: event.time, error: value.error } : { time: event.time, value: value.metric };
        } catch (error) {
          reading = { time: event.time, error: errorMessage(error) };
        }
        readings.set(event.source, reading);
        return combineNow(event);
      },
      handleError(event) {
        if (!readers.has(event.source)) return [];
        const error = typeof event.data.error === 'string' ? event.data.error : 'source reported an error';
        readings.set(event.source, { time: event.time, error });
        return combineNow(event);
      },
    };
  },
};

function metricFor(config: Config, name: string): string {
  return typeof config.metric === 'string' ? config.metric : (config.metric[name] ?? 'value');
}
