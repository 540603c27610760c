import { type ConfigIssue, formatIssue } from '../config/issues.js';

/** Prints config issues (errors and warnings) to stderr, one per line. */
export function printIssues(issues: ConfigIssue[]): void {
  for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`);
}
