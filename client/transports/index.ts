// The client transports by name: the same names as the server's transports and URL segments.
// `connect()` takes the first name in `options.transports` that is registered here and
// `supported()` by the page's globals. The contract they fulfil is in ./contract.ts.

import type { ClientGlobals } from '../globals.ts';
import type { ClientTransport } from './contract.ts';
import { jsonp } from './jsonp.ts';
import { longPoll } from './long-poll.ts';
import { sse } from './sse.ts';
import { websocket } from './websocket.ts';

export type { ClientTransport, Reach, TransportSession } from './contract.ts';

/** Every client transport, by name. */
export const transports: Readonly<Record<string, ClientTransport>> = {
  [longPoll.name]: longPoll,
  [sse.name]: sse,
  [websocket.name]: websocket,
  [jsonp.name]: jsonp,
};

/** The registered and supported transports among `names`, in that order; unknown names are skipped. */
export function usableTransports(names: readonly string[], globals: ClientGlobals): ClientTransport[] {
  return names.flatMap((name) => {
    const transport = Object.hasOwn(transports, name) ? transports[name] : undefined;
    return transport?.supported(globals) === true ? [transport] : [];
  });
}
