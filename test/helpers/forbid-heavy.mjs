// Makes importing some packages fail, to prove a code path never loads them (startup memory:
// the big client libraries must load only when a component that needs them is created).
//
//   WAYMOND_FORBIDDEN_MODULES=ioredis,@aws-sdk/ node --import tsx --import ./test/helpers/forbid-heavy.mjs app.ts
//
// Each comma-separated entry is a package name, or a scope prefix ending in "/". The hooks
// themselves are in forbid-heavy-hooks.mjs (Node runs them on its loader thread).
import { register } from 'node:module';

const forbidden = (process.env.WAYMOND_FORBIDDEN_MODULES ?? '')
  .split(',')
  .map((entry) => entry.trim())
  .filter(Boolean);
register('./forbid-heavy-hooks.mjs', import.meta.url, { data: { forbidden } });
