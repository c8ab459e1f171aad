// The tgsift dashboard: every figure comes from the JSON API (/api/v1/…), so the page and the API
// cannot disagree. Views are chosen by the URL's hash (#/overview, #/posts?q=…, #/post/12, #/tagging,
// #/jobs); each refreshes its data every few seconds while the user's inputs and scroll stay put.
"use strict";

const REFRESH_MS = 4000;
const STATUSES = ["pending", "retrying", "success", "failed", "skipped"];
const JOB_STATES = ["queued", "running", "done", "failed", "cancelled"];

// ---- small helpers -------------------------------------------------------------------------------

/** Builds an element: h("td", {class: "x", "data-label": "Posts"}, "text", child, …). Text is never HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel, root) => (root || document).querySelector(sel);

function when(secs) {
  if (secs === null || secs === undefined) return h("span", { class: "muted" }, "—");
  const d = new Date(secs * 1000);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, ago(secs));
}

function ago(secs) {
  const s = Math.round(Date.now() / 1000 - secs);
  if (s > 7 * 86400) return new Date(secs * 1000).toISOString().slice(0, 10);
  const abs = Math.abs(s);
  const span = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min`
    : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${span} ago` : `in ${span}`;
}

function left(untilSecs) {
  const s = Math.max(0, Math.round(untilSecs - Date.now() / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function badge(state) {
  return h("span", { class: `badge ${state}` }, state);
}

/** A job's progress or result as words: `done 1,200, total 5,000` rather than raw JSON. */
function readable(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object" || Array.isArray(v)) return json(v);
  return Object.entries(v)
    .map(([k, x]) => `${k.replace(/_/g, " ")} ${typeof x === "number" ? x.toLocaleString("en") : json(x)}`)
    .join(", ");
}

function json(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A table that turns into labelled cards on a phone (unless `compact`): cols = [[label, row => cell], …]. */
function table(cols, rows, rowAttrs, compact) {
  return h("table", { class: compact ? "compact" : "stack" },
    h("thead", {}, h("tr", {}, cols.map(([label]) => h("th", {}, label)))),
    h("tbody", {}, rows.length === 0
      ? h("tr", {}, h("td", { colspan: cols.length, class: "muted" }, "nothing here"))
      : rows.map(r => h("tr", rowAttrs ? rowAttrs(r) : {},
        cols.map(([label, cell]) => h("td", { "data-label": label }, cell(r)))))));
}

function notice(text, kind) {
  const n = $("#notice");
  n.textContent = text;
  n.className = kind || "info";
  n.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 8000);
}

// ---- the API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

/** Calls the API with the session cookie; the header proves to the server it is not a cross-site form. */
async function api(method, path, body) {
  const headers = { "X-Requested-With": "tgsift", "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_) {
    throw new ApiError(0, { error: { message: "tgsift does not answer: is the service running?" } });
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (resp.status === 401) {
    showSignIn();
    throw new ApiError(401, data);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** Runs a button's action: disabled while it runs, errors shown, then the view refreshed. */
async function act(button, fn, done) {
  button.disabled = true;
  try {
    const r = await fn();
    if (done) notice(done(r), "ok");
  } catch (e) {
    notice(e.message, "error");
  } finally {
    button.disabled = false;
    refresh();
  }
}

// ---- sign-in -------------------------------------------------------------------------------------

function showSignIn() {
  $("#sign-in").hidden = false;
  $("#view").hidden = true;
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#token").focus();
}

async function start() {
  let session;
  try {
    session = await api("GET", "/api/v1/session");
  } catch (e) {
    if (e.status !== 401) notice(e.message, "error");
    return;
  }
  $("#sign-in").hidden = true;
  $("#view").hidden = false;
  $("#nav").hidden = false;
  $("#sign-out").hidden = session.method !== "cookie";
  route();
}

$("#sign-in-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const err = $("#sign-in-error");
  err.hidden = true;
  try {
    await api("POST", "/api/v1/session", { token: $("#token").value });
    $("#token").value = "";
    start();
  } catch (e) {
    err.textContent = e.status === 401 ? "Wrong token." : e.message;
    err.hidden = false;
  }
});

$("#sign-out").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch (_) { /* signed out either way */ }
  showSignIn();
});

