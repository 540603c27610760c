import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processScaler } from '../../src/scalers/process.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { killAll, pidsWithEnv } from '../helpers/procs.js';

describeScalerConformance({
  name: 'process',
  async setup(id) {
    const dir = mkdtempSync(join(tmpdir(), 'waymond-process-'));
    const script = join(dir, 'agent.sh');
    writeFileSync(script, '#!/bin/sh\nexec sleep 300\n');
    chmodSync(script, 0o755);
    const members = () => pidsWithEnv('WAYMOND_SCALER', id);
    return {
      definition: processScaler,
      config: { command: script, stop_timeout: '2s' },
      countOnTarget: async () => members().length,
      membersOnTarget: async () => members().map(String),
      removeOneBehindBack: async () => killAll(members().slice(0, 1)),
      breakTarget: async () => {
        // A command that can no longer be executed: spawn fails with EACCES.
        chmodSync(script, 0o644);
        return async () => chmodSync(script, 0o755);
      },
      cleanup: async () => {
        killAll(members());
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
