// The review page's mix preview, sound by sound as the export makes it: each cue's layers fitted
// to the cue (trimmed, looped with equal-power seams, onset-aligned, nudged), shaped by motion
// (per-shot cues), blended at matched loudness with the blend share, levelled to the loudness
// target plus the cue's gain (BS.1770 integrated loudness, or sample peak under 400 ms), faded
// where the cue meets its neighbours, and the sum normalised to the target. The same arithmetic
// as sfxkit.delivery.mix (fit_to_shot, blend_parts, mix_timeline) and the soundtrack's per-role
// fitting (sfxkit.editorial.run), so what the page plays is what the export delivers; only the
// true-peak limiter is left out (it acts on peaks above the ceiling alone).
// Audio here is an array of Float32Array channels at one sample rate. Plain JavaScript.
(function () {
  "use strict";
  var SILENCE_DB = -120, MIN_GATED_SECONDS = 0.4, ABSOLUTE_GATE = -70;

  function db(v) { return Math.pow(10, v / 20); }
  function len(x) { return x[0].length; }
  function zeros(ch, n) { var out = []; for (var c = 0; c < ch; c++) { out.push(new Float32Array(n)); } return out; }
  function slice(x, a, b) { return x.map(function (c) { return c.subarray(a, Math.min(b, c.length)); }); }
  function scale(x, g) { return x.map(function (c) { var o = new Float32Array(c.length); for (var i = 0; i < c.length; i++) { o[i] = c[i] * g; } return o; }); }
  function mono(x) {
    var n = len(x), out = new Float32Array(n);
    x.forEach(function (c) { for (var i = 0; i < n; i++) { out[i] += c[i] / x.length; } });
    return out;
  }
  // mono to every channel, several channels to mono (sfxkit.delivery.mix._to_channels)
  function toChannels(x, ch) {
    if (x.length === ch) { return x; }
    var m = x.length === 1 ? x[0] : mono(x), out = [];
    for (var c = 0; c < ch; c++) { out.push(new Float32Array(m)); }
    return out;
  }
  // quarter-period positions at bin centres, so in² + out² = 1 at every sample
  function ramp(i, n) { return (i + 0.5) / Math.max(n, 1) * (Math.PI / 2); }
  function fadeIn(x, n, start) {
    start = start || 0; n = Math.min(n, len(x) - start);
    x.forEach(function (c) { for (var i = 0; i < n; i++) { c[start + i] *= Math.sin(ramp(i, n)); } });
  }
  function fadeOut(x, n) {
    n = Math.min(n, len(x)); var s = len(x) - n;
    x.forEach(function (c) { for (var i = 0; i < n; i++) { c[s + i] *= Math.cos(ramp(i, n)); } });
  }

  // ------------------------------------------------------------------ loudness (BS.1770-4)
  // The K-weighting stages of sfxkit.media.loudness (pyloudnorm's): a +4 dB high shelf at
  // 1500 Hz and a 38 Hz high pass, as audio-EQ-cookbook biquads at the audio's rate.
  function kStages(sr) {
    function shelf(G, Q, fc) {
      var A = Math.pow(10, G / 40), w0 = 2 * Math.PI * fc / sr, cw = Math.cos(w0), alpha = Math.sin(w0) / (2 * Q), s = 2 * Math.sqrt(A) * alpha;
      return norm([A * ((A + 1) + (A - 1) * cw + s), -2 * A * ((A - 1) + (A + 1) * cw), A * ((A + 1) + (A - 1) * cw - s)],
                  [(A + 1) - (A - 1) * cw + s, 2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - s]);
    }
    function highpass(Q, fc) {
      var w0 = 2 * Math.PI * fc / sr, cw = Math.cos(w0), alpha = Math.sin(w0) / (2 * Q);
      return norm([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]);
    }
    function norm(b, a) { return {b: b.map(function (v) { return v / a[0]; }), a: a.map(function (v) { return v / a[0]; })}; }
    return [shelf(4.0, 1 / Math.sqrt(2), 1500.0), highpass(0.5, 38.0)];
  }
  function filter(st, x) {
    var y = new Float64Array(x.length), x1 = 0, x2 = 0, y1 = 0, y2 = 0, b = st.b, a = st.a;
    for (var i = 0; i < x.length; i++) {
      var v = b[0] * x[i] + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2;
      x2 = x1; x1 = x[i]; y2 = y1; y1 = v; y[i] = v;
    }
    return y;
  }
  // integrated loudness in LUFS; null under one 400 ms block; SILENCE_DB for silence
  function loudness(x, sr) {
    var n = len(x);
    if (n < Math.floor(MIN_GATED_SECONDS * sr) + 1) { return null; }
    var stages = kStages(sr), energy = new Float64Array(n + 1);
    x.forEach(function (c) {
      var y = filter(stages[1], filter(stages[0], c));
      for (var i = 0; i < n; i++) { energy[i + 1] += y[i] * y[i]; }
    });
    for (var i = 0; i < n; i++) { energy[i + 1] += energy[i]; }
    var blocks = Math.round((n / sr - 0.4) / 0.1) + 1, z = [];
    for (var j = 0; j < blocks; j++) {
      var l = Math.min(Math.floor(0.4 * (j * 0.25) * sr), n), u = Math.min(Math.floor(0.4 * (j * 0.25 + 1) * sr), n);
      z.push((energy[u] - energy[l]) / (0.4 * sr));
    }
    function lufs(v) { return -0.691 + 10 * Math.log10(v); }
    var above = z.filter(function (v) { return v > 0 && lufs(v) >= ABSOLUTE_GATE; });
    if (!above.length) { return SILENCE_DB; }
    var mean = function (a) { return a.reduce(function (s, v) { return s + v; }, 0) / a.length; };
    var relative = lufs(mean(above)) - 10;
    var gated = z.filter(function (v) { return v > 0 && lufs(v) > relative && lufs(v) > ABSOLUTE_GATE; });
    if (!gated.length || mean(gated) <= 0) { return SILENCE_DB; }
    return lufs(mean(gated));
  }
  function peakDb(x) {
    var p = 0;
    x.forEach(function (c) { for (var i = 0; i < c.length; i++) { var v = Math.abs(c[i]); if (v > p) { p = v; } } });
    return p > 0 ? 20 * Math.log10(p) : SILENCE_DB;
  }
  function level(x, sr) { var l = loudness(x, sr); return l === null ? [peakDb(x), "peak"] : [l, "integrated"]; }
  function gainTo(x, sr, target) { var cur = level(x, sr)[0]; return cur <= SILENCE_DB ? 1 : db(target - cur); }

  // ------------------------------------------------------------------ fitting (fit_to_shot)
  // seconds to the biggest rise in 5 ms energy: the sound's main onset (audio_onset)
  function audioOnset(x, sr) {
    var m = mono(x), win = Math.max(16, Math.round(0.005 * sr)), hop = Math.max(1, Math.floor(win / 4));
    var size = m.length + win, c = new Float64Array(size + 1);
    for (var i = 0; i < size; i++) { var v = i < win ? 0 : m[i - win]; c[i + 1] = c[i] + v * v; }
    var count = Math.floor((size - win) / hop) + 1;
    if (size - win < 0 || count < 2) { return 0; }
    var best = -Infinity, k = 1, prev = c[win] - c[0];
    for (var s = 1; s < count; s++) {
      var e = c[s * hop + win] - c[s * hop], rise = e - prev;
      if (rise > best) { best = rise; k = s; }
      prev = e;
    }
    if (best <= 0) { return 0; }
    return Math.max(k * hop + win - hop / 2 - win, 0) / sr;
  }
  function fitSamples(x, n, mode, fadeN, shift, onsetPos) {
    var ch = x.length, length = len(x), out = zeros(ch, n);
    if (n === 0 || length === 0) { return out; }
    var pad = Math.max(shift, 0), body = x.map(function (c) { return c.slice(Math.max(-shift, 0)); });
    if (shift < 0 && len(body)) {
      var limit = onsetPos === null ? fadeN : Math.max(1, Math.floor(onsetPos / 2));
      fadeIn(body, Math.min(fadeN, limit));
    }
    var take = pad < n ? Math.min(len(body), n - pad) : 0;
    for (var c = 0; c < ch; c++) { if (take > 0) { out[c].set(body[c].subarray(0, take), pad); } }
    var end = pad + len(body);
    if (mode === "loop" && end < n) {
      var xf = Math.min(fadeN, Math.floor(length / 2), Math.floor(len(body) / 2));
      if (length - xf <= 0) { return out; }
      while (end < n) {
        var p = end - xf;
        for (c = 0; c < ch; c++) {
          for (var i = 0; i < xf; i++) { if (p + i < n) { out[c][p + i] *= Math.cos(ramp(i, xf)); } }
          var t = Math.min(length, n - p);
          for (i = 0; i < t; i++) { out[c][p + i] += x[c][i] * (i < xf ? Math.sin(ramp(i, xf)) : 1); }
        }
        end = p + length;
      }
    }
    if (end > n) { fadeOut(out, Math.min(fadeN, n - pad)); }
    return out;
  }
  function fitToShot(x, sr, seconds, mode, onsetAt, align) {
    var n = Math.round(seconds * sr), shift = 0, onsetPos = null;
    if (onsetAt !== null && onsetAt !== undefined && align) {
      onsetPos = Math.round(onsetAt * sr);
      shift = onsetPos - Math.round(audioOnset(x, sr) * sr);
    }
    return fitSamples(x, n, mode, Math.round(0.01 * sr), shift, onsetPos);
  }
  // moved `offset` s later (earlier when negative) inside its own length (editorial.render.nudged)
  function nudge(x, sr, offset) {
    if (!offset) { return x; }
    var n = Math.round(Math.abs(offset) * sr), L = len(x), out = zeros(x.length, L);
    if (n < L) {
      x.forEach(function (c, k) { if (offset > 0) { out[k].set(c.subarray(0, L - n), n); } else { out[k].set(c.subarray(n)); } });
    }
    return out;
  }

  // ------------------------------------------------------------------ motion (per-shot cues)
  function smooth(values, width) {
    if (width <= 1 || values.length < 2) { return values.slice(); }
    var before = Math.floor(width / 2), out = [];
    for (var i = 0; i < values.length; i++) {
      var s = 0;
      for (var k = i - before; k < i - before + width; k++) { s += values[Math.min(Math.max(k, 0), values.length - 1)]; }
      out.push(s / width);
    }
    return out;
  }
  function interp(t, xs, ys) {  // numpy.interp: clamped at both ends
    if (t <= xs[0]) { return ys[0]; }
    if (t >= xs[xs.length - 1]) { return ys[ys.length - 1]; }
    var lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (xs[mid] <= t) { lo = mid; } else { hi = mid; } }
    return ys[lo] + (ys[hi] - ys[lo]) * (t - xs[lo]) / (xs[hi] - xs[lo]);
  }
  // a gain following motion energy, full where the shot moves most, floorDb where it is still
  function motionEnvelope(x, sr, motion, floorDb) {
    var e = motion.energy, top = Math.max.apply(null, e.length ? e : [0]);
    if (!e.length || top <= 1e-6) { return x; }
    var sm = smooth(e, 3), peak = Math.max.apply(null, sm);
    var gain = sm.map(function (v) { var r = Math.min(Math.max(v / peak, 0), 1); return Math.pow(10, floorDb * (1 - r) / 20); });
    var n = len(x), curve = new Float32Array(n);
    for (var i = 0; i < n; i++) { curve[i] = interp(i / sr, motion.times, gain); }
    return x.map(function (c) { var o = new Float32Array(c.length); for (var i = 0; i < c.length; i++) { o[i] = c[i] * curve[i]; } return o; });
  }
  function panByMotion(x, sr, motion) {
    var m = mono(x), pos = smooth(motion.centroid_x.map(function (v) { return Math.min(Math.max(v, -1), 1); }), 5);
    var l = new Float32Array(m.length), r = new Float32Array(m.length);
    for (var i = 0; i < m.length; i++) {
      var p = pos.length ? interp(i / sr, motion.times, pos) : 0, th = (Math.min(Math.max(p, -1), 1) + 1) * Math.PI / 4;
      l[i] = m[i] * Math.cos(th); r[i] = m[i] * Math.sin(th);
    }
    return [l, r];
  }

  // ------------------------------------------------------------------ a cue, and the mix
  // (catalog dB, generated dB) of a blend share: equal power, an end mutes the other sound
  function shareGainsDb(share) {
    function d(v) { return 20 * Math.log10(Math.max(v, 1e-6)); }
    return [d(Math.cos(share * Math.PI / 2)), d(Math.sin(share * Math.PI / 2))];
  }
  // each layer's share of the blend: loudness-matched to their mean level, then its gain
  function blendParts(layers, sr, mode, ch) {
    var n = Math.max.apply(null, layers.map(function (l) { return len(l.x); }));
    var clips = layers.map(function (l) {
      var c = toChannels(l.x, ch);
      return c.map(function (v) { var o = new Float32Array(n); o.set(v); return o; });
    });
    if (clips.length > 1) {
      var measured = clips.map(function (c) { return level(c, sr); });
      var levels = measured.every(function (m) { return m[1] === "integrated"; })
        ? measured.map(function (m) { return m[0]; }) : clips.map(peakDb);
      var audible = levels.filter(function (v) { return v > SILENCE_DB; });
      if (audible.length) {
        var common = audible.reduce(function (s, v) { return s + v; }, 0) / audible.length;
        clips = clips.map(function (c, i) { return levels[i] > SILENCE_DB ? scale(c, db(common - levels[i])) : c; });
      }
    }
    clips = clips.map(function (c, i) { return scale(c, db(layers[i].gainDb || 0)); });
    if (mode !== "crossfade" || clips.length === 1) { return clips; }
    var count = clips.length, division = n / count;
    return clips.map(function (c, i) {
      var w = new Float32Array(n);
      for (var s = 0; s < n; s++) {
        var t = s + 0.5, g = 1;
        if (i > 0) { g *= Math.sin(Math.min(Math.max((t - (i * division - division / 2)) / Math.max(division, 1), 0), 1) * Math.PI / 2); }
        if (i < count - 1) { g *= Math.cos(Math.min(Math.max((t - ((i + 1) * division - division / 2)) / Math.max(division, 1), 0), 1) * Math.PI / 2); }
        w[s] = g;
      }
      return c.map(function (v) { var o = new Float32Array(n); for (var s = 0; s < n; s++) { o[s] = v[s] * w[s]; } return o; });
    });
  }
  // A cue as the mix places it: {at (first sample), audio}, levelled to the target plus its
  // gain and faded as its role meets its neighbours (mix_timeline). null when it lies outside.
  //   cue: {role, start, end, gainDb, blend, layers: [{x, gainDb}]}; mix: the page's mix settings
  function cueStem(cue, mix, total) {
    var sr = mix.sample_rate, ch = mix.channels;
    var s0 = Math.min(Math.round(cue.start * sr), total), s1 = Math.min(Math.round(cue.end * sr), total);
    if (s1 <= s0 || !cue.layers.length) { return null; }
    var halves = {shot: Math.max(0, Math.round(mix.crossfade * sr / 2)), bed: Math.max(0, Math.round(mix.bed_crossfade * sr / 2)), spot: 0};
    var half = cue.role in halves ? halves[cue.role] : halves.shot;
    var head = Math.min(half, s0), tail = Math.min(half, total - s1), span = s1 - s0, length = head + span + tail;
    var parts = blendParts(cue.layers, sr, cue.blend, ch), n = len(parts[0]);
    var sound = zeros(ch, n);
    parts.forEach(function (p) { for (var c = 0; c < ch; c++) { for (var i = 0; i < n; i++) { sound[c][i] += p[c][i]; } } });
    var inCue = slice(sound, 0, span), gain;
    if (span / sr < MIN_GATED_SECONDS) {
      var cur = peakDb(inCue);
      gain = cur > SILENCE_DB ? db(mix.target_lufs + mix.short_peak_offset_db + cue.gainDb - cur) : 1;
    } else {
      gain = gainTo(inCue, sr, mix.target_lufs + cue.gainDb);
    }
    var stem = zeros(ch, length), take = Math.min(n, length - head);
    for (var c = 0; c < ch; c++) { for (var i = 0; i < take; i++) { stem[c][head + i] = sound[c][i] * gain; } }
    if (cue.role === "spot") {
      if (n > span) { fadeOut(stem, Math.min(Math.max(Math.floor(mix.spot_fade * sr), 1), span)); }
    } else {
      if (head) { fadeIn(stem, head + Math.min(half, span)); }
      // the video ends here: a short anti-click fade (the shot crossfade's half)
      if (tail) { fadeOut(stem, tail + Math.min(half, span)); } else if (n > span) { fadeOut(stem, Math.min(Math.max(halves.shot, 1), span)); }
    }
    return {at: s0 - head, audio: stem};
  }
  // the stems that `keep` says, summed into `total` samples
  function sumStems(stems, total, ch, keep) {
    var out = zeros(ch, total);
    stems.forEach(function (s) {
      if (!keep(s)) { return; }
      for (var c = 0; c < ch; c++) {
        var src = s.audio[c], d = out[c], n = Math.min(src.length, total - s.at);
        for (var i = 0; i < n; i++) { d[s.at + i] += src[i]; }
      }
    });
    return out;
  }
  // the gain that brings a whole mix to the loudness target
  function normalising(audio, mix) { return peakDb(audio) > SILENCE_DB ? gainTo(audio, mix.sample_rate, mix.target_lufs) : 1; }

  window.sfxMix = {
    fitToShot: fitToShot, nudge: nudge, motionEnvelope: motionEnvelope, panByMotion: panByMotion,
    shareGainsDb: shareGainsDb, cueStem: cueStem, sumStems: sumStems, normalising: normalising, mono: mono
  };
})();