// ---- routing and refresh -------------------------------------------------------------------------

let current = null; // { name, params, refresh() }

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = raw.split("?");
  return { parts: path.split("/"), params: new URLSearchParams(query || "") };
}

function route() {
  if (!$("#sign-in").hidden) return;
  const { parts, params } = parseHash();
  const view = $("#view");
  view.replaceChildren();
  const name = parts[0];
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === name || (name === "post" && a.dataset.page === "posts"));
  }
  const make = { overview: overviewView, posts: postsView, post: postView, tagging: taggingView, jobs: jobsView, watches: watchesView }[name];
  current = make ? make(view, params, parts) : overviewView(view, params);
  refresh();
}

let refreshing = false;
let again = false; // a refresh was asked for while one ran: run once more after it
async function refresh() {
  if (!current || !$("#sign-in").hidden) return;
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    do {
      again = false;
      const view = current;
      try {
        await view.refresh();
        $("#refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (e) {
        if (e.status !== 401) notice(e.message, "error");
      }
    } while (again);
  } finally {
    refreshing = false;
  }
}

window.addEventListener("hashchange", route);
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);

const rendered = new WeakMap(); // region → { key, at } of what it shows

/** Whether `region` should show `data`: it differs from what is shown, or that is over 30 s old (relative
 * times move on). Unchanged data is not re-rendered, so a selection or a focused button survives a refresh. */
function fresh(region, data) {
  const key = JSON.stringify(data);
  const last = rendered.get(region);
  if (last && last.key === key && Date.now() - last.at < 30000) return false;
  rendered.set(region, { key, at: Date.now() });
  return true;
}

/** A region of a view whose content is replaced on each refresh (inputs live outside it). */
function region(parent, id) {
  const el = h("div", { id, class: "region" });
  parent.append(el);
  return el;
}

// ---- Overview ------------------------------------------------------------------------------------

function overviewView(view) {
  view.append(h("h1", {}, "Overview"));
  const figures = region(view, "figures");
  view.append(h("h2", {}, "Accounts"));
  const accounts = region(view, "accounts");
  view.append(h("h2", {}, "Channels"));
  const channels = region(view, "channels");
  return {
    async refresh() {
      const [acc, ch, recent] = await Promise.all([
        api("GET", "/api/v1/accounts?limit=500"),
        api("GET", "/api/v1/channels?limit=500"),
        api("GET", "/api/v1/activity"),
      ]);
      const lag = new Map(recent.channel_lag.map(l => [l.channel_id, l.messages]));
      const byState = {};
      for (const c of ch.items) byState[c.state] = (byState[c.state] || 0) + 1;
      figures.replaceChildren(h("div", { class: "cards" },
        card("Posts stored, last hour", recent.posts_stored, "posts-stored"),
        card("FLOOD_WAITs, last hour", recent.floods, "floods",
          `slept ${Math.round(recent.flood_sleep_seconds)} s since ${new Date(recent.floods_since * 1000).toLocaleTimeString()}`),
        card("Open flood windows", recent.flood_windows.length, "flood-windows",
          recent.flood_windows.map(w => `${w.account} ${w.method}: ${left(w.until_ms / 1000)}`).join(", ")),
        card("Channels", ch.items.length, "channel-count",
          Object.entries(byState).map(([s, n]) => `${n} ${s}`).join(", ")),
        card("Media files downloaded", recent.media_files.done, "media-files",
          `${recent.media_files.pending} pending, ${recent.media_files.failed} failed · ${bytes(recent.media_files.bytes)}`
          + (recent.media_quota ? ` of ${bytes(recent.media_quota)}` : " (downloads off)"))));
      if (fresh(accounts, acc)) accounts.replaceChildren(table([
        ["Account", a => h("strong", {}, a.name)],
        ["Phone", a => a.phone],
        ["State", a => h("span", { title: a.what_to_do || "" }, badge(a.state))],
        ["Logged in", a => a.logged_in],
        // An open breaker: the account cannot reach Telegram and its channels wait.
        ["Breaker", a => a.breaker.startsWith("open")
          ? h("span", { class: "error" }, `${a.breaker}: Telegram unreachable`) : a.breaker],
        ["Lease", a => a.lease],
        ["", a => importButton(a)],
      ], acc.items));
      if (fresh(channels, [ch, recent.channel_lag])) channels.replaceChildren(table([
        ["#", c => c.id],
        ["Channel", c => h("span", {}, h("a", { href: `#/posts?channel=${encodeURIComponent("#" + c.id)}` }, c.label),
          h("div", { class: "muted small" }, c.title))],
        ["Account", c => c.account],
        ["State", c => c.left_at
          ? h("span", { title: "the account is no longer a member: `tgsift channels prune-left` stops polling it" }, badge("left"))
          : badge(c.state)],
        ["Posts", c => c.posts],
        ["Lag", c => lag.has(c.id) ? `${lag.get(c.id)} msgs` : h("span", { class: "muted" }, "—")],
        ["Last fetch", c => when(c.last_fetch_at)],
        ["Flood park", c => c.flood_until && c.flood_until > Date.now() / 1000
          ? `${left(c.flood_until)} left` : h("span", { class: "muted" }, "—")],
        ["Last error", c => c.waiting_since
          ? h("span", { class: "error" }, `waiting: account unreachable since ${new Date(c.waiting_since * 1000).toLocaleString()}`)
          : c.last_error ? h("span", { class: "error" }, c.last_error) : ""],
        ["", c => channelButton(c)],
      ], ch.items, c => ({ "data-channel": c.id, "data-state": c.state })));
    },
  };
}

