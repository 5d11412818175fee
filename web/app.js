// pushstage's dashboard: plain JavaScript over the JSON API (docs/http.md).
// Every value from the daemon goes into the page as text (textContent),
// never as markup, so a payload or a consumer's name cannot run a script.
"use strict";

const POLL_MS = 1000;
const HISTORY_EVERY = 10;	// polls between reads of /api/v1/history
const OVERVIEW_FIELDS = ["queues", "consumers_connected", "uptime_seconds", "queued", "delayed", "in_flight", "dead", "consumers",
	"enqueue_rate", "deliver_rate", "ack_rate", "paused", "enqueued_total",
	"acked_total"];

let token = sessionStorage.getItem("pushstage-token") || "";
let history = {};
let polls = 0;
let timer = null;
let lastShown = "";
let writable = false;

// h("td", {class: "x"}, "text", child...): an element; strings become text.
function h(tag, props, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(props || {})) {
		if (k === "class")
			el.className = v;
		else if (k.startsWith("on"))
			el.addEventListener(k.slice(2), v);
		else if (k === "dataset")
			Object.assign(el.dataset, v);
		else if (v !== false && v !== null && v !== undefined)
			el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
	}
	return el;
}

function fmt(n) {
	if (n === undefined || n === null)
		return "–";
	return Number(n).toLocaleString("en-US");
}

function ago(seconds) {
	const s = Math.max(0, Math.floor(Date.now() / 1000 - seconds));
	if (s < 60)
		return s + " s";
	if (s < 3600)
		return Math.floor(s / 60) + " min";
	if (s < 86400)
		return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
	return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
}

function say(text, error) {
	const el = document.getElementById("status");
	el.textContent = text;
	el.className = "show" + (error ? " error" : "");
	clearTimeout(say.timer);
	say.timer = setTimeout(() => { el.className = ""; }, error ? 8000 : 4000);
}

async function api(path, body) {
	const opts = { headers: {}, cache: "no-store" };
	if (body !== undefined) {
		opts.method = "POST";
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body);
		if (token)
			opts.headers["Authorization"] = "Bearer " + token;
	}
	const r = await fetch("/api/v1/" + path, opts);
	let data = null;
	try {
		data = await r.json();
	} catch (e) {
		data = { error: "HTTP " + r.status };
	}
	if (!r.ok)
		throw new Error(data.error || "HTTP " + r.status);
	return data;
}

// A change, asked for by a button: confirmed first, then its answer said.
async function act(question, path, body, done) {
	if (!window.confirm(question))
		return;
	try {
		const r = await api(path, body || {});
		say(done(r), false);
	} catch (e) {
		say("Refused: " + e.message, true);
	}
	lastShown = "";
	poll();
}

// A sparkline of depth (and enqueue rate) from the daemon's samples and now.
function spark(name, nowDepth, nowRate) {
	const hs = history[name] || { queued: [], enqueue_rate: [] };
	const depth = hs.queued.concat([nowDepth || 0]);
	const rate = hs.enqueue_rate.concat([nowRate || 0]);
	const W = 120, H = 26;
	const ns = "http://www.w3.org/2000/svg";
	const svg = document.createElementNS(ns, "svg");
	svg.setAttribute("class", "spark");
	svg.setAttribute("width", W);
	svg.setAttribute("height", H);
	svg.setAttribute("viewBox", "0 0 " + W + " " + H);
	svg.setAttribute("role", "img");
	svg.setAttribute("aria-label", "depth over the last 10 minutes");
	for (const [series, cls] of [[rate, "rate"], [depth, "depth"]]) {
		const max = Math.max(1, ...series);
		const step = series.length > 1 ? W / (series.length - 1) : W;
		const pts = series.map((v, i) =>
			(series.length > 1 ? i * step : W).toFixed(1) + "," +
			(H - 2 - (v / max) * (H - 4)).toFixed(1));
		if (pts.length === 1)
			pts.unshift("0," + pts[0].split(",")[1]);
		const line = document.createElementNS(ns, "polyline");
		line.setAttribute("class", cls);
		line.setAttribute("points", pts.join(" "));
		svg.append(line);
	}
	return svg;
}

function card(label, value) {
	return h("div", { class: "card", dataset: { card: label } }, h("div", { class: "v" }, fmt(value)),
		h("div", { class: "k" }, label));
}

function banner(data) {
	writable = data.writable;
	const b = document.getElementById("banner");
	b.hidden = writable;
	b.textContent = writable ? "" :
		"Read-only: producerd was started without --http-token-file, so pausing, purging and retrying are refused.";
	const d = data.daemon;
	const parts = ["v" + data.version, "up " + ago(data.started)];
	if (data.journal)
		parts.push(d.journal_full ? "journal FULL" : "journal on");
	if (data.cluster)
		parts.push(d.cluster_connected ? "cluster linked" : "cluster DOWN");
	if (data.upstream !== null)
		parts.push(d.upstream_connected ? "upstream linked" : "upstream DOWN");
	document.getElementById("daemon").textContent = parts.join(" · ");
}

