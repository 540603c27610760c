/** Config of the `systemd` scaler: which template, which manager, where, how members stop. */
import { z } from 'zod';
import { duration } from '../../core/duration.js';
import { scalerSchema } from '../../core/schema.js';
import { sshConnectionFields, sshHostFields } from '../ssh-connection.js';

/** `name@.service`: a template; its instances `name@1.service`, `name@2.service`… are the members. */
export const TEMPLATE_PATTERN = /^[A-Za-z0-9:_.\\-]+@\.service$/;

/** Instances are members; commands run beside them (busy_check, drain); stopAll stops them all. */
export const capabilities = { members: true, runInMember: true, stopAll: true } as const;

export const systemdSchema = scalerSchema(
  'systemd',
  {
    unit: z
      .string()
      .regex(TEMPLATE_PATTERN, 'expected a template unit like "buildkite-agent@.service"')
      .describe(
        'Template unit whose instances are the members: `<name>@<slot>.service`, slots 1, 2, 3… (lowest free first; the unit sees its slot as `%i`). Instances with other names are never touched.',
      ),
    user: z
      .boolean()
      .default(false)
      .describe("Use the user's service manager (`systemctl --user`) instead of the system one."),
    hosts: z
      .array(z.strictObject(sshHostFields))
      .min(1)
      .optional()
      .describe(
        'Run `systemctl` on these hosts over SSH (least loaded first, at most `per_host_max` each; a down host overflows to the others and is checked again on every observe). Without it, `systemctl` runs on this host.',
      ),
    per_host_max: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Most instances on one host (default: `max`, i.e. no limit per host).'),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
        z.string().regex(/^[^\n\r]*$/, 'expected a value on one line'),
      )
      .default({})
      .describe(
        'Environment of every instance, written as a drop-in of the template (`<unit>.d/waymond-<id>.conf`, then `daemon-reload`); never `systemctl set-environment`, which would reach every unit of the manager. Instances already running keep the environment they started with.',
      ),
    stop_timeout: duration(
      'How long `systemctl stop` may take on scale-in before the instance is killed (`systemctl kill --signal=SIGKILL`).',
    ).default(30_000),
    command_timeout: duration('How long any other `systemctl` call may take.').default(30_000),
    ...sshConnectionFields,
  },
  capabilities,
);

export type SystemdConfig = z.output<typeof systemdSchema>;
