/** One dead letter opened: everything known about it, its whole body (editable), replay. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, fnPath } from '../api';
import { ago, bytes, prettyBody } from '../format';
import type { DeadLetterDetail, ReplayResult } from '../types';
import { toast } from '../toast';

interface Props {
  fn: string;
  letterKey: string;
  onClose(): void;
  onReplayed(): void;
  /** the letter is no longer in the queue (replayed or purged meanwhile): the list behind reads the queue again */
  onGone(): void;
}

export function LetterDetail({ fn, letterKey, onClose, onReplayed, onGone }: Props) {
  const [letter, setLetter] = useState<DeadLetterDetail | null>(null);
  /** dead letters carrying this message id: at-least-once delivery can dead-letter one message twice */
  const [copies, setCopies] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  // The id goes in the query and the body, never in the path: browsers resolve a segment `..` or `.`
  // (a message id like any other) before the request leaves.
  const letters = `${fnPath(fn)}/dead-letters`;
  const path = `${letters}?${new URLSearchParams({ id: letterKey })}`;

  useEffect(() => {
    setLetter(null);
    setError(null);
    // Another letter opened before this one's answer came: that answer is not shown under its name.
    let shown = true;
    api<{ letter?: DeadLetterDetail; copies?: number }>('GET', path).then(
      (r) => {
        if (!shown) return;
        if (!r?.letter) {
          onGone();
          return setError(`no dead letter ${letterKey}: it may have been replayed or purged meanwhile`);
        }
        setLetter(r.letter);
        setCopies(r.copies ?? 1);
        setBody(prettyBody(r.letter.body, r.letter.bodyEncoding));
        heading.current?.focus();
      },
      (err: unknown) => shown && setError(err instanceof ApiError ? err.message : String(err)),
    );
    return () => {
      shown = false;
    };
  }, [path]);

  const original = letter ? prettyBody(letter.body, letter.bodyEncoding) : '';
  const edited = letter !== null && body !== original;
  const isJson = letter !== null && (letter.contentType === null ? looksJson(letter.body) : /json/i.test(letter.contentType));
  const jsonError = edited && isJson ? parseError(body) : null;

  async function replay(withEdit: boolean) {
    setBusy(true);
    try {
      // The text as edited: parsing and printing it again would alter numbers JavaScript cannot hold exactly.
      const payload = withEdit ? { keys: [letterKey], body } : { keys: [letterKey] };
      const r = await api<ReplayResult>('POST', `${letters}/replay`, payload);
      if (r.replayed === 0) {
        onGone();
        throw new Error(`no dead letter ${letterKey} in ${r.queue}: it may have been replayed or purged meanwhile`);
      }
      const what = r.replayed > 1 ? `${r.replayed} dead letters ${letterKey}` : letterKey;
      toast('ok', `replayed ${what}${withEdit ? ' with the edited body' : ''} into ${r.target}`);
      onReplayed();
    } catch (err) {
      toast('error', err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    // Escape closes, but not over an edited body: the edit would be lost with it.
    <aside class="detail" aria-labelledby="detail-title" onKeyDown={(e) => e.key === 'Escape' && !edited && onClose()}>
      <header class="detail-head">
        <h3 id="detail-title" tabIndex={-1} ref={heading} class="mono">
          {letterKey}
        </h3>
        <button type="button" class="icon" aria-label="close" title="Close (Escape)" onClick={onClose}>
          ×
        </button>
      </header>
      {error ? <p class="error-box">{error}</p> : null}
      {!letter && !error ? <p class="muted">Loading…</p> : null}
      {letter ? (
        <>
          {copies > 1 ? (
            <p class="notice" data-testid="letter-copies">
              {copies} dead letters carry this message id (one message dead-lettered more than once, as at-least-once delivery allows, or a producer that reuses
              ids). Shown: the first in the queue. Replay replays all {copies}
              {edited ? ', each with the edited body' : ''}.
            </p>
          ) : null}
          <p class="error-text" data-testid="letter-error">
            {letter.error ?? 'no error recorded'}
          </p>
          <dl class="facts">
            <dt>reason</dt>
            <dd>
              <span class={`badge reason-${letter.reason ?? 'unknown'}`}>{letter.reason ?? 'unknown'}</span>
            </dd>
            <dt>attempts</dt>
            <dd>{letter.attempts ?? '–'}</dd>
            <dt>version</dt>
            <dd class="mono">{letter.version ?? '–'}</dd>
            <dt>dead-lettered</dt>
            <dd>{letter.deadLetteredAt ? `${new Date(letter.deadLetteredAt).toLocaleString()} (${ago(letter.deadLetteredAt)})` : '–'}</dd>
            <dt>original route</dt>
            <dd class="mono">
              {letter.originalExchange === null ? 'unknown' : `${letter.originalExchange || '(default)'} → ${letter.originalRoutingKey ?? ''}`}
            </dd>
            <dt>content type</dt>
            <dd class="mono">{letter.contentType ?? 'none'}</dd>
            <dt>size</dt>
            <dd title={`${letter.bodyBytes.toLocaleString('en')} bytes`}>{bytes(letter.bodyBytes)}</dd>
          </dl>
          {letter.stack ? (
            <details>
              <summary>Stack</summary>
              <pre class="stack">{letter.stack}</pre>
            </details>
          ) : null}
          <details>
            <summary>Headers ({Object.keys(letter.headers).length})</summary>
            <pre class="headers">{JSON.stringify(letter.headers, null, 2)}</pre>
          </details>
          <label class="field">
            <span>
              Body{letter.bodyEncoding === 'base64' ? ' (binary, base64)' : ''}
              {edited ? ' — edited' : ''}
            </span>
            <textarea
              class="body"
              spellcheck={false}
              rows={Math.min(18, Math.max(4, body.split('\n').length + 1))}
              value={body}
              onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)}
              readOnly={letter.bodyEncoding === 'base64'}
            />
          </label>
          {jsonError ? <p class="error-box">Not valid JSON: {jsonError}</p> : null}
          <div class="detail-actions">
            <button type="button" class="primary" disabled={busy || jsonError !== null} onClick={() => replay(edited)}>
              {edited ? 'Replay edited' : 'Replay'}
            </button>
            {edited ? (
              <button type="button" onClick={() => setBody(original)}>
                Undo edits
              </button>
            ) : null}
          </div>
          <p class="muted small">Replay sends it to {fn}'s own queue only; the handler still sees the original exchange and routing key.</p>
        </>
      ) : null}
    </aside>
  );
}

function parseError(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function looksJson(text: string): boolean {
  return parseError(text) === null;
}
