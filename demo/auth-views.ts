// The auth demo's HTML: the login form, the to-dos page, and one to-do item, the fragment that the
// page render and the push side's per-viewer re-render both produce. The page's lists are live by
// their attributes alone (`data-serverpush-list`, keyed by each item's `data-serverpush-id`), its
// connection status is CSS (./live-status.ts), and so is who else is viewing it (the presence list,
// `data-serverpush-presence`); its script only sends the controls' requests.

import { liveBanners, liveStatusStyle } from './live-status.ts';

/** A user as the views show them. */
export interface UserView {
  readonly id: number;
  readonly username: string;
  readonly teamId: number;
}

/** A to-do as the views show it. */
export interface TodoView {
  readonly id: number;
  readonly ownerId: number;
  readonly teamId: number;
  readonly title: string;
  readonly done: boolean;
  readonly shared: boolean;
}

const style = `
    body { font: 17px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
    ul { list-style: none; padding: 0; }
    li.todo { padding: .4rem 0; border-bottom: 1px solid #ddd; }
    li.todo[data-done="1"] .title { text-decoration: line-through; color: #777; }
    .owner, .status { color: #666; font-size: 14px; }
    .badge { font-size: 12px; background: #e8f0fe; border-radius: 4px; padding: 0 .3rem; }
    .error { color: #b00020; }
    .viewers ul { display: inline; padding: 0; }
    .viewers li { display: inline; }
    .viewers li:not([data-serverpush-self]) ~ li:not([data-serverpush-self])::before { content: ", "; }
    .viewers li[data-serverpush-self] { display: none; }
    form.inline { display: inline; }${liveStatusStyle}`;

/** Escapes text for HTML content and double-quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The login form, with an error message after a failed attempt. */
export function loginPage(message?: string, username = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>serverpush auth demo: log in</title>
  <style>${style}</style>
</head>
<body>
  <h1>Log in</h1>
  ${message === undefined ? '' : `<p class="error" id="login-error" role="alert">${escapeHtml(message)}</p>`}
  <form method="post" action="/login">
    <p><label>Username <input name="username" id="username" autocomplete="username" value="${escapeHtml(username)}" required></label></p>
    <p><label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
    <p><button id="login" type="submit">Log in</button></p>
  </form>
  <p class="status">Seeded users: alice and bob (team 1), carol (team 2); the password is <code>demo</code>.
    Log in as different users in different browsers (or a private window) to see who receives what.
    · <a href="/">counter demo</a></p>
</body>
</html>`;
}

/**
 * One to-do as `viewer` sees it: the owner gets "(yours)" and the controls (rename, done, share,
 * give to a teammate, delete); anyone else on the team gets the title, its owner and its state.
 */
export function todoItem(todo: TodoView, viewer: UserView, team: readonly UserView[]): string {
  const owner = team.find((user) => user.id === todo.ownerId);
  const mine = todo.ownerId === viewer.id;
  const others = team.filter((user) => user.id !== todo.ownerId);
  const controls = mine
    ? ` <input class="title-input" value="${escapeHtml(todo.title)}" maxlength="200" aria-label="New title">` +
      ' <button type="button" data-action="rename">Rename</button>' +
      ` <button type="button" data-action="share">${todo.shared ? 'Unshare' : 'Share with team'}</button>` +
      (others.length === 0
        ? ''
        : ` <select class="owner-select" aria-label="Give to">${others.map((user) => `<option value="${user.id}">${escapeHtml(user.username)}</option>`).join('')}</select>` +
          ' <button type="button" data-action="reassign">Give</button>') +
      ' <button type="button" data-action="delete">Delete</button>'
    : '';
  return (
    `<li class="todo" data-serverpush-id="${todo.id}" data-done="${todo.done ? 1 : 0}" data-shared="${todo.shared ? 1 : 0}">` +
    `<label><input type="checkbox" class="done"${todo.done ? ' checked' : ''}${mine ? '' : ' disabled'}> <span class="title">${escapeHtml(todo.title)}</span></label>` +
    ` <span class="owner">${escapeHtml(owner?.username ?? 'someone')}${mine ? ' (yours)' : ''}</span>` +
    `${todo.shared ? ' <span class="badge">shared</span>' : ''}${controls}</li>`
  );
}

/** The to-dos page: the viewer's own list, the team's shared list, and the page's push tag. */
export function todosPage(viewer: UserView, mine: readonly string[], shared: readonly string[], tag: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>serverpush auth demo: ${escapeHtml(viewer.username)}'s to-dos</title>
  <style>${style}</style>
</head>
<body>
  <p class="status">Signed in as <strong id="me">${escapeHtml(viewer.username)}</strong> (team ${viewer.teamId})
    · <form class="inline" method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>
    · <a href="/">counter demo</a></p>
  <h1>My to-dos</h1>
  <form id="add-form"><input id="new-title" maxlength="200" required placeholder="Something to do" aria-label="New to-do">
    <button id="add" type="submit">Add</button></form>
  <p class="error" id="problem" role="alert"></p>
  ${liveBanners}
  <ul id="my-todos" data-serverpush-list="my-todo" data-serverpush-html data-serverpush-morph>${mine.join('')}</ul>
  <h2>Shared in team ${viewer.teamId}</h2>
  <div class="status viewers">Also viewing this list (<span id="others-count" data-serverpush-presence-others>0</span>):
    <ul id="viewers" data-serverpush-presence data-serverpush-field="name"></ul></div>
  <ul id="team-todos" data-serverpush-list="team-todo" data-serverpush-html>${shared.join('')}</ul>
  <p class="status">Each item is rendered for whoever views it: open this page as bob in another
    browser and share an item. Updates: <span class="live-state"></span></p>
  <script>${pageScript}</script>
  ${tag}
</body>
</html>`;
}

// Plain DOM, no build step: the controls post JSON, which a cross-site form cannot. Nothing here
// touches the lists: the client applies each change to them by itself.
const pageScript = `
    (function () {
      function send(url, body) {
        document.getElementById('problem').textContent = '';
        return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
          .then(function (response) {
            if (response.status === 401) return location.reload();
            if (!response.ok) return response.json().then(function (answer) { throw new Error(answer.error.message); });
          })
          .catch(function (error) { document.getElementById('problem').textContent = error.message; });
      }
      document.getElementById('add-form').addEventListener('submit', function (event) {
        event.preventDefault();
        var input = document.getElementById('new-title');
        send('/todos', { title: input.value });
        input.value = '';
      });
      document.addEventListener('change', function (event) {
        var item = event.target.closest('li.todo');
        if (item && event.target.classList.contains('done')) send('/todos/' + item.dataset.serverpushId, { done: event.target.checked });
      });
      document.addEventListener('click', function (event) {
        var button = event.target.closest('button[data-action]');
        var item = button && button.closest('li.todo');
        if (!item) return;
        var url = '/todos/' + item.dataset.serverpushId;
        var action = button.dataset.action;
        if (action === 'rename') send(url, { title: item.querySelector('.title-input').value });
        if (action === 'share') send(url, { shared: item.dataset.shared !== '1' });
        if (action === 'reassign') send(url, { ownerId: Number(item.querySelector('.owner-select').value) });
        if (action === 'delete') send(url + '/delete', {});
      });
    })();`;
