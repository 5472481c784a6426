// The admin API over fetch. Every page goes through `api()`, so every action the console takes is an
// admin API request with the API's validation; nothing here talks to the broker any other way.

/** A failed request: the API's error (`code`, `message`, `details`) or UNREACHABLE when there was no answer. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

const listeners = new Set();
let reachable;

/** Calls `listener(reachable, error)` whenever the broker starts or stops answering. */
export function onConnectionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function report(ok, error) {
  if (ok === reachable) return;
  reachable = ok;
  for (const listener of listeners) listener(ok, error);
}

/** `GET path`, or `method` with a JSON `body`; resolves with the JSON answer (null for 204). */
export async function api(path, { method = 'GET', body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      cache: 'no-store',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    const failure = new ApiError(0, 'UNREACHABLE', 'The broker does not answer: it may be stopped or restarting, or the network is down.', {});
    report(false, failure);
    throw failure;
  }
  const text = await response.text();
  let json;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    report(true);
    return json ?? null;
  }
  const error = json?.error;
  const failure = new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? (text || response.statusText), error?.details);
  // A broker shutting down answers, but is going away: say so like an outage.
  report(failure.code !== 'SHUTTING_DOWN', failure);
  return Promise.reject(failure);
}

/** `encodeURIComponent` for each path segment: `path('v1', 'topics', name)`. */
export function path(...segments) {
  return `/${segments.map((segment) => encodeURIComponent(String(segment))).join('/')}`;
}
