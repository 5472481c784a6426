// Polling with a floor on its rate: one request in flight at a time, the next one `intervalMs` after the
// last answer (never less than POLL_MS_MIN), and none while the tab is hidden. This is what bounds the
// load a console puts on the broker: a few small GETs every few seconds per open tab.

export const POLL_MS_MIN = 2000;

const active = new Set();

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) for (const poller of active) poller.now();
});

/** Runs `task` now and then every `intervalMs` until `stop()`; `now()` runs it at once (e.g. after an action). */
export function poll(task, intervalMs = POLL_MS_MIN) {
  const everyMs = Math.max(POLL_MS_MIN, intervalMs);
  let timer;
  let running = false;
  let again = false;
  let stopped = false;
  const poller = {
    async now() {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      clearTimeout(timer);
      if (document.hidden) {
        timer = setTimeout(() => void poller.now(), everyMs);
        return;
      }
      running = true;
      try {
        await task();
      } catch {
        // The task shows its own failures; polling goes on.
      } finally {
        running = false;
        if (!stopped) {
          if (again) {
            again = false;
            void poller.now();
          } else timer = setTimeout(() => void poller.now(), everyMs);
        }
      }
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      active.delete(poller);
    },
  };
  active.add(poller);
  void poller.now();
  return poller;
}
