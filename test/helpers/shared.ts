/** The shared folder beside the repository (seed configs, traces): `../shared` from the repo root, in CI too. */
import { fileURLToPath } from 'node:url';

export const SHARED_DIR = fileURLToPath(new URL('../../../shared', import.meta.url));
export const SEED_DIR = `${SHARED_DIR}/seed`;
export const TRACES_DIR = `${SHARED_DIR}/traces`;
