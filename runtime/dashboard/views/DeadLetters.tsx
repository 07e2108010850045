/**
 * The dead-letter workbench of one function: search and page its dead letters, open one (error,
 * stack, headers, the whole body), replay one, the selected ones or all into the function's own
 * queue, edit a body and replay it, purge after a confirmation.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, fnPath } from '../api';
import { ago, count, plural } from '../format';
import type { LiveState } from '../live';
import type { DeadLetter, DeadLetterPage, ReplayResult } from '../types';
import { toast } from '../toast';
import { Confirm } from './Confirm';
import { LetterDetail } from './LetterDetail';

const PAGE = 20;
/**
 * A change of the queue (its depth, the function's failures) reads the page again at most this often
 * (2 ms a letter in the queue, up to this): each read takes every letter of the queue out and back,
 * and a function failing every second had an open page reading a queue of 1,300 back to back. While
 * a letter is open or rows are ticked the page stays as it is (a quorum queue's letters of one time
 * of death may trade places) and offers a refresh.
 */
export const AUTO_RELOAD_MS = 5_000;

export function DeadLetters({ live, name }: { live: LiveState; name: string | null }) {
  const names = (live.frame?.functions ?? []).map((f) => f.name);
  const current = name ?? names.find((n) => (live.frame?.functions.find((f) => f.name === n)?.deadLetterDepth ?? 0) > 0) ?? names[0] ?? null;
  const shown = live.frame?.functions.find((f) => f.name === current);
  const depth = shown?.deadLetterDepth ?? null;
  // What this runtime failed so far: a new dead letter shows even when the depth comes back to the
  // same number between two samples (one purged or replayed, another dead-lettered meanwhile).
  const failed = shown?.failed ?? null;
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  /** the last page read, with the function, search and offset it was read for */
  const [loaded, setLoaded] = useState<{ want: string; page: DeadLetterPage } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'purge' | 'all' | 'matches' | null>(null);
  const [reload, setReload] = useState(0);
  /** bumped by a change of the queue, at most every AUTO_RELOAD_MS */
  const [changed, setChanged] = useState(0);
  /** the queue changed while the page was held still (a letter open, rows ticked) */
  const [stale, setStale] = useState(false);
  const lastRead = useRef(0);
  const held = open !== null || selected.size > 0;
  const seen = useRef(`${depth}|${failed}`);
  /** the queue changed since the page was last read */
  const pending = useRef(false);
  useEffect(() => {
    const now = `${depth}|${failed}`;
    if (now !== seen.current) {
      seen.current = now;
      pending.current = true;
    }
    if (!pending.current) return;
    if (held) return void setStale(true);
    // A small queue is read again at once; a large one at most every AUTO_RELOAD_MS.
    const every = Math.min(AUTO_RELOAD_MS, (depth ?? 0) * 2);
    const wait = lastRead.current + every - Date.now();
    if (wait <= 0) return void setChanged((n) => n + 1);
    const timer = setTimeout(() => setChanged((n) => n + 1), wait);
    return () => clearTimeout(timer);
  }, [depth, failed, held]);

  useEffect(() => {
    setSelected(new Set());
    setOpen(null);
    setOffset(0);
  }, [current, query]);
  useEffect(() => {
    setLoaded(null);
    setError(null);
  }, [current]);

  // Closing a dead letter (Escape, ×, after a replay) puts the keyboard back on its row, or on the
  // first row when it left the queue, instead of dropping the focus to the top of the page.
  const lastOpened = useRef<string | null>(null);
  const close = () => {
    const key = lastOpened.current;
    setOpen(null);
    requestAnimationFrame(() => {
      const rows = [...document.querySelectorAll<HTMLButtonElement>('table.letters button.link')];
      (rows.find((b) => b.dataset.key === key) ?? rows[0] ?? document.querySelector<HTMLElement>('.workbench input[type=search]'))?.focus();
    });
  };

  // Reload when the queue's depth changes (a new dead letter, a replay elsewhere) or the function
  // fails a message (at most every AUTO_RELOAD_MS, see `changed`), or after an action.
  // One request at a time: under a steady stream of dead letters the depth changes every second, and
  // a list slower than that must still land (a change meanwhile asks for one more request after it).
  const want = `${current}\u0000${query}\u0000${offset}`;
  // Figures and actions come only from the page read for what is asked now: a search of a large queue
  // takes a moment, and meanwhile the previous page's rows stay, dimmed, but its counts are not offered
  // as the search's (nor is "Replay matches" with them).
  const page = loaded?.want === want ? loaded.page : null;
  const previous = page ? null : (loaded?.page ?? null);
  // Turning pages keeps the pager where it is: the same search, so the same number of matches.
  const pages = page ?? (loaded?.want.startsWith(`${current}\u0000${query}\u0000`) ? loaded.page : null);
  const wanted = useRef(want);
  const loading = useRef<{ again: boolean } | null>(null);
  wanted.current = want;
  useEffect(() => {
    if (!current) return;
    if (loading.current) {
      loading.current.again = true;
      return;
    }
    const load = () => {
      const key = wanted.current;
      lastRead.current = Date.now();
      pending.current = false;
      setStale(false);
      const [fn, q, from] = key.split('\u0000') as [string, string, string];
      const params = new URLSearchParams({ offset: from, limit: String(PAGE) });
      if (q) params.set('search', q);
      loading.current = { again: false };
      api<DeadLetterPage>('GET', `${fnPath(fn)}/dead-letters?${params}`)
        .then(
          (p) => {
            if (key !== wanted.current) return;
            setLoaded({ want: key, page: p });
            setError(null);
          },
          (err: unknown) => key === wanted.current && setError(err instanceof ApiError ? err.message : String(err)),
        )
        .finally(() => {
          const again = loading.current?.again || key !== wanted.current;
          loading.current = null;
          if (again) load();
        });
    };
    load();
  }, [want, changed, reload]);

  if (!current) return <p class="empty">No functions.</p>;

  async function replay(keys: string[] | null, label: string, search?: string) {
    try {
      const r = await api<ReplayResult>('POST', `${fnPath(current!)}/dead-letters/replay`, keys ? { keys } : search ? { search } : {});
      toast('ok', `${label}: replayed ${plural(r.replayed, 'message')} into ${r.target}`);
    } catch (err) {
      const body = err instanceof ApiError ? (err.body as Partial<ReplayResult> | undefined) : undefined;
      toast('error', err instanceof ApiError ? `${err.message}${body?.replayed ? ` (${body.replayed} replayed)` : ''}` : String(err));
    }
    setSelected(new Set());
    setReload((n) => n + 1);
  }

  async function purge() {
    setConfirm(null);
    try {
      const r = await api<{ purged: number }>('DELETE', `${fnPath(current!)}/dead-letters`);
      toast('ok', `purged ${plural(r.purged, 'dead letter')} of ${current}`);
    } catch (err) {
      toast('error', err instanceof ApiError ? err.message : String(err));
    }
    close();
    setReload((n) => n + 1);
  }

  const letters = (page ?? previous)?.letters ?? [];
  const rowKeys = distinctKeys(letters);
  const allOnPage = letters.length > 0 && letters.every((l) => selected.has(l.key));
  const toggle = (key: string) => {
    const next = new Set(selected);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setSelected(next);
  };

  return (
    <div class="workbench">
      <div class="toolbar">
        <label class="field">
          <span>Function</span>
          <select value={current} onChange={(e) => (location.hash = `#/dead-letters/${encodeURIComponent((e.target as HTMLSelectElement).value)}`)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n} ({count(live.frame?.functions.find((f) => f.name === n)?.deadLetterDepth)})
              </option>
            ))}
          </select>
        </label>
        <form
          class="search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            setQuery(search.trim());
          }}
        >
          <label class="field grow">
            <span>Search error, reason, message id or body</span>
            <input
              type="search"
              value={search}
              placeholder='e.g. timeout, order-42, "userId"'
              onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit">Search</button>
        </form>
      </div>
      <div class="actions" role="toolbar" aria-label="dead-letter actions">
        <button type="button" class="primary" disabled={selected.size === 0} onClick={() => replay([...selected], 'selected')}>
          Replay selected{selected.size ? ` (${selected.size})` : ''}
        </button>
        {query ? (
          <button type="button" disabled={!page || page.matched === 0} onClick={() => setConfirm('matches')}>
            Replay matches{page && page.matched ? ` (${page.matched.toLocaleString('en')})` : ''}
          </button>
        ) : null}
        <button type="button" disabled={!page || page.total === 0} onClick={() => setConfirm('all')}>
          Replay all
        </button>
        <button type="button" class="danger" disabled={!page || page.total === 0} onClick={() => setConfirm('purge')}>
          Purge…
        </button>
        <span class="spacer" />
        {stale ? (
          <button type="button" class="link" onClick={() => setReload((n) => n + 1)}>
            The queue changed: refresh
          </button>
        ) : null}
        <span class="muted" aria-live="polite">
          {page
            ? query
              ? `${plural(page.matched, 'match')} among ${plural(page.scanned, 'dead letter')}`
              : plural(page.total, 'dead letter')
            : error
              ? 'unavailable'
              : query
                ? 'searching…'
                : 'loading…'}
          {page && page.scanned < page.total && query ? ` (searched the oldest ${page.scanned.toLocaleString('en')})` : ''}
        </span>
      </div>
      {error ? (
        <p class="error-box" role="alert">
          Cannot read {current}'s dead letters: {error}
        </p>
      ) : null}
      {!page && error ? null : (
        <div class={`split ${open ? 'with-detail' : ''}`}>
          <div class="table-wrap">
            <table class={`letters ${previous ? 'stale' : ''}`} aria-busy={previous ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th class="check">
                    <input
                      type="checkbox"
                      aria-label="select every dead letter on this page"
                      checked={allOnPage}
                      onChange={() => setSelected(allOnPage ? new Set() : new Set(letters.map((l) => l.key)))}
                    />
                  </th>
                  <th>Message</th>
                  <th>Reason</th>
                  <th>Error</th>
                  <th class="num">Tries</th>
                  <th>When</th>
                </tr>
              </thead>
              <tbody>
                {letters.map((l, i) => (
                  <Row
                    key={rowKeys[i]}
                    letter={l}
                    selected={selected.has(l.key)}
                    open={open === l.key}
                    onToggle={() => toggle(l.key)}
                    onOpen={() => {
                      lastOpened.current = l.key;
                      setOpen(l.key);
                    }}
                  />
                ))}
              </tbody>
            </table>
            {page && letters.length === 0 ? <p class="empty">{query ? 'Nothing matches.' : `${current}'s dead-letter queue is empty.`}</p> : null}
            {pages && pages.matched > PAGE ? (
              <nav class="pager" aria-label="pages">
                <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                  ← Previous
                </button>
                <span>
                  {(offset + 1).toLocaleString('en')}–{Math.min(offset + PAGE, pages.matched).toLocaleString('en')} of {pages.matched.toLocaleString('en')}
                </span>
                <button type="button" disabled={offset + PAGE >= pages.matched} onClick={() => setOffset(offset + PAGE)}>
                  Next →
                </button>
              </nav>
            ) : null}
          </div>
          {open ? (
            <LetterDetail
              fn={current}
              letterKey={open}
              onClose={close}
              onReplayed={() => {
                close();
                setReload((n) => n + 1);
              }}
              onGone={() => setReload((n) => n + 1)}
            />
          ) : null}
        </div>
      )}
      {confirm === 'purge' ? (
        <Confirm
          title={`Purge ${current}'s dead letters?`}
          confirm={`Purge ${page ? plural(page.total, 'message') : ''}`}
          danger
          onConfirm={purge}
          onCancel={() => setConfirm(null)}
        >
          <p>
            Every message in <code>{page?.queue}</code> is deleted for good. Replay first what you want to keep.
          </p>
        </Confirm>
      ) : null}
      {confirm === 'matches' && page ? (
        <Confirm
          title={`Replay ${current}'s dead letters matching “${query}”?`}
          confirm={`Replay ${plural(page.matched, 'match')}`}
          onConfirm={() => {
            setConfirm(null);
            void replay(null, 'matches', query);
          }}
          onCancel={() => setConfirm(null)}
        >
          <p>
            The {plural(page.matched, 'dead letter')} this search shows {page.matched === 1 ? 'goes' : 'go'} back to <code>{current}</code>'s own queue, once
            each; the others stay.
            {page.scanned < page.total
              ? ` The search read the oldest ${page.scanned.toLocaleString('en')}; the replay looks through all ${page.total.toLocaleString('en')}, and may find more.`
              : ''}
          </p>
        </Confirm>
      ) : null}
      {confirm === 'all' ? (
        <Confirm
          title={`Replay all of ${current}'s dead letters?`}
          confirm="Replay all"
          onConfirm={() => {
            setConfirm(null);
            void replay(null, 'all');
          }}
          onCancel={() => setConfirm(null)}
        >
          <p>
            {page ? plural(page.total, 'message') : 'Every message'} {!page || page.total === 1 ? 'goes' : 'go'} back to <code>{current}</code>'s own queue,
            once each. Other functions on the same exchange are not touched.
          </p>
        </Confirm>
      ) : null}
    </div>
  );
}