function overview(data) {
	banner(data);
	const d = data.daemon;
	const sum = (k) => data.queues.reduce((s, q) => s + (q[k] || 0), 0);
	const rows = data.queues.map((q) => h("tr", { dataset: { queue: q.name } },
		h("td", {}, h("a", { href: "#/queue/" + encodeURIComponent(q.name) }, q.name),
			q.paused ? h("span", { class: "tag paused" }, "paused") : null,
			q.groups.length > 1 ? h("span", { class: "tag" }, (q.groups.length - 1) + " groups") : null),
		h("td", { class: "queued" }, fmt(q.queued)),
		h("td", { class: "delayed wide" }, fmt(q.delayed)),
		h("td", { class: "in_flight" }, fmt(q.in_flight)),
		h("td", { class: "dead" }, fmt(q.dead)),
		h("td", { class: "consumers" }, fmt(q.consumers)),
		h("td", { class: "enqueue_rate wide" }, fmt(q.enqueue_rate) + "/s"),
		h("td", { class: "ack_rate wide" }, fmt(q.ack_rate) + "/s"),
		h("td", { class: "wide" }, spark(q.name, q.queued, q.enqueue_rate))));
	return [
		h("div", { class: "cards" },
			card("queues", d.queues), card("queued", sum("queued")),
			card("in flight", sum("in_flight")), card("dead", sum("dead")),
			card("consumers", d.consumers_connected),
			card("enqueued", sum("enqueued_total")), card("acked", sum("acked_total"))),
		h("div", { class: "scroll" }, h("table", { id: "queues" },
			h("thead", {}, h("tr", {}, h("th", {}, "queue"), h("th", {}, "queued"),
				h("th", { class: "wide" }, "delayed"), h("th", {}, "in flight"),
				h("th", {}, "dead"), h("th", {}, "consumers"),
				h("th", { class: "wide" }, "enqueue"), h("th", { class: "wide" }, "ack"),
				h("th", { class: "wide" }, "last 10 min"))),
			h("tbody", {}, rows.length ? rows :
				h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No queues yet."))))),
	];
}

function button(label, handler, danger) {
	return h("button", { class: danger ? "danger" : "", disabled: !writable,
		title: writable ? "" : "read-only: no --http-token-file", onclick: handler }, label);
}

function queuePage(name, q, dead, group) {
	const path = "queues/" + encodeURIComponent(name);
	const gq = group ? "?group=" + encodeURIComponent(group) : "";
	const lead = q.groups[0] || {};
	const paused = q.settings.paused && q.settings.paused !== "no";
	const settings = h("dl", { class: "settings" }, Object.entries(q.settings).map(([k, v]) =>
		[h("dt", {}, k), h("dd", {}, v)]));
	const groups = h("div", { class: "scroll" }, h("table", { id: "groups" },
		h("thead", {}, h("tr", {}, ["group", "queued", "delayed", "in flight", "dead",
			"consumers", "delivered", "acked"].map((t) => h("th", {}, t)))),
		h("tbody", {}, q.groups.map((g) => h("tr", { dataset: { group: g.name } },
			h("td", {}, g.name === "" ? h("span", { class: "muted" }, "(shared)") :
				h("a", { href: "#/queue/" + encodeURIComponent(name) + "/" + encodeURIComponent(g.name) }, g.name)),
			h("td", { class: "queued" }, fmt(g.queued)), h("td", {}, fmt(g.delayed)),
			h("td", {}, fmt(g.in_flight)), h("td", { class: "dead" }, fmt(g.dead)),
			h("td", {}, fmt(g.consumers)), h("td", {}, fmt(g.delivered_total)),
			h("td", {}, fmt(g.acked_total)))))));
	const consumers = h("div", { class: "scroll" }, h("table", { id: "consumers" },
		h("thead", {}, h("tr", {}, ["id", "pid", "group", "demand", "in flight",
			"delivered", "connected since"].map((t) => h("th", {}, t)))),
		h("tbody", {}, q.consumers.length ? q.consumers.map((c) => h("tr", { dataset: { conn: c.conn } },
			h("td", { class: "text" }, c.id), h("td", {}, String(c.pid)),
			h("td", { class: "text" }, c.group === "" ? "(shared)" : c.group),
			h("td", {}, fmt(c.demand)), h("td", {}, fmt(c.in_flight)),
			h("td", {}, fmt(c.delivered)), h("td", { class: "text" }, new Date(c.connected_since * 1000).toLocaleString()))) :
			h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No consumer is subscribed.")))));
	const label = group ? name + "/" + group : name;
	const deadRows = dead.error !== undefined ? [h("tr", {}, h("td", { colspan: 6, class: "muted" },
		"Cannot list the dead letters: " + dead.error))] :
		dead.entries.map((e) => h("tr", { dataset: { id: e.id } },
			h("td", {}, String(e.id)), h("td", {}, String(e.attempts)),
			h("td", { class: "text" }, e.reason), h("td", {}, fmt(e.bytes)),
			h("td", { class: "preview" },
				e.preview_encoding === "hex" ? h("span", { class: "tag hex" }, "hex") : null,
				h("code", {}, e.preview), e.truncated ? h("span", { class: "muted" }, " …") : null),
			h("td", {}, h("div", { class: "actions" },
				button("Retry", () => act("Retry dead event " + e.id + " of " + label + "?",
					path + "/dead/retry" + gq, { ids: [e.id] }, (r) => "Retried " + r.retried + " event")),
				button("Drop", () => act("Drop dead event " + e.id + " of " + label + " for good?",
					path + "/dead/drop" + gq, { ids: [e.id] }, (r) => "Dropped " + r.dropped + " event"), true)))));
	if (dead.error === undefined && dead.entries.length === 0)
		deadRows.push(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No dead letters.")));
	return [
		h("p", {}, h("a", { href: "#/" }, "← all queues")),
		h("h1", {}, label, paused ? h("span", { class: "tag paused" }, "paused") : null),
		h("div", { class: "cards" }, card("queued", lead.queued), card("delayed", lead.delayed),
			card("in flight", lead.in_flight), card("dead", lead.dead),
			card("consumers", lead.consumers), card("enqueue/s", lead.enqueue_rate),
			card("ack/s", lead.ack_rate)),
		h("div", { class: "actions" },
			paused ? button("Resume", () => act("Resume queue " + name + "?", path + "/resume",
				{}, () => "Resumed " + name), false) :
				button("Pause", () => act("Pause queue " + name + "? Consumers get nothing until it is resumed.",
					path + "/pause", {}, () => "Paused " + name), false),
			button("Purge", () => act("Purge queue " + name + "? Every event it holds back is dropped for good.",
				path + "/purge", {}, (r) => "Purged " + fmt(r.purged) + " events"), true)),
		h("h2", {}, "Settings"), settings,
		h("h2", {}, "Groups"), groups,
		h("h2", {}, "Consumers"), consumers,
		h("h2", {}, "Dead letters" + (dead.error === undefined ? " (" + fmt(dead.dead) + ")" : "")),
		dead.error === undefined && dead.entries.length ? h("div", { class: "actions" },
			button("Retry all", () => act("Retry every dead event of " + label + "?",
				path + "/dead/retry" + gq, {}, (r) => "Retried " + fmt(r.retried) + " events")),
			button("Drop all", () => act("Drop every dead event of " + label + " for good?",
				path + "/dead/drop" + gq, {}, (r) => "Dropped " + fmt(r.dropped) + " events"), true)) : null,
		h("div", { class: "scroll" }, h("table", { id: "dead" },
			h("thead", {}, h("tr", {}, ["id", "attempts", "reason", "bytes", "payload", ""].map((t) =>
				h("th", {}, t)))),
			h("tbody", {}, deadRows))),
	];
}

function route() {
	const m = location.hash.match(/^#\/queue\/([^/]+)(?:\/([^/]+))?$/);
	return m ? { queue: decodeURIComponent(m[1]), group: m[2] ? decodeURIComponent(m[2]) : "" } : null;
}

async function poll() {
	clearTimeout(timer);
	timer = setTimeout(poll, POLL_MS);
	const r = route();
	try {
		if (polls++ % HISTORY_EVERY === 0) {
			const hs = await api("history");
			history = {};
			for (const q of hs.queues)
				history[q.name] = q;
		}
		const data = await api("queues?fields=" + OVERVIEW_FIELDS.join(","));
		let view, key;
		if (r === null) {
			key = JSON.stringify(data.queues) + JSON.stringify(history) + data.writable;
			view = () => overview(data);
		} else {
			banner(data);
			const path = "queues/" + encodeURIComponent(r.queue);
			const q = await api(path);
			let dead;
			try {
				dead = await api(path + "/dead" + (r.group ? "?group=" + encodeURIComponent(r.group) : ""));
			} catch (e) {
				dead = { error: e.message };	/* a cluster's NATS unreachable */
			}
			key = JSON.stringify([q, dead, data.writable]);
			view = () => queuePage(r.queue, q, dead, r.group);
		}
		document.body.dataset.updated = String(Date.now());
		if (key === lastShown)
			return;
		lastShown = key;
		document.getElementById("main").replaceChildren(...view());
	} catch (e) {
		document.getElementById("main").replaceChildren(
			h("p", { class: "muted" }, "Cannot read the daemon: " + e.message));
		lastShown = "";
	}
}

document.getElementById("tokenform").addEventListener("submit", (ev) => {
	ev.preventDefault();
	token = document.getElementById("token").value.trim();
	if (token)
		sessionStorage.setItem("pushstage-token", token);
	else
		sessionStorage.removeItem("pushstage-token");
	say(token ? "Token set for this tab." : "Token cleared.", false);
});
document.getElementById("token").value = token;
window.addEventListener("hashchange", () => { lastShown = ""; poll(); });
poll();
