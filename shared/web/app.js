// The web chat page: a client of the canonical API and nothing else (token auth,
// /api/chats/…, /api/chats/stream/, /api/models/, /api/tokens/, /api/shares/ and,
// at /s/{share_id}, /api/shared/…), so it doubles as
// an example of how a client is meant to use it. Model text only ever reaches the
// page as text nodes (see renderMarkdown): no HTML from a reply is parsed.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "chatbot-token";
// Where the stream route is served: this origin unless the server says otherwise
// (in AWS it is the stream function's URL).
const STREAM_BASE = (document.querySelector('meta[name="stream-url"]').content || "").replace(/\/$/, "");

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  registering: false,
  chatId: null,
  chatTitle: null,
  models: [],
  busy: false,
  retryUntil: 0,
};

// ---------------------------------------------------------------- API calls

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (state.token) h.Authorization = `Token ${state.token}`;
  return h;
}

async function failure(res) {
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    body = null;
  }
  return new ApiError(res.status, body, Number(res.headers.get("Retry-After")) || 0);
}

// The token goes in the Authorization header only: the page never relies on a
// cookie (credentials: "omit"), so no other origin's script can act as the user.
async function api(method, path, body, base = "") {
  const res = await fetch(base + path, {
    method,
    headers: headers(),
    credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return res.status === 204 ? null : res.json();
}

// A clear sentence for every failure the page can meet; 401 also signs out.
function explain(err) {
  if (!(err instanceof ApiError)) return `Could not reach the server (${err.message}).`;
  switch (err.status) {
    case 401:
      signOut("Your session has ended. Please log in again.");
      return "";
    case 402:
      return "Your token balance is too low for another reply.";
    case 429: {
      const wait = err.retryAfter || 60;
      startRetryWait(wait);
      return `Too many requests: wait ${wait} s before sending again.`;
    }
    case 503:
      return `The model is unavailable: ${err.message} Your message is kept: pick another model and regenerate.`;
    default:
      return err.message;
  }
}

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

function report(err) {
  showNotice(explain(err));
}

// After a 429 the send buttons stay off until Retry-After has passed.
function startRetryWait(seconds) {
  state.retryUntil = Date.now() + seconds * 1000;
  updateComposer();
  setTimeout(() => {
    if (Date.now() >= state.retryUntil) {
      showNotice("");
      updateComposer();
    }
  }, seconds * 1000);
}

function updateComposer() {
  const waiting = Date.now() < state.retryUntil;
  $("send").disabled = state.busy || waiting;
  document.querySelectorAll(".regenerate, .save-edit").forEach((b) => {
    b.disabled = state.busy || waiting;
  });
}

// ---------------------------------------------------------------- markdown

// Renders a safe subset of markdown into `parent` with createElement and text
// nodes only: fenced code, headings, lists, quotes, paragraphs; inline code,
// bold, italic and http(s) links.
function renderMarkdown(parent, text) {
  parent.replaceChildren();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
    if (fence) {
      const code = [];
      i += 1;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) code.push(lines[i++]);
      i += 1;
      const pre = el("pre");
      const codeEl = el("code", code.join("\n"));
      if (fence[1]) codeEl.dataset.lang = fence[1];
      pre.append(codeEl);
      parent.append(pre);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      parent.append(inline(el(`h${Math.min(heading[1].length + 2, 6)}`), heading[2]));
      i += 1;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && item.test(lines[i])) {
        list.append(inline(el("li"), lines[i].replace(item, "")));
        i += 1;
      }
      parent.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) quoted.push(lines[i++].replace(/^>\s?/, ""));
      const quote = el("blockquote");
      renderMarkdown(quote, quoted.join("\n"));
      parent.append(quote);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^\s*```/.test(lines[i]) && !item.test(lines[i]) && !/^#{1,6}\s/.test(lines[i])) {
      para.push(lines[i++]);
    }
    const p = el("p");
    para.forEach((l, n) => {
      if (n) p.append(el("br"));
      inline(p, l);
    });
    parent.append(p);
  }
  return parent;
}

const INLINE = /(`+)([^`]+?)\1|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|\b_([^_\s][^_]*?)_\b|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== undefined) parent.append(el("code", m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) parent.append(inline(el("strong"), m[3] ?? m[4]));
    else if (m[5] !== undefined || m[6] !== undefined) parent.append(inline(el("em"), m[5] ?? m[6]));
    else parent.append(link(m[7], m[8]));
  }
  parent.append(text.slice(last));
  return parent;
}

// Only http and https targets become links; anything else (javascript:, data:)
// stays visible text.
function link(label, href) {
  let url = null;
  try {
    url = new URL(href);
  } catch (_) {
    url = null;
  }
  if (!url || !["http:", "https:"].includes(url.protocol)) return document.createTextNode(`[${label}](${href})`);
  const a = inline(el("a"), label);
  a.href = url.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function button(label, className, onClick) {
  const b = el("button", label, className);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// ---------------------------------------------------------------- accounts

function setAuthMode(registering) {
  state.registering = registering;
  $("tab-login").setAttribute("aria-selected", String(!registering));
  $("tab-register").setAttribute("aria-selected", String(registering));
  $("email-row").hidden = !registering;
  $("auth-submit").textContent = registering ? "Register" : "Log in";
  $("auth-password").autocomplete = registering ? "new-password" : "current-password";
  $("auth-error").textContent = "";
}

async function submitAuth(event) {
  event.preventDefault();
  const body = { username: $("auth-username").value.trim(), password: $("auth-password").value };
  const email = $("auth-email").value.trim();
  if (state.registering && email) body.email = email;
  $("auth-submit").disabled = true;
  try {
    const answer = await api("POST", state.registering ? "/api/register/" : "/api/login/", body);
    state.token = answer.token;
    sessionStorage.setItem(TOKEN_KEY, answer.token);
    $("auth-password").value = "";
    await enterApp();
  } catch (err) {
    $("auth-error").textContent =
      err instanceof ApiError && err.status === 429
        ? `Too many attempts: wait ${err.retryAfter || 60} s.`
        : err instanceof ApiError
          ? err.message
          : `Could not reach the server (${err.message}).`;
  } finally {
    $("auth-submit").disabled = false;
  }
}

function signOut(why) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.chatId = null;
  $("app").hidden = true;
  $("auth").hidden = false;
  setAuthMode(false);
  $("auth-error").textContent = why || "";
}

async function logOut() {
  try {
    await api("POST", "/api/logout/");
  } catch (_) {
    // Signed out locally either way; an expired token is already gone.
  }
  signOut();
}

async function enterApp() {
  $("auth").hidden = true;
  $("app").hidden = false;
  try {
    const me = await api("GET", "/api/me/");
    $("me-name").textContent = me.user.username;
    await Promise.all([loadModels(), refreshBalance(), refreshChats()]);
    showChat(null);
  } catch (err) {
    report(err);
  }
}

// ---------------------------------------------------------------- sidebar

async function loadModels() {
  state.models = await api("GET", "/api/models/");
  const select = $("model");
  select.replaceChildren();
  for (const m of state.models) {
    // Greyed, with the server's reason (what it needs set).
    const why = m.reason || "not available on this server";
    const option = el("option", m.available ? m.id : `${m.id} (unavailable: ${why})`);
    option.value = m.id;
    option.disabled = !m.available;
    select.append(option);
  }
  const preferred = state.models.find((m) => m.default && m.available) || state.models.find((m) => m.available);
  if (preferred) select.value = preferred.id;
}

function chosenModel() {
  const model = state.models.find((m) => m.id === $("model").value);
  return model ? { provider: model.provider, model: model.model } : {};
}

async function refreshBalance() {
  const balance = await api("GET", "/api/tokens/");
  setBalance(balance.tokens);
}

function setBalance(tokens) {
  $("balance").textContent = `${tokens} tokens`;
}

// The sidebar groups chats by the server's own day boundaries (period=, in the
// user's display zone): today, yesterday, earlier this week, then older ones.
// A search shows one flat list of matches.
async function refreshChats() {
  const search = $("search").value.trim();
  const list = $("chat-list");
  const query = (extra) => `/api/chats/?limit=50${extra}`;
  let groups;
  if (search) {
    groups = [["Results", await api("GET", query(`&search=${encodeURIComponent(search)}`))]];
  } else {
    const [today, yesterday, week, all] = await Promise.all(
      ["&period=today", "&period=yesterday", "&period=week", ""].map((p) => api("GET", query(p))),
    );
    const seen = new Set([...today, ...yesterday].map((c) => c.chat_id));
    const earlier = week.filter((c) => !seen.has(c.chat_id));
    earlier.forEach((c) => seen.add(c.chat_id));
    groups = [
      ["Today", today],
      ["Yesterday", yesterday],
      ["Earlier this week", earlier],
      ["Older", all.filter((c) => !seen.has(c.chat_id))],
    ];
  }
  list.replaceChildren();
  for (const [name, chats] of groups) {
    if (!chats.length) continue;
    const section = el("section", undefined, "group");
    section.append(el("h3", name));
    for (const chat of chats) {
      const entry = button(chatTitle(chat), "chat-entry", () => openChat(chat.chat_id));
      entry.dataset.chatId = chat.chat_id;
      if (chat.chat_id === state.chatId) entry.setAttribute("aria-current", "true");
      section.append(entry);
    }
    list.append(section);
  }
  if (!list.children.length) list.append(el("p", search ? "No chat matches." : "No chats yet.", "empty"));
}

function chatTitle(chat) {
  return chat.title || (chat.conversation[0] && chat.conversation[0].You) || "New chat";
}

// ---------------------------------------------------------------- chat view

function showChat(chatId, title) {
  state.chatId = chatId;
  state.chatTitle = title || null;
  $("chat-title").textContent = title || "New chat";
  $("rename").hidden = !chatId;
  $("delete-chat").hidden = !chatId;
  $("share").hidden = !chatId;
  closeShare();
  document.querySelectorAll(".chat-entry").forEach((e) => {
    e.toggleAttribute("aria-current", e.dataset.chatId === chatId);
  });
  if (!chatId) $("messages").replaceChildren(el("p", "Ask anything to start a chat.", "empty"));
  document.body.classList.remove("sidebar-open");
  showNotice("");
}

async function openChat(chatId) {
  try {
    const chat = await api("GET", `/api/chats/${chatId}/`);
    showChat(chatId, chatTitle(chat));
    await loadMessages();
  } catch (err) {
    report(err);
  }
}

async function loadMessages() {
  const messages = await api("GET", `/api/chats/${state.chatId}/messages/?limit=100`);
  const box = $("messages");
  box.replaceChildren();
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  const answered = new Set(messages.map((m) => m.reply_to).filter(Boolean));
  for (const m of messages) box.append(messageView(m, lastUser, answered));
  box.scrollTop = box.scrollHeight;
  updateComposer();
}

function messageView(m, lastUser, answered) {
  const item = el("article", undefined, `message ${m.role}`);
  item.dataset.messageId = m.message_id;
  const body = el("div", undefined, "body");
  if (m.role === "assistant") renderMarkdown(body, m.content);
  else body.textContent = m.content;
  item.append(body);
  const meta = el("div", undefined, "meta");
  if (m.role === "assistant") {
    meta.append(el("span", [m.provider, m.model].filter(Boolean).join("/") + (m.partial ? " (cut short)" : "")));
    if (lastUser && m.reply_to === lastUser.message_id) {
      meta.append(button("Regenerate", "regenerate", () => regenerate()));
    }
  } else {
    meta.append(button("Edit", "edit", () => startEdit(item, m)));
    // A question the model never answered (it failed): answer it again.
    if (lastUser && m.message_id === lastUser.message_id && !answered.has(m.message_id)) {
      meta.append(button("Regenerate", "regenerate", () => regenerate()));
    }
  }
  if (m.branch && m.branch.count > 1) meta.prepend(branchSwitcher(m));
  item.append(meta);
  return item;
}

// ‹ 2/3 ›: the versions of a reply, or the questions edited into branches; the
// arrows make the sibling's branch the chat's active one.
function branchSwitcher(m) {
  const { index, count } = m.branch;
  const group = el("div", undefined, "branch");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Version ${index} of ${count}`);
  const go = (to) => () => switchBranch(m.sibling_ids[to - 1]);
  const back = button("\u2039", "branch-back", go(index - 1));
  back.setAttribute("aria-label", "Previous version");
  back.disabled = index <= 1;
  const next = button("\u203a", "branch-next", go(index + 1));
  next.setAttribute("aria-label", "Next version");
  next.disabled = index >= count;
  group.append(back, el("span", `${index}/${count}`, "branch-at"), next);
  return group;
}

