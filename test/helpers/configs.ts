/**
 * Configs that several test files start a daemon on. A file-specific config stays in its
 * test; one used by the HTTP-surface tests of several rooms lives here.
 */

/** A webhook, `trigger.set`, wired straight to a noop `scaler.s`: the smallest daemon with a hook. */
export function hookToNoop(max = 10): string {
  return `[[trigger]]
type = "http_endpoint"
id = "set"

[[connect]]
type = "direct"
id = "c"
from = "trigger.set"
to = "scaler.s"

[[scaler]]
type = "noop"
id = "s"
max = ${max}
`;
}
