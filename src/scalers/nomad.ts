/**
 * Scales one task group of a Nomad job through the HTTP API, as the Nomad Autoscaler's
 * nomad target does: read `GET /v1/job/:job/scale` (the group's Desired, Running, Healthy),
 * change with `POST /v1/job/:job/scale` carrying the count, the group, a human reason
 * (Message) and Meta. The count is the group's Desired: Nomad itself replaces failed
 * allocations, so the count it is committed to is what waymond reconciles. A scale request
 * is an absolute count, so a retry never changes the group twice. apply sends exactly what
 * planNomadCalls() lists, and a dry run shows the same list.
 *
 * Requests go through node:http/https rather than fetch so TLS (a private CA, mutual TLS
 * with client certificates) needs no extra dependency.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import { httpError, PermanentError } from '../core/errors.js';
import { scalerSchema } from '../core/schema.js';
import type { ApplyNote, ComponentContext, Observation, Plan, Scaler, ScalerDefinition } from '../core/types.js';
import { secretFromEnv } from '../triggers/poller.js';

const capabilities = { members: false, runInMember: false, stopAll: false } as const;

const schema = scalerSchema(
  'nomad',
  {
    address: z.url().default('http://127.0.0.1:4646').describe('Nomad HTTP API address (NOMAD_ADDR).'),
    job: z.string().min(1).describe('Job id.'),
    group: z.string().min(1).describe('Task group whose count is scaled.'),
    namespace: z.string().min(1).optional().describe('Namespace of the job (default: the agent\'s, "default").'),
    region: z.string().min(1).optional().describe("Region to forward the requests to (default: the agent's)."),
    token_env: secretFromEnv
      .optional()
      .describe('Environment variable holding the ACL token sent as X-Nomad-Token (e.g. "NOMAD_TOKEN").'),
    ca_file: z.string().optional().describe('PEM file of the CA that signed the Nomad server certificate.'),
    cert_file: z.string().optional().describe('PEM client certificate, for mutual TLS.'),
    key_file: z.string().optional().describe('PEM key of the client certificate.'),
    timeout: duration('Request timeout.').default(10_000),
    disable_scale_in: z.boolean().default(false).describe("Never lower the group's count."),
    disable_scale_out: z.boolean().default(false).describe("Never raise the group's count."),
  },
  capabilities,
);

type Config = z.output<typeof schema>;

interface GroupStatus {
  Desired?: number;
  Running?: number;
  Healthy?: number;
  Placed?: number;
  Unhealthy?: number;
}

interface ScaleStatus {
  JobID?: string;
  JobStopped?: boolean;
  TaskGroups?: Record<string, GroupStatus>;
}

/** The one call of an apply: the job scale request, with the reason as its Message. */
export interface NomadCall {
  body: {
    Count: number;
    Target: { Group: string };
    Message: string;
    Meta: Record<string, string | number>;
  };
}

/**
 * What `apply(plan)` sends; pure, so a dry run lists exactly this. Nothing (and a note)
 * when disable_scale_in or disable_scale_out forbids the change.
 */
export function planNomadCalls(
  plan: Pick<Plan, 'desired' | 'observed' | 'reason'>,
  config: Pick<Config, 'group' | 'disable_scale_in' | 'disable_scale_out'>,
  address: string,
): { calls: NomadCall[]; note?: string } {
  const current = plan.observed.count;
  if (plan.desired > current && config.disable_scale_out)
    return { calls: [], note: 'scale-out disabled (disable_scale_out): group left as is' };
  if (plan.desired < current && config.disable_scale_in)
    return { calls: [], note: 'scale-in disabled (disable_scale_in): group left as is' };
  return {
    calls: [
      {
        body: {
          Count: plan.desired,
          Target: { Group: config.group },
          Message: plan.reason,
          Meta: { 'waymond.scaler': address, 'waymond.previous_count': current },
        },
      },
    ],
  };
}