function switchBranch(messageId) {
  return withBusy(async () => {
    await api("PUT", `/api/chats/${state.chatId}/active/`, { message_id: messageId });
    await loadMessages();
  });
}

function startEdit(item, m) {
  const editor = el("div", undefined, "editor");
  const area = el("textarea");
  area.value = m.content;
  area.setAttribute("aria-label", "Edit message");
  editor.append(
    area,
    button("Save as a new branch", "primary save-edit", () => saveEdit(m, area.value)),
    button("Cancel", "", () => editor.replaceWith(item)),
  );
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      saveEdit(m, area.value);
    } else if (e.key === "Escape") editor.replaceWith(item);
  });
  item.replaceWith(editor);
  area.focus();
}

async function withBusy(work) {
  state.busy = true;
  updateComposer();
  showNotice("");
  try {
    await work();
  } catch (err) {
    report(err);
  } finally {
    state.busy = false;
    updateComposer();
  }
}

// The edited question goes beside the old one: a new branch, answered and shown;
// the old one stays a click away (‹ ›).
function saveEdit(m, content) {
  if (!content.trim()) return;
  return withBusy(async () => {
    const answer = await api("POST", `/api/chats/${state.chatId}/messages/${m.message_id}/branches/`, {
      content,
      ...chosenModel(),
    });
    setBalance(answer.tokens_remaining);
    await loadMessages();
  });
}

