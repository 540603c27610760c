/**
 * Copies of the original project's seed configs and of real workload traces, kept in the
 * repository so that a fresh clone tests with nothing beside it. The traces' sources and
 * licences are in test/fixtures/traces/README.md.
 */
import { fileURLToPath } from 'node:url';

export const SEED_DIR = fileURLToPath(new URL('../fixtures/seed', import.meta.url));
export const TRACES_DIR = fileURLToPath(new URL('../fixtures/traces', import.meta.url));