function card(label, value, id, detail) {
  return h("div", { class: "card", id },
    h("div", { class: "value" }, value), h("div", { class: "label" }, label),
    detail ? h("div", { class: "muted small" }, detail) : null);
}

/** Follows every channel the account is a member of (a dialogs import job; resumable). */
function importButton(a) {
  const b = h("button", { "data-action": "import", "data-account": a.name,
    title: "follow every channel this account is a member of (its dialog list; no username is resolved)" },
    "Import channels");
  b.addEventListener("click", () => act(b,
    () => api("POST", "/api/v1/channels/import", { account: a.name }),
    r => `import of ${a.name}'s channels queued as job ${r.job_id}: see Jobs`));
  return b;
}

function channelButton(c) {
  const pause = c.state === "active" || c.state === "parked" || c.state === "waiting";
  const b = h("button", { "data-action": pause ? "pause" : "resume", "data-channel": c.id },
    pause ? "Pause" : "Resume");
  b.addEventListener("click", () => act(b,
    () => api("POST", `/api/v1/channels/${c.id}/${pause ? "pause" : "resume"}`),
    r => `${r.label} is ${r.state}`));
  return b;
}

// ---- Posts ---------------------------------------------------------------------------------------

function postsView(view, params) {
  view.append(h("h1", {}, "Posts"));
  const channelSelect = h("select", { name: "channel", id: "f-channel" }, h("option", { value: "" }, "all channels"));
  const form = h("form", { id: "post-filters", class: "filters" },
    h("input", { type: "search", name: "q", id: "f-q", placeholder: "Search words…", value: params.get("q") || "" }),
    channelSelect,
    h("input", { name: "tag", id: "f-tag", placeholder: "tag", value: params.get("tag") || "" }),
    h("select", { name: "status", id: "f-status" }, h("option", { value: "" }, "any status"),
      STATUSES.map(s => h("option", { value: s, selected: params.get("status") === s }, s))),
    h("input", { type: "date", name: "since", id: "f-since", value: params.get("since") || "", title: "dated on or after" }),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/posts?${q}`;
  });
  view.append(form);
  api("GET", "/api/v1/channels?limit=500").then(ch => {
    for (const c of ch.items) {
      const v = `#${c.id}`;
      channelSelect.append(h("option", { value: v, selected: params.get("channel") === v }, `${c.label} (${c.account})`));
    }
  }).catch(() => {});
  const list = region(view, "posts");
  // "More" shows a longer first page (up to the API's 500) rather than a second one, so the refresh
  // keeps every post the user has scrolled to.
  const pager = morePager(view, "more", 30);
  const query = () => {
    const q = new URLSearchParams();
    for (const k of ["q", "channel", "tag", "status", "since"]) if (params.get(k)) q.set(k, params.get(k));
    q.set("limit", String(pager.limit));
    return q;
  };
  return {
    async refresh() {
      const page = await api("GET", `/api/v1/posts?${query()}`);
      if (fresh(list, page)) list.replaceChildren(page.items.length
        ? h("ol", { class: "posts" }, page.items.map(postItem)) : h("p", { class: "muted" }, "No posts."));
      pager.show(page);
    },
  };
}

