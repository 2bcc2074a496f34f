// Page enhancements shared by every page. No inline scripts (strict CSP).

// htmx sends the CSRF token on every request it makes.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.headers["X-CSRFToken"] = token;
});
