// Page tokens: what a rendered page hands the push side, signed so it cannot be forged or altered.
// Format: base64url(JSON payload) "." base64url(HMAC-SHA256(secret, first part)).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PushError } from './errors.ts';

/** What a page token says about the page it was rendered for. */
export interface PageClaims {
  /** A random id of this page view; the push side keys its session by it. */
  readonly page: string;
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  /** The viewer's identity as the app resolved it; any JSON value, `null` for anonymous. */
  readonly identity: unknown;
  readonly languages: readonly string[];
  /** The change-log cursor taken at the start of the page request. */
  readonly cursor: string;
  /** Expiry, ms since the epoch. */
  readonly expires: number;
}

interface Wire {
  readonly v: 1;
  readonly n: string;
  readonly p: string;
  readonly q: string;
  readonly i: unknown;
  readonly l: readonly string[];
  readonly c: string;
  readonly e: number;
}

const maxTokenLength = 8_192;

/** Signs and verifies page tokens with one secret. */
export interface Tokens {
  sign(claims: Omit<PageClaims, 'page' | 'expires'>): string;
  /** The claims of a valid token; throws `SERVERPUSH_ERR_BAD_TOKEN` or `SERVERPUSH_ERR_EXPIRED_TOKEN`. */
  verify(token: string): PageClaims;
}

/** Creates a signer/verifier; `ttlMs` is how long a token stays valid after the page rendered. */
export function createTokens(secret: string | Buffer, ttlMs: number, now: () => number = Date.now): Tokens {
  const mac = (data: string) => createHmac('sha256', secret).update(data).digest();

  return {
    sign(claims) {
      const wire: Wire = {
        v: 1,
        n: randomBytes(12).toString('base64url'),
        p: claims.path,
        q: claims.query,
        i: claims.identity,
        l: claims.languages,
        c: claims.cursor,
        e: now() + ttlMs,
      };
      const body = Buffer.from(JSON.stringify(wire)).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },

    verify(token) {
      const dot = token.indexOf('.');
      if (token.length > maxTokenLength || dot < 1) throw badToken('the page token is malformed');
      const body = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), 'base64url');
      const expected = mac(body);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw badToken('the page token signature does not verify');
      }
      let wire: Wire;
      try {
        wire = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Wire;
      } catch {
        throw badToken('the page token is malformed');
      }
      if (wire.v !== 1) throw badToken('the page token has an unknown version');
      if (wire.e <= now()) {
        throw new PushError('SERVERPUSH_ERR_EXPIRED_TOKEN', 'the page token has expired; reload the page');
      }
      return {
        page: wire.n,
        path: wire.p,
        query: wire.q,
        identity: wire.i,
        languages: wire.l,
        cursor: wire.c,
        expires: wire.e,
      };
    },
  };
}

const badToken = (message: string) => new PushError('SERVERPUSH_ERR_BAD_TOKEN', message);