/** A "More" button that lengthens a list by `step` (to the API's largest page, 500) and refreshes. */
function morePager(parent, id, step) {
  const button = h("button", { id, class: "more", hidden: true }, "More");
  parent.append(button);
  const pager = {
    limit: step,
    show(page) { button.hidden = !page.next_cursor || pager.limit >= 500; },
  };
  button.addEventListener("click", () => act(button, async () => { pager.limit = Math.min(500, pager.limit + step); }));
  return pager;
}

function tagLink(t) {
  return h("a", { class: "tag", href: `#/posts?tag=${encodeURIComponent(t.tag)}`, title: `${t.score.toFixed(3)} (${t.source})` }, t.tag);
}

function tagChips(tags) {
  return h("span", { class: "tags" }, tags.map(tagLink));
}

/** A search snippet with its matches (between [ and ]) marked. */
function highlighted(snippet) {
  return snippet.split(/\[([^\[\]]*)\]/).map((part, i) => i % 2 ? h("mark", {}, part) : part);
}

/** Bytes as people read them (powers of 1,000, as Telegram shows sizes). */
function bytes(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB`
    : n >= 1e3 ? `${Math.round(n / 1e3)} KB` : `${n} B`;
}

/** A post's media in one line: kind, MIME type, size, pixels, duration, file name or title. */
function mediaLine(m) {
  const parts = [m.kind, m.mime, m.size != null ? bytes(m.size) : null,
    m.width != null && m.height != null ? `${m.width}×${m.height}` : null,
    m.duration != null ? `${Math.floor(m.duration / 60)}:${String(m.duration % 60).padStart(2, "0")}` : null,
    m.file_name, m.title];
  return parts.filter(x => x != null && x !== "").join(" · ");
}

function postItem(p) {
  const text = p.snippet ? null : p.text;
  return h("li", { "data-post": p.id },
    h("a", { href: `#/post/${p.id}`, class: "post-link" },
      h("div", { class: "meta" }, h("strong", {}, p.channel), ` #${p.message_id} · `, when(p.date), " · ", badge(p.tagging_status),
        p.deleted_at ? h("span", { class: "badge failed" }, "deleted") : null,
        p.media ? h("span", { class: "badge", "data-media": p.media.kind }, p.media.kind) : null),
      h("div", { class: "text" }, p.snippet ? highlighted(p.snippet)
        : text.length > 400 ? text.slice(0, 400) + "…" : text || h("em", { class: "muted" }, "(no text)"))),
    tagChips(p.tags));
}

/** Who wrote a comment, in words. */
function senderName(s) {
  if (s.kind === "user") return `user ${s.id}`;
  if (s.kind === "channel") return `channel ${s.id}`;
  return s.author ? `admin ${s.author}` : "anonymous admin";
}

