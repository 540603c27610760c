/**
 * The standard credential chain reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY first; tests
 * set the local API's static test keys there (and restore whatever was set before).
 */
import { TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY } from '../fixtures/aws-api.js';

const KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;

export function useTestAwsCredentials(): () => void {
  const saved = KEYS.map((k) => [k, process.env[k]] as const);
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_ACCESS_KEY;
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
