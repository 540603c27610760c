/**
 * Transient or permanent: what a failure says about trying again.
 *
 * - transient: the network, a 5xx, throttling (429, AWS `Throttling`), a timeout. Trying
 *   again soon can work, so the reconciler retries with its backoff.
 * - permanent: credentials refused (401/403), not found (404/410), the request itself is
 *   wrong (400/422, AWS `ValidationError`), a command that does not exist. Trying again
 *   soon cannot work; the scaler or trigger is `failing` with the reason and is tried again
 *   once per resync interval (someone may fix the token or create the group meanwhile).
 *
 * API clients keep their own messages and attach what the classifier reads: an HTTP status
 * (`httpError(message, status)`), or the original error as `cause` (AWS SDK errors carry
 * `$metadata.httpStatusCode` and a `name`, Kubernetes errors a `code`). Anything the rules do
 * not recognise is transient: an unknown failure keeps being retried, as before.
 */

export type ErrorClass = 'transient' | 'permanent';

/** A failure that retrying soon cannot fix. Throw it (or set `permanent: true`) to say so. */
export class PermanentError extends Error {
  readonly permanent = true;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'PermanentError';
    if (options?.status !== undefined) this.status = options.status;
  }
  status?: number;
}

/** An error carrying the HTTP status an API answered, so `classifyError` can read it. */
export function httpError(message: string, status: number, cause?: unknown): Error & { status: number } {
  const error = new Error(message, cause !== undefined ? { cause } : undefined) as Error & { status: number };
  error.status = status;
  return error;
}

/** Statuses that say the request can never succeed as it is. */
const PERMANENT_STATUS = new Set([400, 401, 403, 404, 405, 410, 422]);

/** Error names (AWS SDK, Kubernetes reasons) that say "slow down", whatever the status (AWS throttles with 400). */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TooManyRequestsException',
  'TooManyRequests',
  'SlowDown',
  'ProvisionedThroughputExceededException',
]);

/** Error names that say the request is wrong or not allowed, whatever the status. */
const PERMANENT_NAMES = new Set([
  'ValidationError',
  'ValidationException',
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'AuthFailure',
  'SignatureDoesNotMatch',
  'Forbidden',
  'Unauthorized',
  'NotFound',
]);

/** errno codes of a network that may come back (or a peer that is restarting). */
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EMFILE',
  'ENFILE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'ABORT_ERR',
]);

interface ErrorFields {
  permanent?: unknown;
  status?: unknown;
  statusCode?: unknown;
  code?: unknown;
  name?: unknown;
  syscall?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  response?: { status?: unknown };
  cause?: unknown;
}

/** The HTTP status an error carries, in any of the shapes our API clients produce. */
export function statusOf(error: unknown): number | undefined {
  for (const e of causeChain(error)) {
    const f = e as ErrorFields;
    for (const candidate of [f.status, f.statusCode, f.$metadata?.httpStatusCode, f.response?.status, f.code]) {
      if (typeof candidate === 'number' && candidate >= 100 && candidate < 600) return candidate;
    }
  }
  return undefined;
}

/** The status's class: undefined when a status alone does not say (1xx-3xx, 409…). */
export function classifyStatus(status: number): ErrorClass | undefined {
  if (PERMANENT_STATUS.has(status)) return 'permanent';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return undefined;
}

/**
 * Transient or permanent, by the first rule that applies along the `cause` chain: an
 * explicit `permanent` flag, a throttling name, a permanent name, the HTTP status, the
 * errno (a command that does not exist is permanent, a network error transient).
 */
export function classifyError(error: unknown): ErrorClass {
  for (const e of causeChain(error)) {
    const f = e as ErrorFields;
    if (f.permanent === true) return 'permanent';
    if (f.permanent === false) return 'transient';
    const name = typeof f.name === 'string' ? f.name : undefined;
    const code = typeof f.code === 'string' ? f.code : undefined;
    if ((name && THROTTLING_NAMES.has(name)) || (code && THROTTLING_NAMES.has(code))) return 'transient';
    if ((name && PERMANENT_NAMES.has(name)) || (code && PERMANENT_NAMES.has(code))) return 'permanent';
    if (code && TRANSIENT_ERRNO.has(code)) return 'transient';
    if (name === 'TimeoutError' || name === 'AbortError') return 'transient';
    // spawn of a command that is not there, or not executable: no retry will find it.
    if ((code === 'ENOENT' || code === 'EACCES') && typeof f.syscall === 'string' && f.syscall.startsWith('spawn'))
      return 'permanent';
  }
  const status = statusOf(error);
  if (status !== undefined) return classifyStatus(status) ?? 'transient';
  return 'transient';
}

export function isPermanent(error: unknown): boolean {
  return classifyError(error) === 'permanent';
}

/** The error and its causes, outermost first (bounded: a cause cycle is not followed forever). */
function causeChain(error: unknown): object[] {
  const chain: object[] = [];
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    current = (current as ErrorFields).cause;
  }
  return chain;
}
