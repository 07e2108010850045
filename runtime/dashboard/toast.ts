/** Short notes after an action (scaled, replayed, refused: why), read out by screen readers. */
import { useEffect, useState } from 'preact/hooks';

export interface Toast {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

let toasts: Toast[] = [];
let next = 1;
const listeners = new Set<() => void>();

export function toast(kind: Toast['kind'], text: string): void {
  const t = { id: next++, kind, text };
  toasts = [...toasts, t].slice(-4);
  listeners.forEach((l) => l());
  setTimeout(
    () => {
      toasts = toasts.filter((x) => x !== t);
      listeners.forEach((l) => l());
    },
    kind === 'error' ? 9_000 : 4_000,
  );
}

export function useToasts(): Toast[] {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return toasts;
}
