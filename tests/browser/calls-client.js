// A small Cloudflare Calls client for the interop tests (tests/browser/calls.mjs
// injects it into pages of the server's origin). It does what a Calls app
// does and no more: each step is one request, its raw answer returned, so the
// test asserts on what the server said. One RTCPeerConnection per session.
'use strict';

window.CallsSession = class CallsSession {
  // prefix: `${origin}/v1/apps/${appId}/`; token: the app's secret.
  constructor(prefix, token) {
    this.prefix = prefix;
    this.token = token;
    this.pc = new RTCPeerConnection();
    this.id = null;
  }

  // { status, body }: every answer is JSON, errors too; the test judges.
  async api(method, path, body, { auth = true } = {}) {
    const headers = {};
    if (auth) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.prefix + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* reported below */ }
    if (json === null) throw new Error(`${method} ${path}: ${res.status}, not JSON: ${text.slice(0, 200)}`);
    return { status: res.status, body: json };
  }

  // Like api, but a non-2xx answer or any per-track error is a failure.
  async ok(method, path, body) {
    const r = await this.api(method, path, body);
    const bad = (r.body.tracks || []).filter((t) => t.errorCode);
    if (r.status >= 300 || r.body.errorCode || bad.length) {
      throw new Error(`${method} ${path} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${JSON.stringify(r.body).slice(0, 600)}`);
    }
    return r.body;
  }

  async open() {
    const r = await this.api('POST', 'sessions/new');
    if (r.status !== 201 || !/^[0-9a-f]{32}$/.test(r.body.sessionId || '')) {
      throw new Error(`sessions/new -> ${r.status} ${JSON.stringify(r.body)}`);
    }
    this.id = r.body.sessionId;
    return this.id;
  }

  // Publishes [{track, name, encodings?}] from one offer; returns the answer
  // body (its tracks carry the mids).
  async push(entries) {
    const sent = entries.map((e) => ({
      e,
      t: this.pc.addTransceiver(e.track, { direction: 'sendonly', sendEncodings: e.encodings }),
    }));
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const body = await this.ok('POST', `sessions/${this.id}/tracks/new`, {
      sessionDescription: { type: 'offer', sdp: offer.sdp },
      tracks: sent.map(({ e, t }) => ({ location: 'local', mid: t.mid, trackName: e.name })),
    });
    if (body.sessionDescription?.type !== 'answer') throw new Error(`push: no answer: ${JSON.stringify(body).slice(0, 300)}`);
    await this.pc.setRemoteDescription(body.sessionDescription);
    return body;
  }

  // The server offers (pulls, closes, a waiting pull now ready): answer it.
  // Returns the renegotiate answer's body, null when nothing was offered.
  async answerSfu(body) {
    if (!body.requiresImmediateRenegotiation) return null;
    if (body.sessionDescription?.type !== 'offer') {
      throw new Error(`requiresImmediateRenegotiation without an offer: ${JSON.stringify(body).slice(0, 300)}`);
    }
    await this.pc.setRemoteDescription(body.sessionDescription);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.lastRenegotiate = await this.ok('PUT', `sessions/${this.id}/renegotiate`, {
      sessionDescription: { type: 'answer', sdp: answer.sdp },
    });
    return this.lastRenegotiate;
  }

  // Pulls [{sessionId, trackName, simulcast?}] with the server's offer.
  // Returns the tracks/new body; strict=false keeps per-track errors.
  async pull(remotes, { strict = true } = {}) {
    const req = { tracks: remotes.map((r) => ({ location: 'remote', ...r })) };
    const path = `sessions/${this.id}/tracks/new`;
    const body = strict ? await this.ok('POST', path, req) : (await this.api('POST', path, req)).body;
    await this.answerSfu(body);
    return body;
  }

  // Stops the sections of `mids` in an offer the server answers (force:false).
  async closeByOffer(mids) {
    for (const t of this.pc.getTransceivers()) if (mids.includes(t.mid)) t.stop();
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const body = await this.ok('PUT', `sessions/${this.id}/tracks/close`, {
      sessionDescription: { type: 'offer', sdp: offer.sdp },
      tracks: mids.map((mid) => ({ mid })),
      force: false,
    });
    if (body.sessionDescription?.type !== 'answer') throw new Error(`close: no answer: ${JSON.stringify(body).slice(0, 300)}`);
    await this.pc.setRemoteDescription(body.sessionDescription);
    return body;
  }

  // Closes `mids` with no SDP exchanged (force:true).
  async closeForced(mids) {
    return this.ok('PUT', `sessions/${this.id}/tracks/close`, {
      tracks: mids.map((mid) => ({ mid })),
      force: true,
    });
  }

  // What each receiving section got: [{mid, kind, packets, frames, width}].
  async inbound() {
    const out = [];
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null || t.direction === 'sendonly') continue;
      const row = { mid: t.mid, kind: t.receiver.track.kind, stopped: t.currentDirection === 'stopped', packets: 0, frames: 0, width: 0 };
      (await t.receiver.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        row.packets = s.packetsReceived || 0;
        row.frames = s.framesDecoded || 0;
        row.width = s.frameWidth || 0;
      });
      out.push(row);
    }
    return out;
  }
};
