// The connection test (/connection-test): camera and microphone, the WebSocket, then a WebRTC call to the
// server's echo peer (signalling/conntest.py), which sends our tracks back. Once the echo's video decodes,
// the round-trip time and the returned bitrate are measured for a few seconds from getStats, and the
// server decides the verdict. No framework, nothing from another origin (the Content-Security-Policy).
"use strict";

(function () {
  const root = document.getElementById("conntest");
  if (!root) return;
  const config = JSON.parse(root.dataset.config);
  const csrf = root.dataset.csrf;
  const localVideo = document.getElementById("conntest-local");
  const echoVideo = document.getElementById("conntest-echo");
  const verdictLine = document.getElementById("conntest-verdict");
  const figuresLine = document.getElementById("conntest-figures");
  const recordedLine = document.getElementById("conntest-recorded");
  const againButton = document.getElementById("conntest-again");
  const texts = {};
  root.querySelectorAll(".conntest-messages [data-text]").forEach((item) => {
    texts[item.dataset.text] = item.textContent;
  });

  const SOCKET_TIMEOUT_MS = 10000;
  const GATHER_TIMEOUT_MS = 10000;
  const MEDIA_TIMEOUT_MS = 20000;
  const MEASURE_MS = 5000;

  let stream = null;
  let pc = null;

  function step(name, state) {
    const item = root.querySelector('[data-step="' + name + '"]');
    item.dataset.state = state;
    item.querySelector(".conntest-step-state").textContent = texts[state] || state;
  }

  function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, delay(ms).then(() => Promise.reject(new Error("timeout")))]);
  }

  function socketRoundTrip() {
    return new Promise((resolve, reject) => {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(scheme + "//" + window.location.host + config.socket);
      let sentAt = 0;
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error("socket timeout"));
      }, SOCKET_TIMEOUT_MS);
      ws.onopen = () => {
        sentAt = performance.now();
        ws.send("ping");
      };
      ws.onmessage = () => {
        clearTimeout(timer);
        const rtt = performance.now() - sentAt;
        ws.close();
        resolve(rtt);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error("socket error"));
      };
    });
  }

  function gathered(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      peer.addEventListener("icegatheringstatechange", () => {
        if (peer.iceGatheringState === "complete") resolve();
      });
    });
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.message || "HTTP " + response.status);
    return answer;
  }

  async function snapshot(peer) {
    const result = { videoBytes: 0, videoFrames: 0, audioPackets: 0, rttMs: null, at: performance.now() };
    const stats = await peer.getStats();
    stats.forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "video") {
        result.videoBytes += report.bytesReceived || 0;
        result.videoFrames += report.framesDecoded || 0;
      } else if (report.type === "inbound-rtp" && report.kind === "audio") {
        result.audioPackets += report.packetsReceived || 0;
      } else if (report.type === "transport" && report.selectedCandidatePairId) {
        const pair = stats.get(report.selectedCandidatePairId);
        if (pair && typeof pair.currentRoundTripTime === "number") {
          result.rttMs = Math.round(pair.currentRoundTripTime * 1000);
        }
      }
    });
    return result;
  }

  async function waitForFrames(peer) {
    const deadline = performance.now() + MEDIA_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const now = await snapshot(peer);
      if (now.videoFrames > 0 || (!stream.getVideoTracks().length && now.audioPackets > 0)) return true;
      await delay(250);
    }
    return false;
  }

  function finish(verdict, message) {
    root.dataset.state = "done";
    root.dataset.verdict = verdict;
    verdictLine.textContent = message;
    againButton.disabled = false;
  }

  function stop() {
    echoVideo.pause(); // keeps the last frame that came back on screen once the call is closed
    if (pc) {
      pc.close();
      pc = null;
    }
  }

  async function run() {
    againButton.disabled = true;
    root.dataset.state = "running";
    delete root.dataset.verdict;
    verdictLine.textContent = texts.running;
    figuresLine.textContent = "";
    if (recordedLine) recordedLine.hidden = true;
    ["media", "socket", "call", "measure"].forEach((name) => step(name, "pending"));
    echoVideo.play().catch(() => null);

    step("media", "running");
    try {
      if (!stream) stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      localVideo.srcObject = stream;
      step("media", "ok");
    } catch (error) {
      step("media", "failed");
      finish("no-media", texts["no-media"]);
      return;
    }

    step("socket", "running");
    let websocketOk = true;
    try {
      await socketRoundTrip();
      step("socket", "ok");
    } catch (error) {
      websocketOk = false;
      step("socket", "failed");
    }

    step("call", "running");
    let testResult = null;
    const measures = { rtt_ms: null, video_kbps: 0, video_frames: 0, audio_packets: 0, websocket_ok: websocketOk };
    try {
      stop();
      const peer = new RTCPeerConnection({
        iceServers: config.iceServers,
        iceTransportPolicy: config.forceRelay ? "relay" : "all",
      });
      pc = peer;
      stream.getTracks().forEach((track) => peer.addTrack(track, stream));
      peer.ontrack = ({ track, streams }) => {
        if (track.kind === "video") echoVideo.srcObject = streams[0] || new MediaStream([track]);
      };
      await peer.setLocalDescription(await peer.createOffer());
      await withTimeout(gathered(peer), GATHER_TIMEOUT_MS).catch(() => null); // send what was gathered
      const answer = await post(config.offer, { sdp: peer.localDescription.sdp });
      testResult = answer.result;
      await peer.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      const flowing = await waitForFrames(peer);
      step("call", flowing ? "ok" : "failed");
      if (flowing) {
        step("measure", "running");
        const first = await snapshot(peer);
        await delay(MEASURE_MS);
        const last = await snapshot(peer);
        const seconds = (last.at - first.at) / 1000;
        measures.rtt_ms = last.rttMs;
        measures.video_kbps = Math.round(((last.videoBytes - first.videoBytes) * 8) / 1000 / seconds);
        measures.video_frames = last.videoFrames;
        measures.audio_packets = last.audioPackets;
        step("measure", "ok");
        figuresLine.textContent = texts.figures
          .replace("{rtt}", measures.rtt_ms === null ? "?" : String(measures.rtt_ms))
          .replace("{kbps}", String(measures.video_kbps));
      } else {
        step("measure", "failed");
      }
    } catch (error) {
      console.warn("connection test", error);
      step("call", "failed");
      step("measure", "failed");
    }

    if (!testResult) {
      stop();
      finish("error", texts.error);
      return;
    }
    try {
      if (config.appointment) measures.appointment = config.appointment;
      const result = await post(testResult, measures); // the server closes its echo peer first
      if (recordedLine && result.recorded) recordedLine.hidden = false;
      finish(result.verdict, result.message);
    } catch (error) {
      finish("error", error.message || texts.error);
    } finally {
      stop();
    }
  }

  againButton.addEventListener("click", run);
  run();
})();
