import type { ComponentConfig } from '../config/load.js';
import { loadConfigFile } from '../config/load.js';
import { graphEdges } from '../core/graph.js';
import { defaultRegistry } from '../registry.js';
import { printIssues } from './report.js';

function nodeId(address: string): string {
  return address.replace(/[^A-Za-z0-9_]/g, '_');
}

import { GRAPH_FORMATS } from './choices.js';

export { GRAPH_FORMATS };
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/**
 * For a terminal: each flow from a source (a component nothing feeds) down to its scalers,
 * indented; a component reached twice is printed once in full, then as `(see above)`.
 */
export function renderText(components: ComponentConfig[]): string {
  const edges = graphEdges(components);
  const byAddress = new Map(components.map((c) => [c.address, c]));
  const next = new Map<string, string[]>();
  const fed = new Set<string>();
  for (const [a, b] of edges) {
    next.set(a, [...(next.get(a) ?? []), b]);
    fed.add(b);
  }
  const lines: string[] = [];
  const printed = new Set<string>();
  const visit = (address: string, depth: number) => {
    const c = byAddress.get(address);
    const label = `${'  '.repeat(depth)}${depth > 0 ? '-> ' : ''}${address}${c ? ` (${c.type})` : ''}`;
    if (printed.has(address)) {
      lines.push(`${label} (see above)`);
      return;
    }
    printed.add(address);
    lines.push(label);
    for (const to of next.get(address) ?? []) visit(to, depth + 1);
  };
  for (const c of components) if (!fed.has(c.address)) visit(c.address, 0);
  // Whatever sits only on a cycle has no source; print it too rather than drop it.
  for (const c of components) if (!printed.has(c.address)) visit(c.address, 0);
  return lines.join('\n');
}

export function renderGraph(components: ComponentConfig[], format: GraphFormat): string {
  if (format === 'text') return renderText(components);
  const edges = graphEdges(components);
  if (format === 'dot') {
    const lines = ['digraph waymond {', '  rankdir=LR;'];
    for (const c of components) {
      const shape = c.kind === 'trigger' ? 'ellipse' : c.kind === 'connector' ? 'box' : 'box3d';
      lines.push(`  "${c.address}" [label="${c.address}\\n(${c.type})", shape=${shape}];`);
    }
    for (const [a, b] of edges) lines.push(`  "${a}" -> "${b}";`);
    lines.push('}');
    return lines.join('\n');
  }
  const lines = ['flowchart LR'];
  for (const c of components) {
    const label = `${c.address}<br/>${c.type}`;
    const node = c.kind === 'trigger' ? `(["${label}"])` : c.kind === 'connector' ? `["${label}"]` : `[["${label}"]]`;
    lines.push(`  ${nodeId(c.address)}${node}`);
  }
  for (const [a, b] of edges) lines.push(`  ${nodeId(a)} --> ${nodeId(b)}`);
  return lines.join('\n');
}

export function graphCommand(file: string, options: { format: string }): number {
  const format = GRAPH_FORMATS.find((f) => f === options.format);
  if (!format) {
    process.stderr.write(`error: --format: expected one of ${GRAPH_FORMATS.join(', ')}, found "${options.format}"\n`);
    return 1;
  }
  const result = loadConfigFile(file, defaultRegistry());
  if (!result.ok) {
    printIssues(result.issues);
    return 1;
  }
  process.stdout.write(`${renderGraph(result.config.components, format)}\n`);
  return 0;
}
