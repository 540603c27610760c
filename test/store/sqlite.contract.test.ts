import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.js';
import { storeContract } from './store-contract.js';

storeContract({
  name: 'SQLite',
  async place() {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-contract-'));
    const path = join(dir, 'state.db');
    return {
      store: (options) => new SqliteStore(path, options),
      remove: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
