// The city map: every car park coloured by availability, kept live over /v1/stream.
// No tiles and no outside requests: the map draws a plain background, a graticule and
// district names, so it works on a network with no way out.
"use strict";

const STATUS_COLOUR = {
  spacesAvailable: "#1f9d55",
  almostFull: "#f0a202",
  full: "#d93025",
  closed: "#9aa0a6",
  unknown: "#9aa0a6",
};
const STATUS_TEXT = {
  spacesAvailable: "spaces available",
  almostFull: "almost full",
  full: "full",
  closed: "closed now",
  unknown: "no data",
};
const MAX_STREAM_RADIUS_M = 50000;
const WALK_M = 1500; // how far from the chosen point suggestions may be

const lots = new Map(); // id -> lot fields from /v1/lots, updated by the stream
const markers = new Map(); // id -> Leaflet circle marker
let map;
let origin = null; // the point guidance was asked for

// ---- data ------------------------------------------------------------------------------

async function fetchAllLots() {
  const all = [];
  let after = null;
  for (;;) {
    const url = "/v1/lots?limit=5000" + (after ? "&after=" + encodeURIComponent(after) : "");
    const res = await fetch(url, { cache: "no-cache" }); // revalidate: the list may be seconds old otherwise
    if (!res.ok) throw new Error("GET /v1/lots: " + res.status);
    const page = await res.json();
    all.push(...page.lots);
    if (!page.next) return all;
    after = page.next;
  }
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(h));
}

// ---- the map -----------------------------------------------------------------------------

function markerStyle(lot) {
  const small = lot.kind === "on_street";
  return {
    radius: small ? 5 : Math.min(11, 6 + Math.log10(Math.max(10, lot.total))),
    color: "#ffffff",
    weight: 1,
    fillColor: STATUS_COLOUR[lot.status] || STATUS_COLOUR.unknown,
    fillOpacity: 0.9,
  };
}

function describe(lot) {
  return `${lot.name}: ${lot.free}/${lot.total} free, ${STATUS_TEXT[lot.status] || lot.status}`;
}

function popupNode(lot) {
  const div = document.createElement("div");
  div.className = "lot-popup";
  const title = document.createElement("b");
  title.textContent = lot.name;
  const body = document.createElement("span");
  const updated = lot.updated_at ? new Date(lot.updated_at).toLocaleTimeString() : "never";
  body.textContent = `${lot.free} of ${lot.total} free · ${STATUS_TEXT[lot.status] || lot.status} · ${lot.district} · updated ${updated}`;
  div.append(title, body);
  return div;
}

function showLot(lot) {
  const marker = markers.get(lot.id);
  marker.setStyle(markerStyle(lot));
  marker.setTooltipContent(describe(lot));
  if (marker.isPopupOpen()) marker.setPopupContent(popupNode(lot));
  const el = marker.getElement();
  if (el) {
    el.setAttribute("data-status", lot.status);
    el.setAttribute("data-free", String(lot.free));
  }
  for (const row of document.querySelectorAll(`li[data-lot="${CSS.escape(lot.id)}"]`)) fillRow(row, lot);
}

function addMarker(lot) {
  const marker = L.circleMarker([lot.lat, lot.lon], { ...markerStyle(lot), bubblingMouseEvents: false })
    .bindTooltip(describe(lot), { direction: "top" })
    .bindPopup(() => popupNode(lots.get(lot.id)))
    .addTo(map);
  marker.on("click", () => guide(lot.lat, lot.lon, lot.name));
  const el = marker.getElement();
  el.classList.add("lot-marker");
  el.setAttribute("data-lot", lot.id);
  el.setAttribute("data-status", lot.status);
  el.setAttribute("data-free", String(lot.free));
  markers.set(lot.id, marker);
}

function drawGraticule(bounds) {
  const padded = bounds.pad(0.5);
  const step = 0.02; // about 2 km
  const style = { color: "#cfd6de", weight: 1, interactive: false };
  const south = Math.floor(padded.getSouth() / step) * step;
  const west = Math.floor(padded.getWest() / step) * step;
  for (let lat = south; lat <= padded.getNorth(); lat += step) {
    L.polyline([[lat, padded.getWest()], [lat, padded.getEast()]], style).addTo(map);
  }
  for (let lon = west; lon <= padded.getEast(); lon += step) {
    L.polyline([[padded.getSouth(), lon], [padded.getNorth(), lon]], style).addTo(map);
  }
}

