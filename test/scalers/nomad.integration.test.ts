import { nomad } from '../../src/scalers/nomad.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { startNomadApi } from '../fixtures/nomad-api.js';

const TOKEN_ENV = 'WAYMOND_TEST_NOMAD_TOKEN';

describeScalerConformance({
  name: 'nomad',
  async setup() {
    const api = await startNomadApi();
    api.token = 'c0ffee00-0000-4000-8000-000000000001';
    process.env[TOKEN_ENV] = api.token;
    api.addJob({ id: 'agents', namespace: 'ci', groups: { workers: { count: 0, running: 0, healthy: 0 } } });
    const group = () => api.job('agents', 'ci')?.groups.workers;
    return {
      definition: nomad,
      config: { address: api.address, job: 'agents', group: 'workers', namespace: 'ci', token_env: TOKEN_ENV },
      countOnTarget: async () => group()?.count ?? 0,
      // A task group's count has no members waymond sees.
      membersOnTarget: async () => [],
      // Someone ran `nomad job scale agents workers <n-1>` meanwhile.
      removeOneBehindBack: async () => {
        const g = group();
        if (!g) throw new Error('no group');
        g.count -= 1;
        g.running = g.count;
      },
      breakTarget: async () => {
        api.failWith = { status: 500, body: 'rpc error: No cluster leader' };
        return async () => {
          api.failWith = undefined;
        };
      },
      cleanup: async () => {
        delete process.env[TOKEN_ENV];
        await api.close();
      },
    };
  },
});
