/* The recorder leg of a call (docs/adr/0016-passthrough-recorder.md), and the recordings list of the
 * appointment page.
 *
 * window.teleconsultRecorder.start(stream, appointmentId, csrf[, options]) opens a second
 * RTCPeerConnection, send-only, with the same local tracks, to the server's receive-only recorder; if
 * it fails it offers again (with back-off), each reconnection making a new segment. It returns a handle
 * whose stop() ends the recording (on hang-up). options: {iceServers, onState(state)}.
 */
(function () {
  "use strict";

  var MAX_RETRY_MS = 30000;
  var GATHER_MS = 3000;
  var DISCONNECTED_MS = 5000;

  function base(appointmentId) {
    return "/api/v1/appointments/" + encodeURIComponent(appointmentId) + "/recording";
  }

  function gathered(pc) {
    // The server does not trickle candidates: the offer goes once ICE gathering is complete (or after 3 s).
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(done, GATHER_MS);
      function done() {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      function check() {
        if (pc.iceGatheringState === "complete") done();
      }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function start(stream, appointmentId, csrf, options) {
    options = options || {};
    var pc = null;
    var recordingId = null;
    var stopped = false;
    var retryMs = 1000;
    var retryTimer = null;
    var disconnectedTimer = null;

    function report(state) {
      if (typeof options.onState === "function") options.onState(state);
    }

    function post(path, body) {
      return fetch(base(appointmentId) + path, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body || {})
      });
    }

    function endLeg() {
      if (recordingId) {
        post("/stop", { recording_id: recordingId }).catch(function () {});
        recordingId = null;
      }
      if (pc) {
        pc.close();
        pc = null;
      }
    }

    function retry() {
      if (stopped || retryTimer) return;
      endLeg();
      report("retrying");
      retryTimer = setTimeout(function () {
        retryTimer = null;
        connect();
      }, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    }

    async function connect() {
      if (stopped) return;
      var leg = new RTCPeerConnection({ iceServers: options.iceServers || [] });
      pc = leg;
      stream.getTracks().forEach(function (track) {
        leg.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      });
      leg.addEventListener("connectionstatechange", function () {
        if (leg !== pc) return;
        clearTimeout(disconnectedTimer);
        if (leg.connectionState === "connected") {
          retryMs = 1000;
          report("recording");
        } else if (leg.connectionState === "failed") {
          retry();
        } else if (leg.connectionState === "disconnected") {
          disconnectedTimer = setTimeout(retry, DISCONNECTED_MS);
        }
      });
      try {
        await leg.setLocalDescription(await leg.createOffer());
        await gathered(leg);
        var response = await post("/offer", { sdp: leg.localDescription.sdp });
        if (leg !== pc) return;
        if (response.status === 403 || response.status === 404 || response.status === 410) {
          stopped = true; // no consent, not allowed, or the call is over: do not insist
          endLeg();
          report("refused");
          return;
        }
        if (!response.ok) throw new Error("recorder offer: " + response.status);
        var answer = await response.json();
        recordingId = answer.recording_id;
        await leg.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      } catch (error) {
        if (leg === pc) retry();
      }
    }

    connect();
    return {
      stop: function () {
        stopped = true;
        clearTimeout(retryTimer);
        clearTimeout(disconnectedTimer);
        endLeg();
        report("stopped");
      }
    };
  }

  function formatDuration(ms) {
    var seconds = Math.round((ms || 0) / 1000);
    var minutes = Math.floor(seconds / 60);
    seconds = seconds % 60;
    return minutes + " min " + (seconds < 10 ? "0" : "") + seconds + " s";
  }

  function showRecordings(section) {
    var list = section.querySelector("[data-recordings-list]");
    fetch(section.getAttribute("data-recordings-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (body) {
        list.textContent = "";
        if (!body.recordings.length) {
          list.textContent = section.getAttribute("data-label-none");
          return;
        }
        body.recordings.forEach(function (recording) {
          var item = document.createElement("li");
          var started = new Date(recording.started_at);
          var title = document.createElement("p");
          title.textContent = started.toLocaleString(document.documentElement.lang || "fr", {
            timeZone: "Europe/Paris", dateStyle: "short", timeStyle: "short"
          }) + (recording.playable ? " · " + formatDuration(recording.duration_ms) : "");
          item.appendChild(title);
          if (recording.playable) {
            var video = document.createElement("video");
            video.controls = true;
            video.preload = "metadata";
            video.width = 480;
            video.src = recording.play_url;
            item.appendChild(video);
          } else {
            var note = document.createElement("p");
            note.className = "hint";
            note.textContent = section.getAttribute(recording.ended_at ? "data-label-empty" : "data-label-running");
            item.appendChild(note);
          }
          list.appendChild(item);
        });
      })
      .catch(function () {
        list.textContent = section.getAttribute("data-label-error");
      });
  }

  window.teleconsultRecorder = { start: start };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-recordings-url]").forEach(showRecordings);
  });
})();
