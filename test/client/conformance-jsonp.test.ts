// The JSONP transport's browser half: the client conformance suite, in jsdom pages that load and
// run the server's scripts.

import { jsonp } from '../../transports/jsonp.ts';
import { clientConformance } from './conformance.ts';

clientConformance('jsonp', () => jsonp({ timeoutMs: 2_000 }));
