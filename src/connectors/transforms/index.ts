/**
 * Transforms of the `direct` connector: turn one event's data into another, e.g. a
 * buildkite queue's counts into `{ asg_name, desired_count }` for a scaler.
 */
import type { z } from 'zod';
import { errorMessage } from '../../core/context.js';
import type { transformSchema } from '../../core/schema.js';
import type { EventData } from '../../core/types.js';
import { compileGoTemplateTransform } from './go-template.js';
import { compileJsonataTransform } from './jsonata.js';

export type TransformSpec = z.output<typeof transformSchema>;
export type Transform = (data: EventData) => Promise<EventData>;

/**
 * Compiles a transform once, at config time. Throws when the expression or template cannot
 * run (syntax error, unsupported construct), with a message that names the cause.
 * The returned function rejects when one event cannot be transformed (missing field,
 * output that is not a JSON object): the connector reports that as an error event.
 */
export function compileTransform(spec: TransformSpec): Transform {
  switch (spec.method) {
    case 'jsonata':
      return compileJsonataTransform(spec.expression);
    case 'go_template': {
      const render = compileGoTemplateTransform(spec.template);
      return async (data) => render(data);
    }
  }
}

/** The compile error of `spec`, or undefined when it compiles: for config validation with a field path. */
export function transformConfigIssue(spec: TransformSpec): string | undefined {
  try {
    compileTransform(spec);
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}
