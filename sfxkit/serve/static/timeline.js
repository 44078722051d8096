// The timeline editor of the review page: one lane per stem (BG, FX, GEN) under the video, the
// cues as blocks at their positions with their waveforms and names, shot boundaries and their
// transitions, a playhead synced both ways with the video, mute/solo per lane, zoom; per cue
// (the inspector, for layered soundtracks) candidates, swap, search, decision, gain, offset,
// blend share; spots added and deleted at the playhead; the mix previewed with Web Audio as the
// export makes it (mixpreview.js).
// Plain JavaScript and DOM, no library.
(function () {
  "use strict";
  var R = window.sfxReview, cfg = R.cfg, tl = cfg.timeline, session = R.session;
  var layered = tl.layers === "auto";
  var video = document.getElementById("picture");
  var tracks = document.getElementById("tracks"), ruler = document.getElementById("ruler");
  var playhead = document.getElementById("playhead"), clock = document.getElementById("clock");
  var zoom = document.getElementById("zoom"), inspector = document.getElementById("inspector");
  var pps = parseFloat(zoom.value);  // pixels per second
  var lanes = {};
  var selected = null;

  document.querySelectorAll(".lane").forEach(function (el) {
    var head = document.querySelector('.lane-head[data-lane="' + el.dataset.lane + '"]');
    lanes[el.dataset.lane] = {el: el, head: head, track: el.querySelector(".track"), mute: false, solo: false};
  });

  // ------------------------------------------------------------------ the cues and their choices
  function addedCue(i) {
    var a = session.added[i];
    return {key: "added-" + i, role: "spot", start: Math.max(a.at - 0.01, 0),
            end: Math.min(a.at + tl.spot_length, tl.duration), decision: "retrieve",
            candidates: spotCandidates(), added: i, plain: "A spot placed by hand.", reason: ""};
  }
  // what a spot placed by hand may use: every planned spot's candidates, once each
  function spotCandidates() {
    var seen = {}, out = [];
    tl.cues.forEach(function (c) {
      if (c.role !== "spot") { return; }
      c.candidates.forEach(function (r) { if (!seen[r.id]) { seen[r.id] = 1; out.push(r); } });
    });
    return out;
  }
  function allCues() {
    var out = tl.cues.slice();
    for (var i = 0; i < session.added.length; i++) { out.push(addedCue(i)); }
    return out;
  }
  function cueByKey(key) {
    return allCues().filter(function (c) { return c.key === key; })[0];
  }
  // the stored choice of a cue: shots[N] for a shot, cues[KEY] for a bed or a planned spot,
  // added[I] for a spot placed by hand
  function choiceOf(cue, create) {
    if (cue.added !== undefined) { return session.added[cue.added]; }
    var store = cue.role === "shot" ? R.choices : session.cues;
    var id = cue.role === "shot" ? String(cue.shot) : cue.key;
    if (!store[id] && create) {
      store[id] = {decision: null, sound: null, gain_db: 0, offset: 0, blend: null};
      if (cue.role !== "shot") { store[id].deleted = false; }
    }
    return store[id] || {};
  }
  function decisionOf(cue) { return choiceOf(cue).decision || cue.decision; }
  function soundOf(cue) {
    var c = choiceOf(cue);
    return c.sound || (cue.candidates[0] && cue.candidates[0].id) || null;
  }
  function titleOf(cue, id) {
    var all = cue.candidates.concat(extraRecs);
    tl.cues.forEach(function (c) { all = all.concat(c.candidates); });
    var hit = all.filter(function (r) { return r.id === id; })[0];
    return hit ? hit.title : (id || "");
  }
  var extraRecs = [];  // results seen in searches: their titles name the blocks
  // how long a block is: a spot lasts as long as its sound (up to its cue), a bed or a shot
  // fills its span (a bed loops its sound)
  function lengthOf(cue) {
    var span = cue.end - cue.start;
    if (cue.role !== "spot") { return Math.min(span, tl.duration - startOf(cue)); }
    var id = soundOf(cue), all = cue.candidates.concat(extraRecs);
    tl.cues.forEach(function (c) { all = all.concat(c.candidates); });
    var hit = all.filter(function (r) { return r.id === id; })[0];
    return hit ? Math.min(span, hit.duration + 0.01) : span;
  }
  function laneOf(cue) {
    var d = decisionOf(cue);
    if (d === "generate" || d === "blend") { return "GEN"; }
    return cue.role === "bed" ? "BG" : "FX";
  }
  // where a cue's block sits: a spot (planned or added) moves with its offset; a bed's or a
  // shot's sound moves inside its span, shown by moving the block
  function startOf(cue) { return cue.start + (cue.added !== undefined ? 0 : (choiceOf(cue).offset || 0)); }
  function audible(lane) {
    var anySolo = Object.keys(lanes).some(function (k) { return lanes[k].solo; });
    return anySolo ? lanes[lane].solo : !lanes[lane].mute;
  }

  // ------------------------------------------------------------------------- drawing
  function render() {
    var width = Math.max(tl.duration * pps, 200);
    tracks.style.width = width + "px";
    ruler.innerHTML = "";
    for (var t = 0; t <= tl.duration + 1e-6; t += tickStep()) {
      var tick = document.createElement("span");
      tick.className = "tick"; tick.style.left = (t * pps) + "px"; tick.textContent = t.toFixed(tickStep() < 1 ? 1 : 0) + " s";
      ruler.appendChild(tick);
    }
    tracks.querySelectorAll(".boundary").forEach(function (b) { b.remove(); });
    tl.shots.forEach(function (s) {
      var b = document.createElement("div");
      b.className = "boundary " + s.transition; b.dataset.shot = s.index;
      b.style.left = (s.start * pps) + "px";
      b.title = "shot " + s.index + " (" + s.transition + ") at " + s.start.toFixed(2) + " s";
      var label = document.createElement("span"); label.textContent = s.index + (s.transition === "cut" || s.transition === "start" ? "" : " " + s.transition);
      b.appendChild(label);
      tracks.appendChild(b);
    });
    Object.keys(lanes).forEach(function (k) { lanes[k].track.innerHTML = ""; lanes[k].rows = []; });
    // overlapping blocks of a lane stack in rows (spots close together), the lane grows
    var placed = allCues().map(function (cue) {
      return {cue: cue, lane: laneOf(cue), start: startOf(cue), end: startOf(cue) + lengthOf(cue)};
    }).sort(function (a, b) { return a.start - b.start; });
    placed.forEach(function (p) {
      var rows = lanes[p.lane].rows, r = 0;
      while (r < rows.length && rows[r] > p.start + 1e-6) { r++; }
      rows[r] = p.end; p.row = r;
    });
    Object.keys(lanes).forEach(function (k) {
      var n = Math.max(1, lanes[k].rows.length), h = n === 1 ? 48 : n * 26 + 6;
      lanes[k].el.style.height = h + "px";
      lanes[k].head.style.height = h + "px";
    });
    placed.forEach(function (p) {
      var cue = p.cue, c = choiceOf(cue), lane = p.lane, block = document.createElement("div");
      var stacked = lanes[lane].rows.length > 1;
      block.className = "cue-block " + cue.role + " " + decisionOf(cue) + (c.deleted ? " deleted" : "") +
        (selected === cue.key ? " selected" : "");
      block.dataset.key = cue.key; block.dataset.role = cue.role;
      block.dataset.sound = soundOf(cue) || "";
      block.dataset.start = startOf(cue).toFixed(3);
      block.dataset.row = p.row;
      block.style.left = (startOf(cue) * pps) + "px";
      block.style.width = Math.max(lengthOf(cue) * pps, 4) + "px";
      block.style.top = (stacked ? 3 + p.row * 26 : 5) + "px";
      block.style.height = (stacked ? 24 : 38) + "px";
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(Math.round(lengthOf(cue) * pps), 4); canvas.height = stacked ? 22 : 36;
      canvas.style.height = canvas.height + "px";
      block.appendChild(canvas);
      // the block shows what it plays: the generated sound once there is one, else the catalog's
      var d = decisionOf(cue), made = generatedOf(cue), name = document.createElement("span");
      name.className = "name";
      name.textContent = (cue.role === "shot" ? "shot " + cue.shot : cue.key) + " · " +
        (d === "silence" ? "silence" : d === "generate" ? (made ? "generated" : "to generate") : titleOf(cue, soundOf(cue)));
      block.appendChild(name);
      block.title = name.textContent + " (" + d + ")";
      lanes[lane].track.appendChild(block);
      var wave = d === "generate" ? made : (d !== "silence" && soundOf(cue) ? cfg.audio_base + soundOf(cue) + cfg.token_q : null);
      if (wave) {
        R.drawWave(canvas, wave, lengthOf(cue), lane === "BG" ? "#1565c0" : lane === "GEN" ? "#6a1b9a" : "#2e7d32");
      }
      wireBlock(block, cue);
    });
    Object.keys(lanes).forEach(function (k) {
      var l = lanes[k];
      l.el.classList.toggle("muted", !audible(k));
      l.head.classList.toggle("muted", !audible(k));
      l.el.dataset.audible = audible(k) ? "1" : "0";
      l.head.querySelector(".mute").classList.toggle("on", l.mute);
      l.head.querySelector(".solo").classList.toggle("on", l.solo);
    });
    movePlayhead();
  }
  function tickStep() { return pps >= 150 ? 0.5 : pps >= 60 ? 1 : pps >= 25 ? 2 : 5; }
  function movePlayhead() {
    playhead.style.left = (video.currentTime * pps) + "px";
    clock.textContent = video.currentTime.toFixed(2) + " s";
  }

  // ------------------------------------------------------------------ editing on the timeline
  function wireBlock(block, cue) {
    block.addEventListener("pointerdown", function (e) {
      e.stopPropagation();
      var x0 = e.clientX, from = choiceOf(cue).offset || 0, moved = false;
      block.setPointerCapture(e.pointerId);
      function move(ev) {
        var dx = ev.clientX - x0;
        if (Math.abs(dx) > 2) { moved = true; }
        if (moved && cue.added === undefined) {
          var off = Math.max(-10, Math.min(10, from + dx / pps));
          block.style.left = ((cue.start + off) * pps) + "px";
          block.dataset.pending = off.toFixed(3);
        } else if (moved) {
          block.style.left = ((cue.start + dx / pps) * pps) + "px";
        }
      }
      function up(ev) {
        block.removeEventListener("pointermove", move);
        block.removeEventListener("pointerup", up);
        if (!moved) { select(cue.key); return; }
        var dx = ev.clientX - x0;
        if (cue.added !== undefined) {  // an added spot moves its onset
          var a = session.added[cue.added];
          a.at = Math.round(Math.max(0, Math.min(tl.duration - 0.01, a.at + dx / pps)) * 1000) / 1000;
        } else {
          var c = choiceOf(cue, true);
          c.offset = Math.round(Math.max(-10, Math.min(10, from + dx / pps)) * 1000) / 1000;
          syncSection(cue);
        }
        selected = cue.key;
        R.save().then(function () { render(); showInspector(); });
      }
      block.addEventListener("pointermove", move);
      block.addEventListener("pointerup", up);
    });
  }
  // a shot's section (below the timeline) shows the same offset as its block
  function syncSection(cue) {
    if (cue.role !== "shot") { return; }
    var section = document.querySelector('section.shot[data-shot="' + cue.shot + '"]');
    if (section) { section.querySelector(".offset").value = choiceOf(cue).offset || 0; }
  }
  function seekTo(e) {
    var rect = tracks.getBoundingClientRect();
    var t = Math.max(0, Math.min(tl.duration, (e.clientX - rect.left) / pps));
    video.currentTime = t; movePlayhead();
  }
  tracks.addEventListener("pointerdown", function (e) { if (e.target.closest(".cue-block")) { return; } seekTo(e); });
  ruler.addEventListener("pointerdown", seekTo);
  video.addEventListener("timeupdate", movePlayhead);
  video.addEventListener("seeked", function () { movePlayhead(); if (!video.paused) { startPreview(); } });
  video.addEventListener("play", function () { startPreview(); tick(); });
  video.addEventListener("pause", stopPreview);
  function tick() { movePlayhead(); if (!video.paused) { requestAnimationFrame(tick); } }
  zoom.addEventListener("input", function () { pps = parseFloat(zoom.value); render(); });
  Object.keys(lanes).forEach(function (k) {
    var l = lanes[k];
    l.head.querySelector(".mute").addEventListener("click", function () { l.mute = !l.mute; render(); startPreview(); });
    l.head.querySelector(".solo").addEventListener("click", function () { l.solo = !l.solo; render(); startPreview(); });
  });
  document.getElementById("play").addEventListener("click", togglePlay);
  function togglePlay() { if (video.paused) { video.play(); } else { video.pause(); } }

  function select(key) {
    selected = key;
    render();
    var cue = cueByKey(key);
    if (cue && cue.role === "shot") {
      var section = document.querySelector('section.shot[data-shot="' + cue.shot + '"]');
      if (section) { section.scrollIntoView({block: "nearest"}); section.classList.add("flash"); setTimeout(function () { section.classList.remove("flash"); }, 800); }
    }
    showInspector();
  }

  document.getElementById("add-spot").addEventListener("click", addSpot);
  document.getElementById("delete-cue").addEventListener("click", deleteCue);
  function addSpot() {
    var cur = selected && cueByKey(selected);
    var sound = cur && cur.role === "spot" ? soundOf(cur) : null;
    var spots = tl.cues.filter(function (c) { return c.role === "spot" && c.candidates.length; });
    if (!sound && spots.length) { sound = spots[0].candidates[0].id; }
    if (!sound) { var any = tl.cues.filter(function (c) { return c.candidates.length; })[0]; sound = any && any.candidates[0].id; }
    if (!sound || !layered) { return; }
    session.added.push({at: Math.round(Math.min(video.currentTime, tl.duration - 0.01) * 1000) / 1000, sound: sound, gain_db: 0});
    selected = "added-" + (session.added.length - 1);
    R.save().then(function () { render(); showInspector(); });
  }
  function deleteCue() {
    var cue = selected && cueByKey(selected);
    if (!cue || cue.role === "shot") { return; }
    if (cue.added !== undefined) { session.added.splice(cue.added, 1); selected = null; }
    else { var c = choiceOf(cue, true); c.deleted = !c.deleted; }
    R.save().then(function () { render(); showInspector(); });
  }

  // ------------------------------------------------------------------------ the inspector
  function field(label, input) {
    var l = document.createElement("label"); l.textContent = label + " "; l.appendChild(input); return l;
  }
  function showInspector() {
    var cue = selected && cueByKey(selected);
    if (!layered || !cue) { inspector.hidden = true; return; }
    inspector.hidden = false; inspector.innerHTML = "";
    inspector.dataset.key = cue.key;
    var c = choiceOf(cue);
    var h = document.createElement("h2");
    h.textContent = cue.key + " · " + cue.role + " · " + startOf(cue).toFixed(2) + "–" + (startOf(cue) + cue.end - cue.start).toFixed(2) + " s" + (c.deleted ? " · deleted" : "");
    inspector.appendChild(h);
    var p = document.createElement("p"); p.textContent = cue.plain; inspector.appendChild(p);
    var row = document.createElement("div"); row.className = "controls"; inspector.appendChild(row);
    if (cue.added === undefined) {
      var dec = document.createElement("select"); dec.className = "insp-decision";
      [["", "as suggested (" + cue.decision + ")"], ["retrieve", "retrieve"], ["generate", "generate"], ["blend", "blend"], ["silence", "silence"]].forEach(function (o) {
        var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1]; dec.appendChild(opt);
      });
      dec.value = c.decision || "";
      dec.addEventListener("change", function () { choiceOf(cue, true).decision = dec.value || null; commit(); });
      row.appendChild(field("Decision", dec));
    }
    var gain = document.createElement("input"); gain.type = "number"; gain.step = "0.5"; gain.min = "-60"; gain.max = "24";
    gain.className = "insp-gain"; gain.value = c.gain_db || 0;
    gain.addEventListener("change", function () { choiceOf(cue, true).gain_db = parseFloat(gain.value) || 0; commit(); });
    row.appendChild(field("Gain dB", gain));
    var off = document.createElement("input"); off.type = "number"; off.step = "0.05"; off.min = "-10"; off.max = "10";
    off.className = "insp-offset";
    off.value = cue.added !== undefined ? c.at : (c.offset || 0);
    off.addEventListener("change", function () {
      var v = parseFloat(off.value) || 0;
      if (cue.added !== undefined) { c.at = Math.max(0, Math.min(tl.duration - 0.01, v)); } else { choiceOf(cue, true).offset = Math.max(-10, Math.min(10, v)); }
      commit();
    });
    row.appendChild(field(cue.added !== undefined ? "At s" : "Offset s", off));
    if (cue.added === undefined) {
      var blend = document.createElement("input"); blend.type = "range"; blend.min = "0"; blend.max = "100"; blend.step = "5";
      blend.className = "insp-blend"; blend.value = c.blend === null || c.blend === undefined ? 50 : Math.round(c.blend * 100);
      blend.disabled = decisionOf(cue) !== "blend";
      var shown = document.createElement("output"); shown.className = "insp-blend-value"; shown.textContent = blend.value + "%";
      blend.addEventListener("input", function () { shown.textContent = blend.value + "%"; });
      blend.addEventListener("change", function () { choiceOf(cue, true).blend = parseInt(blend.value, 10) / 100; commit(); });
      var bl = field("Blend: catalog", blend); bl.appendChild(document.createTextNode(" generated ")); bl.appendChild(shown);
      row.appendChild(bl);
    }
    if (cue.added === undefined) {
      var gen = document.createElement("button"); gen.className = "insp-generate"; gen.textContent = "Generate a sound";
      gen.title = "Generate this cue's sound as the export would, to audition it";
      var genState = document.createElement("span"); genState.className = "insp-generate-state";
      genState.textContent = genStates[cue.key] || "";
      gen.addEventListener("click", function () { generateFor(cue); });
      row.appendChild(gen); row.appendChild(genState);
    }
    var del = document.createElement("button"); del.className = "insp-delete";
    del.textContent = c.deleted ? "Restore cue" : "Delete cue"; del.addEventListener("click", deleteCue);
    row.appendChild(del);
    var search = document.createElement("input"); search.className = "insp-search-text"; search.placeholder = "search the catalog by text";
    var go = document.createElement("button"); go.className = "insp-search"; go.textContent = "Search";
    go.addEventListener("click", function () {
      if (!search.value) { return; }
      var form = new FormData(); form.append("text", search.value); form.append("k", "5");
      var hd = {"X-Sfxkit": "1"}; if (cfg.token) { hd["Authorization"] = "Bearer " + cfg.token; }
      fetch("/api/recommend/text", {method: "POST", headers: hd, body: form}).then(function (r) { return r.json(); })
        .then(function (ans) { results(cue, "search", "Search “" + search.value + "”", ans.results[0].recommendations); });
    });
    row.appendChild(search); row.appendChild(go);
    var list = document.createElement("div"); list.className = "cands"; inspector.appendChild(list);
    if (R.generated[cue.key]) { list.appendChild(generatedRow(cue, R.generated[cue.key])); }
    var shownIds = {};
    cue.candidates.forEach(function (r) { shownIds[r.id] = 1; list.appendChild(candidate(cue, r)); });
    var mine = choiceOf(cue).sound;
    if (mine && !shownIds[mine]) {
      var known = extraRecs.filter(function (r) { return r.id === mine; })[0];
      if (known) { list.prepend(candidate(cue, known)); }
    }
  }
  // a generated sound of a cue (a generate job's output): audition it, use it
  var genStates = {};
  function generateFor(cue) {
    genStates[cue.key] = "generating…"; showInspector();
    var state = inspector.querySelector(".insp-generate-state");
    state.dataset.state = "running";
    R.save().then(function () {
      return R.api("POST", "/api/review/generate", {video: cfg.video, out: cfg.out, cue: cue.key, options: cfg.options});
    }).then(function (job) {
      R.follow(job.id, function (j) {
        if (j.state === "done") {
          R.generated[cue.key] = R.jobFile(j.id, cue.key + "-generated.wav");
          genStates[cue.key] = "generated: listen to it below";
          render();
        } else if (j.state !== "running" && j.state !== "queued") {
          genStates[cue.key] = j.state + (j.error ? ": " + j.error : "");
        }
        if (selected === cue.key) { showInspector(); }
        var st = inspector.querySelector(".insp-generate-state");
        if (st) { st.dataset.state = j.state; }
      });
    }).catch(function (err) {
      genStates[cue.key] = "error: " + err.message;
      if (selected === cue.key) { showInspector(); }
      var st = inspector.querySelector(".insp-generate-state"); if (st) { st.dataset.state = "failed"; }
    });
  }
  function generatedRow(cue, url) {
    var row = document.createElement("div");
    row.className = "cand generated" + (decisionOf(cue) === "generate" ? " chosen" : "");
    row.innerHTML = '<button class="use">Use</button><audio controls preload="none"></audio>' +
      '<canvas class="wave" width="160" height="32"></canvas><span>generated for this cue</span>';
    row.querySelector("audio").src = url;
    R.drawWave(row.querySelector("canvas"), url);
    row.querySelector(".use").addEventListener("click", function () { choiceOf(cue, true).decision = "generate"; commit(); });
    return row;
  }
  function commit() { R.save().then(function () { render(); showInspector(); }); }
  function candidate(cue, rec) {
    var row = document.createElement("div");
    row.className = "cand" + (rec.id === soundOf(cue) ? " chosen" : ""); row.dataset.id = rec.id;
    row.innerHTML = '<button class="use">Use</button><audio controls preload="none"></audio>' +
      '<canvas class="wave" width="160" height="32"></canvas><span class="words"></span>' +
      '<button class="similar">More like this</button>';
    row.querySelector("audio").src = cfg.audio_base + rec.id + cfg.token_q;
    R.describe(row.querySelector(".words"), rec);
    R.drawWave(row.querySelector("canvas"), row.querySelector("audio").src);
    row.querySelector(".use").addEventListener("click", function () {
      var c = choiceOf(cue, true);
      c.sound = rec.id;
      if (cue.added === undefined && c.decision !== "retrieve" && c.decision !== "blend" && decisionOf(cue) !== "retrieve" && decisionOf(cue) !== "blend") { c.decision = "retrieve"; }
      commit();
    });
    row.querySelector(".similar").addEventListener("click", function () {
      R.api("POST", "/api/recommend/similar", {id: rec.id, k: 5}).then(function (ans) {
        results(cue, "similar", "More like “" + rec.title + "”", ans.results[0].recommendations);
      });
    });
    return row;
  }
  function results(cue, kind, heading, recs) {
    extraRecs = extraRecs.concat(recs);
    var block = document.createElement("div"); block.className = "results"; block.dataset.kind = kind;
    var h = document.createElement("h3"); h.textContent = heading + " (" + recs.length + ")"; block.appendChild(h);
    recs.forEach(function (r) { var row = candidate(cue, r); row.classList.add("result"); row.dataset.rank = r.rank; block.appendChild(row); });
    inspector.querySelector(".cands").after(block);
  }

  // --------------------------------------------------------------------------- keyboard
  var DECISION_KEYS = {r: "retrieve", g: "generate", b: "blend", s: "silence"};
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === " ") { e.preventDefault(); togglePlay(); return; }
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      var order = allCues().sort(function (a, b) { return startOf(a) - startOf(b) || a.key.localeCompare(b.key); });
      var at = order.map(function (c) { return c.key; }).indexOf(selected);
      var next = e.key === "ArrowRight" ? Math.min(order.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
      if (order[next]) { video.currentTime = startOf(order[next]); select(order[next].key); }
      return;
    }
    if (e.key === "Delete" || e.key === "Backspace") { deleteCue(); return; }
    var d = DECISION_KEYS[e.key];
    var cue = selected && cueByKey(selected);
    if (d && cue && cue.added === undefined) {
      choiceOf(cue, true).decision = d;
      if (cue.role === "shot") {
        var section = document.querySelector('section.shot[data-shot="' + cue.shot + '"]');
        if (section) { section.querySelector(".choose-decision").value = d; section.querySelector("input.blend").disabled = d !== "blend"; }
      }
      commit();
    }
  });

  // ------------------------------------------------------------ the mix, previewed (Web Audio)
  // Every cue's sound fitted, shaped, blended, levelled and faded as the export makes it
  // (mixpreview.js), from the catalog's files and the sounds generated on this page, and the
  // whole normalised to the loudness target. A muted or soloed lane changes what plays, not the
  // gain the mix is normalised with (the export has every lane).
  var M = window.sfxMix, mix = tl.mix, audio = null, playing = [], previewRun = 0;
  var previewBox = document.getElementById("preview-mix"), previewNote = document.getElementById("preview-note");
  var decoder = null, buffers = {}, stems = {};
  function decoded(url) {
    decoder = decoder || new (window.OfflineAudioContext || window.webkitOfflineAudioContext)(1, 1, mix.sample_rate);
    if (!buffers[url]) {
      buffers[url] = fetch(url).then(function (r) {
        if (!r.ok) { throw new Error(url.split("?")[0] + ": " + r.status); }
        return r.arrayBuffer();
      }).then(function (b) { return decoder.decodeAudioData(b); }).then(function (ab) {
        var chs = [];
        for (var c = 0; c < ab.numberOfChannels; c++) { chs.push(ab.getChannelData(c)); }
        return chs;
      });
      buffers[url].catch(function () { delete buffers[url]; });
    }
    return buffers[url];
  }
  function generatedOf(cue) { return R.generated[cue.role === "shot" ? "shot-" + cue.shot : cue.key] || null; }
  // what the export makes of a cue: its span, its layers (which sound, at which gain), its level
  function cuePlan(cue) {
    var c = choiceOf(cue), d = cue.added !== undefined ? "retrieve" : decisionOf(cue);
    if (c.deleted || d === "silence") { return null; }
    var id = cue.added !== undefined ? c.sound : soundOf(cue), gen = generatedOf(cue), t;
    if (cue.role === "spot") {  // a spot moves with its onset, and its span with it
      var at = cue.added !== undefined ? c.at : cue.onset + (c.offset || 0);
      at = Math.min(Math.max(at, 0), tl.duration - 1e-3);
      t = {start: Math.max(at - mix.spot_preroll, 0), end: Math.min(at + mix.spot_length, tl.duration), onset: at};
    } else {
      t = {start: cue.start, end: cue.end};
    }
    var share = c.blend === null || c.blend === undefined ? null : M.shareGainsDb(c.blend);
    var gains = d === "blend" ? (share || mix.blend_gains_db) : [0, 0], layers = [], missing = false;
    if ((d === "retrieve" || d === "blend") && id) { layers.push({kind: "retrieved", url: cfg.audio_base + id + cfg.token_q, gainDb: gains[0]}); }
    if (d === "generate" || d === "blend") {
      if (gen) { layers.push({kind: "generated", url: gen, gainDb: gains[1]}); } else { missing = true; }
    }
    return {role: cue.role, t: t, offset: cue.role === "spot" ? 0 : (c.offset || 0), layers: layers, missing: missing,
            gainDb: (cue.role === "bed" ? mix.bed_level_db : 0) + (c.gain_db || 0),
            blend: d === "blend" ? mix.blend_mode : "layer", shot: cue.shot};
  }
  function fitMode(seconds, span) {
    if (mix.fit !== "auto") { return mix.fit; }
    return mix.loop_min <= seconds && seconds < span ? "loop" : "trim";
  }
  // one layer fitted to its cue as the soundtrack fits it for the cue's role
  function shaped(plan, kind, x) {
    var sr = mix.sample_rate, span = plan.t.end - plan.t.start, seconds = x[0].length / sr, y;
    if (plan.role === "bed") {  // one sound under the scene, carried into the next bed's crossfade
      var total = span + mix.bed_crossfade / 2;
      y = M.fitToShot(x, sr, total, kind === "generated" ? (seconds < total ? "loop" : "trim") : fitMode(seconds, span), null, false);
      return M.nudge(y, sr, plan.offset);
    }
    if (plan.role === "spot") {  // from the event's onset, with the delivery's handles
      if (kind === "generated") { return M.fitToShot(x, sr, span, "trim", null, false); }
      return M.fitToShot(x, sr, span + mix.handles, "trim", plan.t.onset - plan.t.start, mix.align);
    }
    // a shot: with its crossfade handle, aligned to the shot's motion onset, following motion
    var motion = (tl.shots.filter(function (s) { return s.index === plan.shot; })[0] || {}).motion, handle = mix.crossfade / 2;
    if (kind === "generated") { y = M.fitToShot(x, sr, span + handle, "trim", null, false); }
    else { y = M.fitToShot(x, sr, span + handle, fitMode(seconds, span), mix.align && motion ? motion.onset : null, true); }
    if (motion && mix.follow_motion) { y = M.motionEnvelope(y, sr, motion, mix.motion_floor_db); }
    if (motion && mix.pan) { y = M.panByMotion(y, sr, motion); }
    return kind === "retrieved" ? M.nudge(y, sr, plan.offset) : y;
  }
  // every cue's stem as the mix places it, the gain normalising the whole, what is not heard
  function prepare() {
    var total = Math.round(tl.duration * mix.sample_rate);
    var made = allCues().map(function (cue) {
      var plan = cuePlan(cue);
      if (!plan) { return Promise.resolve(null); }
      // one stem kept per cue, the one for its current choices (memory stays one mix's worth)
      var sig = JSON.stringify(plan), kept = stems[cue.key];
      if (kept && kept.sig === sig) { return Promise.resolve(kept); }
      return Promise.all(plan.layers.map(function (l) { return decoded(l.url); })).then(function (xs) {
        var st = M.cueStem({role: plan.role, start: plan.t.start, end: plan.t.end, gainDb: plan.gainDb, blend: plan.blend,
                            layers: xs.map(function (x, i) { return {x: shaped(plan, plan.layers[i].kind, x), gainDb: plan.layers[i].gainDb}; })},
                           mix, total);
        stems[cue.key] = {sig: sig, key: cue.key, lane: laneOf(cue), missing: plan.missing, at: st ? st.at : 0, audio: st ? st.audio : null};
        return stems[cue.key];
      }, function (err) { return {key: cue.key, lane: laneOf(cue), audio: null, error: String(err.message || err)}; });
    });
    return Promise.all(made).then(function (list) {
      list = list.filter(function (s) { return s; });
      var heard = list.filter(function (s) { return s.audio; });
      var all = M.sumStems(heard, total, mix.channels, function () { return true; });
      return {total: total, stems: heard, gain: M.normalising(all, mix),
              missing: list.filter(function (s) { return s.missing; }).map(function (s) { return s.key; }),
              errors: list.filter(function (s) { return s.error; }).map(function (s) { return s.key + ": " + s.error; })};
    });
  }
  function describePreview(p) {
    var words = "Previewing " + p.stems.length + " cue(s) as the export mixes them (its peak limiter aside).";
    if (p.missing.length) { words += " Not heard yet: " + p.missing.join(", ") + " (press Generate a sound on them)."; }
    if (p.errors.length) { words += " Could not load: " + p.errors.join("; ") + "."; }
    previewNote.textContent = words;
    previewNote.dataset.missing = p.missing.join(",");
  }
  function stopPreview() {
    previewRun++;
    playing.forEach(function (s) { try { s.stop(); } catch (err) { /* already stopped */ } });
    playing = [];
  }
  function startPreview() {
    stopPreview();
    if (!previewBox.checked || video.paused) { return; }
    var run = previewRun;
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") { audio.resume(); }
    previewBox.dataset.cues = "0";
    prepare().then(function (p) {
      if (run !== previewRun || video.paused) { return; }
      var now = video.currentTime, t0 = audio.currentTime + 0.05, sr = mix.sample_rate;
      var master = audio.createGain();
      master.gain.value = p.gain; master.connect(audio.destination);
      p.stems.forEach(function (s) {
        var start = s.at / sr, length = s.audio[0].length / sr;
        if (!audible(s.lane) || start + length <= now) { return; }
        var buf = audio.createBuffer(s.audio.length, s.audio[0].length, sr);
        s.audio.forEach(function (ch, k) { buf.copyToChannel(ch, k); });
        var src = audio.createBufferSource();
        src.buffer = buf; src.connect(master);
        src.start(t0 + Math.max(0, start - now), Math.max(0, now - start));
        playing.push(src);
      });
      previewBox.dataset.cues = String(playing.length);  // how many sounds are scheduled
      describePreview(p);
    });
  }
  previewBox.addEventListener("change", startPreview);
  // The preview as samples, for checking it against the export: the mono sum of the audible
  // lanes (every lane with {lanes: "all"}) at the mix's rate, normalised as the mix is, base64
  // float32 little-endian.
  function renderMix(opts) {
    var all = opts && opts.lanes === "all";
    return prepare().then(function (p) {
      var mono = M.mono(M.sumStems(p.stems, p.total, mix.channels, function (s) { return all || audible(s.lane); }));
      for (var i = 0; i < mono.length; i++) { mono[i] *= p.gain; }
      var bytes = new Uint8Array(mono.buffer), text = "";
      for (i = 0; i < bytes.length; i += 0x8000) { text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)); }
      describePreview(p);
      return {sample_rate: mix.sample_rate, gain: p.gain, samples: btoa(text),
              cues: p.stems.map(function (s) { return s.key; }), missing: p.missing, errors: p.errors};
    });
  }

  R.onSave(function () { render(); });
  render();
  window.sfxTimeline = {render: render, select: select, cues: allCues, audible: audible, renderMix: renderMix};
})();
