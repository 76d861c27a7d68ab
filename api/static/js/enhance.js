// Small enhancements of pages that work without JavaScript.
// - [data-countdown="<RFC 3339 time>"]: shows the minutes and seconds left, and says when the time
//   has passed (the voucher page).
"use strict";

function pad(value) {
  return String(value).padStart(2, "0");
}

function startCountdown(element) {
  const end = Date.parse(element.dataset.countdown);
  if (Number.isNaN(end)) return;
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    if (left === 0) {
      element.textContent = "Ce bon a expiré : demandez-en un nouveau.";
      element.classList.add("field-error");
      return;
    }
    element.textContent = `Valable encore ${Math.floor(left / 60)} min ${pad(left % 60)} s`;
    // Screen readers hear the time once a minute, not every second.
    element.setAttribute("aria-live", left % 60 === 0 ? "polite" : "off");
    setTimeout(tick, 1000);
  };
  tick();
}

document.querySelectorAll("[data-countdown]").forEach(startCountdown);
