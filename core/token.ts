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
  /** A MAC of the value the token is bound to (the app's session cookie), when bound. */
  readonly binding: string | undefined;
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
  readonly b?: string;
}

const maxTokenLength = 8_192;
/** Verified tokens remembered, so a stream's every batch does not verify its token again. */
const verifiedMax = 10_000;
/** Longer tokens (a large identity) are verified each time rather than remembered. */
const rememberedTokenLength = 1_024;

/** Signs and verifies page tokens with one secret. */
export interface Tokens {
  /** Signs the claims; `bindTo` binds the token to a value the later requests must present. */
  sign(claims: Omit<PageClaims, 'page' | 'expires' | 'binding'>, bindTo?: string): string;
  /**
   * The claims of a valid token, and whether it has expired; throws `SERVERPUSH_ERR_BAD_TOKEN`
   * when it is forged, altered, malformed, or bound to another value than `presented`.
   */
  verify(token: string, presented?: string): { claims: PageClaims; expired: boolean };
}

/** Creates a signer/verifier; `ttlMs` is how long a token stays valid after the page rendered. */
export function createTokens(secret: string | Buffer, ttlMs: number, now: () => number = Date.now): Tokens {
  const mac = (data: string) => createHmac('sha256', secret).update(data).digest();
  // A separate domain for bindings, so a binding MAC can never pass for a token signature.
  const bindingOf = (value: string) => mac(`binding\u0000${value}`).subarray(0, 16).toString('base64url');
  const verified = new Map<string, PageClaims>();

  /** Checks the signature and shape of a token and its binding; throws `SERVERPUSH_ERR_BAD_TOKEN`. */
  function verifyFully(token: string, presented: string | undefined): PageClaims {
    const dot = token.indexOf('.');
    if (token.length > maxTokenLength || dot < 1) throw badToken('the page token is malformed');
    // The signature is compared as written, not decoded: Buffer.from(x, 'base64url') skips
    // characters outside the alphabet, padding and a last character's unused low bits, so `sig=`,
    // `sig!!` and others would verify the same MAC. The MAC covers the body as written, so the body
    // has one spelling too, and a token verifies in exactly one spelling: equal tokens are equal strings.
    const body = token.slice(0, dot);
    if (!sameMac(token.slice(dot + 1), mac(body).toString('base64url')))
      throw badToken('the page token signature does not verify');
    let wire: Wire;
    try {
      wire = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Wire;
    } catch {
      throw badToken('the page token is malformed');
    }
    if (wire.v !== 1) throw badToken('the page token has an unknown version');
    if (wire.b !== undefined && (presented === undefined || !sameMac(bindingOf(presented), wire.b))) {
      throw badToken('the page token belongs to another session');
    }
    const claims: PageClaims = {
      page: wire.n,
      path: wire.p,
      query: wire.q,
      identity: wire.i,
      languages: wire.l,
      cursor: wire.c,
      expires: wire.e,
      binding: wire.b,
    };
    return claims;
  }

  return {
    sign(claims, bindTo) {
      const wire: Wire = {
        v: 1,
        n: randomBytes(12).toString('base64url'),
        p: claims.path,
        q: claims.query,
        i: claims.identity,
        l: claims.languages,
        c: claims.cursor,
        e: now() + ttlMs,
        ...(bindTo === undefined ? {} : { b: bindingOf(bindTo) }),
      };
      const body = Buffer.from(JSON.stringify(wire)).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },

    verify(token, presented) {
      // Only successes are remembered, keyed by the token and the value presented with it; expiry
      // is checked on every call.
      const key =
        token.length > rememberedTokenLength
          ? undefined
          : presented === undefined
            ? token
            : `${token}\u0000${presented}`;
      const known = key === undefined ? undefined : verified.get(key);
      if (known !== undefined) return { claims: known, expired: known.expires <= now() };
      const claims = verifyFully(token, presented);
      if (key !== undefined) {
        // The oldest goes first: clearing all at once would have every page verify anew at once.
        if (verified.size >= verifiedMax) verified.delete(verified.keys().next().value!);
        verified.set(key, claims);
      }
      return { claims, expired: claims.expires <= now() };
    },
  };
}

const badToken = (message: string) => new PushError('SERVERPUSH_ERR_BAD_TOKEN', message);

/** Whether `given` is the string `expected`, in time that does not depend on where they differ. */
function sameMac(given: string, expected: string): boolean {
  // Compared as bytes of equal length: a multi-byte character makes `given` longer than it looks.
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
