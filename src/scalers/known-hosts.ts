/**
 * OpenSSH known_hosts checking for the ssh scaler: plain and hashed (`|1|salt|hash`) host
 * patterns, `[host]:port` for non-22 ports, comma lists; `@revoked` lines reject a key,
 * `@cert-authority` lines are not supported and ignored.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface KnownHost {
  patterns: string[];
  key: Buffer;
  revoked: boolean;
}

export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift();
      if (marker !== '@revoked') continue;
      revoked = true;
    }
    const [hosts, , key] = fields;
    if (!hosts || !key) continue;
    entries.push({ patterns: hosts.split(','), key: Buffer.from(key, 'base64'), revoked });
  }
  return entries;
}

export function readKnownHosts(file: string): KnownHost[] {
  try {
    return parseKnownHosts(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read known_hosts file ${file}: ${(error as Error).message}`);
  }
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return pattern === name;
}

/** True when `key` (the raw public key blob) is listed for host:port and not revoked. */
export function hostKeyAllowed(entries: KnownHost[], host: string, port: number, key: Buffer): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  if (entries.some((e) => e.revoked && e.key.equals(key))) return false;
  return entries.some((e) => !e.revoked && e.key.equals(key) && e.patterns.some((p) => patternMatches(p, name)));
}
