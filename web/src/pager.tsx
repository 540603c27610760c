// One pager for every paged list of the page (decisions, graph columns): ‹ n / N ›, hidden
// when everything fits on one page.
import { useState } from 'preact/hooks';

export const PAGE = 50;

/** The page a list shows, kept in range when the list shrinks under it. */
export function usePage<T>(items: T[]): { at: number; pages: number; shown: T[]; setPage: (p: number) => void } {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / PAGE));
  const at = Math.min(page, pages - 1);
  return { at, pages, shown: items.slice(at * PAGE, at * PAGE + PAGE), setPage };
}

export function Pager({ at, pages, setPage }: { at: number; pages: number; setPage: (p: number) => void }) {
  if (pages <= 1) return null;
  return (
    <div class="pager">
      <button type="button" disabled={at === 0} onClick={() => setPage(at - 1)}>
        ‹
      </button>
      <span>
        {at + 1} / {pages}
      </span>
      <button type="button" disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
        ›
      </button>
    </div>
  );
}