function postView(view, params, parts) {
  const id = Number(parts[1]);
  view.append(h("p", {}, h("a", { href: "#/posts" }, "← Posts")));
  const body = region(view, "post");
  return {
    async refresh() {
      const [p, versions, comments] = await Promise.all([
        api("GET", `/api/v1/posts/${id}`),
        api("GET", `/api/v1/posts/${id}/versions`),
        api("GET", `/api/v1/posts/${id}/comments`),
      ]);
      const regen = h("button", { id: "regenerate" }, "Regenerate tags");
      regen.addEventListener("click", () => act(regen,
        () => api("POST", `/api/v1/posts/${id}/tags/regenerate`),
        r => `tags regenerated: ${r.tags.map(t => t.tag).join(", ") || "none"}`));
      if (!fresh(body, [p, versions, comments])) return;
      body.replaceChildren(
        h("h1", {}, `${p.channel} #${p.message_id}`),
        h("p", { class: "meta" }, "Posted ", when(p.date),
          p.edit_date ? [" · edited ", when(p.edit_date)] : null,
          p.deleted_at ? [" · deleted ", when(p.deleted_at)] : null),
        p.media ? h("p", { class: "meta", id: "post-media" }, "Media: ", mediaLine(p.media)) : null,
        p.file ? h("p", { class: "meta", id: "post-file" }, "File: ", p.file.status === "done"
          ? `${p.file.path} (sha256 ${p.file.sha256.slice(0, 12)}…)`
          : [p.file.status, p.file.attempts ? ` after ${p.file.attempts} attempt(s)` : "",
             p.file.error ? h("span", { class: "error" }, ` · ${p.file.error}`) : null]) : null,
        h("div", { class: "post-layout" },
          h("aside", {},
            h("h2", {}, "Tags"),
            h("dl", { class: "facts" },
              h("dt", {}, "Tagging"), h("dd", { id: "tagging-status" }, badge(p.tagging_status)),
              h("dt", {}, "Attempts"), h("dd", { id: "tagging-attempts" }, p.tagging_attempts),
              p.tagging_error ? [h("dt", {}, "Last error"), h("dd", { class: "error" }, p.tagging_error)] : null,
              p.next_tagging_at ? [h("dt", {}, "Next attempt"), h("dd", {}, when(p.next_tagging_at))] : null),
            h("div", { id: "post-tags" }, table([
              ["Tag", tagLink],
              ["Score", t => t.score.toFixed(3)],
              ["Source", t => t.source],
            ], p.tags, null, true)),
            regen),
          h("div", { class: "post-main" },
            h("div", { class: "post-text", id: "post-text" }, p.text || h("em", { class: "muted" }, "(no text)")),
            h("h2", {}, "Edit history"),
            versions.items.length === 0 ? h("p", { class: "muted", id: "versions" }, "Never edited.")
              : h("ol", { class: "versions", id: "versions" }, versions.items.map(v =>
                h("li", {}, h("div", { class: "meta" }, "replaced ", when(v.replaced_at)), h("div", { class: "post-text" }, v.text)))),
            comments.items.length === 0 ? null : [
              h("h2", {}, `Comments (${comments.items.length})`),
              h("ol", { class: "versions", id: "comments" }, comments.items.map(c =>
                h("li", { class: c.deleted_at ? "muted" : null },
                  h("div", { class: "meta" }, `#${c.message_id}`, c.reply_to ? ` → #${c.reply_to}` : "",
                    " · ", senderName(c.sender), " · ", when(c.date),
                    c.deleted_at ? [" · deleted ", when(c.deleted_at)] : null,
                    c.tags && c.tags.length ? ` · ${c.tags.join(", ")}` : null),
                  h("div", { class: "post-text" }, c.has_media ? "[media] " : "", c.text))))])));
    },
  };
}

// ---- Tagging -------------------------------------------------------------------------------------

