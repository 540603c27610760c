// Every scaler type, alphabetically. Adding one is one line here.
import { exec } from './exec.js';
import { http } from './http.js';
import { noop } from './noop.js';
import { processScaler } from './process.js';

export const scalers = [exec, http, noop, processScaler];
