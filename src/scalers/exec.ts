/**
 * Runs a command with the desired count (terraform, a script, anything). The count is in
 * env WAYMOND_DESIRED and replaces `{{desired}}` in args. With `observe_command`, its stdout
 * (one integer) is the current count; without, the current count is the last one applied.
 */
import { execFile } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type { ComponentContext, ScalerDefinition } from '../core/types.js';

const capabilities = { members: false, runInMember: false, stopAll: false } as const;

const schema = scalerSchema(
  'exec',
  {
    command: z.string().min(1).describe('Executable run to change the count (no shell; use args).'),
    args: z.array(z.string()).default([]).describe('Arguments; `{{desired}}` is replaced by the desired count.'),
    observe_command: z.string().optional().describe('Executable whose stdout (one integer) is the current count.'),
    observe_args: z.array(z.string()).default([]).describe('Arguments of observe_command.'),
    env: z.record(z.string(), z.string()).default({}).describe('Extra environment variables.'),
    cwd: z.string().optional().describe("Working directory (default: the config file's directory)."),
    timeout: duration('Kill the command when it runs longer than this.').default(300_000),
  },
  capabilities,
);

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeout: number; signal?: AbortSignal },
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { ...options, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const tail = stderr.trim().split('\n').slice(-5).join('\n');
        const how = error.killed
          ? `was killed (timeout ${options.timeout} ms)`
          : `failed (${error.code ?? error.message})`;
        reject(new Error(`"${command}" ${how}${tail ? `: ${tail}` : ''}`));
        return;
      }
      resolvePromise({ stdout, stderr });
    });
  });
}

/** Parses a count printed by a command: one integer >= 0, surrounding whitespace allowed. */
export function parseCount(text: string, what: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed))
    throw new Error(`${what} printed ${JSON.stringify(trimmed.slice(0, 80))}, expected one integer >= 0`);
  return Number(trimmed);
}

export const exec: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'exec',
  capabilities,
  summary: 'Runs a command with the desired count (terraform, scripts); optional command to observe the count.',
  schema,
  example: `[[scaler]]
type = "exec"
id = "terraform_runners"
command = "terraform"
args = ["apply", "-auto-approve", "-var", "runners={{desired}}"]
observe_command = "sh"
observe_args = ["-c", "terraform output -raw runners"]`,
  create(config, ctx: ComponentContext) {
    const cwd = config.cwd ? (isAbsolute(config.cwd) ? config.cwd : resolve(ctx.configDir, config.cwd)) : ctx.configDir;
    let applied = ctx.state.get<number>('applied') ?? 0;
    const env = (desired?: number): NodeJS.ProcessEnv => ({
      ...process.env,
      ...config.env,
      WAYMOND_SCALER: ctx.id,
      ...(desired === undefined ? {} : { WAYMOND_DESIRED: String(desired) }),
    });
    return {
      async observe() {
        if (!config.observe_command) return { count: applied };
        const out = await runCommand(config.observe_command, config.observe_args, {
          cwd,
          env: env(),
          timeout: config.timeout,
          signal: ctx.signal,
        });
        return { count: parseCount(out.stdout, `observe_command "${config.observe_command}"`) };
      },
      async apply(plan) {
        const args = config.args.map((a) => a.replaceAll('{{desired}}', String(plan.desired)));
        const out = await runCommand(config.command, args, { cwd, env: env(plan.desired), timeout: config.timeout });
        ctx.logger.info({ desired: plan.desired, stdout: out.stdout.slice(-500) }, 'command applied the desired count');
        applied = plan.desired;
        ctx.state.set('applied', applied);
      },
    };
  },
};
