/**
 * Integration tests need real services. When one cannot be reached, the test fails under
 * CI=true (CI must provide it) and is skipped with a one-line reason otherwise.
 */
import { connect } from 'node:net';

export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Returns true when the service is there. Otherwise throws under CI, or returns false after
 * printing why (use with `describe.skipIf(!available)` / `it.skipIf`).
 */
export async function requireService(name: string, check: () => Promise<boolean>): Promise<boolean> {
  let ok = false;
  try {
    ok = await check();
  } catch {
    ok = false;
  }
  if (ok) return true;
  if (process.env.CI) throw new Error(`${name} is not reachable, and CI must provide it`);
  console.warn(`skipping: ${name} is not reachable here`);
  return false;
}
