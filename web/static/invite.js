// The invitation link page: copy the link shown once (the Clipboard API; select it when refused).
"use strict";

(function () {
  const button = document.getElementById("invite-copy");
  const field = document.getElementById("invite-link");
  if (!button || !field) return;
  button.addEventListener("click", async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.done;
    } catch (error) {
      field.focus(); // selected: the person copies it by hand
    }
  });
})();
