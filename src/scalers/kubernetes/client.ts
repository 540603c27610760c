/**
 * Connection and error helpers of the kubernetes scaler: loading a kubeconfig (or the
 * in-cluster service account) and turning the client's exceptions into one-line errors
 * that carry the API's own Status message and never a credential.
 *
 * Loaded by scaler.ts's create(), never imported by a component definition: it imports
 * @kubernetes/client-node at module level, which costs about 73 MiB (startup memory).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';

export interface ConnectionSettings {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  in_cluster: boolean;
}

/** Where the kubeconfig comes from when `kubeconfig` is not set: as kubectl looks. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.KUBECONFIG?.split(delimiter).find((p) => p.trim() !== '');
  return first ?? join(homedir(), '.kube', 'config');
}

/**
 * Builds the client configuration. Throws a sentence naming the address and the file or
 * context at fault; the file's content (tokens, keys) is never part of the message.
 */
export function loadKubeConfig(settings: ConnectionSettings, address: string, configDir: string): KubeConfig {
  const kc = new KubeConfig();
  if (settings.in_cluster) {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new Error(
        `${address}: in_cluster = true but KUBERNETES_SERVICE_HOST is not set: waymond is not running in a pod`,
      );
    }
    kc.loadFromCluster();
    return kc;
  }
  const raw = settings.kubeconfig ?? defaultKubeconfigPath();
  const file = isAbsolute(raw) ? raw : resolve(configDir, raw);
  if (!existsSync(file)) throw new Error(`${address}: kubeconfig ${file} does not exist`);
  try {
    kc.loadFromFile(file);
  } catch (error) {
    // The parser's message may quote the file, so only its first line (the error) is kept.
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new Error(`${address}: could not read kubeconfig ${file}: ${first}`);
  }
  if (settings.context) {
    if (!kc.getContextObject(settings.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(
        `${address}: context "${settings.context}" is not in ${file} (it has: ${known.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(settings.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`${address}: kubeconfig ${file} has no current context with a cluster; set \`context\``);
  }
  return kc;
}

/** An API failure: the HTTP code and the reason of the API's Status object. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly reason: string | undefined,
    /** The part after "failed: ": code, reason and the API's message. */
    readonly detail: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

interface StatusLike {
  message?: string;
  reason?: string;
}

function parseStatus(body: unknown): StatusLike | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim().slice(0, 300) } : undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  return {
    ...(typeof v.message === 'string' ? { message: v.message } : {}),
    ...(typeof v.reason === 'string' ? { reason: v.reason } : {}),
  };
}

const DEFAULT_REASON: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/**
 * `<address>: <what> failed: <code> <reason>: <API message>`. The client's own exception
 * text also dumps response headers, so it is rebuilt from the code and the Status body.
 */
export function kubeError(error: unknown, address: string, what: string): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const code = error.code;
    const status = parseStatus(error.body);
    const reason = status?.reason ?? DEFAULT_REASON[code];
    let detail = status?.message ?? '';
    if (code === 401 && !detail) detail = 'the credentials in the kubeconfig were rejected';
    const head = `${code}${reason ? ` ${reason}` : ''}`;
    const full = `${head}${detail ? `: ${detail}` : ''}`;
    return new KubeApiError(`${address}: ${what} failed: ${full}`, code, reason, full);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new KubeApiError(`${address}: ${what} failed: ${message}`, undefined, undefined, message);
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 409;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 404;
}
