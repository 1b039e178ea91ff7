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
      d.textContent = m.kind === 'call' ? '📞 call' : m.body;
      return d;
    }));
  }
  if (thread) setInterval(refresh, 3000);  // no thread while the number typed is not one
});
