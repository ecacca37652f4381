/*
 * InfinityGAN explorer: pan and zoom an endless generated canvas.
 *
 * Coordinates: Leaflet's CRS.Simple at zoom 0 maps one unit to one canvas pixel, so
 * map.project(latlng, 0) gives canvas (x, y) with y growing downwards (row 0 = horizon).
 * Leaflet zoom z <= 0 shows pyramid level -z; zooms 1 and 2 magnify level 0.
 *
 * Tiles are fetched by our own loader instead of <img src>: at most MAX_ACTIVE requests at a
 * time, always the pending tile nearest to the view centre first, aborted (which closes the
 * connection, so the server drops the job) when Leaflet unloads the tile, and retried after
 * Retry-After when the server answers 503.
 *
 * Zoomed out, tiles get smaller (256 >> shrink pixels, at least MIN_TILE), so that a view needs
 * few level 0 renders outside itself, and the widest level offered is the widest whose view
 * the server can fill within its zoom budget at the render speed it measures.
 *
 * The page URL's hash holds the view: #s=SEED&x=X&y=Y&z=ZOOM[&d=DESC] where X, Y are the canvas
 * pixel at the centre and DESC the canvas description's anchors/edits (see description.py).
 * Undo and redo cover the seed and the description; panning and zooming are navigation.
 */
