/**
 * Shared pieces of webhook-receiving triggers (http_endpoint, github_actions, gitlab):
 * authentication in constant time and strict JSON bodies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { errorMessage } from '../core/context.js';
import type { ComponentContext, EventData, HookRequest, RouteHandler } from '../core/types.js';

/** Largest webhook body accepted; larger ones get 413. */
export const MAX_HOOK_BODY_BYTES = 1024 * 1024;

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare equal-length buffers so timing does not leak the length either.
  const padded = Buffer.alloc(Math.max(left.length, right.length));
  right.copy(padded);
  const leftPadded = Buffer.alloc(padded.length);
  left.copy(leftPadded);
  return timingSafeEqual(leftPadded, padded) && left.length === right.length;
}

export function header(request: HookRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** `Authorization: Bearer <token>` check. */
export function checkBearerToken(expected: string, request: HookRequest): boolean {
  const value = header(request, 'authorization') ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(value);
  return match !== null && safeEqual(match[1] as string, expected);
}

/** GitHub-style `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`. */
export function verifyHubSignature(secret: string, rawBody: Buffer, signatureHeader: string | undefined): boolean {
  if (!signatureHeader?.startsWith('sha256=')) return false;
  const expected = `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
  return safeEqual(signatureHeader, expected);
}

export type JsonBody = { ok: true; data: EventData } | { ok: false; status: number; message: string };

/** Parses a webhook body that must be one JSON object. */
export function parseJsonObject(body: Buffer): JsonBody {
  if (body.length > MAX_HOOK_BODY_BYTES) {
    return {
      ok: false,
      status: 413,
      message: `body of ${body.length} bytes is over the ${MAX_HOOK_BODY_BYTES} byte limit`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { ok: false, status: 400, message: `body is not JSON: ${(error as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, status: 400, message: 'body must be a JSON object' };
  }
  return { ok: true, data: parsed as EventData };
}

/**
 * Mounts `POST /hooks/<id>` for a webhook trigger. A bug in the handler answers 500 and is
 * reported as an error event; it never takes the daemon down.
 */
export function mountHook(ctx: ComponentContext, handler: RouteHandler): void {
  ctx.http.route('POST', `/hooks/${ctx.id}`, async (request) => {
    try {
      return await handler(request);
    } catch (error) {
      ctx.emitError(new Error(`${ctx.address}: webhook handling failed: ${errorMessage(error)}`));
      return { status: 500, body: { error: 'internal error' } };
    }
  });
}
