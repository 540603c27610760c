// The waymond dashboard: graph, one scaler over time, decisions; kept live by /api/tap.
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  addressOf,
  type Component,
  type Decision,
  followTap,
  type Graph,
  getJson,
  type Health,
  hasToken,
  nextHealth,
  type Series,
  setToken,
  shortId,
  Unauthorized,
  type WaymondEvent,
} from './api.js';
import { Chart } from './chart.js';
import { type DecisionFilter, DecisionsView } from './decisions.js';
import { GraphView } from './graph.js';
import './style.css';

const EVENTS_KEPT = 2000;
const REFETCH_EVERY_MS = 1000;
const WINDOWS: [string, number][] = [
  ['15 min', 15 * 60_000],
  ['1 hour', 3600_000],
  ['6 hours', 6 * 3600_000],
  ['24 hours', 24 * 3600_000],
  ['7 days', 7 * 24 * 3600_000],
];

type Route = { view: 'graph' } | { view: 'decisions' } | { view: 'scaler'; address: string };

function parseRoute(hash: string): Route {
  const [, view, address] = hash.replace(/^#/, '').split('/');
  if (view === 'scaler' && address) return { view: 'scaler', address: decodeURIComponent(address) };
  if (view === 'decisions') return { view: 'decisions' };
  return { view: 'graph' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function TokenPrompt({ refused, onDone }: { refused: boolean; onDone: () => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value);
        onDone();
      }}
    >
      <p>This daemon needs its API token.</p>
      {refused && (
        <p class="reason" data-testid="token-refused">
          The daemon refused that token.
        </p>
      )}
      <input
        name="token"
        type="password"
        aria-label="API token"
        autocomplete="current-password"
        autofocus
        value={value}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Open</button>
    </form>
  );
}

