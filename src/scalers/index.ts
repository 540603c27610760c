// Every scaler type, alphabetically. Adding one is one line here.
import { awsEc2Asg } from './aws-ec2-asg/scaler.js';
import { cascade } from './cascade.js';
import { docker } from './docker.js';
import { exec } from './exec.js';
import { http } from './http.js';
import { kubernetes } from './kubernetes/scaler.js';
import { nomad } from './nomad.js';
import { noop } from './noop.js';
import { processScaler } from './process.js';
import { ssh } from './ssh.js';
import { systemd } from './systemd/scaler.js';

export const scalers = [awsEc2Asg, cascade, docker, exec, http, kubernetes, noop, nomad, processScaler, ssh, systemd];
