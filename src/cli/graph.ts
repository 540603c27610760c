import type { ComponentConfig } from '../config/load.js';
import { loadConfigFile } from '../config/load.js';
import { graphEdges } from '../core/graph.js';
import { defaultRegistry } from '../registry.js';
import { printIssues } from './report.js';

function nodeId(address: string): string {
  return address.replace(/[^A-Za-z0-9_]/g, '_');
}

export function renderGraph(components: ComponentConfig[], format: 'mermaid' | 'dot'): string {
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
  if (options.format !== 'mermaid' && options.format !== 'dot') {
    process.stderr.write(`error: --format: expected "mermaid" or "dot", found "${options.format}"\n`);
    return 1;
  }
  const result = loadConfigFile(file, defaultRegistry());
  if (!result.ok) {
    printIssues(result.issues);
    return 1;
  }
  process.stdout.write(`${renderGraph(result.config.components, options.format)}\n`);
  return 0;
}