function drawDistricts() {
  const sums = new Map();
  for (const lot of lots.values()) {
    const s = sums.get(lot.district) || { lat: 0, lon: 0, n: 0 };
    s.lat += lot.lat; s.lon += lot.lon; s.n += 1;
    sums.set(lot.district, s);
  }
  for (const [name, s] of sums) {
    const label = document.createElement("span");
    label.textContent = name;
    L.marker([s.lat / s.n, s.lon / s.n], {
      icon: L.divIcon({ className: "district-label", html: label.outerHTML, iconSize: null }),
      interactive: false,
      keyboard: false,
    }).addTo(map);
  }
}

function renderSummary() {
  let free = 0, total = 0, full = 0;
  for (const lot of lots.values()) {
    free += lot.free; total += lot.total;
    if (lot.status === "full") full += 1;
  }
  document.getElementById("summary").textContent =
    `${lots.size} car parks · ${free.toLocaleString()} of ${total.toLocaleString()} spaces free · ${full} full`;
}

// ---- live updates --------------------------------------------------------------------------

function setLive(state, text) {
  const el = document.getElementById("live");
  el.className = "live " + state;
  el.textContent = text;
}

function applyUpdate(update) {
  const lot = lots.get(update.lot_id);
  if (!lot) return;
  Object.assign(lot, { free: update.free, total: update.total, status: update.status, updated_at: update.ts });
  showLot(lot);
  renderSummary();
}

async function resync() {
  for (const fresh of await fetchAllLots()) {
    if (!lots.has(fresh.id)) continue;
    Object.assign(lots.get(fresh.id), fresh);
    showLot(lots.get(fresh.id));
  }
  renderSummary();
}

function openStream(bounds) {
  const centre = bounds.getCenter();
  const c = { lat: centre.lat, lon: centre.lng };
  let radius = 100;
  for (const lot of lots.values()) radius = Math.max(radius, metres(c, lot) + 100);
  radius = Math.min(MAX_STREAM_RADIUS_M, Math.ceil(radius));
  const source = new EventSource(`/v1/stream?lat=${c.lat.toFixed(6)}&lon=${c.lon.toFixed(6)}&radius_m=${radius}`);
  source.addEventListener("availability", (e) => applyUpdate(JSON.parse(e.data)));
  source.addEventListener("ready", () => setLive("on", "live"));
  source.addEventListener("overflow", () => resync());
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) {
      setLive("off", "reconnecting…"); // EventSource retries by itself; the server resends the state
      return;
    }
    setLive("off", "offline"); // refused (e.g. 429: too many open pages): try again later
    setTimeout(() => openStream(bounds), 15000);
  };
}

// ---- search and guidance ----------------------------------------------------------------------

function fillRow(row, lot, extra) {
  row.replaceChildren();
  const dot = document.createElement("i");
  dot.className = "dot " + lot.status;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = lot.name;
  name.title = `${lot.name} (${lot.id}, ${lot.district})`;
  const free = document.createElement("span");
  free.className = "free";
  free.textContent = `${lot.free}/${lot.total}`;
  row.append(dot, name, free);
  const meta = extra !== undefined ? extra : row.dataset.meta;
  if (meta) {
    row.dataset.meta = meta;
    const m = document.createElement("span");
    m.className = "meta";
    m.textContent = meta;
    row.append(m);
  }
}

