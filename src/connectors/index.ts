// Every connector type, alphabetically. Adding one is one line here.
import { direct } from './direct.js';

export const connectors = [direct];
