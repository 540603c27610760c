/**
 * Redaction of secrets inside free text: any message that may quote a config value, a URL
 * or an error from a library goes through `redactSecrets` before a person sees it.
 *
 * - credentials in a URL's authority: `redis://:pw@h:6379` → `redis://:***@h:6379`,
 *   `postgres://u:pw@h/db` → `postgres://u:***@h/db` (a user name alone is kept);
 * - secret-looking query or form parameters (`token`, `key`, `secret`, `password`,
 *   `passwd`, `signature`, `sig`, `access_token`, `api_key`, ... any name ending in one of
 *   those): their value becomes `***`.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:'"]*):([^\s/?#@'"]*)@/gi;
const URL_USER_ONLY_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:'"]{16,})@/gi;
const SECRET_PARAM =
  /([?&;]|\b)((?:[a-z0-9_-]*[_-])?(?:token|key|secret|password|passwd|pwd|signature|sig|auth|credential|credentials))=([^&\s#'"]+)/gi;

export const REDACTED = '***';

export function redactSecrets(text: string): string {
  return text
    .replace(URL_CREDENTIALS, (_m, scheme: string, user: string, password: string) =>
      password === '' ? `${scheme}${user}:@` : `${scheme}${user}:${REDACTED}@`,
    )
    .replace(URL_USER_ONLY_TOKEN, (_m, scheme: string) => `${scheme}${REDACTED}@`)
    .replace(SECRET_PARAM, (_m, lead: string, name: string) => `${lead}${name}=${REDACTED}`);
}
