// Every trigger type, alphabetically. Adding one is one line here.
import { buildkite } from './ci/buildkite.js';
import { githubActions } from './ci/github-actions.js';
import { gitlab } from './ci/gitlab.js';
import { cron } from './cron.js';
import { httpClient } from './http-client.js';
import { httpEndpoint } from './http-endpoint.js';
import { interval } from './interval.js';
import { mqttTrigger } from './mqtt.js';
import { natsJetstream } from './nats-jetstream.js';
import { prometheus } from './prometheus.js';
import { rabbitmq } from './rabbitmq.js';
import { redis } from './redis/trigger.js';
import { mysql } from './sql/mysql.js';
import { postgres } from './sql/postgres.js';
import { system } from './system.js';

export const triggers = [
  buildkite,
  cron,
  githubActions,
  gitlab,
  httpClient,
  httpEndpoint,
  interval,
  mqttTrigger,
  mysql,
  natsJetstream,
  postgres,
  prometheus,
  rabbitmq,
  redis,
  system,
];
