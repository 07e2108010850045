/**
 * The live stream (`/events`, server-sent events) kept as chart columns per function: the history the
 * server sends on connect, then one frame a second. Components subscribe and re-render on each frame.
 */
import { useEffect, useState } from 'preact/hooks';
import { SERIES, type History, type LiveFrame, type SeriesName } from './types';

const KEEP = 300;

export type Connection = 'connecting' | 'live' | 'lost' | 'signed-out';

export interface LiveState {
  connection: Connection;
  frame: LiveFrame | null;
  /** seconds since the epoch, shared by every function's columns */
  t: number[];
  columns: Map<string, Record<SeriesName, Array<number | null>>>;
  /** bumps on every frame */
  version: number;
  /** when the stream broke (ms since the epoch), null while it flows: the figures shown are from then */
  lostSince: number | null;
}

const state: LiveState = { connection: 'connecting', frame: null, t: [], columns: new Map(), version: 0, lostSince: null };
const listeners = new Set<() => void>();
let source: EventSource | null = null;

function emit(): void {
  state.version++;
  for (const l of listeners) l();
}

function emptyColumns(length: number): Record<SeriesName, Array<number | null>> {
  const c = {} as Record<SeriesName, Array<number | null>>;
  for (const s of SERIES) c[s] = new Array<number | null>(length).fill(null);
  return c;
}

function onHistory(h: History): void {
  state.t = h.t.map((ms) => ms / 1000);
  state.columns = new Map();
  for (const [name, cols] of Object.entries(h.functions)) state.columns.set(name, { ...cols });
  emit();
}

function onFrame(frame: LiveFrame): void {
  state.frame = frame;
  state.connection = 'live';
  state.lostSince = null;
  state.t.push(frame.t / 1000);
  const seen = new Set<string>();
  for (const fn of frame.functions) {
    seen.add(fn.name);
    let cols = state.columns.get(fn.name);
    if (!cols) {
      cols = emptyColumns(state.t.length - 1);
      state.columns.set(fn.name, cols);
    }
    for (const s of SERIES) cols[s].push(fn[s]);
  }
  for (const [name, cols] of state.columns) if (!seen.has(name)) for (const s of SERIES) cols[s].push(null);
  if (state.t.length > KEEP) {
    const drop = state.t.length - KEEP;
    state.t.splice(0, drop);
    for (const cols of state.columns.values()) for (const s of SERIES) cols[s].splice(0, drop);
  }
  emit();
}

/** Opens the stream (again); an answer of 401 shows the sign-in form. */
export function connectLive(onUnauthorized: () => void): void {
  source?.close();
  state.connection = 'connecting';
  emit();
  const es = new EventSource('/events');
  source = es;
  es.addEventListener('history', (e) => onHistory(JSON.parse((e as MessageEvent<string>).data) as History));
  es.addEventListener('frame', (e) => onFrame(JSON.parse((e as MessageEvent<string>).data) as LiveFrame));
  es.onerror = () => {
    if (source !== es) return;
    state.connection = 'lost';
    state.lostSince ??= Date.now();
    emit();
    // EventSource retries by itself unless the server refused (a 401 closes it for good).
    if (es.readyState === EventSource.CLOSED) {
      void fetchSession().then(
        (session) => {
          if (!session.signedIn) {
            state.connection = 'signed-out';
            emit();
            onUnauthorized();
          } else setTimeout(() => connectLive(onUnauthorized), 2_000);
        },
        () => setTimeout(() => connectLive(onUnauthorized), 2_000),
      );
    }
  };
}

export interface Session {
  signedIn: boolean;
  tokenRequired: boolean;
  /** why a browser is refused without a token to give (a host name that is not loopback) */
  why?: string;
  hint?: string;
}

/** GET /session: answered 200 whether signed in or not, so asking leaves no error in the console. */
export async function fetchSession(): Promise<Session> {
  const res = await fetch('/session', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`GET /session: ${res.status}`);
  return (await res.json()) as Session;
}

export function disconnectLive(): void {
  source?.close();
  source = null;
}

export function useLive(): LiveState {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const l = () => setVersion(state.version);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}
