// pushstage's dashboard: plain JavaScript over the JSON API (docs/http.md).
// Every value from the daemon goes into the page as text (textContent),
// never as markup, so a payload or a consumer's name cannot run a script.
"use strict";

const POLL_MS = 1000;
const HISTORY_EVERY = 10;	// polls between reads of /api/v1/history
const DEAD_PAGE = 100;		// dead letters a page (the API's limit)
// The overview's cards of totals: a label, the counter summed over queues.
const TOTAL_CARDS = [["enqueued", "enqueued_total"], ["acked", "acked_total"]];

let token = sessionStorage.getItem("pushstage-token") || "";
let history = {};
let polls = 0;
let timer = null;
let lastShown = "";
let writable = false;
let counters = [];	// GET counters: those the daemon reports
// The dead-letter pages seen on this queue page, for "First page": each
// the API's after= cursor (0: the first) and the number of its first row.
let deadPages = [{ after: 0, first: 1 }];
// A queue's Jobs tabs: the state shown, its pages' cursors, a key filter.
const JOB_TABS = [["queued", "Queued"], ["delayed", "Scheduled"], ["in-flight", "In flight"],
	["retrying", "Retries"], ["dead", "Dead"], ["done", "Done"]];
const JOBS_PAGE = 20;
let jobsTab = { state: "queued", pages: [""], key: "" };

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

// A queue's latency: 850 -> "850 ms", 61500 -> "1 min 1 s".
function dur(ms) {
	if (ms === undefined || ms === null)
		return "–";
	if (ms < 1000)
		return ms + " ms";
	if (ms < 60000)
		return (ms / 1000).toFixed(1) + " s";
	const s = Math.floor(ms / 1000);
	if (s < 3600)
		return Math.floor(s / 60) + " min " + s % 60 + " s";
	return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
}

// 6319039488 -> "5.89 GiB": binary units, as --max-queue-bytes takes them.
function bytes(n) {
	const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return (i === 0 ? String(n) : String(Number(n.toFixed(2)))) + " " + units[i];
}

// 120000 -> "2 min", 1500 -> "1.5 s": exact, in the largest unit that is.
function duration(ms) {
	if (ms === 0)
		return "none";
	for (const [unit, size] of [["h", 3600000], ["min", 60000]])
		if (ms % size === 0)
			return ms / size + " " + unit;
	return ms < 1000 ? ms + " ms" : ms / 1000 + " s";
}

