// The video call page: signalling over /ws/call (docs/signalling.md) and the W3C "perfect negotiation"
// pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example). The server says at join which
// side is polite. Whenever the pair forms again (the other side joined or came back, or this page's socket
// reconnected), both sides start a fresh RTCPeerConnection; an ICE failure without a socket drop restarts
// ICE on the same connection. No framework, nothing from another origin (the Content-Security-Policy).
"use strict";

(function () {
  const root = document.getElementById("call");
  if (!root) return;
  const config = JSON.parse(root.dataset.config);
  const statusLine = document.getElementById("call-status");
  const peerState = document.getElementById("call-peer-state");
  const localVideo = document.getElementById("call-local");
  const remoteVideo = document.getElementById("call-remote");
  const muteButton = document.getElementById("call-mute");
  const cameraButton = document.getElementById("call-camera");
  const hangupButton = document.getElementById("call-hangup");
  const qualityLine = document.getElementById("call-quality");
  const fallback = document.getElementById("call-fallback");
  const audioOnlyButton = document.getElementById("call-audio-only");
  const toExpertise = document.getElementById("call-to-expertise");
  const photoButton = document.getElementById("call-photo");
  const photoStatus = document.getElementById("call-photo-status");
  const documentsPanel = document.getElementById("call-documents");
  const messages = {};
  root.querySelectorAll(".call-messages [data-status]").forEach((item) => {
    messages[item.dataset.status] = item.textContent;
  });

  // Close codes after which coming back would not help (see docs/signalling.md).
  const FINAL_CLOSES = { 1000: "ended", 4401: "refused", 4409: "replaced", 4410: "closed" };
  const MAX_RETRY_DELAY_MS = 5000;

  let localStream = null;
  let socket = null;
  let pc = null;
  let polite = false;
  let makingOffer = false;
  let ignoreOffer = false;
  let settingRemoteAnswer = false;
  let awaitingOffer = false;
  let ended = false;
  let retries = 0;
  let lastHeard = 0;
  let beatTimer = null;
  let sampleTimer = null;
  let disconnectTimer = null;
  let iceServers = config.iceServers;
  let generation = 0; // how many peer connections this page has started (for the browser tests)

  function show(status) {
    statusLine.textContent = messages[status] || status;
    root.dataset.state = status;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(Object.assign({ v: 1 }, message)));
    }
  }

  // ------------------------------------------------------------------------------- peer connection

  function closePeer() {
    if (pc) {
      pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = pc.oniceconnectionstatechange = null;
      pc.close();
      pc = null;
    }
    clearTimeout(disconnectTimer);
    makingOffer = ignoreOffer = settingRemoteAnswer = false;
  }

  function addLocalTracks(peer) {
    if (localStream) {
      localStream.getTracks().forEach((track) => {
        const sender = peer.addTrack(track, localStream);
        if (audioOnly && track.kind === "video") sender.replaceTrack(null);
      });
    } else {
      peer.addTransceiver("audio", { direction: "recvonly" });
      peer.addTransceiver("video", { direction: "recvonly" });
    }
  }

  // A fresh connection. The side that was already there (told "peer-joined") offers at once; the side that
  // arrives (told "joined" with the peer present) waits for that offer and answers it with its tracks, so
  // that a new pair never starts with both offering at once. Later renegotiations (ICE restarts) go through
  // perfect negotiation.
  function newPeer(offering) {
    closePeer();
    // Relay (TURN) candidates only when the server says so (setting call_force_relay; the relay test).
    const transportPolicy = config.forceRelay ? "relay" : "all";
    const peer = new RTCPeerConnection({ iceServers: iceServers, iceTransportPolicy: transportPolicy });
    pc = peer;
    generation += 1;
    peer.onnegotiationneeded = async () => {
      try {
        makingOffer = true;
        await peer.setLocalDescription();
        if (pc === peer) send({ type: "offer", sdp: peer.localDescription.sdp });
      } catch (error) {
        console.warn("offer failed", error);
      } finally {
        makingOffer = false;
      }
    };
    peer.onicecandidate = ({ candidate }) => {
      if (candidate && pc === peer) send({ type: "candidate", candidate: candidate.toJSON() });
    };
    peer.ontrack = ({ track, streams }) => {
      const stream = streams[0] || new MediaStream([track]);
      if (remoteVideo.srcObject !== stream) remoteVideo.srcObject = stream;
    };
    peer.oniceconnectionstatechange = () => {
      if (pc !== peer) return;
      const state = peer.iceConnectionState;
      send({ type: "ice", state: state }); // into the session journal
      networkDownSince = state === "failed" || state === "disconnected" ? networkDownSince || Date.now() : 0;
      clearTimeout(disconnectTimer);
      if (state === "connected" || state === "completed") {
        show("connected");
      } else if (state === "failed") {
        show("reconnecting");
        peer.restartIce();
      } else if (state === "disconnected") {
        show("reconnecting");
        // Often comes back by itself within a few seconds; if not, restart ICE.
        disconnectTimer = setTimeout(() => {
          if (pc === peer && peer.iceConnectionState === "disconnected") peer.restartIce();
        }, 4000);
      }
    };
    if (offering) addLocalTracks(peer);
    show("connecting");
    return peer;
  }

  async function onDescription(type, sdp) {
    if (awaitingOffer) {
      if (type !== "offer") return;
      awaitingOffer = false;
      const fresh = newPeer(false);
      try {
        await fresh.setRemoteDescription({ type: type, sdp: sdp });
        addLocalTracks(fresh); // onto the transceivers the offer created: the answer carries them
        await fresh.setLocalDescription();
        if (pc === fresh) send({ type: "answer", sdp: fresh.localDescription.sdp });
      } catch (error) {
        console.warn("first offer refused", error);
      }
      return;
    }
    if (!pc) return;
    const peer = pc;
    const readyForOffer = !makingOffer && (peer.signalingState === "stable" || settingRemoteAnswer);
    const collision = type === "offer" && !readyForOffer;
    ignoreOffer = !polite && collision;
    if (ignoreOffer) return;
    settingRemoteAnswer = type === "answer";
    try {
      await peer.setRemoteDescription({ type: type, sdp: sdp }); // rolls back our offer on glare
      settingRemoteAnswer = false;
      if (type === "offer") {
        await peer.setLocalDescription();
        if (pc === peer) send({ type: "answer", sdp: peer.localDescription.sdp });
      }
    } catch (error) {
      settingRemoteAnswer = false;
      console.warn("description refused", error);
    }
  }

  async function onCandidate(candidate) {
    if (!pc || !candidate) return;
    try {
      await pc.addIceCandidate(candidate);
    } catch (error) {
      // A candidate of an offer we ignored, or of the connection before the last restart: harmless.
      if (!ignoreOffer) console.warn("candidate refused", error);
    }
  }

  // ------------------------------------------------------------------------------------- signalling

  function onMessage(event) {
    lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    switch (message.type) {
      case "joined":
        retries = 0;
        startRecording();
        polite = message.polite;
        closePeer();
        awaitingOffer = message.peer_present;
        show(message.peer_present ? "connecting" : "waiting");
        break;
      case "peer-joined":
        awaitingOffer = false;
        newPeer(true);
        break;
      case "peer-left":
        if (message.reason === "dropped") show("peer-dropped");
        else {
          awaitingOffer = false;
          closePeer();
          remoteVideo.srcObject = null;
          show("peer-left");
        }
        break;
      case "offer":
      case "answer":
        onDescription(message.type, message.sdp);
        break;
      case "candidate":
        onCandidate(message.candidate);
        break;
      case "mute":
        peerVideoOff = message.video;
        peerState.textContent = [
          message.audio ? peerState.dataset.audio : "",
          message.video ? peerState.dataset.video : "",
        ].filter(Boolean).join(" ");
        break;
      case "audio-only":
        setAudioOnly(message.on, true);
        break;
      case "document":
        loadDocuments();
        break;
      default:
        break; // heartbeat, error: nothing to do beyond having heard from the server
    }
  }

  function connect(token) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + window.location.host + config.socket);
    socket = ws;
    ws.onopen = () => {
      lastHeard = Date.now();
      ws.send(JSON.stringify({ v: 1, type: "join", token: token }));
    };
    ws.onmessage = onMessage;
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (ended) return;
      const final = FINAL_CLOSES[event.code];
      if (final) {
        ended = true;
        closePeer();
        show(final);
        return;
      }
      show("reconnecting");
      const delay = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** retries);
      retries += 1;
      setTimeout(reconnect, delay);
    };
  }

  async function reconnect() {
    if (ended) return;
    try {
      const response = await fetch(config.ticket, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status === 409 || response.status === 403 || response.status === 404) {
        ended = true;
        closePeer();
        show(response.status === 409 ? "closed" : "refused");
        return;
      }
      if (!response.ok) throw new Error("ticket " + response.status);
      const ticket = await response.json();
      iceServers = ticket.iceServers;
      connect(ticket.token);
    } catch (error) {
      show("reconnecting");
      const delay = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** retries);
      retries += 1;
      setTimeout(reconnect, delay);
    }
  }

  function heartbeat() {
    send({ type: "heartbeat" });
    // The server beats as often: silence means the socket is dead even if the browser has not noticed.
    if (socket && Date.now() - lastHeard > config.silenceSeconds * 1000) socket.close();
  }

  // ---------------------------------------------------------------------------------------- controls

  function toggle(button, kind) {
    if (!localStream) return;
    const tracks = kind === "audio" ? localStream.getAudioTracks() : localStream.getVideoTracks();
    const off = button.getAttribute("aria-pressed") !== "true";
    tracks.forEach((track) => {
      track.enabled = !off;
    });
    button.setAttribute("aria-pressed", off ? "true" : "false");
    button.textContent = off ? button.dataset.off : button.dataset.on;
    send({
      type: "mute",
      audio: muteButton.getAttribute("aria-pressed") === "true",
      video: cameraButton.getAttribute("aria-pressed") === "true",
    });
  }

  // With consent to record: a second, send-only connection carries the same tracks to the server's
  // recorder leg (recorder.js, ADR 0016); it retries by itself and stops at hang-up or when the page goes.
  let recorder = null;
  function startRecording() {
    if (recorder || ended || !config.recordCall || !localStream || !window.teleconsultRecorder) return;
    recorder = window.teleconsultRecorder.start(localStream, config.appointmentId, config.csrf, { iceServers });
  }
  function stopRecording() {
    if (recorder) recorder.stop();
    recorder = null;
  }
  window.addEventListener("pagehide", stopRecording);

  function hangUp() {
    if (ended) return;
    ended = true;
    stopRecording();
    report(Date.now()); // what was measured since the last summary, before leaving
    send({ type: "leave" });
    if (socket) socket.close(1000);
    closePeer();
    if (localStream) localStream.getTracks().forEach((track) => track.stop());
    clearInterval(beatTimer);
    clearInterval(sampleTimer);
    offer(null);
    [muteButton, cameraButton, hangupButton, photoButton, audioOnlyButton].forEach((button) => {
      if (button) button.disabled = true;
    });
    show("ended");
  }

  // ------------------------------------------------------------------ quality, fallbacks (docs/signalling.md)

  // Every SAMPLE_MS the page reads getStats(): the bitrate received, the share of packets lost and the
  // round-trip time of the selected candidate pair give a level (good, fair, poor) for the indicator; a
  // summary of the last qualitySeconds goes to the session journal. Poor for POOR_VIDEO_MS with video on:
  // "audio only" is offered; still poor in audio only (or no network) for GIVE_UP_MS: a tele-expertise.
  const SAMPLE_MS = 2000;
  const POOR_VIDEO_MS = 6000;
  const GIVE_UP_MS = 15000;
  let audioOnly = false;
  let peerVideoOff = false;
  let previous = null;
  let samples = [];
  let poorSince = 0;
  let networkDownSince = 0;
  // The first summary after 10 s (a short call has one too), then every qualitySeconds.
  let lastReport = Date.now() - Math.max(0, config.qualitySeconds - 10) * 1000;
  let forcedLevel = null; // for the browser tests: window.teleconsultCall.pretendQuality(level)
  let photosSaved = 0;

  function levelOf(kbps, loss, rtt) {
    const videoExpected = !audioOnly && !peerVideoOff;
    if (loss >= 10 || (rtt !== null && rtt >= 1000) || kbps < (videoExpected ? 150 : 16)) return "poor";
    if (loss >= 3 || (rtt !== null && rtt >= 400) || kbps < (videoExpected ? 400 : 24)) return "fair";
    return "good";
  }

  async function sample() {
    if (!pc || ended) return;
    const peer = pc;
    let stats;
    try {
      stats = await peer.getStats();
    } catch (error) {
      return;
    }
    let bytes = 0;
    let received = 0;
    let lost = 0;
    let rtt = null;
    stats.forEach((report) => {
      if (report.type === "inbound-rtp") {
        bytes += report.bytesReceived || 0;
        received += report.packetsReceived || 0;
        lost += report.packetsLost || 0;
      } else if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
        if (typeof report.currentRoundTripTime === "number") rtt = Math.round(report.currentRoundTripTime * 1000);
      }
    });
    const now = Date.now();
    const connected = ["connected", "completed"].includes(peer.iceConnectionState);
    if (previous && previous.peer === peer && connected) {
      const seconds = Math.max(0.5, (now - previous.at) / 1000);
      const kbps = Math.max(0, ((bytes - previous.bytes) * 8) / 1000 / seconds);
      const newLost = Math.max(0, lost - previous.lost);
      const newReceived = Math.max(0, received - previous.received);
      const loss = newReceived + newLost > 0 ? (100 * newLost) / (newReceived + newLost) : 0;
      samples.push({ kbps: kbps, loss: loss, rtt: rtt });
      showLevel(forcedLevel || levelOf(kbps, loss, rtt), now);
    } else if (!connected && networkDownSince) {
      showLevel("poor", now);
    }
    previous = { peer: peer, at: now, bytes: bytes, received: received, lost: lost };
    if (now - lastReport >= config.qualitySeconds * 1000) report(now);
  }

  function report(now) {
    lastReport = now;
    if (!samples.length) return;
    const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
    const rtts = samples.map((s) => s.rtt).filter((r) => r !== null).sort((a, b) => a - b);
    send({
      type: "quality",
      bitrate_kbps: Math.min(100000, Math.round(mean(samples.map((s) => s.kbps)))),
      packet_loss_pct: Math.min(100, Math.round(mean(samples.map((s) => s.loss)) * 100) / 100),
      rtt_ms: rtts.length ? Math.min(60000, rtts[Math.floor(rtts.length / 2)]) : null,
    });
    samples = [];
  }

  function showLevel(level, now) {
    qualityLine.hidden = false;
    qualityLine.dataset.level = level;
    qualityLine.querySelector(".call-quality-text").textContent = qualityLine.dataset[level];
    poorSince = level === "poor" ? poorSince || now : 0;
    const downFor = networkDownSince ? now - networkDownSince : 0;
    const poorFor = poorSince ? now - poorSince : 0;
    const giveUp = (audioOnly && poorFor >= GIVE_UP_MS) || downFor >= GIVE_UP_MS;
    if (giveUp) offer("expertise");
    else if (!audioOnly && poorFor >= POOR_VIDEO_MS) offer("audio");
    else if (!audioOnly && level === "good") offer(null);
  }

  // What the banner offers: "audio" (switch to audio only), "audio-on" (audio only is on), "expertise"
  // (continue as a tele-expertise), or null (nothing: hidden).
  function offer(what) {
    fallback.hidden = what === null;
    fallback.dataset.offer = what || "";
    fallback.querySelectorAll("[data-fallback]").forEach((line) => {
      line.hidden = line.dataset.fallback !== what;
    });
    if (toExpertise) toExpertise.hidden = what !== "expertise";
  }

  function setAudioOnly(on, fromPeer) {
    if (audioOnly === on) return;
    audioOnly = on;
    poorSince = 0;
    const video = localStream ? localStream.getVideoTracks()[0] || null : null;
    if (pc && video) {
      // The video transceivers (told by what they receive): stop or resume sending, no renegotiation.
      pc.getTransceivers()
        .filter((transceiver) => transceiver.receiver.track.kind === "video")
        .forEach((transceiver) => transceiver.sender.replaceTrack(on ? null : video).catch(() => {}));
    }
    audioOnlyButton.textContent = on ? audioOnlyButton.dataset.off : audioOnlyButton.dataset.on;
    audioOnlyButton.setAttribute("aria-pressed", on ? "true" : "false");
    remoteVideo.classList.toggle("call-remote-off", on);
    peerState.textContent = on ? peerState.dataset.audioOnly : "";
    offer(on ? "audio-on" : null);
    if (!fromPeer) send({ type: "audio-only", on: on });
  }

  // --------------------------------------------------------------------- photos and documents

  async function takePhoto() {
    if (!localStream || !localVideo.videoWidth || !config.upload) return;
    photoButton.disabled = true;
    photoStatus.textContent = "";
    try {
      const canvas = document.createElement("canvas");
      canvas.width = localVideo.videoWidth;
      canvas.height = localVideo.videoHeight;
      canvas.getContext("2d").drawImage(localVideo, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
      const form = new FormData();
      const time = new Date().toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit" });
      form.append("title", photoButton.dataset.title + " " + time);
      form.append("file", blob, "photo.jpg");
      const response = await fetch(config.upload, {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": config.csrf, Accept: "application/json" },
      });
      if (!response.ok) {
        let message = photoButton.dataset.failed;
        try {
          message = (await response.json()).message || message;
        } catch (error) {
          // not JSON: the generic message
        }
        throw new Error(message);
      }
      photoStatus.textContent = photoButton.dataset.saved;
      photosSaved += 1;
      send({ type: "document" });
    } catch (error) {
      photoStatus.textContent = error.message || photoButton.dataset.failed;
    } finally {
      photoButton.disabled = ended;
    }
  }

  async function loadDocuments() {
    if (!documentsPanel) return;
    const list = documentsPanel.querySelector("[data-documents-list]");
    let documents;
    try {
      const response = await fetch(config.documents, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(String(response.status));
      documents = (await response.json()).documents;
    } catch (error) {
      list.replaceChildren(item(documentsPanel.dataset.error));
      return;
    }
    if (!documents.length) {
      list.replaceChildren(item(documentsPanel.dataset.none));
      return;
    }
    list.replaceChildren(
      ...documents
        .slice()
        .reverse() // the newest first: a photo just taken is at the top
        .map((document_) => {
          const entry = document.createElement("li");
          const link = document.createElement("a");
          link.href = document_.download_url;
          link.target = "_blank";
          link.rel = "noopener";
          if (document_.content_type.startsWith("image/")) {
            const image = document.createElement("img");
            image.src = document_.download_url;
            image.alt = "";
            image.loading = "lazy";
            link.append(image);
          }
          link.append(document.createTextNode(document_.title));
          const when = document.createElement("small");
          when.textContent = new Date(document_.uploaded_at).toLocaleString("fr-FR", {
            day: "2-digit",
            month: "2-digit",
            hour: "2-digit",
            minute: "2-digit",
          });
          entry.append(link, when);
          return entry;
        })
    );
  }

  function item(text) {
    const entry = document.createElement("li");
    entry.textContent = text;
    return entry;
  }

  // For the browser tests: frames decoded from the other side so far.
  window.teleconsultCall = {
    framesDecoded: async () => {
      if (!pc) return 0;
      let frames = 0;
      (await pc.getStats()).forEach((report) => {
        if (report.type === "inbound-rtp" && report.kind === "video") frames += report.framesDecoded || 0;
      });
      return frames;
    },
    state: () => root.dataset.state,
    generation: () => generation,
    quality: () => qualityLine.dataset.level,
    offer: () => (fallback.hidden ? null : fallback.dataset.offer),
    audioOnly: () => audioOnly,
    photosSaved: () => photosSaved,
    // Pretend the network is this bad (or null: measure again), to exercise the fallbacks.
    pretendQuality: (level) => {
      forcedLevel = level;
    },
    connection: () => (pc ? pc.signalingState + "/" + pc.iceConnectionState : "none"),
  };

  async function start() {
    muteButton.addEventListener("click", () => toggle(muteButton, "audio"));
    cameraButton.addEventListener("click", () => toggle(cameraButton, "video"));
    hangupButton.addEventListener("click", hangUp);
    audioOnlyButton.addEventListener("click", () => setAudioOnly(!audioOnly, false));
    if (photoButton) photoButton.addEventListener("click", takePhoto);
    loadDocuments();
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      localVideo.srcObject = localStream;
    } catch (error) {
      show("no-camera");
      muteButton.disabled = cameraButton.disabled = true;
      if (photoButton) photoButton.disabled = true;
    }
    connect(config.token);
    beatTimer = setInterval(heartbeat, config.heartbeatSeconds * 1000);
    sampleTimer = setInterval(sample, SAMPLE_MS);
  }

  start();
})();