(function () {
  "use strict";

  const TILE = 256;
  const MAX_ACTIVE = 4; // the browser allows 6 connections per host; keep 2 for the rest
  const REBASE_PX = 1 << 20; // re-centre Leaflet's pixel origin past this distance
  const MIN_TILE = 64; // smallest tile shown, in screen pixels (more, smaller requests below)
  const DOWNLOAD_ACTIVE = 2; // tile requests of a view download in flight

  const $ = (id) => document.getElementById(id);

  const explorer = {
    info: null,
    map: null,
    layer: null,
    content: { seed: 0, desc: "" }, // what undo/redo covers
    past: [],
    future: [],
    stats: { requested: 0, loaded: 0, errors: 0, aborted: 0, retried: 0 },
    pending: new Set(),
    active: new Set(),
    lastError: "",
  };
  window.explorer = explorer;

  // ------------------------------------------------------------------------------------------
  // Messages and status

  let messageTimer = null;
  function showMessage(text, sticky) {
    $("message").textContent = text;
    clearTimeout(messageTimer);
    if (!sticky && text) {
      messageTimer = setTimeout(() => { $("message").textContent = ""; }, 6000);
    }
  }

  function centerPixel() {
    const p = explorer.map.project(explorer.map.getCenter(), 0);
    return { x: Math.round(p.x), y: Math.round(p.y) };
  }

  function formatSeconds(seconds) {
    if (seconds < 60) return Math.ceil(seconds) + " s";
    return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
  }

  // What the server is doing, from its /api/stats: its render speed, the level 0 tiles still to
  // render for this page (what its queued and running jobs need, plus at most 4^k for each
  // level k tile the page has not sent yet), and how long that takes at that speed.
  function serverStatus() {
    const s = explorer.serverStats;
    const measured = explorer.info.seconds_per_tile; // timed when the server started
    if (!s) return measured ? "server " + (explorer.info.workers / measured).toFixed(1) + " tiles/s" : "server";
    const perTile = s.seconds_per_tile;
    const speed = perTile ? (explorer.info.workers / perTile).toFixed(1) + " tiles/s" : "";
    let left = s.work_left;
    for (const entry of explorer.pending) left += Math.pow(4, -Math.min(0, entry.coords.z) - shrinkAt(entry.coords.z));
    if (!left && !s.running && !s.queue) return "server idle" + (speed ? ", " + speed : "");
    const parts = ["server " + (speed || "rendering"), left + " tiles to render"];
    if (perTile) parts.push("~" + formatSeconds((left * perTile) / explorer.info.workers));
    return parts.join(", ");
  }

  function updateStatus() {
    if (!explorer.map) return;
    const c = centerPixel();
    const z = explorer.map.getZoom();
    $("status-position").textContent = "x " + c.x + "  y " + c.y;
    const widest = -explorer.map.getMinZoom();
    $("status-zoom").textContent = z <= 0 ? "level " + (-z) + " (widest " + widest + ")" : "zoom " + (1 << z) + "x";
    $("status-zoom").title = widest < explorer.info.max_level
      ? "Level " + (widest + 1) + " would take the server more than " + explorer.info.zoom_budget +
        " s to fill at its measured speed, so it is not offered."
      : "";
    $("status-rate").textContent = serverStatus();
    const waiting = explorer.pending.size + explorer.active.size;
    $("status-queue").textContent = waiting ? waiting + " loading" : "idle";
  }

  // ------------------------------------------------------------------------------------------
  // URL state

  function parseHash() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const out = {};
    const int = (name) => {
      const v = params.get(name);
      return v !== null && /^-?\d{1,16}$/.test(v) ? Number(v) : null;
    };
    out.seedText = params.get("s"); // judged by readLinkContent
    out.x = int("x");
    out.y = int("y");
    out.z = int("z");
    out.desc = params.get("d") || "";
    return out;
  }

  function writeHash() {
    if (!explorer.map) return;
    const c = centerPixel();
    const params = new URLSearchParams();
    params.set("s", String(explorer.content.seed));
    params.set("x", String(c.x));
    params.set("y", String(c.y));
    params.set("z", String(explorer.map.getZoom()));
    if (explorer.content.desc) params.set("d", explorer.content.desc);
    const hash = "#" + params.toString();
    if (window.location.hash !== hash) {
      window.history.replaceState(null, "", hash);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Content state: seed and description, with undo and redo

  function validSeed(seed) {
    return Number.isSafeInteger(seed) && Math.abs(seed) <= explorer.info.seed_limit;
  }

  // The desc string is URL-safe base64 of JSON {anchors, edits, blend, blend_kernel}
  // (see description.py); defaults and empty lists are left out.
  function decodeDesc(desc) {
    const empty = { anchors: [], edits: [] };
    if (!desc) return empty;
    try {
      const b64 = desc.replace(/-/g, "+").replace(/_/g, "/");
      const obj = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return null;
      obj.anchors = Array.isArray(obj.anchors) ? obj.anchors : [];
      obj.edits = Array.isArray(obj.edits) ? obj.edits : [];
      return obj;
    } catch (e) {
      return null;
    }
  }

  function encodeDesc(extras) {
    const obj = {};
    if (extras.anchors.length) obj.anchors = extras.anchors;
    if (extras.edits.length) obj.edits = extras.edits;
    if (extras.blend !== undefined && extras.blend !== explorer.info.default_blend) obj.blend = extras.blend;
    if (extras.blend_kernel !== undefined && extras.blend_kernel !== "box") obj.blend_kernel = extras.blend_kernel;
    if (!Object.keys(obj).length) return "";
    return btoa(JSON.stringify(obj)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function currentExtras() {
    return decodeDesc(explorer.content.desc) || { anchors: [], edits: [] };
  }

  function updateExtras(change) {
    const extras = currentExtras();
    change(extras);
    setContent({ seed: explorer.content.seed, desc: encodeDesc(extras) });
  }

  function applyContent() {
    $("seed").value = String(explorer.content.seed);
    $("undo").disabled = explorer.past.length === 0;
    $("redo").disabled = explorer.future.length === 0;
    explorer.lastError = "";
    if (explorer.layer) explorer.layer.redraw();
    showEdits();
    writeHash();
  }

  function setContent(next) {
    const cur = explorer.content;
    if (next.seed === cur.seed && next.desc === cur.desc) return;
    explorer.past.push(cur);
    explorer.future = [];
    explorer.content = { seed: next.seed, desc: next.desc };
    applyContent();
  }

  function undo() {
    if (!explorer.past.length) return;
    explorer.future.push(explorer.content);
    explorer.content = explorer.past.pop();
    applyContent();
  }

  function redo() {
    if (!explorer.future.length) return;
    explorer.past.push(explorer.content);
    explorer.content = explorer.future.pop();
    applyContent();
  }

  function setSeed(seed) {
    if (!validSeed(seed)) {
      showMessage("Seeds are integers within \u00b1" + explorer.info.seed_limit + ".");
      $("seed").value = String(explorer.content.seed);
      return;
    }
    setContent({ seed: seed, desc: explorer.content.desc });
  }

  // ------------------------------------------------------------------------------------------
  // Tile loading

  // Tiles of level k are 256 >> shrink(k) pixels: a level k tile of that size is the level
  // k - shrink tile box-filtered shrink more times (see tiles.py). Each tile of level 1 and
  // deeper then covers 512 canvas pixels per side (the server renders those as one block) until
  // tiles would be smaller than MIN_TILE.
  function shrinkAt(z) {
    const level = Math.max(0, -z);
    return Math.max(0, Math.min(level - 1, explorer.info.max_shrink, Math.log2(TILE / MIN_TILE)));
  }

  function tileSizeAt(z) {
    return TILE >> shrinkAt(z);
  }

  // Level 0 renders that fill a w x h view at `level` from nothing, at worst (every tile the
  // view touches, each made of 4^(level - shrink) level 0 tiles).
  function rendersToFill(level, w, h) {
    const size = tileSizeAt(-level);
    const tiles = (Math.ceil(w / size) + 1) * (Math.ceil(h / size) + 1);
    return tiles * Math.pow(4, level - shrinkAt(-level));
  }

  // The widest level whose view the server fills within its zoom budget at the speed it
  // measures for what zooming out renders (blocks of four level 0 tiles).
  function widestLevel() {
    const info = explorer.info;
    const s = explorer.serverStats;
    const perTile = (s && s.seconds_per_zoom_tile) || info.seconds_per_zoom_tile;
    if (!perTile) return info.max_level; // nothing rendered yet: speed unknown
    const size = explorer.map.getSize();
    let level = 0;
    while (level < info.max_level &&
      (rendersToFill(level + 1, size.x, size.y) * perTile) / info.workers <= info.zoom_budget) {
      level += 1;
    }
    return level;
  }

  // Offer the levels the server can fill in time; never zoom the view in by itself.
  function updateZoomRange() {
    const map = explorer.map;
    const min = Math.min(-widestLevel(), map.getZoom());
    if (min !== map.getMinZoom()) map.setMinZoom(min);
  }

  function tileUrl(entry) {
    const c = entry.coords;
    let url = "tiles/" + entry.seed + "/" + (-c.z) + "/" + c.y + "/" + c.x + ".png" +
      "?m=" + explorer.info.model.id + "&p=" + tileDistance(entry).toFixed(2);
    if (shrinkAt(c.z)) url += "&size=" + tileSizeAt(c.z);
    if (entry.desc) url += "&desc=" + entry.desc;
    return url;
  }

  function tileDistance(entry) {
    const map = explorer.map;
    const c = entry.coords;
    const center = map.project(map.getCenter(), c.z).divideBy(tileSizeAt(c.z));
    const d = Math.hypot(c.x + 0.5 - center.x, c.y + 0.5 - center.y);
    // Tiles of another zoom than the one shown wait for all tiles of the shown zoom.
    return c.z === explorer.layer._tileZoom ? d : d + 1e6;
  }

  function schedule() {
    while (explorer.active.size < MAX_ACTIVE && explorer.pending.size) {
      let best = null;
      let bestDistance = Infinity;
      for (const entry of explorer.pending) {
        const d = tileDistance(entry);
        if (d < bestDistance) { best = entry; bestDistance = d; }
      }
      explorer.pending.delete(best);
      start(best);
    }
    updateStatus();
  }

  function finish(entry) {
    explorer.active.delete(entry);
    schedule();
  }

  function start(entry) {
    explorer.active.add(entry);
    entry.controller = new AbortController();
    explorer.stats.requested += 1;
    fetch(tileUrl(entry), { signal: entry.controller.signal })
      .then(async (response) => {
        if (entry.cancelled) return;
        if (response.status === 503) {
          const wait = Math.min(30, Number(response.headers.get("Retry-After")) || 1);
          explorer.stats.retried += 1;
          setTimeout(() => {
            if (!entry.cancelled) { explorer.pending.add(entry); schedule(); }
          }, wait * 1000);
          return;
        }
        if (!response.ok) {
          const detail = await errorDetail(response);
          explorer.stats.errors += 1;
          explorer.lastError = detail;
          showMessage("Tile error " + response.status + ": " + detail);
          entry.done(new Error(detail), entry.img);
          return;
        }
        const blob = await response.blob();
        if (entry.cancelled) return;
        const objectUrl = URL.createObjectURL(blob);
        await new Promise((resolve) => {
          entry.img.onload = entry.img.onerror = resolve;
          entry.img.src = objectUrl;
        });
        URL.revokeObjectURL(objectUrl);
        if (entry.cancelled) return;
        entry.loaded = true;
        explorer.stats.loaded += 1;
        entry.done(null, entry.img);
      })
      .catch((err) => {
        if (err.name === "AbortError" || entry.cancelled) return;
        explorer.stats.errors += 1;
        explorer.lastError = String(err);
        showMessage("Cannot reach the server: " + err.message);
        entry.done(err, entry.img);
      })
      .finally(() => finish(entry));
  }

  function cancel(entry) {
    if (!entry || entry.cancelled || entry.loaded) return;
    entry.cancelled = true;
    if (explorer.pending.delete(entry)) return;
    if (explorer.active.has(entry)) {
      explorer.stats.aborted += 1;
      entry.controller.abort();
    }
  }

  const ExplorerLayer = L.GridLayer.extend({
    getTileSize: function () {
      const size = tileSizeAt(this._tileZoom !== undefined ? this._tileZoom : 0);
      return L.point(size, size);
    },

    createTile: function (coords, done) {
      const img = document.createElement("img");
      img.className = "ig-tile";
      img.alt = "";
      img.setAttribute("role", "presentation");
      img.draggable = false;
      const entry = {
        coords: coords.clone ? coords.clone() : coords,
        img: img,
        done: done,
        seed: explorer.content.seed,
        desc: explorer.content.desc,
        cancelled: false,
        loaded: false,
        controller: null,
      };
      entry.coords.z = coords.z;
      img._igEntry = entry;
      explorer.pending.add(entry);
      setTimeout(schedule, 0);
      return img;
    },
  });

  // ------------------------------------------------------------------------------------------
  // Downloads

  // One download at a time, shown with its progress and a Cancel button.
  let download = null;

  function setProgress(text) {
    $("progress").hidden = !text;
    $("progress-text").textContent = text || "";
  }

  function saveBlob(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    showMessage("Downloaded " + name);
  }

  async function errorDetail(response) {
    try { return (await response.json()).detail || response.statusText; } catch (e) { return response.statusText; }
  }

  // Run `work(signal)` as the download; its errors and a cancel end in one message.
  async function runDownload(work) {
    if (download) {
      showMessage("A download is already running; cancel it first.");
      return;
    }
    download = new AbortController();
    try {
      await work(download.signal);
    } catch (err) {
      download.abort(); // stop the other requests of the download
      showMessage(err.name === "AbortError" ? "Download cancelled." : "Download failed: " + err.message);
    } finally {
      download = null;
      setProgress("");
    }
  }

  function cancelDownload() {
    if (download) download.abort();
  }

  // A region rendered by the server in one pass (/image.png).
  function downloadImage(params, label) {
    const query = new URLSearchParams(params);
    query.set("seed", String(explorer.content.seed));
    query.set("m", explorer.info.model.id);
    if (explorer.content.desc) query.set("desc", explorer.content.desc);
    return runDownload(async (signal) => {
      setProgress("Rendering " + label + "\u2026");
      const response = await fetch("image.png?" + query.toString(), { signal: signal });
      if (!response.ok) throw new Error("(" + response.status + ") " + await errorDetail(response));
      const blob = await response.blob();
      const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      saveBlob(blob, match ? match[1] : "infinitygan.png");
    });
  }

  function viewRegion() {
    const map = explorer.map;
    const z = map.getZoom();
    const level = Math.max(0, -z);
    const bounds = map.getBounds();
    const nw = map.project(bounds.getNorthWest(), -level).round();
    const se = map.project(bounds.getSouthEast(), -level).round();
    return { level: level, top: nw.y, left: nw.x, height: se.y - nw.y, width: se.x - nw.x };
  }

  // "Download view" saves what is on screen: the level's tiles the page shows already, and
  // the missing ones fetched like any tile, DOWNLOAD_ACTIVE at a time.
  function shownTile(z, row, col) {
    const tiles = explorer.layer._tiles;
    for (const k in tiles) {
      const entry = tiles[k].el._igEntry;
      if (entry && entry.loaded && entry.coords.z === z && entry.coords.x === col &&
          entry.coords.y === row && entry.seed === explorer.content.seed &&
          entry.desc === explorer.content.desc) {
        return entry.img;
      }
    }
    return null;
  }

  async function fetchTileImage(entry, signal) {
    for (;;) {
      const response = await fetch(tileUrl(entry), { signal: signal });
      if (response.ok) return createImageBitmap(await response.blob());
      if (response.status !== 503) {
        throw new Error("tile error " + response.status + ": " + await errorDetail(response));
      }
      const wait = Math.min(30, Number(response.headers.get("Retry-After")) || 1);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      signal.throwIfAborted();
    }
  }

  function downloadView() {
    const r = viewRegion();
    const z = -r.level;
    const size = tileSizeAt(z);
    const content = explorer.content;
    const canvas = document.createElement("canvas");
    canvas.width = r.width;
    canvas.height = r.height;
    const ctx = canvas.getContext("2d");
    const missing = [];
    for (let row = Math.floor(r.top / size); row * size < r.top + r.height; row++) {
      for (let col = Math.floor(r.left / size); col * size < r.left + r.width; col++) {
        const img = shownTile(z, row, col);
        if (img) ctx.drawImage(img, col * size - r.left, row * size - r.top);
        else missing.push({ coords: { x: col, y: row, z: z }, seed: content.seed, desc: content.desc });
      }
    }
    explorer.stats.viewDownloadFetched = missing.length;
    const label = "the view (" + r.width + "\u00d7" + r.height + " px, level " + r.level + ")";
    return runDownload(async (signal) => {
      let done = 0;
      const progress = () => setProgress("Downloading " + label + ": " + done + " of " +
        missing.length + " tiles not on screen rendered");
      progress();
      let next = 0;
      const worker = async () => {
        while (next < missing.length) {
          const entry = missing[next++];
          const bitmap = await fetchTileImage(entry, signal);
          ctx.drawImage(bitmap, entry.coords.x * size - r.left, entry.coords.y * size - r.top);
          bitmap.close();
          done += 1;
          progress();
        }
      };
      await Promise.all(Array.from({ length: DOWNLOAD_ACTIVE }, worker));
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      saveBlob(blob, "infinitygan-seed" + content.seed + "-level" + r.level + "-y" + r.top +
        "-x" + r.left + "-" + r.width + "x" + r.height + ".png");
    });
  }

  // Region selection: drag a box while selecting; the form holds canvas pixels of level 0.
  let selecting = false;
  let selectStart = null;
  let selectBox = null;

  function regionFromForm() {
    const v = (id) => Number($(id).value);
    return { left: v("region-left"), top: v("region-top"), width: v("region-width"), height: v("region-height") };
  }

  function drawSelectBox(r) {
    const map = explorer.map;
    const a = map.unproject([r.left, r.top], 0);
    const b = map.unproject([r.left + r.width, r.top + r.height], 0);
    if (selectBox) selectBox.setBounds([a, b]);
    else selectBox = L.rectangle([a, b], { color: "#4ab3ff", weight: 2, fill: false, interactive: false }).addTo(map);
  }

  function setSelecting(on) {
    selecting = on;
    if (on && anchorMode) setAnchorMode(false);
    $("select-region").setAttribute("aria-pressed", on ? "true" : "false");
    explorer.map.getContainer().classList.toggle("ig-selecting", on);
    if (on) {
      explorer.map.dragging.disable();
      showMessage("Drag a box on the canvas.", true);
    } else {
      explorer.map.dragging.enable();
    }
  }

  function onSelectDown(e) {
    if (!selecting) return;
    // Without map dragging the browser would select page text while the box is drawn.
    e.originalEvent.preventDefault();
    L.DomUtil.disableTextSelection();
    selectStart = explorer.map.project(e.latlng, 0).round();
  }

  function onSelectMove(e) {
    if (!selecting || !selectStart) return;
    const p = explorer.map.project(e.latlng, 0).round();
    const r = {
      left: Math.min(selectStart.x, p.x), top: Math.min(selectStart.y, p.y),
      width: Math.max(1, Math.abs(p.x - selectStart.x)), height: Math.max(1, Math.abs(p.y - selectStart.y)),
    };
    $("region-left").value = r.left;
    $("region-top").value = r.top;
    $("region-width").value = r.width;
    $("region-height").value = r.height;
    drawSelectBox(r);
  }

  function onSelectUp() {
    if (!selecting || !selectStart) return;
    L.DomUtil.enableTextSelection();
    selectStart = null;
    setSelecting(false);
    $("region-form").hidden = false;
    updateRegionButton();
    showMessage("");
  }

  function updateRegionButton() {
    const r = regionFromForm();
    $("region-download").textContent = "Download full resolution (" + r.width + "\u00d7" + r.height + ")";
  }

  function closeRegion() {
    $("region-form").hidden = true;
    if (selectBox) { selectBox.remove(); selectBox = null; }
    setSelecting(false);
  }

  // ------------------------------------------------------------------------------------------
  // Style anchors and box edits (shown when the server can render them)

  const EDIT_COLOURS = { local: "#7cfc00", noise: "#00e5ff", style: "#ff66cc" };
  const EDIT_NAMES = { local: "structure", noise: "noise", style: "style" };
  let anchorMode = false;

  function randomSeed() {
    const values = new Uint32Array(1);
    window.crypto.getRandomValues(values);
    return values[0] % 1000000;
  }

  function editSeed() {
    const seed = Number($("edit-seed").value);
    $("edit-seed").value = String(randomSeed()); // the next anchor or edit differs by default
    return validSeed(seed) ? seed : randomSeed();
  }

  function showEdits() {
    if (!explorer.overlay) return;
    const extras = decodeDesc(explorer.content.desc);
    explorer.overlay.clearLayers();
    const list = $("edit-list");
    list.replaceChildren();
    if (extras === null) {
      showMessage("The link's description is not readable; it was ignored by the page.");
      return;
    }
    const map = explorer.map;
    const addItem = (text, kind, index) => {
      const li = document.createElement("li");
      li.textContent = text;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "\u00d7";
      remove.title = "Remove";
      remove.addEventListener("click", () => updateExtras((x) => x[kind].splice(index, 1)));
      li.appendChild(remove);
      list.appendChild(li);
    };
    extras.anchors.forEach((a, i) => {
      L.circleMarker(map.unproject([a.x, a.y], 0), {
        radius: 6, color: "#000", weight: 2, fillColor: "#ffd54a", fillOpacity: 1, interactive: false,
      }).addTo(explorer.overlay);
      addItem("anchor: seed " + a.seed + " at x " + a.x + ", y " + a.y, "anchors", i);
    });
    extras.edits.forEach((e, i) => {
      L.rectangle([map.unproject([e.left, e.top], 0), map.unproject([e.left + e.width, e.top + e.height], 0)], {
        color: EDIT_COLOURS[e.what] || "#fff", weight: 2, dashArray: "6 4", fill: false, interactive: false,
      }).addTo(explorer.overlay);
      addItem((EDIT_NAMES[e.what] || e.what) + ": seed " + e.seed + ", " + e.width + "\u00d7" + e.height +
        " at x " + e.left + ", y " + e.top, "edits", i);
    });
    $("blend").value = String(extras.blend !== undefined ? extras.blend : explorer.info.default_blend);
    $("clear-edits").disabled = !extras.anchors.length && !extras.edits.length;
  }

  function setAnchorMode(on) {
    anchorMode = on;
    if (on && selecting) setSelecting(false);
    $("add-anchor").setAttribute("aria-pressed", on ? "true" : "false");
    explorer.map.getContainer().classList.toggle("ig-selecting", on);
    if (on) showMessage("Click the canvas where the new style should be.", true);
  }

  function onMapClick(e) {
    if (!anchorMode) return;
    setAnchorMode(false);
    const p = explorer.map.project(e.latlng, 0).round();
    const seed = editSeed();
    updateExtras((x) => {
      if (x.anchors.length >= explorer.info.limits.anchors) {
        showMessage("At most " + explorer.info.limits.anchors + " anchors.");
        return;
      }
      if (!x.anchors.length) {
        // With anchors, only anchored styles are used: keep the canvas's own style at the
        // view centre so that the new style covers only its side of the canvas.
        const c = centerPixel();
        if (c.x !== p.x || c.y !== p.y) x.anchors.push({ y: c.y, x: c.x, seed: explorer.content.seed });
      }
      x.anchors.push({ y: p.y, x: p.x, seed: seed });
      showMessage("Style of seed " + seed + " anchored at x " + p.x + ", y " + p.y + ".");
    });
  }

  function addBoxEdit(what) {
    const r = regionFromForm();
    if (![r.left, r.top, r.width, r.height].every(Number.isSafeInteger) || r.width < 1 || r.height < 1) {
      showMessage("Choose a box first.");
      return;
    }
    const side = explorer.info.limits.edit_side;
    if (r.width > side || r.height > side) {
      showMessage("Edit boxes are at most " + side + " pixels on a side.");
      return;
    }
    const seed = editSeed();
    updateExtras((x) => {
      if (x.edits.length >= explorer.info.limits.edits) {
        showMessage("At most " + explorer.info.limits.edits + " edits.");
        return;
      }
      x.edits.push({ top: r.top, left: r.left, height: r.height, width: r.width, what: what, seed: seed });
      showMessage("Redrew " + EDIT_NAMES[what] + " in the box (seed " + seed + ").");
    });
  }

  function bindFusionControls() {
    $("edit-seed").value = String(randomSeed());
    $("add-anchor").addEventListener("click", () => setAnchorMode(!anchorMode));
    $("clear-edits").addEventListener("click", () => updateExtras((x) => {
      x.anchors = [];
      x.edits = [];
    }));
    $("blend").addEventListener("change", () => {
      const v = Number($("blend").value);
      if (!Number.isSafeInteger(v) || v < 0 || v > explorer.info.limits.blend) {
        showMessage("Blend is a width in pixels, 0 to " + explorer.info.limits.blend + ".");
        showEdits();
        return;
      }
      updateExtras((x) => { x.blend = v; });
    });
    for (const button of $("region-edit").querySelectorAll("button[data-what]")) {
      button.addEventListener("click", () => addBoxEdit(button.dataset.what));
    }
    explorer.map.on("click", onMapClick);
  }

  // ------------------------------------------------------------------------------------------
  // Setup

  function shorten(text) {
    return text.length > 24 ? text.slice(0, 21) + "\u2026" : text;
  }

  // The seed and description a link asks for, or, with one message saying why, what the page
  // shows instead: `fallbackSeed` for an unusable seed, no anchors or edits for a description
  // the server would refuse (so that no tile request fails because of the link).
  async function readLinkContent(state, fallbackSeed) {
    const info = explorer.info;
    const problems = [];
    let seed = fallbackSeed;
    const text = state.seedText;
    if (text !== null) {
      const big = /^-?\d{1,40}$/.test(text) ? BigInt(text) : null;
      if (big !== null && (big < 0n ? -big : big) <= BigInt(info.seed_limit)) {
        seed = Number(big);
      } else {
        problems.push("the seed " + JSON.stringify(shorten(text)) + " is not an integer within \u00b1" +
          info.seed_limit);
      }
    }
    let desc = state.desc;
    if (desc) {
      let why = "";
      if (desc.length > info.limits.desc_chars || !/^[A-Za-z0-9_-]+$/.test(desc) || decodeDesc(desc) === null) {
        why = "are not readable";
      } else {
        try {
          const query = new URLSearchParams({ seed: String(seed), desc: desc });
          const result = await (await fetch("api/check?" + query.toString(), { cache: "no-store" })).json();
          if (!result.ok) why = "cannot be drawn: " + result.detail;
        } catch (e) {
          why = "could not be checked (" + e.message + ")";
        }
      }
      if (why) {
        problems.push("the anchors and edits (d=" + shorten(desc) + ") " + why);
        desc = "";
      }
    }
    if (problems.length) {
      showMessage("In this link, " + problems.join("; ") + ". Showing seed " + seed +
        (state.desc && !desc ? " without anchors or edits" : "") + ".", true);
    }
    return { seed: seed, desc: desc };
  }

  function applyHashView(state) {
    const map = explorer.map;
    const z = state.z !== null ? Math.min(map.getMaxZoom(), Math.max(map.getMinZoom(), state.z)) : 0;
    const x = state.x !== null ? state.x : 0;
    const y = state.y !== null ? state.y : 0;
    map.setView(map.unproject([x, y], 0), z, { animate: false });
  }

  async function onHashChange() {
    const state = parseHash();
    if (state.seedText !== String(explorer.content.seed) || state.desc !== explorer.content.desc) {
      const next = await readLinkContent(state, explorer.content.seed);
      setContent(next);
      writeHash(); // the URL shows what is on screen, also after a fallback
    }
    const c = centerPixel();
    if ((state.x !== null && state.x !== c.x) || (state.y !== null && state.y !== c.y) ||
        (state.z !== null && state.z !== explorer.map.getZoom())) {
      applyHashView(state);
    }
  }

  function rebaseIfFar() {
    // Leaflet positions tiles relative to a pixel origin fixed at the last view reset; after a
    // very long pan, reset it so CSS offsets stay small.
    const offset = explorer.map.containerPointToLayerPoint([0, 0]);
    if (Math.abs(offset.x) > REBASE_PX || Math.abs(offset.y) > REBASE_PX) {
      explorer.map.setView(explorer.map.getCenter(), explorer.map.getZoom(), { reset: true });
    }
  }

  async function pollStats() {
    try {
      const response = await fetch("api/stats", { cache: "no-store" });
      if (response.ok) {
        const s = await response.json();
        explorer.serverStats = s;
        $("status-rate").title = "server: " + s.queue + " jobs queued, " + s.running + " running, " +
          s.tiles_made + " tiles made, " + s.tiles_per_second + " tiles/s over the last 10 s";
        updateZoomRange();
        updateStatus();
      }
    } catch (e) { /* the server may be restarting */ }
  }

  // One wheel gesture zooms one level at most (Leaflet's own handler zooms two levels for a
  // delta of 100 or more, which can start minutes of rendering).
  let wheelUntil = 0;
  function onWheel(e) {
    e.preventDefault();
    const map = explorer.map;
    const now = performance.now();
    if (e.deltaY === 0 || now < wheelUntil) return;
    wheelUntil = now + 250;
    const zoom = Math.max(map.getMinZoom(), Math.min(map.getMaxZoom(), map.getZoom() + (e.deltaY > 0 ? -1 : 1)));
    if (zoom !== map.getZoom()) map.setZoomAround(map.mouseEventToContainerPoint(e), zoom);
  }

  function bindControls() {
    $("seed").addEventListener("change", () => {
      const text = $("seed").value.trim();
      setSeed(/^-?\d+$/.test(text) ? Number(text) : NaN);
    });
    $("seed-prev").addEventListener("click", () => setSeed(explorer.content.seed - 1));
    $("seed-next").addEventListener("click", () => setSeed(explorer.content.seed + 1));
    $("seed-random").addEventListener("click", () => {
      const values = new Uint32Array(1);
      window.crypto.getRandomValues(values);
      setSeed(values[0] % 1000000);
    });
    $("undo").addEventListener("click", undo);
    $("redo").addEventListener("click", redo);
    $("share").addEventListener("click", async () => {
      writeHash();
      try {
        await navigator.clipboard.writeText(window.location.href);
        showMessage("Link copied.");
      } catch (e) {
        showMessage("Link: " + window.location.href, true);
      }
    });
    $("download-view").addEventListener("click", downloadView);
    $("progress-cancel").addEventListener("click", cancelDownload);
    $("select-region").addEventListener("click", () => setSelecting(!selecting));
    $("region-cancel").addEventListener("click", closeRegion);
    for (const id of ["region-left", "region-top", "region-width", "region-height"]) {
      $(id).addEventListener("input", () => {
        const r = regionFromForm();
        if ([r.left, r.top, r.width, r.height].every(Number.isFinite) && r.width > 0 && r.height > 0) {
          drawSelectBox(r);
          updateRegionButton();
        }
      });
    }
    $("region-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const r = regionFromForm();
      if (r.width * r.height > explorer.info.max_image_pixels) {
        showMessage("At most " + explorer.info.max_image_pixels + " pixels per download.");
        return;
      }
      downloadImage({ level: 0, top: r.top, left: r.left, height: r.height, width: r.width },
        r.width + "\u00d7" + r.height + " px at full resolution");
    });
    document.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === "z") {
        e.preventDefault();
        if (e.shiftKey) redo(); else undo();
      } else if (mod && e.key.toLowerCase() === "y") {
        e.preventDefault();
        redo();
      } else if (e.key === "Escape") {
        if (selecting) setSelecting(false);
        if (anchorMode) setAnchorMode(false);
      }
    });
    window.addEventListener("hashchange", onHashChange);
  }

  async function init() {
    const response = await fetch("api/info", { cache: "no-store" });
    if (!response.ok) throw new Error("api/info answered " + response.status);
    const info = await response.json();
    explorer.info = info;
    $("model-name").textContent = info.model.name + " (" + info.model.preset + ", " + info.device + ")";
    $("model-name").title = "model id " + info.model.id;

    const state = parseHash();
    explorer.content = await readLinkContent(state, info.default_seed);

    const lim = info.coord_limit;
    const map = L.map("map", {
      crs: L.CRS.Simple,
      minZoom: -info.max_level,
      maxZoom: 2,
      zoomSnap: 1,
      zoomDelta: 1,
      scrollWheelZoom: false, // onWheel: one level per gesture
      fadeAnimation: false,
      attributionControl: false,
      maxBounds: [[lim, -lim], [-lim, lim]],
      maxBoundsViscosity: 1.0,
    });
    explorer.map = map;
    const layer = new ExplorerLayer({
      tileSize: TILE,
      minZoom: -info.max_level,
      maxZoom: 2,
      minNativeZoom: -info.max_level,
      maxNativeZoom: 0,
      keepBuffer: 1,
      updateWhenZooming: false,
      noWrap: true,
    });
    explorer.layer = layer;
    layer.on("tileunload", (e) => cancel(e.tile._igEntry));
    applyHashView(state);
    explorer.overlay = L.layerGroup().addTo(map);
    bindControls();
    bindFusionControls();
    applyContent();
    layer.addTo(map);
    map.zoomControl.setPosition("topright");

    map.on("move", updateStatus);
    map.on("moveend zoomend", () => {
      writeHash();
      updateStatus();
      map.getContainer().classList.toggle("ig-overzoom", map.getZoom() > 0);
      rebaseIfFar();
    });
    map.getContainer().addEventListener("wheel", onWheel, { passive: false });
    map.on("mousedown", onSelectDown);
    map.on("mousemove", onSelectMove);
    map.on("mouseup", onSelectUp);
    updateZoomRange();
    setInterval(updateStatus, 500);
    setInterval(pollStats, 1000);
    pollStats();
    explorer.ready = true;
  }

  explorer.idle = function () {
    if (!explorer.ready) return false;
    if (explorer.pending.size || explorer.active.size) return false;
    const tiles = explorer.layer._tiles;
    return Object.keys(tiles).every((k) => tiles[k].loaded || tiles[k].el._igEntry.loaded);
  };
  explorer.setSeed = setSeed;
  explorer.extras = () => currentExtras();
  explorer.encodeDesc = (extras) => encodeDesc(extras);
  explorer.undo = undo;
  explorer.redo = redo;
  explorer.viewRegion = () => viewRegion();
  explorer.centerPixel = () => centerPixel();

  init().catch((err) => {
    explorer.lastError = String(err);
    showMessage("Cannot start the explorer: " + err.message, true);
  });
})();