function regenerate() {
  return withBusy(async () => {
    const answer = await api("POST", `/api/chats/${state.chatId}/regenerate/`, chosenModel());
    setBalance(answer.tokens_remaining);
    await loadMessages();
  });
}

// ---------------------------------------------------------------- sending

// A new chat gets its id from the page, so the first message creates exactly it
// (without chat_id the API would continue the open chat).
function newChatId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function send(event) {
  if (event) event.preventDefault();
  const content = $("input").value;
  if (!content.trim() || state.busy || Date.now() < state.retryUntil) return;
  const creating = !state.chatId;
  const chatId = state.chatId || newChatId();
  return withBusy(async () => {
    const box = $("messages");
    if (creating) box.replaceChildren();
    const mine = el("article", undefined, "message user");
    mine.append(el("div", content, "body"));
    const reply = el("article", undefined, "message assistant streaming");
    const replyBody = el("div", undefined, "body");
    reply.append(replyBody);
    box.append(mine, reply);
    box.scrollTop = box.scrollHeight;
    $("input").value = "";
    let text = "";
    try {
      await stream({ content, chat_id: chatId, ...chosenModel() }, {
        start(data) {
          state.chatId = data.chat_id;
        },
        delta(data) {
          text += data.text;
          renderMarkdown(replyBody, text);
          box.scrollTop = box.scrollHeight;
        },
        done(data) {
          setBalance(data.tokens_remaining);
        },
        error(data) {
          throw new ApiError(502, data, 0);
        },
      });
    } catch (err) {
      // A refused or failed request names the chat when the message was kept.
      if (err instanceof ApiError && err.body.chat_id) state.chatId = err.body.chat_id;
      // Refused before it was stored (402, 429…; in a new chat or an open one):
      // the question goes back to the box to send later.
      if (!(err instanceof ApiError && err.body.message_id)) {
        mine.remove();
        reply.remove();
        $("input").value = content;
      }
      throw err;
    } finally {
      reply.classList.remove("streaming");
      if (state.chatId) {
        if (creating) showChat(state.chatId, content.slice(0, 60));
        await refreshChats();
        await loadMessages();
        const chat = await api("GET", `/api/chats/${state.chatId}/`);
        $("chat-title").textContent = chatTitle(chat);
      }
    }
  });
}

