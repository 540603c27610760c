import { awsEc2Asg } from '../../src/scalers/aws-ec2-asg/scaler.js';
import { describeScalerConformance } from '../conformance/scaler-conformance.js';
import { startAwsApi } from '../fixtures/aws-api.js';
import { QueryError } from '../fixtures/aws-query.js';
import { useTestAwsCredentials } from '../helpers/aws-env.js';

const GROUP = 'conformance-asg';

describeScalerConformance({
  name: 'aws_ec2_asg',
  data: { asg_name: GROUP },
  async setup() {
    const restoreEnv = useTestAwsCredentials();
    const api = await startAwsApi();
    api.addGroup({ name: GROUP, minSize: 0, maxSize: 10, desired: 0 });
    const group = () => api.groups.get(GROUP);
    const alive = () => (group()?.instances ?? []).filter((i) => !i.LifecycleState.startsWith('Terminat'));
    return {
      definition: awsEc2Asg,
      config: { region: 'eu-west-1', endpoint: api.endpoint },
      countOnTarget: async () => alive().length,
      membersOnTarget: async () => alive().map((i) => i.InstanceId),
      // An idle agent that shuts itself down the way the Elastic CI Stack's do: terminate
      // with ShouldDecrementDesiredCapacity=true, so the group's capacity drops.
      removeOneBehindBack: async () => {
        const g = group();
        const victim = alive()[0];
        if (!g || !victim) throw new Error('nothing to remove');
        g.instances = g.instances.filter((i) => i !== victim);
        api.setDesired(GROUP, g.desired - 1);
      },
      breakTarget: async () => {
        api.failWith = new QueryError(
          403,
          'AccessDenied',
          'User: arn:aws:iam::123456789012:user/waymond is not authorized to perform: autoscaling:DescribeAutoScalingGroups',
        );
        return async () => {
          api.failWith = undefined;
        };
      },
      cleanup: async () => {
        await api.close();
        restoreEnv();
      },
    };
  },
});
