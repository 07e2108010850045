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
    d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      onCancel();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title">
      <h3 id="confirm-title">{title}</h3>
      <div class="confirm-body">{children}</div>
      <div class="confirm-actions">
        <button type="button" onClick={onCancel} autofocus>
          Cancel
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={onConfirm}>
          {confirm}
        </button>
      </div>
    </dialog>
  );
}