export const nomad: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'nomad',
  capabilities,
  summary:
    "Sets the count of a Nomad job's task group through the job scale API, with the reason as the scaling message.",
  schema,
  example: `[[scaler]]
type = "nomad"
id = "ci_agents"
address = "https://nomad.service.consul:4646"
job = "buildkite-agent"
group = "agents"
namespace = "ci"
token_env = "NOMAD_TOKEN"
ca_file = "nomad-ca.pem"
max = 20`,
  create(config, ctx) {
    return new NomadScaler(config, ctx);
  },
};

class NomadScaler implements Scaler {
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly url: URL;

  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
  ) {
    const read = (file: string | undefined, what: string) => {
      if (!file) return undefined;
      const path = isAbsolute(file) ? file : resolve(ctx.configDir, file);
      try {
        return readFileSync(path);
      } catch (error) {
        throw new Error(`${ctx.address}: cannot read ${what} ${path}: ${(error as Error).message}`);
      }
    };
    this.tls = {
      ca: read(config.ca_file, 'ca_file'),
      cert: read(config.cert_file, 'cert_file'),
      key: read(config.key_file, 'key_file'),
    };
    this.url = new URL(`/v1/job/${encodeURIComponent(config.job)}/scale`, config.address);
    if (config.namespace) this.url.searchParams.set('namespace', config.namespace);
    if (config.region) this.url.searchParams.set('region', config.region);
  }

  async observe(): Promise<Observation> {
    const status = (await this.call('GET')) as ScaleStatus;
    if (status.JobStopped) {
      throw new Error(`${this.ctx.address}: job "${this.config.job}" is stopped; waymond does not scale a stopped job`);
    }
    const group = status.TaskGroups?.[this.config.group];
    if (!group) {
      const known = Object.keys(status.TaskGroups ?? {}).join(', ') || 'none';
      throw new PermanentError(
        `${this.ctx.address}: job "${this.config.job}" has no task group "${this.config.group}" (groups: ${known})`,
      );
    }
    return { count: group.Desired ?? 0, ready: group.Running ?? 0 };
  }

  describeApply(plan: Plan): string[] {
    return planNomadCalls(plan, this.config, this.ctx.address).calls.map(
      (c) => `POST ${this.url.href} ${JSON.stringify(c.body)}`,
    );
  }

  async apply(plan: Plan): Promise<ApplyNote | undefined> {
    const { calls, note } = planNomadCalls(plan, this.config, this.ctx.address);
    if (note) {
      this.ctx.logger.info({ current: plan.observed.count, desired: plan.desired }, note);
      return { note };
    }
    for (const call of calls) await this.call('POST', call.body);
    return undefined;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.config.token_env) {
      const token = process.env[this.config.token_env];
      if (!token) throw new Error(`${this.ctx.address}: environment variable ${this.config.token_env} is not set`);
      headers['X-Nomad-Token'] = token;
    }
    return headers;
  }

  /** One request; Nomad answers errors as plain text ("Permission denied", "job not found"). */
  private call(method: 'GET' | 'POST', body?: unknown): Promise<unknown> {
    const what = `${method} ${this.url.pathname}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = this.headers();
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolvePromise, reject) => {
      const req = send(this.url, { method, headers, timeout: this.config.timeout, ...this.tls }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (error) => reject(new Error(`${this.ctx.address}: ${what} failed: ${error.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(httpError(`${this.ctx.address}: ${what} answered ${status}: ${text.trim().slice(0, 300)}`, status));
            return;
          }
          try {
            resolvePromise(text === '' ? {} : JSON.parse(text));
          } catch {
            reject(new Error(`${this.ctx.address}: ${what} answered something that is not JSON: ${text.slice(0, 80)}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.config.timeout} ms`)));
      req.on('error', (error) =>
        reject(new Error(`${this.ctx.address}: ${what} failed: ${error.message}`, { cause: error })),
      );
      req.end(payload);
    });
  }
}
