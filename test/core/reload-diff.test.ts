import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { buildGraph, type Graph } from '../../src/core/graph.js';
import { planReload } from '../../src/core/reload-diff.js';
import { defaultRegistry } from '../../src/registry.js';

function graph(text: string): Graph {
  const loaded = loadConfigText(text, '/tmp/waymond.toml', defaultRegistry());
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return buildGraph(loaded.config.components);
}

const base = (max: number, extra = '') => `
[[trigger]]
type = "interval"
id = "tick"
every = "1s"

[[connect]]
type = "direct"
id = "to_a"
from = "trigger.tick"
to = "scaler.a"

[[scaler]]
type = "exec"
id = "a"
max = ${max}
command = "true"
${extra}`;

describe('planReload', () => {
  it('the same file changes nothing', () => {
    const plan = planReload(graph(base(5)), graph(base(5)));
    expect(plan.restarted).toEqual([]);
    expect(plan.added).toEqual([]);
    expect(plan.removed).toEqual([]);
    expect(plan.unchanged).toBe(3);
  });

  it('a changed scaler is recreated with the connector that holds its handle; the trigger stays', () => {
    const plan = planReload(graph(base(5)), graph(base(4)));
    expect(plan.restarted).toEqual(['connector.to_a', 'scaler.a']);
    expect(plan.stop.triggers).toEqual([]);
    expect(plan.start.scalers).toEqual(['scaler.a']);
    expect(plan.unchanged).toBe(1);
  });

  it('added and removed components are named, and only they start or stop', () => {
    const extra = '\n[[scaler]]\ntype = "exec"\nid = "b"\ncommand = "true"\n';
    const plan = planReload(graph(base(5, extra)), graph(base(5)));
    expect(plan.removed).toEqual(['scaler.b']);
    expect(plan.stop.scalers).toEqual(['scaler.b']);
    expect(plan.start.scalers).toEqual([]);
    const back = planReload(graph(base(5)), graph(base(5, extra)));
    expect(back.added).toEqual(['scaler.b']);
    expect(back.start.scalers).toEqual(['scaler.b']);
    expect(back.restarted).toEqual([]);
  });
});
