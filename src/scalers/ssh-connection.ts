/**
 * One SSH connection to one host, shared by the scalers that work over SSH (`ssh`,
 * `systemd` with `hosts`): the connection fields of a host, host-key checking against a
 * known_hosts file, and running a shell script there. The connection is opened on first
 * use, kept, and forgotten when it closes or fails, so the next run reconnects.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
// Types only at import time: ssh2 loads on the first connection, when a config uses it.
import type { Client, ConnectConfig } from 'ssh2';
import { z } from 'zod';
import { duration } from '../core/duration.js';
import type { MemberCommandResult } from '../core/types.js';
import { hostKeyAllowed, readKnownHosts } from './known-hosts.js';
import { OUTPUT_LIMIT, outputTail } from './member-command.js';

/** How to reach and log in to one host. */
export const sshHostFields = {
  host: z.string().min(1).describe('Host name or address.'),
  port: z.number().int().min(1).max(65535).default(22).describe('SSH port.'),
  user: z.string().min(1).default('root').describe('User to log in as.'),
  key_file: z.string().optional().describe('Private key file (relative to the config file).'),
  passphrase_env: z.string().optional().describe('Name of the environment variable holding the key passphrase.'),
  password_env: z.string().optional().describe('Name of the environment variable holding the password.'),
};

/** Scaler-level fields: how long to wait for a host, and how its key is checked. */
export const sshConnectionFields = {
  connect_timeout: duration('How long to wait for a host before marking it down.').default(10_000),
  known_hosts: z
    .string()
    .optional()
    .describe('known_hosts file host keys are checked against (default ~/.ssh/known_hosts).'),
  insecure_skip_host_key_check: z
    .boolean()
    .default(false)
    .describe('Accept any host key. Only for throwaway test hosts: it allows a man in the middle.'),
};

export interface SshHostConfig {
  host: string;
  port: number;
  user: string;
  key_file?: string;
  passphrase_env?: string;
  password_env?: string;
}

export interface SshSettings {
  connect_timeout: number;
  known_hosts?: string;
  insecure_skip_host_key_check: boolean;
  /** Relative key and known_hosts paths are relative to it. */
  configDir: string;
}

/** Single-quotes a string for POSIX sh. */
/** A script's result, with its whole stdout (up to OUTPUT_LIMIT) for callers that parse it. */
export interface ShellResult extends MemberCommandResult {
  stdout: string;
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function resolveConfigPath(configDir: string, file: string): string {
  return isAbsolute(file) ? file : resolve(configDir, file);
}

export class SshConnection {
  /** `host:port`, how the host is named in member ids, logs and errors. */
  readonly name: string;
  private client?: Client;
  private readonly knownHostsFile: string;

  constructor(
    readonly config: SshHostConfig,
    private readonly settings: SshSettings,
  ) {
    this.name = `${config.host}:${config.port}`;
    this.knownHostsFile = resolveConfigPath(
      settings.configDir,
      settings.known_hosts ?? `${homedir()}/.ssh/known_hosts`,
    );
  }

  private async connect(): Promise<Client> {
    if (this.client) return this.client;
    const c = this.config;
    const options: ConnectConfig = {
      host: c.host,
      port: c.port,
      username: c.user,
      readyTimeout: this.settings.connect_timeout,
      keepaliveInterval: 15_000,
    };
    if (c.key_file) options.privateKey = readFileSync(resolveConfigPath(this.settings.configDir, c.key_file));
    if (c.passphrase_env) options.passphrase = process.env[c.passphrase_env];
    if (c.password_env) options.password = process.env[c.password_env];
    if (!this.settings.insecure_skip_host_key_check) {
      const known = readKnownHosts(this.knownHostsFile);
      options.hostVerifier = (key: Buffer) => hostKeyAllowed(known, c.host, c.port, key);
    }
    const { Client: SshClient } = await import('ssh2');
    const client = new SshClient();
    await new Promise<void>((done, fail) => {
      client.once('ready', () => done());
      client.once('error', (error) => fail(error));
      client.connect(options);
    });
    const forget = () => {
      if (this.client === client) this.client = undefined;
    };
    client.on('close', forget);
    client.on('error', forget);
    this.client = client;
    return client;
  }

  /** Runs a script under sh on the host; never rejects for a non-zero exit (null when timed out). */
  async run(script: string, timeoutMs: number): Promise<ShellResult> {
    const client = await this.connect();
    return new Promise((done, fail) => {
      client.exec(`sh -c ${shellQuote(script)}`, (error, stream) => {
        if (error) return fail(error);
        let out = '';
        let err = '';
        const timer = setTimeout(() => {
          stream.close();
          done({ exitCode: null, output: outputTail(out, err), stdout: out });
        }, timeoutMs);
        stream.on('data', (d: Buffer) => {
          out = (out + d.toString('utf8')).slice(-OUTPUT_LIMIT);
        });
        stream.stderr.on('data', (d: Buffer) => {
          err = (err + d.toString('utf8')).slice(-OUTPUT_LIMIT);
        });
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          done({ exitCode: typeof code === 'number' ? code : null, output: outputTail(out, err), stdout: out });
        });
      });
    });
  }

  /** Closes the connection (the next run opens a new one). */
  end(): void {
    this.client?.end();
    this.client = undefined;
  }
}
