// Autosave of the compte-rendu draft: a few seconds after the expert stops typing, the form is sent as JSON
// to the same-origin API with the version it was loaded at; the answer's version is kept for the next save.
// Without this script the form still works: "Enregistrer le brouillon" and "Finaliser" submit it normally.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form || !window.fetch) { return; }
  var state = document.getElementById("autosave-state");
  var api = form.getAttribute("data-api");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var version = form.querySelector("input[name=version]");
  var timer = null;
  var saving = false;
  var pending = false;
  var lang = document.documentElement.lang || "fr";
  var text = lang.indexOf("fr") === 0
    ? { saving: "Enregistrement…", saved: "Brouillon enregistré à ", stale: "Ce compte-rendu a été modifié ailleurs : rechargez la page.", failed: "Brouillon non enregistré : vérifiez la connexion." }
    : { saving: "Saving…", saved: "Draft saved at ", stale: "This report was changed elsewhere: reload the page.", failed: "Draft not saved: check the connection." };

  function say(message) { if (state) { state.textContent = message; } }

  function body() {
    var data = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token" && key !== "intent") { data[key] = value; }
    });
    data.version = parseInt(version.value, 10) || 0;
    return JSON.stringify(data);
  }

  function save() {
    timer = null;
    if (saving) { pending = true; return; }
    saving = true;
    say(text.saving);
    fetch(api, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body()
    }).then(function (response) {
      if (response.status === 409) { say(text.stale); return null; }
      if (!response.ok) { say(text.failed); return null; }
      return response.json();
    }).then(function (saved) {
      if (saved) {
        version.value = String(saved.version);
        say(text.saved + new Date().toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }));
      }
    }).catch(function () { say(text.failed); }).then(function () {
      saving = false;
      if (pending) { pending = false; schedule(); }
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(save, 2000);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () { if (timer) { clearTimeout(timer); timer = null; } });
})();
