// "Copy" buttons: <button data-copy="input-id" data-copied="Copied" hidden>. Shown only when the browser
// can copy; without JavaScript the address stays selectable in its read-only field.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = button.getAttribute("data-copied");
    });
  });
});
