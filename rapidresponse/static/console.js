// The console's only script (a file, so the Content-Security-Policy can forbid inline scripts):
// buttons with data-confirm ask before they submit.
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-confirm]');
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});