function search(text) {
  const list = document.getElementById("matches");
  list.replaceChildren();
  const q = text.trim().toLowerCase();
  if (!q) return;
  const districts = new Map();
  const hits = [];
  for (const lot of lots.values()) {
    if (lot.district.toLowerCase().includes(q)) districts.set(lot.district, (districts.get(lot.district) || 0) + 1);
    if (lot.name.toLowerCase().includes(q) || lot.id.toLowerCase() === q) hits.push(lot);
  }
  for (const [district, n] of districts) {
    const li = document.createElement("li");
    li.textContent = `${district} district · ${n} car parks`;
    li.addEventListener("click", () => {
      const inside = [...lots.values()].filter((l) => l.district === district).map((l) => [l.lat, l.lon]);
      map.fitBounds(L.latLngBounds(inside).pad(0.05));
      const c = map.getCenter();
      guide(c.lat, c.lng, `${district} district`);
    });
    list.append(li);
  }
  for (const lot of hits.slice(0, 12)) {
    const li = document.createElement("li");
    li.dataset.lot = lot.id;
    fillRow(li, lot, lot.district);
    li.addEventListener("click", () => {
      map.setView([lot.lat, lot.lon], Math.max(map.getZoom(), 16));
      markers.get(lot.id).openPopup();
      guide(lot.lat, lot.lon, lot.name);
    });
    list.append(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li");
    li.className = "meta";
    li.textContent = "no car park or district by that name";
    list.append(li);
  }
}

// /v1/guidance ranks where to go; on a platform without it, the nearest lots with a free space.
async function suggestions(lat, lon) {
  const at = `lat=${lat.toFixed(6)}&lon=${lon.toFixed(6)}`;
  const res = await fetch(`/v1/guidance?${at}&max_walk_m=${WALK_M}&limit=10`, { cache: "no-cache" });
  if (res.ok) {
    const body = await res.json();
    const items = Array.isArray(body) ? body : Object.values(body).find(Array.isArray) || [];
    return items.map((item) => ({ ...item, id: item.id || item.lot_id || (item.lot && item.lot.id) }));
  }
  if (res.status !== 404) throw new Error("GET /v1/guidance: " + res.status);
  const near = await fetch(`/v1/lots/nearby?${at}&radius_m=${WALK_M}&min_free=1&limit=10`, { cache: "no-cache" });
  if (!near.ok) throw new Error("GET /v1/lots/nearby: " + near.status);
  return (await near.json()).lots;
}

function suggestionMeta(item, lot, from) {
  const d = item.distance_m ?? metres(from, lot);
  const parts = [d < 1000 ? `${Math.round(d)} m` : `${(d / 1000).toFixed(1)} km`];
  if (item.predicted_free_at_arrival != null) parts.push(`~${item.predicted_free_at_arrival} on arrival`);
  return parts.join(" · ");
}

async function guide(lat, lon, label) {
  if (origin) origin.setLatLng([lat, lon]);
  else origin = L.circleMarker([lat, lon], { radius: 7, color: "#1d2733", weight: 2, fillOpacity: 0, interactive: false }).addTo(map);
  document.getElementById("guide-from").textContent = `from ${label || `${lat.toFixed(4)}, ${lon.toFixed(4)}`}`;
  const list = document.getElementById("guidance");
  let items;
  try {
    items = await suggestions(lat, lon);
  } catch (err) {
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "meta", textContent: String(err.message) }));
    return;
  }
  list.replaceChildren();
  for (const item of items) {
    const lot = lots.get(item.id);
    if (!lot) continue;
    const li = document.createElement("li");
    li.dataset.lot = lot.id;
    if (Array.isArray(item.reasons)) li.title = item.reasons.join("; ");
    fillRow(li, lot, suggestionMeta(item, lot, { lat, lon }));
    li.addEventListener("click", () => {
      map.setView([lot.lat, lot.lon], Math.max(map.getZoom(), 16));
      markers.get(lot.id).openPopup();
    });
    list.append(li);
  }
  if (!list.children.length) {
    list.append(Object.assign(document.createElement("li"), {
      className: "meta", textContent: `no car park with free spaces within ${WALK_M / 1000} km`,
    }));
  }
}

// ---- start -----------------------------------------------------------------------------------

async function start() {
  map = L.map("map", { zoomSnap: 0.5, attributionControl: false, preferCanvas: false });
  let all;
  try {
    all = await fetchAllLots();
  } catch (err) {
    document.getElementById("summary").textContent = "could not load the car parks: " + err.message;
    setLive("off", "offline");
    return;
  }
  for (const lot of all) lots.set(lot.id, lot);
  const bounds = all.length
    ? L.latLngBounds(all.map((l) => [l.lat, l.lon]))
    : L.latLngBounds([[31.29, 120.57], [31.31, 120.6]]);
  map.fitBounds(bounds.pad(0.05));
  drawGraticule(bounds);
  drawDistricts();
  for (const lot of all) addMarker(lot);
  renderSummary();
  map.on("click", (e) => guide(e.latlng.lat, e.latlng.lng));
  document.getElementById("guide-centre").addEventListener("click", () => {
    const c = map.getCenter();
    guide(c.lat, c.lng, "the map centre");
  });
  const q = document.getElementById("q");
  q.addEventListener("input", () => search(q.value));
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = document.querySelector("#matches li");
    if (first) first.click();
  });
  if (all.length) openStream(bounds);
  document.body.dataset.ready = "true";
}

start();
