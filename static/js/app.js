// Page enhancements shared by every page. No inline scripts (strict CSP).

// htmx sends the CSRF token on every request it makes.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.headers["X-CSRFToken"] = token;
});

// "Sort by distance" on the helper's list: one quick fix, then htmx reloads the list.
document.addEventListener("click", async (event) => {
  const button = event.target.closest('[data-action="sort-nearby"]');
  if (!button) return;
  const { quickPosition } = await import("./geo.js");
  button.disabled = true;
  const pos = await quickPosition();
  button.disabled = false;
  const form = button.form;
  if (!pos) { button.textContent = "无法定位"; return; }
  form.querySelector('[data-near="lat"]').value = pos.lat.toFixed(6);
  form.querySelector('[data-near="lon"]').value = pos.lon.toFixed(6);
  if (window.htmx) window.htmx.trigger(form, "nearby");
  else form.submit();
});
