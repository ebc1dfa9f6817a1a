// The operator's view as HTML: tables of what ./operator.ts gathered, every value escaped. One
// function of the state; no template engine, no script.

import type { PageInfo, PushSnapshot } from '../../core/observe.ts';
import type { RefreshReason } from '../../core/types.ts';

/** A refresh the view remembers. */
export interface RecentRefresh {
  readonly at: number;
  readonly reason: RefreshReason;
  readonly page: PageInfo | undefined;
}

/** An error the view remembers: an internal one, a refused request, or a serializer that threw. */
export interface RecentError {
  readonly at: number;
  readonly kind: 'internal' | 'rejected' | 'serializer';
  /** Where it happened, the error code, or the spec's name. */
  readonly what: string;
  readonly message: string;
}

/** A change the view remembers, with how many pages it concerned. */
export interface RecentChange {
  readonly at: number;
  readonly model: string;
  readonly id: string;
  readonly op: string;
  readonly pages: number;
  readonly specs: number;
}

/** What the view shows, gathered since it was mounted and read now. */
export interface OperatorState {
  readonly snapshot: PushSnapshot;
  readonly transports: readonly string[];
  readonly since: number;
  readonly counts: Readonly<Record<'changes' | 'deliveries' | 'refreshes' | 'rejected' | 'errors', number>>;
  readonly refreshes: readonly RecentRefresh[];
  readonly errors: readonly RecentError[];
  readonly changes: readonly RecentChange[];
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The page of the operator's view for `state`, read at `now` (ms since the epoch). */
export function renderOperatorPage(state: OperatorState, now: number): string {
  const { snapshot, counts } = state;
  const { log } = snapshot;
  const ago = (at: number) => `${Math.max(0, Math.round((now - at) / 1_000))} s ago`;
  const table = (head: readonly string[], rows: ReadonlyArray<readonly unknown[]>, empty: string, id: string) =>
    rows.length === 0
      ? `<p class="empty" id="${id}">${escapeHtml(empty)}</p>`
      : `<table id="${id}"><thead><tr>${head.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')}</tr></thead><tbody>${rows
          .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`;
  const offered = new Set(state.transports);
  const transports = (Object.entries(snapshot.connections) as Array<[string, number]>).filter(
    ([name, count]) => offered.has(name) || count > 0,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>serverpush: process ${escapeHtml(process.pid)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
.empty { color: #777; }
</style>
</head>
<body>
<h1>serverpush: this process</h1>
<p>Process ${escapeHtml(process.pid)}, watched for ${escapeHtml(Math.round((now - state.since) / 1_000))} s: ${escapeHtml(counts.changes)} changes routed, ${escapeHtml(counts.deliveries)} messages written, ${escapeHtml(counts.refreshes)} refreshes, ${escapeHtml(counts.rejected)} requests refused, ${escapeHtml(counts.errors)} errors. Other push processes have views of their own. Reload to update.</p>
<h2>Routes</h2>
<p>${escapeHtml(snapshot.pages)} pages, ${escapeHtml(snapshot.subscriptions)} subscriptions.</p>
${table(
  ['route', 'pages', 'held by a connection'],
  snapshot.routes.map((route) => [route.route ?? '(no named route)', route.pages, route.held]),
  'No page is open on this process.',
  'routes',
)}
<h2>Transports</h2>
${table(
  ['transport', 'connections'],
  transports.map(([name, count]) => [name, count]),
  'No transport is offered.',
  'transports',
)}
<h2>Change log</h2>
${table(
  ['head', 'routed here', 'lag (changes)'],
  [[log.head ?? 'did not answer within 1 s', log.routed ?? 'nothing yet', log.lag ?? 'unknown']],
  '',
  'log',
)}
<h2>Recent refreshes</h2>
${table(
  ['when', 'reason', 'route', 'path'],
  state.refreshes.map((refresh) => [
    ago(refresh.at),
    refresh.reason,
    refresh.page?.route ?? '',
    refresh.page?.path ?? '(before its page opened)',
  ]),
  'No page was told to refresh.',
  'refreshes',
)}
<h2>Recent errors</h2>
${table(
  ['when', 'kind', 'what', 'message'],
  state.errors.map((error) => [ago(error.at), error.kind, error.what, error.message]),
  'No errors.',
  'errors',
)}
<h2>Recent changes</h2>
${table(
  ['when', 'model', 'id', 'op', 'pages', 'specs'],
  state.changes.map((change) => [ago(change.at), change.model, change.id, change.op, change.pages, change.specs]),
  'No change was routed.',
  'changes',
)}
</body>
</html>`;
}
