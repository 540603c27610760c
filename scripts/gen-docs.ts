// Writes docs/reference.md from the component schemas.
import { writeFileSync } from 'node:fs';
import { renderReference } from '../src/docs/reference.js';
import { defaultRegistry } from '../src/registry.js';

writeFileSync(new URL('../docs/reference.md', import.meta.url), renderReference(defaultRegistry()));
console.log('wrote docs/reference.md');
