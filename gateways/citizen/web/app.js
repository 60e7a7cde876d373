// The city map: every car park coloured by availability, kept live over /v1/stream.
// GET /v1/map says what to draw underneath: a tile basemap (Tianditu or any XYZ template) in its
// coordinate system, which every API call then names as `coord` so markers sit on its streets;
// or nothing, and the map draws district outlines and a graticule with no outside request at all.
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
const KIND_TEXT = { district: "district", street: "street", station: "station", landmark: "place" };
const MAX_STREAM_RADIUS_M = 50000;
const WALK_M = 1500; // how far from the chosen point suggestions may be
const MAX_LOT_MATCHES = 8;

const lots = new Map(); // id -> lot fields from /v1/lots, updated by the stream
const markers = new Map(); // id -> Leaflet circle marker
let map;
let origin = null; // the point guidance was asked for
let COORD = "wgs84"; // the basemap's coordinate system: every lat/lon the page sends or reads is in it
let searchSeq = 0; // the latest search; older answers arriving late are dropped

// ---- data ------------------------------------------------------------------------------

function api(path, params = {}) {
  const q = new URLSearchParams({ ...params, coord: COORD });
  return fetch(`${path}?${q}`, { cache: "no-cache" }); // revalidate: answers may be seconds old otherwise
}

async function fetchAllLots() {
  const all = [];
  let after = null;
  for (;;) {
    const res = await api("/v1/lots", after ? { limit: 5000, after } : { limit: 5000 });
    if (!res.ok) throw new Error("GET /v1/lots: " + res.status);
    const page = await res.json();
    all.push(...page.lots);
    if (!page.next) return all;
    after = page.next;
  }
}

async function fetchMapConfig() {
  try {
    const res = await fetch("/v1/map", { cache: "no-cache" });
    if (res.ok) return await res.json();
  } catch (err) {
    // an older platform: the offline map
  }
  return { coord: "wgs84", layers: [] };
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(h));
}

