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
      localStream.getTracks().forEach((track) => peer.addTrack(track, localStream));
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
        peerState.textContent = [
          message.audio ? peerState.dataset.audio : "",
          message.video ? peerState.dataset.video : "",
        ].filter(Boolean).join(" ");
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
    send({ type: "leave" });
    if (socket) socket.close(1000);
    closePeer();
    if (localStream) localStream.getTracks().forEach((track) => track.stop());
    clearInterval(beatTimer);
    [muteButton, cameraButton, hangupButton].forEach((button) => {
      button.disabled = true;
    });
    show("ended");
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
    connection: () => (pc ? pc.signalingState + "/" + pc.iceConnectionState : "none"),
  };

  async function start() {
    muteButton.addEventListener("click", () => toggle(muteButton, "audio"));
    cameraButton.addEventListener("click", () => toggle(cameraButton, "video"));
    hangupButton.addEventListener("click", hangUp);
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      localVideo.srcObject = localStream;
    } catch (error) {
      show("no-camera");
      muteButton.disabled = cameraButton.disabled = true;
    }
    connect(config.token);
    beatTimer = setInterval(heartbeat, config.heartbeatSeconds * 1000);
  }

  start();
})();