// A setting as GET queues/NAME gives it (pushctl queue set's form), in
// units a person reads; the raw form stays in the tooltip.
function human(key, v) {
	let m;
	if ((key === "max-queue" || key === "max-queue-bytes") && v === "0")
		return "none (no limit)";
	if (key === "max-queue")
		return fmt(v) + " events";
	if (key === "max-queue-bytes")
		return bytes(Number(v));
	if (key === "ack-timeout")
		return duration(Math.round(Number(v) * 1000));
	if ((m = /^(\d+)ms$/.exec(v)))
		return duration(Number(m[1]));
	if (key === "rate" && (m = /^(\d+)\/(\d+)ms$/.exec(v)))
		return fmt(m[1]) + " per " + (m[2] === "1000" ? "second" : duration(Number(m[2])));
	if (key === "retry-backoff" && (m = /^(\d+)ms:(\d+)ms$/.exec(v)))
		return duration(Number(m[1])) + ", doubling to " + duration(Number(m[2]));
	if (key === "paused" && v === "yes")
		return "yes, until resumed";
	if (key === "paused" && (m = /^until:(\d+)$/.exec(v)))
		return "until " + new Date(Number(m[1])).toLocaleString();
	return v;
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

// 1, 2, 5, 10, 20, 50 ...: the least at or above n, for a scale's top.
function nice(n) {
	let p = 1;
	while (p * 10 <= n)
		p *= 10;
	for (const m of [1, 2, 5, 10])
		if (n <= m * p)
			return m * p;
	return 10 * p;
}

// A queue's series: the daemon's samples (one each 10 s), then now.
function seriesOf(name, nowDepth, nowRate) {
	const hs = history[name] || { queued: [], enqueue_rate: [] };
	return { depth: hs.queued.concat([nowDepth || 0]),
		rate: hs.enqueue_rate.concat([nowRate || 0]) };
}

// The overview's scale: every row's sparkline on the same one, the
// largest value of any queue's ten minutes (rounded up), so that rows
// compare and a steady queue draws a flat line, not a peak.
function scaleOf(queues) {
	let depth = 0, rate = 0;
	for (const q of queues) {
		const s = seriesOf(q.name, q.queued, q.enqueue_rate);
		depth = Math.max(depth, ...s.depth);
		rate = Math.max(rate, ...s.rate);
	}
	return { depth: nice(Math.max(1, depth)), rate: nice(Math.max(1, rate)) };
}

// A sparkline of depth (and enqueue rate) from the daemon's samples and
// now, on the overview's scale.
function spark(name, nowDepth, nowRate, scale) {
	const { depth, rate } = seriesOf(name, nowDepth, nowRate);
	const W = 120, H = 26;
	const ns = "http://www.w3.org/2000/svg";
	const svg = document.createElementNS(ns, "svg");
	svg.setAttribute("class", "spark");
	svg.setAttribute("width", W);
	svg.setAttribute("height", H);
	svg.setAttribute("viewBox", "0 0 " + W + " " + H);
	svg.setAttribute("role", "img");
	svg.dataset.depthMax = scale.depth;
	svg.dataset.rateMax = scale.rate;
	const said = "depth now " + fmt(nowDepth) + " (largest " + fmt(Math.max(...depth)) +
		"), enqueue rate now " + fmt(nowRate) + "/s (largest " + fmt(Math.max(...rate)) +
		"/s), over the last 10 minutes";
	svg.setAttribute("aria-label", said);
	const title = document.createElementNS(ns, "title");
	title.textContent = said;
	svg.append(title);
	for (const [series, cls, max] of [[rate, "rate", scale.rate], [depth, "depth", scale.depth]]) {
		const step = series.length > 1 ? W / (series.length - 1) : W;
		const pts = series.map((v, i) =>
			(series.length > 1 ? i * step : W).toFixed(1) + "," +
			(H - 2 - (Math.min(v, max) / max) * (H - 4)).toFixed(1));
		if (pts.length === 1)
			pts.unshift("0," + pts[0].split(",")[1]);
		const line = document.createElementNS(ns, "polyline");
		line.setAttribute("class", cls);
		line.setAttribute("points", pts.join(" "));
		svg.append(line);
	}
	return svg;
}

// Each cell named by its column's heading (data-label), for a phone's
// width, where a row is shown as a card of "heading: value" lines.
function labelled(table) {
	const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
	for (const tr of table.querySelectorAll("tbody tr"))
		[...tr.children].forEach((td, i) => {
			if (!td.hasAttribute("colspan") && heads[i])
				td.dataset.label = heads[i];
		});
	return table;
}

function card(label, value, show = fmt) {
	return h("div", { class: "card", dataset: { card: label } }, h("div", { class: "v" }, show(value)),
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
	const scale = scaleOf(data.queues);
	const rows = data.queues.map((q) => h("tr", { dataset: { queue: q.name } },
		h("td", {}, h("a", { href: "#/queue/" + encodeURIComponent(q.name) }, q.name),
			q.paused ? h("span", { class: "tag paused" }, "paused") : null,
			q.groups.length > 1 ? h("span", { class: "tag" }, (q.groups.length - 1) + " groups") : null),
		h("td", { class: "queued" }, fmt(q.queued)),
		h("td", { class: "delayed wide" }, fmt(q.delayed)),
		h("td", { class: "in_flight" }, fmt(q.in_flight)),
		h("td", { class: "dead" }, fmt(q.dead)),
		h("td", { class: "consumers" }, fmt(q.consumers)),
		h("td", { class: "latency" }, dur(q.latency_ms)),
		h("td", { class: "enqueue_rate wide" }, fmt(q.enqueue_rate) + "/s"),
		h("td", { class: "ack_rate wide" }, fmt(q.ack_rate) + "/s"),
		h("td", { class: "wide" }, spark(q.name, q.queued, q.enqueue_rate, scale))));
	return [
		h("div", { class: "cards" },
			card("queues", d.queues), card("queued", sum("queued")),
			card("in flight", sum("in_flight")), card("dead", sum("dead")),
			card("consumers", d.consumers_connected),
			TOTAL_CARDS.map(([label, name]) => card(label, sum(name)))),
		h("div", { class: "scroll" }, labelled(h("table", { id: "queues" },
			h("thead", {}, h("tr", {}, h("th", {}, "queue"), h("th", {}, "queued"),
				h("th", { class: "wide" }, "delayed"), h("th", {}, "in flight"),
				h("th", {}, "dead"), h("th", {}, "consumers"),
				h("th", { title: "age of the oldest event ready to go" }, "latency"),
				h("th", { class: "wide" }, "enqueue"), h("th", { class: "wide" }, "ack"),
				h("th", { class: "wide" }, "last 10 min"))),
			h("tbody", {}, rows.length ? rows :
				h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No queues yet.")))))),
		h("p", { id: "legend", class: "legend wide" }, "Last 10 min: a point each 10 s, every row on one scale: ",
			h("span", { class: "key depth" }), "depth, 0 to ",
			h("b", { class: "depth-max" }, fmt(scale.depth)), " events; ",
			h("span", { class: "key rate" }), "enqueue rate, 0 to ",
			h("b", { class: "rate-max" }, fmt(scale.rate)), " events/s."),
	];
}

function button(label, handler, danger) {
	return h("button", { class: danger ? "danger" : "", disabled: !writable,
		title: writable ? "" : "read-only: no --http-token-file", onclick: handler }, label);
}

// A queue's Jobs: a tab a state, a page of its events (GET jobs), each
// linked to its job page; First and Next page; a key's alone if asked.
function jobsSection(name, group, listed) {
	const pick = (state) => { jobsTab = { state: state, pages: [""], key: jobsTab.key }; lastShown = ""; poll(); };
	const turn = (pages) => { jobsTab.pages = pages; lastShown = ""; poll(); };
	const rows = listed.error !== undefined ? [h("tr", {}, h("td", { colspan: 7, class: "muted" },
		"Cannot list them: " + listed.error))] :
		listed.events.map((e) => h("tr", { dataset: { id: e.id } },
			h("td", {}, h("a", { href: queueHash(name, group) + "/job/" + e.id }, String(e.id))),
			h("td", { class: "text" }, e.state), h("td", {}, String(e.attempts)),
			h("td", { class: "text" }, when(e.at_ms)),
			h("td", { class: "text" }, e.key === null ? "–" : e.key), h("td", {}, fmt(e.bytes)),
			h("td", { class: "preview" }, e.preview_encoding === "hex" ? h("span", { class: "tag hex" }, "hex") : null,
				h("code", {}, e.preview), e.bytes > e.preview.length ? h("span", { class: "muted" }, " …") : null)));
	if (listed.error === undefined && listed.events.length === 0)
		rows.push(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "None.")));
	return [
		h("h2", {}, "Jobs"),
		h("div", { class: "tabs", role: "tablist", id: "jobtabs" }, JOB_TABS.map(([state, title]) =>
			h("button", { role: "tab", dataset: { state: state }, "aria-selected": String(jobsTab.state === state),
				class: jobsTab.state === state ? "selected" : "", onclick: () => pick(state) }, title))),
		jobsTab.key ? h("p", { id: "jobs-key" }, "Key " , h("code", {}, jobsTab.key), " ",
			h("button", { onclick: () => { jobsTab.key = ""; turn([""]); } }, "Show all")) : null,
		h("div", { class: "paging" }, h("span", { class: "muted", id: "jobs-shown" },
			"Lowest ids first, " + JOBS_PAGE + " a page" + (jobsTab.pages.length > 1 ? " (page " +
				jobsTab.pages.length + ")" : "") + "."),
			h("span", {},
				h("button", { id: "jobs-first", disabled: jobsTab.pages.length === 1, onclick: () => turn([""]) },
					"First page"),
				h("button", { id: "jobs-next", disabled: listed.error !== undefined || !listed.next,
					onclick: () => turn(jobsTab.pages.concat([listed.next])) }, "Next " + JOBS_PAGE))),
		h("div", { class: "scroll" }, labelled(h("table", { id: "jobs" },
			h("thead", {}, h("tr", {}, ["id", "state", "attempts", "when", "key", "bytes",
				jobsTab.state === "done" ? "result" : "payload"].map((t) => h("th", {}, t)))),
			h("tbody", {}, rows)))),
	];
}

// Counts per task name (the task header; docs/tasks.md): a row per
// task, as the daemon gives them; a name is text, never markup.
function tasksSection(tasks) {
	const rows = tasks.error !== undefined ? [h("tr", {}, h("td", { colspan: 8, class: "muted" },
		"Cannot read the task counts: " + tasks.error))] :
		tasks.tasks.map((t) => h("tr", { dataset: { task: t.task } },
			h("td", { class: "text" }, t.task), h("td", {}, fmt(t.done)), h("td", {}, fmt(t.failed)),
			h("td", {}, fmt(t.retried)), h("td", { class: "dead" }, fmt(t.dead)),
			h("td", {}, dur(t.handling_p50_ms)), h("td", {}, dur(t.handling_p90_ms)),
			h("td", {}, dur(t.handling_p99_ms))));
	if (tasks.error === undefined && tasks.tasks.length === 0)
		rows.push(h("tr", {}, h("td", { colspan: 8, class: "muted" },
			"No event with a task header answered since the daemon started.")));
	return [
		h("h2", {}, "Tasks"),
		h("div", { class: "scroll" }, labelled(h("table", { id: "tasks" },
			h("thead", {}, h("tr", {}, ["task", "done", "failed", "retried", "dead",
				"p50", "p90", "p99"].map((t) => h("th", {}, t)))),
			h("tbody", {}, rows)))),
	];
}

function queuePage(name, q, dead, group, listed, tasks) {
	const path = "queues/" + encodeURIComponent(name);
	const gq = group ? "?group=" + encodeURIComponent(group) : "";
	const lead = q.groups[0] || {};
	const paused = q.settings.paused && q.settings.paused !== "no";
	const settings = h("dl", { class: "settings" }, Object.entries(q.settings).map(([k, v]) =>
		[h("dt", {}, k), h("dd", { title: k + "=" + v }, human(k, v))]));
	const groups = h("div", { class: "scroll" }, labelled(h("table", { id: "groups" },
		h("thead", {}, h("tr", {}, ["group", "queued", "delayed", "in flight", "dead",
			"consumers", "latency", "delivered", "acked"].map((t) => h("th", {}, t)))),
		h("tbody", {}, q.groups.map((g) => h("tr", { dataset: { group: g.name } },
			h("td", {}, g.name === "" ? h("span", { class: "muted" }, "(shared)") :
				h("a", { href: "#/queue/" + encodeURIComponent(name) + "/" + encodeURIComponent(g.name) }, g.name)),
			h("td", { class: "queued" }, fmt(g.queued)), h("td", {}, fmt(g.delayed)),
			h("td", {}, fmt(g.in_flight)), h("td", { class: "dead" }, fmt(g.dead)),
			h("td", {}, fmt(g.consumers)), h("td", { class: "latency" }, dur(g.latency_ms)),
			h("td", {}, fmt(g.delivered_total)),
			h("td", {}, fmt(g.acked_total))))))));
	const consumers = h("div", { class: "scroll" }, labelled(h("table", { id: "consumers" },
		h("thead", {}, h("tr", {}, ["id", "pid", "group", "demand", "in flight",
			"delivered", "connected since"].map((t) => h("th", {}, t)))),
		h("tbody", {}, q.consumers.length ? q.consumers.map((c) => h("tr", { dataset: { conn: c.conn } },
			h("td", { class: "text" }, c.id), h("td", {}, String(c.pid)),
			h("td", { class: "text" }, c.group === "" ? "(shared)" : c.group),
			h("td", {}, fmt(c.demand)), h("td", {}, fmt(c.in_flight)),
			h("td", {}, fmt(c.delivered)), h("td", { class: "text" }, new Date(c.connected_since * 1000).toLocaleString()))) :
			h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No consumer is subscribed."))))));
	const label = group ? name + "/" + group : name;
	const deadRows = dead.error !== undefined ? [h("tr", {}, h("td", { colspan: 7, class: "muted" },
		"Cannot list the dead letters: " + dead.error))] :
		dead.entries.map((e) => h("tr", { dataset: { id: e.id } },
			h("td", {}, h("a", { href: queueHash(name, group) + "/job/" + e.id }, String(e.id))),
			h("td", {}, String(e.attempts)),
			h("td", { class: "text" }, e.reason), h("td", {}, fmt(e.bytes)),
			h("td", { class: "preview" },
				e.preview_encoding === "hex" ? h("span", { class: "tag hex" }, "hex") : null,
				h("code", {}, e.preview), e.truncated ? h("span", { class: "muted" }, " …") : null),
			// Its first line; the whole (up to 1 KiB) on hover.
			h("td", { class: "error", title: e.error || "" },
				e.error ? h("code", {}, e.error.split("\n")[0]) : h("span", { class: "muted" }, "–")),
			h("td", {}, h("div", { class: "actions" },
				button("Retry", () => act("Retry dead event " + e.id + " of " + label + "?",
					path + "/dead/retry" + gq, { ids: [e.id] }, (r) => "Retried " + r.retried + " event")),
				button("Drop", () => act("Drop dead event " + e.id + " of " + label + " for good?",
					path + "/dead/drop" + gq, { ids: [e.id] }, (r) => "Dropped " + r.dropped + " event"), true)))));
	if (dead.error === undefined && dead.entries.length === 0)
		deadRows.push(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No dead letters.")));
	const page = deadPages[deadPages.length - 1];
	const turn = (pages) => { deadPages = pages; lastShown = ""; poll(); };
	const paging = dead.error !== undefined || (dead.entries.length === 0 && deadPages.length === 1) ? null :
		h("div", { class: "paging" },
			h("span", { id: "dead-shown", class: "muted" }, dead.entries.length === 0 ?
				"None past the last page." : "Showing " + fmt(page.first) + "–" +
				fmt(page.first + dead.entries.length - 1) + " of " + fmt(dead.dead) + ", oldest first."),
			h("span", { class: "actions" },
				h("button", { id: "dead-first", disabled: deadPages.length === 1,
					onclick: () => turn([deadPages[0]]) }, "First page"),
				h("button", { id: "dead-prev", disabled: deadPages.length === 1,
					onclick: () => turn(deadPages.slice(0, -1)) }, "Previous " + DEAD_PAGE),
				h("button", { id: "dead-next", disabled: dead.next === null || dead.next === undefined,
					onclick: () => turn(deadPages.concat([{ after: dead.next,
						first: page.first + dead.entries.length }])) }, "Next " + DEAD_PAGE)));
	return [
		h("p", {}, h("a", { href: "#/" }, "← all queues")),
		h("h1", {}, label, paused ? h("span", { class: "tag paused" }, "paused") : null),
		h("div", { class: "cards" }, card("queued", lead.queued), card("delayed", lead.delayed),
			card("in flight", lead.in_flight), card("dead", lead.dead),
			card("consumers", lead.consumers), card("latency", lead.latency_ms, dur),
			card("enqueue/s", lead.enqueue_rate),
			card("ack/s", lead.ack_rate)),
		h("div", { class: "actions" },
			paused ? button("Resume", () => act("Resume queue " + name + "?", path + "/resume",
				{}, () => "Resumed " + name), false) :
				button("Pause", () => act("Pause queue " + name + "? Consumers get nothing until it is resumed.",
					path + "/pause", {}, () => "Paused " + name), false),
			button("Purge", () => act("Purge queue " + name + "? Every event it holds back is dropped for good.",
				path + "/purge", {}, (r) => "Purged " + fmt(r.purged) + " events"), true)),
		h("form", { id: "findjob", onsubmit: (ev) => {
			ev.preventDefault();
			const v = ev.target.querySelector("input").value.trim();
			const by = ev.target.querySelector("select").value;
			if (by === "id" && /^[1-9][0-9]*$/.test(v))
				location.hash = queueHash(name, group) + "/job/" + v;
			else if (by === "id")
				say("A job id is a whole number from 1.", true);
			else if (v === "")
				say("Give the " + by + " to find.", true);
			else if (by === "unique id")
				location.hash = queueHash(name, group) + "/job/uid:" + encodeURIComponent(v);
			else {
				jobsTab = { state: jobsTab.state, pages: [""], key: v };
				lastShown = "";
				poll();
			}
		} }, h("select", { "aria-label": "find by" }, ["id", "unique id", "key"].map((k) =>
			h("option", { value: k }, k))),
			h("input", { type: "text", placeholder: "job id, unique id or key", "aria-label": "what to find", size: 20 }),
			h("button", { type: "submit" }, "Find")),
		...jobsSection(name, group, listed),
		...tasksSection(tasks),
		h("h2", {}, "Settings"), settings,
		h("h2", {}, "Groups"), groups,
		h("h2", {}, "Consumers"), consumers,
		h("h2", {}, "Dead letters" + (dead.error === undefined ? " (" + fmt(dead.dead) + ")" : "")),
		dead.error === undefined && dead.entries.length ? h("div", { class: "actions" },
			button("Retry all", () => act("Retry every dead event of " + label + "?",
				path + "/dead/retry" + gq, {}, (r) => "Retried " + fmt(r.retried) + " events")),
			button("Drop all", () => act("Drop every dead event of " + label + " for good?",
				path + "/dead/drop" + gq, {}, (r) => "Dropped " + fmt(r.dropped) + " events"), true)) : null,
		paging,
		h("div", { class: "scroll" }, labelled(h("table", { id: "dead" },
			h("thead", {}, h("tr", {}, ["id", "attempts", "reason", "bytes", "payload", "last error", ""].map((t) =>
				h("th", {}, t)))),
			h("tbody", {}, deadRows)))),
	];
}

// The overview's ?fields=, by the names the daemon gives (GET counters):
// every gauge, for it shows the state now (its columns, its cards, the
// banner's flags), and the totals its cards add up; not every counter of
// every queue, a poll a second.
function overviewFields() {
	return counters.filter((c) => c.kind === "gauge" ||
		TOTAL_CARDS.some(([, name]) => name === c.name)).map((c) => c.name).join(",");
}

// #/queue/Q[/G][/job/ID]
function route() {
	const m = location.hash.match(/^#\/queue\/([^/]+)(?:\/([^/]+))?(?:\/job\/([0-9]+|uid:[^/]+))?$/);
	return m ? { queue: decodeURIComponent(m[1]), group: m[2] ? decodeURIComponent(m[2]) : "",
		job: m[3] || null } : null;
}

function queueHash(name, group) {
	return "#/queue/" + encodeURIComponent(name) + (group ? "/" + encodeURIComponent(group) : "");
}

// ms since 1970 as a local time, or "–".
function when(ms) {
	return ms ? new Date(ms).toLocaleString() : "–";
}

// One job (GET queues/NAME/jobs/ID): where it is, what it carries, each
// failure with its whole error; Retry and Drop when it is dead.
function jobPage(name, group, id, j) {
	const back = h("p", {}, h("a", { href: queueHash(name, group) }, "← " + name + (group ? "/" + group : "")));
	if (j.error !== undefined)
		return [back, h("h1", {}, "Job " + id), h("p", { id: "job-missing", class: "muted" }, j.error)];
	const path = "queues/" + encodeURIComponent(name);
	const gq = group ? "?group=" + encodeURIComponent(group) : "";
	const label = group ? name + "/" + group : name;
	const rows = [["state", j.state + (j.reason ? " (" + j.reason + ")" : "")],
		["attempts", String(j.attempts)],
		[j.state === "in flight" || j.state.startsWith("cancelled") ? "delivered" :
			j.state === "done" ? "done" : j.state === "delayed" || j.state === "waiting to retry" ?
			"due" : "ready since", when(j.at_ms)],
		["consumer", j.consumer === null ? "–" : j.consumer],
		["priority", String(j.priority)], ["key", j.key === null ? "–" : j.key],
		[j.result !== null ? "result" : "payload", fmt(j.bytes) + " bytes"]];
	return [back,
		h("h1", {}, "Job " + j.id + " of " + label),
		h("dl", { class: "settings", id: "job" }, rows.map(([k, v]) =>
			[h("dt", {}, k), h("dd", { dataset: { field: k } }, v)])),
		h("h2", {}, "Headers"),
		Object.keys(j.headers).length ? h("div", { class: "scroll" }, labelled(h("table", { id: "headers" },
			h("tbody", {}, Object.entries(j.headers).map(([k, v]) =>
				h("tr", {}, h("td", { class: "text" }, k), h("td", { class: "text" }, v))))))) :
			h("p", { class: "muted" }, "None."),
		j.result !== null ? null : h("h2", {}, "Payload"),
		j.result !== null ? null : h("p", { class: "preview" },
			j.preview_encoding === "hex" ? h("span", { class: "tag hex" }, "hex") : null,
			h("code", { id: "job-preview" }, j.preview), j.truncated ? h("span", { class: "muted" }, " …") : null),
		j.result !== null ? h("h2", {}, "Result") : null,
		j.result !== null ? h("pre", { id: "job-result", class: j.result_encoding === "hex" ? "hex" : "" },
			j.result) : null,
		h("h2", {}, "Failures (" + j.failures.length + ")"),
		j.failures.length ? h("ol", { id: "failures" }, j.failures.map((f) => h("li", {},
			h("div", {}, when(f.at_ms) + ", attempt " + f.attempt + ", by " + f.consumer),
			h("pre", { class: "error" }, f.error || "(no error said)")))) :
			h("p", { class: "muted" }, "None."),
		j.state === "dead" ? h("div", { class: "actions" },
			button("Retry", () => act("Retry dead event " + j.id + " of " + label + "?",
				path + "/dead/retry" + gq, { ids: [j.id] }, (r) => "Retried " + r.retried + " event")),
			button("Drop", () => act("Drop dead event " + j.id + " of " + label + " for good?",
				path + "/dead/drop" + gq, { ids: [j.id] }, (r) => "Dropped " + r.dropped + " event"), true)) :
			j.state.startsWith("cancelled") || j.state === "done" ? null : h("div", { class: "actions" },
			button("Cancel", () => act("Cancel job " + j.id + " of " + name + " (in every group)?",
				path + "/jobs/" + j.id + "/cancel", null, (r) => "Job " + r.id + ": " + r.cancelled), true)),
	];
}

// A schedule's rule as given: "0 6 * * 1-5 (Europe/Berlin)", "every 5m".
function ruleOf(s) {
	return s.cron !== null ? s.cron + " (" + (s.tz || "UTC") + ")" : "every " + s.every;
}

// The schedules (GET schedules): a row each, its next fire times in this
// browser's time (UTC on hover); Pause or Resume, and Run now.
function schedulesPage(list) {
	if (list.error !== undefined)
		return [h("h1", {}, "Schedules"), h("p", { class: "muted", id: "schedules-error" },
			"Cannot list the schedules: " + list.error)];
	const rows = list.schedules.map((s) => {
		const path = "schedules/" + encodeURIComponent(s.name);
		const run = button("Run now", () => act("Enqueue the event of schedule " + s.name +
			" into " + s.queue + " now, beside its ticks?", path + "/run-now", {}, (r) =>
			r.enqueued !== null ? "Enqueued event " + r.enqueued + " into " + r.queue :
				"Queue " + r.queue + " did not take it now (the daemon's log says why)"));
		const flip = s.paused ?
			button("Resume", () => act("Resume schedule " + s.name + "? Ticks missed while paused are skipped.",
				path + "/resume", {}, () => "Resumed " + s.name)) :
			button("Pause", () => act("Pause schedule " + s.name + "? It fires nothing until resumed.",
				path + "/pause", {}, () => "Paused " + s.name));
		run.dataset.act = "run-now";
		flip.dataset.act = s.paused ? "resume" : "pause";
		return h("tr", { dataset: { schedule: s.name } },
			h("td", { class: "text name" }, s.name),
			h("td", { class: "text queue" }, h("a", { href: "#/queue/" + encodeURIComponent(s.queue) }, s.queue)),
			h("td", { class: "text rule" }, h("span", {}, h("code", {}, ruleOf(s)),
				s.unique ? h("span", { class: "tag", title: "a tick is skipped while the last one's event waits" },
					"unique") : null)),
			h("td", { class: "text next" }, s.next_ms.length ? h("ol", { class: "times" },
				s.next_ms.slice(0, 3).map((ms, i) => h("li", { title: s.next[i] }, when(ms)))) :
				h("span", { class: "muted" }, "never again")),
			h("td", { class: "text last", title: s.last || "" }, when(s.last_ms)),
			h("td", { class: "fired" }, fmt(s.fired)),
			h("td", { class: "skipped" }, fmt(s.skipped)),
			h("td", { class: "text paused" }, s.paused ? h("span", { class: "tag paused" }, "paused") : "no"),
			h("td", {}, h("div", { class: "actions" }, flip, run)));
	});
	return [
		h("h1", {}, "Schedules"),
		h("p", { class: "muted" }, fmt(list.total) + (list.total === 1 ? " schedule" : " schedules") +
			", in the order they were added; times are this browser's, UTC on hover."),
		h("div", { class: "scroll" }, labelled(h("table", { id: "schedules" },
			h("thead", {}, h("tr", {}, ["schedule", "queue", "rule", "next", "last tick"].map((t) =>
				h("th", { class: "text", title: t === "last tick" ? "the latest tick handled, fired or skipped" :
					false }, t)),
				["fired", "skipped", "paused", ""].map((t) => h("th", {}, t)))),
			h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 9, class: "muted" },
				"No schedules yet (pushctl, a client's SCHEDULE, or POST /api/v1/schedules).")))))),
	];
}

async function poll() {
	clearTimeout(timer);
	timer = setTimeout(poll, POLL_MS);
	const r = route();
	try {
		// Counters again now and then: a daemon restarted may run other
		// parts; until read, at every poll.
		if (polls++ % HISTORY_EVERY === 0 || counters.length === 0) {
			const hs = await api("history");
			history = {};
			for (const q of hs.queues)
				history[q.name] = q;
			counters = (await api("counters")).counters;
		}
		const data = await api("queues?fields=" + overviewFields());
		let view, key;
		for (const a of document.querySelectorAll("#nav a"))
			a.setAttribute("aria-current", String(a.getAttribute("href") ===
				(location.hash === "#/schedules" ? "#/schedules" : "#/")));
		if (location.hash === "#/schedules") {
			banner(data);
			let list;
			try {
				list = await api("schedules");
			} catch (e) {
				list = { error: e.message };
			}
			key = JSON.stringify([list, data.writable]);
			view = () => schedulesPage(list);
		} else if (r === null) {
			key = JSON.stringify(data.queues) + JSON.stringify(history) + data.writable;
			view = () => overview(data);
		} else if (r.job !== null) {
			banner(data);
			let j;
			try {
				const gp = r.group ? "group=" + encodeURIComponent(r.group) : "";
				j = await api("queues/" + encodeURIComponent(r.queue) + (r.job.startsWith("uid:") ?
					"/jobs/by-unique-id?unique_id=" + r.job.slice(4) + (gp ? "&" + gp : "") :
					"/jobs/" + r.job + (gp ? "?" + gp : "")));
			} catch (e) {
				j = { error: e.message };	/* done with, or never was */
			}
			key = JSON.stringify([j, data.writable]);
			view = () => jobPage(r.queue, r.group, r.job, j);
		} else {
			banner(data);
			const path = "queues/" + encodeURIComponent(r.queue);
			const q = await api(path);
			const deadPath = () => {
				const after = deadPages[deadPages.length - 1].after;
				return path + "/dead?limit=" + DEAD_PAGE + (after ? "&after=" + after : "") +
					(r.group ? "&group=" + encodeURIComponent(r.group) : "");
			};
			let dead;
			try {
				try {
					dead = await api(deadPath());
				} catch (e) {
					// The page's cursor was retried or dropped: the first page.
					if (deadPages.length === 1)
						throw e;
					deadPages = [deadPages[0]];
					dead = await api(deadPath());
				}
			} catch (e) {
				dead = { error: e.message };	/* a cluster's NATS unreachable */
			}
			let listed;
			try {
				listed = await api(path + "/jobs?limit=" + JOBS_PAGE + "&state=" + jobsTab.state +
					(jobsTab.pages[jobsTab.pages.length - 1] ? "&after=" +
						jobsTab.pages[jobsTab.pages.length - 1] : "") +
					(jobsTab.key ? "&key=" + encodeURIComponent(jobsTab.key) : "") +
					(r.group ? "&group=" + encodeURIComponent(r.group) : ""));
			} catch (e) {
				listed = { error: e.message };	/* a cluster lists none */
			}
			let tasks;
			try {
				tasks = await api(path + "/tasks" + (r.group ? "?group=" + encodeURIComponent(r.group) : ""));
			} catch (e) {
				tasks = { error: e.message };
			}
			key = JSON.stringify([q, dead, data.writable, deadPages, listed, jobsTab, tasks]);
			view = () => queuePage(r.queue, q, dead, r.group, listed, tasks);
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
window.addEventListener("hashchange", () => {
	lastShown = "";
	deadPages = [{ after: 0, first: 1 }];
	jobsTab = { state: "queued", pages: [""], key: "" };
	poll();
});
poll();
