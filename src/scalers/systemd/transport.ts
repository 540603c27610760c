/**
 * Where `systemctl` runs: this host (`sh -c`), or a host over SSH (the shared connection of
 * the ssh scaler). Both run a shell script and never reject for a non-zero exit.
 */
import { execFile } from 'node:child_process';
import { OUTPUT_LIMIT, outputTail } from '../member-command.js';
import { type ShellResult, SshConnection, type SshHostConfig, type SshSettings } from '../ssh-connection.js';

export interface Transport {
  /** `host:port`, or `local`. */
  readonly name: string;
  /** The host's config when remote (its member ids are prefixed with `name/`). */
  readonly remote?: SshHostConfig;
  /** How a call is shown in a dry run: "" locally, "ssh root@host:port " remotely. */
  readonly prefix: string;
  run(script: string, timeoutMs: number): Promise<ShellResult>;
  close(): void;
}

export class LocalTransport implements Transport {
  readonly name = 'local';
  readonly prefix = '';

  run(script: string, timeoutMs: number): Promise<ShellResult> {
    return new Promise((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', script],
        { timeout: timeoutMs, maxBuffer: OUTPUT_LIMIT, env: process.env },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== 'number' && !error.killed) {
            reject(new Error(`could not run /bin/sh: ${error.message}`));
            return;
          }
          const exitCode = error ? (typeof error.code === 'number' && !error.killed ? error.code : null) : 0;
          resolve({ exitCode, output: outputTail(stdout, stderr), stdout });
        },
      );
    });
  }

  close(): void {}
}

export class SshTransport implements Transport {
  private readonly conn: SshConnection;
  readonly name: string;
  readonly prefix: string;

  constructor(
    readonly remote: SshHostConfig,
    settings: SshSettings,
  ) {
    this.conn = new SshConnection(remote, settings);
    this.name = this.conn.name;
    this.prefix = `ssh ${remote.user}@${this.name} `;
  }

  run(script: string, timeoutMs: number): Promise<ShellResult> {
    return this.conn.run(script, timeoutMs);
  }

  close(): void {
    this.conn.end();
  }
}
