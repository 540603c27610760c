// Every connector type, alphabetically. Adding one is one line here.
import { combine } from './combine.js';
import { direct } from './direct.js';
import { policy } from './policy.js';

export const connectors = [combine, direct, policy];
