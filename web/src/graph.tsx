// The component graph: triggers -> connectors -> scalers, each node with its health.
// Columns are searched and paged (50 a page) so 10,000 scalers never render at once.
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Component, Graph, Health } from './api.js';
import { Pager, usePage } from './pager.js';
import { shortId, visibleAddresses } from './rules.js';

const KINDS = ['trigger', 'connector', 'scaler'] as const;

interface Props {
  graph: Graph;
  health: Map<string, Health>;
  components: Map<string, Component>;
  query: string;
  onQuery: (q: string) => void;
}

function NodeCard({
  address,
  type,
  health,
  component,
}: {
  address: string;
  type: string;
  health: Health | undefined;
  component: Component | undefined;
}) {
  // A crash-looping scaler says so itself (/api/components): it wins over the event-based health,
  // since its reconciles still succeed while its members keep dying.
  const looping = component?.health === 'crash_looping';
  const state = looping ? 'crash_looping' : (health?.state ?? 'idle');
  const reason = looping ? component?.reason : health?.reason;
  const isScaler = address.startsWith('scaler.');
  // Scalers are links (keyboard and middle-click work); the rest are plain boxes.
  const Box = isScaler ? 'a' : 'div';
  return (
    <Box
      class={`node node-${state}`}
      data-address={address}
      data-health={state}
      title={reason ?? state}
      href={isScaler ? `#/scaler/${encodeURIComponent(address)}` : undefined}
    >
      <div class="node-head">
        <span class="node-id">{shortId(address)}</span>
        <span class="node-type">{type}</span>
      </div>
      {(state === 'failing' || state === 'crash_looping') && <div class="reason">{reason}</div>}
      {state === 'crash_looping' && <div class="badge badge-bad">crash looping</div>}
      {state === 'dry_run' && <div class="badge">dry run</div>}
      {isScaler && component && (
        <div class="counts">
          desired <b>{component.desired ?? '–'}</b> · current <b>{component.observed ?? '–'}</b> · {component.min}…
          {component.max}
          {component.targets && component.targets.length > 0 && <span> · {component.targets.length} targets</span>}
        </div>
      )}
    </Box>
  );
}

function Column({ kind, nodes, props }: { kind: string; nodes: Graph['nodes']; props: Props }) {
  const { at, pages, shown, setPage } = usePage(nodes);
  return (
    <div class="column" data-kind={kind}>
      <h3>
        {kind}s <span class="muted">({nodes.length})</span>
      </h3>
      {shown.map((n) => (
        <NodeCard
          key={n.address}
          address={n.address}
          type={n.type}
          health={props.health.get(n.address) ?? n.health}
          component={props.components.get(n.address)}
        />
      ))}
      <Pager at={at} pages={pages} setPage={setPage} />
    </div>
  );
}

export function GraphView(props: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [lines, setLines] = useState<{ x1: number; y1: number; x2: number; y2: number }[]>([]);
  const visible = useMemo(() => visibleAddresses(props.graph, props.query), [props.graph, props.query]);
  const byKind = useMemo(() => {
    const nodes = visible ? props.graph.nodes.filter((n) => visible.has(n.address)) : props.graph.nodes;
    return KINDS.map((kind) => nodes.filter((n) => n.kind === kind));
  }, [props.graph, visible]);

  // Edges are drawn between the cards on screen, measured after each render.
  useLayoutEffect(() => {
    const root = box.current;
    if (!root) return;
    const origin = root.getBoundingClientRect();
    const at = new Map<string, DOMRect>();
    for (const el of root.querySelectorAll<HTMLElement>('[data-address]'))
      at.set(el.dataset.address as string, el.getBoundingClientRect());
    const next: typeof lines = [];
    for (const e of props.graph.edges) {
      const a = at.get(e.from);
      const b = at.get(e.to);
      if (!a || !b) continue;
      next.push({
        x1: a.right - origin.left,
        y1: a.top + a.height / 2 - origin.top,
        x2: b.left - origin.left,
        y2: b.top + b.height / 2 - origin.top,
      });
    }
    if (JSON.stringify(next) !== JSON.stringify(lines)) setLines(next);
  });

  return (
    <section class="graph-view">
      <input
        class="search"
        type="search"
        placeholder="search components (address or type)"
        value={props.query}
        onInput={(e) => props.onQuery((e.target as HTMLInputElement).value)}
      />
      <div class="graph" ref={box}>
        <svg class="edges" aria-hidden="true">
          {lines.map((l) => (
            <path
              key={`${l.x1},${l.y1},${l.x2},${l.y2}`}
              d={`M${l.x1},${l.y1} C${(l.x1 + l.x2) / 2},${l.y1} ${(l.x1 + l.x2) / 2},${l.y2} ${l.x2},${l.y2}`}
            />
          ))}
        </svg>
        {KINDS.map((kind, i) => (
          <Column key={`${kind}:${props.query}`} kind={kind} nodes={byKind[i] ?? []} props={props} />
        ))}
      </div>
    </section>
  );
}
