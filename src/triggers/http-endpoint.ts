/**
 * A webhook: `POST /hooks/<id>` with a JSON object emits that object as the event data.
 * Refused requests (bad credentials, not JSON, too big) are answered and logged, and emit
 * nothing: a stranger's request must not become an error event that a policy holds on.
 */
import { z } from 'zod';
import { triggerSchema } from '../core/schema.js';
import type { HookRequest, HookResponse, TriggerDefinition } from '../core/types.js';
import { secretFromEnv } from './poller.js';
import { checkBearerToken, header, MAX_HOOK_BODY_BYTES, parseJsonObject, verifyHubSignature } from './webhook.js';

const schema = triggerSchema('http_endpoint', {
  token: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Require `Authorization: Bearer <token>`. Prefer `token_env`, or config interpolation, to writing it here.',
    ),
  token_env: secretFromEnv
    .optional()
    .describe('Name of an environment variable holding the bearer token (instead of `token`).'),
  secret: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Require a GitHub-style `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` made with this secret. Prefer `secret_env`.',
    ),
  secret_env: secretFromEnv
    .optional()
    .describe('Name of an environment variable holding the HMAC secret (instead of `secret`).'),
}).superRefine((value, ctx) => {
  if (value.token !== undefined && value.token_env !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['token_env'], message: 'set either `token` or `token_env`, not both' });
  }
  if (value.secret !== undefined && value.secret_env !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['secret_env'], message: 'set either `secret` or `secret_env`, not both' });
  }
});

type Config = z.output<typeof schema>;

export interface Credentials {
  token?: string;
  secret?: string;
}

/** The credentials a request must carry, or the name of the environment variable that is unset. */
export function resolveCredentials(
  config: Config,
  env: NodeJS.ProcessEnv,
): { ok: true; credentials: Credentials } | { ok: false; missing: string } {
  const token = config.token_env !== undefined ? env[config.token_env] : config.token;
  if (config.token_env !== undefined && !token) return { ok: false, missing: config.token_env };
  const secret = config.secret_env !== undefined ? env[config.secret_env] : config.secret;
  if (config.secret_env !== undefined && !secret) return { ok: false, missing: config.secret_env };
  return { ok: true, credentials: { token, secret } };
}

/** Why a request is refused, or undefined when its credentials are right. */
export function authProblem(credentials: Credentials, request: HookRequest): string | undefined {
  if (credentials.token !== undefined && !checkBearerToken(credentials.token, request)) {
    return 'missing or wrong bearer token (Authorization: Bearer ...)';
  }
  const signature = header(request, 'x-hub-signature-256');
  if (credentials.secret !== undefined && !verifyHubSignature(credentials.secret, request.body, signature)) {
    return 'missing or wrong X-Hub-Signature-256';
  }
  return undefined;
}

export const httpEndpoint: TriggerDefinition<typeof schema> = {
  kind: 'trigger',
  type: 'http_endpoint',
  summary: 'Emits the JSON object POSTed to /hooks/<id> (optional bearer token and HMAC signature).',
  schema,
  acceptsInput: false,
  example: `[[trigger]]
type = "http_endpoint"
id = "deploy_hook"
token_env = "DEPLOY_HOOK_TOKEN"
# curl -XPOST localhost:9460/hooks/deploy_hook -H "Authorization: Bearer $DEPLOY_HOOK_TOKEN" -d '{"desired": 5}'`,
  create(config, ctx) {
    let running = false;
    let credentials: Credentials | undefined;
    let missing: string | undefined;
    const refuse = (status: number, message: string): HookResponse => {
      ctx.logger.warn({ status }, `refused webhook request: ${message}`);
      return { status, body: { error: message } };
    };
    // Mounted at creation: the daemon's HTTP server looks its hook routes up per request.
    ctx.http.route('POST', `/hooks/${ctx.id}`, (request) => {
      if (!running) return refuse(503, `${ctx.address} is not running`);
      // Fail closed: with its credentials unset the endpoint accepts nothing.
      if (!credentials) return refuse(503, `${ctx.address} has no credentials configured (see its error events)`);
      if (request.body.length > MAX_HOOK_BODY_BYTES) {
        return refuse(413, `body of ${request.body.length} bytes is over the ${MAX_HOOK_BODY_BYTES} byte limit`);
      }
      const auth = authProblem(credentials, request);
      if (auth) return refuse(401, auth);
      // Parsed as JSON whatever the content-type: `curl -d` sends a form content-type.
      const parsed = parseJsonObject(request.body);
      if (!parsed.ok) return refuse(parsed.status, parsed.message);
      const event = ctx.emit(parsed.data);
      return { status: 202, body: { event_id: event.id } };
    });
    return {
      start() {
        running = true;
        const resolved = resolveCredentials(config, process.env);
        credentials = resolved.ok ? resolved.credentials : undefined;
        missing = resolved.ok ? undefined : resolved.missing;
        if (!resolved.ok) {
          ctx.emitError(
            new Error(
              `${ctx.address}: environment variable ${resolved.missing} is not set; the endpoint refuses every request`,
            ),
          );
        }
      },
      stop() {
        running = false;
      },
      problem() {
        return running && missing
          ? `environment variable ${missing} is not set; the endpoint refuses every request`
          : undefined;
      },
    };
  },
};
