import { scalerSchema } from '../core/schema.js';
import type { ScalerDefinition } from '../core/types.js';

const capabilities = { members: false, runInMember: false, stopAll: false } as const;

const schema = scalerSchema('noop', {}, capabilities);

export const noop: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'noop',
  capabilities,
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
