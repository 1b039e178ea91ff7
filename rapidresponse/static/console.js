// The console's only script (a file, so the Content-Security-Policy can forbid inline scripts).
// Without it every page still works: forms post, and the board reloads itself (<noscript> refresh).

// Buttons with data-confirm ask before they submit.
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-confirm]');
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// The live board: ask the server for the board again every few seconds and show it as it is now,
// rendered by the same template as the page. `seen` stays what the page first showed, so a report
// that came in since keeps its banner (and the title says so) until the coordinator marks it seen.
function textOf(html) {
  const scratch = document.createElement('template');
  scratch.innerHTML = html;
  return scratch.content.textContent.trim();
}

function liveBoard(board, news) {
  const url = new URL(board.dataset.poll, window.location.href);
  url.searchParams.set('seen', board.dataset.seen);
  const every = 1000 * (Number(board.dataset.every) || 5);
  let failures = 0;
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      const type = response.headers.get('Content-Type') || '';
      if (response.redirected || !type.includes('application/json')) {
        window.location.reload(); // signed out meanwhile: the reload shows the sign-in page
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      board.innerHTML = data.html;
      document.title = data.title;
      // Only when it changes: a screen reader announces the banner once, not at every poll.
      if (news && textOf(data.banner) !== news.textContent.trim()) news.innerHTML = data.banner;
      failures = 0;
      board.removeAttribute('data-stale');
      board.dataset.polls = String(Number(board.dataset.polls || 0) + 1);
    } catch (error) {
      failures += 1;
      board.setAttribute('data-stale', String(failures)); // the server is unreachable: keep what we have
    }
    window.setTimeout(poll, every * Math.min(1 + failures, 6));
  }
  window.setTimeout(poll, every);
}

document.addEventListener('DOMContentLoaded', () => {
  const board = document.getElementById('board');
  if (board && board.dataset.poll) liveBoard(board, document.getElementById('news'));
});
