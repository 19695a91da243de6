// roomscribe's live page: the meeting as it is spoken, the true state, past meetings, the controls.
// No framework and no build step. Fed by Server-Sent Events from /api/feed (outputs/web/feed.py):
// the server sends the meeting so far first, then every record as the daemon publishes it; each
// utterance's event id is "<meeting_id>:<seq>", which the browser sends back when it reconnects.
// Text from the meeting is only ever set as textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PALETTE = 8;
  const STALE_MS = 40000; // the server pings every 15 s: silence this long means a dead connection
  const METRICS_KEPT = 5000;

  const page = {
    meetingId: null,
    lines: new Map(), // seq -> <li>, the live meeting
    lastSeq: 0,
    lastEpoch: null,
    lastEventId: null,
    names: new Map(), // the live meeting's voices: "epoch\tlabel" -> name, or null for a voice without one
    viewNames: new Map(), // the same for the past meeting shown
    naming: null, // the voice being named: {meeting_id, speaker_epoch, speaker}
    clockOffset: 0, // server clock minus this browser's, ms
    meetingStart: null, // epoch seconds
    stick: true, // follow the newest line
    unseen: 0,
    lastMessageAt: Date.now(),
    source: null,
    retryMs: 1000,
    connected: false,
    status: null,
    stats: null,
    controls: false,
    viewing: null, // a past meeting shown instead of the live one
  };
  // For the tests and bench/bench_web.py: when each record was received, put in the page, and painted.
  const metrics = [];
  window.roomscribe = { metrics, page };

  const now = () => performance.timeOrigin + performance.now();
  function mark(kind, key, received, extra) {
    const entry = { kind, key, received, drawn: now(), painted: null, ...extra };
    metrics.push(entry);
    if (metrics.length > METRICS_KEPT) metrics.splice(0, metrics.length - METRICS_KEPT);
    // Painted: requestAnimationFrame runs just before the next frame is painted, the timeout just after it.
    requestAnimationFrame(() => setTimeout(() => { entry.painted = now(); }, 0));
  }

  // -- speakers ------------------------------------------------------------------------------------

  function colourOf(epoch, label) {
    const number = /-(\d+)$/.exec(label || "");
    let index;
    if (number) {
      index = Number(number[1]) - 1;
    } else {
      index = 0;
      for (const ch of label || "") index = (index * 31 + ch.charCodeAt(0)) >>> 0;
    }
    // A new speaker epoch restarts the labels: shift the colours so its Guest-1 looks like someone new.
    return ((index + 3 * Math.max(0, (epoch || 1) - 1)) % PALETTE + PALETTE) % PALETTE;
  }

  // The meeting's list of voices (sent whole whenever a name changes) decides; a voice it does not know yet
  // shows the name its utterance was published with.
  function nameOf(u, names = page.names) {
    const key = `${u.speaker_epoch}\t${u.speaker}`;
    if (names.has(key)) return names.get(key) || u.speaker;
    return u.speaker_name || u.speaker;
  }

  function takeNames(names, list) {
    names.clear();
    for (const item of list || []) names.set(`${item.speaker_epoch}\t${item.speaker}`, item.name || null);
  }

  function renameLines(list, names) {
    for (const li of list.querySelectorAll("li.line")) {
      if (li._utterance) li.querySelector(".who").textContent = nameOf(li._utterance, names);
    }
  }

  function applyNames(list) {
    takeNames(page.names, list);
    renameLines($("lines"), page.names);
    const partial = $("partial");
    if (partial._speaker) partial.querySelector(".who").textContent = nameOf(partial._speaker);
  }

  function onSpeakers(data) {
    if (data.meeting_id === page.meetingId) applyNames(data.speakers);
    if (page.viewing && data.meeting_id === page.viewing.meeting_id) {
      takeNames(page.viewNames, data.speakers);
      renameLines($("past-lines"), page.viewNames);
    }
  }

  // -- lines ---------------------------------------------------------------------------------------

  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function lineFor(u, names = page.names) {
    const li = document.createElement("li");
    li.className = "line";
    li.dataset.seq = u.seq;
    li.dataset.speaker = u.speaker;
    li.dataset.colour = colourOf(u.speaker_epoch, u.speaker);
    li._utterance = u;
    const who = document.createElement("span");
    who.className = "who";
    who.title = "Give this voice a name";
    who.textContent = nameOf(u, names);
    const time = document.createElement("time");
    time.dateTime = u.start;
    time.textContent = clock(u.start);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = u.text;
    li.append(who, time, text);
    return li;
  }

  function divider(text) {
    const li = document.createElement("li");
    li.className = "divider";
    li.textContent = text;
    return li;
  }

  function startMeeting(meetingId) {
    page.meetingId = meetingId;
    page.lines.clear();
    page.lastSeq = 0;
    page.lastEpoch = null;
    page.names.clear();
    page.meetingStart = null;
    $("lines").replaceChildren();
    hidePartial();
    $("notice").hidden = true;
    page.stick = true;
    page.unseen = 0;
    updateEmpty();
  }

  function addUtterance(u, received) {
    if (u.meeting_id !== page.meetingId) startMeeting(u.meeting_id);
    if (page.lines.has(u.seq)) return; // de-duplicated on (meeting_id, seq), as every subscriber must
    const list = $("lines");
    if (page.lastEpoch !== null && u.speaker_epoch !== page.lastEpoch) {
      list.append(divider("Speaker labels restart here: a new speech session; the numbers below are new voices."));
    }
    page.lastEpoch = u.speaker_epoch;
    const li = lineFor(u);
    page.lines.set(u.seq, li);
    page.lastSeq = Math.max(page.lastSeq, u.seq);
    list.append(li);
    applySearchTo(li);
    hidePartial();
    updateEmpty();
    followOrCount(1);
    mark("utterance", `${u.meeting_id}:${u.seq}`, received);
  }

  function showPartial(p, received) {
    if (!p || (page.meetingId && p.meeting_id !== page.meetingId)) return;
    const el = $("partial");
    el.dataset.colour = p.speaker ? colourOf(page.lastEpoch || 1, p.speaker) : "";
    el._speaker = p.speaker ? { speaker: p.speaker, speaker_epoch: page.lastEpoch || 1, speaker_name: p.speaker_name } : null;
    el.querySelector(".who").textContent = el._speaker ? nameOf(el._speaker) : "…";
    el.querySelector(".text").textContent = p.text;
    el.hidden = Boolean(page.viewing);
    updateEmpty();
    followOrCount(0);
    mark("partial", p.text, received, { speaker: p.speaker, shown: el.querySelector(".who").textContent });
  }

  function hidePartial() {
    const el = $("partial");
    el.hidden = true;
    el.querySelector(".text").textContent = "";
  }

  function updateEmpty() {
    const empty = page.lines.size === 0 && $("partial").hidden && !page.viewing;
    $("empty").hidden = !empty;
    if (empty) {
      const meeting = page.status && page.status.meeting;
      $("empty").textContent = meeting ? "The meeting is on: nothing has been said yet." : "No meeting in progress.";
    }
  }

  // -- scrolling: follow the newest line unless the reader scrolled up ------------------------------

  const scroller = () => $("transcript");
  function atBottom() {
    const el = scroller();
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  }
  function followOrCount(newLines) {
    if (page.viewing) return;
    if (page.stick) {
      scroller().scrollTop = scroller().scrollHeight;
    } else if (newLines) {
      page.unseen += newLines;
      $("jump").textContent = `${page.unseen} new line${page.unseen === 1 ? "" : "s"} ↓`;
      $("jump").hidden = false;
    }
  }
  function onScroll() {
    page.stick = atBottom();
    if (page.stick) {
      page.unseen = 0;
      $("jump").hidden = true;
    }
  }

  // -- status: the banner, the running time, the audio sent -----------------------------------------

  function renderBanner(kind, title, detail, also) {
    const banner = $("banner");
    const changed = banner.dataset.kind !== kind;
    banner.dataset.kind = kind;
    $("banner-title").textContent = title;
    $("banner-detail").textContent = [detail, ...(also || [])].filter(Boolean).join(" ");
    return changed;
  }

  function renderStatus(status, received) {
    page.status = status;
    if (typeof status.now === "number") page.clockOffset = status.now * 1000 - Date.now();
    const meeting = status.meeting;
    if (meeting && meeting.id !== page.meetingId) startMeeting(meeting.id);
    if (meeting && meeting.start) page.meetingStart = meeting.start;
    if (!meeting) page.meetingStart = null;
    if (page.connected) {
      const b = status.banner;
      if (renderBanner(b.kind, b.title, b.detail, b.also)) mark("banner", b.kind, received);
      else mark("status", b.kind, received);
    }
    tick();
    updateEmpty();
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }

  function tick() {
    const running = $("running");
    if (page.meetingStart && !page.viewing) {
      running.textContent = `Meeting ${duration((Date.now() + page.clockOffset) / 1000 - page.meetingStart)}`;
    } else {
      running.textContent = "";
    }
    $("sent").textContent = page.viewing ? "" : audioSent();
  }

  function renderStats(stats) {
    page.stats = stats;
    tick();
  }

  function audioSent() {
    // The daemon publishes its stats when sending starts or stops, and once a minute: while it sends,
    // the stream runs in real time, so the figure grows by the time since it was published.
    const stats = page.stats;
    if (!stats || typeof stats.audio_sent_meeting_s !== "number") return "";
    let sent = stats.audio_sent_meeting_s;
    const state = page.status && page.status.state && page.status.state.state;
    if (stats.sending && state === "transcribing") {
      sent += Math.max(0, (Date.now() + page.clockOffset - new Date(stats.at).getTime()) / 1000);
    }
    return `audio sent ${duration(sent)}`;
  }

  function linkState(up) {
    page.connected = up;
    $("link").dataset.up = String(up);
    if (!up) {
      if (renderBanner("offline", "NO CONNECTION TO THE DEVICE",
        "The page cannot reach roomscribe; what it shows may be out of date. Reconnecting…")) mark("banner", "offline", now());
    } else if (page.status) {
      renderStatus(page.status, now());
    }
  }

  // -- the feed ------------------------------------------------------------------------------------

  function connect() {
    if (page.source) page.source.close();
    const query = page.lastEventId ? `?last_event_id=${encodeURIComponent(page.lastEventId)}` : "";
    const source = new EventSource(`/api/feed${query}`);
    page.source = source;
    const on = (kind, handle) => source.addEventListener(kind, (e) => {
      const received = now();
      page.lastMessageAt = Date.now();
      if (e.lastEventId) page.lastEventId = e.lastEventId;
      handle(JSON.parse(e.data), received);
    });
    on("hello", (hello, received) => {
      page.retryMs = 1000;
      $("room").textContent = hello.room;
      document.title = `roomscribe – ${hello.room}`;
      page.controls = Boolean(hello.controls);
      $("controls-toggle").hidden = !page.controls;
      document.documentElement.classList.toggle("nameable", page.controls);
      page.connected = true;
      $("link").dataset.up = "true";
      renderStatus(hello.status, received);
      renderStats(hello.stats);
      applyNames(hello.speakers);
      if (hello.partial) showPartial(hello.partial, received);
    });
    on("status", renderStatus);
    on("stats", (stats) => renderStats(stats));
    on("partial", showPartial);
    on("utterance", addUtterance);
    on("speakers", onSpeakers);
    on("notice", (notice) => { $("notice").textContent = notice.detail; $("notice").hidden = false; });
    on("ping", (ping) => { page.clockOffset = ping.now * 1000 - Date.now(); });
    source.onerror = () => {
      linkState(false);
      if (source.readyState === EventSource.CLOSED) {
        // Refused (an HTTP error) or unreachable: EventSource gives up then; try again, more slowly each time.
        setTimeout(() => { if (page.source === source) connect(); }, page.retryMs);
        page.retryMs = Math.min(page.retryMs * 2, 30000);
      }
    };
  }

  setInterval(() => {
    tick();
    if (page.source && Date.now() - page.lastMessageAt > STALE_MS) {
      page.lastMessageAt = Date.now();
      linkState(false);
      connect(); // a connection that went silent (a dropped network TCP has not noticed yet)
    }
  }, 1000);

  // -- search within the meeting shown ---------------------------------------------------------------

  function query() {
    return $("search").hidden ? "" : $("search-input").value.trim().toLowerCase();
  }
  function applySearchTo(li) {
    const q = query();
    const text = li.querySelector(".text");
    const u = li._utterance;
    if (!u) return false;
    text.replaceChildren();
    if (!q) {
      text.textContent = u.text;
      li.hidden = false;
      return false;
    }
    const hay = u.text.toLowerCase();
    const names = li.closest("#past-lines") ? page.viewNames : page.names;
    const found = hay.includes(q) || nameOf(u, names).toLowerCase().includes(q);
    li.hidden = !found;
    let at = 0;
    for (let i = hay.indexOf(q); q && i >= 0; i = hay.indexOf(q, i + q.length)) {
      text.append(u.text.slice(at, i));
      const m = document.createElement("mark");
      m.textContent = u.text.slice(i, i + q.length);
      text.append(m);
      at = i + q.length;
    }
    text.append(u.text.slice(at));
    return found;
  }
  function applySearch() {
    const list = page.viewing ? $("past-lines") : $("lines");
    let found = 0;
    for (const li of list.querySelectorAll("li.line")) found += applySearchTo(li) ? 1 : 0;
    for (const li of list.querySelectorAll("li.divider")) li.hidden = Boolean(query());
    $("search-count").textContent = query() ? `${found} line${found === 1 ? "" : "s"}` : "";
  }

  // -- past meetings ---------------------------------------------------------------------------------

  const FORMATS = ["txt", "md", "jsonl", "vtt", "srt"];
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

  async function loadMeetings() {
    const list = $("meeting-list");
    $("meetings-note").textContent = "Loading…";
    try {
      const response = await fetch("/api/meetings", { credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      list.replaceChildren(...body.meetings.map(meetingItem));
      $("meetings-note").textContent = body.meetings.length ? "" : "No meetings in the archive.";
    } catch (error) {
      $("meetings-note").textContent = `The meetings cannot be listed: ${error.message}`;
    }
  }

  function meetingItem(m) {
    const li = document.createElement("li");
    const start = new Date(m.start);
    const title = document.createElement("button");
    title.type = "button";
    title.className = "open";
    const length = m.end ? duration((new Date(m.end) - start) / 1000) : "running";
    title.textContent = `${start.toLocaleString()} · ${length} · ${m.utterances} lines`;
    title.addEventListener("click", () => openMeeting(m));
    const downloads = document.createElement("span");
    downloads.className = "downloads";
    for (const fmt of FORMATS) {
      const a = document.createElement("a");
      a.href = `/api/meetings/${encodeURIComponent(m.meeting_id)}/export/${fmt}?tz=${encodeURIComponent(zone)}`;
      a.textContent = fmt;
      a.setAttribute("download", "");
      downloads.append(a);
    }
    li.append(title, downloads);
    return li;
  }

  async function openMeeting(m) {
    const response = await fetch(`/api/meetings/${encodeURIComponent(m.meeting_id)}`, { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) {
      $("meetings-note").textContent = body.error || response.statusText;
      return;
    }
    page.viewing = body.meeting;
    takeNames(page.viewNames, body.meeting.speakers);
    const list = $("past-lines");
    list.replaceChildren();
    let epoch = null;
    for (const u of body.utterances) {
      if (epoch !== null && u.speaker_epoch !== epoch) list.append(divider("Speaker labels restart here."));
      epoch = u.speaker_epoch;
      list.append(lineFor(u, page.viewNames));
    }
    $("viewing-title").textContent = `Meeting of ${new Date(m.start).toLocaleString()} (${body.utterances.length} lines)`;
    setViewing(true);
  }

  function setViewing(on) {
    if (!on) page.viewing = null;
    $("viewing").hidden = !on;
    $("past-lines").hidden = !on;
    $("lines").hidden = on;
    $("partial").hidden = on || !$("partial").querySelector(".text").textContent;
    panel("meetings", false);
    applySearch();
    updateEmpty();
    tick();
    if (!on) { page.stick = true; followOrCount(0); }
  }

  // -- controls --------------------------------------------------------------------------------------

  const TOKEN_KEY = "roomscribe.commandToken";
  function commandToken() {
    return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
  }
  function takeTokenFromAddress() {
    // A kiosk can be set up with …/#command_token=TOKEN: the fragment never reaches a server or a log.
    const match = /(?:^#|&)command_token=([^&]+)/.exec(location.hash);
    if (!match) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function post(name, payload, token) {
    return fetch(`/api/commands/${name}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
  }

  async function command(name) {
    const result = $("command-result");
    const token = commandToken();
    if (!token) {
      result.textContent = "Enter the command token first.";
      return;
    }
    result.textContent = `${name}…`;
    try {
      const response = await post(name, {}, token);
      const body = await response.json();
      if (response.ok) {
        result.textContent = `${name}: the daemon says ${body.state.state}.`;
      } else if (response.status === 409) {
        result.textContent = `${name} refused: ${body.refused.detail.reason}`;
      } else {
        result.textContent = `${name} not sent (${response.status}): ${body.error}`;
      }
    } catch (error) {
      result.textContent = `${name} failed: ${error.message}`;
    }
  }

  // -- naming a voice: a click on a speaker's name, with the command token --------------------------------

  function openNaming(li) {
    const u = li && li._utterance;
    if (!u || !page.controls) return;
    if (!commandToken()) {
      panel("controls", true);
      $("command-result").textContent = "Enter the command token to name voices.";
      return;
    }
    const names = page.viewing ? page.viewNames : page.names;
    page.naming = { meeting_id: u.meeting_id, speaker_epoch: u.speaker_epoch, speaker: u.speaker };
    $("naming-label").textContent = u.speaker;
    const current = nameOf(u, names);
    $("naming-input").value = current === u.speaker ? "" : current;
    $("naming-result").textContent = "";
    panel("naming", true);
    $("naming-input").focus();
  }

  async function sendName(name) {
    const result = $("naming-result");
    const token = commandToken();
    if (!token) {
      result.textContent = "Enter the command token under Controls first.";
      return;
    }
    const voice = page.naming;
    if (!voice) return;
    result.textContent = "Naming…";
    try {
      const response = await post("name", { ...voice, name }, token);
      const body = await response.json();
      if (response.ok) {
        const named = body.named.detail;
        result.textContent = named.name ? `${named.speaker} is ${named.name}.` : `${named.speaker} has no name now.`;
        panel("naming", false);
      } else if (response.status === 409) {
        result.textContent = `Not named: ${body.refused.detail.reason}`;
      } else {
        result.textContent = `Not sent (${response.status}): ${body.error}`;
      }
    } catch (error) {
      result.textContent = `Naming failed: ${error.message}`;
    }
  }

  // -- panels and modes ------------------------------------------------------------------------------

  function panel(id, open) {
    $(id).hidden = !open;
    const toggler = $(`${id}-toggle`);
    if (toggler) toggler.setAttribute("aria-expanded", String(open));
  }
  function toggle(id) {
    const open = $(id).hidden;
    panel(id, open);
    return open;
  }
  function setLarge(on, remember) {
    document.documentElement.classList.toggle("large", on);
    $("large-toggle").setAttribute("aria-pressed", String(on));
    if (remember) localStorage.setItem("roomscribe.large", on ? "1" : "0");
    followOrCount(0);
  }

  function init() {
    takeTokenFromAddress();
    const params = new URLSearchParams(location.search);
    setLarge(params.has("large") ? params.get("large") !== "0" : localStorage.getItem("roomscribe.large") === "1", false);
    $("large-toggle").addEventListener("click", () => setLarge(!document.documentElement.classList.contains("large"), true));
    $("search-toggle").addEventListener("click", () => { if (toggle("search")) $("search-input").focus(); applySearch(); });
    $("search-input").addEventListener("input", applySearch);
    $("meetings-toggle").addEventListener("click", () => { if (toggle("meetings")) loadMeetings(); });
    $("controls-toggle").addEventListener("click", () => toggle("controls"));
    $("back-live").addEventListener("click", () => setViewing(false));
    $("jump").addEventListener("click", () => { page.stick = true; followOrCount(0); onScroll(); });
    scroller().addEventListener("scroll", onScroll, { passive: true });
    for (const button of document.querySelectorAll("[data-command]")) {
      button.addEventListener("click", () => command(button.dataset.command));
    }
    for (const list of [$("lines"), $("past-lines")]) {
      list.addEventListener("click", (e) => {
        const who = e.target.closest(".who");
        if (who) openNaming(who.closest("li.line"));
      });
    }
    $("naming-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("naming-input").value.trim();
      if (value) sendName(value);
      else $("naming-result").textContent = "Type a name, or use Remove name.";
    });
    $("naming-remove").addEventListener("click", () => sendName(null));
    $("naming-cancel").addEventListener("click", () => panel("naming", false));
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("token-input").value.trim();
      sessionStorage.removeItem(TOKEN_KEY);
      localStorage.removeItem(TOKEN_KEY);
      if (value) ($("token-remember").checked ? localStorage : sessionStorage).setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      $("command-result").textContent = value ? "Token set." : "Token removed.";
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
