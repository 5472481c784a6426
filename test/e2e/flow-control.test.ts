import http2 from 'node:http2';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestBroker, startTestBroker, waitUntil } from '../helpers/broker.js';

const MiB = 1024 * 1024;

/** Opens a bare HTTP/2 connection to the broker's gRPC port and returns it once the broker's SETTINGS arrived. */
async function connectRaw(address: string): Promise<{ session: http2.ClientHttp2Session; settings: http2.Settings }> {
  const session = http2.connect(`http://${address}`);
  const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
  return { session, settings };
}

describe('HTTP/2 flow-control window of the gRPC server', () => {
  let env: TestBroker | undefined;
  let session: http2.ClientHttp2Session | undefined;
  afterEach(async () => {
    session?.destroy();
    await env?.stop();
  });

  it('lets a client send flowControlWindowBytes per stream and per connection before the broker reads', async () => {
    env = await startTestBroker({ settings: { flowControlWindowBytes: 3 * MiB } });
    const raw = await connectRaw(env.address);
    session = raw.session;
    expect(raw.settings.initialWindowSize).toBe(3 * MiB);
    // The connection window is raised by a WINDOW_UPDATE sent with the session's first frames.
    await waitUntil(() => (session!.state.remoteWindowSize ?? 0) >= 3 * MiB, 5_000, 'the connection window to reach 3 MiB');
  });

  it('keeps HTTP/2 default window when told to', async () => {
    env = await startTestBroker({ settings: { flowControlWindowBytes: 65_535 } });
    const raw = await connectRaw(env.address);
    session = raw.session;
    expect(raw.settings.initialWindowSize).toBe(65_535);
    expect(session.state.remoteWindowSize).toBe(65_535);
  });
});
