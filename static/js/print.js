// The "print" button of the printable forms (no inline script under the strict CSP).
document.addEventListener("click", (event) => {
  const button = event.target.closest('[data-action="print"]');
  if (!button) return;
  event.preventDefault();
  window.print();
});
