/** The admin API as the page calls it: same origin, the session cookie, and the header that marks a request as the dashboard's. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string | undefined,
    readonly body: unknown,
  ) {
    super(message);
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();

/** Called when any request answers 401: the page shows the sign-in form. */
export function onSignedOut(listener: Listener): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'x-warren-request': 'dashboard', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    // The browser's own words ("TypeError: Failed to fetch") say nothing to an operator.
    throw new ApiError(0, 'the runtime does not answer (stopped, restarting, or the network is down)', 'try again once the page says it answers', undefined);
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (res.status === 401) for (const l of signedOutListeners) l();
  if (!res.ok) {
    const b = (parsed ?? {}) as { error?: string; hint?: string };
    throw new ApiError(res.status, b.error ?? `${method} ${path}: ${res.status}`, b.hint, parsed);
  }
  return parsed as T;
}

export const fnPath = (name: string) => `/functions/${encodeURIComponent(name)}`;
