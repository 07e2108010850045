/** A modal confirmation (<dialog>: focus kept inside, Escape cancels). */
import { useEffect, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';

interface Props {
  title: string;
  children: ComponentChildren;
  confirm: string;
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

export function Confirm({ title, children, confirm, danger, onConfirm, onCancel }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    // The dialog leaves the page when it is answered: the keyboard goes back to the button that opened it.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    d.showModal();
    // Cancel first: Enter right away must not delete anything. (Focused here rather than with the
    // autofocus attribute, which Chrome reports as blocked when the page already has a focus.)
    d.querySelector<HTMLButtonElement>('button')?.focus();
    const cancel = (e: Event) => {
      e.preventDefault();
      onCancel();
    };
    d.addEventListener('cancel', cancel);
    return () => {
      d.removeEventListener('cancel', cancel);
      requestAnimationFrame(() => opener?.isConnected && !opener.matches(':disabled') && opener.focus());
    };
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title">
      <h3 id="confirm-title">{title}</h3>
      <div class="confirm-body">{children}</div>
      <div class="confirm-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={onConfirm}>
          {confirm}
        </button>
      </div>
    </dialog>
  );
}
