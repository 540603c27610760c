#!/usr/bin/env node
/**
 * The waymond command line. Each verb lives in its own file; this one only parses
 * arguments. The original's `waymond -config FILE` still works (it means `run`).
 */
import './node-runtime.js';
import { Argument, Command, Option } from 'commander';
import { GRAPH_FORMATS, LOG_LEVELS, SHELLS } from './choices.js';
import { registerSimulate } from './simulate.js';
import { packageVersion } from './version.js';

// Every verb's module is imported by its action, when that verb runs: `validate` never
// loads the HTTP server, the store, prom-client or pino, and `fire` not even the config
// loader (test/cli/startup-imports.test.ts fails on an eager import). Only this file,
// commander and the option choices load before the verb is known.

/** Accepts the original Go flag style `-config FILE` (single dash, long name). */
export function normaliseArgs(argv: string[]): string[] {
  return argv.map((arg) =>
    arg === '-config' ? '--config' : arg.startsWith('-config=') ? `--config=${arg.slice(8)}` : arg,
  );
}

/** Where fire, tap and status find the daemon unless --url says. */
const DAEMON_URL = process.env.WAYMOND_URL ?? 'http://127.0.0.1:9460';

function exitWith(code: number): void {
  process.exitCode = code;
}

const program = new Command();
program
  .name('waymond')
  .description('Autoscale anything, anywhere: one daemon, one config file.')
  .version(packageVersion());

program
  .command('run', { isDefault: true })
  .description('Run the daemon on a config file.')
  .option('-c, --config <file>', 'config file (TOML, YAML or JSON)', 'waymond.toml')
  .option('--http-host <host>', 'HTTP listen address (default from [http], else 127.0.0.1)')
  .option('--http-port <port>', 'HTTP port (default from [http], else 9460)')
  .option('--token-env <name>', 'variable holding the admin token (default from [http] token_env)')
  .option('--state <file>', 'SQLite state file (default <config dir>/.waymond/state.db)')
  .option('--dry-run', 'decide and record, but change no target')
  .addOption(new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]).default('info'))
  .action(async (options) => exitWith(await (await import('./run.js')).runCommand(options)));

program
  .command('validate')
  .description('Check config files: syntax, schema, graph. Exit 1 with every error when one is invalid.')
  .argument('<files...>', 'config files')
  .option('--deny-warnings', 'fail on warnings too')
  .action(async (files: string[], options) =>
    exitWith((await import('./validate.js')).validateCommand(files, options)),
  );

program
  .command('graph')
  .description('Print the component graph of a config.')
  .argument('<file>', 'config file')
  .addOption(new Option('--format <format>', 'output format').choices([...GRAPH_FORMATS]).default('mermaid'))
  .action(async (file: string, options) => exitWith((await import('./graph.js')).graphCommand(file, options)));

program
  .command('fire')
  .description('Fire a trigger (or send data to a scaler) of a running daemon.')
  .argument('<address>', 'e.g. trigger.webhook or scaler.workers')
  .option('--data <json>', 'event data, a JSON object')
  .option('--url <url>', 'daemon URL (or set WAYMOND_URL)', DAEMON_URL)
  .option('--token-env <name>', 'variable holding the admin token', 'WAYMOND_TOKEN')
  .action(async (address: string, options) =>
    exitWith(await (await import('./fire.js')).fireCommand(address, options)),
  );

program
  .command('reload')
  .description('Make a running daemon re-read its config file (as SIGHUP does); an invalid file changes nothing.')
  .option('--url <url>', 'daemon URL (or set WAYMOND_URL)', DAEMON_URL)
  .option('--token-env <name>', 'variable holding the admin token', 'WAYMOND_TOKEN')
  .action(async (options) => exitWith(await (await import('./reload.js')).reloadCommand(options)));

registerSimulate(program);

program
  .command('tap')
  .description('Print the events of a running daemon as they happen (one JSON object per line).')
  .option('--filter <text>', 'only topics containing this text, e.g. "scaler.agents" or ".error"')
  .option('--url <url>', 'daemon URL (or set WAYMOND_URL)', DAEMON_URL)
  .option('--token-env <name>', 'variable holding the admin token', 'WAYMOND_TOKEN')
  .action(async (options) => exitWith(await (await import('./tap.js')).tapCommand(options)));

program
  .command('status')
  .description('Print the scalers of a running daemon: desired, current, health, the last decision and its reason.')
  .option('--url <url>', 'daemon URL (or set WAYMOND_URL)', DAEMON_URL)
  .option('--token-env <name>', 'variable holding the admin token', 'WAYMOND_TOKEN')
  .option('--json', 'print the rows as JSON')
  .action(async (options) => exitWith(await (await import('./status.js')).statusCommand(options)));

program
  .command('cluster')
  .description("Print a cluster instance's view: live instances, what each owns, every lease (exit 3 if unhealthy).")
  .addArgument(new Argument('<action>', 'what to show').choices(['status']))
  .option('--url <url>', 'daemon URL (or set WAYMOND_URL)', DAEMON_URL)
  .option('--token-env <name>', 'variable holding the admin token', 'WAYMOND_TOKEN')
  .option('--json', 'print the answer as JSON')
  .action(async (action: 'status', options) =>
    exitWith(await (await import('./cluster.js')).clusterCommand(action, options)),
  );

program
  .command('completion')
  .description('Print a shell completion script (bash, zsh or fish).')
  .addArgument(new Argument('<shell>', 'shell').choices([...SHELLS]))
  .action(async (shell: (typeof SHELLS)[number]) => {
    const { completionScript } = await import('./completion.js');
    process.stdout.write(completionScript(program, shell));
  });

program
  .command('schema')
  .description('Print the JSON Schema of the config file.')
  .action(async () => {
    const [{ configJsonSchema }, { defaultRegistry }] = await Promise.all([
      import('./schema.js'),
      import('../registry.js'),
    ]);
    process.stdout.write(`${JSON.stringify(configJsonSchema(defaultRegistry()), null, 2)}\n`);
  });

await program.parseAsync(normaliseArgs(process.argv));
