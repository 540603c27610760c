import { scalerSchema } from '../core/schema.js';
import type { ScalerDefinition } from '../core/types.js';

const schema = scalerSchema('noop', {});

export const noop: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'noop',
  summary: 'Changes nothing: logs what it receives; its current count is the last desired count.',
  schema,
  example: `[[scaler]]
type = "noop"
id = "print"`,
  create(_config, ctx) {
    let count = ctx.state.get<number>('count') ?? 0;
    return {
      async observe() {
        return { count };
      },
      async apply(plan) {
        ctx.logger.info(
          { desired: plan.desired, from: count, reason: plan.reason, data: plan.data },
          'noop scaler: would scale',
        );
        count = plan.desired;
        ctx.state.set('count', count);
      },
    };
  },
};
