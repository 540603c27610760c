/**
 * Connection URLs of queue triggers (redis://, amqp://, mqtt://, nats://) may carry a
 * password; every message a user sees goes through `redactUrl` so none ever prints one.
 */

/** The URL with any password replaced by "***" (and unparseable input hidden entirely). */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '<unparseable url>';
  }
  if (url.password) url.password = '***';
  return url.toString();
}

/**
 * Reads the secret named by a `*_env` field. Throws (at create time, naming the component)
 * when the variable is missing, so a misconfigured deployment fails before it polls.
 */
export function readSecretEnv(address: string, field: string, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${address}: environment variable ${name} (named by ${field}) is not set`);
  }
  return value;
}
