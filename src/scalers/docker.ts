/**
 * Keeps N containers of one image on a Docker engine (local socket, DOCKER_HOST, or
 * `host`/`tls`). Members are the containers labelled `waymond.scaler=<id>`, so waymond
 * never touches a container it did not create, and adopts its own after a restart.
 *
 * Observe only lists; housekeep (never in a dry run) removes exited containers, which the
 * same reconcile replaces. Scale-in stops the chosen containers in the background
 * (`stop_timeout`, then the engine kills) and removes them; while stopping they no longer
 * count. A scale-up that would push the
 * containers on the engine above `max` first waits for those stops, so `max` holds on
 * the engine itself, not only in waymond's arithmetic.
 *
 * Crash safety (write the record, start, confirm): the record is the container itself.
 * It is created with the `waymond.scaler` label (the record), then started, then counted
 * by the next list (the confirmation). waymond keeps no member list of its own, so a
 * kill -9 at any moment leaves only labelled containers: running ones are adopted as they
 * are, one created but never started is a leftover that the next housekeep removes and the
 * same reconcile replaces, and a stop the engine was carrying out finishes on the engine
 * (the exited container is removed by housekeep). No labelled container is left untracked.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
// Types only at import time: dockerode (~27 MiB) loads in create(), when a config uses it.
import type Docker from 'dockerode';
import { z } from 'zod';
import { errorMessage } from '../core/context.js';
import { duration } from '../core/duration.js';
import { scalerSchema } from '../core/schema.js';
import type { ComponentContext, Member, MemberCommandResult, Plan, ScalerDefinition } from '../core/types.js';
import { OUTPUT_LIMIT, outputTail } from './member-command.js';

export const SCALER_LABEL = 'waymond.scaler';
const CREATED_LABEL = 'waymond.created_at';

const mount = z.strictObject({
  type: z.enum(['bind', 'volume', 'tmpfs']).default('bind').describe('Mount type.'),
  source: z.string().optional().describe('Host path (bind) or volume name (volume); not used by tmpfs.'),
  target: z.string().min(1).describe('Path inside the container.'),
  read_only: z.boolean().default(false).describe('Mount read-only.'),
});

const capabilities = { members: true, runInMember: true, stopAll: true } as const;

const schema = scalerSchema(
  'docker',
  {
    image_name: z.string().min(1).describe('Image to run, e.g. "redis" or "ghcr.io/org/agent".'),
    image_tag: z.string().min(1).default('latest').describe('Tag of image_name.'),
    cmd: z.array(z.string()).optional().describe("Command and arguments (default: the image's own)."),
    env: z.record(z.string(), z.string()).default({}).describe('Environment variables of every container.'),
    labels: z
      .record(z.string(), z.string())
      .default({})
      .describe(`Extra labels; \`${SCALER_LABEL}\` is always set to the scaler id and cannot be overridden.`),
    network: z
      .string()
      .optional()
      .describe('Network mode or network name (e.g. "host", "none"; default the engine\'s).'),
    mounts: z.array(mount).default([]).describe('Bind mounts, volumes and tmpfs mounts.'),
    cpus: z.number().positive().optional().describe('CPU limit per container, in CPUs (1.5 = one and a half).'),
    memory: z
      .union([z.string().regex(/^\d+(\.\d+)?\s*[kmgKMG]?[bB]?$/, 'expected bytes or e.g. "512m", "2g"'), z.number()])
      .optional()
      .describe('Memory limit per container: bytes, or "512m", "2g".'),
    restart_policy: z
      .enum(['no', 'always', 'unless-stopped', 'on-failure'])
      .default('no')
      .describe('Docker restart policy; with "no", an exited container is removed and replaced by waymond.'),
    name_prefix: z
      .string()
      .optional()
      .describe('Container names are this plus a random suffix (default "waymond-<id>-").'),
    pull: z
      .enum(['if_missing', 'always', 'never'])
      .default('if_missing')
      .describe('Pull the image before creating containers: when missing, before every scale-up, or never.'),
    stop_timeout: duration('How long a container may take to exit after SIGTERM before it is killed.').default(10_000),
    host: z
      .string()
      .optional()
      .describe(
        'Engine address: "unix:///var/run/docker.sock" or "tcp://host:2376" (default: DOCKER_HOST, else the local socket).',
      ),
    tls: z
      .strictObject({
        ca_file: z.string().optional().describe("CA certificate (PEM) that signed the engine's certificate."),
        cert_file: z.string().optional().describe('Client certificate (PEM).'),
        key_file: z.string().optional().describe('Client private key (PEM).'),
      })
      .optional()
      .describe('TLS for a tcp:// host; paths are relative to the config file.'),
  },
  capabilities,
);

type Config = z.output<typeof schema>;

export function parseBytes(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** Connection options from `host`/`tls`, or undefined to let dockerode read DOCKER_HOST. */
export function engineOptions(
  config: Pick<Config, 'host' | 'tls'>,
  configDir: string,
): Docker.DockerOptions | undefined {
  if (!config.host) return undefined;
  const read = (file: string | undefined) =>
    file === undefined ? undefined : readFileSync(isAbsolute(file) ? file : resolve(configDir, file));
  if (config.host.startsWith('unix://')) return { socketPath: config.host.slice('unix://'.length) };
  const url = new URL(config.host.replace(/^tcp:/, config.tls ? 'https:' : 'http:'));
  return {
    host: url.hostname,
    port: url.port || (config.tls ? 2376 : 2375),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    ca: read(config.tls?.ca_file),
    cert: read(config.tls?.cert_file),
    key: read(config.tls?.key_file),
  };
}