function taggingView(view) {
  view.append(h("h1", {}, "Tagging"));
  const figures = region(view, "tagging-figures");
  const retry = h("button", { id: "retry-failed" }, "Retry failed");
  retry.addEventListener("click", () => act(retry,
    () => api("POST", "/api/v1/tagging/retry", { force: true, limit: 500 }),
    r => `retry queued as job ${r.job_id}`));
  view.append(h("p", {}, retry, " ", h("span", { class: "muted small" },
    "queues every failed and retrying post for another attempt at once")));
  view.append(h("h2", {}, "Failed"));
  const failed = region(view, "tagging-failed");
  view.append(h("h2", {}, "Retrying"));
  const retrying = region(view, "tagging-retrying");
  const rows = [
    ["Post", p => h("a", { href: `#/post/${p.id}` }, `${p.channel} #${p.message_id}`)],
    ["Attempts", p => p.tagging_attempts],
    ["Next attempt", p => when(p.next_tagging_at)],
    ["Error", p => h("span", { class: "error" }, p.tagging_error || "")],
  ];
  return {
    async refresh() {
      const [st, f, r] = await Promise.all([
        api("GET", "/api/v1/tagging/stats"),
        api("GET", "/api/v1/posts?status=failed&limit=100"),
        api("GET", "/api/v1/posts?status=retrying&limit=100"),
      ]);
      figures.replaceChildren(h("div", { class: "cards" },
        STATUSES.map(s => card(s, st.by_status[s] || 0, `status-${s}`)),
        card("tagger", st.backend, "backend", `${st.max_attempts} attempts per post; ${st.with_tags} of ${st.total} posts have tags`)));
      if (fresh(failed, f)) failed.replaceChildren(table(rows, f.items));
      if (fresh(retrying, r)) retrying.replaceChildren(table(rows, r.items));
    },
  };
}

// ---- Jobs ----------------------------------------------------------------------------------------

function jobsView(view, params) {
  view.append(h("h1", {}, "Jobs"));
  const state = h("select", { id: "f-job-state" }, h("option", { value: "" }, "every state"),
    JOB_STATES.map(s => h("option", { value: s, selected: params.get("state") === s }, s)));
  state.addEventListener("change", () => { location.hash = state.value ? `#/jobs?state=${state.value}` : "#/jobs"; });
  view.append(h("div", { class: "filters" }, state));
  const list = region(view, "jobs");
  const pager = morePager(view, "more-jobs", 50);
  return {
    async refresh() {
      const q = params.get("state") ? `&state=${encodeURIComponent(params.get("state"))}` : "";
      const jobs = await api("GET", `/api/v1/jobs?limit=${pager.limit}${q}`);
      pager.show(jobs);
      if (fresh(list, jobs)) list.replaceChildren(table([
        ["#", j => j.id],
        ["Kind", j => j.kind],
        ["Arguments", j => h("code", {}, args(j))],
        ["State", j => [badge(j.state), j.cancel_requested && j.state === "running" ? " cancelling…" : null,
          j.state === "queued" && j.not_before ? h("div", { class: "muted small" }, "retry ", when(j.not_before)) : null]],
        ["Attempts", j => `${j.attempts}/${j.max_attempts}`],
        ["Progress", j => readable(j.progress || j.result)],
        ["Last error", j => j.last_error ? h("span", { class: "error" }, j.last_error) : ""],
        ["Asked", j => when(j.created_at)],
        ["", j => jobButtons(j)],
      ], jobs.items, j => ({ "data-job": j.id, "data-state": j.state })));
    },
  };
}

/** A job's arguments as `name=value`, leaving out its kind and what is unset. */
function args(j) {
  if (!j.args || typeof j.args !== "object") return json(j.args);
  return Object.entries(j.args)
    .filter(([k, v]) => k !== "kind" && v !== null && v !== false)
    .map(([k, v]) => `${k}=${json(v)}`).join(" ");
}

