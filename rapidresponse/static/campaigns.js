// A campaign's page: its counts refresh every few seconds while it runs (the chart with the page).
// An extra: without it the page shows the counts as they were, with a refresh link.
(function () {
  'use strict';
  const figures = document.getElementById('figures');
  if (!figures || figures.dataset.ended === 'true') return;
  const set = (id, value) => {
    const cell = document.getElementById(id);
    if (cell) cell.textContent = String(value);
  };
  const tick = () => {
    fetch(figures.dataset.url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((r) => r.json())
      .then((f) => {
        for (const key of ['asks_sent', 'asks_waiting', 'joined', 'calls_bridged', 'minutes', 'calls_busy',
          'on_the_line']) set(`f-${key}`, f[key]);
        for (const [outcome, n] of Object.entries(f.done)) set(`f-done-${outcome}`, n);
        set('c-status', f.status);
        if (f.status !== 'ended') setTimeout(tick, 5000);
      })
      .catch(() => setTimeout(tick, 15000));
  };
  setTimeout(tick, 5000);
})();
