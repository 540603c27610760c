// Decisions, newest first, filtered by scaler, outcome and text, 50 a page; each links to
// the event that caused it (shown inline when the daemon still holds it).
import { useMemo, useState } from 'preact/hooks';
import type { Decision, WaymondEvent } from './api.js';
import { formatTime } from './api.js';
import { Pager, usePage } from './pager.js';
import { type DecisionFilter, filterDecisions, shortId } from './rules.js';

export type { DecisionFilter };

const OUTCOMES = ['', 'ok', 'error', 'dry_run', 'rejected', 'noop'];

export function DecisionsView({
  decisions,
  events,
  filter,
  onFilter,
  fixedScaler,
}: {
  decisions: Decision[];
  events: Map<string, WaymondEvent>;
  filter: DecisionFilter;
  onFilter: (f: DecisionFilter) => void;
  fixedScaler?: boolean;
}) {
  const [open, setOpen] = useState<string | null>(null);
  const matching = useMemo(() => filterDecisions(decisions, filter), [decisions, filter]);
  const { at, pages, shown, setPage } = usePage(matching);
  const set = (patch: Partial<DecisionFilter>) => {
    setPage(0);
    onFilter({ ...filter, ...patch });
  };
  return (
    <section class="decisions">
      <div class="filters">
        {!fixedScaler && (
          <input
            name="scaler"
            placeholder="scaler"
            value={filter.scaler}
            onInput={(e) => set({ scaler: (e.target as HTMLInputElement).value })}
          />
        )}
        <select
          name="outcome"
          value={filter.outcome}
          onChange={(e) => set({ outcome: (e.target as HTMLSelectElement).value })}
        >
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {o || 'any outcome'}
            </option>
          ))}
        </select>
        <input
          name="text"
          type="search"
          placeholder="text in reason, action, error"
          value={filter.text}
          onInput={(e) => set({ text: (e.target as HTMLInputElement).value })}
        />
        <span class="muted">
          {matching.length} of {decisions.length}
        </span>
      </div>
      <table>
        <thead>
          <tr>
            <th>time</th>
            <th>scaler</th>
            <th>current → desired</th>
            <th>action</th>
            <th>outcome</th>
            <th>ms</th>
            <th>reason</th>
            <th>event</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => {
            const key = `${d.id ?? d.time}:${d.scaler}`;
            const event = d.sourceEvent ? events.get(d.sourceEvent) : undefined;
            return [
              <tr key={key} data-testid="decision" class={`outcome-${d.outcome}`}>
                <td title={new Date(d.time).toISOString()}>{formatTime(d.time)}</td>
                <td>{shortId(d.scaler)}</td>
                <td>
                  {d.observed ?? '–'} → {d.desired ?? '–'}
                </td>
                <td>{d.action}</td>
                <td class="outcome">{d.outcome}</td>
                <td>{d.durationMs < 10 ? d.durationMs.toFixed(1) : Math.round(d.durationMs)}</td>
                <td class="reason-cell">
                  {d.reason}
                  {d.error && <div class="reason">{d.error}</div>}
                </td>
                <td>
                  {d.sourceEvent && (
                    <button type="button" class="link" onClick={() => setOpen(open === key ? null : key)}>
                      {d.sourceEvent}
                    </button>
                  )}
                </td>
              </tr>,
              open === key && (
                <tr key={`${key}:event`} class="event-row">
                  <td colSpan={8}>
                    {event ? (
                      <pre>{JSON.stringify(event, null, 2)}</pre>
                    ) : (
                      <span class="muted">event {d.sourceEvent} is no longer held by the daemon</span>
                    )}
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      <Pager at={at} pages={pages} setPage={setPage} />
    </section>
  );
}