// POST /api/chats/stream/: server-sent events start, delta…, then done or error.
// A refusal before the stream (401, 402, 429, 503…) is an ordinary JSON error.
async function stream(body, handlers) {
  const res = await fetch(`${STREAM_BASE}/api/chats/stream/`, {
    method: "POST",
    headers: headers(),
    credentials: "omit",
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event && handlers[event.name]) handlers[event.name](event.data);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  return { name, data: JSON.parse(data.join("\n")) };
}

// ---------------------------------------------------------------- chat actions

async function renameChat() {
  const title = prompt("New title", $("chat-title").textContent);
  if (title === null || !title.trim()) return;
  try {
    const chat = await api("PATCH", `/api/chats/${state.chatId}/`, { title: title.trim() });
    $("chat-title").textContent = chatTitle(chat);
    await refreshChats();
  } catch (err) {
    report(err);
  }
}

// DELETE `path` once the user confirms, then show an empty chat.
async function deleteConfirmed(question, path) {
  if (!confirm(question)) return;
  try {
    await api("DELETE", path);
    showChat(null);
    await refreshChats();
  } catch (err) {
    report(err);
  }
}

// ---------------------------------------------------------------- share links

// `/s/{share_id}`: a shared chat, read without signing in. No token is sent.
async function showShared(shareId) {
  $("shared").hidden = false;
  const box = $("shared-messages");
  try {
    const res = await fetch(`/api/shared/${encodeURIComponent(shareId)}/`, { credentials: "omit" });
    if (!res.ok) throw await failure(res);
    const shared = await res.json();
    const title = shared.title || "Shared chat";
    $("shared-title").textContent = title;
    document.title = `${title} - Chatbot`;
    $("shared-when").textContent = `Shared ${new Date(shared.shared_at).toLocaleString()}: a read-only copy of the chat as it was then.`;
    box.replaceChildren(...shared.messages.map(sharedView));
    if (!shared.messages.length) box.append(el("p", "This chat had no messages.", "empty"));
  } catch (err) {
    $("shared-title").textContent = "Link not found";
    const gone = err instanceof ApiError && err.status === 404;
    box.replaceChildren(el("p", gone ? "This link does not exist or was revoked." : `Could not load it (${err.message}).`, "empty"));
  }
}

function sharedView(m) {
  const item = el("article", undefined, `message ${m.role}`);
  const body = el("div", undefined, "body");
  if (m.role === "assistant") renderMarkdown(body, m.content);
  else body.textContent = m.content;
  item.append(body, el("div", new Date(m.created_at).toLocaleString(), "meta"));
  return item;
}

function closeShare() {
  $("share-panel").hidden = true;
  $("share").setAttribute("aria-expanded", "false");
  $("share-new").hidden = true;
  $("share-status").textContent = "";
}

function toggleShare() {
  if (!$("share-panel").hidden) return closeShare();
  $("share-panel").hidden = false;
  $("share").setAttribute("aria-expanded", "true");
  loadShares().catch(report);
}

// The open chat's links (an account holds at most 100: one page).
async function loadShares() {
  const links = await api("GET", "/api/shares/?limit=100");
  const list = $("share-list");
  list.replaceChildren(...links.filter((l) => l.chat_id === state.chatId).map(shareEntry));
  if (!list.children.length) list.append(el("li", "No links to this chat yet.", "empty"));
}

function shareEntry(link) {
  const item = el("li", undefined, "share-entry");
  const a = el("a", location.origin + link.url);
  a.href = link.url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  const when = new Date(link.shared_at).toLocaleString();
  const revoke = button("Revoke", "danger revoke", () => revokeShare(link.share_id));
  revoke.setAttribute("aria-label", `Revoke the link shared ${when}`);
  item.append(a, el("span", when), revoke);
  return item;
}

async function createShare() {
  try {
    const link = await api("POST", `/api/chats/${state.chatId}/share/`);
    $("share-url").value = location.origin + link.url;
    $("share-new").hidden = false;
    $("share-status").textContent = "Link created.";
    await loadShares();
  } catch (err) {
    report(err);
  }
}

async function copyShare() {
  const input = $("share-url");
  try {
    await navigator.clipboard.writeText(input.value);
    $("share-status").textContent = "Link copied.";
  } catch (_) {
    input.select();
    $("share-status").textContent = "Press Ctrl+C to copy the selected link.";
  }
}

async function revokeShare(shareId) {
  if (!confirm("Revoke this link? Nobody can open it again.")) return;
  try {
    await api("DELETE", `/api/shares/${shareId}/`);
    if ($("share-url").value.endsWith(`/s/${shareId}`)) $("share-new").hidden = true;
    $("share-status").textContent = "Link revoked.";
    await loadShares();
  } catch (err) {
    report(err);
  }
}

// ---------------------------------------------------------------- wiring

// ---------------------------------------------------------------- keys and usage

// Personal API keys (for /v1/ only) and what the balance went on, the last 30 days.
async function loadAccountPanel() {
  const [keys, usage] = await Promise.all([api("GET", "/api/keys/"), api("GET", "/api/usage/")]);
  $("key-list").replaceChildren(
    ...keys.map((key) => {
      const item = el("li");
      const used = key.requests === 1 ? "1 request" : `${key.requests} requests`;
      const revoke = button("Revoke", "danger", () => revokeKey(key));
      revoke.setAttribute("aria-label", `Revoke the key ${key.name}`);
      item.append(el("span", `${key.name} · ${used}`), revoke);
      return item;
    }),
  );
  const total = usage.total;
  $("usage-total").textContent = `Last 30 days: ${total.requests} replies, ${total.tokens_charged} tokens`;
  $("usage-models").replaceChildren(
    ...usage.by_model.map((m) => el("li", `${m.provider}/${m.model}: ${m.requests} · ${m.tokens_charged} tokens`)),
  );
}

function createKey(event) {
  event.preventDefault();
  const name = $("key-name").value.trim();
  if (!name) return;
  return withBusy(async () => {
    const created = await api("POST", "/api/keys/", { name });
    $("key-name").value = "";
    const shown = $("new-key");
    shown.replaceChildren(el("span", "Copy it now, it is not shown again: "), el("code", created.key));
    shown.hidden = false;
    await loadAccountPanel();
  });
}

function revokeKey(key) {
  if (!confirm(`Revoke the key ${key.name}? Programs using it stop at once.`)) return;
  return withBusy(async () => {
    await api("DELETE", `/api/keys/${key.key_id}/`);
    $("new-key").hidden = true;
    await loadAccountPanel();
  });
}

// ---------------------------------------------------------------- export and import

// Every page of the export joined into one document, saved as a file.
function exportChats() {
  return withBusy(async () => {
    const chats = [];
    let cursor = "";
    do {
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await api("GET", `/api/export/?limit=100${query}`);
      chats.push(...page.chats);
      cursor = page.next_cursor || "";
    } while (cursor);
    const file = new Blob([JSON.stringify({ format: "chatbot-export", version: 1, chats })], {
      type: "application/json",
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(file);
    link.download = `chats-${new Date().toISOString().slice(0, 10)}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
}

// An export of this page or ChatGPT's conversations.json: the server names any
// problem, and nothing is stored then.
function importChats(file) {
  return withBusy(async () => {
    let document;
    try {
      document = JSON.parse(await file.text());
    } catch {
      showNotice(`${file.name} is not a JSON file.`);
      return;
    }
    const result = await api("POST", "/api/import/", document);
    await refreshChats();
    if (result.chat_ids.length) await openChat(result.chat_ids[0]);
  });
}

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function wire() {
  $("tab-login").addEventListener("click", () => setAuthMode(false));
  $("tab-register").addEventListener("click", () => setAuthMode(true));
  $("auth-form").addEventListener("submit", submitAuth);
  $("composer").addEventListener("submit", send);
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  });
  $("new-chat").addEventListener("click", () => {
    showChat(null);
    $("input").focus();
  });
  $("rename").addEventListener("click", renameChat);
  $("delete-chat").addEventListener("click", () => deleteConfirmed("Delete this chat?", `/api/chats/${state.chatId}/`));
  $("delete-all").addEventListener("click", () =>
    deleteConfirmed("Delete every chat? This cannot be undone.", "/api/chats/"),
  );
  $("account-panel").addEventListener("toggle", () => {
    if ($("account-panel").open) loadAccountPanel().catch(report);
  });
  $("key-form").addEventListener("submit", createKey);
  $("export").addEventListener("click", exportChats);
  $("import").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", () => {
    const [file] = $("import-file").files;
    $("import-file").value = "";
    if (file) importChats(file);
  });
  $("logout").addEventListener("click", () => logOut());
  $("search").addEventListener("input", debounce(() => refreshChats().catch(report), 250));
  $("open-sidebar").addEventListener("click", () => document.body.classList.add("sidebar-open"));
  $("close-sidebar").addEventListener("click", () => document.body.classList.remove("sidebar-open"));
  $("share").addEventListener("click", toggleShare);
  $("share-create").addEventListener("click", createShare);
  $("share-copy").addEventListener("click", copyShare);
  const shared = location.pathname.match(/^\/s\/([A-Za-z0-9_-]+)\/?$/);
  if (shared) showShared(shared[1]);
  else if (state.token) enterApp();
  else signOut("");
}

wire();
