/**
 * Runs a shell command locally for a member's busy_check or drain (the process scaler's
 * runInMember). A non-zero exit is a result, not an error: exit codes carry the answer.
 */
import { execFile } from 'node:child_process';
import type { MemberCommandResult } from '../core/types.js';

const OUTPUT_TAIL = 2000;
/** Raw output kept while a command runs (the list of an observe must not be cut short). */
export const OUTPUT_LIMIT = 256 * 1024;

export function outputTail(stdout: string, stderr: string): string {
  return `${stdout}${stderr}`.trim().slice(-OUTPUT_TAIL);
}

export function runLocalShell(
  command: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<MemberCommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number' && !error.killed) {
          reject(new Error(`could not run /bin/sh: ${error.message}`));
          return;
        }
        const exitCode = error ? (typeof error.code === 'number' && !error.killed ? error.code : null) : 0;
        resolve({ exitCode, output: outputTail(stdout, stderr) });
      },
    );
  });
}