/** Where the engine is, for error messages (never includes key material). */
function engineName(config: Pick<Config, 'host'>): string {
  return config.host ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

export const docker: ScalerDefinition<typeof schema> = {
  kind: 'scaler',
  type: 'docker',
  capabilities,
  summary:
    'Keeps N containers of an image on a Docker engine; only touches containers it labelled, adopts them after a restart.',
  schema,
  example: `[[scaler]]
type = "docker"
id = "build_agents"
image_name = "buildkite/agent"
image_tag = "3"
max = 6
network = "host"
env = { BUILDKITE_AGENT_TOKEN = "\${BUILDKITE_AGENT_TOKEN}" }
stop_timeout = "60s"`,
  async create(config, ctx) {
    const { default: Dockerode } = await import('dockerode');
    return new DockerScaler(config, ctx, new Dockerode(engineOptions(config, ctx.configDir)));
  },
};

class DockerScaler {
  private readonly image: string;
  private readonly prefix: string;
  /** Containers being stopped, by id: no longer counted, not chosen again. */
  private stopping = new Map<string, Promise<void>>();

  constructor(
    private readonly config: Config,
    private readonly ctx: ComponentContext,
    private readonly docker: Docker,
  ) {
    this.image = `${config.image_name}:${config.image_tag}`;
    this.prefix = config.name_prefix ?? `waymond-${ctx.id}-`;
  }

  /** Every engine error names the scaler, the engine and the cause. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new Error(
        `${this.ctx.address}: ${what} on Docker engine ${engineName(this.config)} failed: ${errorMessage(error)}`,
      );
    }
  }

  private list(): Promise<Docker.ContainerInfo[]> {
    return this.call('listing containers', () =>
      this.docker.listContainers({ all: true, filters: { label: [`${SCALER_LABEL}=${this.ctx.id}`] } }),
    );
  }

  /** Exited, dead and created containers are not members: they are removed by housekeep. */
  private isLeftover(c: Docker.ContainerInfo): boolean {
    // "created" here means a start failed in an earlier apply: it never ran, replace it.
    return !this.stopping.has(c.Id) && (c.State === 'exited' || c.State === 'dead' || c.State === 'created');
  }

  /** Removes containers that are not running (they are replaced by the same reconcile). */
  async housekeep(): Promise<void> {
    for (const c of await this.list()) {
      if (!this.isLeftover(c)) continue;
      const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
      this.ctx.logger.warn(
        { container: name, state: c.State, status: c.Status },
        'container is not running; removing it',
      );
      await this.call(`removing ${c.State} container ${name}`, () =>
        this.docker.getContainer(c.Id).remove({ force: true }),
      );
    }
  }

  /** Lists the containers, changing nothing: leftovers do not count and are not members. */
  async observe() {
    const containers = await this.list();
    const members: Member[] = [];
    for (const c of containers) {
      if (this.isLeftover(c)) continue;
      const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
      const stopping = this.stopping.has(c.Id);
      const createdAt = Number(c.Labels[CREATED_LABEL]);
      members.push({
        id: name,
        state: stopping ? 'stopping' : c.State === 'running' ? 'running' : 'starting',
        ready: !stopping && c.State === 'running',
        startedAt: Number.isFinite(createdAt) ? createdAt : c.Created * 1000,
        info: { container_id: c.Id.slice(0, 12), name, image: c.Image, status: c.Status },
      });
    }
    const counted = members.filter((m) => m.state !== 'stopping');
    return { count: counted.length, ready: counted.filter((m) => m.ready).length, members };
  }

  async apply(plan: Plan) {
    const byName = new Map((await this.list()).map((c) => [(c.Names[0] ?? '').replace(/^\//, ''), c.Id]));
    for (const member of plan.remove) {
      const id = byName.get(member.id);
      if (id && !this.stopping.has(id)) this.stop(id, member.id);
    }
    if (plan.add <= 0) return;
    await this.ensureImage();
    // Stopping containers still exist on the engine: wait for them rather than exceed max.
    const present = plan.observed.count + this.stopping.size;
    if (present + plan.add > this.config.max && this.stopping.size > 0) {
      this.ctx.logger.info({ stopping: this.stopping.size }, 'waiting for stopping containers before scaling up (max)');
      await Promise.all([...this.stopping.values()]);
    }
    for (let i = 0; i < plan.add; i++) await this.createOne();
  }

  private async ensureImage(): Promise<void> {
    const { pull } = this.config;
    if (pull !== 'always') {
      try {
        await this.docker.getImage(this.image).inspect();
        return;
      } catch (error) {
        if (statusOf(error) !== 404) await this.call(`inspecting image ${this.image}`, () => Promise.reject(error));
        if (pull === 'never') {
          throw new Error(
            `${this.ctx.address}: image ${this.image} is not on Docker engine ${engineName(this.config)} and pull = "never"`,
          );
        }
      }
    }
    this.ctx.logger.info({ image: this.image }, 'pulling image');
    await this.call(`pulling image ${this.image}`, async () => {
      const stream = await this.docker.pull(this.image);
      await new Promise<void>((done, fail) => {
        this.docker.modem.followProgress(stream, (error: Error | null) => (error ? fail(error) : done()));
      });
    });
  }

  private async createOne(): Promise<void> {
    const c = this.config;
    const name = `${this.prefix}${randomBytes(4).toString('hex')}`;
    const container = await this.call(`creating container ${name} from ${this.image}`, () =>
      this.docker.createContainer({
        name,
        Image: this.image,
        Cmd: c.cmd,
        Env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
        Labels: { ...c.labels, [SCALER_LABEL]: this.ctx.id, [CREATED_LABEL]: String(this.ctx.clock.now()) },
        StopTimeout: Math.ceil(c.stop_timeout / 1000),
        HostConfig: {
          NetworkMode: c.network,
          Mounts: c.mounts.map((m) => ({
            Type: m.type,
            Source: m.source ?? '',
            Target: m.target,
            ReadOnly: m.read_only,
          })),
          NanoCpus: c.cpus === undefined ? undefined : Math.round(c.cpus * 1e9),
          Memory: c.memory === undefined ? undefined : parseBytes(c.memory),
          RestartPolicy: { Name: c.restart_policy === 'no' ? '' : c.restart_policy },
        },
      }),
    );
    try {
      await container.start();
    } catch (error) {
      // Never leave a half-made member behind: the retry creates a fresh one.
      await container.remove({ force: true }).catch(() => undefined);
      throw new Error(`${this.ctx.address}: starting container ${name} failed: ${errorMessage(error)}`);
    }
    this.ctx.logger.info({ container: name }, 'container started');
  }

  private stop(id: string, name: string): void {
    const seconds = Math.ceil(this.config.stop_timeout / 1000);
    this.ctx.logger.info({ container: name, stop_timeout_s: seconds }, 'stopping container');
    const done = (async () => {
      const container = this.docker.getContainer(id);
      try {
        await container.stop({ t: seconds }).catch((error: unknown) => {
          if (statusOf(error) !== 304 && statusOf(error) !== 404) throw error; // 304: already stopped
        });
        await container.remove({ force: true }).catch((error: unknown) => {
          if (statusOf(error) !== 404) throw error;
        });
        this.ctx.logger.info({ container: name }, 'container removed');
      } catch (error) {
        // It counts again on the next observe, so the reconciler chooses it again.
        this.ctx.emitError(`stopping container ${name} failed: ${errorMessage(error)}`);
      } finally {
        this.stopping.delete(id);
      }
    })();
    this.stopping.set(id, done);
  }

  /** busy_check / drain: `sh -c` inside the container (the image must have a shell). */
  async runInMember(member: Member, command: string, timeoutMs: number): Promise<MemberCommandResult> {
    const container = this.docker.getContainer(member.id);
    return this.call(`running a command in container ${member.id}`, async () => {
      const exec = await container.exec({
        Cmd: ['sh', '-c', command],
        AttachStdout: true,
        AttachStderr: true,
        Tty: true,
      });
      const stream = await exec.start({ hijack: true, stdin: false, Tty: true });
      let output = '';
      const finished = await new Promise<boolean>((done) => {
        const timer = setTimeout(() => done(false), timeoutMs);
        stream.on('data', (chunk: Buffer) => {
          output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
        });
        stream.on('end', () => {
          clearTimeout(timer);
          done(true);
        });
        stream.on('error', () => {
          clearTimeout(timer);
          done(true);
        });
      });
      if (!finished) {
        stream.destroy();
        return { exitCode: null, output: outputTail(output, '') };
      }
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? null, output: outputTail(output, '') };
    });
  }

  async stopAll(): Promise<void> {
    const containers = await this.list();
    for (const c of containers) {
      if (!this.stopping.has(c.Id)) this.stop(c.Id, (c.Names[0] ?? c.Id).replace(/^\//, ''));
    }
    await Promise.all([...this.stopping.values()]);
  }

  async close(): Promise<void> {
    // Containers keep running (on_shutdown = "keep"); only finish stops already under way.
    await Promise.all([...this.stopping.values()]);
  }
}
