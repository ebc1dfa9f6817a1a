// The long-poll transport's browser half: the client conformance suite, over Node's fetch.

import { longPoll } from '../../transports/long-poll.ts';
import { clientConformance } from './conformance.ts';

clientConformance('long-poll', () => longPoll({ timeoutMs: 2_000 }));
