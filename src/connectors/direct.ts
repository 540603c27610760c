import { connectorSchema, transformSchema } from '../core/schema.js';
import type { ConnectorDefinition } from '../core/types.js';
import { compileTransform, transformConfigIssue } from './transforms/index.js';

const schema = connectorSchema('direct', {
  transform: transformSchema
    .optional()
    .describe(
      'Optional transform of each event: `method = "jsonata"` with `expression`, or `method = "go_template"` with `template`.',
    )
    .superRefine((spec, ctx) => {
      if (!spec) return;
      const problem = transformConfigIssue(spec);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          path: [spec.method === 'jsonata' ? 'expression' : 'template'],
          message: problem,
        });
    }),
});

export const direct: ConnectorDefinition<typeof schema> = {
  kind: 'connector',
  type: 'direct',
  summary: 'Carries each event from its source to its target, optionally transformed (JSONata or Go template).',
  schema,
  example: `[[connect]]
type = "direct"
id = "queue_to_workers"
from = "trigger.queue"
to = "scaler.workers"
[connect.transform]
method = "jsonata"
expression = '{ "desired": $ceil(value / 3) }'`,
  create(config, ctx) {
    const transform = config.transform ? compileTransform(config.transform) : undefined;
    return {
      async handle(event) {
        if (!transform) return [event.data];
        try {
          return [await transform(event.data)];
        } catch (error) {
          ctx.emitError(error, { event_id: event.id, from: event.source });
          return [];
        }
      },
    };
  },
};