function ScalerView({
  address,
  component,
  tick,
  events,
}: {
  address: string;
  component: Component | undefined;
  tick: number;
  events: Map<string, WaymondEvent>;
}) {
  const [windowMs, setWindowMs] = useState(3600_000);
  const [series, setSeries] = useState<Series | null>(null);
  const [decisions, setDecisions] = useState<Decision[]>([]);
  const [filter, setFilter] = useState<DecisionFilter>({ scaler: '', outcome: '', text: '' });
  const [error, setError] = useState('');
  useEffect(() => {
    const since = Date.now() - windowMs;
    const q = encodeURIComponent(address);
    Promise.all([
      getJson<Series>(`/api/series?scaler=${q}&since=${since}`),
      getJson<{ decisions: Decision[] }>(`/api/decisions?scaler=${q}&limit=500`),
    ]).then(
      ([s, d]) => {
        setSeries(s);
        setDecisions(d.decisions);
        setError('');
      },
      (e: Error) => setError(e.message),
    );
  }, [address, windowMs, tick]);
  const now = Date.now();
  return (
    <section class="scaler-view" data-scaler={address}>
      <h2>
        {shortId(address)} <span class="muted">{component?.type}</span>
      </h2>
      {component && (
        <p class="counts">
          desired <b data-testid="desired">{component.desired ?? '–'}</b> · current{' '}
          <b data-testid="observed">{component.observed ?? '–'}</b> · ready {component.ready ?? '–'} · min{' '}
          {component.min} · max {component.max} · {component.members?.length ?? 0} members
        </p>
      )}
      {component?.targets && component.targets.length > 0 && (
        <table class="targets">
          <thead>
            <tr>
              <th>target</th>
              <th>desired</th>
              <th>current</th>
              <th>ready</th>
            </tr>
          </thead>
          <tbody>
            {component.targets.map((t, i) => (
              <tr key={t.id ?? t.name ?? i}>
                <td>{t.id ?? t.name ?? i}</td>
                <td>{t.desired ?? '–'}</td>
                <td>{t.observed ?? '–'}</td>
                <td>{t.ready ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="filters">
        <label>
          window{' '}
          <select
            name="window"
            value={windowMs}
            onChange={(e) => setWindowMs(Number((e.target as HTMLSelectElement).value))}
          >
            {WINDOWS.map(([label, ms]) => (
              <option key={ms} value={ms}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <span class="muted">drag on the chart to zoom, double-click to reset</span>
      </div>
      {error && <p class="reason">{error}</p>}
      {series && (
        <Chart
          series={series}
          from={now - windowMs}
          to={now}
          now={{ desired: component?.desired, observed: component?.observed }}
        />
      )}
      <DecisionsView decisions={decisions} events={events} filter={filter} onFilter={setFilter} fixedScaler />
    </section>
  );
}

function App() {
  const route = useRoute();
  const [needToken, setNeedToken] = useState(false);
  const [tokenRefused, setTokenRefused] = useState(false);
  const [graph, setGraph] = useState<Graph | null>(null);
  const [components, setComponents] = useState(new Map<string, Component>());
  const [health, setHealth] = useState(new Map<string, Health>());
  const [decisions, setDecisions] = useState<Decision[]>([]);
  const [events, setEvents] = useState(new Map<string, WaymondEvent>());
  const [live, setLive] = useState(false);
  const [tick, setTick] = useState(0);
  const [query, setQuery] = useState('');
  const [filter, setFilter] = useState<DecisionFilter>({ scaler: '', outcome: '', text: '' });
  const [failure, setFailure] = useState('');
  const [attempt, setAttempt] = useState(0);
  const refresh = useRef<number | undefined>(undefined);

  const fail = useCallback((e: Error) => {
    if (e instanceof Unauthorized) {
      setNeedToken(true);
      setTokenRefused(hasToken());
      setLive(false);
    } else setFailure(e.message);
  }, []);

  // First load: the graph with the health the daemon has seen, components, recent events.
  useEffect(() => {
    Promise.all([
      getJson<Graph>('/api/graph'),
      getJson<{ components: Component[] }>('/api/components'),
      getJson<{ events: WaymondEvent[] }>('/api/events?limit=200'),
    ]).then(([g, c, e]) => {
      setNeedToken(false);
      setGraph(g);
      setComponents(new Map(c.components.map((x) => [x.address, x])));
      setEvents(new Map(e.events.map((x) => [x.id, x])));
    }, fail);
  }, [attempt]);

  // Counts and decisions again after a burst of results (debounced: 10,000 scalers are chatty).
  useEffect(() => {
    if (!graph) return;
    Promise.all([
      getJson<{ components: Component[] }>('/api/components'),
      getJson<{ decisions: Decision[] }>('/api/decisions?limit=1000'),
    ]).then(([c, d]) => {
      setComponents(new Map(c.components.map((x) => [x.address, x])));
      setDecisions(d.decisions);
    }, fail);
  }, [graph, tick]);

  useEffect(() => {
    if (!graph) return;
    const abort = new AbortController();
    const pending: WaymondEvent[] = [];
    // Counts and decisions are refetched at most once a second (10,000 scalers: 700 KiB each).
    let lastBump = 0;
    let bumpTimer: number | undefined;
    const bump = () => {
      if (bumpTimer !== undefined) return;
      const wait = Math.max(0, lastBump + REFETCH_EVERY_MS - Date.now());
      bumpTimer = window.setTimeout(() => {
        bumpTimer = undefined;
        lastBump = Date.now();
        setTick((t) => t + 1);
      }, wait);
    };
    const flush = () => {
      refresh.current = undefined;
      const batch = pending.splice(0);
      setEvents((old) => {
        const next = new Map(old);
        for (const e of batch) next.set(e.id, e);
        const extra = next.size - EVENTS_KEPT;
        if (extra > 0) for (const id of [...next.keys()].slice(0, extra)) next.delete(id);
        return next;
      });
      setHealth((old) => {
        const next = new Map(old);
        for (const e of batch) {
          const address = addressOf(e);
          const h = nextHealth(next.get(address), e);
          if (h) next.set(address, h);
        }
        return next;
      });
      if (batch.some((e) => e.topic.endsWith('.result') || e.topic.endsWith('.input'))) bump();
    };
    followTap(
      (event) => {
        pending.push(event);
        refresh.current ??= window.setTimeout(flush, 250);
      },
      setLive,
      abort.signal,
    ).catch(fail);
    return () => {
      abort.abort();
      window.clearTimeout(bumpTimer);
    };
  }, [graph]);

  if (needToken) return <TokenPrompt refused={tokenRefused} onDone={() => setAttempt((a) => a + 1)} />;
  return (
    <div class="app">
      <header>
        <h1>waymond</h1>
        <nav>
          <a href="#/graph" class={route.view === 'graph' ? 'active' : ''}>
            graph
          </a>
          <a href="#/decisions" class={route.view === 'decisions' ? 'active' : ''}>
            decisions
          </a>
          {route.view === 'scaler' && (
            <a class="active" href={`#/scaler/${encodeURIComponent(route.address)}`}>
              {shortId(route.address)}
            </a>
          )}
        </nav>
        <span class={`live ${live ? 'on' : 'off'}`} data-testid="live">
          {live ? 'live' : 'offline'}
        </span>
      </header>
      {failure && <p class="reason">{failure}</p>}
      {!graph && !failure && <p class="muted">loading…</p>}
      {graph && route.view === 'graph' && (
        <GraphView graph={graph} health={health} components={components} query={query} onQuery={setQuery} />
      )}
      {graph && route.view === 'decisions' && (
        <DecisionsView decisions={decisions} events={events} filter={filter} onFilter={setFilter} />
      )}
      {graph && route.view === 'scaler' && (
        <ScalerView address={route.address} component={components.get(route.address)} tick={tick} events={events} />
      )}
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
