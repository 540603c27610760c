import { loadConfigFile } from '../config/load.js';
import { defaultRegistry } from '../registry.js';
import { printIssues } from './report.js';

/** `waymond validate FILE...`: 0 when every file is valid, 1 and every error otherwise. */
export function validateCommand(files: string[], options: { denyWarnings?: boolean }): number {
  const registry = defaultRegistry();
  let failed = false;
  for (const file of files) {
    const result = loadConfigFile(file, registry);
    if (!result.ok) {
      printIssues(result.issues);
      failed = true;
      continue;
    }
    printIssues(result.config.warnings);
    if (options.denyWarnings && result.config.warnings.length > 0) {
      failed = true;
      continue;
    }
    const count = (kind: string) => result.config.components.filter((c) => c.kind === kind).length;
    process.stdout.write(
      `ok: ${file} (${count('trigger')} triggers, ${count('connector')} connectors, ${count('scaler')} scalers)\n`,
    );
  }
  return failed ? 1 : 0;
}
