/**
 * What keeps the admin API to its operators, and hostile bodies out:
 * - a bearer token (from the variable `[http] token_env` names) on every `/api/*` route,
 *   the dashboard's data included, compared in constant time; health, readiness, metrics
 *   and the dashboard's page itself (no data in it) stay open;
 * - the rule that a non-loopback listener needs that token;
 * - a bound on JSON nesting, so a body nested 20,000 deep is refused at the door instead of
 *   wedging a scaler later (its saved state could never be serialised again).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** Paths any client may read without the token. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function needsToken(path: string): boolean {
  const bare = path.split('?')[0] ?? path;
  if (OPEN_PATHS.has(bare)) return false;
  // The dashboard's page and assets hold no data (a browser opening a URL cannot send a
  // bearer header): the page asks for the token and sends it with every /api call.
  return bare.startsWith('/api/') || bare === '/api';
}

/** True when `header` is `Bearer <token>` with exactly this token (constant time in the token's length). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!match) return false;
  // Hash both sides: equal lengths for timingSafeEqual, and no early exit on a length mismatch.
  const given = createHash('sha256')
    .update(match[1] as string)
    .digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected);
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7));
  return false;
}

/** How deep a JSON body may nest (objects and arrays). */
export const MAX_JSON_DEPTH = 64;

/**
 * The nesting depth of a JSON text, read without parsing it (so a hostile body costs one
 * pass over its bytes and no recursion). Brackets inside strings do not count.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}
