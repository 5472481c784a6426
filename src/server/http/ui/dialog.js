// Confirmations and small forms in a modal <dialog>: the browser traps focus inside it and closes it
// with Escape; focus returns to what opened it. The action runs inside the dialog, so a refusal from
// the API (a validation error, a conflict) is shown there and the dialog stays open.

import { h } from './dom.js';

let dialogCount = 0;

/**
 * Opens a dialog and resolves `{ confirmed, result }` once it closes.
 * - `body`: nodes shown above the buttons (may hold form fields; the browser validates them first).
 * - `requireText`: the confirm button stays disabled until this exact text is typed.
 * - `onConfirm`: async action; its result is returned; if it throws, the error is shown and the dialog stays.
 */
export function openDialog({ title, body, confirmLabel, danger = false, requireText, onConfirm }) {
  const opener = document.activeElement;
  const id = `dialog-${++dialogCount}`;
  return new Promise((resolve) => {
    const error = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
    const confirm = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, confirmLabel);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    let typed;
    if (requireText !== undefined) {
      typed = h('input', { type: 'text', id: `${id}-typed`, autocomplete: 'off', spellcheck: 'false', required: true });
      confirm.disabled = true;
      typed.addEventListener('input', () => (confirm.disabled = typed.value !== requireText));
    }
    const form = h(
      'form',
      { method: 'dialog', novalidate: false },
      h('h2', { id: `${id}-title` }, title),
      h('div', { class: 'dialog-body' }, body),
      typed ? h('p', { class: 'field' }, h('label', { for: typed.id }, 'Type ', h('code', {}, requireText), ' to confirm'), typed) : null,
      error,
      h('div', { class: 'dialog-actions' }, cancel, confirm),
    );
    const dialog = h('dialog', { 'aria-labelledby': `${id}-title` }, form);
    let result;
    let done = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (confirm.disabled) return;
      confirm.disabled = true;
      cancel.disabled = true;
      confirm.textContent = 'Working…';
      error.hidden = true;
      void (async () => {
        try {
          result = onConfirm ? await onConfirm() : undefined;
          done = true;
          dialog.close();
        } catch (failure) {
          error.textContent = failure?.code ? `${failure.code}: ${failure.message}` : String(failure?.message ?? failure);
          error.hidden = false;
          confirm.disabled = false;
          cancel.disabled = false;
          confirm.textContent = confirmLabel;
        }
      })();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('cancel', (event) => {
      // Escape while the action runs would hide its outcome: wait for it.
      if (cancel.disabled) event.preventDefault();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(done ? { confirmed: true, result } : { confirmed: false });
    });
    document.body.append(dialog);
    dialog.showModal();
    const firstField = form.querySelector('.dialog-body input, .dialog-body select, .dialog-body textarea');
    (typed ?? firstField ?? (danger ? cancel : confirm)).focus();
  });
}