function jobButtons(j) {
  const out = [];
  if (j.state === "failed" || j.state === "cancelled") {
    const b = h("button", { "data-action": "retry", "data-job": j.id }, "Retry");
    b.addEventListener("click", () => act(b, () => api("POST", `/api/v1/jobs/${j.id}/retry`), () => `job ${j.id} queued again`));
    out.push(b);
  }
  if ((j.state === "queued" || j.state === "running" || j.state === "failed") && !j.cancel_requested) {
    const b = h("button", { "data-action": "cancel", "data-job": j.id, class: "danger" }, "Cancel");
    b.addEventListener("click", () => act(b, () => api("POST", `/api/v1/jobs/${j.id}/cancel`),
      r => r.state === "cancelled" ? `job ${j.id} cancelled` : `job ${j.id} stops at its next batch`));
    out.push(b);
  }
  return h("span", { class: "buttons" }, out);
}

// ---- Watches -------------------------------------------------------------------------------------

function watchesView(view) {
  view.append(h("h1", {}, "Watches"));
  view.append(h("p", { class: "muted small" },
    "Posts published or edited after a watch is made, with its tag, matching its search and/or in its channels, ",
    "are sent once each to its sink by the running service."));
  const list = region(view, "watches");
  const field = (id, placeholder, title) => h("input", { id, placeholder, title });
  const name = field("w-name", "name", "letters, digits, - and _");
  const kind = h("select", { id: "w-kind" }, h("option", { value: "tag" }, "tag"), h("option", { value: "query" }, "search"));
  const rule = field("w-rule", "tag or search words", "a tag as `tags top` names it, or search words (\"quoted phrase\")");
  const channels = field("w-channels", "channels (optional)", "@name, id or #row, separated by spaces");
  const sink = field("w-sink", "webhook:https://… | saved-messages | telegram:@chat", "where matches go");
  const every = field("w-every", "digest every (optional)", "e.g. 1h: one message per hour instead of one per post");
  const add = h("button", { id: "w-add", type: "submit" }, "Add watch");
  const form = h("form", { id: "watch-form", class: "filters" }, name, kind, rule, channels, sink, every, add);
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const body = { name: name.value.trim(), sink: sink.value.trim() };
    const r = rule.value.trim();
    if (r) body[kind.value] = r;
    const chans = channels.value.split(/[\s,]+/).filter(Boolean);
    if (chans.length) body.channels = chans;
    if (every.value.trim()) body.every = every.value.trim();
    act(add, () => api("POST", "/api/v1/watches", body), w => {
      name.value = ""; rule.value = "";
      return `watch ${w.name} added`;
    });
  });
  view.append(h("h2", {}, "Add"), form);
  return {
    async refresh() {
      const w = await api("GET", "/api/v1/watches");
      if (!fresh(list, w)) return;
      list.replaceChildren(w.items.length ? table([
        ["Name", x => x.name],
        ["Looks for", x => [x.tag ? `tag ${x.tag}` : null, x.query ? `search "${x.query}"` : null,
          x.channels.length ? `channels ${x.channels.map(c => "#" + c).join(", ")}` : null].filter(Boolean).join(" in ")],
        ["Sink", x => h("code", {}, x.sink)],
        ["Digest", x => x.every ? `every ${x.every} s` : "—"],
        ["Delivered", x => x.delivered],
        ["Waiting", x => x.pending],
        ["Last delivered", x => when(x.last_delivered_at)],
        ["Last error", x => x.last_error ? h("span", { class: "error" }, x.last_error) : ""],
        ["", x => watchButtons(x)],
      ], w.items, x => ({ "data-watch": x.name })) : h("p", { class: "muted" }, "No watches yet."));
    },
  };
}

function watchButtons(w) {
  const path = `/api/v1/watches/${encodeURIComponent(w.name)}`;
  const test = h("button", { "data-action": "test", "data-watch": w.name }, "Test");
  test.addEventListener("click", () => act(test, () => api("POST", `${path}/test`, {}),
    r => r.error ? `test delivery failed: ${r.error}` : `test sent (${r.recent.length} stored posts match)`));
  const remove = h("button", { "data-action": "remove", "data-watch": w.name, class: "danger" }, "Remove");
  remove.addEventListener("click", () => act(remove, () => api("DELETE", path), () => `watch ${w.name} removed`));
  return h("span", { class: "buttons" }, test, remove);
}

start();
