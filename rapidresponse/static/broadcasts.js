// Broadcast pages: live counters on the form, one press of Send, the progress bar's refresh.
// Everything here is an extra: without it the form posts, the confirmation page counts, and the
// progress page has a refresh link.
(function () {
  'use strict';
  const S = window.RRSegments;

  // --- the form: recipients, characters, encoding, segments, total -----------------------------
  const compose = document.getElementById('compose');
  if (compose && S) {
    const output = document.getElementById('audience-count');
    const total = document.getElementById('total-segments');
    const rate = parseFloat(compose.dataset.rate || '0');
    const drill = compose.querySelector('input[name="drill"]');
    const fields = Array.from(compose.querySelectorAll('textarea.message'));
    let byLanguage = JSON.parse(output.dataset.byLanguage || '{}');
    const english = () => fields.find((f) => f.dataset.language === 'en');

    const asSent = (field) => {
      const own = field.value.replace(/\r\n?/g, '\n').trim();
      const body = own || english().value.replace(/\r\n?/g, '\n').trim();
      return { own, body: drill && drill.checked ? field.dataset.drill.replace('{text}', body) : body };
    };

    const plural = (n, word) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

    const estimate = (segments) => {
      if (!(rate > 0)) return '';
      const seconds = segments / rate;
      const per = `${rate} segment${rate === 1 ? '' : 's'}/s`;
      if (seconds < 60) return ` · about ${Math.max(1, Math.ceil(seconds))} s at ${per}`;
      if (seconds < 3600) return ` · about ${Math.ceil(seconds / 60)} min at ${per}`;
      return ` · about ${(seconds / 3600).toFixed(1)} h at ${per}`;
    };

    const recount = () => {
      let sum = 0;
      for (const field of fields) {
        const { own, body } = asSent(field);
        const lang = field.dataset.language;
        const segments = S.segments(body);
        const meter = document.getElementById(`meter-${lang}`);
        const fallback = !own && lang !== 'en' ? 'empty: gets the English text · ' : '';
        meter.textContent = `${fallback}${plural(S.length(body), 'character')} · ${S.encoding(body)} · ` +
          `${plural(segments, 'segment')}` + (drill && drill.checked ? ' (with the drill marker)' : '');
        sum += segments * (byLanguage[lang] || 0);
      }
      total.textContent = `Total: ${plural(sum, 'segment')} to send${estimate(sum)}`;
    };

    let pending = null;
    let asked = 0;
    const audience = () => {
      const params = new URLSearchParams();
      for (const name of ['places', 'zones', 'languages']) {
        for (const box of compose.querySelectorAll(`input[name="${name}"]:checked`)) params.append(name, box.value);
      }
      const mine = ++asked;
      output.textContent = 'counting…';
      fetch(`${compose.dataset.audienceUrl}?${params}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then((r) => r.json())
        .then((data) => {
          if (mine !== asked) return;  // an older answer arriving late
          if (data.error) { output.textContent = data.error; return; }
          byLanguage = data.by_language;
          output.textContent = data.summary;
          recount();
        })
        .catch(() => { if (mine === asked) output.textContent = 'could not count (the preview will)'; });
    };

    compose.addEventListener('input', (event) => {
      if (event.target.matches('textarea.message')) recount();
    });
    compose.addEventListener('change', (event) => {
      if (event.target.matches('input[type="checkbox"]')) {
        if (event.target.name === 'drill') { recount(); return; }
        clearTimeout(pending);
        pending = setTimeout(audience, 150);
      }
    });
    recount();
  }

  // --- the confirmation: Send is pressed once (the server's idempotency key is the real guard) --
  const send = document.getElementById('send-form');
  if (send) {
    send.addEventListener('submit', (event) => {
      const button = event.submitter;
      if (!button || button.id !== 'send-button') return;
      if (send.dataset.sent) { event.preventDefault(); return; }
      send.dataset.sent = '1';
      setTimeout(() => { button.disabled = true; button.textContent = button.dataset.once || button.textContent; }, 0);
    });
  }

  // --- progress: poll the counts until it is over ----------------------------------------------
  const progress = document.getElementById('progress');
  if (progress && progress.dataset.done !== 'true') {
    const live = document.getElementById('b-live');
    if (live) live.textContent = '· updating live';
    let afterwards = 0;
    const tick = () => {
      fetch(progress.dataset.url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then((r) => r.json())
        .then((p) => {
          document.getElementById('b-bar').value = p.percent;
          document.getElementById('b-bar').textContent = `${p.percent}%`;
          document.getElementById('b-percent').textContent = `${p.percent}%`;
          document.getElementById('b-status').textContent = p.status;
          for (const key of ['recipients', 'queued', 'sent', 'delivered', 'failed', 'cancelled', 'opted_out_since']) {
            const cell = document.getElementById(`c-${key}`);
            if (cell) cell.textContent = p[key].toLocaleString('en-US');
          }
          if (p.done) {
            progress.dataset.done = 'true';
            if (live) live.textContent = '· finished';
            const cancel = document.getElementById('cancel-form');
            if (cancel) cancel.hidden = true;
            // Delivery reports keep arriving for a while after the last send: look a few more times.
            afterwards += 1;
            if (afterwards < 6) setTimeout(tick, 3000);
            return;
          }
          setTimeout(tick, 1000);
        })
        .catch(() => setTimeout(tick, 5000));
    };
    setTimeout(tick, 1000);
  }
})();
