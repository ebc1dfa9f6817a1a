// The SSE transport's browser half: the client conformance suite, over the eventsource package's
// EventSource. The server's `retry:` is short, so the EventSource's own reconnects are quick.

import { sse } from '../../transports/sse.ts';
import { clientConformance } from './conformance.ts';

clientConformance('sse', () => sse({ heartbeatMs: 1_000, retryMs: 50 }));
