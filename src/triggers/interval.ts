import { z } from 'zod';
import { duration } from '../core/duration.js';
import { triggerSchema } from '../core/schema.js';
import type { TriggerDefinition } from '../core/types.js';

const schema = triggerSchema('interval', {
  every: duration('How often to emit an event.'),
  data: z.record(z.string(), z.unknown()).optional().describe('Data carried by every event (e.g. `{ desired = 3 }`).'),
  immediately: z.boolean().default(true).describe('Emit once at start, not only after the first period.'),
});

export const interval: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'interval',
  summary: 'Emits an event every fixed period.',
  schema,
  acceptsInput: false,
  example: `[[trigger]]
type = "interval"
id = "every_15s"
every = "15s"`,
  create(config, ctx) {
    let timer: { cancel(): void } | undefined;
    const tick = () => ctx.emit({ ...(config.data ?? {}), time: new Date(ctx.clock.now()).toISOString() });
    return {
      start() {
        timer = ctx.clock.setInterval(tick, config.every);
        if (config.immediately) tick();
      },
      stop() {
        timer?.cancel();
      },
    };
  },
};
