import { Cron } from 'croner';
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { triggerSchema } from '../core/schema.js';
import type { TriggerDefinition } from '../core/types.js';

const schema = triggerSchema('cron', {
  expression: z
    .string()
    .describe('Cron expression, 5 fields (minute hour day month weekday) or 6 with seconds first.')
    .superRefine((expr, ctx) => {
      const fields = expr.trim().split(/\s+/).length;
      if (fields !== 5 && fields !== 6) {
        ctx.addIssue({ code: 'custom', message: `expected 5 or 6 cron fields, found ${fields}` });
        return;
      }
      try {
        new Cron(expr, { paused: true });
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${(error as Error).message}` });
      }
    }),
  timezone: z
    .string()
    .optional()
    .describe("IANA time zone the expression is read in (default: the host's).")
    .superRefine((tz, ctx) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
      } catch {
        ctx.addIssue({ code: 'custom', message: `unknown time zone "${tz}"` });
      }
    }),
  data: z.record(z.string(), z.unknown()).optional().describe('Data carried by every event.'),
});

/** Next run strictly after `after` (ms), computed by croner but scheduled on our clock. */
export function nextCronRun(expression: string, timezone: string | undefined, after: number): number | undefined {
  const job = new Cron(expression, { paused: true, timezone });
  const next = job.nextRun(new Date(after));
  return next ? next.getTime() : undefined;
}

export const cron: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'cron',
  summary: 'Emits an event on a cron schedule (croner syntax, optional seconds field and time zone).',
  schema,
  acceptsInput: false,
  example: `[[trigger]]
type = "cron"
id = "every_minute"
expression = "*/1 * * * *"
timezone = "Europe/Berlin"`,
  create(config, ctx) {
    let timer: TimerHandle | undefined;
    let stopped = false;
    const schedule = () => {
      if (stopped) return;
      const next = nextCronRun(config.expression, config.timezone, ctx.clock.now());
      if (next === undefined) return;
      timer = ctx.clock.setTimeout(() => {
        ctx.emit({
          ...(config.data ?? {}),
          time: new Date(ctx.clock.now()).toISOString(),
          expression: config.expression,
        });
        schedule();
      }, next - ctx.clock.now());
    };
    return {
      start() {
        stopped = false;
        schedule();
      },
      stop() {
        stopped = true;
        timer?.cancel();
      },
    };
  },
};
