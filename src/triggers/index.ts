// Every trigger type, alphabetically. Adding one is one line here.
import { cron } from './cron.js';
import { interval } from './interval.js';

export const triggers = [cron, interval];