function Row({ letter, selected, open, onToggle, onOpen }: { letter: DeadLetter; selected: boolean; open: boolean; onToggle(): void; onOpen(): void }) {
  return (
    <tr class={open ? 'open' : ''} onClick={(e) => (e.target as HTMLElement).tagName !== 'INPUT' && onOpen()}>
      <td class="check">
        <input type="checkbox" aria-label={`select ${letter.key}`} checked={selected} onChange={onToggle} />
      </td>
      <td class="mono">
        <button type="button" class="link" onClick={onOpen} aria-label={`open ${letter.key}`} title={letter.key} data-key={letter.key}>
          {letter.key}
        </button>
      </td>
      <td>
        <span class={`badge reason-${letter.reason ?? 'unknown'}`}>{letter.reason ?? 'unknown'}</span>
      </td>
      <td class="err" title={letter.error ?? ''}>
        {letter.error ?? <span class="muted">none recorded</span>}
      </td>
      <td class="num">{letter.attempts ?? '–'}</td>
      <td class="when" title={letter.deadLetteredAt ?? ''}>
        {ago(letter.deadLetteredAt)}
      </td>
    </tr>
  );
}

/**
 * One key per row for Preact: a letter's key, and a count after it for a second letter with the same
 * key (a message dead-lettered twice shares its message id), which a keyed list must never repeat.
 */
function distinctKeys(letters: Array<{ key: string }>): string[] {
  const seen = new Map<string, number>();
  return letters.map(({ key }) => {
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return n === 0 ? key : `${key}#${n}`;
  });
}
