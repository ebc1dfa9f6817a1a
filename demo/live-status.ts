// The demos' connection status, in CSS alone: the client puts its state on
// `<html data-serverpush-state>` and the transport in use on `data-serverpush-transport`; these rules
// show a banner while reconnecting or after updates stopped, the state in the status line, and the
// transport in a corner. No script.

/** The rules, for the page's `<style>`. */
export const liveStatusStyle = `
    .live-banner { display: none; margin: .5rem 0; padding: .4rem .8rem; border-radius: 4px; background: #fff3cd; }
    html[data-serverpush-state="reconnecting"] .live-banner.reconnecting,
    html[data-serverpush-state="stopped"] .live-banner.stopped { display: block; }
    .live-state::after { content: "connecting…"; }
    html[data-serverpush-state="connected"] .live-state::after { content: "live"; }
    html[data-serverpush-state="reconnecting"] .live-state::after { content: "reconnecting…"; }
    html[data-serverpush-state="reloading"] .live-state::after { content: "reloading…"; }
    html[data-serverpush-state="stopped"] .live-state::after { content: "stopped"; }
    html[data-serverpush-transport]::after {
      content: "via " attr(data-serverpush-transport);
      position: fixed; right: .5rem; bottom: .5rem; color: #666; font: 12px system-ui, sans-serif;
    }`;

/** The banners the rules show: one while reconnecting, one once updates stopped for good. */
export const liveBanners = `<p class="live-banner reconnecting" role="status">Reconnecting… changes made meanwhile will show once the connection is back.</p>
  <p class="live-banner stopped" role="alert">Updates stopped. <a href="">Reload the page</a> to see the latest.</p>`;
