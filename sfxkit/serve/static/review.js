// The review page: choose per shot (sound, decision, blend share, nudges), audition a generated
// sound, save the choices to the session file, export as a job.
// Plain JavaScript, no library (nothing can be fetched from a CDN).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("review-config").textContent);
  var headers = {"X-Sfxkit": "1", "Content-Type": "application/json"};
  if (cfg.token) { headers["Authorization"] = "Bearer " + cfg.token; }
  var session = cfg.session;
  session.shots = session.shots || {}; session.cues = session.cues || {}; session.added = session.added || [];
  var choices = session.shots;

  function api(method, url, body) {
    return fetch(url, {method: method, headers: headers, body: body ? JSON.stringify(body) : undefined})
      .then(function (r) { return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.detail || r.statusText); } return j; }); });
  }
  // every save sends the whole session: per-shot choices, per-cue choices, added spots
  var saveHooks = [];
  function save() {
    return api("POST", "/api/review/session",
               {video: cfg.video, out: cfg.out, shots: choices, cues: session.cues, added: session.added})
      .then(function (j) { saveHooks.forEach(function (f) { f(j); }); return j; });
  }
  function choice(shot) { return choices[shot] || (choices[shot] = {decision: null, sound: null, gain_db: 0, offset: 0, blend: null}); }
  // the decision the export will apply: the chosen one, else the policy's suggestion
  function decisionOf(section) { var c = choices[section.dataset.shot] || {}; return c.decision || section.dataset.decision; }
  function setDecision(section, decision) {
    choice(section.dataset.shot).decision = decision;
    section.querySelector(".choose-decision").value = decision || "";
    refresh(section);
  }
  function refresh(section) {
    // the blend share matters only when the shot is blended
    section.querySelector("input.blend").disabled = decisionOf(section) !== "blend";
    mark(section);
  }
  function follow(jobId, onEvent) {
    var events = new EventSource("/api/jobs/" + jobId + "/events" + cfg.token_q);
    events.onmessage = function (m) {
      var j = JSON.parse(m.data);
      if (j.state === "done" || j.state === "failed" || j.state === "cancelled") { events.close(); }
      onEvent(j);
    };
  }
  function jobFile(jobId, name) { return "/api/jobs/" + jobId + "/files/" + name + cfg.token_q; }

  // the waveform of a sound, over its first `seconds` when given (a cue block shows what the
  // cue plays), else all of it
  function drawWave(canvas, url, seconds, colour) {
    fetch(url).then(function (r) { return r.arrayBuffer(); }).then(function (buf) {
      var ctx = new (window.OfflineAudioContext || window.webkitOfflineAudioContext)(1, 44100, 44100);
      return ctx.decodeAudioData(buf);
    }).then(function (audio) {
      var data = audio.getChannelData(0), g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
      var n = seconds ? Math.min(data.length, Math.round(seconds * audio.sampleRate)) : data.length;
      var step = Math.max(1, Math.floor(n / w));
      g.clearRect(0, 0, w, h);
      g.fillStyle = colour || "#3a6";
      for (var x = 0; x < w && x * step < n; x++) {
        var peak = 0;
        for (var i = x * step; i < Math.min(n, (x + 1) * step); i++) { peak = Math.max(peak, Math.abs(data[i])); }
        g.fillRect(x, h / 2 - peak * h / 2, 1, Math.max(1, peak * h));
      }
    }).catch(function () { canvas.title = "no waveform"; });
  }

  // A result's words: rank, title, category (its own, else the predicted one, marked), score,
  // duration, licence.
  function describe(span, rec) {
    function part(cls, text) {
      var el = document.createElement(cls === "predicted" ? "em" : "span");
      el.className = cls; el.textContent = text; span.appendChild(el); span.appendChild(document.createTextNode(" "));
    }
    span.textContent = "";
    part("rank", rec.rank + ".");
    part("title", rec.title);
    part("category", "[" + (rec.category || "-") + "]");
    if (rec.predicted_category) {
      part("predicted", "predicted " + rec.predicted_category + "/" + rec.predicted_subcategory + " " +
        (rec.predicted_confidence || 0).toFixed(2));
    }
    part("num score", "score " + (rec.score >= 0 ? "+" : "") + rec.score.toFixed(3));
    part("num duration", rec.duration.toFixed(2) + " s");
    part("licence", rec.licence);
  }

  function candRow(section, rec, list) {
    var row = document.createElement("div");
    row.className = "cand result"; row.dataset.id = rec.id; row.dataset.rank = rec.rank;
    row.innerHTML = '<button class="use">Use</button><audio controls preload="none"></audio>' +
      '<canvas class="wave" width="160" height="32"></canvas><span class="words"></span>' +
      '<button class="similar">More like this</button>';
    row.querySelector("audio").src = cfg.audio_base + rec.id + cfg.token_q;
    describe(row.querySelector(".words"), rec);
    list.appendChild(row);
    wire(section, row);
  }

  // A block of results under the candidates, with a heading saying what was asked; the newest
  // first, replacing an earlier block of the same question.
  function showResults(section, kind, heading, recs) {
    var block = document.createElement("div");
    block.className = "results"; block.dataset.kind = kind;
    var h = document.createElement("h3"); h.textContent = heading + " (" + recs.length + ")";
    block.appendChild(h);
    section.querySelector(".cands").after(block);
    if (!recs.length) { var none = document.createElement("p"); none.textContent = "no results"; block.appendChild(none); }
    recs.forEach(function (r) { candRow(section, r, block); });
    mark(section);
  }

  function mark(section) {
    var c = choices[section.dataset.shot] || {}, generating = decisionOf(section) === "generate";
    section.querySelectorAll(".cand").forEach(function (row) {
      row.classList.toggle("chosen", row.classList.contains("generated") ? generating
                                                                         : row.dataset.id === c.sound);
    });
  }

  // the sounds generated on this page, by cue key (shot-N, bed-N, spot-N): the preview plays them
  var generated = {};
  // a generated sound of this shot (a generate job's output) as a candidate to audition and use
  function generatedRow(section, jobId, name) {
    var row = document.createElement("div");
    row.className = "cand generated"; row.dataset.job = jobId;
    row.innerHTML = '<button class="use">Use</button><audio controls preload="none"></audio>' +
      '<canvas class="wave" width="160" height="32"></canvas><span>generated for this shot</span>';
    row.querySelector("audio").src = jobFile(jobId, name);
    fetch(jobFile(jobId, name.replace(/\.wav$/, ".json"))).then(function (r) { return r.json(); })
      .then(function (info) { row.querySelector("span").textContent = "generated: " + info.prompt; })
      .catch(function () {});
    section.querySelectorAll(".cand.generated").forEach(function (old) { old.remove(); });
    section.querySelector(".cands").prepend(row);
    drawWave(row.querySelector("canvas"), row.querySelector("audio").src);
    row.querySelector(".use").addEventListener("click", function () { setDecision(section, "generate"); save(); });
    generated["shot-" + section.dataset.shot] = row.querySelector("audio").src;
  }

  function wire(section, row) {
    var shot = section.dataset.shot;
    drawWave(row.querySelector("canvas"), row.querySelector("audio").src);
    row.querySelector(".use").addEventListener("click", function () {
      var c = choice(shot);
      c.sound = row.dataset.id;
      // a catalog sound is heard with retrieve or blend; from anything else, retrieve it
      if (c.decision !== "retrieve" && c.decision !== "blend") { setDecision(section, "retrieve"); }
      mark(section); save();
    });
    row.querySelector(".similar").addEventListener("click", function () {
      var title = row.querySelector(".title") ? row.querySelector(".title").textContent : row.dataset.id;
      api("POST", "/api/recommend/similar", {id: row.dataset.id, k: 5}).then(function (ans) {
        showResults(section, "similar", "More like “" + title + "”", ans.results[0].recommendations);
      });
    });
  }

  document.querySelectorAll(".shot").forEach(function (section) {
    var shot = section.dataset.shot, c = choices[shot];
    // by tag as well as class: the decision badge in the heading carries the decision's name as a
    // class too (<span class="decision blend">), and comes first in the section
    var blend = section.querySelector("input.blend"), shown = section.querySelector(".blend-value");
    if (c) {
      section.querySelector(".choose-decision").value = c.decision || "";
      section.querySelector(".gain").value = c.gain_db || 0;
      section.querySelector(".offset").value = c.offset || 0;
      if (c.blend !== null && c.blend !== undefined) { blend.value = Math.round(c.blend * 100); }
    }
    shown.textContent = blend.value + "%";
    section.querySelectorAll(".cand").forEach(function (row) { wire(section, row); });
    refresh(section);
    section.querySelector(".choose-decision").addEventListener("change", function (e) {
      choice(shot).decision = e.target.value || null; refresh(section); save();
    });
    blend.addEventListener("input", function () { shown.textContent = blend.value + "%"; });
    blend.addEventListener("change", function () {
      choice(shot).blend = parseInt(blend.value, 10) / 100; save();
    });
    var genState = section.querySelector(".generate-state");
    section.querySelector("button.generate").addEventListener("click", function () {
      genState.textContent = "generating…"; genState.dataset.state = "running";
      save().then(function () {
        return api("POST", "/api/review/generate",
                   {video: cfg.video, out: cfg.out, shot: parseInt(shot, 10), options: cfg.options});
      }).then(function (job) {
        follow(job.id, function (j) {
          if (j.state === "done") {
            var name = j.outputs.filter(function (o) { return /generated\.wav$/.test(o); })[0];
            generatedRow(section, j.id, name);
            genState.textContent = "";
          } else if (j.state !== "running") {
            genState.textContent = j.state + (j.error ? ": " + j.error : "");
          }
          genState.dataset.state = j.state;
        });
      }).catch(function (err) { genState.textContent = "error: " + err.message; genState.dataset.state = "failed"; });
    });
    section.querySelector(".gain").addEventListener("change", function (e) {
      choice(shot).gain_db = parseFloat(e.target.value) || 0; save();
    });
    section.querySelector(".offset").addEventListener("change", function (e) {
      choice(shot).offset = parseFloat(e.target.value) || 0; save();
    });
    section.querySelector(".search").addEventListener("click", function () {
      var text = section.querySelector(".search-text").value;
      if (!text) { return; }
      var form = new FormData(); form.append("text", text); form.append("k", "5");
      var h = {"X-Sfxkit": "1"}; if (cfg.token) { h["Authorization"] = headers["Authorization"]; }
      fetch("/api/recommend/text", {method: "POST", headers: h, body: form})
        .then(function (r) { return r.json(); })
        .then(function (ans) {
          showResults(section, "search", "Search “" + text + "”", ans.results[0].recommendations);
        });
    });
  });

  // what the timeline editor (timeline.js) shares
  window.sfxReview = {cfg: cfg, api: api, save: save, session: session, choices: choices,
                      drawWave: drawWave, describe: describe, follow: follow, jobFile: jobFile, generated: generated,
                      onSave: function (f) { saveHooks.push(f); }};

  var state = document.getElementById("export-state"), links = document.getElementById("export-links");
  document.getElementById("export").addEventListener("click", function () {
    state.textContent = "saving…";
    save().then(function () {
      return api("POST", "/api/review/export", {video: cfg.video, out: cfg.out, options: cfg.options});
    }).then(function (job) {
      state.textContent = "running";
      follow(job.id, function (j) {
        var p = j.progress;
        state.textContent = j.state + (p.total ? " " + p.done + "/" + p.total : "");
        state.dataset.state = j.state;
        if (j.state === "done" || j.state === "failed" || j.state === "cancelled") {
          if (j.error) { state.textContent += ": " + j.error; }
          links.innerHTML = "";
          j.outputs.forEach(function (name) {
            var a = document.createElement("a");
            a.href = "/api/jobs/" + j.id + "/files/" + name + cfg.token_q; a.textContent = name;
            a.className = "output"; a.dataset.job = j.id;
            links.appendChild(a); links.appendChild(document.createTextNode(" "));
            // the muxed video: play the whole mix with the picture
            if (/\.mp4$/.test(name) && name.indexOf("/") < 0) { document.getElementById("picture").src = a.href; }
          });
        }
      });
    }).catch(function (err) { state.textContent = "error: " + err.message; state.dataset.state = "failed"; });
  });
})();
