import { z } from 'zod';
import { triggerSchema } from '../core/schema.js';
import type { HookRequest, HookResponse, TriggerDefinition } from '../core/types.js';
import { checkBearerToken, header, MAX_HOOK_BODY_BYTES, parseJsonObject, verifyHubSignature } from './webhook.js';

const schema = triggerSchema('http_endpoint', {
  token: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Require `Authorization: Bearer <token>`. Set it from an environment variable (config interpolation) so the token stays out of the config file.',
    ),
  secret: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Require a GitHub-style `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` made with this secret (set it from an environment variable).',
    ),
});

type Config = z.output<typeof schema>;

/** Why a request is refused, or undefined when its credentials are right. */
export function authProblem(config: Config, request: HookRequest): string | undefined {
  if (config.token !== undefined && !checkBearerToken(config.token, request)) {
    return 'missing or wrong bearer token (Authorization: Bearer ...)';
  }
  if (
    config.secret !== undefined &&
    !verifyHubSignature(config.secret, request.body, header(request, 'x-hub-signature-256'))
  ) {
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
# Optional: token (bearer) and secret (X-Hub-Signature-256 HMAC), taken from the environment.
# Send events with: curl -XPOST localhost:9460/hooks/deploy_hook -d '{"desired": 5}'`,
  create(config, ctx) {
    let running = false;
    const refuse = (status: number, message: string): HookResponse => {
      // A refused request is the caller's problem, not the source's: logged, never an event.
      ctx.logger.warn({ status }, `refused webhook request: ${message}`);
      return { status, body: { error: message } };
    };
    // Mounted at creation: the daemon's HTTP server takes its routes before it listens.
    ctx.http.route('POST', `/hooks/${ctx.id}`, (request) => {
      if (!running) return refuse(503, `${ctx.address} is not running`);
      if (request.body.length > MAX_HOOK_BODY_BYTES) {
        return refuse(413, `body of ${request.body.length} bytes is over the ${MAX_HOOK_BODY_BYTES} byte limit`);
      }
      const auth = authProblem(config, request);
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
      },
      stop() {
        running = false;
      },
    };
  },
};
