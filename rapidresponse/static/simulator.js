// Alerts and relays arrive later from the worker: look for them every few seconds.
// (A file, not an inline script, so the Content-Security-Policy can forbid inline scripts.)
document.addEventListener('DOMContentLoaded', () => {
  const thread = document.getElementById('thread');
  async function refresh() {
    const r = await fetch(thread.dataset.messages + '?phone=' + encodeURIComponent(thread.dataset.phone));
    if (!r.ok) return;
    const items = await r.json();
    thread.replaceChildren(...items.map((m) => {
      const d = document.createElement('div');
      d.className = 'msg ' + m.direction + ' ' + m.kind;
      d.textContent = m.kind === 'call' ? '☎ call' : m.body;
      return d;
    }));
  }
  if (thread) setInterval(refresh, 3000);  // no thread while the number typed is not one
});

// A call rings, or moves on, in the worker's time: look every two seconds and reload the page when
// the calls changed (unless something is being typed into the call). Without JS, reload by hand.
document.addEventListener('DOMContentLoaded', () => {
  const section = document.getElementById('call');
  if (!section) return;
  async function look() {
    const active = document.activeElement;
    if (active && (active.tagName === 'TEXTAREA' || active.tagName === 'INPUT') && active.value) return;
    const r = await fetch(section.dataset.calls + '?phone=' + encodeURIComponent(section.dataset.phone));
    if (!r.ok) return;
    const seen = (await r.json()).map((c) => c.sid + ':' + c.state + ':' + c.heard + ';').join('');
    if (seen !== section.dataset.seen) window.location.reload();
  }
  setInterval(look, 2000);
});