function textOnly(s) {
  const div = document.createElement("div");
  div.textContent = s || "";
  return div.innerHTML; // Leaflet's attribution is HTML: the setting is shown as text
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

// Only a live status carries a free count: an unknown or closed lot is never shown as free (or full).
function isLive(lot) {
  return lot.status === "spacesAvailable" || lot.status === "almostFull" || lot.status === "full";
}

function countText(lot) {
  if (!isLive(lot)) return `–/${lot.total}`;
  return `${lot.free}/${lot.total}`;
}

function knownText(lot) {
  return lot.berths_known != null ? ` (${lot.berths_known} berths reporting)` : "";
}

function describe(lot) {
  if (!isLive(lot)) return `${lot.name}: ${STATUS_TEXT[lot.status] || lot.status}, ${lot.total} spaces`;
  return `${lot.name}: ${lot.free}/${lot.total} free, ${STATUS_TEXT[lot.status] || lot.status}${knownText(lot)}`;
}

function popupNode(lot) {
  const div = document.createElement("div");
  div.className = "lot-popup";
  const title = document.createElement("b");
  title.textContent = lot.name;
  const body = document.createElement("span");
  const updated = lot.updated_at ? new Date(lot.updated_at).toLocaleTimeString() : "never";
  const count = isLive(lot) ? `${lot.free} of ${lot.total} free${knownText(lot)}` : `${lot.total} spaces`;
  body.textContent = `${count} · ${STATUS_TEXT[lot.status] || lot.status} · ${lot.district} · updated ${updated}`;
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

function addBasemap(config) {
  const credits = [];
  for (const layer of config.layers) {
    L.tileLayer(layer.url, { subdomains: layer.subdomains || "abc", maxZoom: layer.max_zoom || 18, className: "basemap" }).addTo(map);
    if (layer.attribution) credits.push(textOnly(layer.attribution));
  }
  if (credits.length) {
    L.control.attribution({ prefix: false }).addAttribution(credits.join(" · ")).addTo(map);
  }
  document.body.dataset.basemap = config.layers.length ? config.coord : "none";
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

// The outline of a set of points: Andrew's monotone chain, on lon/lat (flat is fine for a city).
function hull(points) {
  const p = [...points].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[1] - o[1]) * (b[0] - o[0]) - (a[0] - o[0]) * (b[1] - o[1]);
  const lower = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper = [];
  for (const q of p.reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

// Offline: each district's outline around its car parks, and its name in the middle.
function drawDistricts(outlines) {
  const byDistrict = new Map();
  for (const lot of lots.values()) {
    if (!byDistrict.has(lot.district)) byDistrict.set(lot.district, []);
    byDistrict.get(lot.district).push([lot.lat, lot.lon]);
  }
  for (const [name, points] of byDistrict) {
    if (outlines && points.length >= 3) {
      L.polygon(hull(points), {
        color: "#8a96a3", weight: 1.5, dashArray: "4 4", fillColor: "#dfe5eb", fillOpacity: 0.35, interactive: false,
        className: "district-outline",
      }).addTo(map);
    }
    const c = points.reduce((s, q) => [s[0] + q[0] / points.length, s[1] + q[1] / points.length], [0, 0]);
    const label = document.createElement("span");
    label.textContent = name;
    L.marker(c, {
      icon: L.divIcon({ className: "district-label", html: label.outerHTML, iconSize: null }),
      interactive: false,
      keyboard: false,
    }).addTo(map);
  }
}

function renderSummary() {
  let free = 0, total = 0, full = 0, noData = 0;
  for (const lot of lots.values()) {
    if (lot.status === "unknown") noData += 1;
    if (!isLive(lot)) continue; // spaces of lots without fresh data are neither free nor taken
    free += lot.free; total += lot.total;
    if (lot.status === "full") full += 1;
  }
  document.getElementById("summary").textContent =
    `${lots.size} car parks · ${free.toLocaleString()} of ${total.toLocaleString()} spaces free · ${full} full · ${noData} no data`;
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
  radius = Math.min(MAX_STREAM_RADIUS_M, Math.ceil(radius) + 200); // the server measures in WGS-84: a little slack
  const q = new URLSearchParams({ lat: c.lat.toFixed(6), lon: c.lon.toFixed(6), radius_m: radius, coord: COORD });
  const source = new EventSource(`/v1/stream?${q}`);
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
  free.textContent = countText(lot);
  if (!isLive(lot)) free.title = STATUS_TEXT[lot.status] || lot.status;
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

let searchTimer;

function clearMatches() {
  clearTimeout(searchTimer);
  searchSeq += 1; // an answer still on its way is not shown
  document.getElementById("matches").replaceChildren();
}

// Pick a search result: the list of matches closes so the suggestions below it are in view.
function picked(lat, lon, label, zoom) {
  clearMatches();
  map.setView([lat, lon], Math.max(map.getZoom(), zoom));
  guide(lat, lon, label);
}

function placeRow(place) {
  const li = document.createElement("li");
  li.className = "place";
  li.dataset.place = place.name;
  const icon = document.createElement("i");
  icon.className = "pin " + place.kind;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = place.name;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = [KIND_TEXT[place.kind] || place.kind, place.district || place.city].filter(Boolean).join(" · ");
  li.append(icon, name, meta);
  li.addEventListener("click", () => picked(place.lat, place.lon, place.name, place.kind === "district" ? 14 : 16));
  return li;
}

function lotRow(lot) {
  const li = document.createElement("li");
  li.dataset.lot = lot.id;
  fillRow(li, lot, lot.district);
  li.addEventListener("click", () => {
    picked(lot.lat, lot.lon, lot.name, 16);
    markers.get(lot.id).openPopup();
  });
  return li;
}

// Places (GET /v1/places: stations, streets, landmarks, districts) first, then car parks by name or id.
async function search(text) {
  const seq = ++searchSeq;
  const q = text.trim();
  if (!q) { clearMatches(); return; }
  const needle = q.toLowerCase();
  const hits = [];
  for (const lot of lots.values()) {
    if (lot.name.toLowerCase().includes(needle) || lot.id.toLowerCase() === needle) hits.push(lot);
    if (hits.length >= MAX_LOT_MATCHES) break;
  }
  let places = [];
  try {
    const res = await api("/v1/places", { q, limit: 6 });
    if (res.ok) places = (await res.json()).places;
  } catch (err) {
    // place search down: car parks still match
  }
  if (seq !== searchSeq) return; // the driver typed on meanwhile
  const list = document.getElementById("matches");
  list.replaceChildren(...places.map(placeRow), ...hits.map(lotRow));
  if (!list.children.length) {
    list.append(Object.assign(document.createElement("li"), { className: "meta", textContent: "no place or car park by that name" }));
  }
  list.scrollTop = 0;
}

// /v1/guidance ranks where to go; on a platform without it, the nearest lots with a free space.
async function suggestions(lat, lon) {
  const at = { lat: lat.toFixed(6), lon: lon.toFixed(6) };
  const res = await api("/v1/guidance", { ...at, max_walk_m: WALK_M, limit: 10 });
  if (res.ok) {
    const body = await res.json();
    const items = Array.isArray(body) ? body : Object.values(body).find(Array.isArray) || [];
    return items.map((item) => ({ ...item, id: item.id || item.lot_id || (item.lot && item.lot.id) }));
  }
  if (res.status !== 404) throw new Error("GET /v1/guidance: " + res.status);
  const near = await api("/v1/lots/nearby", { ...at, radius_m: WALK_M, min_free: 1, limit: 10 });
  if (!near.ok) throw new Error("GET /v1/lots/nearby: " + near.status);
  return (await near.json()).lots;
}

function suggestionMeta(item, lot, from) {
  const d = item.distance_m ?? metres(from, lot);
  const parts = [d < 1000 ? `${Math.round(d)} m` : `${(d / 1000).toFixed(1)} km`];
  if (item.predicted_free_at_arrival != null) parts.push(`~${item.predicted_free_at_arrival} on arrival`);
  if (item.stale || lot.status === "unknown") parts.push("no fresh data");
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
  const section = document.getElementById("guide");
  if (section.getBoundingClientRect().top > window.innerHeight - 80) section.scrollIntoView({ block: "start" });
}

// The browser's fix is WGS-84 (W3C Geolocation); the platform turns it into the basemap's system.
function locate() {
  const status = document.getElementById("guide-from");
  if (!navigator.geolocation) { status.textContent = "this browser cannot tell where you are"; return; }
  status.textContent = "finding you…";
  navigator.geolocation.getCurrentPosition(async (pos) => {
    let lat = pos.coords.latitude, lon = pos.coords.longitude;
    if (COORD !== "wgs84") {
      const q = new URLSearchParams({ lat, lon, from: "wgs84", to: COORD });
      const res = await fetch(`/v1/coords?${q}`);
      if (res.ok) ({ lat, lon } = await res.json());
    }
    if (document.body.dataset.ready) {
      map.setView([lat, lon], Math.max(map.getZoom(), 15));
      guide(lat, lon, "your location");
    }
  }, (err) => {
    status.textContent = err.code === err.PERMISSION_DENIED ? "location not allowed: click the map instead" : "could not find you: " + err.message;
  }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
}

// ---- start -----------------------------------------------------------------------------------

async function start() {
  map = L.map("map", { zoomSnap: 0.5, attributionControl: false, preferCanvas: false });
  const config = await fetchMapConfig();
  COORD = config.coord || "wgs84";
  addBasemap(config);
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
  if (!config.layers.length) drawGraticule(bounds);
  drawDistricts(!config.layers.length);
  for (const lot of all) addMarker(lot);
  renderSummary();
  map.on("click", (e) => guide(e.latlng.lat, e.latlng.lng));
  document.getElementById("guide-centre").addEventListener("click", () => {
    const c = map.getCenter();
    guide(c.lat, c.lng, "the map centre");
  });
  document.getElementById("locate").addEventListener("click", locate);
  const q = document.getElementById("q");
  q.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => search(q.value), 150); });
  q.addEventListener("keydown", (e) => { if (e.key === "Escape") { q.value = ""; clearMatches(); } });
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = document.querySelector("#matches li.place, #matches li[data-lot]");
    if (first) first.click();
  });
  if (all.length) openStream(bounds);
  document.body.dataset.ready = "true";
}

start();
